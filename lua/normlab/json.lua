-- normlab.json: strict JSON (RFC 8259) encoding and decoding, and JSON-lines files.
--
--   json.encode(v) -> string            one line, object keys sorted (stable output)
--   json.decode(s [, where]) -> value   strict; errors name the line and column
--   json.null                           decodes from / encodes to `null`
--   json.array(t), json.object(t)       mark a table whose kind is ambiguous (an empty one)
--   json.read_lines(path) -> records, warnings   a JSON-lines file, torn last line tolerated
--
-- Numbers: Lua integers encode as integers, floats with the shortest of %.14g/%.17g
-- that reads back exactly. JSON has no NaN or infinity: they encode as null.
-- Decoding: numbers without fraction or exponent become Lua integers when they fit.
-- Errors are raised as strings "WHERE:LINE:COL: message"; when the text simply
-- ends too early (a torn write), the message contains "unexpected end of input"
-- and json.is_truncation(msg) is true.
local json = {}

json.null = setmetatable({}, {__name = 'json.null', __tostring = function() return 'null' end})
local ARRAY = {__name = 'json.array'}
local OBJECT = {__name = 'json.object'}

function json.array(t) return setmetatable(t or {}, ARRAY) end
function json.object(t) return setmetatable(t or {}, OBJECT) end

---------------------------------------------------------------------------
-- encoding
local escapes = {
  ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}

local function encode_string(s)
  if not utf8.len(s) then error('json.encode: string is not valid UTF-8', 0) end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format('\\u%04x', c:byte())
  end) .. '"'
end

local function encode_number(x)
  if math.type(x) == 'integer' then return string.format('%d', x) end
  if x ~= x or x == math.huge or x == -math.huge then return 'null' end
  if x == math.floor(x) and math.abs(x) < 2^53 then
    return string.format('%.1f', x) -- keep it a float: 3.0, not 3
  end
  local s = string.format('%.14g', x)
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end

-- Is t a sequence 1..n with no other keys? (n may be 0)
local function array_length(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= 'integer' or k < 1 then return nil end
    if k > n then n = k end
  end
  for i = 1, n do if t[i] == nil then return nil end end
  return n
end

local encode_value

local function encode_table(t, out, depth, seen)
  if seen[t] then error('json.encode: table contains a cycle', 0) end
  if depth > 200 then error('json.encode: nested too deeply', 0) end
  seen[t] = true
  local mt = getmetatable(t)
  local n = mt ~= OBJECT and array_length(t)
  if mt == ARRAY and not n then error('json.encode: json.array table has non-sequence keys', 0) end
  if n and (n > 0 or mt ~= OBJECT) then
    out[#out + 1] = '['
    for i = 1, n do
      if i > 1 then out[#out + 1] = ',' end
      encode_value(t[i], out, depth + 1, seen)
    end
    out[#out + 1] = ']'
  else
    local keys = {}
    for k in pairs(t) do
      if type(k) ~= 'string' then
        error('json.encode: object key ' .. tostring(k) .. ' is a ' .. type(k) .. ', not a string', 0)
      end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    out[#out + 1] = '{'
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = ',' end
      out[#out + 1] = encode_string(k)
      out[#out + 1] = ':'
      encode_value(t[k], out, depth + 1, seen)
    end
    out[#out + 1] = '}'
  end
  seen[t] = nil
end

function encode_value(v, out, depth, seen)
  local tv = type(v)
  if v == nil or v == json.null then out[#out + 1] = 'null'
  elseif tv == 'boolean' then out[#out + 1] = v and 'true' or 'false'
  elseif tv == 'number' then out[#out + 1] = encode_number(v)
  elseif tv == 'string' then out[#out + 1] = encode_string(v)
  elseif tv == 'table' then encode_table(v, out, depth, seen)
  else error('json.encode: cannot encode a ' .. tv, 0) end
end

function json.encode(v)
  local out = {}
  encode_value(v, out, 0, {})
  return table.concat(out)
end

---------------------------------------------------------------------------
-- decoding
local Decoder = {}
Decoder.__index = Decoder

function Decoder:fail(msg, pos)
  pos = pos or self.pos
  -- line and column of pos
  local line, col = 1, 1
  local i = 1
  while true do
    local nl = self.s:find('\n', i, true)
    if not nl or nl >= pos then break end
    line = line + 1
    i = nl + 1
  end
  col = pos - i + 1
  error(string.format('%s:%d:%d: %s', self.where, line + self.line0 - 1, col, msg), 0)
end

function Decoder:skip()
  self.pos = self.s:find('[^ \t\r\n]', self.pos) or #self.s + 1
end

function Decoder:peek() return self.s:sub(self.pos, self.pos) end

function Decoder:eof_or(msg)
  if self.pos > #self.s then self:fail('unexpected end of input') end
  self:fail(msg)
end

function Decoder:expect(lit, value)
  local got = self.s:sub(self.pos, self.pos + #lit - 1)
  if got == lit then self.pos = self.pos + #lit; return value end
  if self.pos + #got > #self.s and lit:sub(1, #got) == got then
    self.pos = #self.s + 1
    self:fail('unexpected end of input')
  end
  self:fail('unexpected character ' .. string.format('%q', self:peek()))
end

local simple_esc = {['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t'}

function Decoder:hex4()
  local h = self.s:sub(self.pos, self.pos + 3)
  if not h:match('^%x%x%x%x$') then
    if self.pos + #h > #self.s and h:match('^%x*$') then self.pos = #self.s + 1 end
    self:eof_or('bad \\u escape')
  end
  self.pos = self.pos + 4
  return tonumber(h, 16)
end

function Decoder:string()
  local s, buf = self.s, {}
  self.pos = self.pos + 1 -- opening quote
  while true do
    local a, b = s:find('^[^"\\%c]+', self.pos)
    if a then buf[#buf + 1] = s:sub(a, b); self.pos = b + 1 end
    local c = s:sub(self.pos, self.pos)
    if c == '"' then
      self.pos = self.pos + 1
      break
    elseif c == '\\' then
      local e = s:sub(self.pos + 1, self.pos + 1)
      if simple_esc[e] then
        buf[#buf + 1] = simple_esc[e]
        self.pos = self.pos + 2
      elseif e == 'u' then
        self.pos = self.pos + 2
        local cp = self:hex4()
        if cp >= 0xD800 and cp <= 0xDBFF then
          local at = self.pos
          if s:sub(self.pos, self.pos + 1) ~= '\\u' then
            local rest = s:sub(self.pos)
            if rest == '' or rest == '\\' then self.pos = #s + 1 end -- the text ends inside the pair
            self:eof_or('lone high surrogate in \\u escape')
          end
          self.pos = self.pos + 2
          local lo = self:hex4()
          if lo < 0xDC00 or lo > 0xDFFF then self:fail('bad low surrogate in \\u escape', at) end
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          self:fail('lone low surrogate in \\u escape', self.pos - 6)
        end
        buf[#buf + 1] = utf8.char(cp)
      elseif e == '' then
        self.pos = #s + 1
        self:fail('unexpected end of input')
      else
        self.pos = self.pos + 1
        self:fail('bad escape \\' .. e)
      end
    elseif c == '' then
      self:fail('unexpected end of input')
    else
      self:fail('control character in string (must be escaped)')
    end
  end
  local str = table.concat(buf)
  if not utf8.len(str) then self:fail('string is not valid UTF-8') end
  return str
end

function Decoder:number()
  local s, start = self.s, self.pos
  local a, b = s:find('^-?%d+', start)
  if not a then
    if s:sub(start, start) == '-' and start == #s then self.pos = #s + 1; self:fail('unexpected end of input') end
    self:fail('bad number')
  end
  local int = s:sub(a, b):gsub('^-', '')
  if #int > 1 and int:sub(1, 1) == '0' then self:fail('number with a leading zero', start) end
  local p, isfloat = b + 1, false
  if s:sub(p, p) == '.' then
    local c, d = s:find('^%d+', p + 1)
    if not c then
      if p == #s then self.pos = #s + 1; self:fail('unexpected end of input') end
      self:fail('digits expected after "."', p + 1)
    end
    p, isfloat = d + 1, true
  end
  if s:sub(p, p):match('[eE]') then
    local c, d = s:find('^[+-]?%d+', p + 1)
    if not c then
      if s:find('^[+-]?$', p + 1) then self.pos = #s + 1; self:fail('unexpected end of input') end
      self:fail('digits expected in exponent', p + 1)
    end
    p, isfloat = d + 1, true
  end
  local text = s:sub(start, p - 1)
  self.pos = p
  if not isfloat then
    local i = math.tointeger(tonumber(text))
    if i and tostring(i) == text then return i end
  end
  return tonumber(text) + 0.0
end

function Decoder:value(depth)
  if depth > 200 then self:fail('nested too deeply') end
  self:skip()
  local c = self:peek()
  if c == '{' then
    local obj = {}
    self.pos = self.pos + 1
    self:skip()
    if self:peek() == '}' then self.pos = self.pos + 1; return json.object(obj) end
    while true do
      self:skip()
      if self:peek() ~= '"' then self:eof_or('object key (a string) expected') end
      local k = self:string()
      self:skip()
      if self:peek() ~= ':' then self:eof_or('":" expected after object key') end
      self.pos = self.pos + 1
      if obj[k] ~= nil then self:fail('duplicate object key ' .. string.format('%q', k)) end
      obj[k] = self:value(depth + 1)
      self:skip()
      c = self:peek()
      self.pos = self.pos + 1
      if c == '}' then return obj end
      if c ~= ',' then self.pos = self.pos - 1; self:eof_or('"," or "}" expected in object') end
    end
  elseif c == '[' then
    local arr, n = {}, 0
    self.pos = self.pos + 1
    self:skip()
    if self:peek() == ']' then self.pos = self.pos + 1; return json.array(arr) end
    while true do
      n = n + 1
      arr[n] = self:value(depth + 1)
      self:skip()
      c = self:peek()
      self.pos = self.pos + 1
      if c == ']' then return arr end
      if c ~= ',' then self.pos = self.pos - 1; self:eof_or('"," or "]" expected in array') end
    end
  elseif c == '"' then return self:string()
  elseif c == 't' then return self:expect('true', true)
  elseif c == 'f' then return self:expect('false', false)
  elseif c == 'n' then return self:expect('null', json.null)
  elseif c:match('[-%d]') then return self:number()
  else self:eof_or('unexpected character ' .. string.format('%q', c)) end
end

-- json.decode(s [, where [, first_line]]): `where` names the source in errors
-- (default "json"), `first_line` is the line number of s's first line.
function json.decode(s, where, first_line)
  if type(s) ~= 'string' then error('json.decode: expected a string, got ' .. type(s), 2) end
  local d = setmetatable({s = s, pos = 1, where = where or 'json', line0 = first_line or 1}, Decoder)
  local v = d:value(0)
  d:skip()
  if d.pos <= #s then d:fail('trailing characters after the JSON value') end
  return v
end

function json.is_truncation(msg)
  return type(msg) == 'string' and msg:find('unexpected end of input', 1, true) ~= nil
end

---------------------------------------------------------------------------
-- JSON-lines files

-- Reads every non-blank line of path as one JSON value. Returns the list of
-- values and a list of warnings. A line cut short by a killed writer (the text
-- ends before the value does) is skipped with a warning wherever it is (a later
-- append starts a fresh line after it); any other bad line raises an error naming
-- the file and line. A missing file gives an empty list.
function json.read_lines(path)
  local f = io.open(path, 'rb')
  if not f then return {}, {} end
  local text = f:read('a')
  f:close()
  local out, warnings, lineno = {}, {}, 0
  for line in text:gmatch('([^\n]*)\n?') do
    lineno = lineno + 1
    if line:find('%S') then
      local ok, v = pcall(json.decode, line, path, lineno)
      if ok then
        out[#out + 1] = v
      elseif json.is_truncation(v) then
        warnings[#warnings + 1] = string.format(
          '%s:%d: ignoring a torn line (%d bytes, cut short by a killed process?)', path, lineno, #line)
      else
        error(v, 0)
      end
    end
  end
  -- gmatch yields an empty match after a trailing newline: no extra line counted
  return out, warnings
end

-- The text of one JSON line for v (with the newline).
function json.line(v) return json.encode(v) .. '\n' end

return json
