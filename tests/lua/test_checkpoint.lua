-- Checkpoints: a run stopped after k steps and resumed from its checkpoint in a
-- fresh process state continues exactly (bit for bit) as if it had never
-- stopped; the same seed gives the same loss curve; bad files are clear errors.
local T = dofile('tests/lua/check.lua')
local nl = require 'normlab'
local nn, optim, checkpoint = nl.nn, nl.optim, nl.checkpoint

local STEPS, STOP, B = 8, 3, 8

-- A run's state: model, optimizer and a data generator (stands in for the loader's streams).
local function new_run(init_seed)
  local model = nl.models.plain{ depth = 3, norm = 'bn', classes = 10, gen = nl.Generator(init_seed, 'init') }
  local params, grads = model:parameters()
  return { model = model, optimizer = optim.SGD(params, grads, { lr = 0.05, momentum = 0.9, weight_decay = 5e-4 }),
           generators = { data = nl.Generator(99, 'augment') }, crit = nn.CrossEntropy() }
end

local function train_steps(run, from, to, losses)
  local sched = optim.schedule.cosine(0.05, STEPS)
  for t = from, to do
    local g = run.generators.data
    local x = nl.randn(g, B, 3, 32, 32)
    local y = nl.Tensor(B)
    for i = 1, B do y[i] = g:random(10) - 1 end
    run.optimizer:set_lr(sched(t - 1))
    run.model:zero_grad()
    local out = run.model:forward(x)
    losses[t] = run.crit:forward(out, y)
    run.model:backward(x, run.crit:backward(out, y))
    run.optimizer:step()
  end
end

local path = os.tmpname()

T.test('same seed, same loss curve bit for bit', function()
  local a, b = {}, {}
  train_steps(new_run(5), 1, STEPS, a)
  train_steps(new_run(5), 1, STEPS, b)
  for t = 1, STEPS do T.eq(a[t], b[t], 'loss at step ' .. t) end
end)

T.test('a resumed run continues exactly', function()
  local straight = {}
  train_steps(new_run(5), 1, STEPS, straight)
  local first = new_run(5)
  local resumed = {}
  train_steps(first, 1, STOP, resumed)
  checkpoint.save(path, { model = first.model, optimizer = first.optimizer, generators = first.generators,
                          epoch = 1, step = STOP, meta = { note = 'test' } })
  local second = new_run(77)   -- different initial weights: everything must come from the file
  local epoch, step, meta = checkpoint.load(path, second)
  T.eq(epoch, 1, 'epoch'); T.eq(step, STOP, 'step'); T.eq(meta.note, 'test', 'metadata')
  train_steps(second, STOP + 1, STEPS, resumed)
  for t = 1, STEPS do T.eq(resumed[t], straight[t], 'loss at step ' .. t) end
end)

T.test('a checkpoint for another model is a clear error', function()
  local other = nl.models.plain{ depth = 4, norm = 'bn', classes = 10 }
  local p, g = other:parameters()
  T.err(function() checkpoint.load(path, { model = other }) end, 'missing model.4.weight')
  local wider = nl.models.plain{ depth = 3, norm = 'bn', classes = 100 }
  T.err(function() checkpoint.load(path, { model = wider }) end, 'has shape')
end)

T.test('truncated and corrupt files are clear errors', function()
  local f = assert(io.open(path, 'rb')); local bytes = f:read('a'); f:close()
  local bad = path .. '.bad'
  for _, cut in ipairs{ 0, 5, 20, #bytes // 2, #bytes - 1 } do
    local g = assert(io.open(bad, 'wb')); g:write(bytes:sub(1, cut)); g:close()
    T.err(function() checkpoint.load(bad, new_run(1)) end, bad, 'truncated to ' .. cut)
  end
  local flipped = bytes:sub(1, 100) .. string.char((bytes:byte(101) + 1) % 256) .. bytes:sub(102)
  local g = assert(io.open(bad, 'wb')); g:write(flipped); g:close()
  T.err(function() checkpoint.load(bad, new_run(1)) end, 'checksum mismatch')
  local h = assert(io.open(bad, 'wb')); h:write('return os.exit(3)\n'); h:close()
  T.err(function() checkpoint.load(bad, new_run(1)) end, 'not a normlab checkpoint')
  T.err(function() checkpoint.load(path .. '.missing', new_run(1)) end, 'cannot open')
  os.remove(bad)
end)

os.remove(path)
T.done()
