-- test_data_download.lua: real downloads from a local HTTP server on 127.0.0.1
-- (tests/data/range_server.py, started and stopped here) serving a small
-- archive in the official CIFAR-10 layout: a clean download, a resumed one,
-- a server that cannot resume, checksum mismatches, a missing file, the
-- automatic download of data.load, the progress bar, and the offline message.
local T = dofile('tests/lua/check.lua')
local U = dofile('tests/data/util.lua')
local data = normlab.data
local C = normlab.C
local q = U.q
local normlab_bin = os.getenv('NORMLAB_BIN') or './normlab'

-- the archive: cifar-10-batches-bin/ with 5 x 20 training and 20 test records
local src = U.tmpdir('src')
local srcdir = U.make_cifar10(src, 20)
local www = U.tmpdir('www')
assert(U.sh(string.format('tar -czf %s/cifar-10-binary.tar.gz -C %s cifar-10-batches-bin', q(www), q(src))))
local archive = www .. '/cifar-10-binary.tar.gz'
local md5 = C.data_md5(archive)
local size = C.data_file_size(archive)
local files = {'data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin',
               'test_batch.bin', 'batches.meta.txt'}

local function same_tree(root)
  for _, f in ipairs(files) do
    if U.read(root .. '/cifar-10-batches-bin/' .. f) ~= U.read(srcdir .. '/' .. f) then return false, f end
  end
  return true
end

local srv, why = U.start_server(www)
if not srv then
  T.skip('download tests', why)
  U.cleanup()
  T.done()
  return
end

local ok_all, err_all = pcall(function()
  T.test('md5 of the test archive differs from the official one (so the default check must fail)', function()
    T.truthy(#md5 == 32 and md5 ~= 'c32a1d4ab5d03f1284b67883e8d87530', 'different md5')
  end)

  T.test('clean download: fetched, md5 checked, extracted, moved into place', function()
    local root = U.tmpdir('dl1')
    local dir, info = data.fetch('cifar10', {root = root, url = srv.base, md5 = md5, quiet = true})
    T.eq(info.resumed, false, 'resumed')
    T.eq(info.bytes, size, 'bytes transferred')
    T.truthy(same_tree(root), 'extracted files equal the originals')
    T.truthy(not U.exists(root .. '/cifar-10-binary.tar.gz.part'), 'no .part left')
    T.truthy(U.exists(root .. '/cifar-10-binary.tar.gz'), 'archive kept')
    T.eq(U.capture('ls -a ' .. q(root) .. ' | grep -c extract'):match('%d+'), '0', 'temporary directory removed')
    T.eq(dir, root .. '/cifar-10-batches-bin', 'directory returned')
    -- a second fetch finds the set complete and does nothing
    local _, info2 = data.fetch('cifar10', {root = root, url = srv.base, md5 = md5, quiet = true})
    T.truthy(info2.present, 'second fetch sees the set')
    -- what came down loads (any number of records through the C loader)
    local p = {}
    for i = 1, 5 do p[i] = dir .. '/data_batch_' .. i .. '.bin' end
    local h = C.data_load_cifar(p, 10, false, 0)
    T.eq(h:n(), 100, 'records')
    T.eq(h:label(21), 0, 'label of record 21')
  end)

  T.test('resumed download: a partial .part continues with a Range request', function()
    local root = U.tmpdir('dl2')
    local half = size // 2
    U.write(root .. '/cifar-10-binary.tar.gz.part', U.read(archive):sub(1, half))
    local before = #U.server_log(srv)
    local _, info = data.fetch('cifar10', {root = root, url = srv.base, md5 = md5, quiet = true})
    T.eq(info.resumed, true, 'resumed')
    T.eq(info.resumed_from, half, 'resumed from')
    T.eq(info.bytes, size - half, 'bytes transferred')
    T.truthy(same_tree(root), 'extracted files equal the originals')
    local log = U.server_log(srv)
    T.eq(log[before + 1], '/cifar-10-binary.tar.gz bytes=' .. half .. '- 206', 'server saw a range request')
  end)

  T.test('resume against a server without Range support: downloaded again from the start', function()
    local root = U.tmpdir('dl3')
    U.write(root .. '/cifar-10-binary.tar.gz.part', U.read(archive):sub(1, 1000))
    local _, info = data.fetch('cifar10', {root = root, url = srv.base .. 'norange/', md5 = md5, quiet = true})
    T.eq(info.resumed, false, 'not resumed in the end')
    T.truthy(same_tree(root), 'extracted files equal the originals')
  end)

  T.test('checksum mismatch: reported, deleted, never extracted', function()
    local root = U.tmpdir('dl4')
    -- the default md5 is the official archive's, which this small archive is not
    local msg = T.err(function() data.fetch('cifar10', {root = root, url = srv.base, quiet = true}) end,
      'checksum mismatch')
    T.truthy(msg:find(md5, 1, true) and msg:find('c32a1d4ab5d03f1284b67883e8d87530', 1, true), 'both md5s named')
    T.truthy(msg:find('deleted', 1, true), 'says it was deleted')
    T.truthy(not U.exists(root .. '/cifar-10-binary.tar.gz'), 'no archive')
    T.truthy(not U.exists(root .. '/cifar-10-binary.tar.gz.part'), 'no part')
    T.truthy(not U.exists(root .. '/cifar-10-batches-bin/data_batch_1.bin'), 'nothing extracted')
  end)

  T.test('a corrupt partial file: resumed, fails the checksum, deleted', function()
    local root = U.tmpdir('dl5')
    U.write(root .. '/cifar-10-binary.tar.gz.part', string.rep('\0', size // 2))
    T.err(function() data.fetch('cifar10', {root = root, url = srv.base, md5 = md5, quiet = true}) end,
      'checksum mismatch')
    T.truthy(not U.exists(root .. '/cifar-10-binary.tar.gz.part'), 'part deleted')
    -- the next attempt starts clean and succeeds
    data.fetch('cifar10', {root = root, url = srv.base, md5 = md5, quiet = true})
    T.truthy(same_tree(root), 'second attempt complete')
  end)

  T.test('a missing file on the server: HTTP 404 named, nothing left', function()
    local root = U.tmpdir('dl6')
    local msg = T.err(function() data.fetch('cifar10', {root = root, url = srv.base .. 'nothere/', md5 = md5,
      quiet = true}) end, '404')
    T.truthy(msg:find(srv.base .. 'nothere/cifar-10-binary.tar.gz', 1, true), 'url named')
    T.truthy(not U.exists(root .. '/cifar-10-binary.tar.gz'), 'no archive')
  end)

  T.test('data.load downloads a missing set by itself (opts.url), then validates it', function()
    local root = U.tmpdir('dl7')
    -- the small archive's files are not official-sized, so the load ends with that error
    local msg = T.err(function() data.load('cifar10', {root = root, url = srv.base, md5 = md5, quiet = true}) end,
      'wrong file size 61460 bytes (20 records): expected 30730000 bytes')
    T.truthy(msg:find('data_batch_1.bin', 1, true), 'file named')
    T.truthy(same_tree(root), 'downloaded and extracted')
    local ds = data.load('cifar10', {root = root, any_size = true})
    T.eq(ds.n, 100, 'n with any_size')
    T.truthy(tostring(ds):find('partial: 100 of the 50000', 1, true), 'tostring says partial')
  end)

  T.test('NORMLAB_CIFAR_URL and the progress bar (normlab -e, stderr to a file)', function()
    local root = U.tmpdir('dl8')
    local cmd = string.format('NORMLAB_CIFAR_URL=%s %s -e %s 2>%s/err; echo "rc=$?"', q(srv.base), q(normlab_bin),
      q(string.format('normlab.data.fetch("cifar10", {root=%q, md5=%q})', root, md5)), q(root))
    local out = U.capture(cmd)
    local err = U.read(root .. '/err') or ''
    T.truthy(out:find('rc=0', 1, true), 'exit status 0: ' .. out .. err)
    T.truthy(err:find(srv.base .. 'cifar-10-binary.tar.gz', 1, true), 'names the url')
    T.truthy(err:find('100.0%', 1, true) and err:find('MB/s', 1, true) and err:find('ETA', 1, true),
      'progress bar with percent, rate and ETA: ' .. err)
    T.truthy(same_tree(root), 'extracted')
  end)
end)

srv:stop()

T.test('offline: the error lists missing files, where we looked, where to get them, where to put them', function()
  local root = U.tmpdir('off')
  U.mkdir(root .. '/cifar-10-batches-bin')
  U.write(root .. '/cifar-10-batches-bin/batches.meta.txt', 'x\n')
  -- the server is gone: the automatic attempt fails to connect
  local msg = T.err(function() data.load('cifar10', {root = root, url = srv.base, quiet = true}) end, 'missing:')
  for _, part in ipairs{'data_batch_1.bin', 'data_batch_5.bin', 'test_batch.bin', 'looked in:',
                        root .. '/cifar-10-batches-bin', 'get it from: ' .. srv.base .. 'cifar-10-binary.tar.gz',
                        'c32a1d4ab5d03f1284b67883e8d87530', 'put it:', 'normlab.data.fetch',
                        'the automatic download failed', 'NORMLAB_DATA'} do
    T.truthy(msg:find(part, 1, true), 'message has "' .. part .. '":\n' .. msg)
  end
  T.truthy(not msg:find('batches.meta.txt', 1, true), 'present files are not listed')
end)

T.test('offline from the command line: the message and a non-zero exit status', function()
  local root = U.tmpdir('off2')
  local out = U.capture(string.format('NORMLAB_OFFLINE=1 %s -e %s 2>&1; echo "rc=$?"', q(normlab_bin),
    q(string.format('normlab.data.load("cifar10", {root=%q})', root))))
  T.truthy(out:find('rc=1', 1, true), 'exit status 1: ' .. out)
  T.truthy(out:find('missing:', 1, true) and out:find('https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz', 1,
    true), 'official address by default: ' .. out)
  T.truthy(not out:find('automatic download failed', 1, true), 'no download attempted offline')
end)

U.cleanup()
if not ok_all then T.test('download tests ran to the end', function() error(err_all) end) end
T.done()
