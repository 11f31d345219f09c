-- test_data.lua: normlab.data as docs/API.md describes it: load (CIFAR-10,
-- CIFAR-100 fine/coarse, Fashion-MNIST, the bundled sample, the real copy in
-- ../shared/data), corrupt files, the offline message, root selection, and the
-- Loader (shapes, normalization, determinism for a seed, drop_last, subset,
-- buffer reuse).
local T = dofile('tests/lua/check.lua')
local U = dofile('tests/data/util.lua')
local data = normlab.data
local q = U.q
local normlab_bin = os.getenv('NORMLAB_BIN') or './normlab'

local CIFAR10_MEAN, CIFAR10_STD = {0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}

local function max_abs_diff(a, b) return (a - b):norm() end

-- generated sets ----------------------------------------------------------

local root = U.tmpdir('lua')
U.make_cifar10(root, 7)
U.make_cifar100(root, 30)

T.test('cifar10 from generated files: counts, label order, classes, pixels', function()
  local ds = data.load('cifar10', {root = root, any_size = true})
  T.eq(ds.n, 35, 'n')
  T.eq(ds.num_classes, 10, 'num_classes')
  T.eq(ds.classes[1], 'airplane', 'first class name')
  T.eq(#ds.classes, 10, 'class names (blank lines skipped)')
  T.eq(ds.sample, false, 'sample flag')
  T.eq(ds.split, 'train', 'split')
  for i = 1, ds.n do T.eq(ds:label(i), (i - 1) % 10, 'label ' .. i) end
  local img = ds:image(9)   -- record 8 overall (data_batch_2.bin, record 1)
  local px = U.pixels(8)
  T.eq(img:size(1), 3, 'channels')
  T.eq(img:get(1, 1, 1), px:byte(1), 'red (0,0)')
  T.eq(img:get(3, 32, 32), px:byte(3072), 'blue (31,31)')
  T.eq(img:get(2, 2, 3), px:byte(1024 + 32 + 3), 'green (1,2): planar, row-major')
  local te = data.load('cifar10', {root = root, split = 'test', any_size = true})
  T.eq(te.n, 7, 'test n')
  T.eq(te:label(1), 3, 'test label 1')
  T.truthy(tostring(ds):find('cifar10 train [partial: 35 of the 50000 images]: 35 images 3x32x32, 10 classes', 1,
    true), tostring(ds))
end)

T.test('cifar10: the official record counts are enforced by default', function()
  local msg = T.err(function() data.load('cifar10', {root = root}) end, 'data_batch_1.bin: wrong file size 21511 bytes')
  T.truthy(msg:find('expected 30730000 bytes (10000 records of 3073 bytes)', 1, true), msg)
  T.truthy(msg:find('any_size=true', 1, true), 'hint: ' .. msg)
end)

T.test('cifar100: fine labels by default, coarse selectable, class names from the meta files', function()
  local ds = data.load('cifar100', {root = root, any_size = true})
  T.eq(ds.n, 30, 'n')
  T.eq(ds.num_classes, 100, 'fine classes')
  for i = 1, 30 do T.eq(ds:label(i), (7 * (i - 1)) % 100, 'fine label ' .. i) end
  T.eq(ds.classes[8], 'fine7', 'fine class name')
  local co = data.load('cifar100', {root = root, labels = 'coarse', split = 'test', any_size = true})
  T.eq(co.num_classes, 20, 'coarse classes')
  for i = 1, 30 do T.eq(co:label(i), (i - 1) % 20, 'coarse label ' .. i) end
  T.eq(co.classes[20], 'coarse19', 'coarse class name')
  T.truthy(tostring(co):find('coarse labels', 1, true), tostring(co))
  T.near(ds.mean[1], 0.5071, 0, 'CIFAR-100 mean')
  T.near(ds.std[3], 0.2762, 0, 'CIFAR-100 std')
  T.err(function() data.load('cifar10', {root = root, labels = 'coarse', any_size = true}) end, 'only in CIFAR-100')
end)

T.test('corrupt files: truncated record, label out of range, bad meta; nothing loaded', function()
  local r = U.tmpdir('bad')
  local dir = U.make_cifar10(r, 4)
  local good = U.read(dir .. '/data_batch_3.bin')
  U.write(dir .. '/data_batch_3.bin', good:sub(1, #good - 10))
  local msg = T.err(function() data.load('cifar10', {root = r, any_size = true}) end, 'data_batch_3.bin')
  T.truthy(msg:find('record 3 at byte offset 9219 is truncated', 1, true), msg)
  U.write(dir .. '/data_batch_3.bin', good:sub(1, 3073) .. '\11' .. good:sub(3075))
  msg = T.err(function() data.load('cifar10', {root = r, any_size = true}) end,
    'data_batch_3.bin: record 1 (byte offset 3073): label 11 out of range 0..9')
  U.write(dir .. '/data_batch_3.bin', good)
  U.write(dir .. '/batches.meta.txt', 'a\nb\n')
  T.err(function() data.load('cifar10', {root = r, any_size = true}) end, 'lists 2 class names, expected 10')
  local r2 = U.tmpdir('bad100')
  local d2 = U.make_cifar100(r2, 3)
  local t = U.read(d2 .. '/train.bin')
  U.write(d2 .. '/train.bin', t:sub(1, 3074 * 2 + 1) .. '\100' .. t:sub(3074 * 2 + 3))
  T.err(function() data.load('cifar100', {root = r2, any_size = true}) end,
    'train.bin: record 2 (byte offset 6149): fine label 100 out of range 0..99')
end)

T.test('a missing set without downloading: which files, where, how to get and place them', function()
  local r = U.tmpdir('miss')
  local msg = T.err(function() data.load('cifar100', {root = r, download = false}) end, 'missing:')
  for _, part in ipairs{'train.bin', 'test.bin', 'fine_label_names.txt', r .. '/cifar-100-binary',
                        'cifar-100-binary.tar.gz', '03b5dce01913d631647c71ecec9e9cb8', 'put it:'} do
    T.truthy(msg:find(part, 1, true), 'has "' .. part .. '": ' .. msg)
  end
  local ok, missing = data.available('cifar100', {root = r})
  T.eq(ok, false, 'available')
  T.eq(#missing, 4, 'missing count')
  T.eq(data.available('cifar10', {root = root}), true, 'generated set is available')
end)

T.test('data.root: opts.root, else NORMLAB_DATA, else ./data', function()
  T.eq(data.root({root = '/x/y/'}), '/x/y', 'opts.root')
  T.eq(data.root({data = '/d'}), '/d', 'opts.data')
  local env = os.getenv('NORMLAB_DATA')
  T.eq(data.root({}), (env and env ~= '') and env or './data', 'default')
  local out = U.capture(string.format('NORMLAB_DATA=/from/env %s -e %s', q(normlab_bin),
    q('io.write(normlab.data.root(), " ", normlab.data.root{root="/opt"})')))
  T.eq(out, '/from/env /opt', 'environment')
  out = U.capture(string.format('env -u NORMLAB_DATA %s -e %s', q(normlab_bin), q('io.write(normlab.data.root())')))
  T.eq(out, './data', 'fallback')
end)

T.test('unknown names and bad options', function()
  T.err(function() data.load('imagenet') end, "unknown dataset 'imagenet' (known: cifar10, cifar100, fashion-mnist, mnist)")
  T.err(function() data.load('cifar10', {split = 'val'}) end, "split must be 'train' or 'test'")
  T.err(function() data.load('cifar100', {sample = true}) end, 'no bundled sample of cifar100')
  T.eq(data.canonical('CIFAR-10'), 'cifar10', 'alias')
end)

-- the bundled sample -------------------------------------------------------

local sample_ok = U.exists(data.sample_root() .. '/cifar-10-batches-bin/data_batch_1.bin')
local sample, sample_test
if sample_ok then
  T.test('the bundled sample: 2500 + 500 real images, marked as a sample', function()
    sample = data.load('cifar10', {sample = true})
    sample_test = data.load('cifar10', {sample = true, split = 'test'})
    T.eq(sample.n, 2500, 'train n')
    T.eq(sample_test.n, 500, 'test n')
    T.eq(sample.sample, true, 'ds.sample')
    T.truthy(tostring(sample):find('[SAMPLE: 2500 of the 50000 images; not the full set]', 1, true), tostring(sample))
    T.truthy(tostring(sample_test):find('SAMPLE: 500 of the 10000', 1, true), tostring(sample_test))
    local counts, total = sample:label_counts(), 0
    for k = 1, 10 do
      T.truthy(counts[k] > 150 and counts[k] < 350, 'class ' .. (k - 1) .. ' count ' .. counts[k])
      total = total + counts[k]
    end
    T.eq(total, 2500, 'histogram total')
    T.eq(sample.mean[1], CIFAR10_MEAN[1], 'mean constant')
  end)
else
  T.skip('the bundled sample', 'data/sample not found')
end

-- the loader ---------------------------------------------------------------

if sample then
  T.test('Loader(train): shapes, batch count with the last partial batch dropped, buffers reused', function()
    local L = data.Loader(sample, {batch_size = 128, seed = 3})
    T.eq(L:num_batches(), 19, 'num_batches (2500 // 128)')
    local n, last_x, same = 0, nil, true
    for x, y, i in L:epoch(1) do
      T.eq(x:shape_str(), '(128,3,32,32)', 'x shape')
      T.eq(y:shape_str(), '(128)', 'y shape')
      if last_x and not rawequal(x, last_x) then same = false end
      last_x = x
      n = n + 1
      T.eq(i, n, 'batch index')
    end
    T.eq(n, 19, 'batches seen')
    T.truthy(same, 'the same x tensor is refilled every batch (no allocation when warm)')
    T.truthy(tostring(L):find('19 batches', 1, true), tostring(L))
  end)

  T.test('Loader(test): in order, unaugmented, normalized exactly, last partial batch kept', function()
    local L = data.Loader(sample_test, {batch_size = 128, train = false})
    T.eq(L:num_batches(), 4, 'num_batches')
    local sizes, xs, ys = {}, {}, {}
    for x, y, i in L:epoch() do sizes[i] = y:size(1); xs[i] = x:clone(); ys[i] = y:clone() end
    T.eq(sizes[4], 500 - 3 * 128, 'last batch size')
    -- image 1: (v/255 - mean)/std per channel
    local img = sample_test:image(1)
    local worst = 0
    for c = 1, 3 do
      for _, p in ipairs{{1, 1}, {5, 17}, {32, 32}} do
        local want = (img:get(c, p[1], p[2]) / 255 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]
        worst = math.max(worst, math.abs(xs[1]:get(1, c, p[1], p[2]) - want))
      end
    end
    T.truthy(worst < 1e-5, 'normalization error ' .. worst)
    -- in order: labels follow the file
    for k = 1, 116 do T.eq(ys[4]:get(k), sample_test:label(384 + k), 'label ' .. k) end
    -- unaugmented: two passes give identical batches
    local x1 = L:batch(2):clone()
    T.eq(max_abs_diff(x1, xs[2]), 0, 'test batches repeat exactly')
  end)

  T.test('Loader determinism: same (seed, epoch) same batches; other epoch or seed differ', function()
    local A = data.Loader(sample, {batch_size = 64, seed = 7})
    local B = data.Loader(sample, {batch_size = 64, seed = 7})
    local Cx = data.Loader(sample, {batch_size = 64, seed = 8})
    local ax, ay = A:batch(5, 2)
    ax, ay = ax:clone(), ay:clone()
    -- B walks epoch 1 first, then epoch 2 in full: its 5th batch must equal A's
    for _ in B:epoch(1) do end
    local bx, by
    for x, y, i in B:epoch(2) do if i == 5 then bx, by = x:clone(), y:clone() end end
    T.eq(max_abs_diff(ax, bx), 0, 'x equal')
    T.eq(max_abs_diff(ay, by), 0, 'y equal')
    local ex = A:batch(5, 3)
    T.truthy(max_abs_diff(ax, ex) > 1, 'epoch 3 differs')
    local cx = Cx:batch(5, 2)
    T.truthy(max_abs_diff(ax, cx) > 1, 'seed 8 differs')
    -- the whole pipeline in a fresh process gives the same numbers
    local code = 'local d=normlab.data; local ds=d.load("cifar10",{sample=true}); local L=d.Loader(ds,{batch_size=64,seed=7}); '
      .. 'local x,y=L:batch(5,2); io.write(string.format("%.6f %.6f %.1f", x:sum(), x:sumsq(), y:sum()))'
    local out = U.capture(string.format('%s -e %s', q(normlab_bin), q(code)))
    T.eq(out, string.format('%.6f %.6f %.1f', ax:sum(), ax:sumsq(), ay:sum()), 'another process')
  end)

  T.test('Loader(train) augments: zero padding (in normalized space) shows in about 8 of 9 images', function()
    local L = data.Loader(sample, {batch_size = 256, seed = 1})
    local x, y = L:batch(1, 1)
    local zeros_rows = 0
    for k = 1, 256 do
      -- a whole zero row at the top or bottom means a vertical shift into the padding
      local top, bottom = true, true
      for j = 1, 32 do
        if x:get(k, 1, 1, j) ~= 0 then top = false end
        if x:get(k, 1, 32, j) ~= 0 then bottom = false end
      end
      if top or bottom then zeros_rows = zeros_rows + 1 end
    end
    -- dy is uniform on 0..8, so 8 of 9 images have a padding row: about 228 of 256
    T.truthy(zeros_rows > 200 and zeros_rows < 250, 'images with a padding row: ' .. zeros_rows)
    -- labels are those of the images drawn (a permutation of the dataset's labels)
    local counts = sample:label_counts()
    local seen = {}
    for k = 1, 256 do local c = y:get(k); seen[c] = (seen[c] or 0) + 1 end
    for c, n in pairs(seen) do T.truthy(n <= counts[c + 1], 'class ' .. c) end
  end)

  T.test('Loader options: subset, drop_last, augment=false, errors', function()
    local L = data.Loader(sample, {batch_size = 100, subset = 1000, seed = 1})
    T.eq(L:num_batches(), 10, 'subset 1000 / 100')
    local K = data.Loader(sample, {batch_size = 128, subset = 1000, drop_last = false})
    T.eq(K:num_batches(), 8, 'drop_last=false keeps 1000 - 7*128')
    local N = data.Loader(sample, {batch_size = 10, augment = false, seed = 1})
    local x = N:batch(1, 1)
    local any_zero_row = false
    -- without augmentation an image is normalized pixels: a padding row of exact zeros is (nearly) impossible
    for k = 1, 10 do
      local top = true
      for j = 1, 32 do if x:get(k, 1, 1, j) ~= 0 then top = false end end
      any_zero_row = any_zero_row or top
    end
    T.truthy(not any_zero_row, 'no padding without augmentation')
    T.err(function() data.Loader(sample, {subset = 3000}) end, 'subset 3000 out of range 1..2500')
    T.err(function() data.Loader(sample, {batch_size = 0}) end, 'batch size 0')
    T.err(function() data.Loader(sample, {batch_size = 4000}) end, 'no batches')
    T.err(function() data.Loader({}, {}) end, 'a dataset from data.load expected')
    T.err(function() data.Loader(sample, {mean = {0.5}}) end, "has 1 values, the images have 3 channels")
    T.err(function() L:batch(11, 1) end, 'batch 11 out of range 1..10')
  end)
end

-- the real CIFAR-10 copy ----------------------------------------------------

local shared = os.getenv('NORMLAB_SHARED_CIFAR10')
shared = shared and shared:gsub('/cifar%-10%-batches%-bin/?$', '') or nil
if not shared then
  for _, d in ipairs{'../shared/data', '/work/shared/data'} do
    if U.exists(d .. '/cifar-10-batches-bin/data_batch_1.bin') then shared = d break end
  end
end
if shared and U.exists(shared .. '/cifar-10-batches-bin/data_batch_1.bin') then
  T.test('the real CIFAR-10 (' .. shared .. '): 50000 + 10000 images, 5000 / 1000 per class', function()
    local tr = data.load('cifar10', {root = shared, download = false})
    local te = data.load('cifar10', {root = shared, split = 'test', download = false})
    T.eq(tr.n, 50000, 'train n')
    T.eq(te.n, 10000, 'test n')
    T.eq(tr.sample, false, 'not a sample')
    T.truthy(not tostring(tr):find('SAMPLE', 1, true) and not tostring(tr):find('partial', 1, true), tostring(tr))
    local c1, c2 = tr:label_counts(), te:label_counts()
    for k = 1, 10 do
      T.eq(c1[k], 5000, 'train class ' .. (k - 1))
      T.eq(c2[k], 1000, 'test class ' .. (k - 1))
    end
    local m, s = tr:stats()
    T.near(m[1], 0.4913, 2e-4, 'mean R')
    T.near(s[3], 0.2606, 2e-4, 'std B')
    local L = data.Loader(tr, {batch_size = 128, seed = 1})
    T.eq(L:num_batches(), 390, '50000 // 128')
    local x = L:batch(390, 1)
    T.truthy(x:all_finite(), 'last batch finite')
  end)
else
  T.skip('the real CIFAR-10', 'not found in ../shared/data')
end

-- Fashion-MNIST from Debian ----------------------------------------------------

if U.exists('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz') then
  T.test('Fashion-MNIST from dataset-fashion-mnist: IDX through zlib, loader without flips', function()
    local ds = data.load('fashion-mnist', {split = 'test', root = U.tmpdir('fm')})
    T.eq(ds.n, 10000, 'n')
    T.eq(ds.shape[1] * 100 + ds.shape[2], 128, 'shape 1x28')
    T.eq(ds.classes[10], 'Ankle boot', 'class names')
    T.truthy(tostring(ds):find('/usr/share/datasets/fashion-mnist', 1, true), tostring(ds))
    local c = ds:label_counts()
    for k = 1, 10 do T.eq(c[k], 1000, 'class ' .. (k - 1)) end
    local L = data.Loader(ds, {batch_size = 100, seed = 1})
    local x, y = L:batch(1, 1)
    T.eq(x:shape_str(), '(100,1,28,28)', 'x shape')
    T.eq(L.augment, true, 'train loader')
    -- no padding by default: pixels equal a normalized source pixel (no zero rows from shifting)
    local label = y:get(1)
    T.truthy(label >= 0 and label <= 9, 'label range')
  end)
else
  T.skip('Fashion-MNIST', 'dataset-fashion-mnist is not installed')
end

T.test('IDX files written here (plain and gzip) through data.load("mnist")', function()
  local r = U.tmpdir('mnist')
  local d = r .. '/mnist'
  U.mkdir(d)
  local function idx(dims, payload)
    local h = {string.char(0, 0, 8, #dims)}
    for _, v in ipairs(dims) do h[#h + 1] = string.pack('>I4', v) end
    return table.concat(h) .. payload
  end
  local n = 12
  local px = {}
  for i = 0, n * 784 - 1 do px[#px + 1] = string.char(i % 251) end
  local lb = {}
  for i = 0, n - 1 do lb[#lb + 1] = string.char(i % 10) end
  U.write(d .. '/train-images-idx3-ubyte', idx({n, 28, 28}, table.concat(px)))
  U.write(d .. '/train-labels-idx1-ubyte', idx({n}, table.concat(lb)))
  U.write(d .. '/t10k-images-idx3-ubyte', idx({n, 28, 28}, table.concat(px)))
  U.write(d .. '/t10k-labels-idx1-ubyte', idx({n}, table.concat(lb)))
  U.sh('gzip ' .. q(d .. '/t10k-images-idx3-ubyte'))
  local ds = data.load('mnist', {root = r, any_size = true})
  T.eq(ds.n, n, 'plain n')
  T.eq(ds:label(12), 1, 'label 12')
  local te = data.load('mnist', {root = r, split = 'test', any_size = true})
  T.eq(te:image(2):get(1, 1, 1), 784 % 251, 'gzip pixel')
  T.err(function() data.load('mnist', {root = r}) end, 'holds 12 images, the official set has 60000')
  -- a truncated gzip: the file and the offset are named
  local gz = U.read(d .. '/t10k-images-idx3-ubyte.gz')
  U.write(d .. '/t10k-images-idx3-ubyte.gz', gz:sub(1, #gz // 2))
  local msg = T.err(function() data.load('mnist', {root = r, split = 'test', any_size = true}) end,
    't10k-images-idx3-ubyte.gz: gzip stream ends early')
  T.truthy(msg:find('byte offset', 1, true), msg)
  -- a bad magic number
  U.write(d .. '/train-labels-idx1-ubyte', '\0\0\8\3' .. string.pack('>I4', n) .. table.concat(lb))
  T.err(function() data.load('mnist', {root = r, any_size = true}) end, 'dimension(s) (byte offset 3), expected 1')
  local msg2 = T.err(function() data.load('mnist', {root = U.tmpdir('nomnist')}) end, 'missing:')
  T.truthy(msg2:find('train-images-idx3-ubyte[.gz]', 1, true), msg2)
end)

U.cleanup()
T.done()
