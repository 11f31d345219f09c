-- normlab.optim: SGD and Adam through the Lua API against hand-worked values, learning-rate
-- schedules, state tensors and argument errors. (PyTorch comparisons: test_norm_torch.lua.)
local T = dofile('tests/lua/check.lua')
local nl = require 'normlab'
local optim = nl.optim

T.test('SGD momentum: v = g on the first step, then mu*v + g; weight decay joins g', function()
  local w, g = nl.tensor{ 1, 1 }, nl.tensor{ 0.5, 0.5 }
  local w2, g2 = nl.tensor{ 1 }, nl.tensor{ 0.5 }
  local opt = optim.SGD({ w, w2 }, { g, g2 }, { lr = 0.1, momentum = 0.9 })
  local want = { 0.95, 0.855, 0.7195 }
  for t = 1, 3 do
    opt:step()
    T.near(w[1], want[t], 1e-6, 'w step ' .. t); T.near(w2[1], want[t], 1e-6, 'second tensor')
  end
  T.eq(opt.steps, 3, 'steps')
  T.near(opt:state_tensors()[1][1], 1.355, 1e-6, 'velocity')
  local v = nl.tensor{ 1 }
  local o2 = optim.SGD({ v }, { nl.tensor{ 0.5 } }, { lr = 0.1, momentum = 0.9, weight_decay = 0.1 })
  o2:step(); T.near(v[1], 0.94, 1e-6, 'wd step 1')
  o2:step(); T.near(v[1], 0.8266, 1e-6, 'wd step 2')
  local p = nl.tensor{ 2 }
  local o3 = optim.SGD({ p }, { nl.tensor{ 1 } }, { lr = 0.5 })
  o3:step(); T.near(p[1], 1.5, 1e-7, 'plain SGD')
  T.eq(#o3:state_tensors(), 0, 'no momentum, no state')
end)

T.test('C.zero_grads clears every tensor of the list, on any thread count; model:zero_grad uses it', function()
  local C = nl.C
  local sizes = { 5, 40000, 17, 70001, 1 }   -- tensors split across the threads' 16-float blocks
  for _, threads in ipairs { 1, 2, 3 } do
    local before = nl.threads()
    nl.set_threads(threads)
    local ts = {}
    for i, n in ipairs(sizes) do ts[i] = nl.zeros(n):fill(i) end
    local keep = nl.zeros(8):fill(7)   -- not in the list: untouched
    C.zero_grads(ts)
    nl.set_threads(before)
    for i, t in ipairs(ts) do
      T.eq(t:sum(), 0, string.format('tensor %d cleared (%d threads)', i, threads))
    end
    T.eq(keep:sum(), 56, 'a tensor outside the list keeps its values')
  end
  C.zero_grads({})
  T.err(function() C.zero_grads({ nl.zeros(2), 3 }) end, 'zero_grads: element 2 is a number, not a tensor')
  local model = nl.models.plain { depth = 2, act = 'relu', norm = 'bn', order = 'cna', classes = 10 }
  local _, grads = model:parameters()
  for _, g in ipairs(grads) do g:fill(1) end
  model:zero_grad()
  for i, g in ipairs(grads) do T.eq(g:sum(), 0, 'model gradient ' .. i .. ' cleared') end
  -- a user's layer whose zero_grad does more than clear its gradients is still called
  local Custom = nl.nn.Module:extend('Custom')
  function Custom:init() nl.nn.Module.init(self); self.cleared = 0 end
  function Custom:zero_grad() nl.nn.Module.zero_grad(self); self.cleared = self.cleared + 1 end
  local custom = Custom()
  local seq = nl.nn.Sequential{ nl.nn.Sequential{ custom } }
  seq:zero_grad()
  T.eq(custom.cleared, 1, "a child's own zero_grad runs once, inside a nested Sequential too")
end)

T.test('SGD steps all parameters in one call: bitwise the per-tensor steps, on 1 to 3 threads', function()
  local C = nl.C
  local sizes = { 3, 9216, 17, 40000, 1 }
  local gen = nl.Generator(7, 'init')
  local function fresh()
    local ps, gs = {}, {}
    for i, n in ipairs(sizes) do
      ps[i] = nl.zeros(n):normal(gen, 0, 1)
      gs[i] = nl.zeros(n):normal(gen, 0, 1)
    end
    return ps, gs
  end
  for _, threads in ipairs { 1, 2, 3 } do
    for _, mu in ipairs { 0.9, 0 } do
      local ps, gs = fresh()
      local qs, vs_ref = {}, {}
      for i, p in ipairs(ps) do qs[i] = p:clone(); vs_ref[i] = nl.zeros(p:numel()) end
      local before = nl.threads()
      nl.set_threads(threads)
      local opt = optim.SGD(ps, gs, { lr = 0.05, momentum = mu, weight_decay = 5e-4 })
      for step = 1, 3 do
        opt:step()
        for i, q in ipairs(qs) do
          C.sgd_step(q, mu ~= 0 and vs_ref[i] or nil, gs[i], 0.05, mu, 5e-4, step == 1)
        end
      end
      nl.set_threads(before)
      for i = 1, #ps do
        T.same_bits(ps[i], qs[i], string.format('parameter %d, momentum %g, %d threads', i, mu, threads))
        if mu ~= 0 then T.same_bits(opt:state_tensors()[i], vs_ref[i], 'velocity ' .. i) end
      end
    end
  end
  local w1, w2 = nl.tensor{ 1, 2 }, nl.tensor{ 3 }
  local opt = optim.SGD({ w1, w2 }, { nl.tensor{ 1, 1 }, nl.tensor{ 1 } }, { lr = 0.1, momentum = 0.9 })
  opt.grads[2] = nl.tensor{ 1, 1, 1 }   -- a gradient swapped for one of another size after construction
  T.err(function() opt:step() end, 'SGD: parameter 2 of 2: parameter (1) has 1 elements but its gradient (3) has 3')
  T.eq(w1[1], 1, 'a failed step changes no parameter'); T.eq(opt.steps, 0, 'nor the step count')
  T.err(function() C.sgd_step_many({ w1 }, nil, { w1, w2 }, 0.1, 0, 0, true) end, 'a list of 1 tensors has 2')
  T.err(function() C.sgd_step_many({ w1 }, nil, { 5 }, 0.1, 0, 0, true) end, 'grads: element 1 is a number')
end)

T.test('SGD resumes: steps restored from a checkpoint skip the first-step rule', function()
  local w, g = nl.tensor{ 1 }, nl.tensor{ 0.5 }
  local opt = optim.SGD({ w }, { g }, { lr = 0.1, momentum = 0.9 })
  opt:state_tensors()[1]:fill(0.5); opt.steps = 1; w:fill(0.95)   -- as after one step
  opt:step()
  T.near(w[1], 0.855, 1e-6, 'second step after resume')
end)

T.test('set_lr / get_lr', function()
  local w = nl.tensor{ 1 }
  local opt = optim.SGD({ w }, { nl.tensor{ 1 } }, { lr = 0.1 })
  opt:set_lr(0.25); T.eq(opt:get_lr(), 0.25, 'lr')
  opt:step(); T.near(w[1], 0.75, 1e-7, 'step with new lr')
  T.err(function() opt:set_lr(-1) end, 'SGD: lr must be a number')
end)

T.test('Adam: bias correction makes a constant gradient move w by lr per step', function()
  local w, g = nl.tensor{ 1, -2 }, nl.tensor{ 0.5, -3 }
  local opt = optim.Adam({ w }, { g }, { lr = 0.1 })
  for t = 1, 5 do
    opt:step()
    T.near(w[1], 1 - 0.1 * t, 2e-6, 'w[1] step ' .. t); T.near(w[2], -2 + 0.1 * t, 2e-6, 'w[2] step ' .. t)
  end
  T.eq(#opt:state_tensors(), 2, 'exp_avg and exp_avg_sq')
  T.near(opt:state_tensors()[1][1], 0.5 * (1 - 0.9 ^ 5), 1e-6, 'exp_avg')
end)

T.test('Adam weight decay is added to the gradient (not decoupled)', function()
  -- step 1 with d = g + wd*w: w1 = w0 - lr * d/|d|; choose g = 0 so only decay acts
  local w = nl.tensor{ 2 }
  local opt = optim.Adam({ w }, { nl.tensor{ 0 } }, { lr = 0.01, weight_decay = 0.5 })
  opt:step()
  T.near(w[1], 2 - 0.01, 1e-6, 'decay moves w towards 0 by lr')
end)

T.test('schedules: constant, cosine per step, linear scaling', function()
  local S = optim.schedule
  T.eq(S.constant(0.3)(17), 0.3, 'constant')
  local c = S.cosine(0.1, 100)
  T.near(c(0), 0.1, 1e-15, 'cosine t=0'); T.near(c(50), 0.05, 1e-15, 'cosine t=T/2')
  T.near(c(99), 0.05 * (1 + math.cos(math.pi * 99 / 100)), 1e-15, 'cosine t=T-1')
  T.near(c(25), 0.05 * (1 + math.cos(math.pi / 4)), 1e-15, 'cosine t=T/4')
  T.eq(c(1000), 0, 'clamped past T')
  T.near(S.linear_scale(0.05, 8), 0.003125, 1e-15, 'linear_scale B=8')
  T.near(S.linear_scale(0.05, 128), 0.05, 1e-15, 'linear_scale B=128')
  T.near(S.linear_scale(0.1, 64, 256), 0.025, 1e-15, 'linear_scale with ref')
  T.err(function() S.cosine(0.1, 0) end, 'total_steps must be a positive integer')
end)

T.test('optimizer argument errors name the problem', function()
  T.err(function() optim.SGD({ nl.tensor{ 1, 2 } }, {}, {}) end, 'SGD: 1 parameters but 0 gradients')
  T.err(function() optim.SGD({ nl.tensor{ 1, 2 } }, { nl.tensor{ 1 } }, {}) end,
    'SGD: parameter 1 has shape (2) but its gradient (1)')
  T.err(function() optim.SGD({ nl.tensor{ 1 } }, { nl.tensor{ 1 } }, { momentum = 1 }) end, 'momentum must be')
  T.err(function() optim.Adam({ nl.tensor{ 1 } }, { nl.tensor{ 1 } }, { betas = { 0.9, 1 } }) end, 'betas[2]')
end)

T.test('SGD and Adam drive a quadratic to its minimum', function()
  local gen = nl.Generator(7, 'init')
  for _, make in ipairs{
    function(p, g) return optim.SGD({ p }, { g }, { lr = 0.1, momentum = 0.9 }) end,
    function(p, g) return optim.Adam({ p }, { g }, { lr = 0.05 }) end,
  } do
    local target = nl.randn(gen, 5)
    local p, g = nl.Tensor(5), nl.Tensor(5)
    local opt = make(p, g)
    for _ = 1, 300 do
      g:copy(p); g:sub(target)          -- gradient of 0.5*|p - target|^2
      opt:step()
    end
    T.near((p - target):norm(), 0, 1e-3, 'distance to the minimum')
  end
end)

T.done()
