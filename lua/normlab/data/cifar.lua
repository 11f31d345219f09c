-- normlab.data.cifar: CIFAR-10 and CIFAR-100, binary versions
-- (www.cs.toronto.edu/~kriz/cifar.html; layout and constants in ../shared/PROTOCOL.md).
--
-- Files under the data root:
--   cifar-10-batches-bin/  data_batch_1.bin .. data_batch_5.bin, test_batch.bin, batches.meta.txt
--   cifar-100-binary/      train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt
-- When a set is missing, load() downloads it (unless opts.download == false or
-- NORMLAB_OFFLINE is set) from opts.url, else $NORMLAB_CIFAR_URL, else the
-- official site; offline, the error says what is missing and what to do.
local C = require 'normlab.C'

local M = {}

M.default_url = 'https://www.cs.toronto.edu/~kriz/'

M.sets = {
  cifar10 = {
    kind = 10, dir = 'cifar-10-batches-bin', archive = 'cifar-10-binary.tar.gz',
    md5 = 'c32a1d4ab5d03f1284b67883e8d87530', size_mb = 162,
    train = {'data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'},
    test = {'test_batch.bin'}, meta = {'batches.meta.txt'},
    per_file = {train = 10000, test = 10000}, full_n = {train = 50000, test = 10000},
    mean = {0.4914, 0.4822, 0.4465}, std = {0.2470, 0.2435, 0.2616},
    -- the bundled sample (data/sample): the first 2,500 training and 500 test records
    sample = {train = {'data_batch_1.bin'}, test = {'test_batch.bin'}, per_file = {train = 2500, test = 500}},
  },
  cifar100 = {
    kind = 100, dir = 'cifar-100-binary', archive = 'cifar-100-binary.tar.gz',
    md5 = '03b5dce01913d631647c71ecec9e9cb8', size_mb = 161,
    train = {'train.bin'}, test = {'test.bin'}, meta = {'fine_label_names.txt', 'coarse_label_names.txt'},
    per_file = {train = 50000, test = 10000}, full_n = {train = 50000, test = 10000},
    mean = {0.5071, 0.4865, 0.4409}, std = {0.2673, 0.2564, 0.2762},
  },
}

local function all_files(set)
  local t = {}
  for _, group in ipairs{set.train, set.test, set.meta} do
    for _, f in ipairs(group) do t[#t + 1] = f end
  end
  return t
end

-- The archive's address: opts.url / $NORMLAB_CIFAR_URL as a base URL (the
-- archive name is appended), or a full URL when it already ends in .tar.gz.
function M.url(set, opts)
  local base = opts.url
  if base == nil or base == '' then base = os.getenv('NORMLAB_CIFAR_URL') end
  if base == nil or base == '' then base = M.default_url end
  if base:match('%.tar%.gz$') or base:match('%.tgz$') then return base end
  if not base:match('/$') then base = base .. '/' end
  return base .. set.archive
end

function M.missing(name, opts, data)
  local set = M.sets[name]
  local dir = data.root(opts) .. '/' .. set.dir
  local missing = {}
  for _, f in ipairs(all_files(set)) do
    if not data.exists(dir .. '/' .. f) then missing[#missing + 1] = f end
  end
  return missing, dir
end

-- The offline / not-found message: what is missing, where we looked, where to
-- get it, where to put it.
local function missing_message(name, set, opts, data, missing, dir, why)
  local root = data.root(opts)
  local lines = {
    string.format('%s: the dataset is not complete under the data root %s', name, data.abspath(root)),
    string.format('  missing:     %s', table.concat(missing, ', ')),
    string.format('  looked in:   %s/%s', data.abspath(root), set.dir),
    string.format('  get it from: %s (md5 %s, about %d MB),', M.url(set, opts), set.md5, set.size_mb),
    string.format("               or run: normlab -e 'normlab.data.fetch(\"%s\", {root=\"%s\"})'", name, root),
    string.format('  put it:      extract the archive in %s so that %s/%s/%s exists', data.abspath(root),
      data.abspath(root), set.dir, missing[1]),
    '               (choose another data root with --data DIR or NORMLAB_DATA; a mirror with NORMLAB_CIFAR_URL)',
  }
  if name == 'cifar10' then
    lines[#lines + 1] = "  to try things offline, the bundled sample loads with {sample=true} (scripts: --sample)"
  end
  if why then lines[#lines + 1] = '  ' .. why end
  return table.concat(lines, '\n')
end

function M.fetch(name, opts, data)
  local set = M.sets[name]
  local root = data.root(opts)
  local missing, dir = M.missing(name, opts, data)
  if #missing == 0 and not opts.force then return dir, {skipped = true, present = true} end
  if data.abspath(root) == data.abspath(data.sample_root()) then
    error(name .. ': refusing to download into the bundled sample directory ' .. data.abspath(root)
      .. '; choose another root (--data DIR or NORMLAB_DATA)', 0)
  end
  C.data_mkdirs(root)
  local url = M.url(set, opts)
  local archive = root .. '/' .. set.archive
  if not opts.quiet then
    io.stderr:write(string.format('%s: downloading %s\n  to %s\n', name, url, data.abspath(root)))
    io.stderr:flush()
  end
  local info = C.data_download(url, archive, opts.md5 or set.md5, opts.quiet)
  if not opts.quiet then io.stderr:write(string.format('%s: md5 ok, extracting\n', name)) end
  info.tops = C.data_extract(archive, root)
  if opts.keep_archive == false then os.remove(archive) end
  missing = M.missing(name, opts, data)
  if #missing > 0 then
    error(string.format('%s: the archive %s did not contain %s/%s', name, archive, set.dir,
      table.concat(missing, ', ' .. set.dir .. '/')), 0)
  end
  if not opts.quiet then io.stderr:write(string.format('%s: ready in %s\n', name, data.abspath(dir))) end
  return dir, info
end

function M.load(name, opts, data)
  local set = M.sets[name]
  local split = opts.split or 'train'
  local labels = opts.labels or 'fine'
  if labels ~= 'fine' and labels ~= 'coarse' then
    error("data.load: labels must be 'fine' or 'coarse', got '" .. tostring(labels) .. "'", 3)
  end
  if labels == 'coarse' and set.kind ~= 100 then
    error('data.load: coarse labels exist only in CIFAR-100', 3)
  end
  local dir, files, per_file
  if opts.sample then
    if not set.sample then error('data.load: there is no bundled sample of ' .. name .. ' (only cifar10)', 3) end
    dir = data.sample_root() .. '/' .. set.dir
    files, per_file = set.sample[split], set.sample.per_file[split]
    for _, f in ipairs{files[1], set.meta[1]} do
      if not data.exists(dir .. '/' .. f) then
        error(string.format('%s: the bundled sample is missing %s/%s (it ships with the source tree in '
          .. 'data/sample; set NORMLAB_SAMPLE_DIR if it lives elsewhere)', name, dir, f), 0)
      end
    end
  else
    local missing
    missing, dir = M.missing(name, opts, data)
    if #missing > 0 then
      local why
      local is_sample_dir = data.abspath(data.root(opts)) == data.abspath(data.sample_root())
      if is_sample_dir then
        why = 'not downloaded: this root is the bundled sample (data/sample), which holds only part of '
          .. 'cifar10; load it with {sample=true} (scripts: --sample), or choose another root'
      elseif data.may_download(opts) then
        local ok, err = pcall(M.fetch, name, opts, data)
        if not ok then why = 'the automatic download failed: ' .. data.errmsg(err) end
        missing = M.missing(name, opts, data)
      end
      if #missing > 0 then error(missing_message(name, set, opts, data, missing, dir, why), 0) end
    end
    files, per_file = set[split], set.per_file[split]
    if opts.any_size then per_file = 0 end   -- a trimmed or custom copy: any whole number of records
  end
  local paths = {}
  for i, f in ipairs(files) do paths[i] = dir .. '/' .. f end
  local ok, h = pcall(C.data_load_cifar, paths, set.kind, labels == 'coarse', per_file)
  if not ok then
    local msg = name .. ' ' .. split .. ': ' .. data.errmsg(h)
    if per_file > 0 and msg:find('wrong file size', 1, true) and not opts.sample then
      msg = msg .. string.format('\n  (the official files hold %d records each; re-extract or fetch them again '
        .. 'with data.fetch("%s", {force=true}); a deliberately trimmed copy loads with any_size=true)',
        per_file, name)
    end
    error(msg, 0)
  end
  local classes
  if set.kind == 10 then
    classes = data.read_names(dir .. '/batches.meta.txt', 10)
  else
    classes = data.read_names(dir .. '/' .. labels .. '_label_names.txt', labels == 'fine' and 100 or 20)
  end
  return data.new_dataset{
    name = name, split = split, handle = h, classes = classes, labels = set.kind == 100 and labels or nil,
    mean = opts.mean or set.mean, std = opts.std or set.std, sample = opts.sample, dir = data.abspath(dir),
    files = paths, pad = 4, flip = true, full_n = set.full_n[split],
  }
end

return M
