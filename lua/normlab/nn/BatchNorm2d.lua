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
local Normalization = require 'normlab.nn.Normalization'
local C = require 'normlab.C'

local BatchNorm2d = Normalization:extend('BatchNorm2d')
BatchNorm2d.kernel_prefix = 'batchnorm'

function BatchNorm2d:init(num_features, opts)
  Normalization.init(self)
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

function BatchNorm2d:channels() return self.num_features end

function BatchNorm2d:update_output(x)
  self:check_input(x)
  if self.training and x:size(1) * x:size(3) * x:size(4) == 1 then
    self:fail('training needs more than one value per channel, got input %s', x:shape_str())
  end
  local n = self.num_features
  self.output = self:reuse_like('output', x)
  self.save_mean = self:reuse('save_mean', { n })
  self.save_invstd = self:reuse('save_invstd', { n })
  -- the mode of the cached statistics decides the backward formula
  self.cache_training = self.training
  self:kernel(C.bn_forward, self.output, self.save_mean, self.save_invstd, self.running_mean,
    self.running_var, x, self.weight, self.bias, self.training, self.momentum, self.eps,
    self:take_relu_flag())
  return self.output
end

function BatchNorm2d:check_cache()
  if self.cache_training == nil then self:fail('backward called before forward') end
end

function BatchNorm2d:backward_kernel(gx, gw, gb, gy, x, relu)
  self:kernel(C.bn_backward, gx, gw, gb, gy, x, self.weight, self.save_mean, self.save_invstd,
    self.cache_training, relu, self.bias)
end

require('normlab.help').register{ name = 'nn.BatchNorm2d', obj = BatchNorm2d,
  sig = 'nn.BatchNorm2d(channels, {eps=1e-5, momentum=0.1})',
  doc = 'Batch normalization over (N,H,W) per channel. Training: batch mean and biased variance;\nrunning stats updated as running = (1-m)*running + m*batch (unbiased variance). Evaluation: running stats.\nTraining with one value per channel (N*H*W == 1) is an error. weight=1, bias=0 at init.' }

return BatchNorm2d
