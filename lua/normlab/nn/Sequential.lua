-- Sequential(layers): runs its children in order (torch/nn's Sequential).
--
--   local net = nn.Sequential{ nn.Conv2d(3, 32, 3, {padding = 1}), nn.BatchNorm2d(32), nn.ReLU() }
--   net:add(m)  net:get(i)  net:size()  net.modules (the children, 1-based)
--   y = net:forward(x)   gx = net:backward(x, gy)   net:parameters() -> all children's live tensors
--   net:summary{3, 32, 32}   a table of layers, output shapes, parameters, multiply-adds per image
--
-- A child's error is rethrown with its position and description, e.g.
--   "layer 3 (BatchNorm2d 64): BatchNorm2d: expected input (N,64,H,W), got (8,32,16,16)"
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local Sequential = Module:extend('Sequential')

function Sequential:init(layers)
  Module.init(self)
  self.modules = {}
  if layers ~= nil and type(layers) ~= 'table' then
    error('Sequential: expected a list of layers, got ' .. type(layers), 3)
  end
  for i, m in ipairs(layers or {}) do
    if type(m) ~= 'table' or type(m.forward) ~= 'function' then
      error(string.format('Sequential: element %d is not a layer (%s)', i, type(m)), 3)
    end
    self.modules[i] = m
  end
end

function Sequential:add(m)
  if type(m) ~= 'table' or type(m.forward) ~= 'function' then
    error('Sequential:add: expected a layer, got ' .. type(m), 2)
  end
  self.modules[#self.modules + 1] = m
  return self
end

function Sequential:get(i) return self.modules[i] end
function Sequential:size() return #self.modules end

-- "BatchNorm2d(64)" -> "BatchNorm2d 64": the child's description without the parentheses.
local function label(m)
  local d = m:describe()
  local name, args = d:match('^([%w_%.]+)%((.*)%)$')
  if name then return args ~= '' and (name .. ' ' .. args) or name end
  return d
end

-- Rethrows err from child i, prefixed with its position; the "file:line: " that error()
-- adds at a level > 0 is dropped, the layer label says where.
local function rethrow(i, m, err)
  local msg = tostring(err)
  if type(err) == 'string' then msg = msg:gsub('^[^%s:]+:%d+: ', '', 1) end
  error(string.format('layer %d (%s): %s', i, label(m), msg), 0)
end

-- Fusion: a norm layer that can take a ReLU into its own passes (fuses_relu: BatchNorm2d,
-- GroupNorm) followed by an in-place ReLU runs as one layer: the norm rectifies its output
-- and masks its grad_output, so the ReLU's two passes over the activations disappear (the
-- results are bitwise the same). The norm's fuse_relu is set for that one forward call; the
-- ReLU's output is the norm's output, as in place anyway. self.fusion = false turns it off.
local function fuses_next(self, i)
  local m, nx = self.modules[i], self.modules[i + 1]
  return self.fusion ~= false and nx ~= nil and m.fuses_relu == true and nx.fusable_after_norm == true
    and nx.inplace == true
end

function Sequential:update_output(x)
  local y = x
  local fused = {}   -- children skipped in this pass, fused into the one before
  local i, n = 1, #self.modules
  while i <= n do
    local m = self.modules[i]
    local fuse = fuses_next(self, i)
    if fuse then m.fuse_relu = true end
    local ok, out = pcall(m.forward, m, y)
    if fuse then m.fuse_relu = nil end
    if not ok then rethrow(i, m, out) end
    y = out
    if fuse then
      self.modules[i + 1].output = y
      fused[i + 1] = true
      i = i + 1
    end
    i = i + 1
  end
  self.fused = fused
  self.output = y
  return y
end

-- The input of child i is the previous child's output (kept as its .output).
local function input_of(self, x, i)
  return i == 1 and x or self.modules[i - 1].output
end

-- Backward through the children in reverse order, each doing its own grad_input and
-- parameter gradients in one call (BN/GN compute both in one pass).
--
-- Gradient buffers are recycled: once child i-1 has consumed child i's grad_input, that
-- tensor goes to a free list (by shape, kept in self.grad_free across calls) and the next
-- child that needs a grad_input of that shape finds it in its scratch (Module:reuse). So
-- a deep net holds about two gradient tensors per shape instead of one per child. A tensor
-- is recycled only when the child that consumed it returned a gradient of its own (its
-- scratch.grad_input, a different tensor), so a child that returns a view of its
-- grad_output (Flatten) or works in place keeps it alive; a buffer offered to a child that
-- does not take it goes back to the list. The children's grad_input fields are cleared as
-- their tensors are recycled (the first child's, which this returns, is kept).
-- self.recycle_grads = false turns it off.
local function recycle(self, i, g)
  local prev = self.modules[i]
  if not (prev and prev.scratch and rawequal(prev.grad_input, g) and rawequal(prev.scratch.grad_input, g)) then
    return
  end
  prev.scratch.grad_input, prev.grad_input = nil, nil
  local key = g:shape_str()
  local list = self.grad_free[key]
  if not list then list = {}; self.grad_free[key] = list end
  list[#list + 1] = g
end

-- want_input == false: the caller has no use for the gradient of x (a training step), so
-- the first child may skip it (Conv2d does) and nil may be returned.
function Sequential:backward(x, gy, want_input)
  self:expect_tensor(x, 'input'); self:expect_tensor(gy, 'grad_output')
  local on = self.recycle_grads ~= false
  if on and not self.grad_free then self.grad_free = {} end
  local fused = self.fused or {}
  local g, gsrc = gy, nil   -- gsrc: the child whose own grad_input g is (nil: the caller's gy)
  for i = #self.modules, 1, -1 do
    if not fused[i] then   -- a fused ReLU's backward runs inside the norm layer before it
      local m = self.modules[i]
      local xi = input_of(self, x, i)
      local offered
      -- offered only to a child without a buffer of the right shape: replacing one it holds
      -- would drop that tensor to the garbage collector and allocate anew every step
      local held = m.scratch and m.scratch.grad_input
      if on and i > 1 and m.scratch and (held == nil or (C.is_tensor(held) and not held:same_shape(xi))) then
        local list = self.grad_free[xi:shape_str()]
        if list and #list > 0 then
          offered = table.remove(list)
          m.scratch.grad_input = offered
        end
      end
      local ok, gi = pcall(m.backward, m, xi, g, i > 1 or want_input ~= false)
      if not ok then rethrow(i, m, gi) end
      if offered and not rawequal(m.scratch.grad_input, offered) then   -- not taken: back to the list
        local list = self.grad_free[offered:shape_str()]
        list[#list + 1] = offered
      end
      -- g is consumed: recycle it if child i's result is its own tensor
      local own = C.is_tensor(gi) and not rawequal(gi, g) and m.scratch and rawequal(m.scratch.grad_input, gi)
      if on and gsrc and own then recycle(self, gsrc, g) end
      if not rawequal(gi, g) then gsrc = i end
      g = gi
    end
  end
  self.grad_input = g
  return g
end

function Sequential:update_grad_input(x, gy)
  local g, fused = gy, self.fused or {}
  for i = #self.modules, 1, -1 do
    local m = self.modules[i]
    if not fused[i] then
      local ok, gi = pcall(m.update_grad_input, m, input_of(self, x, i), g)
      if not ok then rethrow(i, m, gi) end
      g = gi
    end
  end
  self.grad_input = g
  return g
end

-- Needs the children's grad_input from update_grad_input (child i's grad_output is child
-- i+1's grad_input).
function Sequential:acc_grad_parameters(x, gy)
  for i = #self.modules, 1, -1 do
    local m = self.modules[i]
    local g = i == #self.modules and gy or self.modules[i + 1].grad_input
    local ok, err = pcall(m.acc_grad_parameters, m, input_of(self, x, i), g)
    if not ok then rethrow(i, m, err) end
  end
end

-- Every child's parameters and gradients, in order: the live tensors, never copies.
function Sequential:parameters()
  local ps, gs = {}, {}
  for _, m in ipairs(self.modules) do
    local p, g = m:parameters()
    for j = 1, #p do ps[#ps + 1] = p[j]; gs[#gs + 1] = g[j] end
  end
  return ps, gs
end

function Sequential:num_parameters()
  local n = 0
  for _, m in ipairs(self.modules) do n = n + m:num_parameters() end
  return n
end

-- All children's gradients in one parallel C call instead of a call per tensor; a child
-- with a zero_grad of its own (a user's layer that clears more) still gets it called.
local function call_own_zero_grads(seq)
  for _, m in ipairs(seq.modules) do
    if m.zero_grad == Sequential.zero_grad and m.modules then call_own_zero_grads(m)   -- nested
    elseif m.zero_grad ~= Module.zero_grad then m:zero_grad() end
  end
end

function Sequential:zero_grad()
  local _, grads = self:parameters()
  C.zero_grads(grads)
  call_own_zero_grads(self)
end

function Sequential:train()
  self.training = true
  for _, m in ipairs(self.modules) do m:train() end
  return self
end

function Sequential:evaluate()
  self.training = false
  for _, m in ipairs(self.modules) do m:evaluate() end
  return self
end

function Sequential:clear_state()
  Module.clear_state(self)
  self.grad_free = nil
  for _, m in ipairs(self.modules) do m:clear_state() end
  return self
end

function Sequential:describe()
  return string.format('Sequential(%d layers)', #self.modules)
end

Sequential.__tostring = function(self)
  local lines = { 'Sequential {' }
  for i, m in ipairs(self.modules) do
    local s = tostring(m):gsub('\n', '\n  ')
    lines[#lines + 1] = string.format('  (%d): %s', i, s)
  end
  lines[#lines + 1] = '}'
  return table.concat(lines, '\n')
end

-- Multiply-adds per image and the output shape, chaining the children.
function Sequential:macs(in_shape)
  local total, shape = 0, in_shape
  for i, m in ipairs(self.modules) do
    local ok, n, out = pcall(m.macs, m, shape)
    if not ok then rethrow(i, m, n) end
    total, shape = total + (n or 0), out or shape
  end
  return total, shape
end

local function shape_str(s)
  local parts = {}
  for i, d in ipairs(s) do parts[i] = tostring(d) end
  return '(' .. table.concat(parts, ',') .. ')'
end

-- 1234567 -> "1,234,567"
local function commas(n)
  local s = string.format('%d', n)
  local out = s:reverse():gsub('(%d%d%d)', '%1,'):reverse()
  return (out:gsub('^,', ''))
end

-- summary(in_shape [, opts]): in_shape without the batch dimension, e.g. {3, 32, 32}.
-- Prints one line per layer (output shape, parameters, multiply-adds per image) and the
-- totals, unless opts.quiet; returns the text, total parameters and total multiply-adds.
function Sequential:summary(in_shape, opts)
  opts = opts or {}
  if type(in_shape) ~= 'table' or #in_shape == 0 then
    error('Sequential:summary: expected an input shape without the batch dimension, e.g. {3, 32, 32}', 2)
  end
  local rows = { { '#', 'layer', 'output', 'params', 'MACs/image' } }
  local shape, total_p, total_m = in_shape, 0, 0
  rows[2] = { '', 'input', shape_str(shape), '', '' }
  for i, m in ipairs(self.modules) do
    local ok, n, out = pcall(m.macs, m, shape)
    if not ok then rethrow(i, m, n) end
    shape = out or shape
    local p = m:num_parameters()
    total_p, total_m = total_p + p, total_m + (n or 0)
    rows[#rows + 1] = { tostring(i), m:describe(), shape_str(shape), commas(p), commas(n or 0) }
  end
  rows[#rows + 1] = { '', 'total', '', commas(total_p), commas(total_m) }
  local width = {}
  for _, r in ipairs(rows) do
    for j, c in ipairs(r) do width[j] = math.max(width[j] or 0, #c) end
  end
  local lines = {}
  for k, r in ipairs(rows) do
    -- left-align the text columns, right-align the numbers
    lines[#lines + 1] = string.format('%' .. width[1] .. 's  %-' .. width[2] .. 's  %-' .. width[3] ..
      's  %' .. width[4] .. 's  %' .. width[5] .. 's', table.unpack(r)):gsub('%s+$', '')
    if k == 1 or k == #rows - 1 then
      lines[#lines + 1] = string.rep('-', width[1] + width[2] + width[3] + width[4] + width[5] + 8)
    end
  end
  local text = table.concat(lines, '\n')
  if not opts.quiet then print(text) end
  return text, total_p, total_m
end

require('normlab.help').register{ name = 'nn.Sequential', obj = Sequential,
  sig = 'nn.Sequential{layer1, layer2, ...}',
  doc = "Runs layers in order. m:add(l), m:get(i), m:size(), m:summary{3,32,32} (shapes, parameters,\nmultiply-adds per image). A child's error is prefixed with its position, e.g. 'layer 3 (BatchNorm2d 64): '." }

return Sequential
