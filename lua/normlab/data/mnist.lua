-- normlab.data.mnist: MNIST and Fashion-MNIST in the IDX format (plain or .gz).
--
-- Looked for under the data root (mnist/ or fashion-mnist/) and, for
-- Fashion-MNIST, where Debian's dataset-fashion-mnist package puts it
-- (/usr/share/datasets/fashion-mnist). Files: train-images-idx3-ubyte,
-- train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
-- each optionally with .gz. No augmentation by default (pad 0, no flips:
-- mirrored digits are other digits), only shuffling.
local C = require 'normlab.C'

local M = {}

M.debian_fashion = '/usr/share/datasets/fashion-mnist'

M.sets = {
  mnist = {
    dir = 'mnist', classes = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9'},
    mean = {0.1307}, std = {0.3081},
    url = 'http://yann.lecun.com/exdb/mnist/ (or a mirror)',
  },
  ['fashion-mnist'] = {
    dir = 'fashion-mnist', extra = {M.debian_fashion},
    classes = {'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
               'Ankle boot'},
    -- training-set statistics of pixels/255 (60,000 images)
    mean = {0.2860}, std = {0.3530},
    url = 'apt install dataset-fashion-mnist, or github.com/zalandoresearch/fashion-mnist',
  },
}

local stems = {
  train = {'train-images-idx3-ubyte', 'train-labels-idx1-ubyte'},
  test = {'t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'},
}
local full_n = {train = 60000, test = 10000}

local function dirs(name, opts, data)
  local set = M.sets[name]
  local t = {data.root(opts) .. '/' .. set.dir}
  for _, d in ipairs(set.extra or {}) do t[#t + 1] = d end
  return t
end

-- The path of stem (plain or .gz) in dir, or nil.
local function find(dir, stem, data)
  for _, f in ipairs{stem, stem .. '.gz'} do
    if data.exists(dir .. '/' .. f) then return dir .. '/' .. f end
  end
end

-- The first directory holding all four files; else nil, missing (of the first directory).
local function locate(name, opts, data)
  local first_missing
  for _, d in ipairs(dirs(name, opts, data)) do
    local missing = {}
    for _, split in ipairs{'train', 'test'} do
      for _, s in ipairs(stems[split]) do
        if not find(d, s, data) then missing[#missing + 1] = s .. '[.gz]' end
      end
    end
    if #missing == 0 then return d end
    first_missing = first_missing or missing
  end
  return nil, first_missing
end

function M.missing(name, opts, data)
  local d, missing = locate(name, opts, data)
  return d and {} or missing
end

function M.load(name, opts, data)
  local set = M.sets[name]
  local split = opts.split or 'train'
  if opts.sample then error('data.load: there is no bundled sample of ' .. name .. ' (only cifar10)', 3) end
  if opts.labels and opts.labels ~= 'fine' then error('data.load: ' .. name .. ' has one kind of label', 3) end
  local dir, missing = locate(name, opts, data)
  if not dir then
    local looked = {}
    for i, d in ipairs(dirs(name, opts, data)) do looked[i] = data.abspath(d) end
    error(table.concat({
      string.format('%s: the dataset was not found', name),
      '  missing:     ' .. table.concat(missing, ', '),
      '  looked in:   ' .. table.concat(looked, ', '),
      '  get it from: ' .. set.url,
      string.format('  put it:      the four files (plain or .gz) in %s', looked[1]),
    }, '\n'), 0)
  end
  local im, lb = find(dir, stems[split][1], data), find(dir, stems[split][2], data)
  local ok, h = pcall(C.data_load_idx, im, lb, 10)
  if not ok then error(name .. ' ' .. split .. ': ' .. data.errmsg(h), 0) end
  local n = h:n()
  if n ~= full_n[split] and not opts.any_size then
    error(string.format('%s %s: %s holds %d images, the official set has %d (pass any_size=true to accept it)',
      name, split, im, n, full_n[split]), 0)
  end
  return data.new_dataset{
    name = name, split = split, handle = h, classes = set.classes, mean = opts.mean or set.mean,
    std = opts.std or set.std, sample = false, dir = data.abspath(dir), files = {im, lb}, pad = 0,
    flip = false, full_n = full_n[split],
  }
end

-- No checksums are published in PROTOCOL.md for these, so normlab does not download them.
function M.fetch(name, opts, data)
  local d = locate(name, opts, data)
  if d then return d, {skipped = true, present = true} end
  error(string.format('data.fetch: normlab does not download %s; get it from %s and put the files in %s/%s',
    name, M.sets[name].url, data.abspath(data.root(opts)), M.sets[name].dir), 0)
end

return M
