-- GroupNorm(num_groups, num_channels, opts): group normalization, as torch.nn.GroupNorm.
--
-- The channels are split into num_groups consecutive groups (num_groups must divide
-- num_channels: checked here, at construction). Each (image, group) is normalized over its
-- (C/G)*H*W values with the biased variance, then scaled and shifted per channel:
--   y = (x - mean_ng) / sqrt(var_ng + eps) * weight[c] + bias[c]
-- No running statistics: train and eval are the same. opts: eps (1e-5).
-- Kernels: src/ops/groupnorm.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local GroupNorm = Module:extend('GroupNorm')
-- Sequential may fuse a following in-place ReLU into this layer (C kernels' relu flag)
GroupNorm.fuses_relu = true

local function fail(fmt, ...)
  error('GroupNorm: ' .. string.format(fmt, ...), 0)
end

function GroupNorm:init(num_groups, num_channels, opts)
  Module.init(self)
  opts = opts or {}
  if math.type(num_groups) ~= 'integer' or num_groups < 1 then
    error('GroupNorm: num_groups must be a positive integer, got ' .. tostring(num_groups), 3)
  end
  if math.type(num_channels) ~= 'integer' or num_channels < 1 then
    error('GroupNorm: num_channels must be a positive integer, got ' .. tostring(num_channels), 3)
  end
  if num_channels % num_groups ~= 0 then
    error(string.format('GroupNorm: %d groups do not divide %d channels', num_groups, num_channels), 3)
  end
  self.num_groups, self.num_channels = num_groups, num_channels
  self.eps = opts.eps or 1e-5
  if not (self.eps > 0) then error('GroupNorm: eps must be positive, got ' .. tostring(self.eps), 3) end
  self:add_parameter('weight', C.tensor_ones(num_channels))
  self:add_parameter('bias', C.tensor_new(num_channels))
end

function GroupNorm:describe()
  local extra = self.eps ~= 1e-5 and (', eps ' .. self.eps) or ''
  return string.format('GroupNorm(%d, %d%s)', self.num_groups, self.num_channels, extra)
end

local function check_input(self, x)
  if x:dim() ~= 4 or x:size(2) ~= self.num_channels then
    fail('expected input (N,%d,H,W), got %s', self.num_channels, x:shape_str())
  end
end

function GroupNorm:update_output(x)
  check_input(self, x)
  local ng = { x:size(1), self.num_groups }
  self.output = self:reuse('output', x:size())
  self.save_mean = self:reuse('save_mean', ng)
  self.save_invstd = self:reuse('save_invstd', ng)
  -- a Sequential sets fuse_relu for this call when an in-place ReLU follows (see there)
  local relu = self.fuse_relu == true
  self.cache_relu = relu
  local ok, err = pcall(C.gn_forward, self.output, self.save_mean, self.save_invstd, x,
    self.weight, self.bias, self.num_groups, self.eps, relu)
  if not ok then fail('%s', (tostring(err):gsub('^groupnorm: ', ''))) end
  return self.output
end

local function run_backward(self, x, gy, want_input, want_params)
  self:expect_tensor(x, 'input')
  self:expect_tensor(gy, 'grad_output')
  check_input(self, x)
  if gy:shape_str() ~= x:shape_str() then
    fail('grad_output %s does not match input %s', gy:shape_str(), x:shape_str())
  end
  if not self.save_mean or self.save_mean:size(1) ~= x:size(1) then
    fail('backward called before forward on this input %s', x:shape_str())
  end
  local gx
  if want_input then
    gx = self:reuse('grad_input', x:size())
    self.grad_input = gx
  end
  local ok, err = pcall(C.gn_backward, gx, want_params and self.grad_weight or nil,
    want_params and self.grad_bias or nil, gy, x, self.weight, self.save_mean, self.save_invstd,
    self.num_groups,
    self.cache_relu and self.output or nil)
  if not ok then fail('%s', (tostring(err):gsub('^groupnorm: ', ''))) end
  return gx
end

function GroupNorm:update_grad_input(x, gy) return run_backward(self, x, gy, true, false) end
function GroupNorm:acc_grad_parameters(x, gy) run_backward(self, x, gy, false, true) end
function GroupNorm:backward(x, gy) return run_backward(self, x, gy, true, true) end

-- Drops the statistics cache with the scratch tensors (a backward then needs a new forward).
function GroupNorm:clear_state()
  Module.clear_state(self)
  self.save_mean, self.save_invstd, self.cache_relu = nil, nil, nil
  return self
end

-- Per image: one multiply-add per value for the affine map (statistics not counted).
function GroupNorm:macs(in_shape)
  local n = 1
  for _, d in ipairs(in_shape) do n = n * d end
  return n, in_shape
end

require('normlab.help').register{ name = 'nn.GroupNorm', obj = GroupNorm,
  sig = 'nn.GroupNorm(groups, channels, {eps=1e-5})',
  doc = 'Group normalization (Wu & He 2018): statistics per image over each group of channels/groups channels;\nthe same in training and evaluation. groups must divide channels.' }

return GroupNorm
