#!/usr/bin/env bash
# Ctrl-C: stops a running chunk (a pure Lua loop, a Lua loop of tensor ops, one
# long C kernel call) and returns to a working prompt with the session intact;
# at the prompt it clears the line, and at ">> " it drops the unfinished chunk.
. "$(dirname "$0")/lib.sh"
skip_all_without_tmux "Ctrl-C stops 'while true do end'" "session intact after the interrupt" \
  "Ctrl-C stops a Lua loop of tensor ops" "Ctrl-C stops one long C kernel call (ctx->interrupted)" \
  "interrupted flag is clear in the next chunk" "Ctrl-C at the prompt clears the line" \
  "Ctrl-C at '>> ' drops the unfinished chunk" "Ctrl-C while reading from stdin (io.read)"

# Ctrl-C after the chunk has started; the prompt must come back within 3 s.
interrupt() {   # regex the error must match
  sleep 0.4
  keys C-c
  prompt_ready 15 || return 1
  screen_after "$LAST" | grep -Eq -- "$1" || { WHY="no /$1/ message"; return 1; }
}

t_while() {
  start_repl NORMLAB_THREADS=1 || return 1
  type_line 'kept = 41'
  prompt_ready || return 1
  LAST='^> while true do end$'
  type_line 'while true do end'
  interrupt 'interrupted!$'
}

t_intact() {
  type_line 'kept + 1'
  prompt_ready || return 1
  [ "$(screen_after '^> kept \+ 1$' | sed -n 2p)" = "42" ] || { WHY="globals lost or prompt broken"; return 1; }
}

t_lua_ops() {
  LAST='^> a = T\(512, 512\)'
  type_line 'a = T(512, 512) n = 0 while true do a:add(1) a:mul(0.5) n = n + 1 end'
  interrupt 'interrupted!' || return 1
  type_line 'n > 0 and a:max() > 0'
  prompt_ready || return 1
  [ "$(screen_after '^> n > 0 and' | sed -n 2p)" = "true" ] || { WHY="the loop did not run"; return 1; }
}

# One conv2d forward call sized to take about 3 s on one thread (calibrated on
# a small batch first). Only the kernel's poll of ctx->interrupted can stop it
# early: the Lua hook fires when the call returns.
t_kernel() {
  type_line 'm = nn.Conv2d(512, 512, 3, {pad = 1}) c0 = os.clock() m:forward(T(8, 512, 8, 8)) per = (os.clock() - c0) / 8 N = math.max(64, math.min(512, math.ceil(3 / per))) x = T(N, 512, 8, 8)'
  prompt_ready 20 || return 1
  LAST='^> c0 = os.clock\(\) y = m:forward\(x\)$'
  type_line 'c0 = os.clock() y = m:forward(x)'
  interrupt 'interrupted' || return 1
  type_line "string.format('%.2f s of %.2f s', os.clock() - c0, N * per), os.clock() - c0 < 0.5 * N * per"
  prompt_ready || return 1
  local out
  out=$(screen_after '^> string.format' | sed -n 2p)
  echo "$out" | grep -Eq ' true$' || { WHY="the kernel ran on after Ctrl-C: $out"; return 1; }
}

t_flag() {
  type_line 'normlab.C.interrupted(), m:forward(T(2, 512, 8, 8)):shape_str()'
  prompt_ready 15 || return 1
  screen_after '^> normlab.C.interrupted\(\)' | sed -n 2p | grep -Eq '^false +\(2,512,8,8\)$' \
    || { WHY="flag still set, or the layer no longer works"; return 1; }
}

t_prompt_clear() {
  type_text 'this is garbage'
  keys C-c
  prompt_ready || return 1
  type_line '6 * 7'
  prompt_ready || return 1
  [ "$(screen_after '^> 6 \* 7$' | sed -n 2p)" = "42" ] || { WHY="the cleared text came back"; return 1; }
}

t_cont_clear() {
  type_line 'function half_done('
  wait_for '^>>$' || return 1
  type_text 'a, b'
  keys C-c
  prompt_ready || return 1
  type_line 'half_done == nil'
  prompt_ready || return 1
  [ "$(screen_after '^> half_done == nil$' | sed -n 2p)" = "true" ] || { WHY="the chunk was not dropped"; return 1; }
}

t_read() {
  LAST='^> io.read\(\)$'
  type_line 'io.read()'
  sleep 0.3
  keys C-c
  prompt_ready 15 || return 1
  type_line '1 + 1'
  prompt_ready || return 1
  [ "$(screen_after '^> 1 \+ 1$' | sed -n 2p)" = "2" ] || { WHY="prompt broken after io.read"; return 1; }
}

check "Ctrl-C stops 'while true do end'" t_while
check "session intact after the interrupt" t_intact
check "Ctrl-C stops a Lua loop of tensor ops" t_lua_ops
check "Ctrl-C stops one long C kernel call (ctx->interrupted)" t_kernel
check "interrupted flag is clear in the next chunk" t_flag
check "Ctrl-C at the prompt clears the line" t_prompt_clear
check "Ctrl-C at '>> ' drops the unfinished chunk" t_cont_clear
check "Ctrl-C while reading from stdin (io.read)" t_read
