#!/usr/bin/env bash
# help(x) and ?x at the prompt: functions, tensors and their methods, layers
# (registered or not), modules, registration by a layer, unknown objects.
. "$(dirname "$0")/lib.sh"
skip_all_without_tmux "?T: signature and methods" "help(function)" "?x:size: method of a tensor" \
  "?nn.Conv2d: a layer class" "help(layer instance)" "a layer registers itself" \
  "help(nn) lists the layers" "unknown objects say so" "? alone: overview" "help(print): Lua's own"

ask() {   # line, regex expected in its output
  type_line "$1"
  prompt_ready || return 1
  local re=$2 pat
  pat="^> $(printf '%s' "$1" | sed 's/[][\.*^$(){}?+|/]/\\&/g')\$"
  screen_after "$pat" | grep -Eq -- "$re" || { WHY="'$1' did not show /$re/"; return 1; }
}

t_tensor() {
  start_repl || return 1
  ask '?T' '^normlab.Tensor\(d1, d2, \.\.\.\)' || return 1
  ask '?T' '^  methods: .*clone, copy, dim'
}
t_function() { ask 'help(normlab.zeros)' '^normlab.zeros\(d1, d2, \.\.\.\) -> Tensor$'; }
t_method() {
  type_line 'x = T(2, 3)'
  prompt_ready || return 1
  ask '?x:size' '^t:size\(\) -> \{d1, d2, \.\.\.\}'
}
t_class() { ask '?nn.Conv2d' '^nn.Conv2d\([a-z_]+, [a-z_]+'; }
t_instance() {
  type_line 'conv = nn.Conv2d(3, 8, 3)'
  prompt_ready || return 1
  ask 'help(conv)' '^Conv2d\(3 -> 8, 3x3.*: an instance of nn.Conv2d$'
}
t_register() {
  type_line "Twice = nn.Module:extend('Twice') normlab.help.register{name = 'nn.Twice', sig = 'nn.Twice()', doc = 'Doubles its input.', obj = Twice}"
  prompt_ready || return 1
  ask '?Twice' '^  Doubles its input.$' || return 1
  ask 'help(Twice())' '^  Doubles its input.$'
}
t_listing() { ask 'help(nn)' '^  Conv2d +nn.Conv2d\('; }
t_unknown() {
  ask '?no_such_name.field' "^no help for 'no_such_name.field'" || return 1
  ask 'help(undefined_variable)' '^no help for nil' || return 1
  ask 'help({alpha = 1, beta = 2})' 'its fields:' || return 1
  ask 'help(42)' '^no help for 42 \(a number\)$'
}
t_overview() { ask '?' '^normlab help: help\(x\) or \?x'; }
t_print() { ask 'help(print)' '^print: a Lua standard function'; }

check "?T: signature and methods" t_tensor
check "help(function)" t_function
check "?x:size: method of a tensor" t_method
check "?nn.Conv2d: a layer class" t_class
check "help(layer instance)" t_instance
check "a layer registers itself" t_register
check "help(nn) lists the layers" t_listing
check "unknown objects say so" t_unknown
check "? alone: overview" t_overview
check "help(print): Lua's own" t_print
