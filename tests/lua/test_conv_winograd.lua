-- test_conv_winograd.lua: Conv2d's choice of algorithm and the Winograd path through the Lua
-- layer: 'auto' runs the forward pass by im2col and the backward pass by Winograd for 3x3
-- stride-1 layers with >= 16 input channels (im2col otherwise); 'winograd' uses it for the
-- forward pass too. Every algorithm gives the same output, grad_input and parameter
-- gradients (to 1e-4 of the largest value), also inside a Sequential with BatchNorm and ReLU,
-- with 1 and 2 threads. Seeded (SEED below).
local T = dofile('tests/lua/check.lua')
local nl = require 'normlab'
local nn = nl.nn
local C = nl.C

local SEED = 606

-- max |a - b| / max |b| (with a floor of 1e-3 for gradients that are zero in exact
-- arithmetic, such as a conv bias followed by BatchNorm)
local function relerr(a, b)
  local d = a - b
  return math.max(d:max(), -d:min()) / math.max(b:max(), -b:min(), 1e-3)
end

-- Runs forward + backward of a fresh copy of layer `make()` with the given algorithm.
local function run(make, algo, x, gy)
  local m = make()
  m.algorithm = algo
  local y = m:forward(x):clone()
  m:zero_grad()
  local gx = m:backward(x, gy):clone()
  local _, grads = m:parameters()
  local gs = {}
  for i, g in ipairs(grads) do gs[i] = g:clone() end
  return y, gx, gs
end

local cases = {
  -- name, cin, cout, padding, input shape
  { '32 -> 32, pad 1, 16x16, batch 3', 32, 32, 1, { 3, 32, 16, 16 } },
  { '16 -> 40, pad 1, 7x9, batch 2', 16, 40, 1, { 2, 16, 7, 9 } },
  { '20 -> 8, pad 0, 10x6, batch 5', 20, 8, 0, { 5, 20, 10, 6 } },
  { '24 -> 16, pad 2, 5x5, batch 1', 24, 16, 2, { 1, 24, 5, 5 } },
  -- 1280 output pixels: 'winograd' takes the grad input in F(4x4,3x3)
  { '32 -> 16, pad 1, 16x16, batch 5', 32, 16, 1, { 5, 32, 16, 16 } },
}

for threads = 1, 2 do
  nl.set_threads(threads)
  for _, c in ipairs(cases) do
    T.test(string.format('Conv2d %s: winograd = plain (%d thread(s), seed %d)', c[1], threads, SEED), function()
      local g = nl.Generator(SEED, 'init')
      local x = nl.zeros(table.unpack(c[5])):uniform(g, -1, 1)
      local make = function() return nn.Conv2d(c[2], c[3], 3, { padding = c[4], gen = nl.Generator(SEED, 'init') }) end
      local ho, wo = c[5][3] + 2 * c[4] - 2, c[5][4] + 2 * c[4] - 2
      local gy = nl.zeros(c[5][1], c[3], ho, wo):uniform(g, -1, 1)
      local y1, gx1, gs1 = run(make, 'plain', x, gy)
      for _, algo in ipairs { 'auto', 'winograd' } do
        local y2, gx2, gs2 = run(make, algo, x, gy)
        T.truthy(relerr(y2, y1) < 1e-4, algo .. ' output: rel err ' .. relerr(y2, y1))
        if algo == 'auto' then T.eq(relerr(y2, y1), 0, 'auto: the forward pass is im2col itself') end
        T.truthy(relerr(gx2, gx1) < 1e-4, algo .. ' grad_input: rel err ' .. relerr(gx2, gx1))
        for i = 1, #gs1 do
          T.truthy(relerr(gs2[i], gs1[i]) < 1e-4, algo .. ' grad param ' .. i .. ': rel err ' .. relerr(gs2[i], gs1[i]))
        end
      end
    end)
  end
end

T.test("auto: im2col forward, winograd backward only for 3x3 stride 1 with >= 16 input channels", function()
  local calls = { wf = 0, wb = 0, pf = 0, pb = 0 }
  local saved = { C.winograd_forward, C.winograd_backward, C.conv2d_par_forward, C.conv2d_par_backward }
  C.winograd_forward = function(...) calls.wf = calls.wf + 1; return saved[1](...) end
  C.winograd_backward = function(...)
    calls.wb = calls.wb + 1
    calls.dx_tile = select(10, ...)
    return saved[2](...)
  end
  C.conv2d_par_forward = function(...) calls.pf = calls.pf + 1; return saved[3](...) end
  C.conv2d_par_backward = function(...) calls.pb = calls.pb + 1; return saved[4](...) end
  local function fb(m, x)
    local y = m:forward(x)
    m:backward(x, y)
  end
  local ok, err = pcall(function()
    fb(nn.Conv2d(16, 8, 3, { padding = 1 }), nl.zeros(4, 16, 16, 16))
    T.eq(calls.pf .. ' ' .. calls.wb, '1 1', '16 channels, 3x3, stride 1: im2col forward, winograd backward')
    fb(nn.Conv2d(3, 8, 3, { padding = 1 }), nl.zeros(4, 3, 16, 16))
    T.eq(calls.pb, 1, '3 channels: im2col backward')
    fb(nn.Conv2d(16, 8, 3, { padding = 1, stride = 2 }), nl.zeros(4, 16, 16, 16))
    T.eq(calls.pb, 2, 'stride 2: im2col backward')
    fb(nn.Conv2d(16, 8, 5, { padding = 2 }), nl.zeros(4, 16, 16, 16))
    T.eq(calls.pb, 3, '5x5: im2col backward')
    fb(nn.Conv2d(16, 8, 3, { padding = 1 }), nl.zeros(1, 16, 8, 8))
    T.eq(calls.pb, 4, 'a small batch (64 output pixels): im2col backward')
    T.eq(calls.wf, 0, 'auto never runs the forward pass by winograd')
    local m = nn.Conv2d(3, 8, 3, { padding = 1 })
    m.algorithm = 'winograd'
    fb(m, nl.zeros(1, 3, 6, 6))
    T.eq(calls.wf .. ' ' .. calls.wb, '1 2', "algorithm = 'winograd': both passes, even for 3 channels and 36 pixels")
    T.eq(calls.dx_tile, 2, "'winograd' at 36 pixels: grad input in F(2x2,3x3)")
    local big = nn.Conv2d(16, 8, 3, { padding = 1 })
    big.algorithm = 'winograd-auto'
    fb(big, nl.zeros(4, 16, 16, 16))
    T.eq(calls.wf .. ' ' .. calls.wb, '2 3', "'winograd-auto': both passes by winograd for 16 channels")
    T.eq(calls.dx_tile, 4, "'winograd-auto' at 1024 pixels: grad input in F(4x4,3x3)")
    big.algorithm = 'auto'
    fb(big, nl.zeros(4, 16, 16, 16))
    T.eq(calls.dx_tile, 2, "'auto' at 1024 pixels: grad input in F(2x2,3x3)")
    local small = nn.Conv2d(3, 8, 3, { padding = 1 })
    small.algorithm = 'winograd-auto'
    fb(small, nl.zeros(4, 3, 16, 16))
    T.eq(calls.wf .. ' ' .. calls.pf .. ' ' .. calls.pb, '2 7 5', "'winograd-auto': 3 channels stay on im2col")
    m.algorithm = 'plain'
    fb(nn.Conv2d(16, 8, 3, { padding = 1 }), nl.zeros(1, 16, 6, 6))
    m.algorithm = 'fast'
    T.err(function() m:forward(nl.zeros(1, 3, 6, 6)) end, "algorithm must be 'auto', 'plain' or 'winograd'")
  end)
  C.winograd_forward, C.winograd_backward, C.conv2d_par_forward, C.conv2d_par_backward = table.unpack(saved)
  if not ok then error(err, 0) end
end)

T.test('protocol blocks (conv, bn, relu) x3 + pool: auto, winograd = plain, 2 threads', function()
  nl.set_threads(2)
  local function net(algo)
    local g = nl.Generator(SEED + 1, 'init')
    local layers = {}
    for i, cin in ipairs { 3, 32, 32 } do
      local conv = nn.Conv2d(cin, 32, 3, { padding = 1, gen = g })
      conv.algorithm = algo
      layers[#layers + 1] = conv
      layers[#layers + 1] = nn.BatchNorm2d(32)
      layers[#layers + 1] = nn.ReLU()
    end
    layers[#layers + 1] = nn.MaxPool2d(2)
    return nn.Sequential(layers)
  end
  local g = nl.Generator(SEED + 2, 'order')
  local x = nl.zeros(4, 3, 16, 16):normal(g, 0, 1)
  local gy = nl.zeros(4, 32, 8, 8):normal(g, 0, 1)
  local a = net('plain')
  local ya = a:forward(x)
  a:backward(x, gy)
  local _, ga = a:parameters()
  for _, algo in ipairs { 'auto', 'winograd' } do
    local b = net(algo)
    local yb = b:forward(x)
    T.truthy(relerr(yb, ya) < 1e-4, algo .. ' output: rel err ' .. relerr(yb, ya))
    b:backward(x, gy)
    local _, gb = b:parameters()
    for i = 1, #ga do
      local scale = math.max(ga[i]:max(), -ga[i]:min())
      if scale < 1e-4 then   -- a conv bias right before BatchNorm: zero up to rounding noise
        local d = gb[i] - ga[i]
        T.truthy(math.max(d:max(), -d:min()) < 1e-4, algo .. ' grad ' .. i .. ' (zero in exact arithmetic)')
      else
        T.truthy(relerr(gb[i], ga[i]) < 1e-3, algo .. ' grad ' .. i .. ': rel err ' .. relerr(gb[i], ga[i]))
      end
    end
  end
end)

T.done()
