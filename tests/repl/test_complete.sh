#!/usr/bin/env bash
# Tab completion after '.' and ':' through tables, lazily loaded modules and
# metatables (the methods of userdata), and of globals.
. "$(dirname "$0")/lib.sh"
skip_all_without_tmux "module field: normlab.nn.Co<TAB> -> Conv2d" "method: x:si<TAB> -> size" \
  "completed method call runs" "global: normla<TAB> -> normlab" \
  "lazy module before first use: normlab.opt<TAB> -> optim" "string methods: s:up<TAB> -> upper" \
  "ambiguous: listing shows the last component" "instance method through the class chain" \
  "no completion for unknown names"

# The current (last) prompt line.
prompt_line() { screen | grep -E '^>' | tail -1; }

wait_line() {   # expected prompt line
  local i=0
  while [ $i -lt 60 ]; do
    [ "$(prompt_line)" = "$1" ] && return 0
    sleep 0.05
    i=$((i + 1))
  done
  WHY="prompt line is '$(prompt_line)', expected '$1'"
  return 1
}

clear_line() { keys C-c; prompt_ready; }

t_field() {
  start_repl || return 1
  type_text 'normlab.nn.Co'
  keys Tab
  wait_line '> normlab.nn.Conv2d' || return 1
  clear_line
}

t_method() {
  type_line 'x = T(2, 3)'
  prompt_ready || return 1
  type_text 'x:si'
  keys Tab
  wait_line '> x:size'
}

t_call() {
  type_line '()'
  prompt_ready || return 1
  [ "$(screen_after '^> x:size\(\)$' | sed -n 2p)" = "{2, 3}" ] || { WHY="x:size() did not print {2, 3}"; return 1; }
}

t_global() {
  type_text 'normla'
  keys Tab
  wait_line '> normlab' || return 1
  clear_line
}

t_lazy() {   # optim is not loaded yet: completion must not need it loaded
  type_text 'normlab.opt'
  keys Tab
  wait_line '> normlab.optim' || return 1
  clear_line
}

t_string() {
  type_line "s = 'abc'"
  prompt_ready || return 1
  type_text 's:up'
  keys Tab
  wait_line '> s:upper' || return 1
  clear_line
}

t_listing() {
  type_text 'x:s'
  keys Tab Tab
  wait_for '^same_shape +select +set +shape_str +size +sub +sum +sumsq$' 15 || return 1
  screen | grep -q 'x:shape_str' && { WHY="listing shows full paths"; return 1; }
  clear_line
}

t_instance() {
  type_line 'm = nn.Conv2d(3, 4, 3)'
  prompt_ready || return 1
  type_text 'm:zero_g'
  keys Tab
  wait_line '> m:zero_grad' || return 1
  clear_line
}

t_unknown() {
  type_text 'nosuchthing.fo'
  keys Tab
  sleep 0.3
  [ "$(prompt_line)" = '> nosuchthing.fo' ] || { WHY="completed to '$(prompt_line)'"; return 1; }
  clear_line
}

check "module field: normlab.nn.Co<TAB> -> Conv2d" t_field
check "method: x:si<TAB> -> size" t_method
check "completed method call runs" t_call
check "global: normla<TAB> -> normlab" t_global
check "lazy module before first use: normlab.opt<TAB> -> optim" t_lazy
check "string methods: s:up<TAB> -> upper" t_string
check "ambiguous: listing shows the last component" t_listing
check "instance method through the class chain" t_instance
check "no completion for unknown names" t_unknown
