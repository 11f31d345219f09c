#!/usr/bin/env bash
# fuzz/run.sh: builds every libFuzzer harness fuzz/fuzz_<name>.c in build-fuzz/
# (clang -fsanitize=fuzzer,address,undefined, linked with the pure C sources
# of src/core and src/data, and liblua5.4 for fuzz_results, which runs the Lua
# results reader) and runs each for a bounded time.
#
#   FUZZ_SECONDS=60   seconds per harness (default 60)
#   FUZZ_ONLY=cifar   run only the harnesses whose name contains this
#   make fuzz         (calls this script)
#
# Seeds come from fuzz/corpus/<name>/ (read only; fuzz/make_corpus.py writes
# the dataset ones); what the fuzzer discovers goes to build-fuzz/corpus/<name>/
# and crashes to build-fuzz/artifacts/. Exits non-zero when a harness crashes.
set -u
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
only=${FUZZ_ONLY:-}
out=build-fuzz
CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null; then echo "fuzz: $CC not found (apt install clang libclang-rt-14-dev)"; exit 1; fi
mkdir -p "$out/obj" "$out/artifacts" "$out/corpus"

lua_pc=$(pkg-config --exists lua5.4 && echo lua5.4 || echo lua-5.4)   # fuzz_results embeds Lua
flags="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
  -fno-sanitize-recover=undefined $(pkg-config --cflags zlib libcurl $lua_pc) -Isrc"
libs="$(pkg-config --libs zlib libcurl $lua_pc) -lopenblas -lm -lpthread"

# the library sources, compiled once with sanitizer coverage
objs=()
for src in src/core/*.c src/data/*.c; do
  obj="$out/obj/$(echo "${src%.c}" | tr / _).o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src -name '*.h' -newer "$obj" | head -1)" ]; then
    $CC $flags -c "$src" -o "$obj" || { echo "fuzz: cannot compile $src"; exit 1; }
  fi
  objs+=("$obj")
done

if [ ! -d fuzz/corpus/cifar ] && command -v python3 >/dev/null; then python3 fuzz/make_corpus.py; fi

status=0
printf '%-12s %8s %12s %10s %8s  %s\n' harness seconds execs exec/s corpus result
for h in fuzz/fuzz_*.c; do
  name=$(basename "$h" .c); name=${name#fuzz_}
  [ -n "$only" ] && [[ "$name" != *"$only"* ]] && continue
  bin="$out/fuzz_$name"
  $CC $flags -fsanitize=fuzzer "$h" "${objs[@]}" -o "$bin" $libs || { echo "fuzz: cannot build $h"; status=1; continue; }
  mkdir -p "$out/corpus/$name"
  seeds=()
  [ -d "fuzz/corpus/$name" ] && seeds=("fuzz/corpus/$name")
  log="$out/fuzz_$name.log"
  start=$SECONDS
  "$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$name-" "$out/corpus/$name" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  ncorp=$(ls "$out/corpus/$name" | wc -l)
  if [ "$rc" -eq 0 ]; then result="no crashes"; else result="CRASH (exit $rc), see $log and $out/artifacts/"; status=1; fi
  printf '%-12s %8d %12s %10s %8s  %s\n' "$name" "$((SECONDS - start))" "${execs:-?}" "${rate:-?}" "$ncorp" "$result"
  if [ "$rc" -ne 0 ]; then grep -E 'ERROR|SUMMARY|abort|runtime error' "$log" | head -5 | sed 's/^/    /'; fi
done
exit $status
