-- GlobalAvgPool2d(): the mean of every channel over the image, (N,C,H,W) -> (N,C)
-- (torch.nn.AdaptiveAvgPool2d(1) followed by Flatten).
--
--   y[n,c] = 1/(H*W) sum_{h,w} x[n,c,h,w];   dx[n,c,h,w] = dy[n,c] / (H*W)
-- Kernels: src/ops/pool.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local GlobalAvgPool2d = Module:extend('GlobalAvgPool2d')

local function fail(fmt, ...)
  error('GlobalAvgPool2d: ' .. string.format(fmt, ...), 0)
end

function GlobalAvgPool2d:init()
  Module.init(self)
end

local function check_input(x)
  if x:dim() ~= 4 or x:size(3) * x:size(4) == 0 then
    fail('expected a 4-D input (N,C,H,W) with a non-empty image, got %s', x:shape_str())
  end
end

function GlobalAvgPool2d:update_output(x)
  check_input(x)
  local y = self:reuse('output', { x:size(1), x:size(2) })
  C.global_avgpool_forward(y, x)
  self.output = y
  return y
end

function GlobalAvgPool2d:update_grad_input(x, gy)
  check_input(x)
  if gy:dim() ~= 2 or gy:size(1) ~= x:size(1) or gy:size(2) ~= x:size(2) then
    fail('grad_output %s does not match the output (%d,%d) for input %s', gy:shape_str(), x:size(1),
      x:size(2), x:shape_str())
  end
  local gx = self:reuse_like('grad_input', x):zero()
  C.global_avgpool_backward(gx, gy)
  self.grad_input = gx
  return gx
end

-- Per image: H*W additions per channel (counted as multiply-adds).
function GlobalAvgPool2d:macs(in_shape)
  if #in_shape ~= 3 then fail('expected an input shape {C, H, W}, got (%s)', table.concat(in_shape, ',')) end
  return in_shape[1] * in_shape[2] * in_shape[3], { in_shape[1] }
end

require('normlab.help').register{ name = 'nn.GlobalAvgPool2d', obj = GlobalAvgPool2d,
  sig = 'nn.GlobalAvgPool2d()',
  doc = 'Average over H and W: (N,C,H,W) -> (N,C).' }

return GlobalAvgPool2d
