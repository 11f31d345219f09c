-- Module: the base of every layer (torch/nn's protocol).
--
--   y  = m:forward(x)          -> m:update_output(x)
--   gx = m:backward(x, gy)     -> m:update_grad_input(x, gy), then m:acc_grad_parameters(x, gy)
--   params, grads = m:parameters()   the live tensors, never copies
--
-- Gradients accumulate; m:zero_grad() clears them. Output and gradient
-- tensors are reused across calls when the shape is unchanged, so a warm
-- training step allocates nothing.
local C = require 'normlab.C'

local Module = {}
Module.__index = Module
Module.__name = 'Module'

-- Creates a subclass: local Conv2d = Module:extend('Conv2d'); Conv2d(...) calls Conv2d:init(...).
function Module:extend(name)
  local cls = setmetatable({}, { __index = self, __call = function(c, ...)
    local obj = setmetatable({}, c)
    obj:init(...)
    return obj
  end })
  cls.__index = cls
  cls.__name = name
  cls.__tostring = self.__tostring
  cls.super = self
  return cls
end

function Module:init()
  self.params, self.grads, self.param_names = {}, {}, {}
  self.buffers = {}        -- name -> tensor, saved in checkpoints (e.g. running_mean)
  self.scratch = {}        -- name -> tensor, reused between calls, never saved
  self.training = true
end

-- The generator a layer initialises its weights from: opts.gen, or else one
-- generator shared by every layer (seed 0, stream 'init'), so that layers
-- built without a generator still get different, reproducible weights.
local default_gen
function Module.init_generator(opts)
  if opts and opts.gen then return opts.gen end
  default_gen = default_gen or C.generator_new(0, 'init')
  return default_gen
end

function Module:type_name() return getmetatable(self).__name end

-- A one-line description (layers override it with their sizes).
function Module:describe() return self:type_name() end

Module.__tostring = function(self) return self:describe() end

-- Registers a trainable parameter and its gradient (same shape, zeros).
function Module:add_parameter(name, tensor)
  self[name] = tensor
  self['grad_' .. name] = C.tensor_new(tensor:size())
  self.params[#self.params + 1] = tensor
  self.grads[#self.grads + 1] = self['grad_' .. name]
  self.param_names[#self.param_names + 1] = name
  return tensor
end

function Module:add_buffer(name, tensor)
  self[name] = tensor
  self.buffers[name] = tensor
  return tensor
end

local function same_shape(t, dims)
  if t:dim() ~= #dims then return false end
  for i = 1, #dims do if t:size(i) ~= dims[i] then return false end end
  return true
end

-- Returns self.scratch[name] with shape dims, allocating only when the shape changed.
function Module:reuse(name, dims)
  local t = self.scratch[name]
  if not t or not same_shape(t, dims) then
    t = C.tensor_new(dims)
    self.scratch[name] = t
  end
  return t
end

-- The same for a tensor shaped like `like` (compares in C: no shape table per call).
function Module:reuse_like(name, like)
  local t = self.scratch[name]
  if not t or not t:same_shape(like) then
    t = C.tensor_new(like:size())
    self.scratch[name] = t
  end
  return t
end

-- Raises "Conv2d(3 -> 32, 3x3): expected a tensor input, got number" for a non-tensor
-- (rather than Lua's "attempt to index a number value" from inside the layer).
function Module:expect_tensor(v, what)
  if not C.is_tensor(v) then
    error(string.format('%s: expected a tensor %s, got %s', self:describe(), what, type(v)), 3)
  end
  return v
end

function Module:forward(x)
  self:expect_tensor(x, 'input')
  return self:update_output(x)
end

function Module:backward(x, gy)
  self:expect_tensor(x, 'input')
  self:expect_tensor(gy, 'grad_output')
  local gx = self:update_grad_input(x, gy)
  self:acc_grad_parameters(x, gy)
  return gx
end

function Module:update_output(x) error(self:type_name() .. ': update_output is not implemented', 2) end
function Module:update_grad_input(x, gy) error(self:type_name() .. ': update_grad_input is not implemented', 2) end
function Module:acc_grad_parameters(x, gy) end

function Module:parameters() return self.params, self.grads end

function Module:zero_grad()
  for _, g in ipairs(self.grads) do g:zero() end
end

function Module:train() self.training = true; return self end
function Module:evaluate() self.training = false; return self end

-- Drops the cached outputs and scratch space (e.g. before saving or to free memory).
function Module:clear_state()
  self.output, self.grad_input = nil, nil
  self.scratch = {}
  return self
end

-- Multiply-adds per image and the output shape (without the batch dimension)
-- for an input of shape in_shape (without the batch dimension).
function Module:macs(in_shape) return 0, in_shape end

-- Number of trainable scalars.
function Module:num_parameters()
  local n = 0
  for _, p in ipairs(self.params) do n = n + p:numel() end
  return n
end

-- Raises an error naming this layer, e.g. "Conv2d(3 -> 32, 3x3): expected ...".
function Module:fail(fmt, ...)
  error(self:describe() .. ': ' .. string.format(fmt, ...), 3)
end

return Module
