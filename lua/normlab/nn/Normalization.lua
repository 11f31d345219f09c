-- Normalization: what BatchNorm2d and GroupNorm share (not a layer by itself).
--
-- Both normalize (N,C,H,W) input with statistics their forward pass caches, and get the
-- input gradient and the weight/bias gradients from one kernel call. A subclass defines
--   self.kernel_prefix              the C kernels' message prefix ('batchnorm')
--   self:channels()                 the channel count its input must have
--   self:check_cache(x)             fails unless a forward pass cached statistics for x
--   self:backward_kernel(gx, gw, gb, gy, x, relu)     the C backward call
-- and its own update_output, which takes the ReLU flag from self:take_relu_flag().
--
-- Fused ReLU: nn.Sequential sets fuse_relu for one forward call when an in-place ReLU
-- follows; the kernels then rectify the output and mask the gradient by it (bitwise the
-- same as the separate layers), and the flag is cached for the backward pass, whose kernel
-- recomputes the mask from x (weight and bias must not change in between, as in a step).
local Module = require 'normlab.nn.Module'

local Normalization = Module:extend('Normalization')
Normalization.fuses_relu = true

function Normalization:fail(fmt, ...)
  error(self:type_name() .. ': ' .. string.format(fmt, ...), 0)
end

function Normalization:check_input(x)
  local c = self:channels()
  if x:dim() ~= 4 or x:size(2) ~= c then self:fail('expected input (N,%d,H,W), got %s', c, x:shape_str()) end
end

-- Calls a C kernel; its error is raised under the layer's name.
function Normalization:kernel(fn, ...)
  local ok, err = pcall(fn, ...)
  if not ok then self:fail('%s', (tostring(err):gsub('^' .. self.kernel_prefix .. ': ', ''))) end
end

-- The ReLU flag for this forward call, remembered for the backward pass.
function Normalization:take_relu_flag()
  self.cache_relu = self.fuse_relu == true
  return self.cache_relu
end

local function run_backward(self, x, gy, want_input, want_params)
  self:expect_tensor(x, 'input')
  self:expect_tensor(gy, 'grad_output')
  self:check_input(x)
  if not gy:same_shape(x) then
    self:fail('grad_output %s does not match input %s', gy:shape_str(), x:shape_str())
  end
  self:check_cache(x)
  local gx
  if want_input then
    gx = self:reuse_like('grad_input', x)
    self.grad_input = gx
  end
  self:backward_kernel(gx, want_params and self.grad_weight or nil, want_params and self.grad_bias or nil,
    gy, x, self.cache_relu == true)
  return gx
end

function Normalization:update_grad_input(x, gy) return run_backward(self, x, gy, true, false) end
function Normalization:acc_grad_parameters(x, gy) run_backward(self, x, gy, false, true) end
function Normalization:backward(x, gy) return run_backward(self, x, gy, true, true) end

-- Drops the statistics cache with the scratch tensors (a backward then needs a new forward).
function Normalization:clear_state()
  Module.clear_state(self)
  self.save_mean, self.save_invstd, self.cache_training, self.cache_relu = nil, nil, nil, nil
  return self
end

-- Per image: one multiply-add per value for the affine map (statistics not counted).
function Normalization:macs(in_shape)
  local n = 1
  for _, d in ipairs(in_shape) do n = n * d end
  return n, in_shape
end

return Normalization
