-- normlab.train: one training run as ../shared/PROTOCOL.md describes it.
--
--   local train = require 'normlab.train'
--   local rec = train.run{
--     config   = {depth = 8, act = 'relu', norm = 'bn', order = 'cna', batch_size = 128},
--     settings = {dataset = 'cifar10', epochs = 15, lr = 0.05, lr_ref_batch = 128, momentum = 0.9,
--                 weight_decay = 5e-4, subset = nil, test_subset = nil, sample = false,
--                 width = 32, groups = 32, norm_eps = 1e-5, bn_momentum = 0.1, leaky_slope = 0.01,
--                 pad = 4, flip = true},      -- (nil: the model's / loader's defaults)
--     seed = 1,
--     train_set = ds, test_set = ds2,   -- datasets from normlab.data.load (else loaded from `root`)
--     root = nil,                        -- data root when the datasets are not given
--     progress = 'bar' | 'lines' | 'none',   -- default: a bar on a terminal, else a line per epoch
--     label = 'depth 8, relu, seed 1',   -- shown in the progress output
--     eta = function(fraction_of_this_run) -> string,   -- sweep ETA shown in the bar
--   }
--
-- The model is normlab.models.plain(config) initialized from Generator(seed, 'init'); the
-- loader shuffles and augments from `seed`. SGD with momentum and weight decay; the
-- learning rate is lr0 = lr * B / lr_ref_batch, cosine-annealed per step:
-- lr(t) = lr0/2 * (1 + cos(pi t / T)), t = 0 .. T-1, T = epochs * batches per epoch.
-- After every epoch: mean train loss, train accuracy (of the training batches, in
-- training mode), test accuracy. Accuracies are in percent.
--
-- The returned record has status 'ok' or 'diverged' (the loss became NaN or infinite:
-- training stops, `diverged = {epoch =, step =, loss =}`), the per-epoch lists
-- train_loss / train_acc / test_acc, final_test_acc, wall_time (s), images_per_s
-- (training images per second of training time), and the weight-gradient norm of
-- every block (block = one conv, input side first): grad_norm_mean (over all steps)
-- and per epoch in per_epoch[i].grad_norms (per_epoch[i] also has lr, seconds, images_per_s). An interruption (Ctrl-C) raises an error
-- containing "interrupted"; train.is_interrupt(err) recognizes it.
local normlab = require 'normlab'

local train = {}

---------------------------------------------------------------------------
-- small utilities (also used by normlab.sweep)

-- Wall-clock seconds with 10 ms resolution (Linux /proc/uptime), else whole seconds.
function train.clock()
  local f = io.open('/proc/uptime', 'r')
  if f then
    local t = f:read('n')
    f:close()
    if t then return t end
  end
  return os.time()
end

local tty_cache
-- Is standard output a terminal? NORMLAB_PROGRESS=bar|lines overrides.
function train.stdout_is_tty()
  local env = os.getenv('NORMLAB_PROGRESS')
  if env == 'bar' then return true elseif env == 'lines' or env == 'none' then return false end
  if tty_cache == nil then tty_cache = os.execute('test -t 1') == true end
  return tty_cache
end

function train.is_interrupt(err)
  return tostring(err):find('interrupted', 1, true) ~= nil
end

function train.interrupted()
  local C = normlab.C
  return C and C.interrupted and C.interrupted() or false
end

function train.fmt_time(s)
  if not s or s ~= s or s == math.huge then return '?' end
  s = math.floor(s + 0.5)
  if s < 60 then return s .. 's' end
  if s < 3600 then return string.format('%dm%02ds', s // 60, s % 60) end
  return string.format('%dh%02dm', s // 3600, (s % 3600) // 60)
end

local function round(x, digits)
  local m = 10 ^ digits
  return math.floor(x * m + 0.5) / m
end

local function finite(x) return type(x) == 'number' and x == x and x ~= math.huge and x ~= -math.huge end

-- The 4-D parameters (conv weights) in model order: one per block of the plain model.
function train.block_weights(model)
  local params, grads = model:parameters()
  local w, g = {}, {}
  for i, p in ipairs(params) do
    if p:dim() == 4 then
      w[#w + 1] = p
      g[#g + 1] = grads[i]
    end
  end
  return w, g, params, grads
end

-- Multiply-adds per 32x32 image of plain(depth) with the given input channels and
-- classes (for ETA estimates; no model is built).
function train.model_macs(depth, classes)
  local macs, hw, cin = 0, 32 * 32, 3
  for b = 0, depth - 1 do
    local s = (3 * b) // depth
    local width = 32 * 2 ^ s // 1
    macs = macs + 9 * cin * width * hw
    local last = (b == depth - 1) or ((3 * (b + 1)) // depth ~= s)
    if last and s ~= (3 * (depth - 1)) // depth then hw = hw // 4 end
    cin = width
  end
  return macs + cin * (classes or 10)
end

---------------------------------------------------------------------------
-- progress output

local Progress = {}
Progress.__index = Progress

local function new_progress(o, epochs, steps)
  local mode = o.progress or (train.stdout_is_tty() and 'bar' or 'lines')
  return setmetatable({mode = mode, out = o.out or io.stdout, epochs = epochs, steps = steps,
                       label = o.label or '', eta = o.eta, last = -1}, Progress)
end

function Progress:step(epoch, step, loss, acc, ips, now)
  if self.mode ~= 'bar' then return end
  if now - self.last < 0.25 and step ~= self.steps then return end
  self.last = now
  local width = 20
  local filled = math.floor(width * step / self.steps)
  local bar = string.rep('=', filled) .. (filled < width and '>' or '') .. string.rep(' ', width - filled - 1)
  local frac = ((epoch - 1) + step / self.steps) / self.epochs
  local eta = self.eta and self.eta(frac) or nil
  self.out:write(string.format('\r\27[K%s epoch %d/%d [%s] %d/%d loss %.3f acc %.1f%% %.0f img/s%s',
    self.label, epoch, self.epochs, bar:sub(1, width), step, self.steps, loss, acc, ips,
    eta and ('  sweep ETA ' .. eta) or ''))
  self.out:flush()
end

function Progress:epoch_done(e)
  if self.mode == 'none' then return end
  local eta = self.eta and self.eta(e.epoch / self.epochs) or nil
  self.out:write(string.format('%s%s epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  lr %.4g  %.0f img/s  %.1fs%s\n',
    self.mode == 'bar' and '\r\27[K' or '', self.label, e.epoch, self.epochs, e.train_loss, e.train_acc,
    e.test_acc, e.lr, e.images_per_s, e.seconds, eta and ('  sweep ETA ' .. eta) or ''))
  self.out:flush()
end

function Progress:message(s)
  if self.mode == 'none' then return end
  self.out:write((self.mode == 'bar' and '\r\27[K' or '') .. s .. '\n')
  self.out:flush()
end

---------------------------------------------------------------------------
-- evaluation

-- Top-1 accuracy (percent) of model on loader (evaluation mode), restoring training mode.
function train.evaluate(model, loader)
  local nn = normlab.nn
  local accuracy = nn.accuracy or nn.CrossEntropy.accuracy
  model:evaluate()
  local correct, n = 0, 0
  for x, y in loader:epoch(1) do
    if train.interrupted() then error('interrupted!', 0) end
    local out = model:forward(x)
    local b = y:size(1)
    correct = correct + accuracy(out, y) * b
    n = n + b
  end
  model:train()
  if n == 0 then error('train.evaluate: the test loader gave no images', 0) end
  return 100 * correct / n
end

---------------------------------------------------------------------------
-- one run

local function load_sets(o, s)
  local data = normlab.data
  local opts = {root = o.root, sample = s.sample or nil}
  if s.dataset == 'cifar100' then opts.labels = 'fine' end
  local function load(split)
    local t = {}
    for k, v in pairs(opts) do t[k] = v end
    t.split = split
    return data.load(s.dataset, t)
  end
  return o.train_set or load('train'), o.test_set or load('test')
end

function train.run(o)
  local nn, optim, models = normlab.nn, normlab.optim, normlab.models
  local cfg, s, seed = o.config, o.settings, o.seed
  assert(cfg and s and seed, 'train.run: config, settings and seed are required')
  local B = cfg.batch_size
  local train_set, test_set = load_sets(o, s)
  local loader = normlab.data.Loader(train_set, {batch_size = B, train = true, seed = seed,
    subset = s.subset, drop_last = true, pad = s.pad, flip = s.flip})
  local test_loader = normlab.data.Loader(test_set, {batch_size = o.eval_batch_size or 250, train = false,
    seed = seed, subset = s.test_subset})
  local nb = loader:num_batches()
  if nb < 1 then
    error(string.format('train.run: %d training images give no full batch of %d', s.subset or train_set.n, B), 0)
  end
  local model = models.plain{depth = cfg.depth, act = cfg.act, norm = cfg.norm, order = cfg.order,
    classes = train_set.num_classes, gen = normlab.Generator(seed, 'init'), width = s.width,
    groups = s.groups, eps = s.norm_eps, momentum = s.bn_momentum, negative_slope = s.leaky_slope}
  model:train()
  local crit = nn.CrossEntropy()
  local accuracy = nn.accuracy or nn.CrossEntropy.accuracy
  local bw, bg, params, grads = train.block_weights(model)
  local lr0 = s.lr * B / (s.lr_ref_batch or 128)
  local opt = optim.SGD(params, grads, {lr = lr0, momentum = s.momentum, weight_decay = s.weight_decay})
  local T = s.epochs * nb
  local function lr_at(t) return 0.5 * lr0 * (1 + math.cos(math.pi * t / T)) end

  local rec = {status = 'ok', per_epoch = {}, train_loss = {}, train_acc = {}, test_acc = {},
               grad_norm_mean = {}, steps_per_epoch = nb, lr0 = lr0, total_steps = T}
  local prog = new_progress(o, s.epochs, nb)
  local gsum_total = {}
  for b = 1, #bw do gsum_total[b] = 0 end
  local t_start = train.clock()
  local train_time, train_images = 0, 0
  local t = 0 -- global step, 0-based
  for epoch = 1, s.epochs do
    local e_start = train.clock()
    local loss_sum, correct, seen, steps = 0, 0, 0, 0
    local gsum = {}
    for b = 1, #bw do gsum[b] = 0 end
    for x, y in loader:epoch(epoch) do
      if train.interrupted() then error('interrupted!', 0) end
      local lr = lr_at(t)
      opt:set_lr(lr)
      model:zero_grad()
      local out = model:forward(x)
      local loss = crit:forward(out, y)
      steps = steps + 1
      if not finite(loss) then
        rec.status = 'diverged'
        rec.diverged = {epoch = epoch, step = steps, global_step = t + 1, loss = tostring(loss), lr = lr}
        prog:message(string.format('%s diverged: loss %s at epoch %d, step %d (lr %.4g)',
          o.label or '', tostring(loss), epoch, steps, lr))
        break
      end
      local gl = crit:backward(out, y)
      model:backward(x, gl, false)   -- no gradient for the images
      for b = 1, #bg do
        local g = bg[b]:norm()
        gsum[b] = gsum[b] + g
      end
      opt:step()
      local bsz = y:size(1)
      loss_sum = loss_sum + loss * bsz
      correct = correct + accuracy(out, y) * bsz
      seen = seen + bsz
      t = t + 1
      local now = train.clock()
      local ips = seen / math.max(now - e_start, 1e-3)
      prog:step(epoch, steps, loss_sum / seen, 100 * correct / seen, ips, now)
    end
    local t_train_end = train.clock()
    if rec.status == 'diverged' then
      train_time = train_time + (t_train_end - e_start)
      train_images = train_images + seen
      break
    end
    train_time = train_time + (t_train_end - e_start)
    train_images = train_images + seen
    local test_acc = train.evaluate(model, test_loader)
    local e_end = train.clock()
    local gn = {}
    for b = 1, #bw do
      gn[b] = gsum[b] / steps
      gsum_total[b] = gsum_total[b] + gsum[b]
    end
    local e = {epoch = epoch, train_loss = loss_sum / seen, train_acc = 100 * correct / seen,
               test_acc = test_acc, lr = lr_at(t - 1), seconds = round(e_end - e_start, 2),
               images_per_s = round(seen / math.max(t_train_end - e_start, 1e-3), 1), grad_norms = gn}
    rec.per_epoch[#rec.per_epoch + 1] = e
    rec.train_loss[epoch], rec.train_acc[epoch], rec.test_acc[epoch] = e.train_loss, e.train_acc, test_acc
    prog:epoch_done(e)
  end
  if t > 0 then
    for b = 1, #bw do rec.grad_norm_mean[b] = gsum_total[b] / t end
  end
  rec.final_test_acc = rec.status == 'ok' and rec.test_acc[s.epochs] or nil
  rec.wall_time = round(train.clock() - t_start, 2)
  rec.train_time = round(train_time, 2)
  rec.images_per_s = round(train_images / math.max(train_time, 1e-3), 1)
  rec.train_images = train_images
  return rec
end

return train
