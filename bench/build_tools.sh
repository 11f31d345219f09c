#!/usr/bin/env bash
# bench/build_tools.sh [BUILD]: builds the C benchmark tools into BUILD/bench (default build).
# Needs BUILD/libnormlab.a (make). Used by bench/run.sh.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
mkdir -p "$build/bench"
inc=$(pkg-config --cflags-only-I openblas 2>/dev/null || echo -I/usr/include/x86_64-linux-gnu/openblas-pthread)
cflags="-O2 -g -std=c11 -D_GNU_SOURCE -march=x86-64-v2 -Isrc $inc -I/usr/include/x86_64-linux-gnu/openblas-pthread"
cc $cflags -o "$build/bench/bench_sgemm" bench/bench_sgemm.c -lopenblas -lm
cc $cflags -o "$build/bench/bench_conv" bench/bench_conv.c "$build/libnormlab.a" -lopenblas -lm -lpthread
cc $cflags -o "$build/bench/bench_corelat" bench/bench_corelat.c -lpthread
