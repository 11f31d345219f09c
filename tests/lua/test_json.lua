-- normlab.json: round trips, strictness, errors that name the line, JSON-lines files
-- with a torn last line. Pure Lua (also runs under lua5.4 with LUA_PATH=lua/?.lua).
local T = dofile('tests/lua/check.lua')
local json = require 'normlab.json'

local function deep_eq(a, b, path)
  path = path or 'value'
  if type(a) ~= type(b) then error(path .. ': ' .. type(a) .. ' vs ' .. type(b), 0) end
  if type(a) ~= 'table' then
    if a ~= b and not (a ~= a and b ~= b) then error(path .. ': ' .. tostring(a) .. ' vs ' .. tostring(b), 0) end
    if type(a) == 'number' and math.type(a) ~= math.type(b) then
      error(path .. ': ' .. math.type(a) .. ' vs ' .. math.type(b), 0)
    end
    return
  end
  for k, v in pairs(a) do deep_eq(v, b[k], path .. '.' .. tostring(k)) end
  for k in pairs(b) do if a[k] == nil then error(path .. '.' .. tostring(k) .. ' missing', 0) end end
end

T.test('encode scalars', function()
  T.eq(json.encode(nil), 'null')
  T.eq(json.encode(json.null), 'null')
  T.eq(json.encode(true), 'true')
  T.eq(json.encode(false), 'false')
  T.eq(json.encode(42), '42')
  T.eq(json.encode(-7), '-7')
  T.eq(json.encode(3.0), '3.0', 'float 3.0 stays a float')
  T.eq(json.encode(0.1), '0.1')
  T.eq(json.encode('a"b\\c\n\t\1'), '"a\\"b\\\\c\\n\\t\\u0001"')
  T.eq(json.encode('é→'), '"é→"', 'UTF-8 passes through')
end)

T.test('non-finite numbers encode as null', function()
  T.eq(json.encode(0 / 0), 'null')
  T.eq(json.encode(math.huge), 'null')
  T.eq(json.encode({1, -math.huge}), '[1,null]')
end)

T.test('floats round-trip exactly', function()
  for _, x in ipairs({0.1, 1 / 3, 2 ^ -30, 123456.789, 1e300, -2.5e-308, 91.23456789012345, 5e-4}) do
    local y = json.decode(json.encode(x))
    if y ~= x then error(string.format('%.17g -> %s -> %.17g', x, json.encode(x), y), 0) end
  end
end)

T.test('objects: sorted keys, arrays, empty tables', function()
  T.eq(json.encode({b = 1, a = {1, 2, {c = 'x'}}}), '{"a":[1,2,{"c":"x"}],"b":1}')
  T.eq(json.encode({}), '[]')
  T.eq(json.encode(json.object()), '{}')
  T.eq(json.encode(json.array()), '[]')
end)

T.test('encode rejects what JSON cannot hold', function()
  T.err(function() json.encode({[1] = 1, [3] = 3}) end, 'object key 1 is a number')
  T.err(function() json.encode({print}) end, 'cannot encode a function')
  local t = {}
  t.self = t
  T.err(function() json.encode(t) end, 'cycle')
  T.err(function() json.encode('\255') end, 'not valid UTF-8')
end)

T.test('decode values', function()
  local v = json.decode(' {"a": [1, 2.5, -3e2, true, false, null, "x\\u00e9\\ud83d\\ude00\\n"], "b": {}} ')
  T.eq(v.a[1], 1)
  T.eq(math.type(v.a[1]), 'integer')
  T.eq(v.a[2], 2.5)
  T.eq(v.a[3], -300.0)
  T.eq(math.type(v.a[3]), 'float')
  T.eq(v.a[4], true)
  T.eq(v.a[5], false)
  T.eq(v.a[6], json.null)
  T.eq(v.a[7], 'xé😀\n')
  T.eq(next(v.b), nil)
  T.eq(json.encode(v.b), '{}', 'a decoded empty object re-encodes as {}')
end)

T.test('round trip of a results record', function()
  local rec = {study = 'position', seed = 3, config = {depth = 8, act = 'relu', norm = 'bn'},
               test_acc = {10.5, 20.25, 30.125}, status = 'ok', wall_time = 12.75, note = 'a "quoted" → arrow'}
  deep_eq(json.decode(json.encode(rec)), rec)
end)

local bad = {
  {'{"a":1,}', 'object key'},
  {'[1,2,]', 'unexpected character'},
  {"{'a':1}", 'object key'},
  {'01', 'leading zero'},
  {'1.', 'unexpected end of input'},
  {'1.e5', 'digits expected'},
  {'.5', 'unexpected character'},
  {'+1', 'unexpected character'},
  {'NaN', 'unexpected character'},
  {'[1] x', 'trailing characters'},
  {'"a\tb"', 'control character'},
  {'"\\x"', 'bad escape'},
  {'"\\ud800"', 'lone high surrogate'},
  {'"\\udc00"', 'lone low surrogate'},
  {'{"a":1,"a":2}', 'duplicate object key'},
  {'tru', 'unexpected end of input'},
  {'nul', 'unexpected end of input'},
  {'', 'unexpected end of input'},
  {'[', 'unexpected end of input'},
  {'{"a":', 'unexpected end of input'},
  {'{"a":[1,2', 'unexpected end of input'},
  {'"abc', 'unexpected end of input'},
  {'truth', 'unexpected character'},
}
T.test('decode is strict', function()
  for _, case in ipairs(bad) do
    T.err(function() json.decode(case[1]) end, case[2], 'decode ' .. case[1])
  end
end)

T.test('truncation is told apart from corruption', function()
  local line = json.encode({study = 'x', acc = {1.5, 2.5}, s = 'abc'})
  for cut = 1, #line - 1 do
    local ok, msg = pcall(json.decode, line:sub(1, cut))
    if ok then error('prefix of length ' .. cut .. ' decoded', 0) end
    if not json.is_truncation(msg) then error('prefix ' .. line:sub(1, cut) .. ': ' .. msg, 0) end
  end
  local _, msg = pcall(json.decode, '{"a":1]')
  T.truthy(not json.is_truncation(msg), 'a wrong character is not a truncation')
end)

T.test('errors name the line and column', function()
  local msg = T.err(function() json.decode('{\n  "a": 1,\n  "b": ?\n}', 'results.jsonl') end, 'results.jsonl:3:8:')
  T.truthy(msg:find('unexpected character'), msg)
  T.err(function() json.decode('[1, x]', 'f.jsonl', 17) end, 'f.jsonl:17:5:')
end)

T.test('deep nesting is an error, not a crash', function()
  T.err(function() json.decode(string.rep('[', 1000) .. string.rep(']', 1000)) end, 'nested too deeply')
end)

local function tmpfile(text)
  local path = os.tmpname()
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
  return path
end

T.test('read_lines: a torn last line is skipped with a warning', function()
  local path = tmpfile('{"a":1}\n{"a":2}\n{"a":3,"b":[1,2')
  local recs, warns = json.read_lines(path)
  os.remove(path)
  T.eq(#recs, 2, 'records')
  T.eq(recs[2].a, 2)
  T.eq(#warns, 1, 'warnings')
  T.truthy(warns[1]:find(':3: ignoring a torn line'), warns[1])
end)

T.test('read_lines: a torn line followed by a new line (resumed sweep)', function()
  local path = tmpfile('{"a":1}\n{"a":2,"b\n{"a":3}\n\n')
  local recs, warns = json.read_lines(path)
  os.remove(path)
  T.eq(#recs, 2)
  T.eq(recs[2].a, 3)
  T.eq(#warns, 1)
end)

T.test('read_lines: corruption is an error naming file and line', function()
  local path = tmpfile('{"a":1}\n{"a":2}}\n{"a":3}\n')
  local msg = T.err(function() json.read_lines(path) end, path .. ':2:')
  os.remove(path)
  T.truthy(msg:find('trailing characters'), msg)
  local recs, warns = json.read_lines('/nonexistent/x.jsonl')
  T.eq(#recs + #warns, 0, 'a missing file reads as empty')
end)

T.done()
