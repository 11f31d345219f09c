#!/usr/bin/env bash
# The benchmark's vCPU-placement probe: bench_corelat measures a cross-core round trip (and
# says so when there is one CPU only), and bench/summarize.py splits the speeds into runs
# with the vCPUs near and apart by the probes around each run.
set -u
cd "$(dirname "$0")/../.." || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
check() {   # name, command...: ok / not ok from the command's status
  local name=$1; shift
  n=$((n + 1))
  if "$@"; then echo "ok $n - $name"; else echo "not ok $n - $name"; fi
}

cc -O2 -std=c11 -D_GNU_SOURCE -o "$tmp/bench_corelat" bench/bench_corelat.c -lpthread
check "bench_corelat builds" test -x "$tmp/bench_corelat"

if [ "$(nproc)" -ge 2 ]; then
  out=$("$tmp/bench_corelat" --trips 2000 --repeats 3)
  check "two CPUs: a round trip in ns, min <= median <= max" \
    awk -v s="$out" 'BEGIN { if (!match(s, /^CORELAT ns=[0-9]+ min_ns=[0-9]+ max_ns=[0-9]+ cpus=[0-9]+,[0-9]+$/)) exit 1
      split(s, f, /[ =]/); exit !(f[5] + 0 <= f[3] + 0 && f[3] + 0 <= f[7] + 0 && f[3] + 0 > 0) }'
else
  n=$((n + 1)); echo "ok $n - two CPUs: a round trip in ns # SKIP one CPU"
fi
one=$(taskset -c 0 "$tmp/bench_corelat" 2>&1)
check "one CPU: says so instead of timing time slices" test "$one" = "CORELAT ns=nan min_ns=nan max_ns=nan cpus=one"
"$tmp/bench_corelat" --trips 0 >/dev/null 2>&1
check "bad --trips is refused (status 2)" test $? = 2

# A raw file as bench/run.sh writes it: normlab near in round 1 (60-70 ns) and apart in round 2
# (300 ns), PyTorch near in both; in round 3 normlab's probes are nan and PyTorch has none.
res() { echo "RESULT cfg=$1 round=$2 fw=$3 depth=8 norm=bn batch=2 threads=2 steps=9 seconds=2 ips=$4 ips_mean=$4 step_ms=1 rss_mb=$5 base_rss_mb=1"; }
lat() { echo "CORELAT cfg=$1 round=$2 fw=$3 when=$4 ns=$5 min_ns=$5 max_ns=$5 cpus=0,1"; }
{
  res d8-bn-2 1 normlab 500 27;  lat d8-bn-2 1 normlab before 60; lat d8-bn-2 1 normlab after 70
  res d8-bn-2 1 torch 200 250;   lat d8-bn-2 1 torch before 65;   lat d8-bn-2 1 torch after 61
  res d8-bn-2 2 normlab 250 27;  lat d8-bn-2 2 normlab before 62; lat d8-bn-2 2 normlab after 300
  res d8-bn-2 2 torch 180 250;   lat d8-bn-2 2 torch before 64;   lat d8-bn-2 2 torch after 66
  res d8-bn-2 3 normlab 520 27;  lat d8-bn-2 3 normlab before nan; lat d8-bn-2 3 normlab after nan
  res d8-bn-2 3 torch 190 250
  echo "META rounds=3"
} >"$tmp/raw"
/usr/bin/env python3 bench/summarize.py "$tmp/raw" "$tmp/out.md" >"$tmp/stdout" 2>&1
check "summarize.py runs on probes" test $? = 0
row=$(grep '^| d8-bn-2 | ' "$tmp/out.md" | tail -1)
# near: normlab round 1 (500), PyTorch rounds 1-2 (200, 180 -> 190); apart: normlab round 2;
# round 3 had no usable probe (nan: one CPU) and is in neither column
check "near runs: normlab 1 at 500, PyTorch 2 at 190, ratio 2.63x" \
  grep -q '^| d8-bn-2 | 1, 500 | 2, 190 | 2.63x | 1, 250 | 0, - | - |$' <<<"$row"
check "the limit is twice the shortest run probe (the worse of 65 and 61: 130 ns)" grep -q "at most 130 ns" "$tmp/out.md"
check "headline table still uses every round (500/190 medians: 2.63x)" \
  grep -q '^| d8-bn-2 | 500 | 190 | 2.63x' "$tmp/out.md"
grep -v '^CORELAT' "$tmp/raw" >"$tmp/raw2"
/usr/bin/env python3 bench/summarize.py "$tmp/raw2" "$tmp/out2.md" >/dev/null 2>&1
check "without probes: no placement section" bash -c "! grep -q 'Where the host had' '$tmp/out2.md'"
