// nabla_compare's timing harness and statistics (see main.cpp): every sample
// times a fixed number of calls after the process's other threads settle;
// the sides alternate, and each reports the median and quartiles.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compare/compare.hpp"
#include "nabla/nabla.hpp"

#ifdef NABLA_HAVE_DNNL
#include <omp.h>  // oneDNN's thread count (run_case sets every runtime's)
#endif

namespace nabla_compare {
namespace {

using Clock = std::chrono::steady_clock;

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

Times summarise(const std::vector<double>& us, int64_t calls) {
  Times t;
  t.samples = static_cast<int>(us.size());
  t.calls = calls;
  if (us.empty()) return t;
  t.median = quantile(us, 0.5);
  t.q1 = quantile(us, 0.25);
  t.q3 = quantile(us, 0.75);
  t.min = *std::min_element(us.begin(), us.end());
  t.max = *std::max_element(us.begin(), us.end());
  return t;
}

// Before each sample, the previous side's idle workers must be asleep, or
// they take a core from the side being timed: libgomp's workers spin-wait a
// few ms after a parallel region, OpenBLAS's spin (sched_yield) for
// 2^OPENBLAS_THREAD_TIMEOUT TSC ticks — by default up to ~1 s here, during
// which nabla's 2-thread 256³ GEMM ran at 1-thread speed and oneDNN's
// 2-thread GEMMs 100× slower (its OpenMP barriers waited on the busy core).
// settle() waits until no other thread of this process is running (state R
// in /proc/self/task/*/stat) on two polls in a row, at least 5 ms and at
// most 2 s; the count of waits that ran out is printed at the end.
int settle_timeouts = 0;

namespace {

bool other_threads_running() {
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return false;
  bool running = false;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == self) continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/stat");
    std::string stat;
    std::getline(f, stat);
    const size_t paren = stat.rfind(')');  // "tid (name) S ..."
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'R') running = true;
  }
  closedir(dir);
  return running;
}

void settle() {
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = Clock::now();
  int quiet = 0;
  while (quiet < 2) {
    if (Clock::now() - t0 > std::chrono::seconds(2)) {
      ++settle_timeouts;
      return;
    }
    quiet = other_threads_running() ? 0 : quiet + 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// Calls per sample so that a sample lasts about sample_ms (after a warm-up:
/// first calls allocate, JIT, start thread pools).
int64_t calibrate(Side& s, double sample_ms) {
  if (s.before_sample) s.before_sample();
  settle();
  s.call();
  int64_t n = 0;
  const auto t0 = Clock::now();
  double ms = 0;
  while (n < 3 || ms < sample_ms) {
    s.call();
    ++n;
    ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  if (std::getenv("NABLA_COMPARE_DEBUG")) std::fprintf(stderr, "calibrate: %ld calls in %.3f ms\n", (long)n, ms);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(sample_ms / (ms / static_cast<double>(n)))));
}

double time_sample(Side& s, int64_t calls) {
  if (s.before_sample) s.before_sample();
  settle();
  // Untimed pre-roll (>= 1 call, ~2 ms): wakes this side's own workers and
  // the vCPUs after the pause, so a sample times the side in its steady
  // state (without it, 2-thread samples of the same GEMM ranged 75-135 µs).
  for (const auto p0 = Clock::now(); Clock::now() - p0 < std::chrono::milliseconds(2);) s.call();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < calls; ++i) s.call();
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / static_cast<double>(calls);
  if (std::getenv("NABLA_COMPARE_DEBUG")) std::fprintf(stderr, "sample: %ld calls, %.1f us\n", (long)calls, us);
  return us;
}

}  // namespace

std::vector<Result> run_case(const Case& c, int threads, const Options& o, std::map<Peer, int>& checks_passed,
                             std::map<Peer, int>& checks_failed) {
  std::vector<Result> rows;
  for (Peer p : c.peers) {
    if (std::find(o.peers.begin(), o.peers.end(), p) == o.peers.end()) continue;
    Result r;
    r.case_name = c.name;
    r.kind = c.kind;
    r.threads = threads;
    r.peer = p;
    r.status = peer_built(p) ? "" : "not built";
    rows.push_back(r);
  }
  std::unique_ptr<Instance> inst;
  try {
    // Every runtime at this count before anything is built: oneDNN fixes
    // a primitive's thread partition when it creates it.
    nabla::set_num_threads(threads);
#ifdef NABLA_HAVE_DNNL
    omp_set_num_threads(threads);
#endif
#ifdef NABLA_HAVE_TORCH
    nabla_compare::torch_set_threads(threads);
#endif
    inst = c.make(threads);
    // Correctness first.
    for (Result& r : rows) {
      if (!r.status.empty()) continue;
      const CheckResult cr = inst->check(r.peer);
      r.check_error = cr.error;
      r.message = cr.note;
      if (!(r.check_error <= kTolerance)) {
        r.status = "mismatch";
        char m[96];
        std::snprintf(m, sizeof m, "relative error %.2e > %.0e", r.check_error, kTolerance);
        r.message = m + (r.message.empty() ? "" : " (" + r.message + ")");
        ++checks_failed[r.peer];
      } else {
        ++checks_passed[r.peer];
      }
    }
    // Then the interleaved timing of nabla and the peers that agree.
    std::vector<Side*> sides = {&inst->nabla};
    std::vector<Result*> timed;
    for (Result& r : rows) {
      if (!r.status.empty()) continue;
      if (o.check_only) {
        r.status = "checked";
        continue;
      }
      sides.push_back(&inst->peers.at(r.peer));
      timed.push_back(&r);
    }
    if (sides.size() > 1) {
      nabla::set_num_threads(threads);
      std::vector<int64_t> calls;
      for (Side* s : sides) calls.push_back(calibrate(*s, o.sample_ms));
      std::vector<std::vector<double>> us(sides.size());
      for (int rep = 0; rep < o.reps; ++rep)
        for (size_t k = 0; k < sides.size(); ++k) {
          const size_t i = rep % 2 == 0 ? k : sides.size() - 1 - k;  // A B … then … B A
          us[i].push_back(time_sample(*sides[i], calls[i]));
        }
      const Times tn = summarise(us[0], calls[0]);
      for (size_t i = 0; i < timed.size(); ++i) {
        timed[i]->status = "ok";
        timed[i]->nabla = tn;
        timed[i]->peer_time = summarise(us[i + 1], calls[i + 1]);
        timed[i]->ratio = timed[i]->peer_time.median / tn.median;
      }
    }
  } catch (const std::exception& e) {
    for (Result& r : rows)
      if (r.status.empty() || r.status == "checked") r.status = "error", r.message = e.what();
  }
  return rows;
}

}  // namespace nabla_compare
