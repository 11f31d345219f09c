-- tests/data/util.lua: helpers shared by the dataset tests (tests/lua/test_data*.lua):
-- temporary directories, CIFAR / IDX files written byte by byte in the exact
-- formats, and the local HTTP server (tests/data/range_server.py).
local U = {}

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end
U.sh = sh

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
U.q = q

function U.capture(cmd)
  local p = io.popen(cmd)
  local out = p:read('a')
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

function U.tmpdir(tag)
  local d = U.capture('mktemp -d /tmp/normlab_' .. (tag or 'data') .. '_XXXXXX'):gsub('%s+$', '')
  assert(d ~= '', 'mktemp failed')
  U.dirs = U.dirs or {}
  U.dirs[#U.dirs + 1] = d
  return d
end

function U.cleanup()
  for _, d in ipairs(U.dirs or {}) do
    if d:match('^/tmp/normlab_') then sh('rm -rf ' .. q(d)) end
  end
  U.dirs = {}
end

function U.mkdir(d) assert(sh('mkdir -p ' .. q(d)), 'mkdir ' .. d) end

function U.write(path, bytes)
  local f = assert(io.open(path, 'wb'))
  f:write(bytes)
  f:close()
end

function U.read(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

function U.exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() return true end
  return false
end

-- 3072 pixel bytes with a pattern from seed
function U.pixels(seed)
  local t = {}
  for i = 0, 3071 do t[#t + 1] = string.char((i * 7 + seed * 31) % 256) end
  return table.concat(t)
end

-- A CIFAR-10 record: label, pixels; CIFAR-100: coarse, fine, pixels.
function U.rec10(label, seed) return string.char(label) .. U.pixels(seed) end
function U.rec100(coarse, fine, seed) return string.char(coarse, fine) .. U.pixels(seed) end

U.cifar10_names = {'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'}

-- A CIFAR-10 tree under root: 5 training files of k records and a test file
-- of k records; labels cycle through 0..9. Returns the directory.
function U.make_cifar10(root, k)
  local dir = root .. '/cifar-10-batches-bin'
  U.mkdir(dir)
  local n = 0
  for b = 1, 5 do
    local t = {}
    for _ = 1, k do t[#t + 1] = U.rec10(n % 10, n); n = n + 1 end
    U.write(dir .. '/data_batch_' .. b .. '.bin', table.concat(t))
  end
  local t = {}
  for i = 1, k do t[#t + 1] = U.rec10((i * 3) % 10, 1000 + i) end
  U.write(dir .. '/test_batch.bin', table.concat(t))
  U.write(dir .. '/batches.meta.txt', table.concat(U.cifar10_names, '\n') .. '\n\n')
  return dir
end

-- A CIFAR-100 tree: train.bin with k records (coarse = i % 20, fine = (7i) % 100), test.bin with k.
function U.make_cifar100(root, k)
  local dir = root .. '/cifar-100-binary'
  U.mkdir(dir)
  for _, split in ipairs{'train', 'test'} do
    local t = {}
    for i = 0, k - 1 do t[#t + 1] = U.rec100(i % 20, (7 * i) % 100, i) end
    U.write(dir .. '/' .. split .. '.bin', table.concat(t))
  end
  local fine, coarse = {}, {}
  for i = 0, 99 do fine[#fine + 1] = 'fine' .. i end
  for i = 0, 19 do coarse[#coarse + 1] = 'coarse' .. i end
  U.write(dir .. '/fine_label_names.txt', table.concat(fine, '\n') .. '\n')
  U.write(dir .. '/coarse_label_names.txt', table.concat(coarse, '\n') .. '\n')
  return dir
end

function U.python()
  for _, p in ipairs{'/usr/bin/python3', 'python3'} do
    if sh(p .. ' -c "import http.server" >/dev/null 2>&1') then return p end
  end
end

-- Starts tests/data/range_server.py serving dir; returns a server table with
-- .base (http://127.0.0.1:PORT/), .log (path) and :stop().
function U.start_server(dir)
  local py = U.python()
  if not py then return nil, 'python3 with http.server not found' end
  local work = U.tmpdir('srv')
  local portfile, logfile, pidfile = work .. '/port', work .. '/log', work .. '/pid'
  U.write(logfile, '')
  assert(sh(string.format('%s tests/data/range_server.py %s %s %s >%s/out 2>&1 & echo $! >%s', py, q(dir),
    q(portfile), q(logfile), q(work), q(pidfile))))
  local pid = (U.read(pidfile) or ''):match('%d+')
  local port
  for _ = 1, 200 do   -- up to 10 s for the interpreter to start
    port = (U.read(portfile) or ''):match('^%d+$')
    if port then break end
    sh('sleep 0.05')
  end
  local srv = {pid = pid, port = port, log = logfile}
  function srv:stop()
    if self.pid then   -- the server's own pid, recorded when this test started it
      sh('kill ' .. self.pid .. ' 2>/dev/null; for i in $(seq 50); do kill -0 ' .. self.pid
        .. ' 2>/dev/null || break; sleep 0.05; done')
    end
    self.pid = nil
  end
  if not port then
    srv:stop()
    return nil, 'the server did not start: ' .. (U.read(work .. '/out') or '')
  end
  srv.base = 'http://127.0.0.1:' .. port .. '/'
  return srv
end

-- The lines of the server log (PATH RANGE STATUS).
function U.server_log(srv)
  local t = {}
  for line in (U.read(srv.log) or ''):gmatch('[^\n]+') do t[#t + 1] = line end
  return t
end

return U
