-- Sigmoid(): elementwise logistic function, any input shape.
--
--   forward  y = 1 / (1 + exp(-x))
--   backward dx = dy * y * (1 - y)   (from the saved output y)
-- Kernels: src/ops/act.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local Sigmoid = Module:extend('Sigmoid')

function Sigmoid:init()
  Module.init(self)
end

function Sigmoid:update_output(x)
  local y = self:reuse_like('output', x)
  C.sigmoid_forward(y, x)
  self.output = y
  return y
end

function Sigmoid:update_grad_input(x, gy)
  if not gy:same_shape(x) then
    error(string.format('Sigmoid: grad_output %s does not match input %s', gy:shape_str(), x:shape_str()), 0)
  end
  if not self.output or not self.output:same_shape(x) then
    error('Sigmoid: backward needs the output of forward for this input ' .. x:shape_str(), 0)
  end
  local gx = self:reuse_like('grad_input', x):zero()
  C.sigmoid_backward(gx, gy, self.output)
  self.grad_input = gx
  return gx
end

-- Elementwise: no multiply-adds counted, the shape is unchanged.
function Sigmoid:macs(in_shape) return 0, in_shape end

require('normlab.help').register{ name = 'nn.Sigmoid', obj = Sigmoid,
  sig = 'nn.Sigmoid()',
  doc = 'y = 1 / (1 + exp(-x)).' }

return Sigmoid
