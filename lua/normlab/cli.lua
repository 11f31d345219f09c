-- normlab.cli: command-line options for scripts, with --help generated from the option list.
--
--   local cli = require 'normlab.cli'
--   local p = cli.parser{usage = 'normlab scripts/x.lua [options]', description = '...'}
--   p:option{'epochs', type = 'int', default = 15, help = 'training epochs'}
--   p:option{'depths', type = 'ints', default = {1,2,3}, help = 'comma-separated depths'}
--   p:option{'quick', type = 'flag', help = '...'}
--   local opts, given = p:parse(arg)       -- raises cli.Error on a bad command line
--   local opts = p:parse_or_exit(arg)      -- prints the error (or --help) and exits
--
-- Types: flag, int, number, string, ints, numbers, strings (comma-separated), and
-- any type with `choices = {...}`. `--name value`, `--name=value`, `--no-flag`.
-- Option names use dashes on the command line and underscores in `opts`
-- (--batch-size -> opts.batch_size). `given[name]` is true when the user set it.
local cli = {}

local Parser = {}
Parser.__index = Parser

function cli.parser(spec)
  spec = spec or {}
  return setmetatable({usage = spec.usage, description = spec.description, epilog = spec.epilog,
                       list = {}, by_name = {}}, Parser)
end

local function key_of(name) return (name:gsub('-', '_')) end

local TYPES = {flag = true, int = true, number = true, string = true, ints = true, numbers = true,
               strings = true}

function Parser:option(o)
  local name = o[1] or o.name
  assert(type(name) == 'string' and name:match('^[%w][%w-]*$'), 'cli: option needs a name')
  o.name, o.key = name, key_of(name)
  o.type = o.type or 'string'
  assert(TYPES[o.type], 'cli: option --' .. name .. ' has unknown type ' .. tostring(o.type))
  assert(not self.by_name[name], 'cli: option --' .. name .. ' declared twice')
  self.list[#self.list + 1] = o
  self.by_name[name] = o
  return self
end

-- Removes an option (a study script can drop one of the common options).
function Parser:remove(name)
  local o = self.by_name[name]
  if not o then return end
  self.by_name[name] = nil
  for i, x in ipairs(self.list) do if x == o then table.remove(self.list, i) break end end
end

function Parser:get(name) return self.by_name[name] end

-- A cli error: a table so that callers can tell it from a bug.
local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.msg end
cli.Error = Error
local function fail(msg) error(setmetatable({msg = msg}, Error), 0) end
function cli.is_error(e) return getmetatable(e) == Error end

local function convert1(o, s, what)
  local v
  if o.type == 'int' or o.type == 'ints' then
    v = math.tointeger(tonumber(s))
    if not v then fail(what .. ' expects an integer, got "' .. s .. '"') end
  elseif o.type == 'number' or o.type == 'numbers' then
    v = tonumber(s)
    if not v or v ~= v then fail(what .. ' expects a number, got "' .. s .. '"') end
  else
    v = s
  end
  if o.choices then
    local ok = false
    for _, c in ipairs(o.choices) do if c == v then ok = true end end
    if not ok then
      fail(what .. ' must be one of ' .. table.concat(o.choices, ', ') .. ' (got "' .. s .. '")')
    end
  end
  if o.min and type(v) == 'number' and v < o.min then fail(what .. ' must be at least ' .. o.min) end
  return v
end

local function convert(o, s)
  local what = '--' .. o.name
  if o.type == 'ints' or o.type == 'numbers' or o.type == 'strings' then
    local out = {}
    for item in (s .. ','):gmatch('([^,]*),') do
      item = item:match('^%s*(.-)%s*$')
      if item == '' then fail(what .. ' has an empty item in "' .. s .. '"') end
      out[#out + 1] = convert1(o, item, what)
    end
    if #out == 0 then fail(what .. ' expects a comma-separated list') end
    return out
  end
  return convert1(o, s, what)
end

local function copy(v)
  if type(v) ~= 'table' then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

-- parse(argv) -> opts, given. argv is a list (arg[1..n]); arg[0] etc. are ignored.
function Parser:parse(argv)
  local opts, given, rest = {}, {}, {}
  for _, o in ipairs(self.list) do
    if o.type == 'flag' then opts[o.key] = o.default or false else opts[o.key] = copy(o.default) end
  end
  local i, n = 1, #argv
  while i <= n do
    local a = argv[i]
    if a == '--' then
      for j = i + 1, n do rest[#rest + 1] = argv[j] end
      break
    elseif a == '-h' or a == '--help' then
      opts.help = true
      given.help = true
    elseif a:sub(1, 2) == '--' then
      local name, value = a:match('^%-%-([^=]+)=(.*)$')
      name = name or a:sub(3)
      local o, negated = self.by_name[name], false
      if not o and name:sub(1, 3) == 'no-' and self.by_name[name:sub(4)]
         and self.by_name[name:sub(4)].type == 'flag' then
        o, negated = self.by_name[name:sub(4)], true
      end
      if not o then
        local hint = ''
        for _, x in ipairs(self.list) do
          if x.name:find(name, 1, true) or name:find(x.name, 1, true) then hint = ' (did you mean --' .. x.name .. '?)' break end
        end
        fail('unknown option --' .. name .. hint .. '; see --help')
      end
      if o.type == 'flag' then
        if value ~= nil then
          if value == 'true' or value == '1' or value == 'yes' then opts[o.key] = not negated
          elseif value == 'false' or value == '0' or value == 'no' then opts[o.key] = negated
          else fail('--' .. o.name .. ' is a flag: it takes no value (got "' .. value .. '")') end
        else
          opts[o.key] = not negated
        end
      else
        if negated then fail('--no-' .. o.name .. ': only flags can be negated') end
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then fail('--' .. o.name .. ' needs a value') end
        end
        opts[o.key] = convert(o, value)
      end
      given[o.key] = true
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  return opts, given, rest
end

local function show_default(o)
  local d = o.default
  if o.default_text then return o.default_text end
  if d == nil or d == false then return nil end
  if o.type == 'flag' then return 'on' end
  if type(d) == 'table' then
    local parts = {}
    for _, x in ipairs(d) do parts[#parts + 1] = tostring(x) end
    return table.concat(parts, ',')
  end
  return tostring(d)
end

local function wrap(text, width, indent)
  local lines, line = {}, ''
  for word in text:gmatch('%S+') do
    if #line > 0 and #line + 1 + #word > width then
      lines[#lines + 1] = line
      line = word
    else
      line = #line > 0 and (line .. ' ' .. word) or word
    end
  end
  if #line > 0 then lines[#lines + 1] = line end
  return table.concat(lines, '\n' .. string.rep(' ', indent))
end

local METAVAR = {int = 'N', number = 'X', string = 'S', ints = 'N,N,...', numbers = 'X,X,...',
                 strings = 'S,S,...'}

function Parser:help()
  local out = {}
  if self.usage then out[#out + 1] = 'usage: ' .. self.usage end
  if self.description then out[#out + 1] = ''; out[#out + 1] = self.description end
  out[#out + 1] = ''
  out[#out + 1] = 'options:'
  local section
  for _, o in ipairs(self.list) do
    if o.section and o.section ~= section then
      section = o.section
      out[#out + 1] = '  ' .. section .. ':'
    end
    local head = '--' .. o.name
    if o.type ~= 'flag' then
      head = head .. ' ' .. (o.metavar or (o.choices and table.concat(o.choices, '|')) or METAVAR[o.type])
    end
    local help = o.help or ''
    local d = show_default(o)
    if d then help = help .. ' [default: ' .. d .. ']' end
    if #head <= 26 then
      out[#out + 1] = string.format('  %-26s  %s', head, wrap(help, 70, 30))
    else
      out[#out + 1] = '  ' .. head
      out[#out + 1] = string.rep(' ', 30) .. wrap(help, 70, 30)
    end
  end
  out[#out + 1] = string.format('  %-26s  %s', '-h, --help', 'print this help and exit')
  if self.epilog then out[#out + 1] = ''; out[#out + 1] = self.epilog end
  return table.concat(out, '\n') .. '\n'
end

-- Parses, or prints the error / the help and exits (2 on a usage error, 0 for --help).
function Parser:parse_or_exit(argv)
  local ok, opts, given, rest = pcall(self.parse, self, argv)
  if not ok then
    if cli.is_error(opts) then
      io.stderr:write('error: ', opts.msg, '\n')
      os.exit(2, true)
    end
    error(opts, 0)
  end
  if opts.help then
    io.stdout:write(self:help())
    os.exit(0, true)
  end
  return opts, given, rest
end

-- Quotes s for a POSIX shell when needed.
function cli.shell_quote(s)
  s = tostring(s)
  if s:match('^[%w%%+,./:=@_-]+$') then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- argv without the given options (and their values): used to build child commands.
-- `drop` maps option names (dashed) to true.
function Parser:strip(argv, drop)
  local out, i = {}, 1
  while i <= #argv do
    local a = argv[i]
    local name, value = a:match('^%-%-([^=]+)=(.*)$')
    name = name or (a:sub(1, 2) == '--' and a:sub(3)) or nil
    local o = name and self.by_name[name]
    if name and drop[name] then
      if o and o.type ~= 'flag' and value == nil then i = i + 1 end
    elseif name and name:sub(1, 3) == 'no-' and drop[name:sub(4)] then
      -- negated flag: drop
    else
      out[#out + 1] = a
      if o and o.type ~= 'flag' and value == nil and argv[i + 1] then
        i = i + 1
        out[#out + 1] = argv[i]
      end
    end
    i = i + 1
  end
  return out
end

return cli
