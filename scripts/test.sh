#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds once (Release, with benchmarks so they cannot rot), runs
# every test with ctest (the MPI ones as `mpirun -np 2` jobs; the fuzz
# targets on their seeds and 20,000 fixed mutants each), checks that an
# installed nabla works from an outside CMake project, then runs the same
# tests under ASan+UBSan. Coverage-guided fuzzing (clang's libFuzzer) is
# scripts/fuzz.sh, outside CI: its clang build of the library doubled the
# suite's time.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
# Each stage's line carries the seconds since the start, so a slow CI run says where its time went.
stage() { echo "== [$((SECONDS - t0)) s] $*"; }
stage "dependencies"
bash scripts/deps.sh
jobs=$(nproc)

stage "Release build"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PWD/build/prefix"
cmake --build build/release -j"$jobs"
stage "Release tests"
ctest --test-dir build/release -j"$jobs" --output-on-failure

stage "Install and use from an outside project (find_package(nabla))"
cmake --install build/release >/dev/null
cmake -S tests/consumer -B build/consumer -G Ninja -DCMAKE_PREFIX_PATH="$PWD/build/prefix"
cmake --build build/consumer
./build/consumer/consumer
if [ -x build/consumer/consumer_dist ]; then ./build/consumer/consumer_dist; fi
# The installed Python package (under the prefix, so on PYTHONPATH): import
# it, train a step, and run the installed command line through it.
py_site=$(ls -d "$PWD"/build/prefix/lib/python3*/site-packages 2>/dev/null | head -n 1 || true)
if [ -n "$py_site" ]; then
  (cd /tmp && PYTHONPATH="$py_site" /usr/bin/python3 -c '
import numpy as np, nabla
m = nabla.nn.Sequential(nabla.nn.Dense(3, 2)); l = nabla.nn.MSE()
l(m(np.ones((4, 3), np.float32)), np.zeros((4, 2), np.float32)); m.backward(l.backward())
print("installed python module:", nabla.__file__)' &&
   PYTHONPATH="$py_site" /usr/bin/python3 -m nabla info >/dev/null)
fi

stage "ASan + UBSan build"
# -O1: at -O2, GCC 12 takes minutes per AVX-512 kernel file with the
# sanitizers on (the unrolled micro-kernels); -O1 builds in seconds. -g1:
# line tables, all the sanitizers' stack traces need (full -g slows the
# template-heavy kernel files' compilation). The
# tools are built too, so the CLI tests run under the sanitizers. MPI is left
# out here (NABLA_WITH_MPI=OFF): Open MPI's own allocations, never freed,
# are reported by LeakSanitizer, and its launcher and transports are not
# ours to instrument; the MPI tests run in the Release build above, and the
# sharding they rely on is tested here too (test_data, without MPI). The
# Python module is left out of this build (an ASan
# library does not load into an uninstrumented interpreter without
# LD_PRELOAD); its tests run in the Release build.
cmake -S . -B build/sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DNABLA_SANITIZE=address,undefined -DNABLA_BUILD_BENCH=OFF -DNABLA_WITH_MPI=OFF -DNABLA_BUILD_PYTHON=OFF
cmake --build build/sanitize -j"$jobs"
stage "ASan + UBSan tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/sanitize -j"$jobs" --output-on-failure

stage "done"
