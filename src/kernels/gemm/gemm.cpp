// The GEMM driver: validates arguments, picks the variant and blocking for
// the active ISA, splits C into chunks over oneTBB threads and hands each
// chunk to the per-ISA loop nest (gemm_ukernel.hpp). Compiled with generic
// flags: nothing here touches SIMD.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <string>

#include "kernels/common/dispatch.hpp"
#include "kernels/common/names.hpp"
#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "nabla/runtime/scratch.hpp"
#include "nabla/runtime/threads.hpp"
#include "nabla/runtime/trace.hpp"

namespace nabla::kernels {
namespace detail {
namespace {

// Per-thread packing buffers, grown on demand and reused across calls, so a
// steady-state GEMM allocates nothing.
class Scratch {
 public:
  float* a(size_t n) { return a_.get(static_cast<int64_t>(n)); }
  float* b(size_t n) { return b_.get(static_cast<int64_t>(n)); }

 private:
  ScratchBuffer a_, b_;
};

thread_local Scratch tl_scratch;

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Splits `tasks` into a tm × tn grid over the MR/NR tiles of C, choosing the
// factorisation that packs the least (each task packs its own rows of A and
// columns of B: cost ∝ m/tm + n/tn).
void choose_grid(int64_t m_tiles, int64_t n_tiles, int64_t mr, int64_t nr, int tasks, int& tm, int& tn) {
  tm = 1;
  tn = 1;
  double best = -1;
  for (int a = 1; a <= tasks; ++a) {
    if (tasks % a) continue;
    const int b = tasks / a;
    if (a > m_tiles || b > n_tiles) continue;
    const double cost = static_cast<double>(m_tiles * mr) / a + static_cast<double>(n_tiles * nr) / b;
    if (best < 0 || cost < best) {
      best = cost;
      tm = a;
      tn = b;
    }
  }
}

}  // namespace

std::span<const GemmVariant> gemm_variants(Isa isa) {
  return for_isa(isa, gemm_variants_avx512, gemm_variants_avx2, gemm_variants_sse2);
}

std::span<const GemmPacking> gemm_packings() {
  // Packed first (the large-problem path), then A read in place (the
  // small-problem path). Adding a packing is one line here.
  static const GemmPacking kPackings[] = {
      {"", 0.0},
      {"inplace_a", std::numeric_limits<double>::infinity()},
  };
  return kPackings;
}

std::string gemm_variant_name(const GemmVariant& v, const GemmPacking& packing, const Epilogue& ep) {
  return KernelName{"gemm", fusion_name(ep.bias_kind != BiasKind::None, ep.act, ep.deriv),
                    std::to_string(v.mr) + "x" + std::to_string(v.nr), packing.name, v.isa}
      .str();
}

std::string gemm_variant_name(const GemmVariant& v, bool pack_a, const Epilogue& ep) {
  const auto packings = gemm_packings();
  return gemm_variant_name(v, pack_a ? packings[0] : packings[1], ep);
}

bool gemm_packs_a(const GemmConfig& cfg, const GemmArgs& g) {
  // Packing A pays off when each packed panel is reused across many
  // NR-column panels of B, or when the rows of A are a multiple of 4 KiB
  // apart: read in place, they would all fall in the same L1 sets.
  const double flops = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
  return flops >= cfg.small_flops || (g.lda % 1024 == 0 && g.m > 1 && g.k > 1);
}

const GemmVariant& select_variant(std::span<const GemmVariant> variants, int64_t m, int64_t n, int64_t k,
                                  bool a_in_place) {
  // Modelled cycles: every tile runs the full MR×NR tile over k; a k step
  // issues MR·NR/W vector FMAs and MR broadcasts + NR/W loads, at two of
  // each per cycle, so narrow tiles are load-bound (8x16: 9 loads per 8
  // FMAs). Plus a fixed cost per tile for C, the epilogue and the loop.
  // Padding waste dominates; the rest prefers tiles with fewer loads per FMA.
  // The last column panel runs narrower than NR (with_panel_width), but the
  // model still counts it whole: crediting it flipped near-ties toward
  // wider tiles that split N worse over threads (64×128×3136 on 8x48 at 2
  // threads: 191 against 8x32's 166 µs) or pack a whole wide panel for a
  // few columns (64×10×128: 1.9 against 1.3 µs).
  const GemmVariant* best = &variants.front();
  double best_cost = -1;
  for (const GemmVariant& v : variants) {
    const double tiles = static_cast<double>((m + v.mr - 1) / v.mr) * static_cast<double>((n + v.nr - 1) / v.nr);
    const double width = v.isa == Isa::Avx512 ? 16 : v.isa == Isa::Avx2 ? 8 : 4;
    const double nv = v.nr / width, fmas = v.mr * nv, loads = v.mr + nv;
    double cost = tiles * (std::max(fmas, loads) / 2 * static_cast<double>(k) + 40);
    if (a_in_place && v.mr > 8) cost *= 1.15;  // row pointers spill
    if (best_cost < 0 || cost < best_cost * 0.98) {
      best = &v;
      best_cost = cost;
    }
  }
  return *best;
}

void gemm_run(const GemmVariant& v, const GemmConfig& cfg, const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  const double flops = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);

  GemmBlocking blk;
  blk.kc = cfg.kc;
  blk.mc = std::max<int64_t>(v.mr, cfg.mc / v.mr * v.mr);
  blk.nc = std::max<int64_t>(v.nr, cfg.nc / v.nr * v.nr);
  // Packing A pays off only when each packed panel is reused across several
  // NR-column panels of B; small or thin problems read A in place.
  blk.pack_a = gemm_packs_a(cfg, g);
  // B: a packed micro-panel pays off when several row blocks (ic) reuse it;
  // a transposed B must be packed. Otherwise full panels are read in place:
  // measured +11-14% on the batch-64 shapes (64×784×288: 206 -> 234 GF/s),
  // +47% on 16×4096×150, even where B's rows are 4 KiB apart.
  blk.pack_b = g.tb || g.m > blk.mc || g.a_rows;

  const int64_t k_eff = (g.alpha == 0.f || g.k == 0) ? 0 : g.k;
  const int64_t nk = k_eff == 0 ? 1 : (k_eff + blk.kc - 1) / blk.kc;
  const int64_t kstep = k_eff == 0 ? 1 : (k_eff + nk - 1) / nk;
  const size_t a_need = static_cast<size_t>(std::min(blk.mc, round_up(g.m, v.mr)) * kstep);
  const size_t b_need = static_cast<size_t>(std::min(blk.nc, round_up(g.n, v.nr)) * kstep);

  const int64_t m_tiles = (g.m + v.mr - 1) / v.mr;
  const int64_t n_tiles = (g.n + v.nr - 1) / v.nr;
  int tasks = 1;
  if (flops >= cfg.parallel_flops) {
    const int threads = num_threads();
    const int64_t by_work = static_cast<int64_t>(flops / std::max(1.0, cfg.task_flops));
    tasks = static_cast<int>(std::clamp<int64_t>(by_work, 1, threads));
  }
  int tm = 1, tn = 1;
  if (tasks > 1) choose_grid(m_tiles, n_tiles, v.mr, v.nr, tasks, tm, tn);

  auto run_task = [&](int t) {
    const int ti = t / tn, tj = t % tn;
    const int64_t m0 = m_tiles * ti / tm * v.mr, m1 = std::min(g.m, m_tiles * (ti + 1) / tm * v.mr);
    const int64_t n0 = n_tiles * tj / tn * v.nr, n1 = std::min(g.n, n_tiles * (tj + 1) / tn * v.nr);
    if (m0 >= m1 || n0 >= n1) return;
    Scratch& s = tl_scratch;
    float* a_buf = s.a(a_need);
    float* b_buf = s.b(b_need);
    v.chunk(g, blk, m0, m1, n0, n1, a_buf, b_buf);
  };
  if (tm * tn == 1) {
    run_task(0);
  } else {
    tbb::parallel_for(
        tbb::blocked_range<int>(0, tm * tn, 1),
        [&](const tbb::blocked_range<int>& r) {
          for (int t = r.begin(); t < r.end(); ++t) run_task(t);
        },
        tbb::simple_partitioner());
  }
}

}  // namespace detail

namespace {

const char* tname(Trans t) { return t == Trans::No ? "No" : "Yes"; }

void validate(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const float* b, int64_t ldb, const float* c, int64_t ldc, const Epilogue& ep) {
  auto dims = [&] {
    return " (m=" + std::to_string(m) + ", n=" + std::to_string(n) + ", k=" + std::to_string(k) +
           ", ta=" + tname(ta) + ", tb=" + tname(tb) + ")";
  };
  if (m < 0 || n < 0 || k < 0) throw Error("gemm: negative size" + dims());
  // Row-major: op(A) is m×k; A itself is m×k (No) or k×m (Yes).
  const int64_t a_cols = ta == Trans::No ? k : m, a_rows = ta == Trans::No ? m : k;
  const int64_t b_cols = tb == Trans::No ? n : k, b_rows = tb == Trans::No ? k : n;
  if (lda < std::max<int64_t>(1, a_cols))
    throw Error("gemm: lda=" + std::to_string(lda) + " is less than the " + std::to_string(a_cols) +
                " columns of A" + dims());
  if (ldb < std::max<int64_t>(1, b_cols))
    throw Error("gemm: ldb=" + std::to_string(ldb) + " is less than the " + std::to_string(b_cols) +
                " columns of B" + dims());
  if (ldc < std::max<int64_t>(1, n))
    throw Error("gemm: ldc=" + std::to_string(ldc) + " is less than the " + std::to_string(n) +
                " columns of C" + dims());
  if (a_rows > 0 && a_cols > 0 && !a) throw Error("gemm: A is null" + dims());
  if (b_rows > 0 && b_cols > 0 && !b) throw Error("gemm: B is null" + dims());
  if (m > 0 && n > 0 && !c) throw Error("gemm: C is null" + dims());
  if (ep.bias_kind != BiasKind::None && !ep.bias && m > 0 && n > 0)
    throw Error("gemm: the epilogue has a bias kind but a null bias pointer" + dims());
  check_activation(ep.act, "gemm epilogue");
  check_activation(ep.deriv, "gemm epilogue");
  if (!ep.act.is_none() && !ep.deriv.is_none())
    throw Error(std::string("gemm: the epilogue asks for both an activation (") + activation_name(ep.act) +
                ") and a derivative (" + activation_name(ep.deriv) + "); choose one" + dims());
  if (!ep.deriv.is_none() && m > 0 && n > 0) {
    if (!ep.d) throw Error("gemm: the derivative epilogue has a null D matrix" + dims());
    if (ep.ldd < n)
      throw Error("gemm: ldd=" + std::to_string(ep.ldd) + " is less than the " + std::to_string(n) +
                  " columns of D" + dims());
  }
}

}  // namespace

void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const Epilogue& ep) {
  validate(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, ep);
  detail::gemm_validated({ta == Trans::Yes, tb == Trans::Yes, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep});
}

void detail::gemm_validated(GemmArgs g) {
  const int64_t m = g.m, n = g.n, k = g.k;
  const float beta = g.beta;
  const Epilogue ep = g.ep;
  const Trans ta = g.ta ? Trans::Yes : Trans::No, tb = g.tb ? Trans::Yes : Trans::No;
  if (m == 0 || n == 0) return;
  const Isa isa = active_isa();
  const GemmConfig cfg = gemm_config(isa);
  const auto variants = detail::gemm_variants(isa);
  const detail::GemmVariant* v = &variants[0];
  // A single column (n == 1, contiguous) is computed as the single row
  // Cᵀ = op(B)ᵀ·op(A)ᵀ, which the one-row tiles run without padding (every
  // tile is at least NR wide). Each element is the same chain of FMAs over
  // the same KC blocks (a·b = b·a exactly), so the result is bitwise the
  // one the tiles give.
  if (n == 1 && m > 1 && g.ldc == 1 && !g.b_rows && !g.a_rows && (ep.deriv.is_none() || ep.ldd == 1)) {
    g = {!g.tb, !g.ta, 1, m, k, g.alpha, g.b, g.ldb, g.a, g.lda, beta, g.c, m, ep};
    if (ep.bias_kind == BiasKind::PerRow) g.ep.bias_kind = BiasKind::PerCol;
    else if (ep.bias_kind == BiasKind::PerCol) g.ep.bias_kind = BiasKind::PerRow;
    if (!ep.deriv.is_none()) g.ep.ldd = m;
  }
  if (cfg.auto_tile) {
    v = &detail::select_variant(variants, g.m, g.n, g.k, !detail::gemm_packs_a(cfg, g));
  } else {
    for (const auto& cand : variants)
      if (cand.mr == cfg.mr && cand.nr == cfg.nr) v = &cand;
  }
  const trace::KernelScope scope([&] {
    const bool pack_a = detail::gemm_packs_a(cfg, g);
    const double fm = static_cast<double>(m), fn = static_cast<double>(n), fk = static_cast<double>(k);
    std::string shape = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
    // The call as made (g may be the transposed single row).
    const bool yes_a = ta == Trans::Yes, yes_b = tb == Trans::Yes;
    if (yes_a || yes_b) shape += std::string(":") + (yes_a ? "t" : "n") + (yes_b ? "t" : "n");
    const double c_traffic = (beta != 0.f ? 2 : 1) + (ep.deriv.is_none() ? 0 : 1);
    return trace::Call{detail::gemm_variant_name(*v, pack_a, ep), std::move(shape), 2 * fm * fn * fk,
                       4 * (fm * fk + fk * fn + c_traffic * fm * fn)};
  });
  detail::gemm_run(*v, cfg, g);
}

}  // namespace nabla::kernels
