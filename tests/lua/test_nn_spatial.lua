-- test_nn_spatial.lua: the spatial/dense layers through their Lua modules: Jacobians
-- against central finite differences (input and every parameter), initialization,
-- descriptions, errors naming the layer and both shapes, reuse of output tensors and
-- accumulation of parameter gradients. Seeded (SEED below, printed on failure).
local T = dofile('tests/lua/check.lua')
local nl = require 'normlab'
local nn = nl.nn

local SEED = 4242
local worst = { 0, '' }

-- L = sum(y .* r): its gradient w.r.t. y is r.
local function loss(m, x, r)
  return (m:forward(x) * r):sum()
end

-- Central differences of L w.r.t. every entry of t (a live tensor of m or x), compared with
-- `analytic`; steps are measured after rounding to float. Returns max |fd - a| / max(1, |a|).
local function fd_err(m, x, r, t, analytic, eps)
  local flat, an = t:view(-1), analytic:view(-1)
  local e = 0
  for i = 1, flat:numel() do
    local v = flat[i]
    flat[i] = v + eps; local hi = flat[i]; local lp = loss(m, x, r)
    flat[i] = v - eps; local lo = flat[i]; local lm = loss(m, x, r)
    flat[i] = v
    local fd = (lp - lm) / (hi - lo)
    local err = math.abs(fd - an[i]) / math.max(1, math.abs(an[i]))
    if err > e or err ~= err then e = err end
  end
  return e
end

-- Checks m's backward (grad_input and all parameter gradients) at input x.
local function gradcheck(name, m, x, eps, g)
  local y = m:forward(x)
  local r = nl.randn(g, table.unpack(y:size()))
  m:zero_grad()
  local gx = m:backward(x, r):clone()
  local params, grads = m:parameters()
  local an = {}
  for i = 1, #grads do an[i] = grads[i]:clone() end
  local e = fd_err(m, x, r, x, gx, eps)
  for i = 1, #params do e = math.max(e, fd_err(m, x, r, params[i], an[i], eps)) end
  if e > worst[1] then worst = { e, name } end
  if not (e < 1e-3) then error(string.format('%s: max rel err %.3g (seed %d)', name, e, SEED)) end
end

local g = nl.Generator(SEED, 'default')
local function init() return { gen = nl.Generator(SEED, 'init') } end
local function with(opts, extra) for k, v in pairs(extra) do opts[k] = v end return opts end

-- Conv2d: stride 2, odd sizes, padding 0, kernels 1 and 5, no bias, batch 1
local conv_cases = {
  { 'Conv2d 3x3 pad 1, 7x7, batch 2', 3, 4, 3, { padding = 1 }, { 2, 3, 7, 7 } },
  { 'Conv2d 3x3 stride 2 pad 1, no bias, 9x8, batch 1', 2, 3, 3, { stride = 2, padding = 1, bias = false }, { 1, 2, 9, 8 } },
  { 'Conv2d 1x1, 5x6', 3, 2, 1, {}, { 2, 3, 5, 6 } },
  { 'Conv2d 5x5 stride 2 pad 0, 9x9', 2, 2, 5, { stride = 2 }, { 2, 2, 9, 9 } },
  { 'Conv2d 5x5 pad 2, no bias, 5x7', 2, 2, 5, { padding = 2, bias = false }, { 1, 2, 5, 7 } },
  { 'Conv2d 3x2 kernel stride 3, 7x6', 2, 3, { 3, 2 }, { stride = 3, padding = 1 }, { 2, 2, 7, 6 } },
}
for _, c in ipairs(conv_cases) do
  T.test(c[1] .. ' gradients = finite differences', function()
    local m = nn.Conv2d(c[2], c[3], c[4], with(init(), c[5]))
    gradcheck(c[1], m, nl.randn(g, table.unpack(c[6])), 1e-2, g)
  end)
end

T.test('Linear gradients = finite differences (bias, no bias, batch 1)', function()
  gradcheck('Linear 5->4', nn.Linear(5, 4, init()), nl.randn(g, 3, 5), 1e-2, g)
  gradcheck('Linear 6->3 no bias batch 1', nn.Linear(6, 3, with(init(), { bias = false })), nl.randn(g, 1, 6), 1e-2, g)
end)

-- distinct values 0.01 apart (no argmax flips within a 1e-3 step)
local function distinct(...)
  local x = nl.Tensor(...)
  local flat, n = x:view(-1), x:numel()
  local perm = {}
  for i = 1, n do perm[i] = i end
  for i = n, 2, -1 do local j = g:random(i); perm[i], perm[j] = perm[j], perm[i] end
  for i = 1, n do flat[i] = (perm[i] - n / 2) * 0.01 end
  return x
end

T.test('MaxPool2d gradients = finite differences (2/2 odd, 3/2 pad 1, 3/1, batch 1)', function()
  gradcheck('MaxPool2d 2', nn.MaxPool2d(2), distinct(2, 2, 7, 7), 1e-3, g)
  gradcheck('MaxPool2d 3 s2 p1', nn.MaxPool2d(3, 2, 1), distinct(1, 2, 7, 6), 1e-3, g)
  gradcheck('MaxPool2d 3 s1 p1', nn.MaxPool2d(3, { stride = 1, padding = 1 }), distinct(2, 1, 5, 5), 1e-3, g)
end)

T.test('GlobalAvgPool2d and Flatten gradients = finite differences', function()
  gradcheck('GlobalAvgPool2d', nn.GlobalAvgPool2d(), nl.randn(g, 2, 3, 5, 3), 1e-2, g)
  gradcheck('Flatten', nn.Flatten(), nl.randn(g, 2, 3, 2, 2), 1e-2, g)
end)

-- inputs kept at least 0.01 from the ReLU kink
local function away_from_zero(...)
  local x = nl.randn(g, ...)
  local flat = x:view(-1)
  for i = 1, flat:numel() do
    if math.abs(flat[i]) < 0.01 then flat[i] = flat[i] < 0 and -0.5 or 0.5 end
  end
  return x
end

T.test('activations gradients = finite differences', function()
  gradcheck('ReLU', nn.ReLU(), away_from_zero(2, 3, 4, 5), 1e-3, g)
  gradcheck('LeakyReLU 0.01', nn.LeakyReLU(0.01), away_from_zero(2, 3, 4, 5), 1e-3, g)
  gradcheck('LeakyReLU 0.2', nn.LeakyReLU(0.2), away_from_zero(2, 7), 1e-3, g)
  gradcheck('Sigmoid', nn.Sigmoid(), nl.randn(g, 2, 3, 4, 5) * 3, 1e-2, g)
  gradcheck('Tanh', nn.Tanh(), nl.randn(g, 2, 3, 4, 5) * 2, 1e-2, g)
end)

T.test('a small network end to end = finite differences', function()
  local net = nn.Sequential{
    nn.Conv2d(2, 3, 3, with(init(), { padding = 1 })), nn.Tanh(), nn.MaxPool2d(2),
    nn.Conv2d(3, 4, 3, with(init(), { padding = 1 })), nn.LeakyReLU(0.1), nn.GlobalAvgPool2d(),
    nn.Linear(4, 3, init()), nn.Sigmoid(),
  }
  gradcheck('network', net, distinct(2, 2, 6, 6), 1e-3, g)
end)

T.test('initialization: uniform in +-1/sqrt(fan_in), seeded, weight then bias', function()
  local m = nn.Conv2d(16, 32, 3, init())
  local bound = 1 / math.sqrt(16 * 9)
  T.truthy(m.weight:max() <= bound and m.weight:min() >= -bound, 'weight within bound')
  T.truthy(m.weight:max() > 0.9 * bound and m.weight:min() < -0.9 * bound, 'weight fills the range')
  T.truthy(m.bias:max() <= bound and m.bias:min() >= -bound and m.bias:max() ~= m.bias:min(), 'bias within bound')
  T.near(m.weight:mean(), 0, 0.01, 'weight mean')
  local m2 = nn.Conv2d(16, 32, 3, init())
  T.eq((m.weight - m2.weight):norm(), 0, 'same seed, same weights')
  -- the bias is drawn right after the weight from the same generator
  local gen = nl.Generator(SEED, 'init')
  nl.Tensor(32, 16, 3, 3):uniform(gen, -bound, bound)
  T.eq((nl.Tensor(32):uniform(gen, -bound, bound) - m.bias):norm(), 0, 'bias follows weight')
  local l = nn.Linear(128, 10, init())
  T.truthy(l.weight:max() <= 1 / math.sqrt(128) and l.weight:min() >= -1 / math.sqrt(128), 'linear bound')
  T.truthy(nn.Conv2d(16, 32, 3).weight:max() <= bound, 'default generator works')
  local d1, d2 = nn.Linear(4, 4), nn.Linear(4, 4)
  T.truthy((d1.weight - d2.weight):norm() > 0, 'layers without gen still differ')
  T.eq(#nn.Conv2d(3, 8, 3, { bias = false }).params, 1, 'no bias: one parameter')
end)

T.test('describe and macs', function()
  T.eq(tostring(nn.Conv2d(3, 32, 3, { padding = 1 })), 'Conv2d(3 -> 32, 3x3, pad 1)')
  T.eq(tostring(nn.Conv2d(3, 8, 5, { stride = 2, bias = false })), 'Conv2d(3 -> 8, 5x5, stride 2, no bias)')
  T.eq(tostring(nn.MaxPool2d(2, { stride = 2 })), 'MaxPool2d(2x2)')
  T.eq(tostring(nn.MaxPool2d(3, 2, 1)), 'MaxPool2d(3x3, stride 2, pad 1)')
  T.eq(tostring(nn.Linear(128, 10)), 'Linear(128 -> 10)')
  T.eq(tostring(nn.LeakyReLU(0.01)), 'LeakyReLU(0.01)')
  T.eq(tostring(nn.ReLU()) .. tostring(nn.Sigmoid()) .. tostring(nn.Tanh()) .. tostring(nn.Flatten())
    .. tostring(nn.GlobalAvgPool2d()), 'ReLUSigmoidTanhFlattenGlobalAvgPool2d')
  local n, s = nn.Conv2d(3, 32, 3, { padding = 1 }):macs{ 3, 32, 32 }
  T.eq(n, 32 * 32 * 32 * 27, 'conv macs'); T.eq(table.concat(s, ','), '32,32,32', 'conv out shape')
  n, s = nn.Conv2d(3, 8, 5, { stride = 2 }):macs{ 3, 11, 9 }
  T.eq(table.concat(s, ','), '8,4,3', 'strided conv out shape')
  n, s = nn.MaxPool2d(2):macs{ 64, 15, 15 }
  T.eq(table.concat(s, ','), '64,7,7', 'pool out shape (floor)')
  n, s = nn.Linear(128, 10):macs{ 128 }
  T.eq(n, 1280, 'linear macs'); T.eq(s[1], 10, 'linear out')
  n, s = nn.GlobalAvgPool2d():macs{ 128, 8, 8 }
  T.eq(table.concat(s, ','), '128', 'gap out shape')
end)

T.test('shape errors name the layer and both shapes', function()
  local c = nn.Conv2d(3, 32, 3, { padding = 1 })
  T.err(function() c:forward(nl.Tensor(2, 4, 8, 8)) end,
    'Conv2d: input (2,4,8,8) has 4 channels, weight (32,3,3,3) expects 3')
  T.err(function() c:forward(nl.Tensor(2, 3, 8)) end, 'Conv2d: expected a 4-D input (N,3,H,W), got (2,3,8)')
  T.err(function() nn.Conv2d(3, 4, 5):forward(nl.Tensor(1, 3, 4, 4)) end,
    'Conv2d: input (1,3,4,4): kernel 5x5 is larger than the padded input 4x4')
  local x = nl.Tensor(2, 3, 8, 8)
  c:forward(x)
  T.err(function() c:backward(x, nl.Tensor(2, 32, 8, 7)) end,
    'Conv2d: grad_output (2,32,8,7) does not match the output (2,32,8,8) for input (2,3,8,8)')
  T.err(function() nn.Linear(5, 4):forward(nl.Tensor(3, 6)) end,
    'Linear: input (3,6) does not match weight (4,5)')
  T.err(function() nn.MaxPool2d(3):forward(nl.Tensor(1, 1, 2, 2)) end,
    'MaxPool2d: input (1,1,2,2): kernel 3x3 is larger than the padded input 2x2')
  T.err(function() nn.GlobalAvgPool2d():forward(nl.Tensor(2, 3)) end, 'GlobalAvgPool2d: expected a 4-D input')
  local r = nn.ReLU()
  r:forward(nl.Tensor(2, 3))
  T.err(function() r:backward(nl.Tensor(2, 3), nl.Tensor(3, 2)) end,
    'ReLU: grad_output (3,2) does not match input (2,3)')
  -- and through a Sequential, with the position
  local net = nn.Sequential{ nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(4, 8, 3) }
  T.err(function() net:forward(nl.Tensor(1, 3, 8, 8)) end,
    'layer 3 (Conv2d 4 -> 8, 3x3): Conv2d: input (1,8,6,6) has 8 channels, weight (8,4,3,3) expects 4')
end)

T.test('bad sizes are errors, not crashes', function()
  T.err(function() nn.Conv2d(3, 4, 3, { stride = 0 }) end, 'Conv2d: stride must be an integer >= 1, got 0')
  T.err(function() nn.Conv2d(3, 4, 3, { padding = -1 }) end, 'Conv2d: padding must be an integer >= 0, got -1')
  T.err(function() nn.Conv2d(3, 4, 0) end, 'Conv2d: kernel size must be an integer >= 1, got 0')
  T.err(function() nn.Conv2d(-3, 4, 3) end, 'Conv2d: in_channels must be an integer >= 1, got -3')
  T.err(function() nn.Conv2d(3, 4, 2.5) end, 'Conv2d: kernel size must be an integer')
  T.err(function() nn.Linear(0, 4) end, 'Linear: in_features must be a positive integer, got 0')
  T.err(function() nn.MaxPool2d(2, 0) end, 'MaxPool2d: stride must be an integer >= 1, got 0')
  T.err(function() nn.MaxPool2d(2, 2, 2) end, 'MaxPool2d: padding 2 must be at most half the kernel size 2')
  T.err(function() nn.MaxPool2d(-1) end, 'MaxPool2d: kernel size must be an integer >= 1, got -1')
  -- the raw C functions check too
  local C = nl.C
  local y, col = nl.Tensor(1, 1, 1, 1), nl.Tensor(100)
  T.err(function() C.conv2d_forward(y, col, nl.Tensor(1, 1, 3, 3), nl.Tensor(1, 1, 3, 3), nil, 0, 0) end,
    'conv2d: stride 0 must be at least 1')
  T.err(function() C.conv2d_forward(y, col, nl.Tensor(1, 1, 3, 3), nl.Tensor(1, 1, 3, 3), nil, 1, -1) end,
    'conv2d: padding -1 is negative')
  T.err(function() C.conv2d_forward(y, col, nl.Tensor(1, 1, 3, 3), nl.Tensor(1, 1, 3, 3), nil, 1, 2^40) end,
    'integer out of range')
  T.err(function() C.conv2d_forward(y, nl.Tensor(2), nl.Tensor(1, 1, 3, 3), nl.Tensor(1, 1, 3, 3), nil, 1, 0) end,
    'conv2d: scratch col has 2 floats, needs at least 9')
  local idx = nl.Tensor(1, 1, 1, 1):fill(99)
  T.err(function() C.maxpool2d_backward(nl.Tensor(1, 1, 2, 2), nl.Tensor(1, 1, 1, 1), idx) end,
    'maxpool2d: index 99 out of range for a 2x2 input')
  T.eq(select(2, C.conv2d_out_size(32, 31, 3, 3, 2, 1)), 16, 'C.conv2d_out_size')
end)

T.test('outputs are reused, grad_input is fresh, parameter gradients accumulate', function()
  local m = nn.Conv2d(2, 3, 3, with(init(), { padding = 1 }))
  local x = nl.randn(g, 2, 2, 5, 5)
  local y1 = m:forward(x)
  local y2 = m:forward(x)
  T.truthy(rawequal(y1, y2), 'the same output tensor when the shape is unchanged')
  local gy = nl.randn(g, 2, 3, 5, 5)
  m:zero_grad()
  local gx1 = m:backward(x, gy):clone()
  local gw1, gb1 = m.grad_weight:clone(), m.grad_bias:clone()
  local gx2 = m:backward(x, gy)
  T.near((gx2 - gx1):norm(), 0, 1e-12, 'grad_input recomputed, not accumulated')
  T.near((m.grad_weight - gw1 * 2):norm() / gw1:norm(), 0, 1e-6, 'grad_weight accumulates')
  T.near((m.grad_bias - gb1 * 2):norm() / gb1:norm(), 0, 1e-6, 'grad_bias accumulates')
  -- update_grad_input + acc_grad_parameters = backward
  m:zero_grad()
  local gx3 = m:update_grad_input(x, gy):clone()
  m:acc_grad_parameters(x, gy)
  T.near((gx3 - gx1):norm(), 0, 1e-12, 'update_grad_input')
  T.near((m.grad_weight - gw1):norm(), 0, 1e-12, 'acc_grad_parameters')
  local y3 = m:forward(nl.randn(g, 1, 2, 5, 5))
  T.eq(y3:shape_str(), '(1,3,5,5)', 'a new batch size reallocates')
  local f = nn.Flatten()
  local v1 = f:forward(y2)
  T.truthy(rawequal(v1, f:forward(y2)), 'Flatten reuses its view')
  T.eq(v1:shape_str(), '(2,75)', 'Flatten shape')
end)

T.test('a batch of 40 small images matches one image at a time', function()
  local m = nn.Conv2d(16, 8, 3, with(init(), { padding = 1 }))
  local x = nl.randn(g, 40, 16, 6, 6)
  local y = m:forward(x):clone()
  local gy = nl.randn(g, 40, 8, 6, 6)
  m:zero_grad()
  local gx = m:backward(x, gy):clone()
  local gw = m.grad_weight:clone()
  local gw_sum = nl.Tensor(8, 16, 3, 3)
  for i = 1, 40 do
    local xi = x:narrow(i, 1)
    local yi = m:forward(xi)
    T.near((yi - y:narrow(i, 1)):norm(), 0, 1e-5, 'output of image ' .. i)
    m:zero_grad()
    local gxi = m:backward(xi, gy:narrow(i, 1))
    T.near((gxi - gx:narrow(i, 1)):norm(), 0, 1e-5, 'grad_input of image ' .. i)
    gw_sum:add(m.grad_weight)
  end
  T.near((gw_sum - gw):norm() / gw:norm(), 0, 1e-5, 'grad_weight summed over images')
end)

print(string.format('# largest finite-difference rel err %.3g (%s)', worst[1], worst[2]))
T.test('backward(x, gy, false): no input gradient, the same parameter gradients', function()
  local function build()
    local g = nl.Generator(3, 'init')
    return nn.Sequential{ nn.Conv2d(3, 16, 3, { padding = 1, gen = g }), nn.ReLU(true),
                          nn.Conv2d(16, 16, 3, { padding = 1, gen = g }), nn.GlobalAvgPool2d() }
  end
  local g = nl.Generator(4, 'order')
  local x, gy = nl.randn(g, 2, 3, 8, 8), nl.randn(g, 2, 16)
  for _, algo in ipairs{ 'plain', 'winograd' } do
    local a, b = build(), build()
    a.modules[1].algorithm, b.modules[1].algorithm = algo, algo
    a:forward(x); b:forward(x)
    T.truthy(a:backward(x, gy) ~= nil, 'the input gradient by default')
    T.eq(b:backward(x, gy, false), nil, algo .. ': no input gradient when not wanted')
    T.eq(b.modules[1].grad_input, nil, algo .. ': the first conv made none')
    local _, ga = a:parameters()
    local _, gb = b:parameters()
    for k = 1, #ga do
      T.eq((ga[k] - gb[k]):norm(), 0, algo .. ' parameter gradient ' .. k)
    end
  end
end)

T.done()
