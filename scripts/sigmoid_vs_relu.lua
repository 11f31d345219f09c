-- Study 1 (../shared/PROTOCOL.md): test accuracy of plain(depth, act, bn, cna) on CIFAR-10
-- for depth 1..8 and act sigmoid / relu. Records each block's weight-gradient norm and
-- plots it for the deepest models (OUT/sigmoid_vs_relu_grads.png): with sigmoid the
-- gradients reaching the first blocks vanish. `--norm none` removes the batch norm
-- that otherwise rescues the sigmoid.
--
--   normlab scripts/sigmoid_vs_relu.lua [--quick] [--seeds 3] [--norm none] ... (--help)
local sweep = require 'normlab.sweep'

local study = {
  name = 'sigmoid_vs_relu',
  description = 'Sigmoid against ReLU as the plain network gets deeper: test accuracy for depth 1..8 '
    .. '(CIFAR-10, batch norm, conv -> norm -> act, batch 128), and the gradient norm of every block.',
  dataset = 'cifar10',
  options = {
    {'depths', type = 'ints', default = {1, 2, 3, 4, 5, 6, 7, 8}, help = 'depths to run (1..8)'},
    {'acts', type = 'strings', default = {'sigmoid', 'relu'}, help = 'activations (sigmoid, relu, leakyrelu, tanh)'},
    {'norm', type = 'string', default = 'bn', choices = {'bn', 'gn', 'none'}, protocol = true, tag = true,
     help = 'normalization (none: no batch norm to rescue the sigmoid)'},
    {'order', type = 'string', default = 'cna', choices = {'cna', 'can'}, protocol = true, tag = true,
     help = 'block order: cna = conv, norm, act; can = conv, act, norm'},
    {'batch-size', type = 'int', default = 128, min = 1, protocol = true, tag = true, help = 'batch size'},
  },
  quick = {depths = {1, 2, 4, 8}, epochs = 4, subset = 2500, test_subset = 500},
  configs = function(o)
    local out = {}
    for _, d in ipairs(o.depths) do
      if d < 1 or d > 8 then error('--depths: depth ' .. d .. ' is outside 1..8', 0) end
      for _, a in ipairs(o.acts) do
        out[#out + 1] = {depth = d, act = a, norm = o.norm, order = o.order, batch_size = o.batch_size}
      end
    end
    return out
  end,
}

os.exit(sweep.main(study, arg), true)
