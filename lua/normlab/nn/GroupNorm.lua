-- GroupNorm(num_groups, num_channels, opts): group normalization, as torch.nn.GroupNorm.
--
-- The channels are split into num_groups consecutive groups (num_groups must divide
-- num_channels: checked here, at construction). Each (image, group) is normalized over its
-- (C/G)*H*W values with the biased variance, then scaled and shifted per channel:
--   y = (x - mean_ng) / sqrt(var_ng + eps) * weight[c] + bias[c]
-- No running statistics: train and eval are the same. opts: eps (1e-5).
-- Kernels: src/ops/groupnorm.c.
local Normalization = require 'normlab.nn.Normalization'
local C = require 'normlab.C'

local GroupNorm = Normalization:extend('GroupNorm')
GroupNorm.kernel_prefix = 'groupnorm'

function GroupNorm:init(num_groups, num_channels, opts)
  Normalization.init(self)
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

function GroupNorm:channels() return self.num_channels end

function GroupNorm:update_output(x)
  self:check_input(x)
  local ng = { x:size(1), self.num_groups }
  self.output = self:reuse_like('output', x)
  self.save_mean = self:reuse('save_mean', ng)
  self.save_invstd = self:reuse('save_invstd', ng)
  self:kernel(C.gn_forward, self.output, self.save_mean, self.save_invstd, x, self.weight, self.bias,
    self.num_groups, self.eps, self:take_relu_flag())
  return self.output
end

function GroupNorm:check_cache(x)
  if not self.save_mean or self.save_mean:size(1) ~= x:size(1) then
    self:fail('backward called before forward on this input %s', x:shape_str())
  end
end

function GroupNorm:backward_kernel(gx, gw, gb, gy, x, relu)
  self:kernel(C.gn_backward, gx, gw, gb, gy, x, self.weight, self.save_mean, self.save_invstd,
    self.num_groups, relu, self.bias, self.eps)
end

require('normlab.help').register{ name = 'nn.GroupNorm', obj = GroupNorm,
  sig = 'nn.GroupNorm(groups, channels, {eps=1e-5})',
  doc = 'Group normalization (Wu & He 2018): statistics per image over each group of channels/groups channels;\nthe same in training and evaluation. groups must divide channels.' }

return GroupNorm
