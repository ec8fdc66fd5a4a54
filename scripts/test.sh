#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds once (Release, with benchmarks so they cannot rot), runs
# every test with ctest, then the same tests under ASan+UBSan, then checks
# that an installed nabla works from an outside CMake project.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)

echo "== Release build and tests"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PWD/build/prefix"
cmake --build build/release -j"$jobs"
ctest --test-dir build/release -j"$jobs" --output-on-failure

echo "== Install and use from an outside project (find_package(nabla))"
cmake --install build/release >/dev/null
cmake -S tests/consumer -B build/consumer -G Ninja -DCMAKE_PREFIX_PATH="$PWD/build/prefix"
cmake --build build/consumer
./build/consumer/consumer

echo "== ASan + UBSan build and tests"
# -O1: at -O2, GCC 12 takes minutes per AVX-512 kernel file with the
# sanitizers on (the unrolled micro-kernels); -O1 builds in seconds.
cmake -S . -B build/sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DNABLA_SANITIZE=address,undefined \
  -DNABLA_BUILD_BENCH=OFF -DNABLA_BUILD_TOOLS=OFF
cmake --build build/sanitize -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/sanitize -j"$jobs" --output-on-failure
