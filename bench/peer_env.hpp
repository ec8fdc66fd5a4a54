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
//   count later for a direct OpenBLAS peer;
// - OPENBLAS_THREAD_TIMEOUT (optional, unless the user set it): OpenBLAS's
//   idle workers spin (sched_yield) for 2^timeout TSC ticks before they
//   sleep; the default 28 kept them spinning for up to a second here, which
//   took the second core from whatever was timed next (nabla's 2-thread
//   256³ GEMM ran at 1-thread speed after it). 24 (~10 ms) still covers the
//   microsecond gaps between the calls of a sample.
// Setting them from inside the program is too late (the loader has already
// run OpenBLAS's constructor), so the program re-executes itself once with
// the fixed environment, and says so on stderr.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace nabla_bench {

inline void reexec_with_peer_env(char** argv, const char* program, bool openblas_single_thread,
                                 int openblas_thread_timeout = 0) {
  bool changed = false;
  if (openblas_thread_timeout > 0 && !std::getenv("OPENBLAS_THREAD_TIMEOUT")) {
    setenv("OPENBLAS_THREAD_TIMEOUT", std::to_string(openblas_thread_timeout).c_str(), 1);
    changed = true;
  }
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
  std::fprintf(stderr, "%s: re-running without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE%s%s so OpenBLAS uses its best kernel\n",
               program, openblas_single_thread ? ", with OPENBLAS_NUM_THREADS=1" : "",
               openblas_thread_timeout > 0 ? ", OPENBLAS_THREAD_TIMEOUT set" : "");
  // The program's real path (not /proc/self/exe, which would rename the
  // process "exe" in top and perf).
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) self[n] = '\0';
  execv(n > 0 ? self : "/proc/self/exe", argv);
  std::perror("execv");  // only reached on failure: carry on in this environment
}

}  // namespace nabla_bench
