-- bench_train.lua: training speed and peak memory of normlab on the protocol's plain model.
--
--   normlab --threads T bench/bench_train.lua [--depth 8] [--norm bn] [--batch 128]
--       [--warmup-steps 3] [--warmup-seconds 0.5] [--seconds 3] [--min-steps 5]
--       [--conv auto|plain|winograd] [--profile-seconds 1] [--profile-layers 0|1] [--seed 1]
--
-- One process = one configuration (so the peak RSS is this configuration's). The model is
-- normlab.models.plain{depth, act = 'relu', norm, order = 'cna', classes = 10}, trained with
-- SGD (momentum 0.9, weight decay 5e-4, lr 0.05*B/128) and softmax cross-entropy on one
-- fixed synthetic batch (N(0,1) images 3x32x32, uniform labels): the data pipeline is not
-- timed, in this script or in bench_torch.py. A step is zero_grad, forward, loss, backward,
-- optimizer step. After the warm-up (at least --warmup-steps and --warmup-seconds), steps
-- are timed until both --min-steps and --seconds are reached. ips is the batch size over the
-- median step time (robust to other jobs on a shared machine), ips_mean the overall rate.
--
-- Then a profiling phase (--profile-seconds, 0 to skip) times every layer's forward and
-- backward (wall clock around each call) and reports the time per step by layer type;
-- --profile-layers 1 also prints one LAYER line per child (forward and backward ms).
--
-- Output, one line each (parsed by bench/run.sh):
--   RESULT fw=normlab depth=8 norm=bn batch=128 threads=2 steps=N seconds=S ips=X ips_mean=X2 step_ms=Y
--          rss_mb=Z base_rss_mb=W loss0=L0 loss=L conv=auto
--   PROFILE fw=normlab ... step_ms=Y conv_ms=... bn_ms=... gn_ms=... act_ms=... pool_ms=...
--          linear_ms=... loss_ms=... optim_ms=... other_ms=... conv_share=F
local normlab = require 'normlab'
local nn = require 'normlab.nn'
local C = normlab.C

local function status_kb(field)
  local f = io.open('/proc/self/status', 'r')
  if not f then return 0 end
  local txt = f:read('a')
  f:close()
  return tonumber(txt:match(field .. ':%s*(%d+)')) or 0
end

local opts = { depth = 8, norm = 'bn', batch = 128, ['warmup-steps'] = 3, ['warmup-seconds'] = 0.5,
               seconds = 3, ['min-steps'] = 5, conv = 'auto', ['profile-seconds'] = 1, seed = 1,
               ['profile-layers'] = 0 }
local i = 1
while i <= #arg do
  local k = arg[i]:match('^%-%-(.+)$')
  if not k or opts[k] == nil or arg[i + 1] == nil then
    io.stderr:write('bench_train.lua: bad argument ' .. tostring(arg[i]) .. '\n')
    os.exit(2)
  end
  local v = arg[i + 1]
  opts[k] = type(opts[k]) == 'number' and assert(tonumber(v), k .. ' must be a number') or v
  i = i + 2
end
local depth, batch = math.tointeger(opts.depth), math.tointeger(opts.batch)
assert(depth and batch and batch >= 1, 'depth and batch must be integers')

-- the convolution algorithm (Conv2d.algorithm, when this normlab has the switch)
local Conv2d = require 'normlab.nn.Conv2d'
if opts.conv ~= 'auto' then
  if Conv2d.algorithm == nil then
    io.stderr:write('bench_train.lua: this Conv2d has no algorithm switch\n')
    os.exit(2)
  end
  Conv2d.algorithm = opts.conv
end

local base_rss = status_kb('VmRSS')
local gen = normlab.Generator(opts.seed, 'init')
local model = normlab.models.plain { depth = depth, act = 'relu', norm = opts.norm, order = 'cna',
                                     classes = 10, gen = gen }
model:train()
local data_gen = normlab.Generator(opts.seed, 'order')
local x = normlab.zeros(batch, 3, 32, 32):normal(data_gen, 0, 1)
local y = normlab.zeros(batch)
for n = 1, batch do y:set(data_gen:random(10) - 1, n) end
local crit = nn.CrossEntropy()
local params, grads = model:parameters()
local opt = normlab.optim.SGD(params, grads, { lr = 0.05 * batch / 128, momentum = 0.9, weight_decay = 5e-4 })

local function step()
  model:zero_grad()
  local out = model:forward(x)
  local loss = crit:forward(out, y)
  model:backward(x, crit:backward(out, y), false)   -- as train.lua: no gradient for the images
  opt:step()
  return loss
end

local clock = C.wall_clock
local loss0 = step()
local t0, n = clock(), 1
while n < opts['warmup-steps'] or clock() - t0 < opts['warmup-seconds'] do step(); n = n + 1 end

local loss
local times = {}
t0, n = clock(), 0
repeat
  local a = clock()
  loss = step()
  times[#times + 1] = clock() - a
  n = n + 1
until n >= opts['min-steps'] and clock() - t0 >= opts.seconds
local secs = clock() - t0
table.sort(times)
local med = #times % 2 == 1 and times[(#times + 1) // 2] or 0.5 * (times[#times // 2] + times[#times // 2 + 1])
local rss = status_kb('VmHWM')
local tag = string.format('fw=normlab depth=%d norm=%s batch=%d threads=%d', depth, opts.norm, batch,
  normlab.threads())
print(string.format('RESULT %s steps=%d seconds=%.3f ips=%.2f ips_mean=%.2f step_ms=%.3f rss_mb=%.1f base_rss_mb=%.1f loss0=%.4f loss=%.4f conv=%s',
  tag, n, secs, batch / med, n * batch / secs, 1e3 * med, rss / 1024, base_rss / 1024, loss0, loss, opts.conv))
io.stdout:flush()

-- Profiling: wrap every child's forward/backward, the criterion and the optimizer.
if opts['profile-seconds'] > 0 then
  local KIND = { Conv2d = 'conv', BatchNorm2d = 'bn', GroupNorm = 'gn', ReLU = 'act', LeakyReLU = 'act',
                 Sigmoid = 'act', Tanh = 'act', MaxPool2d = 'pool', GlobalAvgPool2d = 'pool',
                 Linear = 'linear' }
  local acc, layer = {}, {}
  local function timed(kind, fn, key)
    return function(...)
      local a = clock()
      local r = fn(...)
      local dt = clock() - a
      acc[kind] = (acc[kind] or 0) + dt
      if key then layer[key] = (layer[key] or 0) + dt end
      return r
    end
  end
  for li, m in ipairs(model.modules) do
    local kind = KIND[m:type_name()] or 'other'
    m.forward = timed(kind, getmetatable(m).forward, li .. 'f')
    m.backward = timed(kind, getmetatable(m).backward, li .. 'b')
  end
  crit.forward = timed('loss', getmetatable(crit).forward)
  crit.backward = timed('loss', getmetatable(crit).backward)
  opt.step = timed('optim', getmetatable(opt).step)
  step()
  acc, layer = {}, {}
  local p0, pn = clock(), 0
  repeat step(); pn = pn + 1 until pn >= 3 and clock() - p0 >= opts['profile-seconds']
  local total = (clock() - p0) / pn
  local parts, known = {}, 0
  for _, k in ipairs { 'conv', 'bn', 'gn', 'act', 'pool', 'linear', 'loss', 'optim' } do
    local v = (acc[k] or 0) / pn
    known = known + v
    parts[#parts + 1] = string.format('%s_ms=%.3f', k, 1e3 * v)
  end
  parts[#parts + 1] = string.format('other_ms=%.3f', 1e3 * (total - known))
  if opts['profile-layers'] ~= 0 then
    for li, m in ipairs(model.modules) do
      print(string.format('LAYER %2d %-36s forward %8.3f ms  backward %8.3f ms', li, tostring(m),
        1e3 * (layer[li .. 'f'] or 0) / pn, 1e3 * (layer[li .. 'b'] or 0) / pn))
    end
  end
  print(string.format('PROFILE %s step_ms=%.3f %s conv_share=%.3f', tag, 1e3 * total,
    table.concat(parts, ' '), (acc.conv or 0) / pn / total))
end
