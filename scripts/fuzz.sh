#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers (IDX, CSV, model spec, safetensors)
# with clang's libFuzzer and ASan: builds the fuzz targets in build/fuzz and
# runs each for SECONDS (default 30), keeping its corpus in
# build/fuzz/corpus/NAME between runs. The test suite (scripts/test.sh)
# runs the same targets on fixed inputs only.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
bash scripts/deps.sh clang libclang-rt-14-dev
# -O1 with line tables only: the fuzzers parse, they need no fast kernels,
# and this keeps the clang + ASan build of the library short.
CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" \
  -DNABLA_SANITIZE=address -DNABLA_WITH_MPI=OFF -DNABLA_BUILD_PYTHON=OFF \
  -DNABLA_BUILD_FUZZERS=ON -DNABLA_BUILD_TESTS=OFF -DNABLA_BUILD_BENCH=OFF
cmake --build build/fuzz -j"$(nproc)"
for f in build/fuzz/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  corpus="build/fuzz/corpus/$(basename "$f")"
  mkdir -p "$corpus"
  echo "-- $(basename "$f")"
  "$f" -max_total_time="$seconds" -print_final_stats=0 "$corpus" 2>&1 | tail -n 2
done
