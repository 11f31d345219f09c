-- Linear(in_features, out_features, opts): y = x W^T + b over (N, in), as torch.nn.Linear.
--
--   weight (out, in), bias (out); input (N, in) -> output (N, out)
--   y[n,o] = bias[o] + sum_i x[n,i] * weight[o,i]
--
-- opts: bias (true), gen (a normlab.Generator for the initialization). Weight and bias start
-- uniform in +-1/sqrt(in) (../shared/PROTOCOL.md), weight first. Kernels: src/ops/linear.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local Linear = Module:extend('Linear')

local function fail(fmt, ...)
  error('Linear: ' .. string.format(fmt, ...), 0)
end

local init_gen = Module.init_generator

function Linear:init(nin, nout, opts)
  Module.init(self)
  opts = opts or {}
  -- sizes are integers (integral floats such as 64.0 are accepted and converted)
  for _, v in ipairs({ { nin, 'in_features' }, { nout, 'out_features' } }) do
    local i = math.tointeger(v[1])
    if not i or i < 1 then
      error(string.format('Linear: %s must be a positive integer, got %s', v[2], tostring(v[1])), 3)
    end
  end
  nin, nout = math.tointeger(nin), math.tointeger(nout)
  self.in_features, self.out_features = nin, nout
  local bound = 1 / math.sqrt(nin)
  local gen = init_gen(opts)
  self:add_parameter('weight', C.tensor_new(nout, nin):uniform(gen, -bound, bound))
  if opts.bias ~= false then
    self:add_parameter('bias', C.tensor_new(nout):uniform(gen, -bound, bound))
  end
end

function Linear:describe()
  return string.format('Linear(%d -> %d%s)', self.in_features, self.out_features,
    self.bias and '' or ', no bias')
end

local function check_input(self, x)
  if x:dim() ~= 2 or x:size(2) ~= self.in_features then
    fail('input %s does not match weight %s (expected (N,%d))', x:shape_str(), self.weight:shape_str(),
      self.in_features)
  end
end

local function kernel_call(fn, ...)
  local ok, err = pcall(fn, ...)
  if not ok then fail('%s', (tostring(err):gsub('^linear: ', ''))) end
end

function Linear:update_output(x)
  check_input(self, x)
  local y = self:reuse('output', { x:size(1), self.out_features })
  kernel_call(C.linear_forward, y, x, self.weight, self.bias)
  self.output = y
  return y
end

local function run_backward(self, x, gy, want_input, want_params)
  self:expect_tensor(x, 'input')
  self:expect_tensor(gy, 'grad_output')
  check_input(self, x)
  if gy:dim() ~= 2 or gy:size(1) ~= x:size(1) or gy:size(2) ~= self.out_features then
    fail('grad_output %s does not match the output (%d,%d)', gy:shape_str(), x:size(1), self.out_features)
  end
  local gx
  if want_input then
    gx = self:reuse_like('grad_input', x):zero()
    self.grad_input = gx
  end
  kernel_call(C.linear_backward, gx, want_params and self.grad_weight or nil,
    want_params and self.grad_bias or nil, gy, x, self.weight)
  return gx
end

function Linear:update_grad_input(x, gy) return run_backward(self, x, gy, true, false) end
function Linear:acc_grad_parameters(x, gy) run_backward(self, x, gy, false, true) end
function Linear:backward(x, gy) return run_backward(self, x, gy, true, true) end

function Linear:macs(in_shape)
  if #in_shape ~= 1 or in_shape[1] ~= self.in_features then
    fail('input shape (%s) does not match %d input features', table.concat(in_shape, ','), self.in_features)
  end
  return self.in_features * self.out_features, { self.out_features }
end

require('normlab.help').register{ name = 'nn.Linear', obj = Linear,
  sig = 'nn.Linear(in_features, out_features, {bias=true, gen=Generator})',
  doc = 'y = x W^T + b with W (out,in) as in PyTorch; x (N,in). Init: uniform +-1/sqrt(in).' }

return Linear
