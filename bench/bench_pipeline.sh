#!/usr/bin/env bash
# bench/bench_pipeline.sh [SECONDS] [BATCH]: builds bench/bench_pipeline.c against
# build/libnormlab.a and measures the training batch pipeline (augment +
# normalize) in images/s on one core (pinned with taskset when available).
# Uses ../shared/data/cifar-10-batches-bin (or $NORMLAB_SHARED_CIFAR10) when present.
set -eu
cd "$(dirname "$0")/.."
make -s build/libnormlab.a
mkdir -p build/bench
${CC:-cc} -O2 -g -std=c11 -D_GNU_SOURCE -march=x86-64-v2 -mtune=native -Isrc -o build/bench/bench_pipeline \
  bench/bench_pipeline.c build/libnormlab.a $(pkg-config --libs libcurl zlib) -lopenblas -lm -lpthread
dir=${NORMLAB_SHARED_CIFAR10:-../shared/data/cifar-10-batches-bin}
pin=""
command -v taskset >/dev/null && pin="taskset -c 0"
$pin build/bench/bench_pipeline "$dir" "${1:-3}" "${2:-128}"
