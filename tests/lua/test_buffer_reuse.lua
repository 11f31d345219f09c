-- test_buffer_reuse.lua: the memory savings change nothing: in-place ReLU/LeakyReLU (what
-- models.plain builds) and Sequential's recycling of gradient buffers give bitwise the same
-- outputs, input gradients and parameter gradients as separate buffers, over two training
-- steps; recycled buffers are never shared by two live gradients; the first child's
-- grad_input (the model's result) is kept. Seeded (SEED below).
local T = dofile('tests/lua/check.lua')
local nl = require 'normlab'
local nn = nl.nn

local SEED = 77

local function run(opts, recycle)
  local model = nl.models.plain { depth = opts.depth, act = opts.act, norm = opts.norm, order = opts.order,
                                  classes = 10, gen = nl.Generator(SEED, 'init'), inplace = opts.inplace }
  model.recycle_grads = recycle
  local g = nl.Generator(SEED, 'order')
  local crit = nn.CrossEntropy()
  local out = {}
  for step = 1, 2 do
    local x = nl.randn(g, 4, 3, 16, 16)
    local y = nl.Tensor(4)
    for i = 1, 4 do y[i] = g:random(10) - 1 end
    model:zero_grad()
    local logits = model:forward(x)
    crit:forward(logits, y)
    local gx = model:backward(x, crit:backward(logits, y))
    out[#out + 1] = logits:clone()
    out[#out + 1] = gx:clone()
    local _, grads = model:parameters()
    for _, t in ipairs(grads) do out[#out + 1] = t:clone() end
  end
  return out, model
end

local function identical(a, b)
  if #a ~= #b then return false, 'different counts' end
  for i = 1, #a do
    local ok, why = pcall(T.same_bits, a[i], b[i], 'tensor ' .. i)
    if not ok then return false, why end
  end
  return true
end

for _, cfg in ipairs {
  { depth = 4, act = 'relu', norm = 'bn', order = 'cna' },
  { depth = 3, act = 'leakyrelu', norm = 'bn', order = 'can' },
  { depth = 2, act = 'relu', norm = 'gn', order = 'cna' },
  { depth = 2, act = 'tanh', norm = 'none', order = 'cna' },
} do
  local name = string.format('depth %d %s %s %s', cfg.depth, cfg.act, cfg.norm, cfg.order)
  T.test(name .. ': in place + recycled = separate buffers, bitwise (seed ' .. SEED .. ')', function()
    local plain = run({ depth = cfg.depth, act = cfg.act, norm = cfg.norm, order = cfg.order, inplace = false }, false)
    local fast, model = run({ depth = cfg.depth, act = cfg.act, norm = cfg.norm, order = cfg.order }, nil)
    local ok, why = identical(fast, plain)
    T.truthy(ok, why)
    T.truthy(model.grad_input ~= nil, 'the first child grad_input is kept')
    -- no two children hold the same grad_input tensor
    local seen = {}
    for i, m in ipairs(model.modules) do
      local gi = m.grad_input
      if gi then
        T.truthy(not seen[gi], 'child ' .. i .. ' shares its grad_input with child ' .. tostring(seen[gi]))
        seen[gi] = i
      end
    end
  end)
end

T.test('recycling around Flatten (a view of its grad_output) and in-place layers: bitwise, twice', function()
  local function net(recycle)
    local g = nl.Generator(SEED + 3, 'init')
    local m = nn.Sequential {
      nn.Conv2d(3, 8, 3, { padding = 1, gen = g }), nn.ReLU(true), nn.MaxPool2d(2),
      nn.Conv2d(8, 8, 3, { padding = 1, gen = g }), nn.Tanh(), nn.Flatten(),
      nn.Linear(8 * 4 * 4, 16, { gen = g }), nn.ReLU(), nn.Linear(16, 5, { gen = g }),
    }
    m.recycle_grads = recycle
    return m
  end
  local a, b = net(false), net(nil)
  local g = nl.Generator(SEED + 4, 'order')
  for step = 1, 3 do
    local x = nl.randn(g, 3, 3, 8, 8)
    local gy = nl.randn(g, 3, 5)
    local ya, yb = a:forward(x), b:forward(x)
    T.eq((ya - yb):norm(), 0, 'step ' .. step .. ' output')
    a:zero_grad(); b:zero_grad()
    local ga, gb = a:backward(x, gy), b:backward(x, gy)
    T.eq((ga - gb):norm(), 0, 'step ' .. step .. ' grad_input')
    local _, pa = a:parameters()
    local _, pb = b:parameters()
    for i = 1, #pa do T.eq((pa[i] - pb[i]):norm(), 0, 'step ' .. step .. ' grad ' .. i) end
  end
end)

T.test('ReLU(true) and LeakyReLU(s, true) overwrite their input; the defaults do not', function()
  local x = nl.tensor { -1, 2, -3, 4 }
  local y = nn.ReLU():forward(x)
  T.eq(x[1], -1, 'ReLU() keeps x')
  local z = nn.ReLU(true):forward(x)
  T.truthy(z == x or (x[1] == 0 and x[3] == 0), 'ReLU(true) writes into x')
  T.eq(y[2], 2)
  local x2 = nl.tensor { -1, 2 }
  nn.LeakyReLU(0.5, true):forward(x2)
  T.eq(x2[1], -0.5, 'LeakyReLU(0.5, true) writes into x')
  local x3 = nl.tensor { -1, 2 }
  local m = nn.LeakyReLU(-0.5, true)
  m:forward(x3)
  T.eq(x3[1], -1, 'a negative slope never works in place (y would lose the sign of x)')
end)

-- A training step in the steady state allocates no tensor: every layer's output, gradient
-- and scratch buffer is reused (a fresh 16 MB buffer per step, as a recycling bug once made,
-- leaves the peak memory to the garbage collector's timing).
for _, norm in ipairs{ 'bn', 'gn' } do
  T.test('steady-state training steps allocate no tensors (' .. norm .. ', both conv algorithms)', function()
    for _, algo in ipairs{ 'auto', 'winograd-auto' } do
      local saved_algo = nn.Conv2d.algorithm
      nn.Conv2d.algorithm = algo
      local model = nl.models.plain { depth = 8, act = 'relu', norm = norm, order = 'cna', classes = 10,
                                      gen = nl.Generator(SEED, 'init') }
      local g = nl.Generator(SEED, 'order')
      local x, y = nl.randn(g, 4, 3, 32, 32), nl.Tensor(4)
      for i = 1, 4 do y[i] = g:random(10) - 1 end
      local crit = nn.CrossEntropy()
      local function step()
        model:zero_grad()
        local logits = model:forward(x)
        crit:forward(logits, y)
        model:backward(x, crit:backward(logits, y), false)
      end
      local new0, made = nl.C.tensor_new, {}
      local ok, err = pcall(function()
        for _ = 1, 3 do step() end
        nl.C.tensor_new = function(...)
          local t = new0(...)
          made[#made + 1] = t:shape_str()
          return t
        end
        for _ = 1, 3 do step() end
      end)
      nl.C.tensor_new, nn.Conv2d.algorithm = new0, saved_algo
      if not ok then error(err, 0) end
      T.eq(#made, 0, algo .. ': tensors made after warm-up (' .. table.concat(made, ' ') .. ')')
    end
  end)
end

T.done()
