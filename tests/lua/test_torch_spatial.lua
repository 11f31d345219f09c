-- test_torch_spatial.lua: every spatial/dense layer against PyTorch (Debian's python3-torch,
-- tests/torch/spatial_ref.py): outputs and gradients w.r.t. input, weight and bias agree to a
-- relative error <= 1e-4 (max |a - b| over max |b|). Skips visibly when /usr/bin/python3
-- cannot import torch. Seeded (SEED below).
local T = dofile('tests/lua/check.lua')
local nl = require 'normlab'
local nn, C = nl.nn, nl.C

local PY = os.getenv('NORMLAB_TORCH_PYTHON') or '/usr/bin/python3'
local SEED = 777
local TOL = 1e-4

local function maxabs(t) return math.max(t:max(), -t:min()) end
local function rel_err(a, b)
  if a:shape_str() ~= b:shape_str() then error('shape ' .. a:shape_str() .. ' vs ' .. b:shape_str()) end
  return maxabs(a - b) / math.max(maxabs(b), 1e-30)
end

local g = nl.Generator(SEED, 'default')
local function init(extra)
  local o = { gen = nl.Generator(SEED, 'init') }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- name, layer, meta string for PyTorch, input shape
local cases = {
  { 'conv3x3_p1', nn.Conv2d(8, 16, 3, init{ padding = 1 }), 'conv2d,1,1', { 4, 8, 10, 10 } },
  { 'conv5x5_s2_p2_nobias', nn.Conv2d(3, 5, 5, init{ stride = 2, padding = 2, bias = false }), 'conv2d,2,2', { 2, 3, 11, 9 } },
  { 'conv1x1', nn.Conv2d(6, 4, 1, init()), 'conv2d,1,0', { 3, 6, 7, 7 } },
  { 'conv3x3_s2_p0_batch1', nn.Conv2d(4, 6, 3, init{ stride = 2 }), 'conv2d,2,0', { 1, 4, 8, 8 } },
  { 'conv_grouped_8x8', nn.Conv2d(64, 32, 3, init{ padding = 1 }), 'conv2d,1,1', { 16, 64, 8, 8 } },
  { 'conv_first_32x32', nn.Conv2d(3, 32, 3, init{ padding = 1 }), 'conv2d,1,1', { 2, 3, 32, 32 } },
  { 'linear', nn.Linear(20, 7, init()), 'linear', { 5, 20 } },
  { 'linear_nobias_batch1', nn.Linear(9, 4, init{ bias = false }), 'linear', { 1, 9 } },
  { 'maxpool2_odd', nn.MaxPool2d(2, { stride = 2 }), 'maxpool2d,2,2,0', { 2, 3, 9, 9 } },
  { 'maxpool3_s2_p1', nn.MaxPool2d(3, 2, 1), 'maxpool2d,3,2,1', { 2, 2, 8, 7 } },
  -- integer-valued inputs: many tied windows, so the gradient shows which pixel won
  { 'maxpool2_ties', nn.MaxPool2d(2), 'maxpool2d,2,2,0', { 2, 3, 16, 18 }, 'ties' },
  { 'maxpool3_s1_p1_ties', nn.MaxPool2d(3, 1, 1), 'maxpool2d,3,1,1', { 1, 2, 7, 9 }, 'ties' },
  { 'gap', nn.GlobalAvgPool2d(), 'gap', { 3, 5, 4, 6 } },
  { 'relu', nn.ReLU(), 'relu', { 2, 3, 4, 5 } },
  { 'leakyrelu', nn.LeakyReLU(0.01), 'leakyrelu,0.01', { 2, 3, 4, 5 } },
  { 'leakyrelu02', nn.LeakyReLU(0.2), 'leakyrelu,0.2', { 2, 3, 4, 5 } },
  { 'sigmoid', nn.Sigmoid(), 'sigmoid', { 2, 3, 4, 5 } },
  { 'tanh', nn.Tanh(), 'tanh', { 2, 3, 4, 5 } },
}

local has_torch = os.execute(PY .. ' -c "import torch" 2>/dev/null')
if not has_torch then
  for _, c in ipairs(cases) do T.skip(c[1] .. ' matches PyTorch', 'no torch') end
  T.done()
  return
end

-- inputs, output gradients and parameters to PyTorch in one file, its results back in another
local entries, data = {}, {}
for _, c in ipairs(cases) do
  local name, m, meta, shape = c[1], c[2], c[3], c[4]
  local x = nl.randn(g, table.unpack(shape)) * 2
  if c[5] == 'ties' then
    local flat = x:view(-1)
    for i = 1, flat:numel() do flat[i] = math.floor(flat[i] * 0.7) end
  end
  local y = m:forward(x)
  local gy = nl.randn(g, table.unpack(y:size()))
  data[name] = { x = x, gy = gy }
  entries[#entries + 1] = { name .. '.meta', meta }
  entries[#entries + 1] = { name .. '.x', x }
  entries[#entries + 1] = { name .. '.gy', gy }
  if m.weight then entries[#entries + 1] = { name .. '.w', m.weight } end
  if m.bias then entries[#entries + 1] = { name .. '.b', m.bias } end
end
local dir = os.tmpname(); os.remove(dir); os.execute('mkdir -p ' .. dir)
local inp, outp = dir .. '/in.ckpt', dir .. '/out.ckpt'
C.ckpt_save(inp, entries)
local ran = os.execute(string.format('%s tests/torch/spatial_ref.py %s %s', PY, inp, outp))
local ref = ran and C.ckpt_load(outp)
os.execute('rm -rf ' .. dir)

local worst = { 0, '' }
for _, c in ipairs(cases) do
  local name, m = c[1], c[2]
  T.test(name .. ' (' .. tostring(m) .. ') matches PyTorch: output and gradients', function()
    assert(ref, 'the PyTorch reference failed')
    local d = data[name]
    m:zero_grad()
    local y = m:forward(d.x)
    local gx = m:backward(d.x, d.gy)
    local function cmp(what, a, b)
      local e = rel_err(a, b)
      if e > worst[1] then worst = { e, name .. ' ' .. what } end
      if not (e <= TOL) then error(string.format('%s: rel err %.3g > %g (seed %d)', what, e, TOL, SEED)) end
    end
    cmp('output', y, ref[name .. '.y'])
    cmp('grad_input', gx, ref[name .. '.gx'])
    if m.weight then cmp('grad_weight', m.grad_weight, ref[name .. '.gw']) end
    if m.bias then cmp('grad_bias', m.grad_bias, ref[name .. '.gb']) end
  end)
end
print(string.format('# largest rel err vs PyTorch %.3g (%s)', worst[1], worst[2]))
T.done()
