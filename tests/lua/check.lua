-- check.lua: the Lua test helper. Prints "ok N - name" / "not ok N - name: why"
-- (tests/run.sh counts these lines). Use: local T = dofile('tests/lua/check.lua')
local T = { n = 0, failed = 0 }

local function report(ok, name, why)
  T.n = T.n + 1
  if ok then
    print(string.format('ok %d - %s', T.n, name))
  else
    T.failed = T.failed + 1
    print(string.format('not ok %d - %s: %s', T.n, name, tostring(why):gsub('\n', '\n# ')))
  end
  io.stdout:flush()
end

-- Runs fn; a Lua error inside it fails the test with the error message.
function T.test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  report(ok, name, err)
end

-- A visible skip, for tests whose prerequisite (e.g. PyTorch) is absent.
function T.skip(name, why)
  T.n = T.n + 1
  print(string.format('ok %d - %s # SKIP %s', T.n, name, why))
end

-- Asserts |a - b| <= tol * max(1, |b|) (relative beyond 1, absolute below).
function T.near(a, b, tol, what)
  local err = math.abs(a - b) / math.max(1, math.abs(b))
  if not (err <= tol) then
    error(string.format('%s: %.9g vs %.9g (rel err %.3g > %.3g)', what or 'value', a, b, err, tol), 2)
  end
  return err
end

function T.eq(a, b, what)
  if a ~= b then error(string.format('%s: got %s, expected %s', what or 'value', tostring(a), tostring(b)), 2) end
end

-- Asserts that tensors a and b have the same shape and the same bits in every element
-- (stricter than ==: -0 differs from 0, and equal NaNs pass).
function T.same_bits(a, b, what)
  what = what or 'tensor'
  T.eq(a:shape_str(), b:shape_str(), what .. ' shape')
  local n = a:numel()
  local fa, fb = a:view(n), b:view(n)
  for i = 1, n do
    if string.pack('f', fa[i]) ~= string.pack('f', fb[i]) then
      error(string.format('%s: element %d differs: %.9g vs %.9g', what, i, fa[i], fb[i]), 2)
    end
  end
end

function T.truthy(v, what)
  if not v then error((what or 'condition') .. ' is false', 2) end
end

-- Asserts that fn raises an error whose message matches pattern (plain find).
function T.err(fn, pattern, what)
  local ok, msg = pcall(fn)
  if ok then error((what or 'call') .. ': expected an error matching "' .. pattern .. '", got none', 2) end
  msg = tostring(msg)
  if not msg:find(pattern, 1, true) then
    error(string.format('%s: error "%s" does not contain "%s"', what or 'call', msg, pattern), 2)
  end
  return msg
end

function T.done()
  print(string.format('# %d checks, %d failed', T.n, T.failed))
  if T.failed > 0 then os.exit(1) end
end

return T
