-- normlab.optim: SGD with momentum and Adam over lists of live tensors, plus learning-rate
-- schedules. Update rules are torch.optim's (kernels and formulas: src/ops/optim.h).
--
--   local opt = optim.SGD(params, grads, {lr = 0.05, momentum = 0.9, weight_decay = 5e-4})
--   opt:step()  opt:set_lr(lr)  opt:get_lr()  opt.steps  opt:state_tensors() (for checkpoints)
--   optim.Adam(params, grads, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0})
--   optim.schedule.constant(lr)(t)  optim.schedule.cosine(lr0, T)(t)  -- t = 0 .. T-1
--   optim.schedule.linear_scale(base, B, ref = 128) -> base * B / ref
--
-- SGD: d = g + wd*w; v = d on the first step (PyTorch initializes the buffer with d), then
-- v = mu*v + d; w -= lr*v. Adam: d = g + wd*w; m, v moving averages of d and d^2;
-- w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
-- `steps` counts the steps taken; checkpoint.load restores it with the state tensors.
local C = require 'normlab.C'

local optim = {}

local function check_lists(who, params, grads)
  if type(params) ~= 'table' or type(grads) ~= 'table' then
    error(who .. ': expected (params, grads) lists, as returned by model:parameters()', 3)
  end
  if #params ~= #grads then
    error(string.format('%s: %d parameters but %d gradients', who, #params, #grads), 3)
  end
  for i = 1, #params do
    if not C.is_tensor(params[i]) or not C.is_tensor(grads[i]) then
      error(string.format('%s: parameter %d or its gradient is not a tensor', who, i), 3)
    end
    if params[i]:shape_str() ~= grads[i]:shape_str() then
      error(string.format('%s: parameter %d has shape %s but its gradient %s', who, i,
        params[i]:shape_str(), grads[i]:shape_str()), 3)
    end
  end
end

local function check_number(who, name, v, lo, hi_excl)
  if type(v) ~= 'number' or v ~= v or v < lo or v == math.huge or (hi_excl and v >= hi_excl) then
    error(string.format('%s: %s must be a number in [%g, %s), got %s', who, name, lo,
      hi_excl and string.format('%g', hi_excl) or 'inf', tostring(v)), 4)
  end
end

-- A tiny class helper: Class(...) calls Class.new(...).
local function class(name)
  local cls = {}
  cls.__index = cls
  cls.__name = name
  return setmetatable(cls, { __call = function(c, ...) return c.new(...) end })
end

------------------------------------------------------------------------------ SGD
local SGD = class('SGD')
optim.SGD = SGD

function SGD.new(params, grads, opts)
  check_lists('SGD', params, grads)
  opts = opts or {}
  local self = setmetatable({ params = params, grads = grads, steps = 0 }, SGD)
  self.lr = opts.lr or 0.01
  self.momentum = opts.momentum or 0
  self.weight_decay = opts.weight_decay or 0
  check_number('SGD', 'lr', self.lr, 0)
  check_number('SGD', 'momentum', self.momentum, 0, 1)
  check_number('SGD', 'weight_decay', self.weight_decay, 0)
  self.velocity = {}
  if self.momentum ~= 0 then
    for i, p in ipairs(params) do self.velocity[i] = C.tensor_new(p:size()) end
  end
  return self
end

-- One C call and one parallel job for all parameters (it was a call per tensor and a job
-- per large one). An error changes no parameter.
function SGD:step()
  local ok, err = pcall(C.sgd_step_many, self.params, self.momentum ~= 0 and self.velocity or nil,
    self.grads, self.lr, self.momentum, self.weight_decay, self.steps == 0)
  if not ok then error('SGD: ' .. tostring(err):gsub('^sgd: ', ''), 2) end
  self.steps = self.steps + 1
end

function SGD:set_lr(lr) check_number('SGD', 'lr', lr, 0); self.lr = lr end
function SGD:get_lr() return self.lr end
function SGD:state_tensors() return self.velocity end

function SGD:__tostring()
  return string.format('SGD(lr %g, momentum %g, weight_decay %g; %d tensors, %d steps)', self.lr,
    self.momentum, self.weight_decay, #self.params, self.steps)
end

------------------------------------------------------------------------------ Adam
local Adam = class('Adam')
optim.Adam = Adam

function Adam.new(params, grads, opts)
  check_lists('Adam', params, grads)
  opts = opts or {}
  local self = setmetatable({ params = params, grads = grads, steps = 0 }, Adam)
  self.lr = opts.lr or 1e-3
  local betas = opts.betas or { 0.9, 0.999 }
  self.beta1, self.beta2 = betas[1], betas[2]
  self.eps = opts.eps or 1e-8
  self.weight_decay = opts.weight_decay or 0
  check_number('Adam', 'lr', self.lr, 0)
  check_number('Adam', 'betas[1]', self.beta1, 0, 1)
  check_number('Adam', 'betas[2]', self.beta2, 0, 1)
  check_number('Adam', 'eps', self.eps, 0)
  check_number('Adam', 'weight_decay', self.weight_decay, 0)
  self.exp_avg, self.exp_avg_sq = {}, {}
  for i, p in ipairs(params) do
    self.exp_avg[i] = C.tensor_new(p:size())
    self.exp_avg_sq[i] = C.tensor_new(p:size())
  end
  return self
end

function Adam:step()
  self.steps = self.steps + 1
  for i, p in ipairs(self.params) do
    local ok, err = pcall(C.adam_step, p, self.exp_avg[i], self.exp_avg_sq[i], self.grads[i],
      self.lr, self.beta1, self.beta2, self.eps, self.weight_decay, self.steps)
    if not ok then
      self.steps = self.steps - 1
      error(string.format('Adam: parameter %d: %s', i, err), 2)
    end
  end
end

function Adam:set_lr(lr) check_number('Adam', 'lr', lr, 0); self.lr = lr end
function Adam:get_lr() return self.lr end

-- exp_avg of every parameter, then exp_avg_sq of every parameter.
function Adam:state_tensors()
  local out = {}
  for i = 1, #self.exp_avg do out[#out + 1] = self.exp_avg[i] end
  for i = 1, #self.exp_avg_sq do out[#out + 1] = self.exp_avg_sq[i] end
  return out
end

function Adam:__tostring()
  return string.format('Adam(lr %g, betas (%g, %g), eps %g, weight_decay %g; %d tensors, %d steps)',
    self.lr, self.beta1, self.beta2, self.eps, self.weight_decay, #self.params, self.steps)
end

------------------------------------------------------------------------------ schedules
optim.schedule = {}

function optim.schedule.constant(lr)
  return function() return lr end
end

-- Per-step cosine annealing over total_steps: lr(t) = lr0/2 * (1 + cos(pi*t/T)), t = 0..T-1
-- (t is clamped to [0, T]).
function optim.schedule.cosine(lr0, total_steps)
  if math.type(total_steps) ~= 'integer' or total_steps < 1 then
    error('schedule.cosine: total_steps must be a positive integer, got ' .. tostring(total_steps), 2)
  end
  return function(t)
    t = math.max(0, math.min(t, total_steps))
    return 0.5 * lr0 * (1 + math.cos(math.pi * t / total_steps))
  end
end

-- The linear scaling rule: lr0 = base * B / ref (ref 128 in the protocol).
function optim.schedule.linear_scale(base, batch, ref)
  return base * batch / (ref or 128)
end

return optim
