// CPU facts: hwloc for cores and caches, CPUID + XGETBV for the ISA.
#include "nabla/runtime/cpu.hpp"

#include <hwloc.h>

#include <atomic>
#include <cpuid.h>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "nabla/error.hpp"

namespace nabla {
namespace {

struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(unsigned leaf, unsigned sub = 0) {
  Regs r;
  __cpuid_count(leaf, sub, r.a, r.b, r.c, r.d);
  return r;
}

unsigned long long xgetbv0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

// The best ISA both the CPU has and the OS saves the registers of. CPUID bits
// alone are not enough: without OS support (XCR0) the instructions fault.
Isa detect_isa() {
  const unsigned max_leaf = cpuid(0).a;
  const Regs l1 = cpuid(1);
  const bool osxsave = (l1.c >> 27) & 1;
  const bool avx = (l1.c >> 28) & 1;
  const bool fma = (l1.c >> 12) & 1;
  if (!osxsave || !avx || max_leaf < 7) return Isa::Generic;
  const unsigned long long xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;     // XMM + YMM state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  const Regs l7 = cpuid(7, 0);
  const bool avx2 = (l7.b >> 5) & 1;
  const bool avx512f = (l7.b >> 16) & 1, avx512dq = (l7.b >> 17) & 1;
  const bool avx512bw = (l7.b >> 30) & 1, avx512vl = (l7.b >> 31) & 1;
  if (os_zmm && avx2 && fma && avx512f && avx512dq && avx512bw && avx512vl) return Isa::Avx512;
  if (os_ymm && avx2 && fma) return Isa::Avx2;
  return Isa::Generic;
}

std::string vendor_string() {
  const Regs r = cpuid(0);
  char v[13] = {};
  std::memcpy(v, &r.b, 4);
  std::memcpy(v + 4, &r.d, 4);
  std::memcpy(v + 8, &r.c, 4);
  return v;
}

CpuInfo detect() {
  CpuInfo info;
  info.vendor = vendor_string();
  info.best_isa = detect_isa();

  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0) return info;
  if (hwloc_topology_load(topo) != 0) {
    hwloc_topology_destroy(topo);
    return info;
  }
  const int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  const int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  if (cores > 0) info.physical_cores = cores;
  if (pus > 0) info.logical_cpus = pus;
  auto cache_size = [&](hwloc_obj_type_t type) -> int64_t {
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, type, 0);
    return obj && obj->attr ? static_cast<int64_t>(obj->attr->cache.size) : 0;
  };
  if (int64_t s = cache_size(HWLOC_OBJ_L1CACHE)) info.l1d_bytes = s;
  if (int64_t s = cache_size(HWLOC_OBJ_L2CACHE)) info.l2_bytes = s;
  info.l3_bytes = cache_size(HWLOC_OBJ_L3CACHE);
  hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
  if (const char* m = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : nullptr) info.model = m;
  hwloc_topology_destroy(topo);
  if (info.model.empty()) info.model = "unknown";
  return info;
}

std::atomic<int> g_active{-1};
std::once_flag g_env_once;

void init_active_from_env() {
  std::call_once(g_env_once, [] {
    Isa isa = cpu_info().best_isa;
    if (const char* env = std::getenv("NABLA_ISA"); env && *env) {
      const Isa want = parse_isa(env);  // throws on a bad name
      if (static_cast<int>(want) > static_cast<int>(isa))
        throw Error(std::string("NABLA_ISA=") + env + ": this CPU (or OS) supports at most " +
                    isa_name(isa));
      isa = want;
    }
    int expected = -1;
    g_active.compare_exchange_strong(expected, static_cast<int>(isa));
  });
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Generic: return "generic";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

Isa parse_isa(const std::string& name) {
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512})
    if (name == isa_name(isa)) return isa;
  throw Error("unknown ISA '" + name + "': expected generic, avx2 or avx512");
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();
  return info;
}

Isa active_isa() {
  int v = g_active.load(std::memory_order_relaxed);
  if (v < 0) {
    init_active_from_env();
    v = g_active.load(std::memory_order_relaxed);
  }
  return static_cast<Isa>(v);
}

void set_isa(Isa isa) {
  const Isa best = cpu_info().best_isa;
  if (static_cast<int>(isa) > static_cast<int>(best))
    throw Error(std::string("set_isa(") + isa_name(isa) + "): this CPU (or OS) supports at most " +
                isa_name(best));
  init_active_from_env();
  g_active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace nabla
