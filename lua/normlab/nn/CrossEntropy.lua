-- CrossEntropy(): softmax cross-entropy averaged over the batch, as
-- torch.nn.CrossEntropyLoss() (reduction 'mean').
--
--   loss = crit:forward(logits, labels)     logits (N,K); labels (N): 0-based class indices
--   gl   = crit:backward(logits, labels)    (N,K): (softmax(logits) - onehot(labels)) / N
-- loss = mean_i [ logsumexp(logits_i) - logits_i[label_i] ], computed with the row max
-- subtracted (stable for any finite logits). A label outside 0..K-1 (or not an integer)
-- is an error naming its row and value. Kernels: src/ops/xent.c.
local Module = require 'normlab.nn.Module'
local C = require 'normlab.C'

local CrossEntropy = Module:extend('CrossEntropy')

local function fail(fmt, ...)
  error('CrossEntropy: ' .. string.format(fmt, ...), 0)
end

function CrossEntropy:init()
  Module.init(self)
end

function CrossEntropy:describe() return 'CrossEntropy()' end

local function check(logits, labels)
  if not C.is_tensor(logits) or not C.is_tensor(labels) then
    fail('expected (logits, labels) tensors, got (%s, %s)', type(logits), type(labels))
  end
  if logits:dim() ~= 2 then fail('expected (N,K) logits, got %s', logits:shape_str()) end
  if labels:dim() ~= 1 or labels:size(1) ~= logits:size(1) then
    fail('labels %s do not match logits %s: expected (%d) labels', labels:shape_str(), logits:shape_str(),
      logits:size(1))
  end
end

-- Returns the mean loss (a Lua number); also kept in self.output.
function CrossEntropy:forward(logits, labels)
  check(logits, labels)
  local ok, loss = pcall(C.xent_forward, logits, labels)
  if not ok then fail('%s', (tostring(loss):gsub('^cross_entropy: ', ''))) end
  self.output = loss
  return loss
end
CrossEntropy.update_output = CrossEntropy.forward

-- Returns d loss / d logits, scaled by grad_loss (default 1). The tensor is reused.
function CrossEntropy:backward(logits, labels, grad_loss)
  check(logits, labels)
  self.grad_input = self:reuse_like('grad_input', logits)
  local ok, err = pcall(C.xent_backward, self.grad_input, logits, labels, grad_loss or 1)
  if not ok then fail('%s', (tostring(err):gsub('^cross_entropy: ', ''))) end
  return self.grad_input
end
CrossEntropy.update_grad_input = CrossEntropy.backward

-- Fraction of rows whose argmax (first maximum) equals the label.
function CrossEntropy.accuracy(logits, labels)
  check(logits, labels)
  local ok, n = pcall(C.xent_correct, logits, labels)
  if not ok then fail('%s', (tostring(n):gsub('^cross_entropy: ', ''))) end
  return n / logits:size(1)
end

require('normlab.help').register{ name = 'nn.CrossEntropy', obj = CrossEntropy,
  sig = 'nn.CrossEntropy()  loss = c:forward(logits, labels); g = c:backward(logits, labels)',
  doc = 'Softmax cross-entropy, mean over the batch (log-sum-exp, numerically stable).\nlogits (N,K); labels (N) of 0-based class indices.' }

return CrossEntropy
