// The GEMM configuration: defaults derived from the cache sizes and the
// compiled micro-tiles, the tuning profile's when it is valid here,
// overridable.
#include "nabla/kernels/gemm_config.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>

#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/error.hpp"
#include "nabla/runtime/profile.hpp"

namespace nabla {
namespace {

// Every gemm() call reads the configuration, often from several threads at
// once (a convolution's per-image GEMMs): the read is one acquire load of a
// pointer to an immutable GemmConfig. Changes (rare) take the mutex and
// publish a new object; old ones stay in g_store until exit, since a reader
// may still be copying one.
std::mutex g_mutex;
std::deque<GemmConfig> g_store;                            // under g_mutex
std::array<std::atomic<const GemmConfig*>, 3> g_config{};  // in use (null: not yet chosen)

// Under g_mutex.
void publish_locked(Isa isa, const GemmConfig& cfg) {
  g_store.push_back(cfg);
  g_config[static_cast<int>(isa)].store(&g_store.back(), std::memory_order_release);
}

// The profile's configuration when its tile is compiled here; else the
// profile is marked ignored (profile_status tells why) and the defaults win.
GemmConfig from_profile(Isa isa) {
  const ProfileStatus st = profile_status(isa);
  if (!st.profile) return default_gemm_config(isa);
  try {
    validate_gemm_config(isa, st.profile->gemm);
    return st.profile->gemm;
  } catch (const Error& e) {
    std::fprintf(stderr, "nabla: warning: tuning profile ignored: '%s': %s\n", st.path.c_str(), e.what());
    detail::reject_profile(isa, std::string("'") + st.path + "': " + e.what());
    return default_gemm_config(isa);
  }
}

int64_t clamp_round_down(int64_t x, int64_t lo, int64_t hi, int64_t mult) {
  x = std::clamp(x, lo, hi);
  return std::max(mult, x / mult * mult);
}

}  // namespace

GemmConfig default_gemm_config(Isa isa) {
  const CpuInfo& cpu = cpu_info();
  const auto& v = kernels::detail::gemm_variants(isa).front();
  GemmConfig cfg;
  cfg.mr = v.mr;
  cfg.nr = v.nr;
  // KC: one micro-tile multiplies an MR×KC panel of A by a KC×NR panel of
  // B. The B panel is reused by every MR-row tile of the A block, so it must
  // stay close: about a tenth of L2 (96 KiB of a 1 MiB L2 for a 6x64 tile),
  // with the hardware prefetcher streaming it through L1. Larger KC also
  // means fewer passes over C (C is re-read once per KC block). Measured on
  // this machine: 288-384 beats 192 by 3-6% on large shapes (RESULTS.md).
  // KC is shared by all tiles of an ISA, so the tile chosen for a shape
  // never changes a result (each element sums k in the same blocks).
  cfg.kc = clamp_round_down(cpu.l2_bytes / 10 / (4 * 64), 128, 512, 32);
  // MC: the packed A block (MC×KC) is reused by every NR-column panel of the
  // B block, so it lives in L2; half of L2, leaving room for B panels and C.
  cfg.mc = clamp_round_down(cpu.l2_bytes / 2 / (4 * cfg.kc), cfg.mr, 4096, cfg.mr);
  // NC: the packed B block (KC×NC) lives in this core's share of L3 (half
  // of it); without an L3, in the rest of L2.
  const int64_t l3_share = cpu.l3_bytes > 0 ? cpu.l3_bytes / std::max(1, cpu.physical_cores) / 2
                                            : cpu.l2_bytes / 2;
  cfg.nc = clamp_round_down(l3_share / (4 * cfg.kc), cfg.nr, 16384, cfg.nr);
  // small_flops: below it A is read in place. Measured (bench/RESULTS.md):
  // in place wins on the batch-64 training shapes up to 64×256×784 (26
  // MFLOP); packing wins on large squares, where each panel is reused often.
  // Parallel thresholds: a 1 MFLOP GEMM takes ~4 µs on one AVX-512 core.
  // Waking a sleeping worker costs 60-76 µs on a VM, but in training the
  // GEMMs come back to back and oneTBB's workers are still spinning: there
  // a 4 MFLOP GEMM (64×128×256) runs 1.8× faster on 2 threads (225 -> 411
  // GFLOP/s, RESULTS.md), so a call goes parallel from 2 MFLOP, one task per
  // MFLOP at most.
  cfg.small_flops = 64.0e6;
  cfg.parallel_flops = 2.0e6;
  cfg.task_flops = 1.0e6;
  return cfg;
}

GemmConfig gemm_config(Isa isa) {
  if (const GemmConfig* c = g_config[static_cast<int>(isa)].load(std::memory_order_acquire)) return *c;
  std::lock_guard lock(g_mutex);
  if (const GemmConfig* c = g_config[static_cast<int>(isa)].load(std::memory_order_acquire)) return *c;
  publish_locked(isa, from_profile(isa));
  return *g_config[static_cast<int>(isa)].load(std::memory_order_acquire);
}

void validate_gemm_config(Isa isa, const GemmConfig& cfg) {
  bool compiled = false;
  for (const auto& v : kernels::detail::gemm_variants(isa))
    compiled = compiled || (v.mr == cfg.mr && v.nr == cfg.nr);
  if (!compiled)
    throw Error("GEMM configuration: no " + std::to_string(cfg.mr) + "x" + std::to_string(cfg.nr) +
                " micro-kernel is compiled for " + isa_name(isa));
  check_gemm_blocking(cfg);
}

void set_gemm_config(Isa isa, const GemmConfig& cfg) {
  validate_gemm_config(isa, cfg);
  std::lock_guard lock(g_mutex);
  const GemmConfig* now = g_config[static_cast<int>(isa)].load(std::memory_order_acquire);
  if (!now || !(*now == cfg)) publish_locked(isa, cfg);  // the tuner sets the same one often
}

void reset_gemm_config() {
  std::lock_guard lock(g_mutex);
  for (auto& slot : g_config) slot.store(nullptr, std::memory_order_release);
  detail::reset_profile_status();
}

}  // namespace nabla
