-- normlab: the Lua side of the library. `require 'normlab'` returns this
-- table; the normlab program loads it as the global `normlab`.
local C = require 'normlab.C'

local normlab = { C = C, version = C.version }

-- Tensors ---------------------------------------------------------------
normlab.Tensor = C.Tensor            -- normlab.Tensor(2, 3) or normlab.Tensor{2, 3}: zeros
normlab.zeros = C.tensor_new
normlab.ones = C.tensor_ones
normlab.tensor = C.tensor_from       -- normlab.tensor{{1, 2}, {3, 4}}
normlab.is_tensor = C.is_tensor

-- A seeded generator; stream is 'init', 'order', 'augment' or an integer.
function normlab.Generator(seed, stream) return C.generator_new(seed or 0, stream) end

function normlab.rand(gen, ...) return C.tensor_new(...):uniform(gen, 0, 1) end
function normlab.randn(gen, ...) return C.tensor_new(...):normal(gen, 0, 1) end

-- Threads: one place for OpenBLAS and normlab's own loops.
function normlab.set_threads(n) return C.set_threads(n) end
function normlab.threads() return C.get_threads() end

-- Submodules load on first use, so start-up stays fast.
local lazy = {
  nn = 'normlab.nn', optim = 'normlab.optim', data = 'normlab.data', models = 'normlab.models',
  plot = 'normlab.plot', train = 'normlab.train', sweep = 'normlab.sweep', json = 'normlab.json',
  checkpoint = 'normlab.checkpoint', help = 'normlab.help', report = 'normlab.report',
  cli = 'normlab.cli',
}
setmetatable(normlab, {
  __index = function(t, k)
    local mod = lazy[k]
    if mod then
      local v = require(mod)
      rawset(t, k, v)
      return v
    end
  end,
})
normlab.submodules = lazy

return normlab
