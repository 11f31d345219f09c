-- Study 3 (../shared/PROTOCOL.md): where the normalization goes. plain(8) on CIFAR-10,
-- batch 128, three blocks: conv -> BatchNorm -> ReLU (the standard), conv -> ReLU ->
-- BatchNorm, conv -> LeakyReLU -> BatchNorm.
--
--   normlab scripts/position.lua [--quick] [--seeds 3] [--configs cna-bn-relu,can-bn-relu] ... (--help)
local sweep = require 'normlab.sweep'

local study = {
  name = 'position',
  description = 'The position of batch norm in the block: conv -> BN -> ReLU against conv -> ReLU -> BN '
    .. 'and conv -> LeakyReLU -> BN (depth 8, CIFAR-10, batch 128).',
  dataset = 'cifar10',
  options = {
    {'configs', type = 'strings', default = {'cna-bn-relu', 'can-bn-relu', 'can-bn-leakyrelu'},
     help = 'configurations ORDER-NORM-ACT (order cna|can, norm bn|gn|none, act relu|sigmoid|leakyrelu|tanh)'},
    {'depth', type = 'int', default = 8, min = 1, protocol = true, tag = true, help = 'blocks (1..8)'},
    {'batch-size', type = 'int', default = 128, min = 1, protocol = true, tag = true, help = 'batch size'},
  },
  quick = {epochs = 4, subset = 2500, test_subset = 500},
  configs = function(o)
    local out = {}
    for _, c in ipairs(o.configs) do
      local order, norm, act = c:match('^(%a+)%-(%a+)%-(%a+)$')
      if not order then error('--configs: "' .. c .. '" is not ORDER-NORM-ACT (e.g. can-bn-relu)', 0) end
      out[#out + 1] = {depth = o.depth, act = act, norm = norm, order = order, batch_size = o.batch_size}
    end
    return out
  end,
}

os.exit(sweep.main(study, arg), true)
