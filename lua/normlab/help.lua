-- normlab.help: short descriptions and signatures of normlab's functions,
-- layers and modules. At the prompt: help(x) or ?x (also ?nn.Conv2d, ?x:size).
--
--   local help = require 'normlab.help'
--   help(x)                      prints the help of a value (function, layer, tensor, module)
--   help('nn.Conv2d')            ... or of a name
--   help.text(x) -> string       the same text, not printed
--   help.register{name = 'nn.Conv2d', sig = 'nn.Conv2d(cin, cout, k, {stride=1, pad=0})',
--                 doc = 'A 2-D convolution ...', obj = Conv2d}
--
-- Names are written without the leading "normlab." ("zeros", "nn.Conv2d") and
-- methods with a colon ("Tensor:size", "nn.Module:forward"). A layer registers
-- itself in its own file (pass obj = its class). A Lua function or layer that
-- nobody registered still gets its parameter names from the debug library and
-- is said to have no description; anything else unknown says so.
local help = { entries = {} }

local by_object = setmetatable({}, { __mode = 'k' })   -- value -> entry
local unresolved = {}                                   -- entries whose value is not yet known

local function canon(name)
  name = name:gsub('^%s+', ''):gsub('%s+$', ''):gsub('%(%)$', '')
  name = name:gsub('^normlab%.', '')
  if name == 'T' then return 'Tensor' end
  return (name:gsub('^T([.:])', 'Tensor%1'))
end

-- help.register{name=, sig=, doc=, obj=} or help.register(name, sig, doc, obj); returns obj.
function help.register(spec, sig, doc, obj)
  if type(spec) == 'string' then spec = { name = spec, sig = sig, doc = doc, obj = obj } end
  assert(type(spec) == 'table' and type(spec.name) == 'string', 'help.register: expected {name=..., sig=..., doc=...}')
  local e = { name = canon(spec.name), sig = spec.sig or spec.name, doc = spec.doc or '', obj = spec.obj }
  help.entries[e.name] = e
  if e.obj ~= nil then by_object[e.obj] = e else unresolved[e.name] = e end
  return spec.obj
end

-- Built-in entries ---------------------------------------------------------------------
-- {name, signature, description}; layers add their own (see nn/*.lua).
local builtin = {
  { 'help', 'help(x)  or  ?x at the prompt',
    "Short description and signature of a normlab function, layer, module or tensor.\n" ..
    "help('nn') lists a module; help() gives an overview." },
  -- tensors
  { 'Tensor', 'normlab.Tensor(d1, d2, ...)  or  normlab.Tensor{d1, d2, ...} -> Tensor',
    'A contiguous float32 tensor of zeros of that shape (T at the prompt).\n' ..
    'Indices are 1-based; t[i] is a value (1-D) or a view of row i. a+b, a-b, a*b, a/b, -a\n' ..
    'make new tensors (elementwise, tensor or number operands). Methods: ?T:size, ...' },
  { 'zeros', 'normlab.zeros(d1, d2, ...) -> Tensor', 'A tensor of zeros (the shape as numbers or one table).' },
  { 'ones', 'normlab.ones(d1, d2, ...) -> Tensor', 'A tensor of ones.' },
  { 'tensor', 'normlab.tensor{{1, 2}, {3, 4}} -> Tensor', 'A tensor from a (nested) Lua table of numbers.' },
  { 'is_tensor', 'normlab.is_tensor(v) -> boolean', 'Whether v is a normlab.Tensor.' },
  { 'rand', 'normlab.rand(gen, d1, d2, ...) -> Tensor', 'Uniform in [0, 1), drawn from the Generator gen.' },
  { 'randn', 'normlab.randn(gen, d1, d2, ...) -> Tensor', 'Standard normal, drawn from the Generator gen.' },
  { 'Generator', 'normlab.Generator(seed, stream) -> Generator',
    "A seeded random generator; stream is 'init', 'order', 'augment' or an integer.\n" ..
    'Methods: g:uniform() g:normal() g:random(n) g:state() g:set_state(s) g:clone()' },
  { 'set_threads', 'normlab.set_threads(n) -> n', "Threads for OpenBLAS and normlab's own loops." },
  { 'threads', 'normlab.threads() -> n', 'The current thread count.' },
  { 'Tensor:dim', 't:dim() -> n', 'The number of dimensions.' },
  { 'Tensor:size', 't:size() -> {d1, d2, ...};  t:size(i) -> di', 'The shape, or the size of dimension i.' },
  { 'Tensor:numel', 't:numel() -> n', 'The number of elements.' },
  { 'Tensor:shape_str', 't:shape_str() -> "(2,3)"', 'The shape as a string.' },
  { 'Tensor:get', 't:get(i, j, ...) -> number', 'One element (1-based indices).' },
  { 'Tensor:set', 't:set(v, i, j, ...) -> t', 'Sets one element (1-based indices).' },
  { 'Tensor:narrow', 't:narrow(start, len) -> view', 'Rows start .. start+len-1 along dimension 1 (shares the data).' },
  { 'Tensor:select', 't:select(i) -> view', 'Row i along dimension 1, one dimension fewer (the same as t[i] for N-D).' },
  { 'Tensor:view', 't:view(d1, d2, ...) -> view', 'The same data with a new shape (numel must match; one -1 allowed). Alias: reshape.' },
  { 'Tensor:reshape', 't:reshape(d1, d2, ...) -> view', 'The same as t:view.' },
  { 'Tensor:clone', 't:clone() -> Tensor', 'A copy with its own data.' },
  { 'Tensor:copy', 't:copy(src) -> t', 'Copies the values of src (same number of elements).' },
  { 'Tensor:fill', 't:fill(v) -> t', 'Sets every element to v.' },
  { 'Tensor:zero', 't:zero() -> t', 'Sets every element to 0.' },
  { 'Tensor:uniform', 't:uniform(gen, lo, hi) -> t', 'Fills with uniform values in [lo, hi) from the Generator gen.' },
  { 'Tensor:normal', 't:normal(gen, mean, std) -> t', 'Fills with normal values from the Generator gen.' },
  { 'Tensor:add', 't:add(x) -> t', 'In place: t + x (x a number or a tensor of the same shape).' },
  { 'Tensor:sub', 't:sub(x) -> t', 'In place: t - x.' },
  { 'Tensor:mul', 't:mul(x) -> t', 'In place: t * x (elementwise).' },
  { 'Tensor:div', 't:div(x) -> t', 'In place: t / x (elementwise).' },
  { 'Tensor:axpy', 't:axpy(alpha, x) -> t', 'In place: t += alpha * x.' },
  { 'Tensor:sum', 't:sum() -> number', 'The sum of all elements.' },
  { 'Tensor:mean', 't:mean() -> number', 'The mean of all elements.' },
  { 'Tensor:sumsq', 't:sumsq() -> number', 'The sum of squares.' },
  { 'Tensor:norm', 't:norm() -> number', 'The Euclidean (Frobenius) norm.' },
  { 'Tensor:max', 't:max() -> number', 'The largest element.' },
  { 'Tensor:min', 't:min() -> number', 'The smallest element.' },
  { 'Tensor:all_finite', 't:all_finite() -> boolean', 'Whether no element is NaN or infinite.' },
  { 'Tensor:argmax', 't:argmax() -> Tensor (N)', 'For an (N,K) tensor: the 0-based index of the largest entry of each row (as labels are).' },
  { 'Tensor:totable', 't:totable() -> table', 'The values as a nested Lua table.' },
  { 'Generator:uniform', 'g:uniform() -> number in [0, 1)', 'The next uniform number.' },
  { 'Generator:normal', 'g:normal() -> number', 'The next standard normal number.' },
  { 'Generator:random', 'g:random(n) -> integer in 1..n', 'A uniform integer.' },
  { 'Generator:state', 'g:state() -> string', 'The state, to save (see g:set_state).' },
  { 'Generator:set_state', 'g:set_state(s)', 'Restores a state from g:state().' },
  { 'Generator:clone', 'g:clone() -> Generator', 'An independent copy at the same state.' },
  -- nn
  { 'nn', 'normlab.nn  (nn at the prompt)',
    'Layers, one per file, with the torch/nn protocol: m:forward(x), m:backward(x, gy),\n' ..
    'm:parameters(), m:zero_grad(), m:train(), m:evaluate(). help(nn) lists them.' },
  { 'nn.Module', 'local L = nn.Module:extend(name)', 'The base class of every layer. L(...) calls L:init(...).' },
  { 'nn.Module:extend', 'Module:extend(name) -> class', 'A subclass; class(...) makes an instance and calls its init(...).' },
  { 'nn.Module:forward', 'm:forward(x) -> output', 'Computes the output (kept in m.output and reused when shapes match).' },
  { 'nn.Module:backward', 'm:backward(x, grad_output) -> grad_input',
    'The gradient with respect to the input; accumulates (+=) the parameter gradients.' },
  { 'nn.Module:parameters', 'm:parameters() -> {params...}, {grads...}', 'The live parameter and gradient tensors (never copies).' },
  { 'nn.Module:zero_grad', 'm:zero_grad()', 'Sets every parameter gradient to zero.' },
  { 'nn.Module:train', 'm:train() -> m', 'Training mode (batch norm uses batch statistics).' },
  { 'nn.Module:evaluate', 'm:evaluate() -> m', 'Evaluation mode (batch norm uses running statistics).' },
  { 'nn.Module:type_name', 'm:type_name() -> string', "The layer's class name, e.g. 'Conv2d'." },
  { 'nn.Module:describe', 'm:describe() -> string', 'A one-line description with the sizes (used by tostring).' },
  { 'nn.Module:macs', 'm:macs(input_shape) -> macs, output_shape', 'Multiply-adds per image (shapes without the batch dimension).' },
  { 'nn.Module:num_parameters', 'm:num_parameters() -> n', 'The number of trainable scalars.' },
  { 'nn.Module:clear_state', 'm:clear_state() -> m', 'Drops the cached outputs and scratch tensors.' },
  { 'nn.CrossEntropy', 'nn.CrossEntropy() -> criterion',
    'Softmax cross-entropy, mean over the batch; labels are 0-based.\n' ..
    'loss = crit:forward(logits, labels);  grad = crit:backward(logits, labels)' },
  { 'nn.accuracy', 'nn.accuracy(logits, labels) -> fraction', 'The fraction of rows whose argmax equals the (0-based) label.' },
  -- optim
  { 'optim', 'normlab.optim  (optim at the prompt)', 'Optimizers (SGD, Adam) and learning-rate schedules (optim.schedule).' },
  { 'optim.SGD', 'optim.SGD(params, grads, {lr=0.05, momentum=0.9, weight_decay=5e-4}) -> opt',
    'SGD with momentum, PyTorch form: v <- mu*v + g; w <- w - lr*v (weight decay added to g).\n' ..
    'opt:step()  opt:set_lr(lr)  opt:state_tensors()' },
  { 'optim.Adam', 'optim.Adam(params, grads, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0}) -> opt',
    'Adam. opt:step()  opt:set_lr(lr)  opt:state_tensors()' },
  { 'optim.schedule', 'optim.schedule.cosine(lr0, T) / .constant(lr) / .linear_scale(base, B, ref)',
    'Learning-rate schedules: functions of the step t that return the rate.' },
  { 'optim.schedule.cosine', 'optim.schedule.cosine(lr0, total_steps) -> function(t) -> lr',
    'lr = lr0/2 * (1 + cos(pi*t/T)) for t = 0 .. T-1.' },
  { 'optim.schedule.constant', 'optim.schedule.constant(lr) -> function(t) -> lr', 'A constant learning rate.' },
  { 'optim.schedule.linear_scale', 'optim.schedule.linear_scale(base, B, ref=128) -> lr', 'base * B / ref (the linear scaling rule).' },
  -- data
  { 'data', 'normlab.data  (data at the prompt)', 'Datasets (CIFAR-10, CIFAR-100, Fashion-MNIST) and a batch loader.' },
  { 'data.load', "data.load(name, {root=nil, split='train'|'test', sample=false, labels='fine'}) -> dataset",
    'ds.name ds.n ds.num_classes ds.classes ds.mean ds.std ds.sample; tostring(ds).' },
  { 'data.Loader', 'data.Loader(ds, {batch_size=128, train=true, seed=1, subset=nil, drop_last=true}) -> loader',
    'for x, y, i in loader:epoch(epoch) do ... end  -- x (B,3,H,W) normalized, y (B) 0-based labels.\n' ..
    'train=true shuffles and augments, deterministically from (seed, epoch). loader:num_batches()' },
  { 'data.fetch', 'data.fetch(name, {root=...})', 'Downloads, verifies (md5) and extracts a dataset.' },
  { 'data.root', 'data.root(opts) -> dir', 'opts.data, else $NORMLAB_DATA, else ./data.' },
  -- models
  { 'models', 'normlab.models  (models at the prompt)', 'Model builders (see models.plain).' },
  { 'models.plain', "models.plain{depth=8, act='relu', norm='bn', order='cna', classes=10, gen=<Generator>, groups=32} -> nn.Sequential",
    'The plain CNN of docs/PROTOCOL.md: depth 3x3 conv blocks (32/64/128 wide), max pooling\n' ..
    "between stages, global average pooling, a linear classifier. act: relu sigmoid leakyrelu tanh;\n" ..
    "norm: bn gn none; order: 'cna' (conv-norm-act) or 'can'." },
  { 'plot', 'normlab.plot  (plot at the prompt)', 'Plots with gnuplot (files first: .dat + .gp).' },
}
for _, b in ipairs(builtin) do help.register(b[1], b[2], b[3]) end

-- Looking things up --------------------------------------------------------------------

local function index(v, k)
  local ok, r = pcall(function() return v[k] end)
  if ok then return r end
end

-- "a.b.c" from the globals, nil when a step is not an identifier or fails.
local function resolve(path, root)
  local v = root or _G
  for name in (path .. '.'):gmatch('(.-)%.') do
    if not name:match('^[%a_][%w_]*$') then return nil end
    local t = type(v)
    if t ~= 'table' and t ~= 'userdata' and t ~= 'string' then return nil end
    v = index(v, name)
    if v == nil then return nil end
  end
  return v
end

local function normlab_root() return package.loaded.normlab end

-- The value an entry names, without loading a module that is not loaded yet.
local function entry_value(e)
  local nl = normlab_root()
  if not nl then return nil end
  local path, method = e.name:match('^(.-):([%a_][%w_]*)$')
  path = path or e.name
  local top = path:match('^[^.]+')
  if rawget(nl, top) == nil then return nil end
  local v = resolve(path, nl)
  if v == nil or method == nil then return v end
  local m = index(v, method)
  if m == nil and type(v) == 'table' and type(rawget(v, 'methods')) == 'table' then m = v.methods[method] end
  return m
end

local function entry_of_value(v)
  if v == nil then return nil end
  local e = by_object[v]
  if e then return e end
  for name, u in pairs(unresolved) do   -- resolve the names whose module is loaded by now
    local obj = entry_value(u)
    if obj ~= nil then
      unresolved[name] = nil
      u.obj = obj
      if by_object[obj] == nil and (type(obj) == 'function' or type(obj) == 'table') then by_object[obj] = u end
    end
  end
  return by_object[v]
end

local function lookup_name(s)
  local n = canon(s)
  local e = help.entries[n] or help.entries['nn.' .. n]
  if e then return e end
  local a, b = n:match('^(.*)[.:]([%a_][%w_]*)$')   -- Tensor.size <-> Tensor:size
  if a then return help.entries[a .. ':' .. b] or help.entries[a .. '.' .. b] end
end

-- A class made by Module:extend: a table that is its own __index with a __name.
local function class_name(v)
  if type(v) == 'table' and rawget(v, '__index') == v and type(rawget(v, '__name')) == 'string' then
    return rawget(v, '__name')
  end
end

-- The class chain of a layer class or instance: {cls, parent, ..., Module}.
local function classes(v)
  local out = {}
  local cls = class_name(v) and v or (type(v) == 'table' and getmetatable(v)) or nil
  while cls and class_name(cls) and #out < 32 do
    out[#out + 1] = cls
    local mt = getmetatable(cls)
    cls = rawget(cls, 'super') or (mt and type(mt.__index) == 'table' and mt.__index) or nil
  end
  return out
end

-- Names under which a value's methods are registered: 'Tensor', 'Generator', 'nn.Conv2d', 'nn.Module'.
local function type_names(v)
  local nl = normlab_root()
  if nl and nl.is_tensor(v) then return { 'Tensor' } end
  local mt = getmetatable(v)
  if type(v) == 'userdata' and type(mt) == 'table' and type(rawget(mt, '__name')) == 'string' then
    return { (rawget(mt, '__name'):gsub('^normlab%.', '')) }
  end
  local out = {}
  for _, cls in ipairs(classes(v)) do
    local e = entry_of_value(cls)
    out[#out + 1] = e and e.name or ('nn.' .. rawget(cls, '__name'))
  end
  return out
end

local function render(e)
  local doc = e.doc ~= '' and ('\n  ' .. e.doc:gsub('\n', '\n  ')) or ''
  return e.sig .. doc
end

-- "(a, b, ...)" from a Lua function's parameter names, without a leading self.
local function params_of(f)
  local info = debug.getinfo(f, 'uS')
  if not info or info.what ~= 'Lua' then return nil end
  local names = {}
  for i = 1, info.nparams do names[#names + 1] = debug.getlocal(f, i) end
  if names[1] == 'self' then table.remove(names, 1) end
  if info.isvararg then names[#names + 1] = '...' end
  return '(' .. table.concat(names, ', ') .. ')', info.short_src .. ':' .. info.linedefined
end

local function method_names(v)
  local set, seen = {}, {}
  local function add(t)
    if type(t) ~= 'table' or seen[t] then return end
    seen[t] = true
    for k, f in next, t do
      if type(k) == 'string' and k:sub(1, 2) ~= '__' and type(f) == 'function' then set[k] = true end
    end
  end
  local mt = getmetatable(v)
  if type(mt) == 'table' then
    add(rawget(mt, 'methods'))
    if type(rawget(mt, '__index')) == 'table' then add(rawget(mt, '__index')) end
  end
  for _, cls in ipairs(classes(v)) do add(cls) end
  if type(v) == 'table' and type(rawget(v, 'methods')) == 'table' then add(v.methods) end
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function wrap_list(prefix, items)
  local lines, line = {}, prefix
  for i, it in ipairs(items) do
    local piece = it .. (i < #items and ', ' or '')
    if #line + #piece > 96 and line ~= prefix then
      lines[#lines + 1] = line
      line = string.rep(' ', #prefix)
    end
    line = line .. piece
  end
  lines[#lines + 1] = line
  return table.concat(lines, '\n')
end

-- The entries under a module prefix ('nn' -> nn.Conv2d, nn.accuracy, ...), one line each.
local function listing(prefix, tbl)
  local names, seen = {}, {}
  for name in pairs(help.entries) do
    local rest = name:sub(#prefix + 2)
    if name:sub(1, #prefix + 1) == prefix .. '.' and not rest:find('[.:]') then
      names[#names + 1] = rest
      seen[rest] = true
    end
  end
  if type(tbl) == 'table' then   -- fields of the module that nobody registered
    local fields = {}
    for k in next, tbl do fields[#fields + 1] = k end
    local mt = getmetatable(tbl)
    if type(rawget(tbl, 'names')) == 'function' and type(mt) == 'table' and type(rawget(mt, '__index')) == 'function' then
      local ok, more = pcall(tbl.names)   -- a module that loads its fields on demand (normlab.nn)
      if ok and type(more) == 'table' then
        for _, k in ipairs(more) do fields[#fields + 1] = k end
      end
    end
    for _, k in ipairs(fields) do
      if type(k) == 'string' and not seen[k] and k:sub(1, 1) ~= '_' then
        names[#names + 1] = k
        seen[k] = true
      end
    end
  end
  table.sort(names)
  local out = {}
  for _, n in ipairs(names) do
    local e = help.entries[prefix .. '.' .. n]
    local sig = e and e.sig
    if not sig then   -- unregistered: the parameter names, from the debug library
      local v = type(tbl) == 'table' and index(tbl, n)
      local f = class_name(v) and rawget(v, 'init') or v
      local params = type(f) == 'function' and params_of(f)
      sig = prefix .. '.' .. n .. (params or '') .. '   (no description registered)'
    end
    out[#out + 1] = string.format('  %-16s %s', n, sig)
  end
  return table.concat(out, '\n')
end

-- normlab.nn, normlab.optim, ... (the lazily loaded submodules)
local function is_module(name)
  local nl = normlab_root()
  return nl ~= nil and type(rawget(nl, 'submodules')) == 'table' and nl.submodules[name] ~= nil
end

local function overview()
  return table.concat({
    'normlab help: help(x) or ?x for a function, layer, module or tensor; ?x:size for a method.',
    '  modules: nn, optim, data, models, plot (help(nn) lists one)',
    '  tensors: T(2, 3), normlab.tensor{{1, 2}, {3, 4}}, normlab.randn(normlab.Generator(1), 4)  (?T for methods)',
    '  layers:  nn.Conv2d, nn.BatchNorm2d, ...  (?nn.Conv2d)',
  }, '\n')
end

-- 'print', 'string.format', ...: the name of a function of Lua's standard library.
local stdlib
local function stdlib_name(f)
  if not stdlib then
    stdlib = {}
    for _, lib in ipairs({ 'coroutine', 'debug', 'io', 'math', 'os', 'package', 'string', 'table', 'utf8' }) do
      local t = package.loaded[lib]
      if type(t) == 'table' then
        for k, v in pairs(t) do
          if type(v) == 'function' then stdlib[v] = lib .. '.' .. k end
        end
      end
    end
    for _, k in ipairs({ 'assert', 'collectgarbage', 'dofile', 'error', 'getmetatable', 'ipairs', 'load',
                         'loadfile', 'next', 'pairs', 'pcall', 'print', 'rawequal', 'rawget', 'rawlen',
                         'rawset', 'require', 'select', 'setmetatable', 'tonumber', 'tostring', 'type',
                         'xpcall' }) do
      local v = rawget(_G, k)
      if type(v) == 'function' then stdlib[v] = k end
    end
  end
  return stdlib[f]
end

-- normlab's own functions (entries with no '.' or ':'), one line each.
local function root_listing()
  local names = {}
  for name in pairs(help.entries) do
    if not name:find('[.:]') and name ~= 'help' and not is_module(name) then names[#names + 1] = name end
  end
  table.sort(names)
  local out = {}
  for _, n in ipairs(names) do out[#out + 1] = string.format('  %-12s %s', n, help.entries[n].sig) end
  return table.concat(out, '\n')
end

-- The help text of a value (label: how the user named it, for messages).
function help.text(v, label)
  local t = type(v)
  label = label or (t == 'string' and v) or nil
  if t == 'string' then
    local e = lookup_name(v)
    if e then
      if is_module(e.name) then return render(e) .. '\n' .. listing(e.name, index(normlab_root(), e.name)) end
      local obj = entry_value(e)
      if obj ~= nil and type(obj) ~= 'function' then return help.text(obj, v) end
      return render(e)
    end
    local obj = resolve(v)
    if obj ~= nil and type(obj) ~= 'string' then return help.text(obj, v) end
    return "no help for '" .. v .. "': not a normlab name, and no such value"
  end
  local nl = normlab_root()
  if v ~= nil and v == nl then return overview() .. '\n' .. root_listing() end
  local e = entry_of_value(v)
  -- a tensor (or other normlab userdata): its class's entry and its methods
  if e == nil and t == 'userdata' then
    local names = type_names(v)
    e = names[1] and help.entries[names[1]]
    if e then
      local what = nl and nl.is_tensor(v) and ('this tensor: ' .. v:shape_str() .. '\n') or ''
      return what .. render(e) .. '\n' .. wrap_list('  methods: ', method_names(v))
    end
  end
  -- a layer class or instance
  local chain = classes(v)
  if e == nil and #chain > 0 then
    local cls = chain[1]
    local name = type_names(v)[1]
    local ce = help.entries[name]
    local head = ''
    if not class_name(v) then
      local ok, d = pcall(tostring, v)
      head = (ok and d:match('^[^\n]*') or name) .. ': an instance of ' .. name .. '\n'
    end
    local body
    if ce then
      body = render(ce)
    else
      local init = rawget(cls, 'init')
      local params, where = nil, nil
      if type(init) == 'function' then params, where = params_of(init) end
      body = name .. (params or '(...)') .. '\n  a layer class; no description registered' ..
             (where and (' (defined at ' .. where .. ')') or '')
    end
    return head .. body .. '\n' .. wrap_list('  methods: ', method_names(v))
  end
  if e then
    if is_module(e.name) then return render(e) .. '\n' .. listing(e.name, v) end   -- list its contents
    if t == 'table' and type(rawget(v, 'methods')) == 'table' then   -- normlab.Tensor
      return render(e) .. '\n' .. wrap_list('  methods: ', method_names(v))
    end
    return render(e)
  end
  if t == 'function' then
    local std = stdlib_name(v)
    if std then
      return std .. ': a Lua standard function; see https://www.lua.org/manual/5.4/manual.html#pdf-' .. std
    end
    local params, where = params_of(v)
    if params then
      return (label or 'function') .. params .. '\n  no description registered (defined at ' .. where .. ')'
    end
    return (label or 'this C function') .. ': no description registered'
  end
  if t == 'table' then
    local keys = {}
    for k in next, v do if type(k) == 'string' then keys[#keys + 1] = k end end
    table.sort(keys)
    local what = "no help for " .. (label or tostring(v))
    if #keys == 0 then return what .. ' (a table)' end
    return what .. ' (a table); its fields:\n' .. wrap_list('  ', keys)
  end
  if v == nil then
    return 'no help for ' .. (label or 'nil') .. ": the value is nil (an undefined name?); try help('name')"
  end
  return 'no help for ' .. (label or tostring(v)) .. ' (a ' .. t .. ')'
end

-- `?s` at the prompt: a name, a path from the globals, or path:method.
function help.query(s)
  s = s:gsub('^%s+', ''):gsub('%s+$', ''):gsub('%(%)$', '')
  if s == '' then print(overview()) return end
  local e = lookup_name(s)
  if e then print(help.text(e.name)) return end
  local base, method = s:match('^(.*):([%a_][%w_]*)$')
  if base then
    local obj = resolve(base)
    if obj == nil then print("no help for '" .. s .. "': " .. base .. ' is not defined') return end
    for _, tn in ipairs(type_names(obj)) do
      local me = help.entries[tn .. ':' .. method]
      if me then print(render(me)) return end
    end
    local f = index(obj, method)
    if f == nil then print("no help for '" .. s .. "': no method " .. method) return end
    print(help.text(f, s))
    return
  end
  local obj = resolve(s)
  if obj == nil then print("no help for '" .. s .. "': not a normlab name, and no such value") return end
  print(help.text(obj, s))
end

setmetatable(help, {
  __call = function(self, ...)
    if select('#', ...) == 0 then print(overview()) return end
    print(help.text((...)))
  end,
})

return help
