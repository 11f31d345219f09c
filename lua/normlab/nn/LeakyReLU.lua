-- LeakyReLU(negative_slope = 0.01 [, inplace]): elementwise leaky rectifier, any input shape.
--
--   forward  y = x > 0 and x or negative_slope * x
--   backward dx = dy * (x > 0 and 1 or negative_slope)
-- With inplace = true (and negative_slope >= 0, so that y keeps the sign of x) the output is
-- the input tensor itself, overwritten, and the backward pass reads y in place of x.
-- Kernels: src/ops/act.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local LeakyReLU = Module:extend('LeakyReLU')

function LeakyReLU:init(negative_slope, inplace)
  Module.init(self)
  negative_slope = negative_slope or 0.01
  if type(negative_slope) ~= 'number' then
    error('LeakyReLU: negative_slope must be a number, got ' .. type(negative_slope), 3)
  end
  self.negative_slope = negative_slope
  self.inplace = inplace == true and negative_slope >= 0
end

function LeakyReLU:describe() return string.format('LeakyReLU(%g)', self.negative_slope) end

function LeakyReLU:update_output(x)
  local y = self.inplace and x or self:reuse_like('output', x)
  C.leakyrelu_forward(y, x, self.negative_slope)
  self.output = y
  return y
end

function LeakyReLU:update_grad_input(x, gy)
  if not gy:same_shape(x) then
    error(string.format('LeakyReLU: grad_output %s does not match input %s', gy:shape_str(), x:shape_str()), 0)
  end
  local gx = self:reuse_like('grad_input', x):zero()
  C.leakyrelu_backward(gx, gy, x, self.negative_slope)
  self.grad_input = gx
  return gx
end

-- Elementwise: no multiply-adds counted, the shape is unchanged.
function LeakyReLU:macs(in_shape) return 0, in_shape end

require('normlab.help').register{ name = 'nn.LeakyReLU', obj = LeakyReLU,
  sig = 'nn.LeakyReLU(slope=0.01)',
  doc = 'y = x for x > 0, slope*x otherwise.' }

return LeakyReLU
