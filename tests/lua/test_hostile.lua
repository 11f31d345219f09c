-- Hostile scripts cannot crash the interpreter (issue 7). Every public function and
-- method (normlab.*, Tensor methods and metamethods, Generator methods, every nn layer,
-- CrossEntropy, optim, models.plain, checkpoint, data, json and every function in
-- normlab.C) gets wrong types, nil, negative, zero and huge sizes, NaN and infinities,
-- tensors of the wrong shape, and models whose parameters changed shape. Each call must
-- return or raise a Lua error (a string); a crash, an abort or a sanitizer report fails
-- the whole file (tests/run.sh counts a non-zero exit without "not ok" as a failure).
--
-- normlab.C is walked by name, so a function added later is covered without editing
-- this file. The random argument lists come from a fixed seed (printed on failure).
-- The file re-executes itself with NORMLAB_OFFLINE=1 (no garbage can start a dataset
-- download) in a scratch directory (a number given as a path, e.g. C.data_mkdirs(-1),
-- creates a file or directory named "-1" in the current directory), and, unless it runs
-- under AddressSanitizer (which reserves terabytes of shadow memory and refuses absurd
-- sizes itself), with 16 GB of address space at most: with vm.overcommit_memory=1 the
-- kernel would grant the absurd sizes, and zero-filling them would exhaust the machine.
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
if not os.getenv('HOSTILE_ROOT') then
  local p = io.popen('pwd')
  local root = p:read('l')
  p:close()
  local function abs(path) return path:sub(1, 1) == '/' and path or root .. '/' .. path end
  local nl = abs(os.getenv('NORMLAB_BIN') or './normlab')
  local dir = os.tmpname()
  os.remove(dir)
  os.execute('mkdir -p ' .. q(dir))
  local limit = os.getenv('ASAN_OPTIONS') and '' or 'ulimit -v 16000000 && '
  local ok, how, code = os.execute(string.format('cd %s && %sNORMLAB_OFFLINE=1 HOSTILE_ROOT=%s NORMLAB_BIN=%s %s %s',
    q(dir), limit, q(root), q(nl), q(nl), q(abs(arg[0]))))
  os.execute('rm -rf ' .. q(dir))
  os.exit(ok and 0 or (how == 'exit' and code or 1))
end

local T = dofile(os.getenv('HOSTILE_ROOT') .. '/tests/lua/check.lua')
do   -- HOSTILE_ONLY=pattern runs only the matching tests; HOSTILE_TIMING=1 prints their seconds
  local test, only, timing = T.test, os.getenv('HOSTILE_ONLY'), os.getenv('HOSTILE_TIMING')
  T.test = function(name, fn)
    if only and not name:find(only) then return end
    local t0 = os.clock()
    test(name, fn)
    if timing then print(string.format('#   %.2f s', os.clock() - t0)) end
  end
end
local normlab = require 'normlab'
local C = normlab.C
local nn = normlab.nn
local json = require 'normlab.json'
local checkpoint = require 'normlab.checkpoint'

local SEED = tonumber(os.getenv('HOSTILE_SEED')) or 20240607   -- HOSTILE_SEED / HOSTILE_TRIES: longer hunts
local TRIES = tonumber(os.getenv('HOSTILE_TRIES')) or 1
math.randomseed(SEED)
print('# seed ' .. SEED .. (TRIES ~= 1 and (', tries x' .. TRIES) or ''))

local tmp = os.tmpname()
os.remove(tmp)
os.execute('mkdir -p ' .. q(tmp))

local nan, inf = 0 / 0, math.huge
local BIG = 1 << 40            -- the largest element count a tensor may have: 4 TB, never allocatable
local threads0 = C.get_threads()

local function filled(v, ...) local t = C.tensor_new(...); t:fill(v); return t end

-- The garbage: every kind of wrong value, as {label, value}. Built fresh for every function
-- (methods write into the tensors). Sizes stay either tiny or absurd (>= 2^40 elements):
-- nothing in between could be allocated and then take seconds to fill. A (2^40,0) tensor
-- is left out here (any loop over its rows, e.g. ipairs(t), runs 2^40 times); the
-- tensor methods get it below.
local function pool()
  local g = C.generator_new(7, 'init')
  return {
    {'nil', nil}, {'false', false}, {'true', true},
    {'a missing path', tmp .. '/nothing'}, {'a directory', tmp}, {'""', ''}, {'"3"', '3'},
    {'-1', -1}, {'0', 0}, {'1', 1}, {'2', 2}, {'3', 3}, {'1.5', 1.5}, {'-0.0', -0.0},
    {'2^40', BIG}, {'2^40 (float)', 2.0 ^ 40}, {'2^62', 1 << 62},
    {'maxinteger', math.maxinteger}, {'mininteger', math.mininteger}, {'1e300', 1e300},
    {'NaN', nan}, {'inf', inf}, {'-inf', -inf},
    {'{}', {}}, {'{-1, "x", {}}', {-1, 'x', {}}}, {'{2, 3}', {2, 3}}, {'{0/0}', {nan}},
    {'a function', function() end}, {'a coroutine', coroutine.create(function() end)},
    {'a generator', g}, {'a userdata of another type', io.stdout},
    {'a 0-dim tensor', C.tensor_from(3)}, {'an empty (0) tensor', C.tensor_new(0)},
    {'a (0,3,4,4) tensor', C.tensor_new(0, 3, 4, 4)}, {'a (2,3) tensor', normlab.randn(g, 2, 3)},
    {'a (1,1,1,1) tensor', C.tensor_ones(1, 1, 1, 1)}, {'a (2,3,4,4) tensor', normlab.randn(g, 2, 3, 4, 4)},
    {'a (2) tensor of labels', normlab.tensor{0, 1}}, {'a (3,3,3,3) tensor', normlab.randn(g, 3, 3, 3, 3)},
    {'a NaN (2,3) tensor', filled(nan, 2, 3)}, {'an inf (2,3,4,4) tensor', filled(inf, 2, 3, 4, 4)},
    {'a (2,0) tensor', C.tensor_new(2, 0)}, {'a (0,2^20,2^20) tensor', C.tensor_new(0, 1 << 20, 1 << 20)},
  }
end

local function describe(args, n)
  local parts = {}
  for i = 1, n do
    local v = args[i]
    parts[i] = type(v) == 'string' and string.format('%q', v) or
      (C.is_tensor(v) and ('tensor' .. v:shape_str()) or tostring(v))
  end
  return '(' .. table.concat(parts, ', ') .. ')'
end

-- Calls f(...) in pcall: fine when it returns; when it raises, the error must be a string.
local function survive(what, f, args, n)
  local ok, err = pcall(f, table.unpack(args, 1, n))
  if not ok and type(err) ~= 'string' then
    error(string.format('%s%s raised a %s, not a message', what, describe(args, n), type(err)), 0)
  end
  return ok, err
end

-- Must raise; returns the message (a string).
local function must_fail(what, f, ...)
  local n = select('#', ...)
  local ok, err = pcall(f, ...)
  if ok then error(string.format('%s%s: expected an error, got none', what, describe({...}, n)), 0) end
  if type(err) ~= 'string' then error(what .. ': raised a ' .. type(err) .. ', not a message', 0) end
  return err
end

-- The message names the culprit: one of the words given (a layer, 'expected', ...).
-- (The "file.lua:12: " position is not part of the message: a file name such as
-- Conv2d.lua does not count as naming the layer.)
local function names(msg, what, ...)
  local text = msg:gsub('^[^\n]-%.lua:%d+: ', '')
  for _, w in ipairs({...}) do
    if text:find(w, 1, true) then return msg end
  end
  error(string.format('%s: the message "%s" names none of: %s', what, msg, table.concat({...}, ', ')), 0)
end

-- Runs f(fixed..., more) with more = nothing, each garbage value alone, each garbage value
-- in all `arity` positions at once, and `tries` random lists of up to `arity` garbage values.
local function hammer(what, f, arity, tries, fixed)
  fixed = fixed or {}
  survive(what, f, fixed, #fixed)
  local P = pool()
  for _, g in ipairs(P) do
    local args = {table.unpack(fixed)}
    args[#fixed + 1] = g[2]
    survive(what, f, args, #fixed + 1)
    local all = {table.unpack(fixed)}
    for i = 1, arity do all[#fixed + i] = g[2] end
    survive(what, f, all, #fixed + arity)
  end
  for _ = 1, tries * TRIES do
    local n = math.random(1, arity)
    local args = {table.unpack(fixed)}
    for i = 1, n do args[#fixed + i] = P[math.random(#P)][2] end
    survive(what, f, args, #fixed + n)
  end
  C.set_threads(threads0)   -- C.set_threads / normlab.set_threads may have been hit
  C.clear_interrupt()
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do if type(k) == 'string' then ks[#ks + 1] = k end end
  table.sort(ks)
  return ks
end

---------------------------------------------------------------------------
-- normlab.C, walked by name

-- Functions that must not be fed random strings: they would reach the network.
local NETWORK = { data_download = true }

T.test('every normlab.C function survives garbage (seed ' .. SEED .. ')', function()
  local count = 0
  for _, name in ipairs(sorted_keys(C)) do
    local f = C[name]
    if type(f) == 'function' and not NETWORK[name] then
      hammer('C.' .. name, f, 12, 150)
      count = count + 1
    end
  end
  T.truthy(count >= 50, 'walked ' .. count .. ' functions')
end)

T.test('C.data_download: a bad URL or md5 is an error, not a crash', function()
  local dest = tmp .. '/dl.bin'
  must_fail('data_download', C.data_download, 'nlbogus://example.invalid/x', dest, nil, true)
  must_fail('data_download', C.data_download, 'nlbogus://x', dest, 'abc', true)
  must_fail('data_download', C.data_download, nil, dest)
  must_fail('data_download', C.data_download, 'nlbogus://x', {})
  must_fail('data_download', C.data_download, '', '', string.rep('z', 32), true)
end)

T.test('C.Tensor (the class table) and its methods table survive garbage', function()
  hammer('C.Tensor', C.Tensor, 10, 100)
  hammer('C.Tensor (called on the class)', function(...) return C.Tensor(...) end, 10, 50)
end)

-- The C functions as the library calls them: every normlab.C function is wrapped by a
-- recorder while a few tiny models train (every layer, both convolution algorithms, BN
-- and GN, the losses, SGD and Adam, a checkpoint, the data loader), which gives one valid
-- argument list per function. Each list is then replayed with one argument replaced by
-- every garbage value, and with one argument replaced by another argument of the same call
-- (tensors of the wrong shape, aliasing). A function added later is picked up as soon
-- as a layer calls it.
local function record_valid_calls()
  local calls, orig = {}, {}
  for _, name in ipairs(sorted_keys(C)) do
    local f = C[name]
    if type(f) == 'function' and not NETWORK[name] then
      orig[name] = f
      C[name] = function(...)
        local r = table.pack(pcall(f, ...))
        if r[1] and not calls[name] then calls[name] = table.pack(...) end
        if not r[1] then error(r[2], 0) end
        return table.unpack(r, 2, r.n)
      end
    end
  end
  local ok, err = pcall(function()
    local g = normlab.Generator(5, 'init')
    local crit = nn.CrossEntropy()
    local labels = normlab.tensor{ 1, 0 }
    for _, opts in ipairs({ { norm = 'bn', act = 'relu' }, { norm = 'gn', act = 'sigmoid', groups = 4, width = 8 },
                            { norm = 'none', act = 'tanh', order = 'can' }, { norm = 'bn', act = 'leakyrelu' } }) do
      opts.depth, opts.gen, opts.width = 3, g, opts.width or 16
      local model = normlab.models.plain(opts)
      for _, algo in ipairs({ 'plain', 'winograd', 'auto' }) do
        for _, m in ipairs(model.modules) do m.algorithm = algo end
        local x = normlab.randn(g, 2, 3, 8, 8)
        local params, grads = model:parameters()
        local opt = (algo == 'plain' and normlab.optim.SGD or normlab.optim.Adam)(params, grads,
          { lr = 0.01, momentum = algo == 'plain' and 0.9 or nil })
        model:zero_grad()
        local out = model:forward(x)
        crit:forward(out, labels)
        nn.accuracy(out, labels)
        model:backward(x, crit:backward(out, labels))
        for _, m in ipairs(model.modules) do   -- the split protocol too
          if m.update_grad_input and m.output then
            local ok2 = pcall(m.update_grad_input, m, m.input or x, m.output)
            if ok2 then pcall(m.acc_grad_parameters, m, m.input or x, m.output) end
          end
        end
        opt:step()
        model:evaluate(); model:forward(x); model:train()
      end
      checkpoint.save(tmp .. '/rec.ckpt', { model = model, generators = { g = g }, epoch = 1, step = 1 })
      checkpoint.load(tmp .. '/rec.ckpt', { model = model, generators = { g = g } })
    end
    local ds = normlab.data.load('cifar10', { sample = true, split = 'test', download = false })
    local loader = normlab.data.Loader(ds, { batch_size = 4, subset = 8 })
    for _ in loader:epoch(1) do end
    ds:image(1); ds:stats(); ds:label_counts()
    normlab.Generator(1):uniform()
    C.data_mkdirs(tmp .. '/a/b'); C.data_isdir(tmp); C.data_file_size(tmp .. '/rec.ckpt')
    C.data_realpath(tmp); C.data_md5(tmp .. '/rec.ckpt')
    pcall(function()   -- the Winograd kernels directly, in case no layer dispatches to them
      local x, w, b = normlab.randn(g, 2, 16, 6, 6), normlab.randn(g, 4, 16, 3, 3), normlab.randn(g, 4)
      local ws = C.tensor_new(math.max(C.winograd_workspace(2, 16, 4, 6, 6, 1), 1))
      local y = C.tensor_new(2, 4, 6, 6)
      C.winograd_applies(3, 3, 1, 1)
      C.winograd_forward(y, ws, x, w, b, 1, 4)   -- (the last argument: the tile size, where taken)
      C.winograd_backward(C.tensor_new(2, 16, 6, 6), C.tensor_new(4, 16, 3, 3), C.tensor_new(4), ws, y, x, w, 1)
    end)
  end)
  for name, f in pairs(orig) do C[name] = f end
  if not ok then error('recording the valid calls failed: ' .. tostring(err), 0) end
  return calls
end

T.test('every C function the library calls survives one wrong argument at a time', function()
  local calls = record_valid_calls()
  local names_ = sorted_keys(calls)
  print('# recorded ' .. #names_ .. ': ' .. table.concat(names_, ' '))
  T.truthy(#names_ >= 30, 'recorded ' .. #names_ .. ' functions: ' .. table.concat(names_, ' '))
  for _, name in ipairs(names_) do
    local args = calls[name]
    for i = 1, args.n + 1 do
      for _, g in ipairs(pool()) do
        local a = table.pack(table.unpack(args, 1, args.n))
        a[i] = g[2]
        survive('C.' .. name .. ' (argument ' .. i .. ' = ' .. g[1] .. ')', C[name], a, math.max(a.n, i))
      end
      for j = 1, args.n do   -- another argument of the same call in this position
        local a = table.pack(table.unpack(args, 1, args.n))
        a[i] = args[j]
        survive('C.' .. name .. ' (argument ' .. i .. ' = argument ' .. j .. ')', C[name], a, math.max(a.n, i))
      end
    end
    survive('C.' .. name .. ' (valid)', C[name], args, args.n)
  end
  C.set_threads(threads0)
  C.clear_interrupt()
end)

---------------------------------------------------------------------------
-- normlab.* and the submodules' functions

T.test('normlab.* functions survive garbage', function()
  local count = 0
  for _, name in ipairs(sorted_keys(normlab)) do
    local v = rawget(normlab, name)
    if type(v) == 'function' then hammer('normlab.' .. name, v, 6, 60); count = count + 1 end
  end
  T.truthy(count >= 8, 'walked ' .. count .. ' functions')
  must_fail('normlab.zeros', normlab.zeros, -1)
  names(must_fail('normlab.zeros', normlab.zeros, BIG, 2), 'zeros', 'too many elements')
  names(must_fail('normlab.rand', normlab.rand, nil, 2), 'normlab.rand', 'Generator')
end)

for _, mod in ipairs({ 'json', 'optim', 'models', 'checkpoint', 'data' }) do
  T.test('normlab.' .. mod .. '.* functions survive garbage', function()
    local m = normlab[mod]
    for _, name in ipairs(sorted_keys(m)) do
      local f = rawget(m, name)
      if type(f) == 'function' and not (mod == 'data' and name == 'fetch') then
        hammer(mod .. '.' .. name, f, 4, 40)
      end
    end
  end)
end

T.test('optim.schedule.* survive garbage', function()
  for _, name in ipairs(sorted_keys(normlab.optim.schedule)) do
    hammer('schedule.' .. name, normlab.optim.schedule[name], 3, 30)
  end
end)

---------------------------------------------------------------------------
-- Tensor methods and metamethods

local function shapes()
  local g = C.generator_new(3)
  return {
    C.tensor_from(2.5), C.tensor_new(0), C.tensor_new(2, 0), C.tensor_new(BIG, 0),
    C.tensor_new(0, 1 << 20, 1 << 20), normlab.randn(g, 5), normlab.randn(g, 2, 3),
    normlab.randn(g, 2, 3, 4, 4), filled(nan, 3, 2), filled(-inf, 2, 2, 2),
    normlab.randn(g, 4, 4):narrow(2, 2), normlab.randn(g, 3, 4):select(2),
  }
end

T.test('every Tensor method on every kind of tensor survives garbage', function()
  local methods = C.Tensor.methods
  for _, name in ipairs(sorted_keys(methods)) do
    for _, t in ipairs(shapes()) do
      hammer('t:' .. name .. ' on ' .. t:shape_str(), methods[name], 5, 25, {t})
    end
    hammer('Tensor.' .. name .. ' on garbage self', methods[name], 5, 40)
  end
end)

T.test('Tensor metamethods survive garbage', function()
  local mt = getmetatable(C.tensor_new(1))
  T.truthy(type(mt) == 'table' and mt.methods, 'getmetatable gives the methods (for completion)')
  local ops = {
    add = function(a, b) return a + b end, sub = function(a, b) return a - b end,
    mul = function(a, b) return a * b end, div = function(a, b) return a / b end,
    unm = function(a) return -a end, len = function(a) return #a end,
    tostring = function(a) return tostring(a) end, concat = function(a, b) return a .. b end,
    lt = function(a, b) return a < b end, eq = function(a, b) return a == b end,
    call = function(a, ...) return a(...) end, index = function(a, k) return a[k] end,
    newindex = function(a, k, v) a[k] = v end, pairs = function(a) for _ in pairs(a) do end end,
    idiv = function(a, b) return a // b end, pow = function(a, b) return a ^ b end,
  }
  for _, name in ipairs(sorted_keys(ops)) do
    for _, t in ipairs(shapes()) do hammer(name .. ' on ' .. t:shape_str(), ops[name], 2, 30, {t}) end
    hammer(name .. ' (tensor second)', function(a, b) return ops[name](b or a, a) end, 2, 30)
  end
  local t = C.tensor_new(2, 3)
  names(must_fail('t[1.5]', function() return t[1.5] end), 't[1.5]', 'integer', 'number')
  names(must_fail('t[0]', function() return t[0] end), 't[0]', 'out of range')
  names(must_fail('t[3]', function() return t[3] end), 't[3]', 'out of range')
  names(must_fail('t[nan] = 1', function() t[nan] = 1 end), 't[nan]', 'integer', 'number')
  names(must_fail('t[1] = wrong row', function() t[1] = C.tensor_new(4) end), 't[1] =', 'elements')
  names(must_fail('t + (3,2)', function() return t + C.tensor_new(3, 2) end), 't + u', 'differ', 'shape')
  names(must_fail('t + "x"', function() return t + 'x' end), 't + "x"', 'Tensor', 'tensor')
  T.eq(#C.tensor_new(BIG, 0), BIG, '#t of a huge empty tensor')
end)

T.test('a tensor cannot be freed under its own feet (no __gc reachable from scripts)', function()
  local t = normlab.tensor{1, 2, 3, 4}
  local v = t:narrow(2, 2)
  local gc = getmetatable(t).__gc
  if gc then pcall(gc, t) end
  t:fill(1)
  v:fill(5)
  T.eq(t:sum(), 12, 'the tensor and its view still own live memory')
  T.eq(tostring(t):match('size 4'), 'size 4', 'still printable')
end)

T.test('absurd sizes are errors (allocation failure included), never aborts', function()
  names(must_fail('Tensor(2^40)', C.tensor_new, BIG), 'Tensor(2^40)', 'cannot allocate', 'too many')
  names(must_fail('Tensor(2^20, 2^20, 2)', C.tensor_new, 1 << 20, 1 << 20, 2), 'Tensor', 'too many elements')
  names(must_fail('Tensor(-1)', C.tensor_new, -1), 'Tensor(-1)', 'negative')
  names(must_fail('Tensor of 9 dims', C.tensor_new, 1, 1, 1, 1, 1, 1, 1, 1, 1), '9 dims', 'dimensions')
  local long = setmetatable({}, { __len = function() return -3 end })
  names(must_fail('Tensor{#=-3}', C.tensor_new, long), 'Tensor{#=-3}', 'dimensions')
  names(must_fail('ones(2^40)', C.tensor_ones, BIG), 'ones', 'cannot allocate', 'too many')
  local t = C.tensor_new(0)
  names(must_fail('view(2^40,2^40,2^40,0)', t.view, t, BIG, BIG, BIG, 0), 'view', 'too many', 'cannot view')
  names(must_fail('view(2^62,4,0)', t.view, t, 1 << 62, 4, 0), 'view', 'too many', 'cannot view')
  names(must_fail('totable of (2^40,0)', function() return C.tensor_new(BIG, 0):totable() end),
    'totable', 'too large', 'table')
  T.eq(#C.tensor_new(3, 0):totable(), 3, 'a (3,0) tensor is still a table of 3 empty rows')
  names(must_fail('ckpt_load a directory', C.ckpt_load, tmp), 'ckpt_load', 'checkpoint')
  collectgarbage()
end)

T.test('regressions: each crash or undefined behaviour this file found, called directly', function()
  local t = C.tensor_new(4, 2)
  -- t:narrow: start - 1 + len overflowed
  names(must_fail('narrow(2^62, 2^62)', t.narrow, t, 1 << 62, 1 << 62), 'narrow', 'out of range')
  names(must_fail('narrow(2, maxinteger)', t.narrow, t, 2, math.maxinteger), 'narrow', 'out of range')
  T.eq(t:narrow(5, 0):numel(), 0, 'an empty narrow at the end is fine')
  -- t:view: the product of the sizes overflowed
  names(must_fail('view(2^62, 4, 0)', t.view, C.tensor_new(0), 1 << 62, 4, 0), 'view', 'too many')
  -- tostring / totable of an empty tensor with huge sizes: rows * cols overflowed, 2^40 tables
  T.truthy(tostring(C.tensor_new(0, 1 << 20, 1 << 20)):find('0x1048576x1048576', 1, true), 'tostring')
  names(must_fail('totable', t.totable, C.tensor_new(BIG, 0)), 'totable', 'too large')
  -- getmetatable(t).__gc(t) freed a live tensor (use after free through its views)
  T.eq(getmetatable(t).__gc, nil, 'no __gc in the metatable scripts see')
  -- the loader: (n + batch - 1) overflowed; batch_len / fill with mininteger; a freed dataset
  local ds = normlab.data.load('cifar10', { sample = true, split = 'test', download = false })
  local loader = normlab.data.Loader(ds, { batch_size = math.maxinteger, train = false })
  T.eq(loader:num_batches(), 1, 'one partial batch')
  T.eq(loader.h:batch_len(math.mininteger), 0, 'batch_len(mininteger)')
  names(must_fail('fill(mininteger)', loader.h.fill, loader.h, math.mininteger, C.tensor_new(1), C.tensor_new(1)),
    'fill(mininteger)', 'out of range')
  ds.handle:free()
  names(must_fail('fill after free', loader.h.fill, loader.h, 1, C.tensor_new(500, 0, 0, 0), C.tensor_new(500)),
    'fill after free', 'freed')
  -- data_load_cifar with an absurd record count: the message's expect * 3073 overflowed
  names(must_fail('data_load_cifar', C.data_load_cifar, { ds.files and ds.files[1] or tmp }, 10, false, 1 << 62),
    'data_load_cifar', 'cifar')
  -- models.stages(2^40) filled memory
  names(must_fail('models.stages', normlab.models.stages, BIG), 'models.stages', 'depth')
  -- ckpt_load of a directory: ftell gave a huge size
  names(must_fail('ckpt_load(dir)', C.ckpt_load, tmp), 'ckpt_load(dir)', 'not a regular file')
  -- optimizers accepted an infinite learning rate, and failed only at the next step
  names(must_fail('SGD lr=inf', normlab.optim.SGD, { t }, { t }, { lr = inf }), 'SGD lr=inf', 'lr')
end)

---------------------------------------------------------------------------
-- Generators

T.test('Generator methods survive garbage', function()
  local mt = getmetatable(C.generator_new(1))
  local methods = mt.__index
  for _, name in ipairs(sorted_keys(methods)) do
    hammer('g:' .. name, methods[name], 4, 40, {C.generator_new(1)})
    hammer('Generator.' .. name .. ' on garbage self', methods[name], 4, 40)
  end
  hammer('tostring(g)', function(g) return tostring(g) end, 1, 10, {C.generator_new(1)})
  local g = normlab.Generator(1)
  names(must_fail('g:random(0)', g.random, g, 0), 'random', 'at least 1')
  names(must_fail('g:set_state("zz")', g.set_state, g, 'zz'), 'set_state', 'hex')
  names(must_fail('g:set_state(17 digits)', g.set_state, g, string.rep('a', 17)), 'set_state', 'hex')
  names(must_fail('Generator("x")', normlab.Generator, 1, 'nope'), 'Generator', 'invalid option')
end)

---------------------------------------------------------------------------
-- nn layers

local G = normlab.Generator(11, 'init')
-- A valid instance of every layer, the input it expects and a description of it.
local function layers()
  return {
    { nn.Conv2d(3, 4, 3, { padding = 1, gen = G }), normlab.randn(G, 2, 3, 6, 6) },
    { nn.Conv2d(16, 4, 3, { padding = 1, gen = G }), normlab.randn(G, 1, 16, 6, 6) },   -- Winograd
    { nn.Conv2d(3, 2, { 2, 3 }, { stride = 2, bias = false, gen = G }), normlab.randn(G, 2, 3, 5, 7) },
    { nn.BatchNorm2d(3), normlab.randn(G, 2, 3, 4, 4) },
    { nn.GroupNorm(2, 4), normlab.randn(G, 2, 4, 3, 3) },
    { nn.Linear(5, 3, { gen = G }), normlab.randn(G, 4, 5) },
    { nn.MaxPool2d(2), normlab.randn(G, 2, 3, 4, 4) },
    { nn.GlobalAvgPool2d(), normlab.randn(G, 2, 3, 4, 4) },
    { nn.Flatten(), normlab.randn(G, 2, 3, 2, 2) },
    { nn.ReLU(), normlab.randn(G, 2, 3) }, { nn.Sigmoid(), normlab.randn(G, 2, 3) },
    { nn.Tanh(), normlab.randn(G, 2, 3) }, { nn.LeakyReLU(0.1), normlab.randn(G, 2, 3) },
    { nn.Sequential{ nn.Conv2d(3, 4, 3, { gen = G }), nn.ReLU(), nn.GlobalAvgPool2d() },
      normlab.randn(G, 2, 3, 5, 5) },
  }
end

T.test('every nn layer file is covered here', function()
  -- base classes, reached through their layers: Module (all), Normalization (BatchNorm2d, GroupNorm)
  local covered = { Module = true, Normalization = true, CrossEntropy = true }
  for _, l in ipairs(layers()) do covered[l[1]:type_name()] = true end
  for _, name in ipairs(nn.names()) do T.truthy(covered[name], 'layer ' .. name .. ' has hostile tests') end
end)

T.test('every nn constructor survives garbage', function()
  for _, name in ipairs(nn.names()) do
    hammer('nn.' .. name, nn[name], 4, 80)
  end
  names(must_fail('Conv2d(0, 4, 3)', nn.Conv2d, 0, 4, 3), 'Conv2d', 'Conv2d')
  names(must_fail('Conv2d(3, 4, nan)', nn.Conv2d, 3, 4, nan), 'Conv2d', 'Conv2d')
  names(must_fail('Conv2d(2^40, 2^40, 3)', nn.Conv2d, BIG, BIG, 3), 'Conv2d', 'tensor', 'Conv2d')
  names(must_fail('Linear(2^40, 2)', nn.Linear, BIG, 2), 'Linear', 'cannot allocate', 'too many elements')
  names(must_fail('BatchNorm2d(-1)', nn.BatchNorm2d, -1), 'BatchNorm2d', 'BatchNorm2d')
  names(must_fail('BatchNorm2d(3, {eps=nan})', nn.BatchNorm2d, 3, { eps = nan }), 'BatchNorm2d', 'eps')
  names(must_fail('GroupNorm(3, 4)', nn.GroupNorm, 3, 4), 'GroupNorm', 'GroupNorm')
  names(must_fail('MaxPool2d(inf)', nn.MaxPool2d, inf), 'MaxPool2d', 'MaxPool2d')
  names(must_fail('LeakyReLU("x")', nn.LeakyReLU, 'x'), 'LeakyReLU', 'LeakyReLU')
  names(must_fail('Sequential{1}', nn.Sequential, { 1 }), 'Sequential', 'Sequential')
end)

T.test('every layer: forward / backward / update_grad_input / acc_grad_parameters survive garbage',
function()
  for _, l in ipairs(layers()) do
    local m, x = l[1], l[2]
    local who = tostring(m:describe())
    for _, meth in ipairs({ 'forward', 'backward', 'update_grad_input', 'acc_grad_parameters', 'macs',
                            'zero_grad', 'train', 'evaluate', 'clear_state', 'parameters', 'describe' }) do
      hammer(who .. ':' .. meth, m[meth], 3, 40, {m})
      hammer(who .. ':' .. meth .. ' (x valid)', m[meth], 2, 30, {m, x})
    end
    m:train()
    local y = m:forward(x)   -- still works after all that
    m:backward(x, y:clone())
  end
end)

T.test('layers reject a wrong input with a message naming the layer', function()
  for _, l in ipairs(layers()) do
    local m, x = l[1], l[2]
    local tn = m:type_name()
    local y = m:forward(x):clone()
    -- layers that take any shape (or any channel count) may accept a tensor of another shape
    local any_shape = ({ ReLU = 1, Sigmoid = 1, Tanh = 1, LeakyReLU = 1, Flatten = 1, MaxPool2d = 1,
                         GlobalAvgPool2d = 1 })[tn]
    for _, bad in ipairs({ 5, 'x', {}, nan, C.tensor_new(7), C.tensor_new(1, 9, 2, 2), C.tensor_new(0, 9),
                           C.generator_new(1) }) do
      if not any_shape or not C.is_tensor(bad) then
        names(must_fail(tn .. ':forward', m.forward, m, bad), tn .. ':forward', tn, 'expected', 'layer 1 (')
      end
      -- (Conv2d overrides backward and does not check for a non-tensor: Lua's own
      -- "attempt to index a number value (local 'x')" is what it raises; reported)
      local any = tn == 'Conv2d' and not C.is_tensor(bad) and 'attempt to ' or tn
      if tn == 'Sequential' then any = 'layer ' end   -- the child's message, with its position
      names(must_fail(tn .. ':backward', m.backward, m, x, bad), tn .. ':backward(x, bad)', tn, 'expected', any)
      if not C.is_tensor(bad) then
        names(must_fail(tn .. ':backward', m.backward, m, bad, y), tn .. ':backward(bad, gy)', tn, 'expected', any)
      end
    end
    m:forward(x)   -- and it still works
  end
end)

-- Replaces m[field] (and its entry in m.params) by v.
local function replace(m, field, v)
  for i, p in ipairs(m.params) do if p == m[field] then m.params[i] = v end end
  for i, p in ipairs(m.grads) do if p == m[field] then m.grads[i] = v end end
  if m.buffers[field] then m.buffers[field] = v end
  m[field] = v
end

T.test('a layer whose parameters changed shape raises, never crashes', function()
  local wrong = {
    function(t) return C.tensor_new(t:numel() + 1) end,                   -- one more element
    function(t) return C.tensor_new(math.max(t:numel() - 1, 0)) end,      -- one fewer
    function(t) return C.tensor_new(t:numel()) end,                       -- flattened
    function(t) local s = t:size(); s[1] = s[1] + 1; return C.tensor_new(s) end,
    function(t) local s = t:size(); s[#s] = s[#s] + 2; return C.tensor_new(s) end,
    function(t) return C.tensor_new(0) end,
    function() return C.tensor_from(1) end,
    function() return 3 end, function() return nil end, function() return 'weight' end,
  }
  for i, proto in ipairs(layers()) do
    local fields = {}
    for _, n in ipairs(proto[1].param_names) do fields[#fields + 1] = n; fields[#fields + 1] = 'grad_' .. n end
    for _, n in ipairs(sorted_keys(proto[1].buffers)) do fields[#fields + 1] = n end
    local algos = proto[1]:type_name() == 'Conv2d' and { 'plain', 'winograd' } or { 'auto' }
    for _, algo in ipairs(algos) do
      for _, field in ipairs(fields) do
        for k, make in ipairs(wrong) do
          local m, x = table.unpack(layers()[i])
          m.algorithm = algo
          local y = m:forward(x):clone()
          local before = m[field]:numel()
          replace(m, field, make(m[field]))
          local what = string.format('%s with %s replaced (%d, %s)', m:describe(), field, k, algo)
          local ok1, e1 = survive(what .. ' forward', m.forward, {m, x}, 2)
          local ok2, e2 = survive(what .. ' backward', m.backward, {m, x, y}, 3)
          if not ok1 then names(e1, what, m:type_name(), 'expected') end
          if not ok2 then names(e2, what, m:type_name(), 'expected') end
          -- another element count may not pass unnoticed
          if ok1 and ok2 and C.is_tensor(m[field]) and m[field]:numel() ~= before then
            error(what .. ': accepted silently', 0)
          end
        end
      end
    end
  end
end)

T.test('models.plain: a Conv2d whose weight was replaced by another shape', function()
  local model = normlab.models.plain{ depth = 2, gen = normlab.Generator(1, 'init') }
  local x = normlab.randn(G, 2, 3, 8, 8)
  local params, grads = model:parameters()
  local opt = normlab.optim.SGD(params, grads, { lr = 0.1, momentum = 0.9 })
  local crit = nn.CrossEntropy()
  local y = normlab.tensor{ 1, 2 }
  local conv = model.modules[1]
  conv.weight = C.tensor_new(32, 5, 3, 3)
  names(must_fail('forward', model.forward, model, x), 'forward', 'layer 1 (Conv2d', 'expected')
  conv.weight = C.tensor_new(32, 3, 5, 5)
  names(must_fail('forward', model.forward, model, x), 'forward', 'layer 1 (Conv2d')
  conv.weight = C.tensor_new(16, 3, 3, 3)
  names(must_fail('forward', model.forward, model, x), 'forward', 'layer 1 (Conv2d', 'expected')
  conv.weight = params[1]
  local out = model:forward(x)
  crit:forward(out, y)
  model:backward(x, crit:backward(out, y))
  opt:step()
  -- the optimizer's buffers no longer match the parameters
  params[1] = C.tensor_new(2, 2)
  names(must_fail('SGD:step', opt.step, opt), 'SGD:step', 'SGD', 'parameter 1')
  -- the checkpoint of the changed model does not load into the original one
  local path = tmp .. '/changed.ckpt'
  local other = normlab.models.plain{ depth = 2, gen = normlab.Generator(2, 'init') }
  other.modules[1].params[1] = C.tensor_new(32, 3, 5, 5)
  checkpoint.save(path, { model = other })
  names(must_fail('checkpoint.load', checkpoint.load, path, { model = normlab.models.plain{ depth = 2 } }),
    'checkpoint.load', 'shape')
  local wider = normlab.models.plain{ depth = 3 }
  names(must_fail('checkpoint.load', checkpoint.load, path, { model = wider }), 'checkpoint.load',
    'missing', 'shape', 'tensors')
end)

---------------------------------------------------------------------------
-- CrossEntropy, optimizers, models

T.test('CrossEntropy: NaN, inf, bad labels, wrong shapes', function()
  local crit = nn.CrossEntropy()
  hammer('CrossEntropy:forward', crit.forward, 3, 60, {crit})
  hammer('CrossEntropy:backward', crit.backward, 4, 60, {crit})
  hammer('nn.accuracy', nn.accuracy, 3, 60)
  local z = normlab.randn(G, 3, 4)
  for _, lab in ipairs({ { 0, 1, 4 }, { 0, 1, -1 }, { 0, 1, 0.5 }, { 0, 1, nan }, { 0, 1, inf },
                         { 0, 1, -inf }, { 0, 1, 2.0 ^ 40 }, { 0, 1, -2.0 ^ 63 } }) do
    local labels = normlab.tensor(lab)
    names(must_fail('xent', crit.forward, crit, z, labels), 'labels ' .. tostring(lab[3]), 'CrossEntropy')
    names(must_fail('xent', crit.backward, crit, z, labels), 'labels ' .. tostring(lab[3]), 'CrossEntropy')
    names(must_fail('accuracy', nn.accuracy, z, labels), 'labels ' .. tostring(lab[3]), 'CrossEntropy')
  end
  local ok_labels = normlab.tensor{ 0, 1, 2 }
  local l = crit:forward(filled(nan, 3, 4), ok_labels)
  T.truthy(l ~= l, 'NaN logits give a NaN loss (the caller stops the run)')
  crit:forward(filled(inf, 3, 4), ok_labels)
  crit:backward(filled(-inf, 3, 4), ok_labels, nan)
  names(must_fail('xent (3,4) vs (2)', crit.forward, crit, z, normlab.tensor{ 0, 1 }), 'xent', 'CrossEntropy')
  names(must_fail('xent (0,4)', crit.forward, crit, C.tensor_new(0, 4), C.tensor_new(0)), 'xent (0,4)',
    'CrossEntropy')
  names(must_fail('xent (3,0)', crit.forward, crit, C.tensor_new(3, 0), ok_labels), 'xent (3,0)', 'CrossEntropy')
end)

T.test('optim.SGD / Adam: garbage lists, options and hyper-parameters', function()
  local p, g = { normlab.randn(G, 3) }, { normlab.randn(G, 3) }
  for _, O in ipairs({ normlab.optim.SGD, normlab.optim.Adam }) do
    hammer('optim constructor', O, 3, 80)
    hammer('optim constructor (lists valid)', O, 1, 40, {p, g})
    for _, opts in ipairs({ { lr = nan }, { lr = -1 }, { lr = inf }, { momentum = 1 }, { momentum = nan },
                            { weight_decay = -inf }, { betas = { 1, 0.9 } }, { betas = { nan, 0.9 } },
                            { betas = 'x' }, { eps = -1 }, { eps = nan }, { lr = 'x' } }) do
      survive('optim opts', O, {p, g, opts}, 3)
    end
    names(must_fail('lists differ', O, p, {}), 'lists differ', 'parameters', 'expected')
    names(must_fail('not tensors', O, { 1 }, { 2 }), 'not tensors', 'not a tensor')
    names(must_fail('shapes differ', O, p, { C.tensor_new(4) }), 'shapes differ', 'shape')
    local opt = O(p, g, { lr = 0.1 })
    for _, meth in ipairs({ 'step', 'set_lr', 'get_lr', 'state_tensors' }) do
      hammer('opt:' .. meth, opt[meth], 2, 30, {opt})
    end
    opt:set_lr(0.1)
    names(must_fail('set_lr(nan)', opt.set_lr, opt, nan), 'set_lr', 'lr')
    names(must_fail('set_lr(inf)', opt.set_lr, opt, inf), 'set_lr', 'lr')
    T.eq(opt:get_lr(), 0.1, 'a rejected learning rate leaves the old one')
    g[1] = C.tensor_new(5)   -- a gradient replaced by another shape after construction
    names(must_fail('step', opt.step, opt), 'step with a wrong gradient', 'parameter 1')
    g[1] = normlab.randn(G, 3)
    opt:step()
    filled(nan, 3):copy(g[1])
    g[1]:fill(nan)
    opt:step()   -- NaN gradients are data, not an error (train.lua detects the divergence)
  end
end)

T.test('models.plain: garbage options', function()
  hammer('models.plain', normlab.models.plain, 2, 40)
  for _, opts in ipairs({ { depth = 0 }, { depth = 9 }, { depth = nan }, { depth = 2.5 }, { depth = BIG },
                          { act = 'nope' }, { norm = 1 }, { order = {} }, { classes = 0 }, { classes = BIG },
                          { classes = -3 }, { width = 0 }, { width = -1 }, { width = BIG }, { groups = 5 },
                          { groups = 0 }, { in_channels = 0 }, { gen = 'x' }, { depth = 1, classes = nan },
                          { negative_slope = nan, act = 'leakyrelu', depth = 1 }, { eps = -1, depth = 1 } }) do
    local ok, err = survive('models.plain', normlab.models.plain, {opts}, 1)
    if not ok then names(err, 'models.plain', 'models.plain', 'Conv2d', 'Linear', 'Norm', 'expected', 'must',
      'too many elements', 'cannot allocate') end
  end
end)

---------------------------------------------------------------------------
-- checkpoints

T.test('checkpoint.save / load: garbage arguments and hostile files', function()
  local model = normlab.models.plain{ depth = 1 }
  local run = { model = model, generators = { init = normlab.Generator(1) }, epoch = 1, step = 2 }
  local good = tmp .. '/good.ckpt'
  checkpoint.save(good, run)
  hammer('checkpoint.save', checkpoint.save, 2, 60)
  hammer('checkpoint.load', checkpoint.load, 2, 60)
  hammer('checkpoint.save (path valid)', checkpoint.save, 1, 40, {tmp .. '/x.ckpt'})
  hammer('checkpoint.load (path valid)', checkpoint.load, 1, 40, {good})
  for _, bad in ipairs({ { model = 3 }, { model = { params = { 3 }, param_names = { 'w' } } },
                         { model = { buffers = { x = 'y' } } }, { model = model, generators = { g = 3 } },
                         { model = model, optimizer = {} }, { model = model, meta = { a = {} } },
                         { model = { modules = { 5 } } } }) do
    survive('checkpoint.save', checkpoint.save, {tmp .. '/bad.ckpt', bad}, 2)
  end
  local bytes = io.open(good, 'rb'):read('a')
  local function file(name, s)
    local p = tmp .. '/' .. name
    local f = io.open(p, 'wb'); f:write(s); f:close()
    return p
  end
  local cases = {
    file('empty', ''), file('junk', string.rep('\255', 1000)), file('text', 'return os.exit(3)\n'),
    file('half', bytes:sub(1, #bytes // 2)), file('tail', bytes:sub(2)),
    file('flipped', bytes:sub(1, 40) .. string.char((bytes:byte(41) + 1) % 256) .. bytes:sub(42)),
    file('doubled', bytes .. bytes), '/dev/null', tmp, tmp .. '/missing',
  }
  for _, p in ipairs(cases) do
    names(must_fail('checkpoint.load ' .. p, checkpoint.load, p, { model = normlab.models.plain{ depth = 1 } }),
      p, 'checkpoint')
  end
  -- a valid file for another model: a clear shape error
  names(must_fail('checkpoint.load', checkpoint.load, good, { model = normlab.models.plain{ depth = 2 } }),
    'checkpoint.load into depth 2', 'shape', 'missing', 'tensors')
  -- a valid file whose generator state is not a state
  C.ckpt_save(tmp .. '/badrng.ckpt', { { 'rng.init', 'zz' }, { 'epoch', 'x' } })
  names(must_fail('bad rng state', checkpoint.load, tmp .. '/badrng.ckpt',
    { model = nn.Sequential{}, generators = { init = normlab.Generator(1) } }), 'bad rng', 'hex')
end)

---------------------------------------------------------------------------
-- data

T.test('data.load / Loader: garbage names, options and loaders', function()
  hammer('data.load', function(name, opts)
    if type(opts) == 'table' then opts.download = false end
    return normlab.data.load(name, opts)
  end, 2, 60)
  local ds = normlab.data.load('cifar10', { sample = true, split = 'test', download = false })
  for _, opts in ipairs({ { split = 'nope' }, { labels = 'coarse' }, { labels = 3 }, { root = 3 },
                          { root = tmp }, { sample = 'x' } }) do
    opts.download = false
    survive('data.load', normlab.data.load, {'cifar10', opts}, 2)
    survive('data.load', normlab.data.load, {'fashion-mnist', opts}, 2)
  end
  hammer('data.Loader', normlab.data.Loader, 2, 60)
  hammer('data.Loader (ds valid)', normlab.data.Loader, 1, 60, {ds})
  for _, opts in ipairs({ { batch_size = 0 }, { batch_size = -1 }, { batch_size = BIG },
                          { batch_size = math.maxinteger, train = false }, { batch_size = math.maxinteger },
                          { batch_size = nan }, { batch_size = 1.5 }, { subset = 0 }, { subset = -1 },
                          { subset = 1 << 40 }, { pad = -1 }, { pad = 1 << 40 }, { pad = 17 },
                          { mean = { 0 } }, { std = { 0, 0, 0 } }, { std = { nan, 1, 1 } },
                          { mean = { 'x', 1, 1 } }, { seed = nan }, { seed = math.mininteger } }) do
    local ok, err = survive('data.Loader', normlab.data.Loader, {ds, opts}, 2)
    if not ok then names(err, 'data.Loader', 'Loader', 'loader') end
  end
  local loader = normlab.data.Loader(ds, { batch_size = 7, train = true })
  for _, meth in ipairs({ 'num_batches', 'size', 'batch', 'epoch' }) do
    hammer('loader:' .. meth, loader[meth], 2, 40, {loader})
  end
  local h = loader.h
  for _, meth in ipairs({ 'num_batches', 'size', 'batch_len', 'set_epoch', 'fill', 'epoch' }) do
    hammer('loader handle:' .. meth, h[meth], 3, 60, {h})
  end
  for _, meth in ipairs({ 'n', 'shape', 'num_classes', 'label', 'label_counts', 'image', 'channel_stats' }) do
    hammer('dataset handle:' .. meth, ds.handle[meth], 2, 40, {ds.handle})
  end
  -- the dataset freed under a live loader: errors, not a read of freed memory
  local x, y = loader:batch(1)
  ds.handle:free()
  names(must_fail('batch after free', loader.batch, loader, 1), 'loader after free', 'loader', 'expected')
  names(must_fail('raw fill after free', h.fill, h, 1, C.tensor_new(7, 0, 0, 0), C.tensor_new(7)),
    'raw fill after free', 'loader', 'freed')
  names(must_fail('image after free', ds.image, ds, 1), 'image after free', 'freed', 'empty')
  T.truthy(x:numel() == 7 * 3 * 32 * 32 and y:numel() == 7, 'the last batch stays a valid tensor')
end)

---------------------------------------------------------------------------
-- json

T.test('json.decode: garbage and hostile text are errors with a position', function()
  hammer('json.decode', json.decode, 3, 60)
  hammer('json.encode', json.encode, 1, 60)
  local texts = { '', ' ', '{', '[', '"', '"\\', '"\\u', '"\\ud800"', '"\\udc00"', '"\\ud800\\u0041"', '{"a"',
    '{"a":', '{"a":1,}', '[1,]', '01', '-', '1e', '1e+', '.5', '1.', 'nul', 'tru', 'NaN', 'Infinity', '-Infinity',
    '1e400', '-1e400', '123456789012345678901234567890', '"\255\254"', '"\0"', '{"a":1}x', '{1:2}',
    string.rep('[', 500) .. string.rep(']', 500), string.rep('{"a":', 300) .. '1' .. string.rep('}', 300),
    '{"a":1,"a":2}', '\239\187\191{}', '"' .. string.rep('\\u0041', 1000) .. '"' }
  for _, s in ipairs(texts) do
    local ok, v = survive('json.decode', json.decode, {s}, 1)
    if not ok then names(v, 'json.decode ' .. s:sub(1, 20), 'json:') end
  end
  for _ = 1, 300 do   -- random bytes, biased towards JSON's own characters
    local alphabet = '{}[]":,.-+eE0123456789 \\untrfals\n\t\0\200\255'
    local n, buf = math.random(0, 40), {}
    for i = 1, n do local k = math.random(#alphabet); buf[i] = alphabet:sub(k, k) end
    survive('json.decode', json.decode, {table.concat(buf)}, 1)
  end
  local f = io.open(tmp .. '/r.jsonl', 'wb')
  f:write('{"a":1}\n{"b":x}\n[1,2]\n')
  f:close()
  names(must_fail('read_lines', json.read_lines, tmp .. '/r.jsonl'), 'read_lines', 'r.jsonl:2:')
  survive('read_lines', json.read_lines, {tmp}, 1)
end)

T.test('the interpreter is still healthy', function()
  collectgarbage()
  collectgarbage()
  local t = normlab.randn(normlab.Generator(1), 4, 4)
  T.near((t + t):sum(), 2 * t:sum(), 1e-5, 'arithmetic')
  T.eq(C.get_threads(), threads0, 'thread count restored')
  T.eq(C.interrupted(), false, 'no interrupt pending')
end)

os.execute('rm -rf ' .. q(tmp))
T.done()
