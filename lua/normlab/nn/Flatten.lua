-- Flatten(): (N, d2, d3, ...) -> (N, d2*d3*...), a view of the same memory (no copy).
-- backward views grad_output back to the input's shape.
local Module = require 'normlab.nn.Module'

local Flatten = Module:extend('Flatten')

function Flatten:init()
  Module.init(self)
end

local function same_dims(t, dims)
  if t:dim() ~= #dims then return false end
  for i = 1, #dims do if t:size(i) ~= dims[i] then return false end end
  return true
end

-- A view of t with shape dims, reused while the source tensor and shape are unchanged
-- (Sequential passes the same output tensor every step, so a warm step allocates nothing).
local function cached_view(self, key, t, dims)
  local c = self.scratch[key]
  if c and c.src == t and same_dims(c.view, dims) then return c.view end
  local v = t:view(dims)
  self.scratch[key] = { src = t, view = v }
  return v
end

function Flatten:update_output(x)
  if x:dim() < 1 then error('Flatten: expected at least a 1-D input (N,...), got ' .. x:shape_str(), 0) end
  local rest = 1
  for i = 2, x:dim() do rest = rest * x:size(i) end
  self.output = cached_view(self, 'output', x, { x:size(1), rest })
  return self.output
end

function Flatten:update_grad_input(x, gy)
  if gy:numel() ~= x:numel() then
    error(string.format('Flatten: grad_output %s does not match input %s', gy:shape_str(), x:shape_str()), 0)
  end
  self.grad_input = cached_view(self, 'grad_input', gy, x:size())
  return self.grad_input
end

function Flatten:macs(in_shape)
  local n = 1
  for _, d in ipairs(in_shape) do n = n * d end
  return 0, { n }
end

require('normlab.help').register{ name = 'nn.Flatten', obj = Flatten,
  sig = 'nn.Flatten()',
  doc = '(N, ...) -> (N, prod(...)) as a view (no copy).' }

return Flatten
