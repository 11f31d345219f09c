-- normlab.report: tables and plots of a study from its results (JSON lines).
--
--   local report = require 'normlab.report'
--   local recs = report.load{'results/position.jsonl', 'node2/position.jsonl'}  -- merged, deduplicated
--   local tables = report.tables(recs, {study = 'position'})   -- one per group of comparable runs
--   print(report.text(tables[1]))  ;  report.markdown(tables[1])
--   report.write(recs, {study = 'position', out = 'results', plot = 'png'})
--
-- A cell is the mean ± sample standard deviation (n−1) of the final test accuracy over
-- the seeds that finished. Diverged runs are counted and shown, never averaged;
-- planned runs that are not in the results are shown as missing. Runs are grouped
-- by everything that is not a row or column of the table (fixed model settings,
-- dataset, epochs, data kind ...): runs that differ there are never averaged together.
local json = require 'normlab.json'
local plot = require 'normlab.plot'

local report = {}

report.names = {
  act = {sigmoid = 'Sigmoid', relu = 'ReLU', leakyrelu = 'LeakyReLU', tanh = 'Tanh'},
  norm = {bn = 'BatchNorm', gn = 'GroupNorm', none = 'no norm'},
  dataset = {cifar10 = 'CIFAR-10', cifar100 = 'CIFAR-100', fashion_mnist = 'Fashion-MNIST',
             ['fashion-mnist'] = 'Fashion-MNIST', mnist = 'MNIST'},
}
local names = report.names

local function name_of(kind, v) return names[kind][v] or tostring(v) end

-- "Conv → BatchNorm → ReLU" for {order='cna', norm='bn', act='relu'}
function report.config_label(c)
  local parts = {}
  for ch in (c.order or 'cna'):gmatch('.') do
    if ch == 'c' then parts[#parts + 1] = 'Conv'
    elseif ch == 'n' then if c.norm ~= 'none' then parts[#parts + 1] = name_of('norm', c.norm) end
    elseif ch == 'a' then parts[#parts + 1] = name_of('act', c.act) end
  end
  return table.concat(parts, ' → ')
end

-- Table layouts of the known studies. row/col: config field (or a function of the config);
-- *_label: how a value is shown; col_heading: the column's heading.
report.layouts = {
  sigmoid_vs_relu = {
    row = 'depth', row_heading = 'Depth',
    col = 'act', col_order = {'sigmoid', 'relu', 'leakyrelu', 'tanh'},
    col_heading = function(v) return name_of('act', v) .. ' accuracy (%)' end,
    col_name = function(v) return name_of('act', v) end,
    plot = 'lines', xlabel = 'depth (blocks)', grads = true,
    title = 'Test accuracy against depth',
  },
  bn_vs_gn = {
    row = 'batch_size', row_heading = 'Batch size',
    col = 'norm', col_order = {'bn', 'gn', 'none'},
    col_heading = function(v) return name_of('norm', v) .. ' accuracy (%)' end,
    col_name = function(v) return name_of('norm', v) end,
    plot = 'lines', logx = 2, xlabel = 'batch size',
    title = 'Test accuracy against batch size',
  },
  position = {
    row = function(c) return (c.order or '') .. '-' .. (c.norm or '') .. '-' .. (c.act or '') end,
    row_fields = {'order', 'norm', 'act'},
    row_heading = 'Configuration',
    row_label = function(_, c) return report.config_label(c) end,
    row_order = {'cna-bn-relu', 'can-bn-relu', 'can-bn-leakyrelu'},
    col = nil, single_heading = 'accuracy (%)',
    plot = 'bars',
    title = 'Test accuracy by position of the normalization',
  },
}

local function generic_layout(study)
  return {
    row = function(c) return report.canonical(c) end, row_heading = 'Configuration',
    row_label = function(_, c)
      local parts = {}
      for _, k in ipairs(report.sorted_keys(c)) do parts[#parts + 1] = k .. '=' .. tostring(c[k]) end
      return table.concat(parts, ' ')
    end,
    single_heading = 'accuracy (%)', plot = 'bars', title = study,
  }
end

function report.layout(study) return report.layouts[study] or generic_layout(study) end

---------------------------------------------------------------------------
-- helpers

function report.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- A canonical string for a flat table (used in run keys).
function report.canonical(t)
  local parts = {}
  for _, k in ipairs(report.sorted_keys(t)) do
    local v = t[k]
    if v ~= json.null then
      if type(v) == 'table' then v = json.encode(v) end
      parts[#parts + 1] = k .. '=' .. tostring(v)
    end
  end
  return table.concat(parts, ',')
end

-- The identity of a run: study, config, settings and seed.
function report.run_key(study, config, settings, seed)
  return study .. '|' .. report.canonical(config) .. '|' .. report.canonical(settings) .. '|seed=' .. seed
end

function report.stats(xs)
  local n = #xs
  if n == 0 then return {n = 0} end
  local sum = 0
  for _, x in ipairs(xs) do sum = sum + x end
  local mean = sum / n
  if n == 1 then return {n = 1, mean = mean} end
  local ss = 0
  for _, x in ipairs(xs) do ss = ss + (x - mean) ^ 2 end
  return {n = n, mean = mean, std = math.sqrt(ss / (n - 1))}
end

local function fmt_num(x, digits) return string.format('%.' .. (digits or 2) .. 'f', x) end

local function fmt_duration(s)
  if not s then return '?' end
  s = math.floor(s + 0.5)
  if s < 60 then return s .. ' s' end
  if s < 3600 then return string.format('%d min %02d s', s // 60, s % 60) end
  return string.format('%d h %02d min', s // 3600, (s % 3600) // 60)
end
report.fmt_duration = fmt_duration

---------------------------------------------------------------------------
-- loading

-- Reads and merges results files. Returns the records (first occurrence of each run
-- key wins) and a list of warnings (torn lines, duplicates). Errors name the file and line.
function report.load(paths)
  if type(paths) == 'string' then paths = {paths} end
  local out, seen, warnings, dups = {}, {}, {}, 0
  for _, p in ipairs(paths) do
    local recs, warns = json.read_lines(p)
    for _, w in ipairs(warns) do warnings[#warnings + 1] = w end
    for i, r in ipairs(recs) do
      if type(r) ~= 'table' or type(r.study) ~= 'string' or type(r.config) ~= 'table' then
        error(string.format('%s: record %d is not a normlab run (no study/config)', p, i), 0)
      end
      local key = r.key or report.run_key(r.study, r.config, r.settings or {}, r.seed or 0)
      r.key = key
      if seen[key] then dups = dups + 1
      else
        seen[key] = true
        out[#out + 1] = r
      end
    end
  end
  if dups > 0 then
    warnings[#warnings + 1] = dups .. ' duplicate run(s) (same study, config, settings and seed) ignored'
  end
  return out, warnings
end

---------------------------------------------------------------------------
-- tables

local function field(spec, c)
  if spec == nil then return 'all' end
  if type(spec) == 'function' then return spec(c) end
  return c[spec]
end

-- The part of a config that is neither row nor column (identifies a group).
local function fixed_part(layout, c)
  local drop = {}
  if type(layout.row) == 'string' then drop[layout.row] = true end
  if type(layout.col) == 'string' then drop[layout.col] = true end
  for _, f in ipairs(layout.row_fields or {}) do drop[f] = true end
  if type(layout.row) == 'function' and not layout.row_fields then return {} end
  local t = {}
  for k, v in pairs(c) do if not drop[k] then t[k] = v end end
  return t
end

local function value_less(a, b)
  if type(a) == 'number' and type(b) == 'number' then return a < b end
  return tostring(a) < tostring(b)
end

local function order_values(values, preferred)
  local rank = {}
  for i, v in ipairs(preferred or {}) do rank[v] = i end
  table.sort(values, function(a, b)
    local ra, rb = rank[a], rank[b]
    if ra and rb then return ra < rb end
    if ra or rb then return ra ~= nil end
    return value_less(a, b)
  end)
  return values
end

-- report.tables(records, {study=, planned={ {config=, settings=, seed=}, ... }, only=group_key})
-- Returns a list of tables, one per group of comparable runs.
function report.tables(records, o)
  o = o or {}
  local study = o.study
  local layout = report.layout(study)
  local groups, gorder = {}, {}
  local function group_of(config, settings)
    local fixed = fixed_part(layout, config)
    local gk = report.canonical(fixed) .. '|' .. report.canonical(settings or {})
    local g = groups[gk]
    if not g then
      g = {key = gk, fixed = fixed, settings = settings or {}, cells = {}, rows = {}, cols = {},
           row_config = {}, records = {}, deviations = {}, seeds = {}}
      groups[gk] = g
      gorder[#gorder + 1] = g
    end
    return g
  end
  local function cell_of(g, config)
    local r, c = field(layout.row, config), field(layout.col, config)
    if not g.rows[r] then g.rows[r] = true; g.row_config[r] = config end
    g.cols[c] = true
    local key = tostring(r) .. '\0' .. tostring(c)
    local cell = g.cells[key]
    if not cell then
      cell = {acc = {}, diverged = 0, missing = 0, records = {}, keys = {}}
      g.cells[key] = cell
    end
    return cell
  end
  for _, rec in ipairs(records) do
    if rec.study == study then
      local g = group_of(rec.config, rec.settings)
      local cell = cell_of(g, rec.config)
      cell.keys[rec.key] = true
      cell.records[#cell.records + 1] = rec
      g.records[#g.records + 1] = rec
      g.seeds[rec.seed or 0] = true
      if rec.status == 'ok' and type(rec.final_test_acc) == 'number' then
        cell.acc[#cell.acc + 1] = rec.final_test_acc
      else
        cell.diverged = cell.diverged + 1
      end
      for _, d in ipairs(rec.deviations or {}) do g.deviations[d] = true end
      g.data = g.data or rec.data
    end
  end
  for _, p in ipairs(o.planned or {}) do
    local g = group_of(p.config, p.settings)
    local cell = cell_of(g, p.config)
    local key = report.run_key(study, p.config, p.settings, p.seed)
    if not cell.keys[key] then
      cell.missing = cell.missing + 1
      cell.keys[key] = true
    end
    g.seeds[p.seed] = true
    for _, d in ipairs(p.deviations or {}) do g.deviations[d] = true end
    g.data = g.data or p.data
  end
  local out = {}
  for _, g in ipairs(gorder) do
    if not o.only or g.key == o.only then
      local rows, cols = {}, {}
      for r in pairs(g.rows) do rows[#rows + 1] = r end
      for c in pairs(g.cols) do cols[#cols + 1] = c end
      order_values(rows, layout.row_order)
      order_values(cols, layout.col_order)
      g.row_list, g.col_list = rows, cols
      g.study, g.layout = study, layout
      local nseeds = 0
      for _ in pairs(g.seeds) do nseeds = nseeds + 1 end
      g.nseeds = nseeds
      -- seeds expected per cell: the most any cell has (for files without a plan)
      local expect = 0
      for _, cell in pairs(g.cells) do
        expect = math.max(expect, #cell.acc + cell.diverged + cell.missing)
      end
      g.expect = expect
      out[#out + 1] = g
    end
  end
  return out
end

function report.cell(g, r, c)
  return g.cells[tostring(r) .. '\0' .. tostring(c)]
end

-- The text of a cell: "91.23 ± 0.45", "91.23" (one seed), with marks for diverged
-- and missing runs; "diverged" / "not run" when nothing finished.
function report.cell_text(g, cell)
  if not cell then return 'not run' end
  local s = report.stats(cell.acc)
  local text
  if s.n == 0 then
    if cell.diverged > 0 then
      text = cell.diverged > 1 and ('diverged (' .. cell.diverged .. ' runs)') or 'diverged'
    else
      text = 'not run'
    end
    missing = math.max(cell.missing, g.expect - cell.diverged)
    if cell.diverged > 0 and missing > 0 then text = text .. ', ' .. missing .. ' not run' end
    return text, s
  end
  text = fmt_num(s.mean) .. (s.std and (' ± ' .. fmt_num(s.std)) or '')
  local marks = {}
  local missing = cell.missing
  local total = #cell.acc + cell.diverged + missing
  if total < g.expect then missing = missing + (g.expect - total) end
  if cell.diverged > 0 then marks[#marks + 1] = cell.diverged .. ' diverged' end
  if missing > 0 then marks[#marks + 1] = missing .. ' not run' end
  if #marks > 0 or (g.expect > 1 and s.n < g.expect) then
    text = text .. ' (n=' .. s.n .. '; ' .. (#marks > 0 and table.concat(marks, ', ') or '') .. ')'
  end
  return text, s
end

local function row_label(g, r)
  local L = g.layout
  if L.row_label then return L.row_label(r, g.row_config[r]) end
  return tostring(r)
end

local function col_heading(g, c)
  local L = g.layout
  if L.col == nil then return L.single_heading or 'accuracy (%)' end
  return L.col_heading and L.col_heading(c) or (tostring(c) .. ' accuracy (%)')
end

-- Header lines describing a group: dataset, data kind, training settings, deviations.
function report.banner(g)
  local s, lines = g.settings, {}
  local data = g.data or s.data or 'full'
  local seeds = g.nseeds
  local fixed = {}
  for _, k in ipairs(report.sorted_keys(g.fixed)) do
    local v = g.fixed[k]
    if v ~= 'none' then
      if k == 'norm' then v = name_of('norm', v) elseif k == 'act' then v = name_of('act', v) end
    end
    fixed[#fixed + 1] = k:gsub('_', ' ') .. ' ' .. tostring(v)
  end
  lines[#lines + 1] = string.format('%s, %s%s; %s epoch(s), lr %s at batch %s (scaled linearly), momentum %s, weight decay %s; '
      .. 'test accuracy after the last epoch, mean ± sample std over %d seed%s.',
    name_of('dataset', s.dataset),
    s.subset and (s.subset .. ' training images') or 'all training images',
    #fixed > 0 and (', ' .. table.concat(fixed, ', ')) or '',
    tostring(s.epochs), tostring(s.lr), tostring(s.lr_ref_batch or 128), tostring(s.momentum),
    tostring(s.weight_decay), seeds, seeds == 1 and '' or 's')
  if data == 'quick' then
    lines[#lines + 1] = 'QUICK preset: a small subset and few epochs. These numbers are NOT the protocol\'s.'
  end
  if s.sample then
    lines[#lines + 1] = 'SAMPLE data: the small CIFAR-10 sample bundled in data/sample, not the full data set. '
      .. 'These numbers are NOT the protocol\'s.'
  end
  local devs = report.sorted_keys(g.deviations)
  if #devs > 0 then lines[#lines + 1] = 'Differs from the protocol: ' .. table.concat(devs, '; ') .. '.' end
  return lines
end

-- The table as rows of strings (first row: headings).
function report.grid(g)
  local head = {g.layout.row_heading or 'Configuration'}
  for _, c in ipairs(g.col_list) do head[#head + 1] = col_heading(g, c) end
  local rows = {head}
  for _, r in ipairs(g.row_list) do
    local row = {row_label(g, r)}
    for _, c in ipairs(g.col_list) do row[#row + 1] = (report.cell_text(g, report.cell(g, r, c))) end
    rows[#rows + 1] = row
  end
  return rows
end

local function summary(g)
  local ok, div, missing, wall = 0, 0, 0, 0
  for _, cell in pairs(g.cells) do
    ok = ok + #cell.acc
    div = div + cell.diverged
    missing = missing + cell.missing
  end
  for _, r in ipairs(g.records) do wall = wall + (r.wall_time or 0) end
  local s = string.format('%d run%s finished', ok, ok == 1 and '' or 's')
  if div > 0 then s = s .. ', ' .. div .. ' diverged (not averaged)' end
  if missing > 0 then s = s .. ', ' .. missing .. ' not run yet' end
  return s .. '; total training time ' .. fmt_duration(wall) .. '.'
end

local function width(s) return utf8.len(s) or #s end

-- Plain-text table for the terminal.
function report.text(g)
  local rows = report.grid(g)
  local w = {}
  for _, row in ipairs(rows) do
    for j, cell in ipairs(row) do w[j] = math.max(w[j] or 0, width(cell)) end
  end
  local out = {g.study .. ':'}
  for _, l in ipairs(report.banner(g)) do out[#out + 1] = '  ' .. l end
  out[#out + 1] = ''
  for i, row in ipairs(rows) do
    local cells = {}
    for j, cell in ipairs(row) do
      local pad = string.rep(' ', w[j] - width(cell))
      cells[j] = j == 1 and (cell .. pad) or (pad .. cell)
    end
    out[#out + 1] = '  ' .. table.concat(cells, '   ')
    if i == 1 then
      local rule = {}
      for j = 1, #row do rule[j] = string.rep('-', w[j]) end
      out[#out + 1] = '  ' .. table.concat(rule, '   ')
    end
  end
  out[#out + 1] = ''
  out[#out + 1] = '  ' .. summary(g)
  return table.concat(out, '\n') .. '\n'
end

local function md_escape(s) return (tostring(s):gsub('|', '\\|')) end

-- Markdown: title, banner, table, summary, plot file names.
function report.markdown(g, files)
  local out = {'# ' .. g.study, ''}
  for _, l in ipairs(report.banner(g)) do
    out[#out + 1] = (l:find('NOT') and ('**' .. l .. '**') or l)
    out[#out + 1] = ''
  end
  local rows = report.grid(g)
  for i, row in ipairs(rows) do
    local cells = {}
    for j, c in ipairs(row) do cells[j] = md_escape(c) end
    out[#out + 1] = '| ' .. table.concat(cells, ' | ') .. ' |'
    if i == 1 then
      local rule = {'---'}
      for j = 2, #row do rule[j] = '---:' end
      out[#out + 1] = '| ' .. table.concat(rule, ' | ') .. ' |'
    end
  end
  out[#out + 1] = ''
  out[#out + 1] = summary(g)
  if files and #files > 0 then
    out[#out + 1] = ''
    for _, f in ipairs(files) do out[#out + 1] = '![' .. f .. '](' .. f .. ')' end
  end
  return table.concat(out, '\n') .. '\n'
end

---------------------------------------------------------------------------
-- plots

local function plot_title(g)
  local t = g.layout.title or g.study
  local s = g.settings
  t = t .. ' (' .. name_of('dataset', s.dataset) .. ', ' .. tostring(s.epochs) .. ' epochs'
  if g.data == 'quick' then t = t .. ', QUICK: not the protocol' end
  if s.sample then t = t .. ', SAMPLE data' end
  return t .. ')'
end

-- Draws the group's figure(s). base: path without extension. Returns the list of files.
function report.plot(g, base, format)
  local L, files = g.layout, {}
  local multi = g.nseeds > 1
  local ymin = 0
  if L.plot == 'lines' then
    local series, notes = {}, {}
    for _, c in ipairs(g.col_list) do
      local s = {name = L.col_name and L.col_name(c) or tostring(c), x = {}, y = {}, err = multi and {} or nil}
      for _, r in ipairs(g.row_list) do
        local cell = report.cell(g, r, c)
        local st = report.stats(cell and cell.acc or {})
        s.x[#s.x + 1] = r
        s.y[#s.y + 1] = st.mean or (0 / 0)
        if s.err then s.err[#s.err + 1] = st.std or 0 end
        if cell and cell.diverged > 0 and st.n == 0 then
          notes[#notes + 1] = {x = r, y = ymin + 3, text = s.name .. ' diverged'}
        end
      end
      series[#series + 1] = s
    end
    files[#files + 1] = plot.lines{file = base, format = format, title = plot_title(g),
      xlabel = L.xlabel, ylabel = 'test accuracy (%)', logx = L.logx, xtics = g.row_list,
      yrange = {ymin, '*'}, series = series, notes = notes}
  else
    local labels, y, err, notes = {}, {}, multi and {} or nil, {}
    for i, r in ipairs(g.row_list) do
      local cell = report.cell(g, r, g.col_list[1])
      local st = report.stats(cell and cell.acc or {})
      labels[i] = row_label(g, r)
      y[i] = st.mean or 0 / 0
      if err then err[i] = st.std or 0 end
      if cell and cell.diverged > 0 then
        notes[#notes + 1] = {x = i, y = ymin + 3, text = st.n == 0 and 'diverged' or (cell.diverged .. ' diverged')}
      elseif not st.mean then
        notes[#notes + 1] = {x = i, y = ymin + 3, text = 'not run'}
      end
    end
    files[#files + 1] = plot.bars{file = base, format = format, title = plot_title(g),
      ylabel = 'test accuracy (%)', labels = labels, yrange = {ymin, '*'}, key = 'off',
      series = {{name = 'test accuracy', y = y, err = err}}, notes = notes}
  end
  if L.grads then
    local f = report.plot_grads(g, base .. '_grads', format)
    if f then files[#files + 1] = f end
  end
  return files
end

-- Mean weight-gradient norm of each block (over all training steps, mean over seeds)
-- for the deepest model of each column (sigmoid_vs_relu: one line per activation).
function report.plot_grads(g, base, format)
  local deepest
  for _, r in ipairs(g.row_list) do
    if type(r) == 'number' and (not deepest or r > deepest) then deepest = r end
  end
  if not deepest then return nil end
  local series = {}
  for _, c in ipairs(g.col_list) do
    local cell = report.cell(g, deepest, c)
    local sums, n = {}, 0
    for _, rec in ipairs(cell and cell.records or {}) do
      if rec.status == 'ok' and type(rec.grad_norm_mean) == 'table' then
        n = n + 1
        for b, v in ipairs(rec.grad_norm_mean) do sums[b] = (sums[b] or 0) + (type(v) == 'number' and v or 0 / 0) end
      end
    end
    if n > 0 then
      local s = {name = (g.layout.col_name and g.layout.col_name(c) or tostring(c)), x = {}, y = {}}
      for b, v in ipairs(sums) do
        s.x[b] = b
        s.y[b] = (v / n > 0) and v / n or 0 / 0 -- log axis: drop zeros
      end
      series[#series + 1] = s
    end
  end
  if #series == 0 then return nil end
  local xt = {}
  for b = 1, deepest do xt[b] = b end
  return plot.lines{file = base, format = format, logy = 10, xtics = xt,
    title = string.format('Mean weight-gradient norm per block, depth %d (%s)', deepest,
      name_of('dataset', g.settings.dataset) .. (g.data == 'quick' and ', QUICK' or '')),
    xlabel = 'block (1 = next to the input)', ylabel = '‖∂loss/∂W‖ (mean over steps)', series = series}
end

---------------------------------------------------------------------------
-- everything at once

-- report.write(records, {study=, out=DIR, plot='png'|'svg'|'terminal'|'none', planned=, only=,
--                        name=function(g, i, n) -> file base name, quiet=})
-- Prints each table, writes DIR/<name>.md and the plots. Returns tables, files, errors
-- (plot errors are collected, not raised, so that a missing gnuplot never loses a table).
function report.write(records, o)
  local tables = report.tables(records, o)
  local files, errors = {}, {}
  for i, g in ipairs(tables) do
    local name = o.name and o.name(g, i, #tables) or o.study
    local base = (o.out or '.') .. '/' .. name
    local pfiles = {}
    if o.plot and o.plot ~= 'none' and #g.row_list > 0 then
      local ok, res = pcall(report.plot, g, base, o.plot)
      if ok then
        for _, f in ipairs(res) do pfiles[#pfiles + 1] = f end
      else
        errors[#errors + 1] = tostring(res)
      end
    end
    local rel = {}
    for _, f in ipairs(pfiles) do
      if o.plot ~= 'terminal' then rel[#rel + 1] = f:match('[^/]*$') end
    end
    local md = report.markdown(g, rel)
    local f = io.open(base .. '.md', 'w')
    if f then
      f:write(md)
      f:close()
      files[#files + 1] = base .. '.md'
    else
      errors[#errors + 1] = 'cannot write ' .. base .. '.md'
    end
    for _, p in ipairs(pfiles) do files[#files + 1] = p end
    if not o.quiet then io.stdout:write('\n', report.text(g)) end
  end
  return tables, files, errors
end

-- A short tag for a group that tells it from the others (fields whose values differ).
function report.group_tags(tables)
  local tags, varying = {}, {}
  local function flat(g)
    local t = {}
    for k, v in pairs(g.fixed) do t[k] = v end
    for k, v in pairs(g.settings) do t[k] = v end
    return t
  end
  local flats = {}
  for i, g in ipairs(tables) do flats[i] = flat(g) end
  for i = 1, #flats do
    for k, v in pairs(flats[i]) do
      for j = 1, #flats do
        if flats[j][k] ~= v then varying[k] = true end
      end
    end
  end
  for i, t in ipairs(flats) do
    local parts = {}
    for _, k in ipairs(report.sorted_keys(varying)) do
      local v = t[k]
      if v ~= nil then parts[#parts + 1] = k:gsub('_', '') .. '-' .. tostring(v):gsub('[^%w.]', '') end
    end
    tags[i] = table.concat(parts, '_')
  end
  return tags
end

return report
