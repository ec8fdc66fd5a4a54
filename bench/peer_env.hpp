#pragma once
// The environment a comparison run needs, fixed before any peer library
// initialises (bench_gemm, nabla_compare).
//
// OpenBLAS reads its environment once, when it is loaded:
// - OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: this machine exports Haswell, which
//   runs OpenBLAS's AVX2 kernel at half speed on AVX-512 CPUs: both unset;
// - OPENBLAS_NUM_THREADS (optional): 1 so that a framework that calls
//   OpenBLAS from its own threads (libtorch) does not spin a second pool
//   beside its OpenMP one. openblas_set_num_threads() still raises the
//   count later for a direct OpenBLAS peer.
// Setting them from inside the program is too late (the loader has already
// run OpenBLAS's constructor), so the program re-executes itself once with
// the fixed environment, and says so on stderr.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace nabla_bench {

inline void reexec_with_peer_env(char** argv, const char* program, bool openblas_single_thread) {
  bool changed = false;
  for (const char* var : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"})
    if (std::getenv(var)) {
      unsetenv(var);
      changed = true;
    }
  if (openblas_single_thread) {
    const char* t = std::getenv("OPENBLAS_NUM_THREADS");
    if (!t || std::strcmp(t, "1") != 0) {
      setenv("OPENBLAS_NUM_THREADS", "1", 1);
      changed = true;
    }
  }
  if (!changed) return;
  std::fprintf(stderr, "%s: re-running without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE%s so OpenBLAS uses its best kernel\n",
               program, openblas_single_thread ? " and with OPENBLAS_NUM_THREADS=1" : "");
  // The program's real path (not /proc/self/exe, which would rename the
  // process "exe" in top and perf).
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) self[n] = '\0';
  execv(n > 0 ? self : "/proc/self/exe", argv);
  std::perror("execv");  // only reached on failure: carry on in this environment
}

}  // namespace nabla_bench
