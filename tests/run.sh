#!/usr/bin/env bash
# tests/run.sh BUILD_DIR: runs every C test binary, Lua test and shell test,
# counts the "ok" / "not ok" lines they print and ends with "N passed, N failed".
# A test file that crashes or exits non-zero without a "not ok" line counts as
# one failure, so a crash can never pass silently.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
normlab=${NORMLAB_BIN:-./normlab}
export NORMLAB_BIN=$normlab
passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_one() {   # name, command...
  local name=$1; shift
  local start=$SECONDS
  timeout 600 "$@" >"$log" 2>&1
  local rc=$?
  local ok nok sk
  ok=$(grep -c '^ok ' "$log")
  nok=$(grep -c '^not ok ' "$log")
  sk=$(grep -c '^ok .*# SKIP' "$log")
  if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then nok=1; echo "not ok - $name exited with status $rc" >>"$log"; fi
  if [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ]; then nok=1; echo "not ok - $name ran no checks" >>"$log"; fi
  passed=$((passed + ok - sk)); failed=$((failed + nok)); skipped=$((skipped + sk))
  printf '%-44s %4d ok %3d failed %3d skipped  (%ds)\n' "$name" "$((ok - sk))" "$nok" "$sk" "$((SECONDS - start))"
  if [ "$nok" -gt 0 ]; then grep -E '^not ok|^#|rror' "$log" | head -40 | sed 's/^/    /'; fi
}

for t in "$build"/tests/test_*; do
  [ -x "$t" ] && run_one "c/$(basename "$t")" "$t"
done
for t in tests/lua/test_*.lua; do
  [ -f "$t" ] && run_one "lua/$(basename "$t")" "$normlab" "$t"
done
for t in tests/*/test_*.sh; do
  [ -f "$t" ] && run_one "${t#tests/}" bash "$t"
done
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
