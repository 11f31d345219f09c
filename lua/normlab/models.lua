-- models.lua: the protocol's model (../shared/PROTOCOL.md, "Model").
--
-- plain{depth, act, norm, order, classes}: depth blocks; block b (0-based) is in
-- stage s = floor(3b/depth), has width 32*2^s and is a 3x3 conv (stride 1,
-- pad 1, bias) then norm and act in the order `order` ('cna' or 'can').
-- A 2x2 max pool follows the last block of every stage but the last one used;
-- then global average pooling and a linear layer to the classes.
local nn = require 'normlab.nn'

local models = {}

local ACTS = { relu = 'ReLU', sigmoid = 'Sigmoid', leakyrelu = 'LeakyReLU', tanh = 'Tanh' }
local NORMS = { bn = true, gn = true, none = true }
local ORDERS = { cna = true, can = true }

-- The stage of every block, e.g. depth 4 -> {0, 0, 1, 2}.
function models.stages(depth)
  if math.type(depth) ~= 'integer' or depth < 1 or depth > 1024 then   -- (a huge depth would fill memory)
    error('models.stages: depth must be an integer from 1 to 1024, got ' .. tostring(depth), 2)
  end
  local s = {}
  for b = 0, depth - 1 do s[#s + 1] = (3 * b) // depth end
  return s
end

-- ReLU and LeakyReLU work in place (their input, a conv or norm output, is not needed
-- afterwards; opts.inplace = false turns that off).
local function make_act(act, opts)
  local inplace = opts.inplace ~= false
  if act == 'leakyrelu' then return nn.LeakyReLU(opts.negative_slope or 0.01, inplace) end
  if act == 'relu' then return nn.ReLU(inplace) end
  return nn[ACTS[act]]()
end

local function make_norm(norm, width, opts)
  if norm == 'bn' then return nn.BatchNorm2d(width, { eps = opts.eps or 1e-5, momentum = opts.momentum or 0.1 }) end
  if norm == 'gn' then return nn.GroupNorm(opts.groups or 32, width, { eps = opts.eps or 1e-5 }) end
  return nil
end

local function check_option(name, value, allowed)
  if not allowed[value] then
    local names = {}
    for k in pairs(allowed) do names[#names + 1] = k end
    table.sort(names)
    error(string.format("models.plain: %s = '%s' (expected one of %s)", name, tostring(value),
      table.concat(names, ', ')), 3)
  end
end

function models.plain(opts)
  opts = opts or {}
  local depth = opts.depth or 8
  local act, norm, order = opts.act or 'relu', opts.norm or 'bn', opts.order or 'cna'
  local classes, width0 = opts.classes or 10, opts.width or 32
  if math.type(depth) ~= 'integer' or depth < 1 or depth > 8 then
    error('models.plain: depth must be an integer from 1 to 8, got ' .. tostring(depth), 2)
  end
  check_option('act', act, ACTS); check_option('norm', norm, NORMS); check_option('order', order, ORDERS)
  local gen = opts.gen or require('normlab').Generator(opts.seed or 0, 'init')
  local layers = {}
  local stages = models.stages(depth)
  local last_stage = stages[depth]
  local cin = opts.in_channels or 3
  for b = 1, depth do
    local s = stages[b]
    local width = width0 << s
    layers[#layers + 1] = nn.Conv2d(cin, width, 3, { stride = 1, padding = 1, bias = true, gen = gen })
    local n, a = make_norm(norm, width, opts), make_act(act, opts)
    if order == 'cna' then
      if n then layers[#layers + 1] = n end
      layers[#layers + 1] = a
    else
      layers[#layers + 1] = a
      if n then layers[#layers + 1] = n end
    end
    if (b == depth or stages[b + 1] ~= s) and s ~= last_stage then
      layers[#layers + 1] = nn.MaxPool2d(2, { stride = 2 })
    end
    cin = width
  end
  layers[#layers + 1] = nn.GlobalAvgPool2d()
  layers[#layers + 1] = nn.Linear(cin, classes, { gen = gen })
  local model = nn.Sequential(layers)
  model.config = { depth = depth, act = act, norm = norm, order = order, classes = classes }
  return model
end

return models
