-- Tanh(): elementwise hyperbolic tangent, any input shape.
--
--   forward  y = tanh(x)
--   backward dx = dy * (1 - y^2)   (from the saved output y)
-- Kernels: src/ops/act.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local Tanh = Module:extend('Tanh')

function Tanh:init()
  Module.init(self)
end

function Tanh:update_output(x)
  local y = self:reuse_like('output', x)
  C.tanh_forward(y, x)
  self.output = y
  return y
end

function Tanh:update_grad_input(x, gy)
  if not gy:same_shape(x) then
    error(string.format('Tanh: grad_output %s does not match input %s', gy:shape_str(), x:shape_str()), 0)
  end
  if not self.output or not self.output:same_shape(x) then
    error('Tanh: backward needs the output of forward for this input ' .. x:shape_str(), 0)
  end
  local gx = self:reuse_like('grad_input', x):zero()
  C.tanh_backward(gx, gy, self.output)
  self.grad_input = gx
  return gx
end

-- Elementwise: no multiply-adds counted, the shape is unchanged.
function Tanh:macs(in_shape) return 0, in_shape end

require('normlab.help').register{ name = 'nn.Tanh', obj = Tanh,
  sig = 'nn.Tanh()',
  doc = 'y = tanh(x).' }

return Tanh
