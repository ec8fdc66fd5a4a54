// Thread control: one oneTBB global_control limits all of nabla's parallelism.
#include "nabla/runtime/threads.hpp"

#include <oneapi/tbb/global_control.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "nabla/error.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla {
namespace {

std::mutex g_mutex;
std::unique_ptr<tbb::global_control> g_control;
int g_threads = 0;  // 0: not initialised yet

int parse_env_threads() {
  const char* env = std::getenv("NABLA_NUM_THREADS");
  if (!env || !*env) return 0;
  char* end = nullptr;
  const long v = std::strtol(env, &end, 10);
  if (*end != '\0' || v < 1 || v > 4096)
    throw Error(std::string("NABLA_NUM_THREADS='") + env + "': expected a whole number from 1 to 4096");
  return static_cast<int>(v);
}

void apply(int n) {
  g_control.reset();  // one control at a time
  g_control = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                     static_cast<size_t>(n));
  g_threads = n;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads(" + std::to_string(n) + "): need at least 1 thread");
  std::lock_guard lock(g_mutex);
  apply(n);
}

int num_threads() {
  std::lock_guard lock(g_mutex);
  if (g_threads == 0) {
    int n = parse_env_threads();
    if (n == 0) n = cpu_info().physical_cores;
    apply(n);
  }
  return g_threads;
}

}  // namespace nabla
