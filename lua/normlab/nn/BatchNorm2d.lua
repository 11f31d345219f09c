-- BatchNorm2d(num_features, opts): batch normalization over (N,C,H,W), as torch.nn.BatchNorm2d.
--
--   train: y = (x - mean_B) / sqrt(var_B + eps) * weight + bias, with the batch mean and the
--          BIASED batch variance of each channel over N*H*W values; then
--          running_mean = (1-momentum)*running_mean + momentum*mean_B
--          running_var  = (1-momentum)*running_var  + momentum*var_B*M/(M-1)  (unbiased)
--   eval:  the same with running_mean / running_var (backward is then the affine map).
-- opts: eps (1e-5), momentum (0.1). weight starts at 1, bias at 0, running stats at 0 and 1.
-- Training with one value per channel (N*H*W == 1) is an error, never a silent switch
-- to the running statistics. Kernels: src/ops/batchnorm.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local BatchNorm2d = Module:extend('BatchNorm2d')
-- Sequential may fuse a following in-place ReLU into this layer (C kernels' relu flag)
BatchNorm2d.fuses_relu = true

local function fail(fmt, ...)
  error('BatchNorm2d: ' .. string.format(fmt, ...), 0)
end

function BatchNorm2d:init(num_features, opts)
  Module.init(self)
  opts = opts or {}
  if math.type(num_features) ~= 'integer' or num_features < 1 then
    error('BatchNorm2d: num_features must be a positive integer, got ' .. tostring(num_features), 3)
  end
  self.num_features = num_features
  self.eps = opts.eps or 1e-5
  self.momentum = opts.momentum or 0.1
  if not (self.eps > 0) then error('BatchNorm2d: eps must be positive, got ' .. tostring(self.eps), 3) end
  if not (self.momentum >= 0 and self.momentum <= 1) then
    error('BatchNorm2d: momentum must be in [0, 1], got ' .. tostring(self.momentum), 3)
  end
  self:add_parameter('weight', C.tensor_ones(num_features))
  self:add_parameter('bias', C.tensor_new(num_features))
  self:add_buffer('running_mean', C.tensor_new(num_features))
  self:add_buffer('running_var', C.tensor_ones(num_features))
end

function BatchNorm2d:describe()
  local extra = ''
  if self.eps ~= 1e-5 then extra = extra .. ', eps ' .. self.eps end
  if self.momentum ~= 0.1 then extra = extra .. ', momentum ' .. self.momentum end
  return string.format('BatchNorm2d(%d%s)', self.num_features, extra)
end

local function check_input(self, x)
  if x:dim() ~= 4 or x:size(2) ~= self.num_features then
    fail('expected input (N,%d,H,W), got %s', self.num_features, x:shape_str())
  end
end

function BatchNorm2d:update_output(x)
  check_input(self, x)
  if self.training and x:size(1) * x:size(3) * x:size(4) == 1 then
    fail('training needs more than one value per channel, got input %s', x:shape_str())
  end
  local n = self.num_features
  self.output = self:reuse('output', x:size())
  self.save_mean = self:reuse('save_mean', { n })
  self.save_invstd = self:reuse('save_invstd', { n })
  -- the mode of the cached statistics decides the backward formula
  self.cache_training = self.training
  -- a Sequential sets fuse_relu for this call when an in-place ReLU follows (see there)
  local relu = self.fuse_relu == true
  self.cache_relu = relu
  local ok, err = pcall(C.bn_forward, self.output, self.save_mean, self.save_invstd,
    self.running_mean, self.running_var, x, self.weight, self.bias, self.training,
    self.momentum, self.eps, relu)
  if not ok then fail('%s', (tostring(err):gsub('^batchnorm: ', ''))) end
  return self.output
end

-- One kernel call gives grad_input and (optionally) the parameter gradients.
local function run_backward(self, x, gy, want_input, want_params)
  self:expect_tensor(x, 'input')
  self:expect_tensor(gy, 'grad_output')
  check_input(self, x)
  if gy:shape_str() ~= x:shape_str() then
    fail('grad_output %s does not match input %s', gy:shape_str(), x:shape_str())
  end
  if self.cache_training == nil then fail('backward called before forward') end
  local gx
  if want_input then
    gx = self:reuse('grad_input', x:size())
    self.grad_input = gx
  end
  local ok, err = pcall(C.bn_backward, gx, want_params and self.grad_weight or nil,
    want_params and self.grad_bias or nil, gy, x, self.weight, self.save_mean, self.save_invstd,
    self.cache_training,
    self.cache_relu and self.output or nil)
  if not ok then fail('%s', (tostring(err):gsub('^batchnorm: ', ''))) end
  return gx
end

function BatchNorm2d:update_grad_input(x, gy) return run_backward(self, x, gy, true, false) end
function BatchNorm2d:acc_grad_parameters(x, gy) run_backward(self, x, gy, false, true) end
function BatchNorm2d:backward(x, gy) return run_backward(self, x, gy, true, true) end

-- Drops the statistics cache with the scratch tensors (a backward then needs a new forward).
function BatchNorm2d:clear_state()
  Module.clear_state(self)
  self.save_mean, self.save_invstd, self.cache_training, self.cache_relu = nil, nil, nil, nil
  return self
end

-- Per image: one multiply-add per value (y = x*scale + shift once folded).
function BatchNorm2d:macs(in_shape)
  local n = 1
  for _, d in ipairs(in_shape) do n = n * d end
  return n, in_shape
end

require('normlab.help').register{ name = 'nn.BatchNorm2d', obj = BatchNorm2d,
  sig = 'nn.BatchNorm2d(channels, {eps=1e-5, momentum=0.1})',
  doc = 'Batch normalization over (N,H,W) per channel. Training: batch mean and biased variance;\nrunning stats updated as running = (1-m)*running + m*batch (unbiased variance). Evaluation: running stats.\nTraining with one value per channel (N*H*W == 1) is an error. weight=1, bias=0 at init.' }

return BatchNorm2d
