# tests/repl/lib.sh: drives the normlab REPL through a real pseudo-terminal (tmux),
# typing as a person would, and prints TAP-like lines for tests/run.sh.
#
#   . "$(dirname "$0")/lib.sh"
#   skip_all_without_tmux "name 1" "name 2" ...   # prints "ok N - name # SKIP no tmux" and exits
#   start_repl [VAR=value ...] || ...             # a fresh REPL in a 120x40 window, banner shown
#   type_line 'x = 1'        # types the text literally, then Enter
#   type_text 'x:si'; keys Tab
#   wait_for REGEX [secs]    # polls the screen (and its scrollback) until REGEX matches
#   check "name" COMMAND...  # ok/not ok from the command's status; the screen goes in the log
#   stop_repl
#
# Every REPL runs on a private tmux server with HOME and NORMLAB_HISTORY in a
# fresh temporary directory, so the user's own history and ~/.inputrc never matter.
# HISTENV (default NORMLAB_HISTORY=$HIST) is how NORMLAB_HISTORY is passed; set it
# to "" to leave the variable unset.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
NL=${NORMLAB_BIN:-./normlab}
case $NL in /*) ;; *) NL=$PWD/$NL ;; esac
NSTART=0
SOCK="nlrepl$$-0"   # a fresh server per start_repl (a dying one may still hold the old socket)
TMPD=$(mktemp -d /tmp/nlrepl.XXXXXX)
HIST=$TMPD/history
ntest=0
WHY=""
trap 'tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$TMPD"' EXIT

t() { tmux -L "$SOCK" "$@"; }

skip_all_without_tmux() {
  command -v tmux >/dev/null 2>&1 && return 0
  local name
  for name in "$@"; do ntest=$((ntest + 1)); echo "ok $ntest - $name # SKIP no tmux"; done
  exit 0
}

# The screen and its scrollback, trailing blanks removed (-J keeps them).
screen() { t capture-pane -p -J -S - -t repl 2>/dev/null | sed 's/[[:space:]]*$//'; }

# The screen from the last prompt line matching REGEX on (for checking one command's output).
screen_after() { screen | awk -v re="$1" '$0 ~ re { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }'; }

wait_for() {   # REGEX [timeout seconds]
  local re=$1 limit=${2:-20} i=0
  local n=$(awk -v s="$limit" 'BEGIN { print int(s / 0.05) }')
  while [ $i -lt "$n" ]; do
    screen | grep -Eq -- "$re" && return 0
    sleep 0.05
    i=$((i + 1))
  done
  WHY="timed out after ${limit}s waiting for /$re/"
  return 1
}

start_repl() {   # [VAR=value ...]: environment for the REPL
  t kill-server 2>/dev/null
  NSTART=$((NSTART + 1))
  SOCK="nlrepl$$-$NSTART"
  PROMPTS=0
  # The shell reports the exit status (tmux's #{pane_dead_status} can come late);
  # `trap : INT` keeps it alive through Ctrl-C without making normlab ignore SIGINT.
  t -f /dev/null new-session -d -s repl -x 120 -y 40 \
    "trap : INT; env -u NORMLAB_HISTORY HOME=$TMPD INPUTRC=/dev/null ${HISTENV-NORMLAB_HISTORY=$HIST} $* $NL; echo \"[exit status \$?]\"" \; \
    set-option -t repl remain-on-exit on \; set-option -t repl history-limit 5000 2>/dev/null || {
      WHY="tmux could not start"; return 1; }
  wait_for '^normlab [0-9].*\?x: help$' 20
}

stop_repl() { t kill-server 2>/dev/null; }

# Prompts on the screen so far ("> ..." lines, not ">> "). Everything that types
# records the count first, so prompt_ready waits for a prompt after that input.
PROMPTS=0
nprompts() { screen | grep -cE '^>( |$)'; }
type_text() { PROMPTS=$(nprompts); t send-keys -t repl -l -- "$1"; }
type_line() { PROMPTS=$(nprompts); t send-keys -t repl -l -- "$1"; t send-keys -t repl Enter; }
keys() { PROMPTS=$(nprompts); t send-keys -t repl "$@"; }

# The REPL has exited with status $1 (default 0).
wait_exit() {   # [status] [timeout]
  wait_for '^\[exit status [0-9]+\]$' "${2:-20}" || { WHY="the REPL did not exit"; return 1; }
  local st
  st=$(screen | sed -n 's/^\[exit status \([0-9]*\)\]$/\1/p' | tail -1)
  [ "$st" = "${1:-0}" ] || { WHY="exit status $st, expected ${1:-0}"; return 1; }
}

check() {   # name command...: runs the command; on failure prints why and the screen
  local name=$1; shift
  ntest=$((ntest + 1))
  WHY=""
  if "$@"; then
    echo "ok $ntest - $name"
  else
    echo "not ok $ntest - $name: ${WHY:-check failed}"
    screen | grep -v '^$' | tail -15 | sed 's/^/#   | /'
  fi
}

# A new "> " prompt came after the last input and is the last line of the screen.
prompt_ready() {   # [timeout]
  local limit=${1:-20} i=0 n
  n=$(awk -v s="$limit" 'BEGIN { print int(s / 0.05) }')
  while [ $i -lt "$n" ]; do
    if [ "$(nprompts)" -gt "$PROMPTS" ] && [ "$(screen | grep -v '^$' | tail -1)" = ">" ]; then return 0; fi
    sleep 0.05
    i=$((i + 1))
  done
  WHY="no new '> ' prompt within ${limit}s"
  return 1
}
