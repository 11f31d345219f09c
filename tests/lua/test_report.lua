-- The pure-Lua parts of the studies: option parsing and --help, run keys, mean ± sample std,
-- tables with diverged/missing runs, Markdown, gnuplot figures (valid PNG of the asked size,
-- log2 axis, error bars, terminal output, a missing gnuplot), appending results lines.
local T = dofile('tests/lua/check.lua')
local cli = require 'normlab.cli'
local json = require 'normlab.json'
local report = require 'normlab.report'
local plot = require 'normlab.plot'

local tmp = os.tmpname()
os.remove(tmp)
os.execute('mkdir -p ' .. tmp)

local function read(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

---------------------------------------------------------------------------
-- cli

local function parser()
  local p = cli.parser{usage = 'normlab x.lua [options]', description = 'A test.'}
  p:option{'epochs', type = 'int', default = 15, help = 'training epochs'}
  p:option{'depths', type = 'ints', default = {1, 2, 3}, help = 'depths'}
  p:option{'lr', type = 'number', default = 0.05, help = 'learning rate'}
  p:option{'plot', type = 'string', choices = {'png', 'svg'}, default = 'png', help = 'format'}
  p:option{'quick', type = 'flag', help = 'quick preset'}
  p:option{'run-index', type = 'int', min = 1, help = 'run one'}
  return p
end

T.test('cli parses every form', function()
  local opts, given, rest = parser():parse{'--epochs', '3', '--depths=1,4, 8', '--lr', '1e-2', '--quick',
    '--run-index=2', 'file.jsonl'}
  T.eq(opts.epochs, 3)
  T.eq(math.type(opts.epochs), 'integer')
  T.eq(table.concat(opts.depths, ','), '1,4,8')
  T.eq(opts.lr, 0.01)
  T.eq(opts.quick, true)
  T.eq(opts.run_index, 2, 'dashes become underscores')
  T.eq(opts.plot, 'png', 'default')
  T.truthy(given.epochs and given.quick and not given.plot, 'given set')
  T.eq(rest[1], 'file.jsonl')
  local o2 = parser():parse{'--quick', '--no-quick'}
  T.eq(o2.quick, false, '--no-flag')
end)

T.test('cli errors are clear', function()
  local p = parser()
  T.err(function() p:parse{'--epoch', '3'} end, 'unknown option --epoch (did you mean --epochs?)')
  T.err(function() p:parse{'--epochs', 'many'} end, '--epochs expects an integer, got "many"')
  T.err(function() p:parse{'--epochs'} end, '--epochs needs a value')
  T.err(function() p:parse{'--plot', 'gif'} end, '--plot must be one of png, svg')
  T.err(function() p:parse{'--depths', '1,,2'} end, 'empty item')
  T.err(function() p:parse{'--run-index', '0'} end, 'at least 1')
  T.err(function() p:parse{'--quick=maybe'} end, 'is a flag')
end)

T.test('cli --help is generated from the option list', function()
  local h = parser():help()
  T.truthy(h:find('usage: normlab x.lua [options]', 1, true), h)
  T.truthy(h:find('--epochs N%s+training epochs %[default: 15%]'), h)
  T.truthy(h:find('--depths N,N,...%s+depths %[default: 1,2,3%]'), h)
  T.truthy(h:find('--plot png|svg', 1, true), h)
  T.truthy(h:find('-h, --help', 1, true), h)
end)

T.test('cli strips sweep options for child commands, shell quoting', function()
  local p = parser()
  local a = p:strip({'--epochs', '3', '--run-index', '4', '--quick', '--plot=svg'}, {['run-index'] = true, quick = true})
  T.eq(table.concat(a, ' '), '--epochs 3 --plot=svg')
  T.eq(cli.shell_quote('abc/d.lua'), 'abc/d.lua')
  T.eq(cli.shell_quote("it's"), "'it'\\''s'")
end)

---------------------------------------------------------------------------
-- report

T.test('mean and sample standard deviation', function()
  local s = report.stats{90, 92}
  T.near(s.mean, 91, 1e-12, 'mean')
  T.near(s.std, math.sqrt(2), 1e-12, 'sample std (n-1)')
  s = report.stats{1, 2, 3, 4}
  T.near(s.std, math.sqrt(5 / 3), 1e-12, 'std of 1..4')
  T.eq(report.stats{5}.std, nil, 'one value: no std')
  T.eq(report.stats{}.n, 0)
end)

local settings = {dataset = 'cifar10', epochs = 15, lr = 0.05, lr_ref_batch = 128, momentum = 0.9,
                  weight_decay = 5e-4, sample = false, data = 'full'}

local function rec(depth, act, seed, acc, status)
  local config = {depth = depth, act = act, norm = 'bn', order = 'cna', batch_size = 128}
  return {study = 'sigmoid_vs_relu', config = config, settings = settings, seed = seed,
          key = report.run_key('sigmoid_vs_relu', config, settings, seed), status = status or 'ok',
          final_test_acc = acc, wall_time = 10, data = 'full',
          grad_norm_mean = depth == 2 and (act == 'sigmoid' and {1e-4, 1e-2} or {0.5, 0.4}) or nil}
end

local records = {
  rec(1, 'sigmoid', 1, 50), rec(1, 'sigmoid', 2, 52), rec(1, 'relu', 1, 60), rec(1, 'relu', 2, 64),
  rec(2, 'sigmoid', 1, nil, 'diverged'), rec(2, 'sigmoid', 2, 40), rec(2, 'relu', 1, 70),
}

T.test('table: headings, mean ± std, diverged and missing runs marked', function()
  local tabs = report.tables(records, {study = 'sigmoid_vs_relu'})
  T.eq(#tabs, 1, 'one group')
  local grid = report.grid(tabs[1])
  T.eq(table.concat(grid[1], ' | '), 'Depth | Sigmoid accuracy (%) | ReLU accuracy (%)')
  T.eq(grid[2][1], '1')
  T.eq(grid[2][2], '51.00 ± 1.41')
  T.eq(grid[2][3], '62.00 ± 2.83')
  T.eq(grid[3][2], '40.00 (n=1; 1 diverged)', 'a diverged run is never averaged')
  T.eq(grid[3][3], '70.00 (n=1; 1 not run)', 'a missing seed is marked')
  local md = report.markdown(tabs[1], {'sigmoid_vs_relu.png'})
  T.truthy(md:find('| Depth | Sigmoid accuracy (%) | ReLU accuracy (%) |', 1, true), md)
  T.truthy(md:find('| 2 | 40.00 (n=1; 1 diverged) |', 1, true), md)
  T.truthy(md:find('1 diverged (not averaged)', 1, true), md)
  T.truthy(md:find('![sigmoid_vs_relu.png](sigmoid_vs_relu.png)', 1, true), md)
  local txt = report.text(tabs[1])
  T.truthy(txt:find('Sigmoid accuracy (%)', 1, true), txt)
end)

T.test('table: all seeds diverged, planned runs not run', function()
  local r = {rec(3, 'sigmoid', 1, nil, 'diverged')}
  local planned = {
    {config = r[1].config, settings = settings, seed = 1},
    {config = {depth = 3, act = 'relu', norm = 'bn', order = 'cna', batch_size = 128}, settings = settings, seed = 1},
  }
  local g = report.tables(r, {study = 'sigmoid_vs_relu', planned = planned})[1]
  local grid = report.grid(g)
  T.eq(grid[2][2], 'diverged')
  T.eq(grid[2][3], 'not run')
end)

T.test('runs with different settings are never averaged together', function()
  local other = rec(1, 'relu', 3, 10)
  other.settings = {dataset = 'cifar10', epochs = 2, lr = 0.05, lr_ref_batch = 128, momentum = 0.9,
                    weight_decay = 5e-4, sample = false, data = 'quick'}
  other.key = report.run_key(other.study, other.config, other.settings, 3)
  other.data = 'quick'
  local all = {table.unpack(records)}
  all[#all + 1] = other
  local tabs = report.tables(all, {study = 'sigmoid_vs_relu'})
  T.eq(#tabs, 2, 'two groups')
  T.eq(report.grid(tabs[1])[2][3], '62.00 ± 2.83', 'first group unchanged')
  local banner = table.concat(report.banner(tabs[2]), '\n')
  T.truthy(banner:find("NOT the protocol's", 1, true), banner)
  local tags = report.group_tags(tabs)
  T.truthy(tags[2]:find('epochs%-2'), tags[2])
end)

T.test('position and bn_vs_gn layouts', function()
  local s = settings
  local function r(study, c, seed, acc)
    return {study = study, config = c, settings = s, seed = seed, status = 'ok', final_test_acc = acc,
            key = report.run_key(study, c, s, seed)}
  end
  local pos = {
    r('position', {depth = 8, act = 'leakyrelu', norm = 'bn', order = 'can', batch_size = 128}, 1, 80),
    r('position', {depth = 8, act = 'relu', norm = 'bn', order = 'cna', batch_size = 128}, 1, 85),
  }
  local grid = report.grid(report.tables(pos, {study = 'position'})[1])
  T.eq(table.concat(grid[1], ' | '), 'Configuration | accuracy (%)')
  T.eq(grid[2][1], 'Conv → BatchNorm → ReLU', 'protocol order first')
  T.eq(grid[3][1], 'Conv → LeakyReLU → BatchNorm')
  local bg = {
    r('bn_vs_gn', {depth = 8, act = 'relu', norm = 'gn', order = 'cna', batch_size = 16}, 1, 30),
    r('bn_vs_gn', {depth = 8, act = 'relu', norm = 'bn', order = 'cna', batch_size = 4}, 1, 20),
    r('bn_vs_gn', {depth = 8, act = 'relu', norm = 'bn', order = 'cna', batch_size = 16}, 1, 35),
  }
  grid = report.grid(report.tables(bg, {study = 'bn_vs_gn'})[1])
  T.eq(table.concat(grid[1], ' | '), 'Batch size | BatchNorm accuracy (%) | GroupNorm accuracy (%)')
  T.eq(grid[2][1], '4', 'rows sorted numerically')
  T.eq(grid[2][3], 'not run')
  T.eq(grid[3][1], '16')
end)

T.test('load merges files, drops duplicates, tolerates a torn line', function()
  local a, b = tmp .. '/a.jsonl', tmp .. '/b.jsonl'
  local f = io.open(a, 'wb')
  f:write(json.line(records[1]), json.line(records[2]))
  f:close()
  f = io.open(b, 'wb')
  f:write(json.line(records[2]), json.line(records[3]), json.encode(records[4]):sub(1, 40))
  f:close()
  local recs, warns = report.load{a, b}
  T.eq(#recs, 3, 'records')
  T.eq(#warns, 2, 'torn line + duplicates')
  T.truthy(table.concat(warns, '\n'):find('1 duplicate run'), table.concat(warns, '\n'))
end)

---------------------------------------------------------------------------
-- plots

local have_gnuplot = plot.available()

local function png_ok(path, w, h)
  local pw, ph = plot.png_size(path)
  if pw ~= w or ph ~= h then error(string.format('%s: %s x %s, expected %d x %d', path, tostring(pw), tostring(ph), w, h), 0) end
end

if have_gnuplot then
  T.test('plot.lines: PNG of the asked size, log2 axis, error bars; files first', function()
    local out = plot.lines{file = tmp .. '/bs', format = 'png', size = {640, 480}, logx = 2, xtics = {2, 8, 32},
      title = 'a "quoted" title', xlabel = 'batch size', ylabel = 'acc',
      series = {{name = 'BN', x = {2, 8, 32}, y = {10, 20, 30}, err = {1, 2, 1}}, {name = 'GN', x = {2, 8, 32}, y = {15, 0 / 0, 25}}}}
    T.eq(out, tmp .. '/bs.png')
    png_ok(out, 640, 480)
    local gp = read(tmp .. '/bs.gp')
    T.truthy(gp:find('set logscale x 2', 1, true), gp)
    T.truthy(gp:find('yerrorlines', 1, true), gp)
    local dat = read(tmp .. '/bs.dat')
    T.truthy(dat:find('8 20 2', 1, true), dat)
    local _, n = dat:gsub('\n15 ', '')
    T.truthy(not dat:find('NaN'), 'NaN points are left out')
  end)

  T.test('plot.bars and svg', function()
    png_ok(plot.bars{file = tmp .. '/pos', labels = {'Conv → BatchNorm → ReLU', 'b'},
      series = {{name = 'acc', y = {80, 70}, err = {1, 2}}}}, 800, 600)
    local svg = plot.lines{file = tmp .. '/s', format = 'svg', series = {{name = 'x', x = {1, 2}, y = {1, 2}}}}
    T.truthy((read(svg) or ''):find('<svg', 1, true), 'svg written')
  end)

  T.test('plot terminal output', function()
    local out = plot.lines{file = tmp .. '/t', format = 'terminal', print = false,
      series = {{name = 'relu', x = {1, 2, 3}, y = {1, 4, 9}}}}
    local txt = read(out)
    T.truthy(txt and txt:find('relu', 1, true) and #txt > 500, 'dumb terminal text')
  end)

  T.test('a gnuplot error is reported, not swallowed', function()
    local msg = T.err(function()
      plot.lines{file = tmp .. '/bad', xlabel = 'x', logy = 'no_such_variable', series = {{name = 'a', x = {1}, y = {1}}}}
    end, 'gnuplot did not produce')
    T.truthy(msg:find('no_such_variable', 1, true), msg)
    T.truthy(read(tmp .. '/bad.gnuplot.log'), 'stderr saved beside the figure')
    png_ok(plot.lines{file = tmp .. '/after', series = {{x = {1, 2}, y = {2, 1}}}}, 800, 600)
  end)
else
  T.skip('plots', 'gnuplot not installed (apt-get install gnuplot-nox)')
end

T.test('without gnuplot the data is written and the error says how to install it', function()
  local saved = plot.command
  plot.close()
  plot.command = function() return '/nonexistent/gnuplot' end
  local ok, msg = pcall(plot.lines, {file = tmp .. '/nog', series = {{x = {1, 2}, y = {1, 2}}}})
  plot.command = saved
  T.truthy(not ok, 'an error')
  T.truthy(tostring(msg):find('apt-get install gnuplot-nox', 1, true), msg)
  T.truthy(read(tmp .. '/nog.dat') and read(tmp .. '/nog.gp'), 'data and script written')
end)

T.test('png_size rejects what is not a PNG', function()
  local p = tmp .. '/x.png'
  local f = io.open(p, 'wb')
  f:write('GIF89a.................')
  f:close()
  local w, e = plot.png_size(p)
  T.truthy(w == nil and e:find('not a PNG'), tostring(e))
end)

plot.close()
os.execute('rm -rf ' .. tmp)
T.done()
