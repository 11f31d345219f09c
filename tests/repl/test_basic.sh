#!/usr/bin/env bash
# The prompt as a person uses it: banner, expressions, several results, a
# multi-line function, tensor and table printing, errors, Ctrl-D.
. "$(dirname "$0")/lib.sh"
skip_all_without_tmux "banner with version and short globals" "expression prints its value" \
  "several results all shown" "statement prints nothing" "multi-line function definition" \
  "tensor printing" "table printed one level deep" "runtime error with traceback" \
  "syntax error reported, prompt survives" "Ctrl-D at '>> ' reports the unfinished chunk" \
  "short globals are bound, print untouched" \
  "Ctrl-D exits with status 0"

version=$(sed -n 's/^#define NL_VERSION "\(.*\)"/\1/p' src/core/nl.h)

t_banner() {
  start_repl || return 1
  screen | grep -q "^normlab $version " || { WHY="no 'normlab $version' banner"; return 1; }
  screen | grep -q '  nn, optim, data, plot, models, help, T=Tensor; ?x: help$' || { WHY="short globals not announced"; return 1; }
  prompt_ready
}

t_expr() {
  type_line '1 + 41'
  wait_for '^> 1 \+ 41$' || return 1
  prompt_ready || return 1
  [ "$(screen_after '^> 1 \+ 41$' | sed -n 2p)" = "42" ] || { WHY="'1 + 41' did not print 42"; return 1; }
}

t_multi() {
  type_line "1, 'two', nil, 3.5"
  prompt_ready || return 1
  # tmux shows the tabs print puts between values as spaces
  screen | grep -Eq '^1 +two +nil +3.5$' || { WHY="expected 1 two nil 3.5 on one line"; return 1; }
}

t_stmt() {
  type_line 'local y = 5'
  prompt_ready || return 1
  local out
  out=$(screen_after '^> local y = 5$' | sed -n '2,$p' | grep -v '^>' | grep -v '^$')
  [ -z "$out" ] || { WHY="a statement printed: $out"; return 1; }
}

t_function() {
  type_line 'function twice(a)'
  wait_for '^>>$' || return 1
  type_line '  local b = a * 2'
  type_line '  return b'
  type_line 'end'
  prompt_ready || return 1
  type_line 'twice(21)'
  prompt_ready || return 1
  [ "$(screen_after '^> twice\(21\)$' | sed -n 2p)" = "42" ] || { WHY="twice(21) did not print 42"; return 1; }
  screen | grep -q '^>>   return b$' || { WHY="no '>> ' continuation prompt"; return 1; }
}

t_tensor() {
  type_line 'x = normlab.tensor{{1, 2, 3}, {4, 5, 6}}'
  prompt_ready || return 1
  type_line 'x'
  prompt_ready || return 1
  local out
  out=$(screen_after '^> x$')
  echo "$out" | grep -Eq '^ +1 +2 +3$' && echo "$out" | grep -Eq '^ +4 +5 +6$' \
    && echo "$out" | grep -q '^\[normlab.Tensor of size 2x3\]$' || { WHY="tensor not printed with values and size footer"; return 1; }
}

t_table() {
  type_line "{10, 20, lr = 0.5, name = 'bn', w = x, sub = {1}}"
  prompt_ready || return 1
  screen | grep -Fq '{10, 20, lr = 0.5, name = "bn", sub = {...}, w = Tensor(2,3)}' \
    || { WHY="table not printed one level deep"; return 1; }
}

t_error() {
  type_line 'local function boom() error("kaput") end boom()'
  prompt_ready || return 1
  local out
  out=$(screen_after '^> local function boom')
  echo "$out" | grep -q 'stdin:1: kaput' && echo "$out" | grep -q '^stack traceback:' \
    || { WHY="no error message with traceback"; return 1; }
  type_line '2 * 21'
  prompt_ready || return 1
  [ "$(screen_after '^> 2 \* 21$' | sed -n 2p)" = "42" ] || { WHY="prompt broken after an error"; return 1; }
}

t_syntax() {
  type_line 'x = = 1'
  prompt_ready || return 1
  screen_after '^> x = = 1$' | grep -q "stdin:1: unexpected symbol near '='" || { WHY="no syntax error"; return 1; }
}

t_eof_cont() {
  type_line 'for i = 1, 3 do'
  wait_for '^>>$' || return 1
  keys C-d
  prompt_ready || return 1
  screen_after '^> for i = 1, 3 do$' | grep -q "stdin:1: 'end' expected near <eof>" || { WHY="no <eof> error"; return 1; }
}

t_globals() {
  type_line "type(nn), type(optim), T == normlab.Tensor, print == _ENV.print, type(help)"
  prompt_ready || return 1
  screen | grep -Eq '^table +table +true +true +table$' || { WHY="short globals wrong"; return 1; }
}

t_ctrl_d() {
  keys C-d
  wait_exit 0 5
}

check "banner with version and short globals" t_banner
check "expression prints its value" t_expr
check "several results all shown" t_multi
check "statement prints nothing" t_stmt
check "multi-line function definition" t_function
check "tensor printing" t_tensor
check "table printed one level deep" t_table
check "runtime error with traceback" t_error
check "syntax error reported, prompt survives" t_syntax
check "Ctrl-D at '>> ' reports the unfinished chunk" t_eof_cont
check "short globals are bound, print untouched" t_globals
check "Ctrl-D exits with status 0" t_ctrl_d
