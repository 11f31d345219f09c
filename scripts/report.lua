-- Redraws the tables and plots of studies from results files, without training.
-- Several files (e.g. one per cluster node) are merged; a run present in several is
-- counted once. Runs that differ in anything but the table's rows and columns (epochs,
-- dataset, data kind, fixed model settings) get tables of their own.
--
--   normlab scripts/report.lua results/position.jsonl node2/position.jsonl --out results
local cli = require 'normlab.cli'
local report = require 'normlab.report'

local p = cli.parser{
  usage = 'normlab scripts/report.lua [options] RESULTS.jsonl [RESULTS.jsonl ...]',
  description = 'Prints the tables of the studies found in the results files and writes '
    .. 'OUT/<study>.md and the plots (OUT/<study>.png ...), merging every file given.',
}
p:option{'out', type = 'string', default_text = 'the folder of the first file', help = 'output folder'}
p:option{'plot', type = 'string', choices = {'png', 'svg', 'terminal', 'none'}, default = 'png', help = 'plot format'}
p:option{'study', type = 'string', help = 'only this study'}
local opts, _, files = p:parse_or_exit(arg)
if #files == 0 then
  io.stderr:write('error: no results file given (see --help)\n')
  os.exit(2, true)
end
for _, f in ipairs(files) do
  local h = io.open(f, 'rb')
  if not h then
    io.stderr:write('error: cannot open ', f, '\n')
    os.exit(2, true)
  end
  h:close()
end
local out = opts.out or files[1]:match('^(.*)/[^/]*$') or '.'
os.execute('mkdir -p ' .. cli.shell_quote(out))

local ok, recs, warnings = pcall(report.load, files)
if not ok then
  io.stderr:write('error: ', tostring(recs), '\n')
  os.exit(1, true)
end
for _, w in ipairs(warnings) do io.stderr:write('warning: ', w, '\n') end

local studies, seen = {}, {}
for _, r in ipairs(recs) do
  if not seen[r.study] and (not opts.study or r.study == opts.study) then
    seen[r.study] = true
    studies[#studies + 1] = r.study
  end
end
if #studies == 0 then
  io.stderr:write('error: no runs', opts.study and (' of study ' .. opts.study) or '', ' in ', table.concat(files, ', '), '\n')
  os.exit(1, true)
end

local failed = false
for _, study in ipairs(studies) do
  local tags = report.group_tags(report.tables(recs, {study = study}))
  local _, written, errors = report.write(recs, {study = study, out = out, plot = opts.plot,
    name = function(_, i, n) return n > 1 and (study .. '-' .. tags[i]) or study end})
  for _, e in ipairs(errors) do
    io.stderr:write('error: ', e, '\n')
    failed = true
  end
  if #written > 0 then io.stdout:write('\nwritten: ', table.concat(written, ', '), '\n') end
end
os.exit(failed and 1 or 0, true)
