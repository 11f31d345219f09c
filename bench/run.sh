#!/usr/bin/env bash
# bench/run.sh: normlab against PyTorch on the protocol's plain model (issue 6); `make bench`.
#
#   bash bench/run.sh [--quick] [--rounds R] [--threads T] [--seconds S] [--configs "LIST"]
#                     [--out FILE] [--build DIR] [--wait-quiet MINUTES]
#   (or the environment: BENCH_QUICK=1 BENCH_ROUNDS BENCH_THREADS BENCH_SECONDS BENCH_CONFIGS
#    BENCH_OUT BENCH_WAIT; e.g. `make bench BENCH_QUICK=1`, `BENCH_CONFIGS="d8-bn-128 d8-gn-2" make bench`)
#   --wait-quiet M: before each round, wait (up to M minutes) for the 1-minute load average to
#   drop below 0.5, so other jobs on the machine disturb the measurement less.
#   normlab trains as the study scripts do (their --conv default: Conv2d.algorithm =
#   'winograd-auto', Winograd F(4x4,3x3) in both passes where it pays).
#   --library-default (BENCH_LIBDEFAULT=1): also run normlab with the library's default
#   Conv2d.algorithm = 'auto' (the forward pass by im2col + sgemm) as a third column.
#
# A configuration is d<depth>-<norm>-<batch>. Default: depth 1, 4, 8 with bn at batch 128, and
# depth 8 with bn and gn at batch 2, 8, 32, 128 (10 configurations, 3 rounds of 2 s, ~10 minutes);
# --quick: d8-bn-128 d8-gn-128 d8-bn-2 d8-gn-2, one round of 2 s (~1.5 minutes).
#
# Every measurement is its own process (bench/bench_train.lua, bench/bench_torch.py), so the
# peak RSS belongs to one configuration. In each round the two frameworks run one after the
# other for every configuration, alternating which goes first; the table has medians over the
# rounds (speed) and the largest peak RSS. Both use the same thread count (default 2) and the
# same synthetic batch, model, init and optimizer. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
# unset for every command here (both frameworks): they select older OpenBLAS kernels.
# Around every measured process, bench/bench_corelat probes the cross-core round trip of a
# cache line (~10 ms each); RESULTS.md splits the speeds by it (where the host had the vCPUs).
#
# Output: progress lines, the table, bench/RESULTS.md; the last line printed is the geometric
# mean of the normlab/PyTorch speed ratios.
set -u
cd "$(dirname "$0")/.."

quick=${BENCH_QUICK:-0}
rounds=${BENCH_ROUNDS:-}
threads=${BENCH_THREADS:-2}
seconds=${BENCH_SECONDS:-}
configs=${BENCH_CONFIGS:-}
out=${BENCH_OUT:-bench/RESULTS.md}
build=${BUILD:-build}
wait_quiet=${BENCH_WAIT:-0}
wf=${BENCH_LIBDEFAULT:-0}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --threads) threads=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --configs) configs=$2; shift ;;
    --out) out=$2; shift ;;
    --build) build=$2; shift ;;
    --wait-quiet) wait_quiet=$2; shift ;;
    --library-default) wf=1 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  : "${rounds:=1}" "${seconds:=2}"
  [ -n "$configs" ] || configs="d8-bn-128 d8-gn-128 d8-bn-2 d8-gn-2"
fi
: "${rounds:=3}" "${seconds:=2}"
[ -n "$configs" ] || configs="d1-bn-128 d4-bn-128 d8-bn-128 d8-bn-2 d8-bn-8 d8-bn-32 d8-gn-2 d8-gn-8 d8-gn-32 d8-gn-128"

PY=/usr/bin/python3   # Debian's python3-torch (not a pyenv python on PATH)
NORMLAB=./normlab
for c in $configs; do
  [[ $c =~ ^d[1-8]-(bn|gn|none)-[0-9]+$ ]] || { echo "bench/run.sh: bad configuration '$c' (want d8-bn-128)" >&2; exit 2; }
done

# The two variables make OpenBLAS use older kernels: unset for every command of the benchmark.
was_coretype=${OPENBLAS_CORETYPE-<unset>}
was_l2=${OPENBLAS_L2_SIZE-<unset>}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
echo "# OPENBLAS_CORETYPE ($was_coretype) and OPENBLAS_L2_SIZE ($was_l2) are unset for all benchmark commands (both frameworks)"

[ -x "$NORMLAB" ] || { echo "bench/run.sh: $NORMLAB not built (run make)" >&2; exit 1; }
bash bench/build_tools.sh "$build" || { echo "bench/run.sh: building the C benchmark tools failed" >&2; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "bench/run.sh: $PY cannot import torch (apt-get install python3-torch)" >&2; exit 1; }

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
start=$SECONDS
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# sgemm rate on the model's own GEMM shapes, with the OpenBLAS kernels normlab runs on (its
# main() picks them from CPUID when OPENBLAS_CORETYPE is unset: NORMLAB_BLAS_CHOSEN) and, for
# reference, with OpenBLAS's own choice
nl_core=$("$NORMLAB" -e 'io.write(os.getenv("NORMLAB_BLAS_CHOSEN") or "")' 2>/dev/null)
echo "# sgemm: OpenBLAS on the im2col GEMM shapes of plain(8) at batch 128, $threads threads (normlab's kernels: ${nl_core:-OpenBLAS default})"
if [ -n "$nl_core" ]; then
  OPENBLAS_CORETYPE=$nl_core "$build/bench/bench_sgemm" --threads "$threads" --batch 128 --depth 8 --quiet --time 0.1
else
  "$build/bench/bench_sgemm" --threads "$threads" --batch 128 --depth 8 --quiet --time 0.1
fi | tee -a "$raw" | sed 's/^/  /'
if [ -n "$nl_core" ]; then
  echo "# the same with OpenBLAS's own kernel choice (what a program without normlab's CPUID check gets):"
  "$build/bench/bench_sgemm" --threads "$threads" --batch 128 --depth 8 --quiet --time 0.1 \
    | sed 's/^SUMMARY/SUMMARY_AUTO/; s/^# OpenBLAS/# AUTO OpenBLAS/' | tee -a "$raw" | sed 's/^/  /'
fi
# normlab's convolution layers by algorithm (plain(8), batch 128): im2col + sgemm vs Winograd
echo "# conv layers of plain(8) at batch 128: im2col + sgemm vs Winograd (ms per call)"
OPENBLAS_CORETYPE=${nl_core:-$OPENBLAS_CORETYPE} "$build/bench/bench_conv" --threads "$threads" --batch 128 --reps 3 --tile 4 --dx-tile 4 \
  | sed 's/^/CONVTAB /' | tee -a "$raw" | sed 's/^CONVTAB /  /'

run_nl() {   # config, round
  local d n b; IFS=- read -r d n b <<<"$1"
  local prof=0; [ "$2" = 1 ] && prof=1
  "$NORMLAB" --threads "$threads" bench/bench_train.lua --depth "${d#d}" --norm "$n" --batch "$b" \
    --seconds "$seconds" --profile-seconds "$prof" --conv winograd-auto 2>&1 | sed "s/^\(RESULT\|PROFILE\)/\1 cfg=$1 round=$2/" >>"$raw"
}
run_nl_wf() {   # normlab with the library's default algorithm (forward by im2col + sgemm)
  local d n b; IFS=- read -r d n b <<<"$1"
  "$NORMLAB" --threads "$threads" bench/bench_train.lua --depth "${d#d}" --norm "$n" --batch "$b" \
    --seconds "$seconds" --profile-seconds 0 --conv auto 2>&1 \
    | sed "s/^RESULT fw=normlab/RESULT cfg=$1 round=$2 fw=normlab-wf/" >>"$raw"
}
run_torch() {
  local d n b; IFS=- read -r d n b <<<"$1"
  $PY bench/bench_torch.py --threads "$threads" --depth "${d#d}" --norm "$n" --batch "$b" \
    --seconds "$seconds" 2>&1 | sed "s/^RESULT/RESULT cfg=$1 round=$2/" >>"$raw"
}
wait_for_quiet() {   # up to $wait_quiet minutes for a 1-minute load average below 0.5
  local until=$((SECONDS + 60 * wait_quiet)) l
  while [ "$SECONDS" -lt "$until" ]; do
    l=$(cut -d' ' -f1 /proc/loadavg)
    awk -v l="$l" 'BEGIN { exit !(l < 0.5) }' && return 0
    sleep 10
  done
  echo "# the load average is still $(cut -d' ' -f1 /proc/loadavg): measuring anyway"
}
# The cross-core round trip of a cache line just before and after every measured process:
# where the host has moved the two vCPUs apart, it is several times longer, and normlab's
# threads, which pass data between cores at every layer, slow down (bench/bench_corelat.c).
corelat() {   # config, round, framework, before|after
  "$build/bench/bench_corelat" | sed "s/^CORELAT/CORELAT cfg=$1 round=$2 fw=$3 when=$4/" >>"$raw"
}
measured() {   # framework-runner config round framework: the run between two latency probes
  corelat "$2" "$3" "$4" before; "$1" "$2" "$3"; corelat "$2" "$3" "$4" after
}
round_loads=""   # the 1-minute load average as each round starts (the busy-machine warning)
for r in $(seq 1 "$rounds"); do
  [ "$wait_quiet" != 0 ] && wait_for_quiet
  round_loads="$round_loads $(cut -d' ' -f1 /proc/loadavg)"
  echo "# round $r starts at a 1-minute load average of ${round_loads##* }"
  for c in $configs; do
    if [ $((r % 2)) = 1 ]; then
      measured run_nl "$c" "$r" normlab; measured run_torch "$c" "$r" torch
      [ "$wf" = 1 ] && run_nl_wf "$c" "$r"
    else
      [ "$wf" = 1 ] && run_nl_wf "$c" "$r"
      measured run_torch "$c" "$r" torch; measured run_nl "$c" "$r" normlab
    fi
    grep "cfg=$c round=$r " "$raw" | grep '^RESULT' | sed -E 's/.*fw=([a-z-]+).* ips=([0-9.]+).* rss_mb=([0-9.]+).*/\1 \2 img\/s \3 MB/' \
      | paste -sd' ' | sed "s/^/  round $r $c: /"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "META date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "META cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "META cores=$(nproc)"
  echo "META mem=$(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo)"
  echo "META kernel=$(uname -r)"
  echo "META load_before=$load_before"
  echo "META round_loads=${round_loads# }"
  echo "META wait_quiet=$wait_quiet"
  echo "META load_after=$load_after"
  echo "META threads=$threads"
  echo "META rounds=$rounds"
  echo "META seconds=$seconds"
  echo "META normlab=$("$NORMLAB" -v 2>&1 | head -1)"
  echo "META lua=$("$NORMLAB" -e 'print(_VERSION)' 2>&1 | head -1)"
  echo "META winograd=$("$NORMLAB" -e 'print(normlab.C.winograd_isa and normlab.C.winograd_isa() or "none")' 2>&1 | head -1)"
  echo "META cc=$(cc --version | head -1)"
  echo "META torch=$($PY -c 'import torch; print(torch.__version__)' 2>&1)"
  echo "META onednn=$($PY -c 'import torch, re; print((re.findall(r"MKL-DNN v[0-9.]+", torch.__config__.show()) or ["?"])[0])' 2>&1)"
  echo "META openblas_env=OPENBLAS_CORETYPE=$was_coretype, OPENBLAS_L2_SIZE=$was_l2"
  echo "META nl_core=${nl_core:-none}"
  echo "META minutes=$(( (SECONDS - start + 30) / 60 ))"
} >>"$raw"

cp "$raw" "$build/bench/last_run.txt"   # the raw lines: python3 bench/summarize.py FILE OUT redoes the table
$PY bench/summarize.py "$raw" "$out"
