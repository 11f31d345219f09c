-- normlab.sweep: a study is a list of runs; this runs them, resumably.
--
--   local sweep = require 'normlab.sweep'
--   os.exit(sweep.main(study, arg), true)
--
-- `study` (given by a script in scripts/) is a table:
--   name         'position' (results go to OUT/<name>.jsonl, OUT/<name>.md, OUT/<name>.png)
--   description  text for --help
--   dataset      the protocol's dataset ('cifar10' | 'cifar100')
--   options      extra cli options (see normlab.cli), e.g. {'depths', type = 'ints', default = {...}}
--   quick        values of options for --quick (an option the user gives wins)
--   adjust       optional function(opts, given) run after parsing (e.g. --many-epochs)
--   configs      function(opts) -> list of model configs {depth=, act=, norm=, order=, batch_size=}
--
-- Results: one JSON line per finished run, appended to OUT/<name>.jsonl in a single
-- write() on a file opened for appending (O_APPEND), then fsync'ed, so a process killed
-- at any moment leaves whole lines; a torn last line (e.g. a full disk) is ignored with
-- a warning when the file is read back, and the next line starts on a line of its own.
-- A run is identified by (study, config, settings, seed): runs already in the file are
-- skipped, so running the same command again resumes an interrupted sweep.
--
-- Exit status (sweep.main's return value): 0 when every planned run is in the results
-- (diverged runs count as finished) and the table/plots were written; 1 when a run or a
-- plot failed; 2 on a bad command line; 130 when interrupted (finished runs are kept).
local normlab = require 'normlab'
local cli = require 'normlab.cli'
local json = require 'normlab.json'
local report = require 'normlab.report'
local train = require 'normlab.train'

local sweep = {}

-- The protocol's numbers (../shared/PROTOCOL.md); every one is an option.
sweep.protocol = {epochs = 15, lr = 0.05, lr_ref_batch = 128, momentum = 0.9, weight_decay = 5e-4,
                  seeds = 1, seed_base = 1, width = 32, groups = 32, norm_eps = 1e-5, bn_momentum = 0.1,
                  leaky_slope = 0.01, pad = 4}

local P = sweep.protocol

local function q(s) return cli.shell_quote(s) end

local function say(fmt, ...) io.stdout:write(string.format(fmt, ...), '\n'); io.stdout:flush() end
local function warn(fmt, ...) io.stderr:write('warning: ', string.format(fmt, ...), '\n'); io.stderr:flush() end
local function err(fmt, ...) io.stderr:write('error: ', string.format(fmt, ...), '\n'); io.stderr:flush() end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() return true end
  return false
end

local function mkdir_p(dir) os.execute('mkdir -p ' .. q(dir)) end

local function read_all(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

local function shell_output(cmd)
  local p = io.popen(cmd .. ' 2>/dev/null')
  if not p then return nil end
  local s = p:read('a')
  p:close()
  return s and s:match('^%s*(.-)%s*$') or nil
end

---------------------------------------------------------------------------
-- the command line

local DATASETS = {'cifar10', 'cifar100'}

-- The option list of a study: common options, then the study's own.
function sweep.parser(study)
  local p = cli.parser{
    usage = 'normlab scripts/' .. study.name .. '.lua [options]',
    description = study.description,
    epilog = sweep.epilog(study),
  }
  local function opt(o) p:option(o) end
  -- what varies / the model (the study's own options come first)
  for _, o in ipairs(study.options or {}) do
    o.section = o.section or 'study'
    opt(o)
  end
  -- training (the protocol's numbers)
  opt{'epochs', type = 'int', default = P.epochs, min = 1, protocol = true, section = 'training (protocol)',
      help = 'training epochs per run'}
  opt{'lr', type = 'number', default = P.lr, protocol = true, section = 'training (protocol)',
      help = 'base learning rate at batch --lr-ref-batch (scaled linearly with the batch size, cosine per step)'}
  opt{'lr-ref-batch', type = 'int', default = P.lr_ref_batch, min = 1, protocol = true, section = 'training (protocol)',
      help = 'batch size at which the learning rate is --lr'}
  opt{'momentum', type = 'number', default = P.momentum, protocol = true, section = 'training (protocol)',
      help = 'SGD momentum (PyTorch form)'}
  opt{'weight-decay', type = 'number', default = P.weight_decay, protocol = true, section = 'training (protocol)',
      help = 'weight decay on every parameter, added to the gradient'}
  opt{'seeds', type = 'int', default = P.seeds, min = 1, section = 'training (protocol)',
      help = 'seeds per configuration (tables: mean ± sample std)'}
  opt{'seed-base', type = 'int', default = P.seed_base, section = 'training (protocol)',
      help = 'first seed (seeds are seed-base, seed-base+1, ...)'}
  -- the model's and the augmentation's numbers
  local M = 'model and augmentation (protocol)'
  opt{'width', type = 'int', default = P.width, min = 1, protocol = true, section = M,
      help = 'channels of the first stage (doubled in each later stage)'}
  opt{'groups', type = 'int', default = P.groups, min = 1, protocol = true, section = M, help = 'GroupNorm groups'}
  opt{'norm-eps', type = 'number', default = P.norm_eps, protocol = true, section = M, help = 'epsilon of BatchNorm and GroupNorm'}
  opt{'bn-momentum', type = 'number', default = P.bn_momentum, protocol = true, section = M,
      help = 'BatchNorm running-statistics momentum (running = (1-m) running + m batch)'}
  opt{'leaky-slope', type = 'number', default = P.leaky_slope, protocol = true, section = M,
      help = 'negative slope of LeakyReLU'}
  opt{'pad', type = 'int', default = P.pad, min = 0, protocol = true, section = M,
      help = 'zero padding before the random 32x32 crop (0: no crop)'}
  opt{'flip', type = 'flag', default = true, protocol = true, section = M,
      help = 'random left-right flips (--no-flip to turn off)'}
  -- data
  opt{'dataset', type = 'string', choices = DATASETS, default = study.dataset, protocol = true, tag = true,
      section = 'data', help = 'data set (never changed silently: the table says so)'}
  opt{'data', type = 'string', section = 'data', default_text = '$NORMLAB_DATA or ./data',
      help = 'data root holding cifar-10-batches-bin/ or cifar-100-binary/'}
  opt{'subset', type = 'int', min = 1, protocol = true, section = 'data', default_text = 'all (50,000)',
      help = 'train on the first N training images'}
  opt{'test-subset', type = 'int', min = 1, protocol = true, section = 'data', default_text = 'all (10,000)',
      help = 'test on the first N test images'}
  opt{'sample', type = 'flag', section = 'data',
      help = 'use the small CIFAR-10 sample bundled in data/sample (marked in every output)'}
  opt{'quick', type = 'flag', section = 'data',
      help = 'a preset that finishes the study in minutes on 2 cores (' .. sweep.quick_text(study)
        .. '; uses the sample when the full set is absent); its numbers are NOT the protocol\'s'}
  -- output
  opt{'out', type = 'string', section = 'output', default_text = 'results (results/quick with --quick, results/sample with --sample)',
      help = 'output folder for <study>.jsonl, .md and plots'}
  opt{'plot', type = 'string', choices = {'png', 'svg', 'terminal', 'none'}, default = 'png', section = 'output',
      help = 'plot format (terminal: gnuplot\'s text plot)'}
  opt{'progress', type = 'string', choices = {'auto', 'bar', 'lines', 'none'}, default = 'auto', section = 'output',
      help = 'progress display: a bar on a terminal, a line per epoch otherwise'}
  -- running
  opt{'threads', type = 'int', min = 1, section = 'running', default_text = 'normlab\'s (NORMLAB_THREADS or all cores)',
      help = 'threads in total (split between --jobs)'}
  opt{'jobs', type = 'int', default = 1, min = 1, section = 'running',
      help = 'runs side by side on this machine (child processes)'}
  opt{'list', type = 'flag', section = 'running', help = 'print one command per run (for Slurm or GNU parallel) and exit'}
  opt{'run-index', type = 'int', min = 1, section = 'running', metavar = 'I', default_text = '$SLURM_ARRAY_TASK_ID when set',
      help = 'run only run I of --list (1-based) and exit'}
  opt{'conv', type = 'string', choices = {'winograd-auto', 'auto', 'plain', 'winograd'}, default = 'winograd-auto',
      section = 'running',
      help = 'convolution algorithm (nn.Conv2d.algorithm): winograd-auto = Winograd F(4x4,3x3) forward and '
        .. 'backward wherever it pays (4x fewer multiplies, within about 1e-5 relative of im2col); auto = '
        .. 'the library default (forward by im2col + sgemm); plain = im2col everywhere; winograd = Winograd '
        .. 'on every 3x3 layer. Changes results only by rounding'}
  opt{'eval-batch-size', type = 'int', default = 250, min = 1, section = 'running',
      help = 'batch size for the test set (does not change results)'}
  return p
end

function sweep.quick_text(study)
  local parts = {}
  for _, k in ipairs(report.sorted_keys(study.quick or {})) do
    local v = study.quick[k]
    if type(v) == 'table' then v = table.concat(v, ',') end
    parts[#parts + 1] = '--' .. k:gsub('_', '-') .. ' ' .. tostring(v)
  end
  return table.concat(parts, ' ')
end

function sweep.epilog(study)
  local s = 'scripts/' .. study.name .. '.lua'
  return table.concat({
    'Results: OUT/' .. study.name .. '.jsonl (one JSON line per finished run; rerun the same command to resume),',
    'OUT/' .. study.name .. '.md (the table) and the plot. Redraw from results files: normlab scripts/report.lua FILE...',
    '',
    'On a cluster:  normlab ' .. s .. ' [options] --list > runs.txt   (one command per run), then either',
    '  parallel --joblog runs.log --resume -j 4 < runs.txt                  (GNU parallel), or (Slurm)',
    '  sbatch --array=1-$(wc -l < runs.txt) --wrap "normlab ' .. s .. ' [the same options]"',
    '  (each array task runs --run-index $SLURM_ARRAY_TASK_ID; rerun without --list/--run-index for the table)',
    'Every run appends one line to OUT/' .. study.name .. '.jsonl in a single write: fine for processes on one machine;',
    'across machines without a shared local disk (e.g. NFS), give each machine its own --out and merge with',
    'scripts/report.lua A/' .. study.name .. '.jsonl B/' .. study.name .. '.jsonl ...',
    'Exit status: 0 done, 1 a run or plot failed, 2 bad options, 130 interrupted.',
  }, '\n')
end

-- Applies --quick and the study's adjustments; decides the data kind. Returns opts.
local function settle(study, p, opts, given)
  if opts.quick then
    for k, v in pairs(study.quick or {}) do
      local key = k:gsub('-', '_')
      if not given[key] then opts[key] = v end
    end
  end
  if study.adjust then study.adjust(opts, given, p) end
  opts.data_root = opts.data or os.getenv('NORMLAB_DATA') or 'data'
  if opts.quick and not opts.sample then
    local probe = opts.dataset == 'cifar100' and '/cifar-100-binary/train.bin' or '/cifar-10-batches-bin/data_batch_1.bin'
    if not exists(opts.data_root .. probe) then
      if opts.dataset == 'cifar10' then
        opts.sample = true
        opts.sample_reason = opts.data_root .. probe .. ' is absent: --quick uses the bundled sample'
      end
    end
  end
  if opts.sample and opts.dataset ~= 'cifar10' then
    error(setmetatable({msg = '--sample exists for CIFAR-10 only (use --dataset cifar10 with --sample)'}, cli.Error), 0)
  end
  opts.data_kind = opts.quick and 'quick' or (opts.sample and 'sample' or 'full')
  opts.out = opts.out or (opts.quick and 'results/quick') or (opts.sample and 'results/sample') or 'results'
  opts.progress_mode = opts.progress ~= 'auto' and opts.progress or nil
  -- what differs from the protocol (listed in banners, tables and results)
  local devs, tags = {}, {}
  for _, o in ipairs(p.list) do
    if o.protocol then
      local v, d = opts[o.key], o.default
      local same
      if type(v) == 'table' and type(d) == 'table' then same = table.concat(v, ',') == table.concat(d, ',')
      else same = v == d end
      if not same then
        local show = type(v) == 'table' and table.concat(v, ',') or tostring(v)
        local dshow = d == nil and (o.default_text or 'unset') or (type(d) == 'table' and table.concat(d, ',') or tostring(d))
        devs[#devs + 1] = string.format('%s %s (protocol: %s)', o.name, show, dshow)
        if o.tag then tags[#tags + 1] = o.name .. '-' .. tostring(show):gsub('[^%w.]', '') end
      end
    end
  end
  opts.deviations, opts.name = devs, study.name .. (#tags > 0 and ('-' .. table.concat(tags, '-')) or '')
  return opts
end

---------------------------------------------------------------------------
-- the plan

local function settings_of(opts)
  return {dataset = opts.dataset, epochs = opts.epochs, subset = opts.subset, test_subset = opts.test_subset,
          lr = opts.lr, lr_ref_batch = opts.lr_ref_batch, momentum = opts.momentum,
          weight_decay = opts.weight_decay, sample = opts.sample or false, data = opts.data_kind,
          width = opts.width, groups = opts.groups, norm_eps = opts.norm_eps, bn_momentum = opts.bn_momentum,
          leaky_slope = opts.leaky_slope, pad = opts.pad, flip = opts.flip}
end

-- The runs of a study: seeds outermost, so a partial sweep fills whole tables first.
local VALID = {act = {relu = true, sigmoid = true, leakyrelu = true, tanh = true},
               norm = {bn = true, gn = true, none = true}, order = {cna = true, can = true}}

local function usage_error(msg) error(setmetatable({msg = msg}, cli.Error), 0) end

function sweep.plan(study, opts)
  local okc, configs = pcall(study.configs, opts)
  if not okc then
    if cli.is_error(configs) then error(configs, 0) end
    usage_error(tostring(configs))
  end
  for _, c in ipairs(configs) do
    for k, valid in pairs(VALID) do
      if not valid[c[k]] then
        local names = report.sorted_keys(valid)
        usage_error(string.format('%s "%s" is not one of %s', k, tostring(c[k]), table.concat(names, ', ')))
      end
    end
    if math.type(c.depth) ~= 'integer' or c.depth < 1 or c.depth > 8 then
      usage_error('depth ' .. tostring(c.depth) .. ' is outside 1..8')
    end
  end
  local settings = settings_of(opts)
  local runs = {}
  for i = 1, opts.seeds do
    local seed = opts.seed_base + i - 1
    for _, c in ipairs(configs) do
      runs[#runs + 1] = {index = #runs + 1, config = c, settings = settings, seed = seed,
                         key = report.run_key(study.name, c, settings, seed),
                         deviations = opts.deviations, data = opts.data_kind}
    end
  end
  return runs
end

function sweep.run_label(run)
  local c = run.config
  return string.format('depth %d %s %s %s B %d seed %d', c.depth, c.order, c.norm, c.act, c.batch_size, run.seed)
end

-- Relative cost of a run (for ETAs): multiply-adds of its training and evaluation.
function sweep.run_cost(run)
  local s, c = run.settings, run.config
  local macs = train.model_macs(c.depth, s.dataset == 'cifar100' and 100 or 10)
  local ntrain, ntest = s.subset or (s.sample and 2500 or 50000), s.test_subset or (s.sample and 500 or 10000)
  -- small batches cost more per image (per-step overhead): a rough allowance
  local step_overhead = 2e6 * (ntrain / c.batch_size)
  return s.epochs * (3 * macs * ntrain + macs * ntest + step_overhead)
end

---------------------------------------------------------------------------
-- the results file

-- Reads OUT/<study>.jsonl: records by key, warnings printed.
function sweep.load_results(path)
  local recs, warnings = report.load({path})
  for _, w in ipairs(warnings) do warn('%s', w) end
  local by_key = {}
  for _, r in ipairs(recs) do by_key[r.key] = r end
  return recs, by_key
end

-- Appends one record as one line, in one write, then fsyncs the file.
function sweep.append(path, rec)
  local line = json.encode(rec) .. '\n'
  local f, e = io.open(path, 'a+b')
  if not f then error('cannot open ' .. path .. ' for appending: ' .. tostring(e), 0) end
  local size = f:seek('end')
  if size and size > 0 then
    f:seek('set', size - 1)
    if f:read(1) ~= '\n' then line = '\n' .. line end -- after a torn line: start a fresh one
  end
  f:setvbuf('full', #line + 4096) -- the whole line goes out in one write(2) on flush
  local ok, werr = f:write(line)
  if not ok then f:close() error('cannot write ' .. path .. ': ' .. tostring(werr), 0) end
  ok, werr = f:flush()
  f:close()
  if not ok then error('cannot write ' .. path .. ': ' .. tostring(werr), 0) end
  local C = normlab.C
  if C and C.fsync then C.fsync(path) else os.execute('sync ' .. q(path) .. ' 2>/dev/null') end
end

local machine_cache
function sweep.machine()
  if machine_cache then return machine_cache end
  local cpu
  local info = read_all('/proc/cpuinfo') or ''
  cpu = info:match('model name%s*:%s*([^\n]+)')
  local cores = 0
  for _ in info:gmatch('\nprocessor%s*:') do cores = cores + 1 end
  if info:match('^processor%s*:') then cores = cores + 1 end
  machine_cache = {host = shell_output('uname -n') or '?', cpu = cpu or '?', cores = cores,
                   os = shell_output('uname -sr') or '?'}
  return machine_cache
end

---------------------------------------------------------------------------
-- running

-- The normlab program and the script, for child commands and --list.
local function program_and_script(argv)
  local lo = 0
  while argv[lo - 1] ~= nil do lo = lo - 1 end
  -- a relative program path stays as given: children run in the same directory
  return argv[lo] or 'normlab', argv[0] or 'scripts/study.lua'
end

local function user_args(argv)
  local a = {}
  for i = 1, #argv do a[i] = argv[i] end
  return a
end

local function child_command(p, argv, index, extra)
  local prog, script = program_and_script(argv)
  local args = p:strip(user_args(argv), {['list'] = true, ['jobs'] = true, ['run-index'] = true,
                                          ['threads'] = extra and extra.threads and true or nil,
                                          ['progress'] = extra and extra.progress and true or nil})
  local parts = {q(prog), q(script)}
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  parts[#parts + 1] = '--run-index'
  parts[#parts + 1] = tostring(index)
  if extra then
    if extra.threads then parts[#parts + 1] = '--threads'; parts[#parts + 1] = tostring(extra.threads) end
    if extra.progress then parts[#parts + 1] = '--progress'; parts[#parts + 1] = extra.progress end
  end
  return table.concat(parts, ' ')
end

local function make_record(study, run, rec, opts, t_started)
  rec.study, rec.key, rec.config, rec.settings, rec.seed = study.name, run.key, run.config, run.settings, run.seed
  rec.data, rec.sample = opts.data_kind, opts.sample or false
  rec.deviations = opts.deviations
  rec.normlab_version = normlab.version
  rec.machine = sweep.machine()
  rec.threads = normlab.threads and normlab.threads() or nil
  rec.conv_algorithm = normlab.nn.Conv2d.algorithm
  rec.started_at = t_started
  rec.finished_at = os.date('!%Y-%m-%dT%H:%M:%SZ')
  return rec
end

-- The sweep ETA: remaining cost at the rate measured so far in this process.
local function eta_fn(state)
  return function(frac_current)
    local now = train.clock()
    local done = state.done_cost + (state.current_cost or 0) * (frac_current or 0)
    if done <= 0 or now - state.t0 < 1 then return '?' end
    local rate = done / (now - state.t0)
    return train.fmt_time((state.total_cost - done) / rate)
  end
end

local function load_datasets(opts)
  local data = normlab.data
  local o = {root = opts.data_root, sample = opts.sample or nil}
  if opts.dataset == 'cifar100' then o.labels = 'fine' end
  local function load(split)
    local t = {split = split}
    for k, v in pairs(o) do t[k] = v end
    return data.load(opts.dataset, t)
  end
  return load('train'), load('test')
end

-- Runs `runs` one after the other in this process. Returns finished, failed, interrupted.
local function run_sequential(study, opts, runs, results_path, total_planned)
  if #runs == 0 then return 0, 0, false end
  local ok, train_set, test_set = pcall(load_datasets, opts)
  if not ok then
    if train.is_interrupt(train_set) then return 0, 0, true end
    err('%s', tostring(train_set))
    return 0, #runs, false
  end
  say('data: %s / %s', tostring(train_set), tostring(test_set))
  local state = {t0 = train.clock(), done_cost = 0, total_cost = 0}
  for _, r in ipairs(runs) do state.total_cost = state.total_cost + sweep.run_cost(r) end
  local eta = eta_fn(state)
  local finished, failed = 0, 0
  for n, run in ipairs(runs) do
    state.current_cost = sweep.run_cost(run)
    local label = string.format('[%d/%d] %s', run.index, total_planned, sweep.run_label(run))
    local started = os.date('!%Y-%m-%dT%H:%M:%SZ')
    if (opts.progress_mode or (train.stdout_is_tty() and 'bar' or 'lines')) ~= 'bar' then
      say('%s: training (%d of %d in this process)', label, n, #runs)
    end
    local okr, rec = pcall(train.run, {config = run.config, settings = run.settings, seed = run.seed,
      train_set = train_set, test_set = test_set, progress = opts.progress_mode, label = label,
      eta = #runs > 1 and eta or nil, eval_batch_size = opts.eval_batch_size})
    if not okr then
      if train.is_interrupt(rec) or train.interrupted() then return finished, failed, true end
      err('%s failed: %s', label, tostring(rec))
      failed = failed + 1
    else
      rec = make_record(study, run, rec, opts, started)
      local okw, werr = pcall(sweep.append, results_path, rec)
      if not okw then
        if train.is_interrupt(werr) then return finished, failed, true end
        err('%s: %s', label, tostring(werr))
        failed = failed + 1
      else
        finished = finished + 1
        state.done_cost = state.done_cost + state.current_cost
        state.current_cost = 0
        local what = rec.status == 'ok' and string.format('test accuracy %.2f%%', rec.final_test_acc)
          or string.format('DIVERGED at epoch %d, step %d', rec.diverged.epoch, rec.diverged.step)
        say('%s: %s (%s, %.0f img/s)%s', label, what, train.fmt_time(rec.wall_time), rec.images_per_s,
          n < #runs and ('; sweep ETA ' .. eta(0)) or '')
      end
    end
  end
  return finished, failed, false
end

local function sleep(s)
  local ok, how, code = os.execute('sleep ' .. s)
  if not ok and how == 'signal' then error('interrupted!', 0) end
  if train.interrupted() then error('interrupted!', 0) end
end

local function last_line(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local size = f:seek('end')
  f:seek('set', math.max(0, size - 400))
  local s = f:read('a') or ''
  f:close()
  s = s:gsub('\r', '\n')
  local line
  for l in s:gmatch('[^\n]+') do if l:find('%S') then line = l end end
  return line and line:gsub('\27%[K', '') or nil
end

-- Runs `runs` as up to opts.jobs child processes (normlab SCRIPT ... --run-index I).
local function run_jobs(study, p, argv, opts, runs, total_planned)
  local total_threads = opts.threads or (normlab.threads and normlab.threads()) or 1
  local per = math.max(1, total_threads // opts.jobs)
  local logdir = opts.out .. '/logs'
  mkdir_p(logdir)
  local state = {t0 = train.clock(), done_cost = 0, total_cost = 0}
  for _, r in ipairs(runs) do state.total_cost = state.total_cost + sweep.run_cost(r) end
  local tty = train.stdout_is_tty()
  say('%d runs as up to %d child processes with %d thread%s each; logs in %s/', #runs, opts.jobs, per,
    per == 1 and '' or 's', logdir)
  local queue, running, finished, failed = {}, {}, 0, 0
  for i, r in ipairs(runs) do queue[i] = r end
  local function start(run)
    local base = string.format('%s/%s-%d', logdir, study.name, run.index)
    os.remove(base .. '.status')
    os.remove(base .. '.pid')
    local cmd = child_command(p, argv, run.index, {threads = per, progress = 'lines'})
    local inner = 'echo $$ > ' .. q(base .. '.pid') .. '; exec ' .. cmd
    os.execute('(sh -c ' .. q(inner) .. ' > ' .. q(base .. '.log') .. ' 2>&1; echo $? > '
      .. q(base .. '.status') .. ') &')
    running[#running + 1] = {run = run, base = base, cost = sweep.run_cost(run), t = train.clock()}
  end
  local function poll()
    local still = {}
    for _, j in ipairs(running) do
      local st = read_all(j.base .. '.status')
      local code = st and tonumber(st:match('%d+'))
      if code then
        local label = string.format('[%d/%d] %s', j.run.index, total_planned, sweep.run_label(j.run))
        if code == 0 then
          finished = finished + 1
          state.done_cost = state.done_cost + j.cost
          local ll = last_line(j.base .. '.log') or ''
          say('%s%s: done in %s: %s; sweep ETA %s', tty and '\r\27[K' or '', label,
            train.fmt_time(train.clock() - j.t), ll:match('test accuracy [%d.]+%%') or ll:match('DIVERGED.-step %d+') or 'finished',
            eta_fn(state)(0))
        else
          failed = failed + 1
          err('%s exited with status %d; its log: %s.log', label, code, j.base)
          local ll = last_line(j.base .. '.log')
          if ll then io.stderr:write('  ', ll, '\n') end
        end
      else
        still[#still + 1] = j
      end
    end
    running = still
  end
  local function status_line()
    if not tty then return end
    local parts = {}
    local partial = 0
    for _, j in ipairs(running) do
      local ll = last_line(j.base .. '.log') or ''
      local e, E = ll:match('epoch (%d+)/(%d+)')
      if e then partial = partial + j.cost * tonumber(e) / tonumber(E) end
      parts[#parts + 1] = '#' .. j.run.index .. (e and (' ep ' .. e .. '/' .. E) or ' starting')
    end
    local done = state.done_cost + partial
    local now = train.clock()
    local eta = done > 0 and train.fmt_time((state.total_cost - done) / (done / (now - state.t0))) or '?'
    io.stdout:write(string.format('\r\27[K%d/%d done, running: %s | sweep ETA %s', finished, #runs,
      table.concat(parts, ', '), eta))
    io.stdout:flush()
  end
  local ok, e = pcall(function()
    while #queue > 0 or #running > 0 do
      while #running < opts.jobs and #queue > 0 do start(table.remove(queue, 1)) end
      sleep(0.5)
      poll()
      while #running < opts.jobs and #queue > 0 do start(table.remove(queue, 1)) end
      if #running > 0 then status_line() end
    end
  end)
  if tty then io.stdout:write('\r\27[K') end
  if ok then return finished, failed, false end
  if not train.is_interrupt(e) then error(e, 0) end
  -- interrupted: children got SIGINT from the terminal too; give them a moment, then ask again
  say('interrupted: waiting for %d running child process%s to stop ...', #running, #running == 1 and '' or 'es')
  if normlab.C and normlab.C.clear_interrupt then normlab.C.clear_interrupt() end
  for attempt = 1, 20 do
    local okp = pcall(function() os.execute('sleep 0.25') poll() end)
    if not okp or #running == 0 then break end
    if attempt == 8 then
      for _, j in ipairs(running) do
        local pid = (read_all(j.base .. '.pid') or ''):match('%d+')
        if pid then os.execute('kill -INT ' .. pid .. ' 2>/dev/null') end
      end
    end
  end
  return finished, failed, true
end

---------------------------------------------------------------------------
-- main

local function banner(study, opts, runs, done_count)
  local nconf = #runs // opts.seeds
  say('%s: %d configuration%s x %d seed%s = %d runs (%d already in %s/%s.jsonl, %d to run)', study.name,
    nconf, nconf == 1 and '' or 's', opts.seeds, opts.seeds == 1 and '' or 's', #runs, done_count,
    opts.out, study.name, #runs - done_count)
  local names = report.names.dataset
  say('  %s from %s%s; %d epoch(s); lr %g at batch %d (linear scaling, cosine per step), momentum %g, weight decay %g%s%s',
    names[opts.dataset] or opts.dataset, opts.sample and 'the bundled sample (data/sample)' or opts.data_root,
    opts.subset and (', first ' .. opts.subset .. ' training images') or '', opts.epochs, opts.lr,
    opts.lr_ref_batch, opts.momentum, opts.weight_decay,
    opts.test_subset and (', first ' .. opts.test_subset .. ' test images') or '',
    normlab.version and ('; normlab ' .. normlab.version) or '')
  if opts.quick then say('  QUICK preset: these numbers are NOT the protocol\'s (%s)', sweep.quick_text(study)) end
  if opts.sample then say('  SAMPLE data: these numbers are NOT the protocol\'s%s', opts.sample_reason and (' (' .. opts.sample_reason .. ')') or '') end
  if #opts.deviations > 0 then say('  differs from the protocol: %s', table.concat(opts.deviations, '; ')) end
end

-- Prints the table, writes the Markdown and the plots. Returns true when all went well.
function sweep.report(study, opts, runs)
  local all = sweep.load_results(opts.out .. '/' .. study.name .. '.jsonl')
  local keys = {}
  for _, r in ipairs(runs) do keys[r.key] = true end
  local recs = {}
  for _, r in ipairs(all) do if keys[r.key] then recs[#recs + 1] = r end end
  local _, files, errors = report.write(recs, {study = study.name, out = opts.out, plot = opts.plot,
    planned = runs, name = function() return opts.name end})
  for _, e in ipairs(errors) do
    if train.is_interrupt(e) then error(e, 0) end
    err('%s', e)
  end
  if #files > 0 then say('\nwritten: %s', table.concat(files, ', ')) end
  return #errors == 0
end

function sweep.main(study, argv)
  argv = argv or arg or {}
  local p = sweep.parser(study)
  local ok, opts, given = pcall(p.parse, p, argv)
  if ok then ok, opts = pcall(settle, study, p, opts, given) end
  if not ok then
    if cli.is_error(opts) then err('%s', tostring(opts)) return 2 end
    error(opts, 0)
  end
  if opts.help then io.stdout:write(p:help()) return 0 end
  if opts.threads and normlab.set_threads then normlab.set_threads(opts.threads) end
  normlab.nn.Conv2d.algorithm = opts.conv

  local okp, runs = pcall(sweep.plan, study, opts)
  if not okp then
    if cli.is_error(runs) then err('%s', tostring(runs)) return 2 end
    error(runs, 0)
  end
  if #runs == 0 then err('the study has no runs with these options') return 2 end
  if opts.list then
    for _, r in ipairs(runs) do io.stdout:write(child_command(p, argv, r.index), '\n') end
    return 0
  end

  mkdir_p(opts.out)
  local results_path = opts.out .. '/' .. study.name .. '.jsonl'
  local okl, _, by_key = pcall(sweep.load_results, results_path)
  if not okl then err('%s', tostring(_)) return 1 end

  local index = opts.run_index
  if not index and not given.jobs and os.getenv('SLURM_ARRAY_TASK_ID') then
    index = math.tointeger(tonumber(os.getenv('SLURM_ARRAY_TASK_ID')))
    if not index then err('SLURM_ARRAY_TASK_ID=%s is not a run index', os.getenv('SLURM_ARRAY_TASK_ID')) return 2 end
    say('run index %d from SLURM_ARRAY_TASK_ID', index)
  end
  if index then
    local run = runs[index]
    if not run then err('--run-index %d: the study has runs 1..%d (see --list)', index, #runs) return 2 end
    if by_key[run.key] then
      say('[%d/%d] %s: already in %s, skipped', index, #runs, sweep.run_label(run), results_path)
      return 0
    end
    local ndone = 0
    for _, r in ipairs(runs) do if by_key[r.key] then ndone = ndone + 1 end end
    banner(study, opts, runs, ndone)
    local fin, failed, interrupted = run_sequential(study, opts, {run}, results_path, #runs)
    if interrupted then
      say('interrupted: run %d not finished (nothing written for it)', index)
      return 130
    end
    return (failed > 0 or fin == 0) and 1 or 0
  end

  local pending, done_count = {}, 0
  for _, r in ipairs(runs) do
    if by_key[r.key] then done_count = done_count + 1 else pending[#pending + 1] = r end
  end
  banner(study, opts, runs, done_count)
  local t0 = train.clock()
  local fin, failed, interrupted
  if opts.jobs > 1 and #pending > 1 then
    fin, failed, interrupted = run_jobs(study, p, argv, opts, pending, #runs)
  else
    fin, failed, interrupted = run_sequential(study, opts, pending, results_path, #runs)
  end
  if interrupted then
    say('\ninterrupted: %d run%s finished in this session and kept in %s; run the same command to resume',
      fin, fin == 1 and '' or 's', results_path)
    return 130
  end
  if #pending > 0 then
    say('\n%d run%s finished in %s%s', fin, fin == 1 and '' or 's', train.fmt_time(train.clock() - t0),
      failed > 0 and (', ' .. failed .. ' FAILED') or '')
  end
  local okr, good = pcall(sweep.report, study, opts, runs)
  if not okr then
    if train.is_interrupt(good) then return 130 end
    err('report: %s', tostring(good))
    return 1
  end
  if failed > 0 or not good then return 1 end
  return 0
end

return sweep
