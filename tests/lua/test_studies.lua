-- The three studies end to end on tiny generated data (seconds): results lines and their
-- fields, resume after Ctrl-C and after kill -9 (nothing lost, nothing repeated), a torn
-- last line, --list / --run-index / SLURM_ARRAY_TASK_ID, --jobs, a diverging run, the
-- tables, valid PNGs of the expected size, the terminal plot, the report script, a
-- missing gnuplot, --sample and --quick marking.
--
-- The data: CIFAR-10 and CIFAR-100 files of the official sizes (the loader checks the
-- record counts) written as sparse files: the first few hundred records are real
-- (class-dependent images), the rest is a hole of zero bytes (label 0, black image).
-- Runs use --subset/--test-subset so only the real records are read by training.
local T = dofile('tests/lua/check.lua')
local json = require 'normlab.json'
local plot = require 'normlab.plot'

local NL = os.getenv('NORMLAB_BIN') or './normlab'
local tmp = os.tmpname()
os.remove(tmp)
os.execute('mkdir -p ' .. tmp)
local DATA = tmp .. '/data'

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, 'wb'))
  f:write(s)
  f:close()
end

---------------------------------------------------------------------------
-- tiny data

-- One record: label byte(s), then 3072 planar pixels; class c is a brightness
-- gradient whose direction and colour depend on c, plus a little noise.
local function record(labels, c, i)
  local px = {}
  local r, g, b = (c * 37) % 256, (c * 91 + 60) % 256, (c * 53 + 120) % 256
  for ch, base in ipairs({r, g, b}) do
    local row = {}
    for y = 0, 31 do
      local v = (base + ((c % 2 == 0) and y or (31 - y)) * 3 + (i * 7 + y * ch) % 11) % 256
      row[#row + 1] = string.char(v):rep(32)
    end
    px[ch] = table.concat(row)
  end
  return labels .. table.concat(px)
end

-- A file of `total` records of which the first `real` are written; the rest is a hole.
local function sparse_file(path, total, real, rec_size, make)
  local f = assert(io.open(path, 'wb'))
  local buf = {}
  for i = 1, real do
    buf[#buf + 1] = make(i)
    if #buf == 64 then f:write(table.concat(buf)); buf = {} end
  end
  f:write(table.concat(buf))
  local size = total * rec_size
  f:seek('set', size - 1)
  f:write('\0')
  f:close()
end

local function make_data()
  local d10 = DATA .. '/cifar-10-batches-bin'
  os.execute('mkdir -p ' .. q(d10) .. ' ' .. q(DATA .. '/cifar-100-binary'))
  local function c10(i) local c = (i * 7) % 10 return record(string.char(c), c, i) end
  sparse_file(d10 .. '/data_batch_1.bin', 10000, 400, 3073, c10)
  for k = 2, 5 do sparse_file(d10 .. '/data_batch_' .. k .. '.bin', 10000, 0, 3073, c10) end
  sparse_file(d10 .. '/test_batch.bin', 10000, 200, 3073, c10)
  write(d10 .. '/batches.meta.txt', 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n')
  local d100 = DATA .. '/cifar-100-binary'
  local function c100(i) local c = (i * 7) % 100 return record(string.char(c // 5, c), c, i) end
  sparse_file(d100 .. '/train.bin', 50000, 400, 3074, c100)
  sparse_file(d100 .. '/test.bin', 10000, 200, 3074, c100)
  local fine, coarse = {}, {}
  for i = 1, 100 do fine[i] = 'fine' .. i end
  for i = 1, 20 do coarse[i] = 'coarse' .. i end
  write(d100 .. '/fine_label_names.txt', table.concat(fine, '\n') .. '\n')
  write(d100 .. '/coarse_label_names.txt', table.concat(coarse, '\n') .. '\n')
  -- a sample in the bundled layout (2,500 train / 500 test records)
  local ds = tmp .. '/sample/cifar-10-batches-bin'
  os.execute('mkdir -p ' .. q(ds))
  sparse_file(ds .. '/data_batch_1.bin', 2500, 300, 3073, c10)
  sparse_file(ds .. '/test_batch.bin', 500, 200, 3073, c10)
  write(ds .. '/batches.meta.txt', read(d10 .. '/batches.meta.txt'))
end

---------------------------------------------------------------------------
-- running the scripts

-- Runs normlab with args; returns exit code, stdout, stderr.
local runs = 0
local function normlab(args, env)
  runs = runs + 1
  local out, err = string.format('%s/out%d.txt', tmp, runs), string.format('%s/err%d.txt', tmp, runs)
  local cmd = string.format('%s %s %s > %s 2> %s', env or '', q(NL), args, q(out), q(err))
  local ok, how, code = os.execute(cmd)
  local rc = ok and 0 or (how == 'exit' and code or 128 + (code or 0))
  return rc, read(out) or '', read(err) or '', cmd
end

local function expect_rc(rc, want, out, err, cmd)
  if rc ~= want then
    error(string.format('exit %d (expected %d) from %s\nstdout:\n%s\nstderr:\n%s', rc, want, cmd or '?',
      out:sub(-1500), err:sub(-1500)), 0)
  end
end

-- Common tiny settings: depth <= 2 models, 64 training and 64 test images, one epoch.
local TINY = '--data ' .. q(DATA) .. ' --epochs 1 --subset 64 --test-subset 64 --plot png --progress lines'

local function lines_of(path)
  local recs, warns = json.read_lines(path)
  return recs, warns
end

local function keys_of(recs)
  local t, n = {}, 0
  for _, r in ipairs(recs) do
    if t[r.key] then error('run repeated in the results: ' .. r.key, 0) end
    t[r.key] = true
    n = n + 1
  end
  return t, n
end

local function png_ok(path, w, h)
  local pw, ph = plot.png_size(path)
  if pw ~= w or ph ~= h then
    error(string.format('%s: %s x %s, expected a %d x %d PNG', path, tostring(pw), tostring(ph), w, h), 0)
  end
  -- and `file` agrees when it is installed
  local p = io.popen('file -b ' .. q(path) .. ' 2>/dev/null')
  local desc = p and p:read('a') or ''
  if p then p:close() end
  if desc ~= '' and not desc:find('PNG image data, ' .. w .. ' x ' .. h, 1, true) then
    error(path .. ': file(1) says ' .. desc, 0)
  end
end

local function wait_for_lines(path, n, pid, limit)
  for _ = 1, (limit or 600) do
    local s = read(path) or ''
    local _, count = s:gsub('\n', '')
    if count >= n then return count end
    if pid and os.execute('kill -0 ' .. pid .. ' 2>/dev/null') ~= true then return count end
    os.execute('sleep 0.1')
  end
  return -1
end

local function spawn(args, log)
  local pidfile = tmp .. '/pid'
  os.execute(string.format('%s %s > %s 2>&1 & echo $! > %s', q(NL), args, q(log), q(pidfile)))
  return (read(pidfile) or ''):match('%d+')
end

local function wait_exit(pid)
  for _ = 1, 300 do
    if os.execute('kill -0 ' .. pid .. ' 2>/dev/null') ~= true then return true end
    os.execute('sleep 0.1')
  end
  return false
end

---------------------------------------------------------------------------

T.test('tiny CIFAR-10 / CIFAR-100 files are written', function()
  make_data()
  local f = io.open(DATA .. '/cifar-100-binary/train.bin', 'rb')
  T.eq(f:seek('end'), 50000 * 3074, 'CIFAR-100 train size')
  f:close()
end)

local OUT = tmp .. '/pos'
local POS = 'scripts/position.lua ' .. TINY .. ' --depth 2 --batch-size 16 --out ' .. q(OUT)
local POSNAME = OUT .. '/position-depth-2-batch-size-16'

T.test('position: three runs, one JSON line each with every field', function()
  local rc, out, err, cmd = normlab(POS)
  expect_rc(rc, 0, out, err, cmd)
  local recs, warns = lines_of(OUT .. '/position.jsonl')
  T.eq(#recs, 3, 'results lines')
  T.eq(#warns, 0, 'warnings')
  for _, r in ipairs(recs) do
    T.eq(r.study, 'position')
    T.eq(r.seed, 1)
    T.eq(r.status, 'ok')
    T.eq(r.data, 'full')
    T.eq(r.config.depth, 2)
    T.eq(r.config.batch_size, 16)
    T.eq(r.settings.epochs, 1)
    T.eq(#r.train_loss, 1, 'per-epoch train loss')
    T.eq(#r.train_acc, 1, 'per-epoch train accuracy')
    T.eq(#r.test_acc, 1, 'per-epoch test accuracy')
    T.truthy(r.final_test_acc >= 0 and r.final_test_acc <= 100, 'final accuracy in percent')
    T.truthy(r.wall_time > 0 and r.images_per_s > 0, 'wall time and images/s')
    T.truthy(type(r.normlab_version) == 'string' and #r.normlab_version > 0, 'normlab version')
    T.truthy(type(r.machine) == 'table' and r.machine.host and r.machine.cpu, 'machine')
    T.eq(#r.grad_norm_mean, 2, 'one gradient norm per block')
  end
  local orders = {}
  for _, r in ipairs(recs) do orders[#orders + 1] = r.config.order .. '-' .. r.config.act end
  T.eq(table.concat(orders, ' '), 'cna-relu can-relu can-leakyrelu')
  local md = read(POSNAME .. '.md') or error('no table written beside the results', 0)
  T.truthy(md:find('| Configuration | accuracy (%) |', 1, true), md)
  T.truthy(md:find('| Conv → BatchNorm → ReLU | %d+%.%d%d |'), md)
  T.truthy(md:find('| Conv → LeakyReLU → BatchNorm |', 1, true), md)
  T.truthy(out:find('Conv → ReLU → BatchNorm', 1, true), 'table printed')
  png_ok(POSNAME .. '.png', 800, 600)
end)

T.test('position: rerunning skips finished runs', function()
  local before = read(OUT .. '/position.jsonl')
  local rc, out, err, cmd = normlab(POS)
  expect_rc(rc, 0, out, err, cmd)
  T.truthy(out:find('3 already in', 1, true), out)
  T.eq(read(OUT .. '/position.jsonl'), before, 'results file unchanged')
end)

T.test('a torn last line is ignored with a warning; new lines start fresh', function()
  local path = OUT .. '/position.jsonl'
  local f = io.open(path, 'ab')
  f:write('{"study":"position","config":{"act":"re')
  f:close()
  local rc, out, err, cmd = normlab(POS .. ' --seeds 2')
  expect_rc(rc, 0, out, err, cmd)
  T.truthy(err:find('torn line', 1, true), err)
  local recs, warns = lines_of(path)
  T.eq(#recs, 6, 'the 3 old runs kept, 3 new ones (seed 2) added')
  T.eq(#warns, 1, 'the torn fragment stays a warning')
  local _, n = keys_of(recs)
  T.eq(n, 6)
  local md = read(POSNAME .. '.md')
  T.truthy(md:find('%d+%.%d%d ± %d+%.%d%d'), 'mean ± std over 2 seeds:\n' .. md)
end)

local SVR = tmp .. '/svr'
local SVR_ARGS = 'scripts/sigmoid_vs_relu.lua ' .. TINY .. ' --depths 1,2 --seeds 2 --batch-size 16 --out ' .. q(SVR)

T.test('sigmoid_vs_relu: --list prints one command per run', function()
  local rc, out, err, cmd = normlab(SVR_ARGS .. ' --list')
  expect_rc(rc, 0, out, err, cmd)
  local cmds = {}
  for l in out:gmatch('[^\n]+') do cmds[#cmds + 1] = l end
  T.eq(#cmds, 8, 'depths 1,2 x sigmoid,relu x 2 seeds')
  for i, c in ipairs(cmds) do
    local tail = ' --run-index ' .. i
    T.truthy(c:find('scripts/sigmoid_vs_relu.lua', 1, true) and c:sub(-#tail) == tail, c)
    T.truthy(not c:find('--list', 1, true), c)
  end
end)

T.test('--run-index and SLURM_ARRAY_TASK_ID run exactly one run', function()
  local rc, out, err, cmd = normlab(SVR_ARGS .. ' --run-index 2')
  expect_rc(rc, 0, out, err, cmd)
  local recs = lines_of(SVR .. '/sigmoid_vs_relu.jsonl')
  T.eq(#recs, 1)
  T.eq(recs[1].config.depth, 1)
  T.eq(recs[1].config.act, 'relu', 'run 2 is depth 1, relu, seed 1')
  rc, out, err, cmd = normlab(SVR_ARGS, 'SLURM_ARRAY_TASK_ID=7')
  expect_rc(rc, 0, out, err, cmd)
  recs = lines_of(SVR .. '/sigmoid_vs_relu.jsonl')
  T.eq(#recs, 2)
  T.eq(recs[2].seed, 2)
  T.eq(recs[2].config.depth, 2)
  T.eq(recs[2].config.act, 'sigmoid', 'run 7 is depth 2, sigmoid, seed 2')
  rc, out, err = normlab(SVR_ARGS .. ' --run-index 2')
  expect_rc(rc, 0, out, err)
  T.truthy(out:find('already in', 1, true), 'a finished run is skipped')
  rc, out, err = normlab(SVR_ARGS .. ' --run-index 9')
  T.eq(rc, 2, 'an index past the end is a usage error')
end)

T.test('Ctrl-C keeps the finished runs; kill -9 loses nothing; resume repeats nothing', function()
  local path = SVR .. '/sigmoid_vs_relu.jsonl'
  -- SIGINT after one more line
  local pid = spawn(SVR_ARGS, tmp .. '/int.log')
  T.truthy(pid, 'started')
  local n = wait_for_lines(path, 3, pid)
  os.execute('kill -INT ' .. pid .. ' 2>/dev/null')
  T.truthy(wait_exit(pid), 'stopped after Ctrl-C')
  local log = read(tmp .. '/int.log') or ''
  local recs = lines_of(path)
  if #recs < 8 then
    T.truthy(log:find('interrupted', 1, true) and log:find('run the same command to resume', 1, true),
      'says interrupted:\n' .. log)
  end
  if os.getenv('TEST_VERBOSE') then print('# ' .. log:gsub('\n', '\n# ')) end
  local kept = read(path)
  T.truthy(n >= 3 and #recs >= 3, 'finished runs kept (' .. #recs .. ')')
  -- kill -9 in the middle
  pid = spawn(SVR_ARGS, tmp .. '/kill.log')
  wait_for_lines(path, #recs + 1, pid)
  os.execute('kill -9 ' .. pid .. ' 2>/dev/null')
  wait_exit(pid)
  local after_kill = read(path)
  T.eq(after_kill:sub(1, #kept), kept, 'lines written before the kill are untouched')
  -- resume to the end
  local rc, out, err, cmd = normlab(SVR_ARGS)
  expect_rc(rc, 0, out, err, cmd)
  recs = lines_of(path)
  local _, count = keys_of(recs)
  T.eq(count, 8, 'every run exactly once')
  T.eq(read(path):sub(1, #after_kill), after_kill, 'resume only appends')
  local md = read(SVR .. '/sigmoid_vs_relu-batch-size-16.md') or error('no table', 0)
  T.truthy(md:find('| Depth | Sigmoid accuracy (%) | ReLU accuracy (%) |', 1, true), md)
  png_ok(SVR .. '/sigmoid_vs_relu-batch-size-16.png', 800, 600)
  png_ok(SVR .. '/sigmoid_vs_relu-batch-size-16_grads.png', 800, 600)
end)

T.test('bn_vs_gn on CIFAR-100 with --jobs 2: log2 axis, both norms', function()
  local out_dir = tmp .. '/bg'
  local rc, out, err, cmd = normlab('scripts/bn_vs_gn.lua ' .. TINY .. ' --depth 2 --batch-sizes 8,16 --jobs 2 --threads 2 --out ' .. q(out_dir))
  expect_rc(rc, 0, out, err, cmd)
  local recs = lines_of(out_dir .. '/bn_vs_gn.jsonl')
  local _, count = keys_of(recs)
  T.eq(count, 4, 'batch sizes 8,16 x bn,gn')
  for _, r in ipairs(recs) do T.eq(r.settings.dataset, 'cifar100') end
  T.truthy(read(out_dir .. '/logs/bn_vs_gn-1.log'), 'child logs kept')
  local base = out_dir .. '/bn_vs_gn-depth-2'
  local md = read(base .. '.md') or error('no table', 0)
  T.truthy(md:find('| Batch size | BatchNorm accuracy (%) | GroupNorm accuracy (%) |', 1, true), md)
  T.truthy((read(base .. '.gp') or ''):find('set logscale x 2', 1, true), 'log2 axis')
  png_ok(base .. '.png', 800, 600)
end)

T.test('a diverging run is recorded as diverged and never averaged', function()
  local out_dir = tmp .. '/div'
  local rc, out, err, cmd = normlab('scripts/position.lua ' .. TINY .. ' --depth 2 --batch-size 16 --lr 1e30 '
    .. '--configs cna-bn-relu --out ' .. q(out_dir))
  expect_rc(rc, 0, out, err, cmd)
  local recs = lines_of(out_dir .. '/position.jsonl')
  T.eq(#recs, 1)
  T.eq(recs[1].status, 'diverged')
  T.eq(recs[1].diverged.epoch, 1)
  T.truthy(recs[1].diverged.step >= 1, 'step recorded')
  T.eq(recs[1].final_test_acc, nil, 'no accuracy for a diverged run')
  local md = read(out_dir .. '/position-depth-2-batch-size-16.md') or error('no table', 0)
  T.truthy(md:find('| Conv → BatchNorm → ReLU | diverged |', 1, true), md)
end)

T.test('report.lua redraws from several results files', function()
  local out_dir = tmp .. '/rep'
  local rc, out, err, cmd = normlab('scripts/report.lua ' .. q(OUT .. '/position.jsonl') .. ' '
    .. q(OUT .. '/position.jsonl') .. ' ' .. q(SVR .. '/sigmoid_vs_relu.jsonl') .. ' --out ' .. q(out_dir))
  expect_rc(rc, 0, out, err, cmd)
  T.truthy(err:find('duplicate', 1, true), 'duplicates reported: ' .. err)
  T.truthy(out:find('Sigmoid accuracy (%)', 1, true) and out:find('Conv → BatchNorm → ReLU', 1, true), out)
  png_ok(out_dir .. '/position.png', 800, 600)
  png_ok(out_dir .. '/sigmoid_vs_relu.png', 800, 600)
  T.truthy(read(out_dir .. '/sigmoid_vs_relu.md'), 'Markdown table')
end)

T.test('--plot terminal draws in the terminal', function()
  local rc, out, err, cmd = normlab(POS .. ' --plot terminal')
  expect_rc(rc, 0, out, err, cmd)
  T.truthy(out:find('test accuracy', 1, true) and out:find('+---', 1, true), out)
end)

T.test('without gnuplot: results and table written, the error says how to install it', function()
  local out_dir = tmp .. '/nognuplot'
  local rc, out, err = normlab('scripts/position.lua ' .. TINY .. ' --depth 1 --batch-size 16 --configs cna-bn-relu --out '
    .. q(out_dir), 'NORMLAB_GNUPLOT=/nonexistent/gnuplot')
  T.eq(rc, 1, 'exit status')
  T.truthy(err:find('apt-get install gnuplot-nox', 1, true), err)
  T.eq(#lines_of(out_dir .. '/position.jsonl'), 1, 'results written')
  T.truthy(read(out_dir .. '/position-depth-1-batch-size-16.md'), 'table written')
end)

T.test('--sample and --quick say so in results, banner and table', function()
  local out_dir = tmp .. '/sample'
  local env = 'NORMLAB_SAMPLE_DIR=' .. q(tmp .. '/sample')
  local rc, out, err, cmd = normlab('scripts/sigmoid_vs_relu.lua --sample --depths 1 --acts relu --epochs 1 '
    .. '--subset 64 --test-subset 64 --batch-size 16 --plot none --out ' .. q(out_dir), env)
  expect_rc(rc, 0, out, err, cmd)
  T.truthy(out:find('SAMPLE', 1, true), out)
  local recs = lines_of(out_dir .. '/sigmoid_vs_relu.jsonl')
  T.eq(recs[1].data, 'sample')
  T.eq(recs[1].sample, true)
  -- --quick with no full data set under --data: the sample, marked quick
  rc, out, err, cmd = normlab('scripts/sigmoid_vs_relu.lua --quick --data ' .. q(tmp .. '/empty') .. ' --depths 1 '
    .. '--acts relu --epochs 1 --subset 64 --test-subset 64 --batch-size 16 --plot none --out ' .. q(out_dir .. '/q'), env)
  expect_rc(rc, 0, out, err, cmd)
  T.truthy(out:find("QUICK preset: these numbers are NOT the protocol's", 1, true), out)
  recs = lines_of(out_dir .. '/q/sigmoid_vs_relu.jsonl')
  T.eq(recs[1].data, 'quick')
  T.eq(recs[1].sample, true)
  local md = read(out_dir .. '/q/sigmoid_vs_relu-batch-size-16.md') or error('no table', 0)
  T.truthy(md:find("QUICK preset", 1, true) and md:find('SAMPLE data', 1, true), md)
end)

T.test('a run that fails makes the exit status non-zero', function()
  local rc, out, err = normlab('scripts/position.lua ' .. TINY .. ' --depth 1 --batch-size 128 --configs cna-bn-relu '
    .. '--plot none --out ' .. q(tmp .. '/fail'))
  T.eq(rc, 1, 'exit status')
  T.truthy(err:find('failed', 1, true) and err:find('128', 1, true), err)
end)

T.test('--help, bad options and bad values exit as documented', function()
  local rc, out = normlab('scripts/bn_vs_gn.lua --help')
  T.eq(rc, 0)
  for _, o in ipairs({'--epochs', '--subset', '--seeds', '--batch-sizes', '--data', '--out', '--threads',
                      '--dataset', '--quick', '--sample', '--plot', '--jobs', '--list', '--run-index', '--lr',
                      '--momentum', '--weight-decay', '--seed-base', '--many-epochs'}) do
    T.truthy(out:find(o, 1, true), o .. ' in --help')
  end
  local err
  rc, _, err = normlab('scripts/position.lua --epoch 3')
  T.eq(rc, 2)
  T.truthy(err:find('unknown option --epoch', 1, true), err)
  rc, _, err = normlab('scripts/position.lua --configs cna-bn-swish --data ' .. q(DATA))
  T.eq(rc, 2)
  T.truthy(err:find('act "swish"', 1, true), err)
  rc, _, err = normlab('scripts/bn_vs_gn.lua --sample')
  T.eq(rc, 2, '--sample is CIFAR-10 only')
  local list
  rc, list, err = normlab('scripts/sigmoid_vs_relu.lua --norm none --depths 8 --list')
  T.eq(rc, 0, err)
  local _, n = list:gsub('%-%-norm none', '')
  T.eq(n, 2, '--norm none: one sigmoid and one relu run at depth 8')
  rc, list = normlab('scripts/bn_vs_gn.lua --many-epochs --list')
  T.eq(rc, 0)
  local _, n2 = list:gsub('\n', '')
  T.eq(n2, 14, 'bn_vs_gn: 7 batch sizes x 2 norms')
  local out
  rc, out = normlab('scripts/bn_vs_gn.lua --many-epochs --run-index 1 --data /nonexistent', 'NORMLAB_OFFLINE=1')
  T.eq(rc, 1, 'missing data is a failure')
  T.truthy(out:find('60 epoch(s)', 1, true) and not out:find('epochs 60 (protocol', 1, true),
    '--many-epochs trains 60 epochs, the protocol number:\n' .. out)
end)

os.execute('rm -rf ' .. q(tmp))
T.done()
