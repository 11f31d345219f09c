-- MaxPool2d(kernel, stride_or_opts, padding): max pooling over (N,C,H,W), as
-- torch.nn.MaxPool2d (floor mode, no dilation; padding counts as -inf and is at most kernel/2).
--
--   y[n,c,i,j] = max of x[n,c] over rows i*stride-pad .. +kernel-1, cols j*stride-pad .. +kernel-1
--   Ho = (H + 2*pad - kernel)//stride + 1, same for Wo
--
-- MaxPool2d(2) pools 2x2 with stride 2; MaxPool2d(3, 2, 1) or MaxPool2d(3, {stride=2, padding=1}).
-- The argmax of every window is kept (self.indices) for backward. Kernels: src/ops/pool.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local MaxPool2d = Module:extend('MaxPool2d')

local function fail(fmt, ...)
  error('MaxPool2d: ' .. string.format(fmt, ...), 0)
end

function MaxPool2d:init(k, stride, padding)
  Module.init(self)
  if type(stride) == 'table' then stride, padding = stride.stride, stride.padding end
  stride, padding = stride or k, padding or 0
  -- sizes are integers (integral floats such as 2.0 are accepted and converted)
  local function check(v, what, min)
    local i = math.tointeger(v)
    if not i or i < min then
      error(string.format('MaxPool2d: %s must be an integer >= %d, got %s', what, min, tostring(v)), 4)
    end
    return i
  end
  k, stride, padding = check(k, 'kernel size', 1), check(stride, 'stride', 1), check(padding, 'padding', 0)
  if padding > k // 2 then
    error(string.format('MaxPool2d: padding %d must be at most half the kernel size %d', padding, k), 3)
  end
  self.kernel, self.stride, self.padding = k, stride, padding
end

function MaxPool2d:describe()
  local s = string.format('MaxPool2d(%dx%d', self.kernel, self.kernel)
  if self.stride ~= self.kernel then s = s .. ', stride ' .. self.stride end
  if self.padding ~= 0 then s = s .. ', pad ' .. self.padding end
  return s .. ')'
end

function MaxPool2d:out_size(h, w, shape)
  local ph, pw = h + 2 * self.padding, w + 2 * self.padding
  if ph < self.kernel or pw < self.kernel then
    if type(shape) ~= 'string' then shape = shape:shape_str() end   -- the input tensor
    fail('input %s: kernel %dx%d is larger than the padded input %dx%d', shape, self.kernel, self.kernel, ph, pw)
  end
  return (ph - self.kernel) // self.stride + 1, (pw - self.kernel) // self.stride + 1
end

local function kernel_call(fn, ...)
  local ok, err = pcall(fn, ...)
  if not ok then fail('%s', (tostring(err):gsub('^maxpool2d: ', ''))) end
end

function MaxPool2d:update_output(x)
  if x:dim() ~= 4 then fail('expected a 4-D input (N,C,H,W), got %s', x:shape_str()) end
  local ho, wo = self:out_size(x:size(3), x:size(4), x)
  local dims = { x:size(1), x:size(2), ho, wo }
  local y = self:reuse('output', dims)
  self.indices = self:reuse('indices', dims)
  kernel_call(C.maxpool2d_forward, y, self.indices, x, self.kernel, self.stride, self.padding)
  self.output = y
  return y
end

function MaxPool2d:update_grad_input(x, gy)
  if not self.indices then fail('backward called before forward') end
  if not gy:same_shape(self.indices) then
    fail('grad_output %s does not match the output %s', gy:shape_str(), self.indices:shape_str())
  end
  local gx = self:reuse_like('grad_input', x):zero()
  kernel_call(C.maxpool2d_backward, gx, gy, self.indices)
  self.grad_input = gx
  return gx
end

function MaxPool2d:macs(in_shape)
  if #in_shape ~= 3 then fail('expected an input shape {C, H, W}, got (%s)', table.concat(in_shape, ',')) end
  local ho, wo = self:out_size(in_shape[2], in_shape[3], '(' .. table.concat(in_shape, ',') .. ')')
  return 0, { in_shape[1], ho, wo }
end

require('normlab.help').register{ name = 'nn.MaxPool2d', obj = MaxPool2d,
  sig = 'nn.MaxPool2d(k, stride=k, padding=0)',
  doc = 'Max pooling over k x k windows (PyTorch semantics, floor mode).' }

return MaxPool2d
