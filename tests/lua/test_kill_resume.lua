-- A real sweep killed with SIGKILL at random moments, five times, then resumed to the end
-- (issue 7): every kill leaves every finished run intact and readable (the file before the
-- kill is a prefix of the file after it; at most a torn last line, which the reader skips
-- with a warning), and resuming loses and repeats nothing (every planned run is in the
-- results exactly once).
--
-- The moments: the sweep is killed once within 50 ms of its start, then four times after a
-- random number of further finished runs plus a random delay of 0..250 ms (so kills land
-- in training, in evaluation and around the append). The random choices come from a fixed seed (printed
-- on failure); the timing of the machine adds the rest. The data is the bundled sample.
local T = dofile('tests/lua/check.lua')
local json = require 'normlab.json'

local SEED = 7077
math.randomseed(SEED)

local NL = os.getenv('NORMLAB_BIN') or './normlab'
local tmp = os.tmpname()
os.remove(tmp)
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
os.execute('mkdir -p ' .. q(tmp))

local OUT = tmp .. '/svr'
local PATH = OUT .. '/sigmoid_vs_relu.jsonl'
local RUNS = 24   -- depths 1,2,3 x sigmoid,relu x 4 seeds
local ARGS = 'scripts/sigmoid_vs_relu.lua --sample --epochs 1 --subset 64 --test-subset 64 --depths 1,2,3 '
  .. '--seeds 4 --batch-size 16 --plot none --progress lines --out ' .. q(OUT)

local function read(path)
  local f = io.open(path, 'rb')
  if not f then return '' end
  local s = f:read('a')
  f:close()
  return s
end

local function lines(s) local _, n = s:gsub('\n', '') return n end

local function sleep(s) os.execute(string.format('sleep %.3f', s)) end
local function alive(pid) return os.execute('kill -0 ' .. pid .. ' 2>/dev/null') == true end

local function spawn(log)
  local pidfile = tmp .. '/pid'
  os.execute(string.format('%s %s > %s 2>&1 & echo $! > %s', q(NL), ARGS, q(log), q(pidfile)))
  return read(pidfile):match('%d+')
end

-- The records of the results file, checked: parseable, only torn-line warnings, no run twice.
local function check_file(what)
  local recs, warns = json.read_lines(PATH)
  for _, w in ipairs(warns) do
    if not w:find('torn line', 1, true) then error(what .. ': unexpected warning: ' .. w, 0) end
  end
  local seen = {}
  for _, r in ipairs(recs) do
    if type(r) ~= 'table' or type(r.key) ~= 'string' then error(what .. ': a record without a key', 0) end
    if seen[r.key] then error(what .. ': run repeated: ' .. r.key, 0) end
    if r.status ~= 'ok' then error(what .. ': run ' .. r.key .. ' has status ' .. tostring(r.status), 0) end
    seen[r.key] = true
  end
  return #recs, #warns
end

T.test('kill -9 at random moments (seed ' .. SEED .. '): nothing lost, nothing repeated', function()
  local before, kills, torn = '', {}, 0
  for round = 1, 5 do
    local done = select(1, check_file('before round ' .. round))
    if done >= RUNS then break end
    local log = string.format('%s/round%d.log', tmp, round)
    local pid = spawn(log)
    T.truthy(pid, 'started')
    -- round 1: right at start-up; later: after 1..3 more finished runs, plus 0..250 ms
    local target = round == 1 and 0 or math.min(done + math.random(1, 3), RUNS - 1)
    local delay = math.random() * (round == 1 and 0.05 or 0.25)
    for _ = 1, 600 do
      if lines(read(PATH)) >= target or not alive(pid) then break end
      sleep(0.02)
    end
    sleep(delay)
    os.execute('kill -9 ' .. pid .. ' 2>/dev/null')
    for _ = 1, 200 do if not alive(pid) then break end sleep(0.05) end
    T.truthy(not alive(pid), 'the killed sweep is gone')
    local after = read(PATH)
    if after:sub(1, #before) ~= before then
      error(string.format('round %d: the lines written before the kill changed\n--- before:\n%s\n--- after:\n%s',
        round, before, after), 0)
    end
    local n, w = check_file('after kill ' .. round)
    torn = torn + w
    kills[#kills + 1] = string.format('%d runs (target %d + %.0f ms)', n, target, delay * 1000)
    before = after
  end
  -- resume to the end
  local log = tmp .. '/resume.log'
  local ok = os.execute(string.format('%s %s > %s 2>&1', q(NL), ARGS, q(log)))
  if not ok then error('the resumed sweep failed:\n' .. read(log):sub(-2000), 0) end
  local final = read(PATH)
  T.eq(final:sub(1, #before), before, 'resume only appends')
  local n = check_file('after resume')
  T.eq(n, RUNS, 'every planned run exactly once')
  print('# killed after: ' .. table.concat(kills, '; ') .. string.format('; %d torn line(s) seen', torn))
end)

os.execute('rm -rf ' .. q(tmp))
T.done()
