-- BatchNorm2d, GroupNorm, CrossEntropy, Sequential and nn's lazy loader through the Lua API.
-- Gradients are checked against central finite differences of L = sum(y .* r) for a fixed
-- random r, accumulated in Lua doubles; the error is max|fd - analytic| / max(1, max|analytic|)
-- over the input and every parameter. The seed is printed; rerun to reproduce.
local T = dofile('tests/lua/check.lua')
local nl = require 'normlab'
local nn = nl.nn

local SEED = 31337
print('# seed ' .. SEED)
local gen = nl.Generator(SEED, 'init')
local H, TOL = 1e-2, 1e-3
local worst = { 0, '' }

local function flat(t) return t:view(t:numel()) end

local function dot(a, b)
  local fa, fb, s = flat(a), flat(b), 0
  for i = 1, a:numel() do s = s + fa[i] * fb[i] end
  return s
end

local function randn(...) return nl.randn(gen, ...) end

-- Central differences of f() in every element of p against the analytic gradient an.
local function fd_err(f, p, an)
  local fp, fa = flat(p), flat(an)
  local err, scale = 0, 0
  for i = 1, p:numel() do
    local orig = fp[i]
    fp[i] = orig + H; local up = fp[i]; local lp = f()
    fp[i] = orig - H; local dn = fp[i]; local lm = f()
    fp[i] = orig
    local fd = (lp - lm) / (up - dn)   -- the step actually taken after rounding to float
    err = math.max(err, math.abs(fd - fa[i]))
    scale = math.max(scale, math.abs(fa[i]))
  end
  return err / math.max(scale, 1)
end

-- Checks dL/dx and dL/dparams of module m at x; returns the largest error.
local function gradcheck(name, m, x)
  local y = m:forward(x)
  local r = randn(table.unpack(y:size()))
  m:zero_grad()
  local gx = m:backward(x, r):clone()
  local params, grads = m:parameters()
  local an = {}
  for i, g in ipairs(grads) do an[i] = g:clone() end
  local function L() return dot(m:forward(x), r) end
  local e = fd_err(L, x, gx)
  for i, p in ipairs(params) do e = math.max(e, fd_err(L, p, an[i])) end
  if e > worst[1] then worst = { e, name } end
  print(string.format('#   %s: rel err %.2e', name, e))
  if not (e < TOL) then error(string.format('%s: finite-difference error %.3g > %g (seed %d)', name, e, TOL, SEED)) end
  return e
end

-- Random non-trivial affine parameters (weight around 1, bias around 0).
local function randomize(m)
  if m.weight then m.weight:uniform(gen, 0.5, 1.5) end
  if m.bias then m.bias:normal(gen, 0, 1) end
  return m
end

------------------------------------------------------------------------ BatchNorm2d
T.test('BatchNorm2d init: weight 1, bias 0, running stats 0 and 1; names and buffers', function()
  local bn = nn.BatchNorm2d(5)
  T.eq(bn.weight:sum(), 5, 'weight'); T.eq(bn.bias:sumsq(), 0, 'bias')
  T.eq(bn.running_mean:sumsq(), 0, 'running_mean'); T.eq(bn.running_var:sum(), 5, 'running_var')
  T.eq(table.concat(bn.param_names, ','), 'weight,bias', 'param names')
  T.truthy(bn.buffers.running_mean == bn.running_mean and bn.buffers.running_var == bn.running_var, 'buffers')
  T.eq(tostring(bn), 'BatchNorm2d(5)', 'tostring')
  T.eq(bn:num_parameters(), 10, 'num_parameters')
end)

T.test('BatchNorm2d train backward = finite differences (batch 2, odd 5x5)', function()
  gradcheck('bn train (2,3,5,5)', randomize(nn.BatchNorm2d(3)), randn(2, 3, 5, 5):mul(1.5):add(0.5))
end)
T.test('BatchNorm2d train backward = finite differences (batch 1, 3x5)', function()
  gradcheck('bn train (1,3,3,5)', randomize(nn.BatchNorm2d(3)), randn(1, 3, 3, 5):mul(2))
end)
T.test('BatchNorm2d train backward = finite differences (batch 2, 1x1)', function()
  gradcheck('bn train (2,4,1,1)', randomize(nn.BatchNorm2d(4)), randn(2, 4, 1, 1))
end)
T.test('BatchNorm2d eval backward = finite differences (affine map, batch 2 and 1)', function()
  local bn = randomize(nn.BatchNorm2d(3))
  for _ = 1, 3 do bn:forward(randn(4, 3, 3, 3):mul(2):add(1)) end   -- non-trivial running stats
  bn:evaluate()
  local rm = bn.running_mean:clone()
  gradcheck('bn eval (2,3,5,3)', bn, randn(2, 3, 5, 3))
  gradcheck('bn eval (1,3,3,3)', bn, randn(1, 3, 3, 3))
  gradcheck('bn eval (1,3,1,1)', bn, randn(1, 3, 1, 1))
  T.eq((bn.running_mean - rm):sumsq(), 0, 'eval leaves running_mean alone')
end)

T.test('BatchNorm2d running stats: momentum 0.1, unbiased variance', function()
  local bn = nn.BatchNorm2d(2)
  local N, Hh, W = 3, 3, 5
  local M = N * Hh * W
  for step = 1, 3 do
    local x = randn(N, 2, Hh, W):mul(step):add(step - 2)
    local rm0, rv0 = bn.running_mean:clone(), bn.running_var:clone()
    local y = bn:forward(x)
    for c = 1, 2 do
      local s, sq = 0, 0
      for n = 1, N do for i = 1, Hh do for j = 1, W do s = s + x:get(n, c, i, j) end end end
      local mean = s / M
      for n = 1, N do for i = 1, Hh do for j = 1, W do sq = sq + (x:get(n, c, i, j) - mean) ^ 2 end end end
      T.near(bn.running_mean[c], 0.9 * rm0[c] + 0.1 * mean, 1e-6, 'running_mean')
      T.near(bn.running_var[c], 0.9 * rv0[c] + 0.1 * sq / (M - 1), 1e-6, 'running_var (unbiased)')
      -- normalized with the biased variance
      T.near(y:get(2, c, 2, 3), (x:get(2, c, 2, 3) - mean) / math.sqrt(sq / M + 1e-5), 1e-5, 'y')
    end
  end
end)

T.test('BatchNorm2d train with one value per channel is an error; eval is fine', function()
  local bn = nn.BatchNorm2d(3)
  T.err(function() bn:forward(randn(1, 3, 1, 1)) end,
    'BatchNorm2d: training needs more than one value per channel, got input (1,3,1,1)')
  bn:evaluate()
  T.eq(bn:forward(randn(1, 3, 1, 1)):numel(), 3, 'eval output')
end)

T.test('BatchNorm2d channel mismatch names the layer and both shapes', function()
  local bn = nn.BatchNorm2d(64)
  local msg = T.err(function() bn:forward(randn(2, 32, 4, 4)) end, 'BatchNorm2d')
  T.truthy(msg:find('(N,64,H,W)', 1, true) and msg:find('(2,32,4,4)', 1, true), 'shapes in "' .. msg .. '"')
  T.err(function() bn:forward(randn(2, 64, 4)) end, '(2,64,4)')
  bn:forward(randn(2, 64, 2, 2))
  T.err(function() bn:backward(randn(2, 64, 2, 2), randn(2, 64, 2, 1)) end,
    'grad_output (2,64,2,1) does not match input (2,64,2,2)')
end)

T.test('BatchNorm2d reuses its output and grad_input tensors when warm', function()
  local bn = nn.BatchNorm2d(3)
  local x = randn(2, 3, 4, 4)
  local y1 = bn:forward(x); local g1 = bn:backward(x, x)
  local y2 = bn:forward(x); local g2 = bn:backward(x, x)
  T.truthy(rawequal(y1, y2) and rawequal(g1, g2), 'same tensors')
end)

T.test('BatchNorm2d backward = update_grad_input + acc_grad_parameters', function()
  local bn = randomize(nn.BatchNorm2d(3))
  local x, gy = randn(2, 3, 3, 3), randn(2, 3, 3, 3)
  bn:forward(x); bn:zero_grad()
  local g1 = bn:backward(x, gy):clone()
  local gw = bn.grad_weight:clone()
  bn:zero_grad()
  local g2 = bn:update_grad_input(x, gy):clone()
  T.eq(bn.grad_weight:sumsq(), 0, 'update_grad_input leaves parameter grads alone')
  bn:acc_grad_parameters(x, gy)
  T.near((g1 - g2):norm(), 0, 1e-7, 'grad_input'); T.near((gw - bn.grad_weight):norm(), 0, 1e-7, 'grad_weight')
  bn:acc_grad_parameters(x, gy)
  T.near((gw * 2 - bn.grad_weight):norm(), 0, 1e-6, 'gradients accumulate')
end)

------------------------------------------------------------------------ GroupNorm
T.test('GroupNorm backward = finite differences (groups = channels, odd 3x5)', function()
  gradcheck('gn G=C (2,4,3,5)', randomize(nn.GroupNorm(4, 4)), randn(2, 4, 3, 5):mul(2):add(-1))
end)
T.test('GroupNorm backward = finite differences (groups = 1)', function()
  gradcheck('gn G=1 (2,4,3,5)', randomize(nn.GroupNorm(1, 4)), randn(2, 4, 3, 5))
end)
T.test('GroupNorm backward = finite differences (2 groups of 3, batch 1, 5x3)', function()
  gradcheck('gn G=2 (1,6,5,3)', randomize(nn.GroupNorm(2, 6)), randn(1, 6, 5, 3))
end)
T.test('GroupNorm train and eval agree', function()
  local gn = randomize(nn.GroupNorm(2, 4))
  local x = randn(3, 4, 3, 3)
  local a = gn:forward(x):clone()
  gn:evaluate()
  T.eq((gn:forward(x) - a):sumsq(), 0, 'eval output')
end)
T.test('GroupNorm checks groups at construction and shapes at forward', function()
  T.err(function() nn.GroupNorm(32, 48) end, 'GroupNorm: 32 groups do not divide 48 channels')
  T.err(function() nn.GroupNorm(0, 4) end, 'num_groups must be a positive integer')
  local gn = nn.GroupNorm(32, 64)
  T.eq(tostring(gn), 'GroupNorm(32, 64)', 'tostring')
  T.err(function() gn:forward(randn(2, 32, 4, 4)) end, 'GroupNorm: expected input (N,64,H,W), got (2,32,4,4)')
end)

------------------------------------------------------------------------ CrossEntropy
T.test('CrossEntropy loss, gradient (finite differences) and accuracy', function()
  local crit = nn.CrossEntropy()
  local z = randn(6, 5):mul(3)
  local y = nl.tensor{ 0, 4, 2, 2, 1, 3 }
  local loss = crit:forward(z, y)
  local want = 0
  for i = 1, 6 do
    local s = 0
    for k = 1, 5 do s = s + math.exp(z:get(i, k)) end
    want = want + math.log(s) - z:get(i, y[i] + 1)
  end
  T.near(loss, want / 6, 1e-6, 'loss')
  local g = crit:backward(z, y):clone()
  local e = fd_err(function() return crit:forward(z, y) end, z, g)
  print(string.format('#   xent (6,5): rel err %.2e', e))
  if e > worst[1] then worst = { e, 'xent' } end
  T.truthy(e < TOL, 'gradient error ' .. e)
  local am, hits = z:argmax(), 0
  for i = 1, 6 do if am[i] == y[i] then hits = hits + 1 end end
  T.near(nn.accuracy(z, y), hits / 6, 0, 'accuracy')
  T.near(crit:forward(nl.tensor{ { 1000, -1000 } }, nl.tensor{ 1 }), 2000, 1e-9, 'stable for huge logits')
end)

T.test('CrossEntropy bad labels name the row, the value and the shapes', function()
  local crit = nn.CrossEntropy()
  local z = randn(3, 10)
  T.err(function() crit:forward(z, nl.tensor{ 1, 10, 2 }) end, 'CrossEntropy: label 10 at row 2 is not a class index in 0..9')
  T.err(function() crit:backward(z, nl.tensor{ 1, -1, 2 }) end, 'label -1 at row 2')
  T.err(function() crit:forward(z, nl.tensor{ 1, 2 }) end, 'CrossEntropy: labels (2) do not match logits (3,10)')
  T.err(function() nn.accuracy(z, nl.tensor{ 1, 2, 3, 4 }) end, 'labels (4) do not match logits (3,10)')
end)

------------------------------------------------------------------------ Sequential
T.test('Sequential backward = finite differences through BN and GN', function()
  local s = nn.Sequential{ randomize(nn.BatchNorm2d(4)), randomize(nn.GroupNorm(2, 4)), randomize(nn.BatchNorm2d(4)) }
  gradcheck('Sequential{BN,GN,BN} (2,4,3,3)', s, randn(2, 4, 3, 3))
end)

T.test('Sequential rethrows child errors with the layer position and description', function()
  local s = nn.Sequential{ nn.GroupNorm(2, 4), nn.BatchNorm2d(4), nn.BatchNorm2d(64) }
  T.err(function() s:forward(randn(2, 4, 3, 3)) end,
    'layer 3 (BatchNorm2d 64): BatchNorm2d: expected input (N,64,H,W), got (2,4,3,3)')
  local s2 = nn.Sequential{ nn.BatchNorm2d(4) }
  s2:forward(randn(2, 4, 3, 3))
  T.err(function() s2:backward(randn(2, 4, 3, 3), randn(2, 4, 3, 2)) end, 'layer 1 (BatchNorm2d 4): BatchNorm2d: grad_output')
  local outer = nn.Sequential{ nn.BatchNorm2d(4), s }
  T.err(function() outer:forward(randn(2, 4, 3, 3)) end, 'layer 2 (Sequential 3 layers): layer 3 (BatchNorm2d 64)')
  T.err(function() nn.Sequential{ nn.BatchNorm2d(3), 5 } end, 'element 2 is not a layer')
end)

T.test('Sequential parameters are the live tensors; train/evaluate/zero_grad reach children', function()
  local bn, gn = nn.BatchNorm2d(3), nn.GroupNorm(3, 3)
  local s = nn.Sequential{ bn, gn }
  local p, g = s:parameters()
  T.eq(#p, 4, '#params'); T.eq(#g, 4, '#grads')
  T.truthy(rawequal(p[1], bn.weight) and rawequal(p[4], gn.bias) and rawequal(g[2], bn.grad_bias), 'live tensors')
  T.eq(s:num_parameters(), 12, 'num_parameters')
  s:evaluate(); T.truthy(not bn.training and not gn.training, 'evaluate')
  s:train(); T.truthy(bn.training and gn.training, 'train')
  local x = randn(2, 3, 2, 2)
  s:forward(x); s:backward(x, randn(2, 3, 2, 2))
  T.truthy(bn.grad_weight:sumsq() > 0, 'grads set'); s:zero_grad()
  T.eq(bn.grad_weight:sumsq() + gn.grad_bias:sumsq(), 0, 'zero_grad')
  T.truthy(tostring(s):find('(2): GroupNorm(3, 3)', 1, true), 'tostring lists children')
end)

T.test('Sequential:summary lists layers, shapes, parameters and multiply-adds', function()
  local s = nn.Sequential{ nn.BatchNorm2d(4), nn.GroupNorm(2, 4) }
  local text, params, macs = s:summary({ 4, 5, 5 }, { quiet = true })
  T.eq(params, 16, 'params'); T.eq(macs, 200, 'macs')
  T.truthy(text:find('BatchNorm2d(4)', 1, true) and text:find('(4,5,5)', 1, true) and text:find('total', 1, true), text)
  if nn.Conv2d and nn.Linear and nn.ReLU and nn.GlobalAvgPool2d then
    local net = nn.Sequential{ nn.Conv2d(3, 8, 3, { padding = 1 }), nn.BatchNorm2d(8), nn.ReLU(),
                               nn.GlobalAvgPool2d(), nn.Linear(8, 10) }
    local _, p2 = net:summary({ 3, 6, 6 }, { quiet = true })
    T.eq(p2, net:num_parameters(), 'summary total = num_parameters')
  end
end)

------------------------------------------------------------------------ nn loader
T.test('nn exposes layer files lazily by name', function()
  package.loaded['normlab.nn.CrossEntropy'] = nil; rawset(nn, 'CrossEntropy', nil)
  T.eq(rawget(nn, 'CrossEntropy'), nil, 'not loaded before use')
  T.truthy(nn.CrossEntropy ~= nil and package.loaded['normlab.nn.CrossEntropy'] ~= nil, 'loaded on use')
  T.truthy(nn.BatchNorm2d == require 'normlab.nn.BatchNorm2d', 'nn.BatchNorm2d')
  T.truthy(rawget(nn, 'BatchNorm2d') ~= nil, 'cached after first use')
  T.eq(nn.NoSuchLayer, nil, 'unknown name')
  T.eq(nn['../init'], nil, 'not a name')
  local names = table.concat(nn.names(), ',')
  T.truthy(names:find('Sequential', 1, true) and not names:find('init', 1, true), names)
  T.truthy(nl.nn == nn, 'normlab.nn')
end)

------------------------------------------------------------------------ norm + ReLU fusion
-- Sequential runs BN/GN followed by an in-place ReLU as one layer; the results must be
-- bitwise those of the separate layers (Sequential.fusion = false), forward and backward,
-- in training and in evaluation, and the ReLU must really be skipped. The fused backward
-- recomputes the ReLU's mask from x, so every size path counts: 6x6 images (loop tails, one
-- thread) and 32x32 (16k values per norm: split between threads when there are several).
local same_bits = T.same_bits

for _, case in ipairs{ { 'bn', 6 }, { 'gn', 6 }, { 'bn', 32 }, { 'gn', 32 } } do
  local kind, hw = case[1], case[2]
  T.test(string.format('fused %s + ReLU = separate layers, bitwise (train and eval, %dx%d)', kind, hw, hw), function()
    local function build()
      local g = nl.Generator(7, 'init')
      local norm = kind == 'bn' and nn.BatchNorm2d(8) or nn.GroupNorm(4, 8)
      norm.weight:uniform(g, 0.5, 1.5); norm.bias:uniform(g, -0.5, 0.5)
      return nn.Sequential{ nn.Conv2d(3, 8, 3, { padding = 1, gen = g }), norm, nn.ReLU(true),
                            nn.Conv2d(8, 4, 3, { padding = 1, gen = g }), nn.GlobalAvgPool2d() }
    end
    local g = nl.Generator(8, 'order')
    local n = hw == 6 and 3 or 2
    local x, gy = nl.randn(g, n, 3, hw, hw), nl.randn(g, n, 4)
    local fused, plain = build(), build()
    plain.fusion = false
    local relu_calls = 0
    local relu = fused.modules[3]
    local f0 = relu.update_output
    relu.update_output = function(...) relu_calls = relu_calls + 1; return f0(...) end
    for _, mode in ipairs{ 'train', 'evaluate' } do
      fused[mode](fused); plain[mode](plain)
      fused:zero_grad(); plain:zero_grad()
      same_bits(fused:forward(x), plain:forward(x), mode .. ' output')
      same_bits(fused:backward(x, gy), plain:backward(x, gy), mode .. ' grad_input')
      local _, ga = fused:parameters()
      local _, gb = plain:parameters()
      for k = 1, #ga do same_bits(ga[k], gb[k], mode .. ' parameter gradient ' .. k) end
    end
    T.eq(relu_calls, 0, 'the fused ReLU layer itself never ran')
    T.truthy(fused.fused[3] and not plain.fused[3], 'fusion recorded only where on')
    -- the norm layer alone, outside the Sequential, is never rectified
    local out = fused.modules[2]:forward(fused.modules[1].output)
    local neg = 0
    for _, v in ipairs(out:view(out:numel()):totable()) do if v < 0 then neg = neg + 1 end end
    T.truthy(neg > 0, 'a standalone forward of the norm layer keeps negative values')
  end)
end

print(string.format('# largest finite-difference error: %.3g (%s)', worst[1], worst[2]))
T.done()
