#!/usr/bin/env bash
# History across sessions: entries come back after a restart (a multi-line
# chunk as one entry), the file is size-limited, ~/.normlab_history is the
# default, and an unwritable file means no history and no error.
. "$(dirname "$0")/lib.sh"
skip_all_without_tmux "history recalled after restart" "multi-line chunk recalled as one entry" \
  "recalled multi-line chunk runs" "history file trimmed to 1000 entries" \
  "default file is ~/.normlab_history" "unwritable history file: no error, REPL works"

prompt_line() { screen | grep -E '^>' | tail -1; }

t_restart() {
  rm -f "$HIST"
  start_repl || return 1
  type_line 'hist_marker = 123'
  prompt_ready || return 1
  type_line 'function two_lines()'
  type_line '  return 2'
  type_line 'end'
  prompt_ready || return 1
  keys C-d
  wait_exit 0 || return 1
  start_repl || return 1
  keys Up Up
  local i=0
  while [ $i -lt 60 ] && [ "$(prompt_line)" != '> hist_marker = 123' ]; do sleep 0.05; i=$((i + 1)); done
  [ "$(prompt_line)" = '> hist_marker = 123' ] || { WHY="Up Up shows '$(prompt_line)'"; return 1; }
  keys Enter
  prompt_ready || return 1
  type_line 'hist_marker'
  prompt_ready || return 1
  [ "$(screen_after '^> hist_marker$' | sed -n 2p)" = "123" ] || { WHY="recalled line did not run"; return 1; }
}

t_multiline() {
  keys Up Up Up
  wait_for '^> function two_lines\(\)$' 15 || return 1
  screen | grep -A2 '^> function two_lines()$' | tail -2 | tr '\n' '|' | grep -q '^  return 2|end|$' \
    || { WHY="the entry is not the three lines of the chunk"; return 1; }
}

t_multiline_runs() {
  keys Enter
  prompt_ready || return 1
  type_line 'two_lines() + 40'
  prompt_ready || return 1
  [ "$(screen_after '^> two_lines\(\) \+ 40$' | sed -n 2p)" = "42" ] || { WHY="recalled chunk did not define the function"; return 1; }
  keys C-d
  wait_exit 0
}

t_trim() {
  rm -f "$HIST"
  local i
  for i in $(seq 1 1500); do echo "x = $i"; done >"$HIST"
  start_repl || return 1
  keys C-d
  wait_exit 0 || return 1
  local n first last
  n=$(grep -cv '^#[0-9]' "$HIST")
  first=$(grep -v '^#[0-9]' "$HIST" | head -1)
  last=$(grep -v '^#[0-9]' "$HIST" | tail -1)
  [ "$n" -eq 1000 ] && [ "$first" = "x = 501" ] && [ "$last" = "x = 1500" ] \
    || { WHY="file has $n entries, '$first' .. '$last'"; return 1; }
}

t_home() {
  rm -f "$TMPD/.normlab_history"
  HISTENV="" start_repl || return 1
  type_line 'in_home = 1'
  prompt_ready || return 1
  keys C-d
  wait_exit 0 || return 1
  grep -qx 'in_home = 1' "$TMPD/.normlab_history" 2>/dev/null || { WHY="~/.normlab_history not written"; return 1; }
}

t_unwritable() {   # a directory: cannot be opened for writing, even by root
  HISTENV="NORMLAB_HISTORY=$TMPD" start_repl || return 1
  type_line '20 + 22'
  prompt_ready || return 1
  [ "$(screen_after '^> 20 \+ 22$' | sed -n 2p)" = "42" ] || { WHY="REPL broken"; return 1; }
  keys C-d
  wait_exit 0 || return 1
  local lines
  lines=$(screen | grep -v '^$' | grep -vE '^(normlab [0-9]|> 20 \+ 22$|42$|>$|\[exit status 0\]$|Pane is dead)')
  [ -z "$lines" ] || { WHY="unexpected output: $lines"; return 1; }
}

check "history recalled after restart" t_restart
check "multi-line chunk recalled as one entry" t_multiline
check "recalled multi-line chunk runs" t_multiline_runs
check "history file trimmed to 1000 entries" t_trim
check "default file is ~/.normlab_history" t_home
check "unwritable history file: no error, REPL works" t_unwritable
