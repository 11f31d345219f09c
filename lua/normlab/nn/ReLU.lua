-- ReLU([inplace]): elementwise rectifier, y = max(x, 0), any input shape.
--
--   forward  y = max(x, 0)
--   backward dx = dy * [x > 0]   (0 at x == 0, as PyTorch)
-- ReLU(true) works in place (torch/nn's nn.ReLU(true)): the output is the input tensor
-- itself, overwritten, which saves one activation-sized tensor. The backward pass then reads
-- the rectified values, which have the same sign pattern ([y > 0] == [x > 0]).
-- Kernels: src/ops/act.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local ReLU = Module:extend('ReLU')
-- an in-place ReLU right after BatchNorm2d/GroupNorm in a Sequential runs inside that layer
ReLU.fusable_after_norm = true

function ReLU:init(inplace)
  Module.init(self)
  self.inplace = inplace == true
end

function ReLU:update_output(x)
  local y = self.inplace and x or self:reuse_like('output', x)
  C.relu_forward(y, x)
  self.output = y
  return y
end

function ReLU:update_grad_input(x, gy)
  if not gy:same_shape(x) then
    error(string.format('ReLU: grad_output %s does not match input %s', gy:shape_str(), x:shape_str()), 0)
  end
  local gx = self:reuse_like('grad_input', x):zero()
  C.relu_backward(gx, gy, x)
  self.grad_input = gx
  return gx
end

-- Elementwise: no multiply-adds counted, the shape is unchanged.
function ReLU:macs(in_shape) return 0, in_shape end

require('normlab.help').register{ name = 'nn.ReLU', obj = ReLU,
  sig = 'nn.ReLU([inplace])',
  doc = 'y = max(x, 0); nn.ReLU(true) overwrites its input instead of allocating an output.' }

return ReLU
