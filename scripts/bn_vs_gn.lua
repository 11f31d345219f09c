-- Study 2 (../shared/PROTOCOL.md): BatchNorm against GroupNorm (32 groups) as the batch
-- shrinks: plain(8, relu, norm, cna) on CIFAR-100 for batch sizes 2..128, the learning
-- rate scaled linearly with the batch. `--many-epochs` trains 60 epochs instead of 15.
-- `--dataset cifar10` runs it on CIFAR-10 (said in every output; never a silent fallback).
--
--   normlab scripts/bn_vs_gn.lua [--quick] [--many-epochs] [--batch-sizes 2,8,32] ... (--help)
local sweep = require 'normlab.sweep'

local study = {
  name = 'bn_vs_gn',
  description = 'BatchNorm against GroupNorm across batch sizes: test accuracy of the depth-8 plain '
    .. 'network (ReLU, conv -> norm -> act) on CIFAR-100, batch sizes on a log2 axis.',
  dataset = 'cifar100',
  options = {
    {'batch-sizes', type = 'ints', default = {2, 4, 8, 16, 32, 64, 128}, help = 'batch sizes to run'},
    {'norms', type = 'strings', default = {'bn', 'gn'}, help = 'normalizations (bn, gn, none)'},
    {'many-epochs', type = 'flag', help = 'train 60 epochs (the protocol\'s long variant)'},
    {'depth', type = 'int', default = 8, min = 1, protocol = true, tag = true, help = 'blocks (1..8)'},
    {'act', type = 'string', default = 'relu', choices = {'relu', 'sigmoid', 'leakyrelu', 'tanh'},
     protocol = true, tag = true, help = 'activation'},
    {'order', type = 'string', default = 'cna', choices = {'cna', 'can'}, protocol = true, tag = true,
     help = 'block order'},
  },
  quick = {batch_sizes = {8, 32, 128}, epochs = 3, subset = 1536, test_subset = 500},
  adjust = function(o, given, p)
    if o.many_epochs then
      p:get('epochs').default = 60 -- the protocol's number for this variant
      if not given.epochs and not o.quick then o.epochs = 60 end
    end
  end,
  configs = function(o)
    local out = {}
    for _, b in ipairs(o.batch_sizes) do
      for _, n in ipairs(o.norms) do
        out[#out + 1] = {depth = o.depth, act = o.act, norm = n, order = o.order, batch_size = b}
      end
    end
    return out
  end,
}

os.exit(sweep.main(study, arg), true)
