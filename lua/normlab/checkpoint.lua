-- checkpoint.lua: save and resume a training run exactly.
--
-- A checkpoint holds the model's parameters and buffers (batch-norm running
-- statistics), the optimizer's state tensors, generator states, the epoch and
-- step, and free-form metadata strings. The file format (src/core/checkpoint.h)
-- is data only: loading it never runs code.
local C = require 'normlab.C'

local checkpoint = {}

-- Every named tensor of a module tree: "3.weight", "4.running_mean", ...
-- Containers list their children in `modules`.
function checkpoint.named_tensors(module, prefix, out)
  prefix, out = prefix or '', out or {}
  for i, name in ipairs(module.param_names or {}) do out[#out + 1] = { prefix .. name, module.params[i] } end
  local bnames = {}
  for name in pairs(module.buffers or {}) do bnames[#bnames + 1] = name end
  table.sort(bnames)
  for _, name in ipairs(bnames) do out[#out + 1] = { prefix .. name, module.buffers[name] } end
  for i, child in ipairs(module.modules or {}) do checkpoint.named_tensors(child, prefix .. i .. '.', out) end
  return out
end

-- run = { model =, optimizer = (optional), generators = {name = Generator}, epoch =, step =, meta = {k = string} }
function checkpoint.save(path, run)
  local entries = {}
  for _, e in ipairs(checkpoint.named_tensors(run.model)) do entries[#entries + 1] = { 'model.' .. e[1], e[2] } end
  if run.optimizer then
    for i, t in ipairs(run.optimizer:state_tensors()) do entries[#entries + 1] = { 'optim.' .. i, t } end
    entries[#entries + 1] = { 'optim.steps', run.optimizer.steps or 0 }
  end
  local gnames = {}
  for name in pairs(run.generators or {}) do gnames[#gnames + 1] = name end
  table.sort(gnames)
  for _, name in ipairs(gnames) do entries[#entries + 1] = { 'rng.' .. name, run.generators[name]:state() } end
  entries[#entries + 1] = { 'epoch', run.epoch or 0 }
  entries[#entries + 1] = { 'step', run.step or 0 }
  for k, v in pairs(run.meta or {}) do entries[#entries + 1] = { 'meta.' .. k, tostring(v) } end
  C.ckpt_save(path, entries)
end

local function restore_tensor(path, map, name, into)
  local t = map[name]
  if t == nil then error(string.format('checkpoint %s: missing %s', path, name), 3) end
  if not C.is_tensor(t) then error(string.format('checkpoint %s: %s is not a tensor', path, name), 3) end
  if t:shape_str() ~= into:shape_str() then
    error(string.format('checkpoint %s: %s has shape %s in the file, %s in the model', path, name,
      t:shape_str(), into:shape_str()), 3)
  end
  into:copy(t)
end

-- Loads path into the live objects of run (same shape as save's argument);
-- returns the epoch, the step and the metadata table.
function checkpoint.load(path, run)
  local map, names = C.ckpt_load(path)
  local expected = 0
  for _, e in ipairs(checkpoint.named_tensors(run.model)) do
    restore_tensor(path, map, 'model.' .. e[1], e[2]); expected = expected + 1
  end
  local in_file = 0
  for _, n in ipairs(names) do if n:sub(1, 6) == 'model.' then in_file = in_file + 1 end end
  if in_file ~= expected then
    error(string.format('checkpoint %s: the file has %d model tensors, the model has %d', path, in_file, expected), 2)
  end
  if run.optimizer then
    for i, t in ipairs(run.optimizer:state_tensors()) do restore_tensor(path, map, 'optim.' .. i, t) end
    run.optimizer.steps = map['optim.steps'] or 0
  end
  for name, g in pairs(run.generators or {}) do
    local s = map['rng.' .. name]
    if type(s) ~= 'string' then error(string.format('checkpoint %s: missing generator %s', path, name), 2) end
    g:set_state(s)
  end
  local meta = {}
  for _, n in ipairs(names) do if n:sub(1, 5) == 'meta.' then meta[n:sub(6)] = map[n] end end
  return map.epoch, map.step, meta
end

return checkpoint
