-- BatchNorm2d, GroupNorm, CrossEntropy, SGD and Adam against PyTorch (Debian's python3-torch,
-- tests/torch/norm_ref.py): the same inputs must give the same outputs, running statistics,
-- gradients and parameters, with max|normlab - torch| / max|torch| <= 1e-4 for every tensor.
-- Skips visibly only when /usr/bin/python3 cannot import torch; any other failure of the
-- reference script fails the test.
local T = dofile('tests/lua/check.lua')
local nl = require 'normlab'
local nn, optim, C = nl.nn, nl.optim, nl.C

local PY = os.getenv('NORMLAB_TORCH_PYTHON') or '/usr/bin/python3'
local SEED = 2718
local TOL = 1e-4
print('# seed ' .. SEED)

if not os.execute(PY .. ' -c "import torch" 2>/dev/null') then
  T.skip('normalization, loss and optimizers match PyTorch', 'cannot import torch with ' .. PY)
  T.done()
  return
end

local gen = nl.Generator(SEED, 'init')
local function randn(...) return nl.randn(gen, ...) end

------------------------------------------------------------------ inputs for the reference
local entries, inputs = {}, {}
local function put(name, v) entries[#entries + 1] = { name, v }; inputs[name] = v; return v end

local BN_STEPS = 3
for _, case in ipairs{ { 'bn', 4, 5, 5 }, { 'bn1', 1, 3, 3 } } do
  local p, N, Hh, W = case[1], case[2], case[3], case[4]
  put(p .. '.weight', nl.Tensor(3):uniform(gen, 0.5, 1.5))
  put(p .. '.bias', randn(3))
  put(p .. '.steps', BN_STEPS)
  for s = 1, BN_STEPS do put(p .. '.x.' .. s, randn(N, 3, Hh, W):mul(s):add(s - 1.5)) end
  put(p .. '.gy', randn(N, 3, Hh, W))
  put(p .. '.xe', randn(2, 3, 3, 3):mul(2))
  put(p .. '.gye', randn(2, 3, 3, 3))
end
put('gn.x', randn(2, 6, 3, 5):mul(2):add(0.5))
put('gn.weight', nl.Tensor(6):uniform(gen, 0.5, 1.5))
put('gn.bias', randn(6))
put('gn.gy', randn(2, 6, 3, 5))
put('xent.z', randn(6, 10):mul(3))
local labels = nl.Tensor(6)
for i = 1, 6 do labels[i] = gen:random(10) - 1 end
put('xent.labels', labels)
local OPT_STEPS = 5
for _, p in ipairs{ 'sgd', 'adam', 'adamd' } do
  put(p .. '.nparams', 2); put(p .. '.steps', OPT_STEPS)
  put(p .. '.w1', randn(4, 3)); put(p .. '.w2', randn(5))
  for s = 1, OPT_STEPS do put(p .. '.g1.' .. s, randn(4, 3)); put(p .. '.g2.' .. s, randn(5)) end
end
put('sgd.lr0', 0.05 * 32 / 128)

local dir = os.tmpname(); os.remove(dir); os.execute('mkdir -p ' .. dir)
local inp, outp = dir .. '/in.ckpt', dir .. '/out.ckpt'
C.ckpt_save(inp, entries)
local ran = os.execute(string.format('%s tests/torch/norm_ref.py %s %s', PY, inp, outp))
local ref = ran and C.ckpt_load(outp) or nil
os.execute('rm -rf ' .. dir)

T.test('the PyTorch reference script ran', function()
  T.truthy(ran, 'tests/torch/norm_ref.py exited with an error')
  print('# torch ' .. tostring(ref['torch.version']))
end)
if not ref then T.done() return end

------------------------------------------------------------------ comparisons
local worst = { 0, '' }
local function cmp(what, a, name)
  local b = ref[name]
  if b == nil then error('the reference has no ' .. name) end
  if a:shape_str() ~= b:shape_str() then error(string.format('%s: shape %s vs %s', what, a:shape_str(), b:shape_str())) end
  local d, bm = a - b, math.max(math.abs(b:max()), math.abs(b:min()))
  local e = math.max(math.abs(d:max()), math.abs(d:min())) / math.max(bm, 1e-12)
  if e > worst[1] then worst = { e, what } end
  if not (e <= TOL) then error(string.format('%s: rel err %.3g > %g', what, e, TOL)) end
  return e
end

local function bn_case(p)
  local bn = nn.BatchNorm2d(3)
  bn.weight:copy(inputs[p .. '.weight']); bn.bias:copy(inputs[p .. '.bias'])
  bn:train()
  for s = 1, BN_STEPS do
    local x = inputs[p .. '.x.' .. s]
    if s == BN_STEPS then bn:zero_grad() end
    cmp(p .. ' train y step ' .. s, bn:forward(x), p .. '.y.' .. s)
    cmp(p .. ' running_mean step ' .. s, bn.running_mean, p .. '.running_mean.' .. s)
    cmp(p .. ' running_var step ' .. s, bn.running_var, p .. '.running_var.' .. s)
    if s == BN_STEPS then
      cmp(p .. ' train grad_input', bn:backward(x, inputs[p .. '.gy']), p .. '.gx')
      cmp(p .. ' train grad_weight', bn.grad_weight, p .. '.gw')
      cmp(p .. ' train grad_bias', bn.grad_bias, p .. '.gb')
    end
  end
  bn:evaluate(); bn:zero_grad()
  local xe = inputs[p .. '.xe']
  cmp(p .. ' eval y', bn:forward(xe), p .. '.ye')
  cmp(p .. ' eval grad_input', bn:backward(xe, inputs[p .. '.gye']), p .. '.gxe')
  cmp(p .. ' eval grad_weight', bn.grad_weight, p .. '.gwe')
  cmp(p .. ' eval grad_bias', bn.grad_bias, p .. '.gbe')
end

T.test('BatchNorm2d (4,3,5,5): 3 train steps, running stats, gradients, eval', function() bn_case('bn') end)
T.test('BatchNorm2d batch 1 (1,3,3,3): train steps, running stats, gradients, eval', function() bn_case('bn1') end)

for _, G in ipairs{ 1, 3, 6 } do
  T.test(string.format('GroupNorm(%d, 6) (2,6,3,5): output and gradients', G), function()
    local gn = nn.GroupNorm(G, 6)
    gn.weight:copy(inputs['gn.weight']); gn.bias:copy(inputs['gn.bias'])
    local x = inputs['gn.x']
    cmp('gn' .. G .. ' y', gn:forward(x), 'gn' .. G .. '.y')
    cmp('gn' .. G .. ' grad_input', gn:backward(x, inputs['gn.gy']), 'gn' .. G .. '.gx')
    cmp('gn' .. G .. ' grad_weight', gn.grad_weight, 'gn' .. G .. '.gw')
    cmp('gn' .. G .. ' grad_bias', gn.grad_bias, 'gn' .. G .. '.gb')
  end)
end

T.test('CrossEntropy: loss and gradient', function()
  local crit = nn.CrossEntropy()
  local z, y = inputs['xent.z'], inputs['xent.labels']
  local e = T.near(crit:forward(z, y), ref['xent.loss'], TOL, 'loss')
  if e > worst[1] then worst = { e, 'xent loss' } end
  cmp('xent grad', crit:backward(z, y), 'xent.grad')
end)

local function opt_case(p, make, lr_at)
  local ws = { inputs[p .. '.w1']:clone(), inputs[p .. '.w2']:clone() }
  local gs = { nl.Tensor(4, 3), nl.Tensor(5) }
  local opt = make(ws, gs)
  for s = 1, OPT_STEPS do
    opt:set_lr(lr_at(s - 1))
    gs[1]:copy(inputs[p .. '.g1.' .. s]); gs[2]:copy(inputs[p .. '.g2.' .. s])
    opt:step()
    cmp(p .. ' w1 step ' .. s, ws[1], p .. '.w1.' .. s)
    cmp(p .. ' w2 step ' .. s, ws[2], p .. '.w2.' .. s)
  end
end

T.test('SGD momentum 0.9, weight decay 5e-4, cosine lr: 5 steps', function()
  local lr0 = inputs['sgd.lr0']
  opt_case('sgd', function(ws, gs) return optim.SGD(ws, gs, { lr = lr0, momentum = 0.9, weight_decay = 5e-4 }) end,
    optim.schedule.cosine(lr0, OPT_STEPS))
end)
T.test('Adam lr 1e-2, betas (0.8, 0.99), eps 1e-6, weight decay 1e-2: 5 steps', function()
  opt_case('adam', function(ws, gs)
    return optim.Adam(ws, gs, { lr = 1e-2, betas = { 0.8, 0.99 }, eps = 1e-6, weight_decay = 1e-2 })
  end, optim.schedule.constant(1e-2))
end)
T.test('Adam defaults: 5 steps', function()
  opt_case('adamd', function(ws, gs) return optim.Adam(ws, gs) end, optim.schedule.constant(1e-3))
end)

print(string.format('# largest error vs PyTorch: %.3g (%s)', worst[1], worst[2]))
T.done()
