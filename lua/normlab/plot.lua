-- normlab.plot: figures drawn by gnuplot, files first.
--
--   local plot = require 'normlab.plot'
--   plot.lines{file = 'out/acc', format = 'png',            -- writes out/acc.dat, out/acc.gp, out/acc.png
--              title = 'accuracy', xlabel = 'depth', ylabel = 'test accuracy (%)',
--              logx = 2, ylog = nil, xtics = {1,2,4}, yrange = {0, 100},
--              series = {{name = 'ReLU', x = {1,2,3}, y = {50,60,70}, err = {1,2,1}}, ...},
--              notes = {{x = 3, y = 0, text = 'diverged'}}}
--   plot.bars{file = 'out/pos', labels = {'a', 'b'}, series = {{name = 'acc', y = {1, 2}, err = {...}}}}
--   plot.lines{x = {1,2,3}, y = {1,4,9}}          -- from the REPL: drawn in the terminal
--   plot.png_size('out/acc.png') -> 800, 600      -- reads the PNG header
--   plot.close()                                   -- ends the gnuplot process
--
-- format: 'png' (default when a file is given), 'svg', 'terminal' (gnuplot's dumb
-- terminal: the text is written to FILE.txt and printed), or 'none' (data and
-- script only). Each figure first writes FILE.dat and FILE.gp (so it can be redrawn
-- by hand with `gnuplot FILE.gp`), then one long-lived gnuplot process, fed through
-- a pipe, runs `load "FILE.gp"`; its stderr goes to a file. The call waits until
-- gnuplot has finished the figure, checks that the output file exists and is not
-- empty, and otherwise raises an error quoting gnuplot's messages (also saved in
-- FILE.gnuplot.log). When gnuplot is missing, the .dat and .gp are still written and
-- the error says how to install it.
local plot = {}

plot.timeout = 60        -- seconds to wait for one figure
plot.default_size = {png = {800, 600}, svg = {800, 600}, terminal = {100, 30}}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- a gnuplot double-quoted string
local function gq(s) return '"' .. tostring(s):gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('\n', '\\n') .. '"' end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() return true end
  return false
end

local function file_size(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local n = f:seek('end')
  f:close()
  return n
end

local function read_all(path, from)
  local f = io.open(path, 'rb')
  if not f then return '' end
  if from then f:seek('set', from) end
  local s = f:read('a') or ''
  f:close()
  return s
end

local function write_file(path, text)
  local f, err = io.open(path, 'wb')
  if not f then error('plot: cannot write ' .. path .. ': ' .. tostring(err), 0) end
  f:write(text)
  f:close()
end

local function sleep(s) os.execute('sleep ' .. s) end

-- The gnuplot command: $NORMLAB_GNUPLOT or `gnuplot` on the PATH.
function plot.command() return os.getenv('NORMLAB_GNUPLOT') or 'gnuplot' end

function plot.available()
  local cmd = plot.command()
  local test = cmd:find('/') and ('test -x ' .. q(cmd)) or ('command -v ' .. q(cmd) .. ' >/dev/null 2>&1')
  return os.execute(test) == true
end

local function missing_error(files)
  return string.format('plot: gnuplot not found (%s): install it with `apt-get install gnuplot-nox` '
    .. '(the data and the script are written: %s)', plot.command(), files)
end

---------------------------------------------------------------------------
-- the gnuplot process

local proc -- {pipe=, pid=, errfile=, dir=}

local function alive(pid)
  local f = io.open('/proc/' .. pid .. '/stat', 'r')
  if not f then return false end
  local s = f:read('a') or ''
  f:close()
  local state = s:match('^%d+ %b() (%a)')
  return state ~= nil and state ~= 'Z' and state ~= 'X'
end

local function start()
  if not plot.available() then return nil, 'missing' end
  local dir = os.tmpname()
  os.remove(dir)
  os.execute('mkdir -p ' .. q(dir))
  local p = {dir = dir, errfile = dir .. '/stderr', pidfile = dir .. '/pid'}
  -- `exec` keeps the shell's pid for gnuplot, so the pid file names gnuplot itself
  p.pipe = io.popen('echo $$ > ' .. q(p.pidfile) .. '; exec ' .. q(plot.command()) .. ' 2>>' .. q(p.errfile), 'w')
  for _ = 1, 200 do
    local s = read_all(p.pidfile)
    p.pid = s:match('%d+')
    if p.pid then break end
    sleep(0.01)
  end
  if not p.pid then return nil, 'gnuplot did not start' end
  p.pipe:setvbuf('full')
  p.count = 0
  return p
end

function plot.close()
  if proc then
    pcall(proc.pipe.close, proc.pipe)
    os.execute('rm -rf ' .. q(proc.dir))
    proc = nil
  end
end

-- Runs one .gp file in the gnuplot process; returns the text gnuplot wrote on stderr.
-- Raises when the process dies or does not answer within plot.timeout seconds.
local function run_gp(gp)
  if proc and not alive(proc.pid) then plot.close() end
  if not proc then
    local err
    proc, err = start()
    if not proc then
      if err == 'missing' then return nil, 'missing' end
      error('plot: ' .. err, 0)
    end
  end
  proc.count = proc.count + 1
  local done = string.format('%s/done%d', proc.dir, proc.count)
  local before = file_size(proc.errfile) or 0
  -- reset between figures so that one figure's settings never leak into the next
  proc.pipe:write(string.format('reset session\nload %s\nset print %s\nprint "ok"\nunset print\n',
    gq(gp), gq(done)))
  proc.pipe:flush()
  local waited, step = 0, 0.01
  while not exists(done) do
    if not alive(proc.pid) then
      local msg = read_all(proc.errfile, before)
      plot.close()
      error('plot: gnuplot exited while drawing ' .. gp .. ':\n' .. msg, 0)
    end
    if waited > plot.timeout then
      plot.close()
      error('plot: gnuplot did not finish ' .. gp .. ' within ' .. plot.timeout .. ' s', 0)
    end
    sleep(step)
    waited = waited + step
    step = math.min(step * 2, 0.2)
  end
  os.remove(done)
  return read_all(proc.errfile, before)
end

---------------------------------------------------------------------------
-- figures

local function normalize(o)
  assert(type(o) == 'table', 'plot: expected a table of options')
  local fmt = o.format or (o.file and 'png' or 'terminal')
  if fmt == 'dumb' then fmt = 'terminal' end
  if fmt ~= 'png' and fmt ~= 'svg' and fmt ~= 'terminal' and fmt ~= 'none' then
    error('plot: format must be png, svg, terminal or none (got ' .. tostring(fmt) .. ')', 0)
  end
  local file = o.file
  if not file then
    file = os.tmpname()
    os.remove(file)
  end
  file = file:gsub('%.png$', ''):gsub('%.svg$', '')
  local ext = ({png = '.png', svg = '.svg', terminal = '.txt', none = ''})[fmt]
  return fmt, file, file .. ext
end

local function terminal_lines(fmt, out, size)
  size = size or plot.default_size[fmt]
  local L = {'set encoding utf8'}
  if fmt == 'png' then
    L[#L + 1] = string.format('if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {\n'
      .. '  set terminal pngcairo size %d,%d noenhanced font "sans,11"\n'
      .. '} else {\n  set terminal png size %d,%d noenhanced\n}', size[1], size[2], size[1], size[2])
  elseif fmt == 'svg' then
    L[#L + 1] = string.format('set terminal svg size %d,%d noenhanced font "sans,11"', size[1], size[2])
  else
    L[#L + 1] = string.format('set terminal dumb size %d,%d noenhanced', size[1], size[2])
  end
  L[#L + 1] = 'set output ' .. gq(out)
  return L
end

local function common_lines(L, o, xshift)
  if o.title then L[#L + 1] = 'set title ' .. gq(o.title) end
  if o.xlabel then L[#L + 1] = 'set xlabel ' .. gq(o.xlabel) end
  if o.ylabel then L[#L + 1] = 'set ylabel ' .. gq(o.ylabel) end
  if o.yrange then
    L[#L + 1] = string.format('set yrange [%s:%s]', o.yrange[1] or '*', o.yrange[2] or '*')
  end
  if o.xrange then
    L[#L + 1] = string.format('set xrange [%s:%s]', o.xrange[1] or '*', o.xrange[2] or '*')
  end
  if o.logy then
    L[#L + 1] = 'set logscale y ' .. (o.logy == true and 10 or o.logy)
    L[#L + 1] = "set format y '%g'"   -- 1e-08, not 0.00000001
  end
  if o.key ~= false then L[#L + 1] = 'set key ' .. (o.key or 'outside right top') end
  L[#L + 1] = 'set grid ytics'
  for _, n in ipairs(o.notes or {}) do
    L[#L + 1] = string.format('set label %s at %.17g,%.17g center front textcolor rgb "red"',
      gq(n.text), n.x + (xshift or 0), n.y)
  end
end

local function num(v)
  if v == nil or v ~= v then return 'NaN' end
  return string.format('%.10g', v)
end

-- Draws the figure: writes .dat/.gp, runs gnuplot, checks the output.
local function render(o, fmt, file, out, dat, gp_lines)
  local dir = file:match('^(.*)/[^/]*$')
  if dir then os.execute('mkdir -p ' .. q(dir)) end
  write_file(file .. '.dat', dat)
  write_file(file .. '.gp', table.concat(gp_lines, '\n') .. '\n')
  if fmt == 'none' then return nil end
  os.remove(out)
  os.remove(file .. '.gnuplot.log')
  local msgs, missing = run_gp(file .. '.gp')
  if missing then error(missing_error(file .. '.dat, ' .. file .. '.gp'), 0) end
  msgs = msgs:gsub('%s+$', '')
  if #msgs > 0 then write_file(file .. '.gnuplot.log', msgs .. '\n') end
  local size = file_size(out)
  if not size or size == 0 then
    os.remove(out)
    error('plot: gnuplot did not produce ' .. out .. (#msgs > 0 and (':\n' .. msgs) or ' (no message)'), 0)
  end
  if fmt == 'terminal' and o.print ~= false then
    io.stdout:write(read_all(out))
    io.stdout:flush()
  end
  return out, (#msgs > 0 and msgs or nil)
end

-- Line plot. One data block per series in FILE.dat (x, y, err), blocks separated by
-- two blank lines (gnuplot's `index`). Points with a nil/NaN y are left out.
function plot.lines(o)
  if o.series == nil and o.y then o = setmetatable({series = {{x = o.x, y = o.y, err = o.err, name = o.name}}}, {__index = o}) end
  local fmt, file, out = normalize(o)
  local dat, plots = {}, {}
  local idx = 0
  for si, s in ipairs(o.series) do
    local x = s.x or {}
    if not s.x then for i = 1, #s.y do x[i] = i end end
    local rows = {}
    for i = 1, #s.y do
      local y = s.y[i]
      if y ~= nil and y == y and x[i] ~= nil then
        rows[#rows + 1] = num(x[i]) .. ' ' .. num(y) .. ' ' .. num(s.err and s.err[i] or 0)
      end
    end
    dat[#dat + 1] = '# ' .. (s.name or ('series ' .. si)) .. ': x y err'
    if #rows > 0 then
      for _, r in ipairs(rows) do dat[#dat + 1] = r end
      dat[#dat + 1] = ''
      dat[#dat + 1] = ''
      local style = s.err and 'yerrorlines' or 'linespoints'
      local using = s.err and '1:2:3' or '1:2'
      plots[#plots + 1] = string.format('%s index %d using %s with %s lw 2 pt 7 ps 1 title %s',
        gq(file .. '.dat'), idx, using, style, gq(s.name or ''))
      idx = idx + 1
    else
      dat[#dat + 1] = ''
      dat[#dat + 1] = ''
      idx = idx + 1
      plots[#plots + 1] = nil
    end
  end
  local L = terminal_lines(fmt, out, o.size)
  common_lines(L, o)
  if o.logx then
    L[#L + 1] = 'set logscale x ' .. (o.logx == true and 10 or o.logx)
    L[#L + 1] = "set format x '%g'"
    -- a margin on both sides, so that the end tics keep their labels
    local lo, hi
    for _, s in ipairs(o.series) do
      for _, v in ipairs(s.x or {}) do
        if v > 0 then lo, hi = math.min(lo or v, v), math.max(hi or v, v) end
      end
    end
    if lo and not o.xrange then L[#L + 1] = string.format('set xrange [%g:%g]', lo / 1.25, hi * 1.25) end
  end
  if o.xtics then
    local t = {}
    for _, v in ipairs(o.xtics) do t[#t + 1] = num(v) end
    L[#L + 1] = 'set xtics (' .. table.concat(t, ', ') .. ')'
  end
  if #plots == 0 then
    -- nothing to draw (all points missing): an empty frame with the notes
    if not o.yrange or o.yrange[2] == nil or o.yrange[2] == '*' then
      L[#L + 1] = string.format('set yrange [%s:100]', o.yrange and o.yrange[1] or 0)
    end
    if o.xtics and #o.xtics > 0 then
      L[#L + 1] = string.format('set xrange [%s:%s]', num(o.xtics[1]), num(o.xtics[#o.xtics]))
    end
    L[#L + 1] = 'plot NaN notitle'
  else
    L[#L + 1] = 'plot ' .. table.concat(plots, ', \\\n     ')
  end
  L[#L + 1] = 'unset output'
  if fmt == 'none' and not o.file then return nil end
  return render(o, fmt, file, out, table.concat(dat, '\n') .. '\n', L)
end

-- Breaks a label into lines of at most `width` characters at spaces.
local function wrap_label(s, width)
  local lines, line = {}, ''
  for word in tostring(s):gmatch('%S+') do
    if #line > 0 and utf8.len(line) + 1 + utf8.len(word) > width then
      lines[#lines + 1] = line
      line = word
    else
      line = #line > 0 and (line .. ' ' .. word) or word
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, '\n')
end

-- Bar chart: one group per label, one bar per series, error bars when a series has err.
-- FILE.dat has one row per label: "label" y1 err1 y2 err2 ... Notes use x = group number (1-based).
function plot.bars(o)
  local fmt, file, out = normalize(o)
  local labels, series = o.labels, o.series
  if not series and o.y then series = {{name = o.name, y = o.y, err = o.err}} end
  assert(labels and series, 'plot.bars: labels and series are required')
  local dat = {'# label' }
  for _, s in ipairs(series) do dat[1] = dat[1] .. ' | ' .. (s.name or '') .. ' (y err)' end
  for i, lab in ipairs(labels) do
    local row = {gq(lab)}
    for _, s in ipairs(series) do
      row[#row + 1] = num(s.y[i])
      row[#row + 1] = num(s.err and s.err[i] or 0)
    end
    dat[#dat + 1] = table.concat(row, ' ')
  end
  local any_err = false
  for _, s in ipairs(series) do if s.err then any_err = true end end
  local L = terminal_lines(fmt, out, o.size)
  common_lines(L, o, -1) -- notes: x is the 1-based group
  L[#L + 1] = 'set style data histogram'
  L[#L + 1] = any_err and 'set style histogram errorbars gap 1 lw 1' or 'set style histogram clustered gap 1'
  L[#L + 1] = 'set style fill solid 0.6 border -1'
  L[#L + 1] = 'set boxwidth 0.9'
  -- tick labels set in the script (where "\n" breaks a line), wrapped to fit under a group
  local width = math.max(8, math.floor((o.size or plot.default_size[fmt])[1] / 10 / #labels))
  local tics = {}
  local nlines = 1
  for i, lab in ipairs(labels) do
    local w = wrap_label(lab, width)
    local _, breaks = w:gsub('\n', '')
    nlines = math.max(nlines, breaks + 1)
    tics[#tics + 1] = gq(w) .. ' ' .. (i - 1)
  end
  if nlines > 1 and fmt ~= 'terminal' then L[#L + 1] = 'set bmargin ' .. (nlines + 2) end
  L[#L + 1] = 'set xtics nomirror (' .. table.concat(tics, ', ') .. ')'
  L[#L + 1] = string.format('set xrange [-0.6:%g]', #labels - 0.4)
  local plots = {}
  for si, s in ipairs(series) do
    local c = 2 * si
    local using = any_err and string.format('%d:%d', c, c + 1) or tostring(c)
    plots[#plots + 1] = string.format('%s using %s title %s', gq(file .. '.dat'), using, gq(s.name or ''))
  end
  local any = false
  for _, s in ipairs(series) do
    for i = 1, #labels do if s.y[i] and s.y[i] == s.y[i] then any = true end end
  end
  if any then
    L[#L + 1] = 'plot ' .. table.concat(plots, ', \\\n     ')
  else
    -- nothing to draw: the frame, the labels and the notes
    if not o.yrange or o.yrange[2] == nil or o.yrange[2] == '*' then
      L[#L + 1] = string.format('set yrange [%s:100]', o.yrange and o.yrange[1] or 0)
    end
    L[#L + 1] = 'plot NaN notitle'
  end
  L[#L + 1] = 'unset output'
  return render(o, fmt, file, out, table.concat(dat, '\n') .. '\n', L)
end

-- Width and height of a PNG file from its IHDR chunk, or nil and a reason.
function plot.png_size(path)
  local f = io.open(path, 'rb')
  if not f then return nil, 'cannot open ' .. path end
  local head = f:read(24) or ''
  f:close()
  if #head < 24 or head:sub(1, 8) ~= '\137PNG\r\n\26\n' then return nil, path .. ' is not a PNG file' end
  if head:sub(13, 16) ~= 'IHDR' then return nil, path .. ': first chunk is not IHDR' end
  local w, h = string.unpack('>I4>I4', head, 17)
  return w, h
end

return plot
