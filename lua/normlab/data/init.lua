-- normlab.data: datasets and the batch loader (docs/API.md, "Datasets").
--
--   local ds = data.load('cifar10', {root=nil, split='train', sample=false, labels='fine'})
--   local loader = data.Loader(ds, {batch_size=128, train=true, seed=1, subset=nil, drop_last=true})
--   for x, y, i in loader:epoch(epoch) do ... end
--   data.fetch('cifar10', {root=...})    data.root(opts)
--
-- Images stay in memory as uint8 (one C buffer per dataset); batches are made
-- by C (src/data/pipeline.c) into tensors the loader reuses, so x and y are
-- overwritten by the next batch: clone them to keep them.
local C = require 'normlab.C'

local data = {}

-- The sets and the modules that know them.
local modules = {
  cifar10 = 'normlab.data.cifar', cifar100 = 'normlab.data.cifar',
  mnist = 'normlab.data.mnist', ['fashion-mnist'] = 'normlab.data.mnist',
}
local aliases = {
  ['cifar-10'] = 'cifar10', cifar_10 = 'cifar10', ['cifar-100'] = 'cifar100', cifar_100 = 'cifar100',
  fashion_mnist = 'fashion-mnist', fashionmnist = 'fashion-mnist', fmnist = 'fashion-mnist',
}

-- The canonical name of a dataset, or an error listing the known ones.
function data.canonical(name)
  if type(name) ~= 'string' then error('data: dataset name expected (a string), got ' .. type(name), 3) end
  local n = name:lower()
  n = aliases[n] or n
  if not modules[n] then
    error(string.format("data: unknown dataset '%s' (known: %s)", name, table.concat(data.names(), ', ')), 3)
  end
  return n, require(modules[n])
end

function data.names()
  local t = {}
  for k in pairs(modules) do t[#t + 1] = k end
  table.sort(t)
  return t
end

-- The data root: opts.root (the studies' --data DIR; opts.data is accepted too),
-- else $NORMLAB_DATA, else ./data.
function data.root(opts)
  opts = opts or {}
  local r = opts.root or opts.data
  if r == nil or r == '' then r = os.getenv('NORMLAB_DATA') end
  if r == nil or r == '' then r = './data' end
  return (r:gsub('(.)/+$', '%1'))
end

-- Where the bundled sample lives: $NORMLAB_SAMPLE_DIR, else data/sample in the
-- source tree that this file belongs to.
function data.sample_root()
  local env = os.getenv('NORMLAB_SAMPLE_DIR')
  if env and env ~= '' then return env end
  local here = package.searchpath('normlab.data', package.path)
  if here then
    local top = here:gsub('/lua/normlab/data/init%.lua$', '')
    if top ~= here then return top .. '/data/sample' end
  end
  return './data/sample'
end

-- Downloads are allowed unless opts.download == false or NORMLAB_OFFLINE is set.
function data.may_download(opts)
  if opts and opts.download == false then return false end
  local off = os.getenv('NORMLAB_OFFLINE')
  return not (off and off ~= '' and off ~= '0')
end

-- An error message without the "file.lua:12: " position Lua puts in front.
function data.errmsg(e)
  return (tostring(e):gsub('^[^\n:]+%.lua:%d+: ', ''))
end

function data.exists(path) return C.data_file_size(path) ~= nil end
function data.abspath(path) return C.data_realpath(path) end

-- Reads a text file of names, one per line (blank lines skipped).
function data.read_names(path, want)
  local f, err = io.open(path, 'r')
  if not f then error('data: cannot read class names: ' .. tostring(err), 0) end
  local t = {}
  for line in f:lines() do
    line = line:gsub('%s+$', ''):gsub('^%s+', '')
    if line ~= '' then t[#t + 1] = line end
  end
  f:close()
  if want and #t ~= want then
    error(string.format('data: %s lists %d class names, expected %d', path, #t, want), 0)
  end
  return t
end

---------------------------------------------------------------------------
-- Dataset objects: a Lua table around the C handle.

local Dataset = {}
Dataset.__index = Dataset
data.Dataset = Dataset

-- Builds a dataset table; fields: name, split, handle, classes, mean, std,
-- sample, dir, files, labels, pad, flip, full_n (the full split's size).
function data.new_dataset(t)
  local c, h, w = t.handle:shape()
  t.n = t.handle:n()
  t.num_classes = t.handle:num_classes()
  t.shape = {c, h, w}
  t.sample = t.sample and true or false
  return setmetatable(t, Dataset)
end

function Dataset:__tostring()
  local s = self.shape
  local names = self.classes and #self.classes > 0 and self.classes or {}
  local shown = {}
  for i = 1, math.min(#names, 4) do shown[i] = names[i] end
  local cls = #names > 0 and (' (' .. table.concat(shown, ', ') .. (#names > 4 and ', ...' or '') .. ')') or ''
  local tag = ''
  if self.sample then
    tag = string.format(' [SAMPLE: %d of the %s images; not the full set]', self.n,
      self.full_n and tostring(self.full_n) or '?')
  elseif self.full_n and self.n ~= self.full_n then
    tag = string.format(' [partial: %d of the %d images]', self.n, self.full_n)
  end
  local lab = self.labels and self.labels ~= 'fine' and (', ' .. self.labels .. ' labels') or ''
  return string.format('%s %s%s: %d images %dx%dx%d, %d classes%s%s, from %s', self.name, self.split, tag,
    self.n, s[1], s[2], s[3], self.num_classes, cls, lab, self.dir or '?')
end

function Dataset:__len() return self.n end
function Dataset:label(i) return self.handle:label(i) end            -- 0-based class of image i (1-based)
function Dataset:label_counts() return self.handle:label_counts() end -- {count of class 0, ...}
function Dataset:image(i) return self.handle:image(i) end            -- (C,H,W) tensor of raw 0..255 values
function Dataset:stats() return self.handle:channel_stats() end       -- mean, std per channel of pixels/255
function Dataset:class_name(label) return self.classes and self.classes[label + 1] end

---------------------------------------------------------------------------
-- load / fetch / available

function data.load(name, opts)
  opts = opts or {}
  local n, mod = data.canonical(name)
  local split = opts.split or 'train'
  if split ~= 'train' and split ~= 'test' then
    error(string.format("data.load: split must be 'train' or 'test', got '%s'", tostring(split)), 2)
  end
  return mod.load(n, opts, data)
end

-- Downloads, verifies and extracts a dataset into the data root. Returns the
-- directory and a table describing the download.
function data.fetch(name, opts)
  opts = opts or {}
  local n, mod = data.canonical(name)
  if not mod.fetch then error('data.fetch: ' .. n .. ' cannot be downloaded by normlab', 2) end
  return mod.fetch(n, opts, data)
end

-- true when the set is complete under the root; else false and the missing files.
function data.available(name, opts)
  opts = opts or {}
  local n, mod = data.canonical(name)
  local missing = mod.missing(n, opts, data)
  return #missing == 0, missing
end

---------------------------------------------------------------------------
-- Loader

local Loader = {}
Loader.__index = Loader
data.LoaderClass = Loader

-- opts: batch_size=128, train=true, seed=1, subset=nil (first N images),
-- drop_last (default: train), augment (default: train; the dataset's pad and
-- flip, e.g. 4 and true for CIFAR), pad, flip, mean, std (default: the dataset's).
function data.Loader(ds, opts)
  if getmetatable(ds) ~= Dataset then error('data.Loader: a dataset from data.load expected', 2) end
  opts = opts or {}
  local train = opts.train
  if train == nil then train = true end
  local augment = opts.augment
  if augment == nil then augment = train end
  local drop_last = opts.drop_last
  if drop_last == nil then drop_last = train end
  local flip = opts.flip
  if flip == nil then flip = ds.flip end
  local self = setmetatable({
    ds = ds, train = train, augment = augment and train, drop_last = drop_last,
    batch_size = opts.batch_size or 128, seed = opts.seed or 1, subset = opts.subset,
    bufs = {}, next_epoch = 1,
  }, Loader)
  if opts.subset and (math.type(opts.subset) ~= 'integer' or opts.subset < 1) then
    error('data.Loader: subset must be a positive integer', 2)
  end
  local ok, h = pcall(C.data_loader, ds.handle, {
    batch_size = self.batch_size, train = train, seed = self.seed, subset = opts.subset or 0,
    drop_last = drop_last, pad = self.augment and (opts.pad or ds.pad or 0) or 0,
    flip = self.augment and flip and true or false,
    mean = opts.mean or ds.mean, std = opts.std or ds.std,
  })
  if not ok then error('data.Loader(' .. ds.name .. ' ' .. ds.split .. '): ' .. tostring(h), 2) end
  self.h = h
  return self
end

function Loader:num_batches() return self.h:num_batches() end
function Loader:size() return self.h:size() end   -- images used per epoch before dropping

-- The reused output tensors for a batch of B images (at most two sizes: full and last).
function Loader:buffers(B)
  local b = self.bufs[B]
  if not b then
    local s = self.ds.shape
    b = {C.tensor_new(B, s[1], s[2], s[3]), C.tensor_new(B)}
    self.bufs[B] = b
  end
  return b[1], b[2]
end

-- Batch i (1-based) of epoch e, made on its own (random access; same values
-- as the i-th batch of loader:epoch(e)).
function Loader:batch(i, e)
  if e then self.h:set_epoch(e) end
  local B = self.h:batch_len(i)
  if B == 0 then error(string.format('loader: batch %d out of range 1..%d', i, self.h:num_batches()), 2) end
  local x, y = self:buffers(B)
  self.h:fill(i, x, y)
  return x, y
end

-- Iterates over the batches of epoch e (default: the epoch after the last one).
-- Yields x (B,C,H,W), y (B), i; x and y are reused by the next batch.
function Loader:epoch(e)
  e = e or self.next_epoch
  self.next_epoch = e + 1
  local h = self.h
  local nb = h:num_batches()
  local i = 0
  return function()
    i = i + 1
    if i > nb then return nil end
    h:set_epoch(e)   -- cheap when unchanged; keeps interleaved loops on one loader correct
    local x, y = self:buffers(h:batch_len(i))
    h:fill(i, x, y)
    return x, y, i
  end
end

function Loader:__tostring()
  return string.format('data.Loader(%s %s, batch %d, %s, seed %d%s): %d batches', self.ds.name, self.ds.split,
    self.batch_size, self.train and (self.augment and 'train, augmented' or 'train') or 'test', self.seed,
    self.subset and (', subset ' .. self.subset) or '', self:num_batches())
end

return data
