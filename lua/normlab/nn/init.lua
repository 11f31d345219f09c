-- normlab.nn: every layer file in lua/normlab/nn/ by name, loaded on first use.
--
--   local nn = require 'normlab.nn'
--   nn.Conv2d(...)        -- require 'normlab.nn.Conv2d' the first time, then cached
--   nn.accuracy(logits, labels) -> fraction of rows whose argmax is the label
--   nn.names()            -- the layer names found on package.path (for help and completion)
--
-- A name with no file is nil (so probing, e.g. by REPL completion, never raises); an
-- error inside an existing layer file is raised as it is.
local nn = {}

local function module_name(k)
  if type(k) ~= 'string' or not k:match('^[%a_][%w_]*$') or k == 'init' then return nil end
  return 'normlab.nn.' .. k
end

setmetatable(nn, {
  __index = function(t, k)
    local name = module_name(k)
    if not name then return nil end
    if not package.loaded[name] and not package.searchpath(name, package.path) then
      return nil
    end
    local v = require(name)
    rawset(t, k, v)
    return v
  end,
})

function nn.accuracy(logits, labels)
  return nn.CrossEntropy.accuracy(logits, labels)
end

-- The layer files next to this one (found through package.path), sorted.
function nn.names()
  local here = package.searchpath('normlab.nn.init', package.path)
  local out, seen = {}, {}
  if here then
    local dir = here:match('^(.*)/init%.lua$')
    local p = dir and io.popen('ls "' .. dir .. '" 2>/dev/null')
    if p then
      for f in p:lines() do
        local n = f:match('^([%a_][%w_]*)%.lua$')
        if n and n ~= 'init' and not seen[n] then seen[n] = true; out[#out + 1] = n end
      end
      p:close()
    end
  end
  table.sort(out)
  return out
end

return nn
