-- Conv2d(in_channels, out_channels, kernel, opts): 2-D convolution over (N,C,H,W), as
-- torch.nn.Conv2d (cross-correlation, zero padding, no dilation or groups).
--
--   y[n,o,i,j] = bias[o] + sum_{c,u,v} weight[o,c,u,v] * x[n, c, i*stride-pad+u, j*stride-pad+v]
--   weight (out, in, kh, kw), bias (out); output (N, out, Ho, Wo), Ho = (H + 2*pad - kh)//stride + 1
--
-- kernel: a number k (k x k) or a table {kh, kw}. opts: stride (1), padding (0), bias (true),
-- gen (a normlab.Generator for the initialization). Weight and bias start uniform in
-- +-1/sqrt(fan_in), fan_in = in*kh*kw (../shared/PROTOCOL.md), drawn weight first, then bias.
-- Kernels: src/ops/conv2d.c (im2col + sgemm, run on the images in parallel by
-- src/ops/conv2d_par.c, with a per-layer scratch tensor) and
-- src/ops/winograd.c (Winograd: grad weight in F(4x4,3x3), 4x fewer multiplies, within about
-- 5e-6 relative of im2col's; grad input in F(2x2,3x3), 2.25x fewer, as accurate as im2col,
-- or in F(4x4,3x3) like the optional forward pass). Conv2d.algorithm (or m.algorithm) picks:
--   'auto' (default)  the forward pass by im2col + sgemm; the backward pass (grad input,
--                     grad weight, grad bias) by Winograd for 3x3 stride-1 layers with at
--                     least WINOGRAD_MIN_CIN input channels and at least
--                     Conv2d.winograd_min_pixels output pixels (batch x Ho x Wo), im2col
--                     otherwise
--   'winograd'        Winograd for both passes whenever the geometry allows it
--   'winograd-auto'   the 'auto' rule for both passes: Winograd F(4x4,3x3) forward too, where
--                     it pays (what the study scripts train with, their --conv default); the
--                     forward pass needs Conv2d.winograd_forward_min_pixels output pixels
--   ('winograd' and 'winograd-auto' also take the grad input in F(4x4,3x3) from
--   Conv2d.winograd_f4_grad_input_min_pixels output pixels: 1.8x fewer multiplies than
--   F(2x2,3x3), the forward F(4x4)'s rounding, 5-8% of a training step at batch 128)
--   'plain'           im2col + sgemm everywhere
-- The forward pass stays on im2col by default because its values decide discrete things
-- downstream (ReLU gates, max-pool choices): a difference of 1e-6 can flip a gate whose
-- input sits that close to zero, and then a gradient differs in that element from another
-- framework's (tests/lua/test_torch_model.lua compares with PyTorch at 1e-4). Gradients
-- carry no such decisions, so the backward pass takes the fast algorithm.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local Conv2d = Module:extend('Conv2d')

Conv2d.algorithm = 'auto'
-- Below this many input channels the transforms cost more than the multiplies they save;
-- with very few output pixels per call (batch x Ho x Wo) the transformed weights (36 x Cin x
-- Cout) cost more than the tiles save. Measured on a quiet 2-core machine (bench/bench_conv,
-- 1 and 2 threads, batch 2 to 32): Winograd is faster on every layer of plain(8) with 32 or
-- more input channels, down to the 8x8 layers at batch 2 (128 pixels: a tie); the 3-channel
-- first layer is 2-4x slower by Winograd. (Under load from other jobs, two threads lose on
-- small layers: Winograd has three parallel regions per call where im2col has one.)
local WINOGRAD_MIN_CIN = 16
Conv2d.winograd_min_pixels = 128   -- (a class field, for tuning)
-- The forward pass's F(4x4,3x3) needs its 36 x Cin x Cout transformed weights every call
-- (the backward pass's grad input uses F(2x2,3x3), 16 points, and the grad weight none):
-- at 128 pixels (the 8x8 layers at batch 2) im2col's forward is about twice as fast
-- (0.24 against 0.49 ms for 128 -> 128 channels), and a training step at batch 2 about 8%.
Conv2d.winograd_forward_min_pixels = 256
-- 'winograd' and 'winograd-auto' take the grad input in F(4x4,3x3) from this many output
-- pixels, else in F(2x2,3x3): F(4x4) saves 44% of the grad input's multiplies but transforms
-- 36 instead of 16 weights per channel pair every call, which costs more at few pixels
-- (bench_conv --dx-tile, 2 threads: the 8x8 layers at batch 2, 128 pixels, lose 30%; the
-- 16x16 ones at batch 2 and the 8x8 ones at batch 8, 512 pixels, tie; from 2048 it gains).
Conv2d.winograd_f4_grad_input_min_pixels = 1024

local function fail(fmt, ...)
  error('Conv2d: ' .. string.format(fmt, ...), 0)
end

local init_gen = Module.init_generator

-- Sizes are integers (integral floats such as 32.0 are accepted and converted).
local function positive_int(v, what, min)
  local i = math.tointeger(v)
  if not i or i < min then
    error(string.format('Conv2d: %s must be an integer >= %d, got %s', what, min, tostring(v)), 4)
  end
  return i
end

function Conv2d:init(cin, cout, kernel, opts)
  Module.init(self)
  opts = opts or {}
  self.in_channels = positive_int(cin, 'in_channels', 1)
  self.out_channels = positive_int(cout, 'out_channels', 1)
  if type(kernel) == 'table' then
    self.kh, self.kw = positive_int(kernel[1], 'kernel height', 1), positive_int(kernel[2], 'kernel width', 1)
  else
    self.kh = positive_int(kernel, 'kernel size', 1)
    self.kw = self.kh
  end
  self.stride = positive_int(opts.stride or 1, 'stride', 1)
  self.padding = positive_int(opts.padding or opts.pad or 0, 'padding', 0)
  cin, cout = self.in_channels, self.out_channels
  local fan_in = cin * self.kh * self.kw
  local bound = 1 / math.sqrt(fan_in)
  local gen = init_gen(opts)
  self:add_parameter('weight', C.tensor_new(cout, cin, self.kh, self.kw):uniform(gen, -bound, bound))
  if opts.bias ~= false then
    self:add_parameter('bias', C.tensor_new(cout):uniform(gen, -bound, bound))
  end
end

-- "Conv2d(3 -> 32, 3x3, pad 1)", with ", stride 2" and ", no bias" when they apply.
function Conv2d:describe()
  local s = string.format('Conv2d(%d -> %d, %dx%d', self.in_channels, self.out_channels, self.kh, self.kw)
  if self.stride ~= 1 then s = s .. ', stride ' .. self.stride end
  if self.padding ~= 0 then s = s .. ', pad ' .. self.padding end
  if not self.bias then s = s .. ', no bias' end
  return s .. ')'
end

-- Output spatial size for an input of height h, width w (errors name the layer and the
-- input: shape is its shape string, or the input tensor itself).
function Conv2d:out_size(h, w, shape)
  local ph, pw = h + 2 * self.padding, w + 2 * self.padding
  if ph < self.kh or pw < self.kw then
    if type(shape) ~= 'string' then shape = shape:shape_str() end
    fail('input %s: kernel %dx%d is larger than the padded input %dx%d', shape, self.kh, self.kw, ph, pw)
  end
  return (ph - self.kh) // self.stride + 1, (pw - self.kw) // self.stride + 1
end

local function check_input(self, x)
  if x:dim() ~= 4 then fail('expected a 4-D input (N,%d,H,W), got %s', self.in_channels, x:shape_str()) end
  if x:size(2) ~= self.in_channels then
    fail('input %s has %d channels, weight %s expects %d', x:shape_str(), x:size(2),
      self.weight:shape_str(), self.in_channels)
  end
  return self:out_size(x:size(3), x:size(4), x)
end

-- Scratch space is shared by all Conv2d layers (calls never overlap, and nothing in it
-- outlives a call): one tensor, grown to the largest request and dropped by clear_state.
local shared_scratch
local function scratch(floats)
  if not shared_scratch or shared_scratch:numel() < floats then
    shared_scratch = nil
    collectgarbage('step', 0)
    shared_scratch = C.tensor_new(math.max(floats, 1))
  end
  return shared_scratch
end

-- The im2col path's scratch: per thread one image's (in*kh*kw) x (Ho*Wo) im2col matrix and
-- partial weight/bias gradients.
local function col_for(self, n, ho, wo)
  return scratch(C.conv2d_par_workspace(n, self.in_channels, self.out_channels, self.kh, self.kw, ho, wo))
end

-- Winograd for this layer's forward (pass == 'forward') or backward pass on input x? (the
-- algorithm setting, then the geometry)
-- Output pixels of one call (batch x Ho x Wo) for input x, as Winograd's 3x3 kernels see them.
local function call_pixels(self, x)
  return x:size(1) * (x:size(3) + 2 * self.padding - 2) * (x:size(4) + 2 * self.padding - 2)
end

local function use_winograd(self, pass, x)
  local algo = self.algorithm
  if algo ~= 'auto' and algo ~= 'plain' and algo ~= 'winograd' and algo ~= 'winograd-auto' then
    fail("algorithm must be 'auto', 'plain' or 'winograd' (or 'winograd-auto'), got %s", tostring(algo))
  end
  if algo == 'plain' or (algo == 'auto' and pass == 'forward')
      or not C.winograd_applies(self.kh, self.kw, self.stride, self.padding) then
    return false
  end
  if algo == 'winograd' then return true end
  local pixels = call_pixels(self, x)
  local min_pixels = pass == 'forward' and self.winograd_forward_min_pixels or self.winograd_min_pixels
  return self.in_channels >= WINOGRAD_MIN_CIN and pixels >= min_pixels
end

-- The Winograd kernels' scratch for an input x (sized for the current thread count).
local function winograd_ws(self, x)
  local need = C.winograd_workspace(x:size(1), self.in_channels, self.out_channels, x:size(3),
    x:size(4), self.padding)
  return need > 0 and scratch(need) or nil
end

-- The grad input's Winograd tile: F(2x2,3x3) (as accurate as im2col) for 'auto', F(4x4,3x3)
-- for the algorithms that take the forward pass in F(4x4) too, from enough pixels.
local function grad_input_tile(self, x)
  if self.algorithm == 'auto' or call_pixels(self, x) < self.winograd_f4_grad_input_min_pixels then return 2 end
  return 4
end

local function kernel_call(fn, ...)
  local ok, err = pcall(fn, ...)
  if not ok then fail('%s', (tostring(err):gsub('^conv2d: ', ''))) end
end

function Conv2d:update_output(x)
  local ho, wo = check_input(self, x)
  local n = x:size(1)
  local y = self:reuse('output', { n, self.out_channels, ho, wo })
  local ws = use_winograd(self, 'forward', x) and winograd_ws(self, x)
  if ws then
    kernel_call(C.winograd_forward, y, ws, x, self.weight, self.bias, self.padding, 4)
  else
    kernel_call(C.conv2d_par_forward, y, col_for(self, n, ho, wo), x, self.weight, self.bias,
      self.stride, self.padding)
  end
  self.output = y
  return y
end

-- One kernel call computes grad_input and (optionally) the parameter gradients; it
-- accumulates, so grad_input is cleared first.
local function run_backward(self, x, gy, want_input, want_params)
  local ho, wo = check_input(self, x)
  local n = x:size(1)
  if gy:dim() ~= 4 or gy:size(1) ~= n or gy:size(2) ~= self.out_channels or gy:size(3) ~= ho
      or gy:size(4) ~= wo then
    fail('grad_output %s does not match the output (%d,%d,%d,%d) for input %s', gy:shape_str(), n,
      self.out_channels, ho, wo, x:shape_str())
  end
  local ws = use_winograd(self, 'backward', x) and winograd_ws(self, x)
  local gx
  if want_input then
    gx = self:reuse_like('grad_input', x)
    if not ws then gx:zero() end   -- the Winograd kernel overwrites it instead
    self.grad_input = gx
  end
  if ws then
    kernel_call(C.winograd_backward, gx, want_params and self.grad_weight or nil,
      want_params and self.grad_bias or nil, ws, gy, x, self.weight, self.padding, true,
      grad_input_tile(self, x))
  else
    kernel_call(C.conv2d_par_backward, gx, want_params and self.grad_weight or nil,
      want_params and self.grad_bias or nil, col_for(self, n, ho, wo), gy, x, self.weight,
      self.stride, self.padding)
  end
  return gx
end

function Conv2d:update_grad_input(x, gy) return run_backward(self, x, gy, true, false) end
function Conv2d:acc_grad_parameters(x, gy) run_backward(self, x, gy, false, true) end
-- want_input == false: parameter gradients only (a first layer's input gradient has no use)
function Conv2d:backward(x, gy, want_input)
  self:expect_tensor(x, 'input'); self:expect_tensor(gy, 'grad_output')
  return run_backward(self, x, gy, want_input ~= false, true)
end

function Conv2d:clear_state()
  Module.clear_state(self)
  shared_scratch = nil
  return self
end

-- Per image: out*Ho*Wo outputs of in*kh*kw multiply-adds each; in_shape is {C, H, W}.
function Conv2d:macs(in_shape)
  if #in_shape ~= 3 or in_shape[1] ~= self.in_channels then
    fail('input shape (%s) does not match %d input channels', table.concat(in_shape, ','), self.in_channels)
  end
  local ho, wo = self:out_size(in_shape[2], in_shape[3], '(' .. table.concat(in_shape, ',') .. ')')
  return self.out_channels * ho * wo * self.in_channels * self.kh * self.kw, { self.out_channels, ho, wo }
end

return Conv2d
