-- normlab.repl: the Lua half of the interactive prompt (src/lua/repl.c calls it).
--
--   repl.setup()              binds the short globals, returns their list for the banner
--   repl.complete(word)       completion candidates for `word` (a.b.c, a:b, a global prefix)
--   repl.format(v)            the text the prompt shows for a value
--   repl.print_results(...)   prints a chunk's results (all of them)
--   repl.help_query(s)        `?s` at the prompt
--
-- Completion walks fields of tables and, through metatables, `__index` tables
-- (classes, string methods) and the `methods` table of userdata whose
-- `__index` is a function (normlab.Tensor), as torch/trepl does. Fields that
-- load on first use complete before it: normlab's `submodules` table, and the
-- `names()` function of a table whose `__index` is a function (normlab.nn).
local C = require 'normlab.C'

local M = {}

local is_tensor = C.is_tensor

-- Short globals bound at the prompt only (never in scripts); modules load on first use.
M.short = {
  { 'nn', 'nn' }, { 'optim', 'optim' }, { 'data', 'data' }, { 'plot', 'plot' },
  { 'models', 'models' }, { 'help', 'help' }, { 'T', 'Tensor' },
}

function M.setup(G)
  G = G or _G
  local normlab = rawget(G, 'normlab') or require 'normlab'
  local lazy = {}
  local bound = {}
  for _, s in ipairs(M.short) do
    local name, field = s[1], s[2]
    if rawget(G, name) == nil then
      lazy[name] = field
      bound[#bound + 1] = name == field and name or (name .. '=' .. field)
    end
  end
  -- Bind on first use, so a module that fails to load only fails when it is used.
  local mt = getmetatable(G)
  if mt == nil then
    mt = {}
    setmetatable(G, mt)
  end
  local prev = mt.__index
  mt.__index = function(t, k)
    local field = lazy[k]
    if field then
      local v = normlab[field]
      rawset(t, k, v)
      return v
    end
    if type(prev) == 'function' then return prev(t, k) end
    if type(prev) == 'table' then return prev[k] end
  end
  M.lazy_globals = lazy
  return table.concat(bound, ', ')
end

-- Completion -------------------------------------------------------------------

local keywords = {
  'and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for', 'function', 'goto', 'if',
  'in', 'local', 'nil', 'not', 'or', 'repeat', 'return', 'then', 'true', 'until', 'while',
}

-- v[k] with metamethods, never raising (lazy modules load here).
local function index(v, k)
  local ok, r = pcall(function() return v[k] end)
  if ok then return r end
end

-- Adds the names reachable from v (fields, then metatable __index chains) to set.
local function collect(v, set, seen, depth)
  if v == nil or seen[v] or depth > 16 then return end
  seen[v] = true
  if type(v) == 'table' then
    for k in next, v do
      if type(k) == 'string' then set[k] = true end
    end
    local subs = rawget(v, 'submodules')   -- normlab's lazily loaded modules
    if type(subs) == 'table' then
      for k in next, subs do
        if type(k) == 'string' then set[k] = true end
      end
    end
  end
  local mt = getmetatable(v)
  if type(mt) ~= 'table' then return end
  local idx = rawget(mt, '__index')
  -- a table that loads its fields on demand lists them with names() (normlab.nn)
  if type(v) == 'table' and type(idx) == 'function' and type(rawget(v, 'names')) == 'function' then
    local ok, names = pcall(v.names)
    if ok and type(names) == 'table' then
      for _, k in ipairs(names) do
        if type(k) == 'string' then set[k] = true end
      end
    end
  end
  if type(idx) == 'table' then
    collect(idx, set, seen, depth + 1)
  elseif type(rawget(mt, 'methods')) == 'table' then   -- C userdata: __index is a function
    collect(rawget(mt, 'methods'), set, seen, depth + 1)
  end
end

-- Resolves "a.b.c" from the globals; nil when any step is not an identifier or fails.
local function resolve(path)
  local v = _G
  for name in (path .. '.'):gmatch('(.-)%.') do
    if not name:match('^[%a_][%w_]*$') then return nil end
    if type(v) ~= 'table' and type(v) ~= 'userdata' and type(v) ~= 'string' then return nil end
    v = index(v, name)
    if v == nil then return nil end
  end
  return v
end
M.resolve = resolve

local function callable(v)
  if type(v) == 'function' then return true end
  local mt = getmetatable(v)
  return type(mt) == 'table' and rawget(mt, '__call') ~= nil
end

function M.complete(word)
  local out = {}
  local path, sep, prefix = word:match('^(.*)([.:])([%w_]*)$')
  local set = {}
  if path then
    if path == '' then return out end
    local obj = resolve(path)
    if obj == nil then return out end
    collect(obj, set, {}, 0)
    local show_private = prefix:sub(1, 2) == '__'
    for k in pairs(set) do
      if k:sub(1, #prefix) == prefix and k:match('^[%a_][%w_]*$')
          and (show_private or k:sub(1, 2) ~= '__')
          and (sep == '.' or callable(index(obj, k))) then
        out[#out + 1] = path .. sep .. k
      end
    end
  else
    prefix = word
    if not prefix:match('^[%a_]?[%w_]*$') then return out end
    collect(_G, set, {}, 0)
    for k in pairs(M.lazy_globals or {}) do set[k] = true end
    for _, k in ipairs(keywords) do set[k] = true end
    for k in pairs(set) do
      if k:sub(1, #prefix) == prefix and (prefix:sub(1, 2) == '__' or k:sub(1, 2) ~= '__') then
        out[#out + 1] = k
      end
    end
  end
  table.sort(out)
  return out
end

-- Printing ---------------------------------------------------------------------

local MAX_ENTRIES = 50   -- table entries shown before "... (N more)"
local WIDTH = 80         -- a table fits on one line up to this width

local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == 'string' then return s end
  return string.format('<%s (__tostring failed: %s)>', type(v), tostring(s))
end

-- A class made by Module:extend (or any table that is its own __index with a __name).
local function class_name(v)
  if type(v) == 'table' and rawget(v, '__index') == v and type(rawget(v, '__name')) == 'string' then
    return rawget(v, '__name')
  end
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == 'table' and rawget(mt, '__tostring') ~= nil
end

-- One-line form of a value inside a table.
local function short(v)
  local t = type(v)
  if t == 'string' then
    if #v > 60 then return string.format('%q', v:sub(1, 57)):sub(1, -2) .. '..."' end
    return (string.format('%q', v):gsub('\\\n', '\\n'))
  elseif is_tensor(v) then
    return 'Tensor' .. v:shape_str()
  elseif t == 'table' then
    local cls = class_name(v)
    if cls then return '<class ' .. cls .. '>' end
    if has_tostring(v) then return (safe_tostring(v):match('^[^\n]*')) end
    return next(v) == nil and '{}' or '{...}'
  elseif t == 'userdata' and has_tostring(v) then
    return (safe_tostring(v):match('^[^\n]*'))
  end
  return safe_tostring(v)
end

local function key_str(k)
  if type(k) == 'string' and k:match('^[%a_][%w_]*$') then return k end
  if type(k) == 'string' then return '[' .. string.format('%q', k) .. ']' end
  return '[' .. short(k) .. ']'
end

local type_order = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (type_order[ta] or 9) < (type_order[tb] or 9) end
  if ta == 'number' or ta == 'string' then return a < b end
  return tostring(a) < tostring(b)
end

-- A plain table, one level deep: {1, 2, 3, lr = 0.1}, or one entry per line when long.
local function format_table(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == 'integer' and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  local items, total = {}, n + #keys
  for i = 1, math.min(n, MAX_ENTRIES) do items[#items + 1] = short(rawget(t, i)) end
  for i = 1, math.min(#keys, MAX_ENTRIES - #items) do
    local k = keys[i]
    items[#items + 1] = key_str(k) .. ' = ' .. short(rawget(t, k))
  end
  if total > #items then items[#items + 1] = string.format('... (%d more)', total - #items) end
  if #items == 0 then return '{}' end
  local line = '{' .. table.concat(items, ', ') .. '}'
  if #line <= WIDTH then return line end
  return '{\n  ' .. table.concat(items, ',\n  ') .. '\n}'
end

-- The text shown for a result: tensors and modules through tostring (shape and
-- values / structure), plain tables one level deep, strings as they are.
function M.format(v)
  local t = type(v)
  if t == 'string' then return v end
  if is_tensor(v) or has_tostring(v) then return safe_tostring(v) end
  if t == 'table' then
    local cls = class_name(v)
    if cls then return '<class ' .. cls .. '>' end
    return format_table(v)
  end
  return safe_tostring(v)
end

function M.print_results(...)
  local vals = table.pack(...)
  local strs, multi = {}, false
  for i = 1, vals.n do
    strs[i] = M.format(vals[i])
    if strs[i]:find('\n') then multi = true end
  end
  io.stdout:write(table.concat(strs, multi and '\n' or '\t'), '\n')
  io.stdout:flush()
end

function M.help_query(s)
  return require('normlab.help').query(s)
end

return M
