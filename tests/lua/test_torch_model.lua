-- The depth-8 protocol model against PyTorch (Debian's python3-torch): the same
-- weights and batch give the same logits, loss and gradients (rel err <= 1e-4),
-- and 20 SGD steps under the protocol's optimizer give the same losses
-- (rel diff <= 1e-3 per step). Skips visibly when PyTorch is not installed.
local T = dofile('tests/lua/check.lua')
local nl = require 'normlab'
local nn, optim, checkpoint = nl.nn, nl.optim, nl.checkpoint
local C = nl.C

local PY = os.getenv('NORMLAB_TORCH_PYTHON') or '/usr/bin/python3'
local has_torch = os.execute(PY .. ' -c "import torch" 2>/dev/null')

local function rel_err(a, b)
  return (a - b):norm() / math.max(b:norm(), 1e-30)
end
-- A conv bias right before a norm layer has a true gradient of exactly zero:
-- both sides then hold rounding noise (norm ~1e-8), which must agree absolutely.
local ZERO_NORM, ZERO_TOL = 1e-6, 1e-6

local function run_config(depth, act, norm, order, batch, steps)
  local seed = 1234
  local model = nl.models.plain{ depth = depth, act = act, norm = norm, order = order, classes = 10,
                                 gen = nl.Generator(seed, 'init') }
  local g = nl.Generator(seed, 'order')
  local x = nl.randn(g, batch, 3, 32, 32)
  local y = nl.Tensor(batch)
  for i = 1, batch do y[i] = g:random(10) - 1 end
  local entries = {}
  for _, e in ipairs(checkpoint.named_tensors(model)) do entries[#entries + 1] = { 'model.' .. e[1], e[2]:clone() } end
  entries[#entries + 1] = { 'x', x }; entries[#entries + 1] = { 'y', y }
  local bx, by = {}, {}
  for t = 1, steps do
    bx[t] = nl.randn(g, batch, 3, 32, 32)
    by[t] = nl.Tensor(batch)
    for i = 1, batch do by[t][i] = g:random(10) - 1 end
    entries[#entries + 1] = { 'bx.' .. t, bx[t] }; entries[#entries + 1] = { 'by.' .. t, by[t] }
  end
  entries[#entries + 1] = { 'meta.config', table.concat({ depth, act, norm, order, 10, steps }, ',') }
  local dir = os.tmpname(); os.remove(dir); os.execute('mkdir -p ' .. dir)
  local inp, outp = dir .. '/in.ckpt', dir .. '/out.ckpt'
  C.ckpt_save(inp, entries)
  local ok = os.execute(string.format('%s tests/torch/plain_ref.py %s %s', PY, inp, outp))
  assert(ok, 'the PyTorch reference failed')
  local ref = C.ckpt_load(outp)
  os.execute('rm -rf ' .. dir)

  -- one forward/backward in training mode
  local crit = nn.CrossEntropy()
  model:train()
  local logits = model:forward(x)
  local loss = crit:forward(logits, y)
  local gl = crit:backward(logits, y)
  model:zero_grad()
  local gx = model:backward(x, gl)
  local worst = { 0, '' }
  local function cmp(what, a, b)
    if b:norm() < ZERO_NORM then
      local d = (a - b):norm()
      if d > ZERO_TOL then error(string.format('%s: reference is zero, ours differs by %.3g', what, d)) end
      return
    end
    local e = rel_err(a, b)
    if e > worst[1] then worst = { e, what } end
    if e > 1e-4 then error(string.format('%s: rel err %.3g > 1e-4', what, e)) end
  end
  cmp('logits', logits, ref.logits)
  T.near(loss, ref.loss, 1e-5, 'loss')
  cmp('grad_x', gx, ref.grad_x)
  for _, e in ipairs(checkpoint.named_tensors(model)) do
    local r = ref['grad.' .. e[1]]
    if r then
      -- find the live gradient of this parameter
      local mod_i, field = e[1]:match('^(%d+)%.(%w+)$')
      local m = model.modules[tonumber(mod_i)]
      cmp('grad ' .. e[1], m['grad_' .. field], r)
    end
  end

  -- restore the initial weights and buffers, then train `steps` steps
  for i, e in ipairs(checkpoint.named_tensors(model)) do e[2]:copy(entries[i][2]) end
  local params, grads = model:parameters()
  local lr0 = 0.05 * batch / 128
  local opt = optim.SGD(params, grads, { lr = lr0, momentum = 0.9, weight_decay = 5e-4 })
  local sched = optim.schedule.cosine(lr0, steps)
  local worst_step = 0
  for t = 1, steps do
    opt:set_lr(sched(t - 1))
    model:zero_grad()
    local out = model:forward(bx[t])
    local l = crit:forward(out, by[t])
    model:backward(bx[t], crit:backward(out, by[t]))
    opt:step()
    local d = math.abs(l - ref['step_loss.' .. t]) / math.abs(ref['step_loss.' .. t])
    worst_step = math.max(worst_step, d)
    if d > 1e-3 then error(string.format('step %d: loss %.7g vs PyTorch %.7g (rel %.3g)', t, l, ref['step_loss.' .. t], d)) end
  end
  print(string.format('# depth %d %s %s %s batch %d: worst gradient rel err %.3g (%s), worst step-loss rel diff %.3g',
    depth, act, norm, order, batch, worst[1], worst[2], worst_step))
end

if not has_torch then
  T.skip('depth-8 model matches PyTorch', 'no torch at ' .. PY)
else
  T.test('depth-8 cna bn relu matches PyTorch (gradients, 20 SGD steps)', function() run_config(8, 'relu', 'bn', 'cna', 16, 20) end)
  T.test('depth-8 cna gn relu matches PyTorch', function() run_config(8, 'relu', 'gn', 'cna', 4, 5) end)
  T.test('depth-8 can bn leakyrelu matches PyTorch', function() run_config(8, 'leakyrelu', 'bn', 'can', 8, 5) end)
  T.test('depth-3 cna bn sigmoid matches PyTorch', function() run_config(3, 'sigmoid', 'bn', 'cna', 8, 5) end)
end
T.done()
