#!/usr/bin/env bash
# The Lua half of the REPL without a terminal (runs even without tmux):
# repl.format, repl.complete, repl.setup and normlab.help.
set -u
cd "$(dirname "$0")/../.." || exit 1
NL=${NORMLAB_BIN:-./normlab}
exec "$NL" - <<'LUA'
local T = dofile('tests/lua/check.lua')
local repl = require 'normlab.repl'
local help = require 'normlab.help'
local nn = normlab.nn

local function has(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

T.test('format: numbers, strings raw, nil, booleans', function()
  T.eq(repl.format(42), '42')
  T.eq(repl.format(0.5), '0.5')
  T.eq(repl.format('a "b"'), 'a "b"')
  T.eq(repl.format(nil), 'nil')
  T.eq(repl.format(false), 'false')
end)

T.test('format: tensor via tostring, with the size footer', function()
  local s = repl.format(normlab.tensor{{1, 2}, {3, 4}})
  T.eq(s, tostring(normlab.tensor{{1, 2}, {3, 4}}))
  T.truthy(s:find('[normlab.Tensor of size 2x2]', 1, true), 'footer')
end)

T.test('format: table one level deep', function()
  T.eq(repl.format({1, 2, lr = 0.1, name = 'x', sub = {1}, e = {}, w = normlab.zeros(2, 3)}),
       '{1, 2, e = {}, lr = 0.1, name = "x", sub = {...}, w = Tensor(2,3)}')
  T.eq(repl.format({}), '{}')
  T.eq(repl.format({[1.5] = true, ['a b'] = 1}), '{[1.5] = true, ["a b"] = 1}')
end)

T.test('format: long tables go one entry per line, capped', function()
  local t = {}
  for i = 1, 120 do t[i] = i * 1000 end
  local s = repl.format(t)
  T.truthy(s:find('^{\n  1000,\n  2000,'), 'one per line: ' .. s:sub(1, 40))
  T.truthy(s:find('... (70 more)', 1, true), 'capped at 50 entries')
end)

T.test('format: cycles and failing __tostring do not break printing', function()
  local t = {}
  t.self = t
  T.eq(repl.format(t), '{self = {...}}')
  local bad = setmetatable({}, { __tostring = function() error('oops') end })
  T.truthy(repl.format(bad):find('__tostring failed', 1, true), 'error reported')
end)

T.test('format: layers via tostring, classes named', function()
  local m = nn.Conv2d(3, 8, 3)
  T.eq(repl.format(m), tostring(m))
  T.eq(repl.format(nn.Conv2d), '<class Conv2d>')
  T.eq(repl.format({m}), '{' .. tostring(m) .. '}')
end)

T.test('complete: module field through a lazy table', function()
  T.truthy(has(repl.complete('normlab.nn.Co'), 'normlab.nn.Conv2d'), 'Conv2d')
  T.truthy(has(repl.complete('normlab.opt'), 'normlab.optim'), 'optim before loading')
end)

T.test('complete: methods through the metatable', function()
  x = normlab.zeros(2)
  local c = repl.complete('x:si')
  T.eq(#c, 1, 'one match')
  T.eq(c[1], 'x:size')
  T.truthy(has(repl.complete('x:'), 'x:totable'), 'all methods after :')
  local m = nn.Conv2d(3, 8, 3)
  conv = m
  T.truthy(has(repl.complete('conv:zero_'), 'conv:zero_grad'), 'inherited from Module')
  T.eq(#repl.complete('normlab:vers'), 0, ': lists only callables')
  x, conv = nil, nil
end)

T.test('complete: globals and keywords, no private names', function()
  T.truthy(has(repl.complete('pri'), 'print'), 'print')
  T.truthy(has(repl.complete('fun'), 'function'), 'keyword')
  for _, c in ipairs(repl.complete('normlab.nn.')) do
    T.truthy(not c:find('%.__'), 'private name offered: ' .. c)
  end
  T.eq(#repl.complete('no_such_global.x'), 0, 'unknown path')
  T.eq(#repl.complete('a.b(c).'), 0, 'not a plain path')
end)

T.test('setup: lazy short globals, existing names kept', function()
  local G = { T = 5, normlab = normlab }
  local list = repl.setup(G)
  T.truthy(list:find('nn') and not list:find('T=', 1, true), 'banner list: ' .. list)
  T.eq(rawget(G, 'nn'), nil, 'not loaded before use')
  T.eq(G.nn, normlab.nn, 'nn')
  T.eq(G.T, 5, 'T kept')
  T.eq(G.print, nil, 'print not added')
end)

T.test('help: builtin entries by value and by name', function()
  T.truthy(help.text(normlab.zeros):find('^normlab.zeros%('), 'zeros')
  T.truthy(help.text('T:size'):find('^t:size%(%)'), 'T:size')
  T.truthy(help.text(normlab.zeros(2)):find('methods: '), 'tensor methods')
  T.truthy(help.text(normlab.optim.SGD):find('^optim.SGD%('), 'optim.SGD')
end)

T.test('help: registration by a layer', function()
  local L = nn.Module:extend('Scale2')
  T.eq(help.register{name = 'nn.Scale2', sig = 'nn.Scale2(k)', doc = 'Multiplies by k.', obj = L}, L)
  T.truthy(help.text(L):find('Multiplies by k.', 1, true), 'class')
  T.truthy(help.text(L()):find('an instance of nn.Scale2', 1, true), 'instance')
  T.truthy(help.text('nn.Scale2'):find('Multiplies by k.', 1, true), 'by name')
end)

T.test('help: unknown objects say so', function()
  T.truthy(help.text(function(a, b) end):find('no description registered', 1, true), 'function')
  T.truthy(help.text(function(a, b) end):find('(a, b)', 1, true), 'its parameters')
  T.truthy(help.text('no.such.thing'):find("^no help for 'no.such.thing'"), 'name')
  T.truthy(help.text(nil):find('^no help for nil'), 'nil')
  T.truthy(help.text(coroutine.create(print)):find('^no help for thread'), 'thread')
end)

T.done()
LUA
