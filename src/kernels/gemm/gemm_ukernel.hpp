#pragma once
// The GEMM micro-kernel, packing routines and the Goto/BLIS loop nest over
// one chunk of C, written once as templates over <xsimd arch, MR, NR>.
// Included only by gemm_<isa>.cpp, each compiled with only its ISA's flags;
// everything sits in an anonymous namespace so no ISA-specific copy leaks
// into another translation unit through the linker.
//
// Data layouts (row-major throughout; op(A) is m×k, op(B) k×n):
//   packed A block:  ceil(mb/MR) micro-panels, each kc×MR:  ap[p*MR + i]
//                    rows past the edge are zero
//   packed B block:  ceil(nb/NR) micro-panels, each kc×NR:  bp[p*NR + j]
//                    columns past the edge are zero
//
// Loop levels of one chunk C[m0:m1, n0:n1] (threads split chunks in the
// driver; nothing inside a chunk is parallel, and K is never split across
// threads, so results do not depend on the thread count):
//   jc: NC columns of B           pack B (kc × nc)  -> L3/L2
//    pc: k in equal blocks ≤ KC
//     ic: MC rows of A            pack A (mc × kc)  -> L2
//      jr: NR columns             B micro-panel kc×NR stays in L1
//       ir: MR rows               micro-kernel: MR×NR accumulators in registers
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "kernels/activation/activation_math.hpp"
#include "kernels/gemm/gemm_internal.hpp"

namespace nabla::kernels::detail {
namespace {

// Every loop over the tile (i < MR, v < NV) has a constant trip count and is
// fully unrolled, so the accumulators live in registers.
#define NABLA_UNROLL _Pragma("GCC unroll 64")

/// Where a finished tile goes and what happens to it on the way.
struct TileOut {
  float* c;             // C at the tile's top-left
  int64_t ldc;
  float alpha, beta;    // beta == 0: C is not read
  bool epilogue;        // last k block: apply bias / activation / derivative
  BiasKind bias_kind;
  const float* bias;    // at the tile's first row (PerRow) or column (PerCol)
  Activation act, deriv;
  const float* d;       // derivative source at the tile's top-left
  int64_t ldd;
};

// Applies alpha/beta and the epilogue to the accumulators, storing to out.c.
// Requires a full MR×NR tile in memory at out.c/out.d/out.bias.
template <class Arch, int MR, int NR>
inline __attribute__((always_inline)) void store_tile(
    xsimd::batch<float, Arch> (&acc)[MR][NR / xsimd::batch<float, Arch>::size], const TileOut& out) {
  using B = xsimd::batch<float, Arch>;
  constexpr int W = B::size;
  constexpr int NV = NR / W;
  const B alpha(out.alpha), beta(out.beta);
  const bool read_c = out.beta != 0.f;
  NABLA_UNROLL for (int i = 0; i < MR; ++i) {
    float* crow = out.c + i * out.ldc;
    NABLA_UNROLL for (int v = 0; v < NV; ++v) {
      B x = acc[i][v] * alpha;
      if (read_c) x = xsimd::fma(beta, B::load_unaligned(crow + v * W), x);
      acc[i][v] = x;
    }
  }
  if (out.epilogue) {
    if (out.bias_kind == BiasKind::PerRow) {
      NABLA_UNROLL for (int i = 0; i < MR; ++i) {
        const B bi(out.bias[i]);
        NABLA_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] += bi; }
      }
    } else if (out.bias_kind == BiasKind::PerCol) {
      NABLA_UNROLL for (int v = 0; v < NV; ++v) {
        const B bv = B::load_unaligned(out.bias + v * W);
        NABLA_UNROLL for (int i = 0; i < MR; ++i) { acc[i][v] += bv; }
      }
    }
    if (out.act != Activation::None) {
      const Activation f = out.act;
      NABLA_UNROLL for (int i = 0; i < MR; ++i) {
        NABLA_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = activation_fwd(f, acc[i][v]); }
      }
    }
    if (out.deriv != Activation::None) {
      const Activation f = out.deriv;
      NABLA_UNROLL for (int i = 0; i < MR; ++i) {
        const float* drow = out.d + i * out.ldd;
        NABLA_UNROLL for (int v = 0; v < NV; ++v) {
          acc[i][v] = activation_bwd_use_dst(f, acc[i][v], B::load_unaligned(drow + v * W));
        }
      }
    }
  }
  NABLA_UNROLL for (int i = 0; i < MR; ++i) {
    float* crow = out.c + i * out.ldc;
    NABLA_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v].store_unaligned(crow + v * W); }
  }
}

// The micro-kernel: acc[MR][NR] = Σ_p A[i, p] · B[p, j] over kc, then stored
// through the epilogue. A is either packed (a[p*MR + i]) or read in place
// (a[i*rs_a + p*cs_a]); B is always a packed panel (b[p*NR + j], aligned).
// Edge tiles (mv < MR or nv < NR) go through a small temporary tile, so the
// hot loop is the same for every tile (BLIS's GEMM_UKR_SETUP_CT_ANY idea).
template <class Arch, int MR, int NR, bool kPackedA>
void micro_kernel(int64_t kc, const float* __restrict a, int64_t rs_a, int64_t cs_a,
                  const float* __restrict b, int mv, int nv, const TileOut& out) {
  using B = xsimd::batch<float, Arch>;
  constexpr int W = B::size;
  static_assert(NR % W == 0, "NR must be a multiple of the vector width");
  constexpr int NV = NR / W;
  B acc[MR][NV];
  NABLA_UNROLL for (int i = 0; i < MR; ++i) { NABLA_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = B(0.f); } }

  if constexpr (kPackedA) {
    for (int64_t p = 0; p < kc; ++p) {
      B bv[NV];
      NABLA_UNROLL for (int v = 0; v < NV; ++v) { bv[v] = B::load_aligned(b + p * NR + v * W); }
      NABLA_UNROLL for (int i = 0; i < MR; ++i) {
        const B ai(a[p * MR + i]);
        NABLA_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = xsimd::fma(ai, bv[v], acc[i][v]); }
      }
    }
  } else {
    for (int64_t p = 0; p < kc; ++p) {
      B bv[NV];
      NABLA_UNROLL for (int v = 0; v < NV; ++v) { bv[v] = B::load_aligned(b + p * NR + v * W); }
      const float* ap = a + p * cs_a;
      NABLA_UNROLL for (int i = 0; i < MR; ++i) {
        const B ai(ap[i * rs_a]);
        NABLA_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = xsimd::fma(ai, bv[v], acc[i][v]); }
      }
    }
  }

  if (mv == MR && nv == NR) {
    store_tile<Arch, MR, NR>(acc, out);
    return;
  }
  // Edge tile: stage C (if read), D and the bias in full-size temporaries.
  alignas(64) float ct[MR * NR];
  alignas(64) float dt[MR * NR];
  alignas(64) float bt[MR > NR ? MR : NR];
  TileOut t = out;
  t.c = ct;
  t.ldc = NR;
  if (out.beta != 0.f) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) ct[i * NR + j] = (i < mv && j < nv) ? out.c[i * out.ldc + j] : 0.f;
  }
  if (out.epilogue && out.deriv != Activation::None) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) dt[i * NR + j] = (i < mv && j < nv) ? out.d[i * out.ldd + j] : 0.f;
    t.d = dt;
    t.ldd = NR;
  }
  if (out.epilogue && out.bias_kind != BiasKind::None) {
    const int len = out.bias_kind == BiasKind::PerRow ? mv : nv;
    for (int i = 0; i < (MR > NR ? MR : NR); ++i) bt[i] = i < len ? out.bias[i] : 0.f;
    t.bias = bt;
  }
  store_tile<Arch, MR, NR>(acc, t);
  for (int i = 0; i < mv; ++i)
    for (int j = 0; j < nv; ++j) out.c[i * out.ldc + j] = ct[i * NR + j];
}

// Packs op(A)[i0:i0+mb, p0:p0+kc] into MR-row micro-panels (zero-padded).
template <int MR>
void pack_a(const GemmArgs& g, int64_t i0, int64_t mb, int64_t p0, int64_t kc, float* __restrict dst) {
  for (int64_t ir = 0; ir < mb; ir += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, mb - ir));
    float* panel = dst + ir * kc;
    if (g.ta) {
      // op(A)[i, p] = a[p*lda + i]: each p is a contiguous run of rows.
      const float* src = g.a + p0 * g.lda + (i0 + ir);
      for (int64_t p = 0; p < kc; ++p) {
        const float* s = src + p * g.lda;
        float* d = panel + p * MR;
        for (int i = 0; i < rows; ++i) d[i] = s[i];
        for (int i = rows; i < MR; ++i) d[i] = 0.f;
      }
    } else {
      // op(A)[i, p] = a[i*lda + p]: transpose MR rows into the panel.
      for (int i = 0; i < rows; ++i) {
        const float* s = g.a + (i0 + ir + i) * g.lda + p0;
        for (int64_t p = 0; p < kc; ++p) panel[p * MR + i] = s[p];
      }
      for (int i = rows; i < MR; ++i)
        for (int64_t p = 0; p < kc; ++p) panel[p * MR + i] = 0.f;
    }
  }
}

// Packs op(B)[p0:p0+kc, j0:j0+nb] into NR-column micro-panels (zero-padded).
template <class Arch, int NR>
void pack_b(const GemmArgs& g, int64_t p0, int64_t kc, int64_t j0, int64_t nb, float* __restrict dst) {
  using B = xsimd::batch<float, Arch>;
  constexpr int W = B::size;
  for (int64_t jr = 0; jr < nb; jr += NR) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, nb - jr));
    float* panel = dst + jr * kc;
    if (!g.tb) {
      // op(B)[p, j] = b[p*ldb + j]: rows are contiguous.
      const float* src = g.b + p0 * g.ldb + (j0 + jr);
      if (cols == NR) {
        for (int64_t p = 0; p < kc; ++p) {
          const float* s = src + p * g.ldb;
          NABLA_UNROLL for (int v = 0; v < NR / W; ++v) { B::load_unaligned(s + v * W).store_aligned(panel + p * NR + v * W); }
        }
      } else {
        for (int64_t p = 0; p < kc; ++p) {
          const float* s = src + p * g.ldb;
          float* d = panel + p * NR;
          for (int j = 0; j < cols; ++j) d[j] = s[j];
          for (int j = cols; j < NR; ++j) d[j] = 0.f;
        }
      }
    } else {
      // op(B)[p, j] = b[j*ldb + p]: transpose NR rows of b into the panel.
      for (int j = 0; j < cols; ++j) {
        const float* s = g.b + (j0 + jr + j) * g.ldb + p0;
        for (int64_t p = 0; p < kc; ++p) panel[p * NR + j] = s[p];
      }
      for (int j = cols; j < NR; ++j)
        for (int64_t p = 0; p < kc; ++p) panel[p * NR + j] = 0.f;
    }
  }
}

// The loop nest over one chunk of C (see the top of this file).
template <class Arch, int MR, int NR>
void gemm_chunk(const GemmArgs& g, const GemmBlocking& blk, int64_t m0, int64_t m1, int64_t n0,
                int64_t n1, float* a_buf, float* b_buf) {
  // k is cut into nk equal blocks of at most kc; with alpha == 0 or k == 0
  // there is one empty block, so beta and the epilogue still apply.
  const int64_t k = g.alpha == 0.f ? 0 : g.k;
  const int64_t nk = k == 0 ? 1 : (k + blk.kc - 1) / blk.kc;
  const int64_t kstep = k == 0 ? 0 : (k + nk - 1) / nk;

  for (int64_t jc = n0; jc < n1; jc += blk.nc) {  // jc: may be split across threads (driver)
    const int64_t nb = std::min(blk.nc, n1 - jc);
    for (int64_t kb = 0; kb < nk; ++kb) {  // pc: never split
      const int64_t p0 = kb * kstep;
      const int64_t kc = std::min(kstep, k - p0);
      if (kc > 0) pack_b<Arch, NR>(g, p0, kc, jc, nb, b_buf);
      TileOut out{};
      out.ldc = g.ldc;
      out.alpha = g.alpha;
      out.beta = kb == 0 ? g.beta : 1.f;
      out.epilogue = kb == nk - 1;
      out.bias_kind = g.ep.bias_kind;
      out.act = g.ep.act;
      out.deriv = g.ep.deriv;
      out.ldd = g.ep.ldd;

      for (int64_t ic = m0; ic < m1; ic += blk.mc) {  // ic: may be split across threads (driver)
        const int64_t mb = std::min(blk.mc, m1 - ic);
        if (blk.pack_a && kc > 0) pack_a<MR>(g, ic, mb, p0, kc, a_buf);
        for (int64_t jr = 0; jr < nb; jr += NR) {  // jr
          const int nv = static_cast<int>(std::min<int64_t>(NR, nb - jr));
          const float* bp = b_buf + jr * kc;
          for (int64_t ir = 0; ir < mb; ir += MR) {  // ir
            const int mv = static_cast<int>(std::min<int64_t>(MR, mb - ir));
            const int64_t i = ic + ir, j = jc + jr;
            out.c = g.c + i * g.ldc + j;
            if (g.ep.bias_kind == BiasKind::PerRow) out.bias = g.ep.bias + i;
            if (g.ep.bias_kind == BiasKind::PerCol) out.bias = g.ep.bias + j;
            if (g.ep.deriv != Activation::None) out.d = g.ep.d + i * g.ep.ldd + j;
            if (blk.pack_a || kc == 0) {
              micro_kernel<Arch, MR, NR, true>(kc, a_buf + ir * kc, MR, 1, bp, mv, nv, out);
            } else if (mv == MR) {
              // Small-problem path: full row tiles read A in place.
              const float* ap = g.ta ? g.a + p0 * g.lda + i : g.a + i * g.lda + p0;
              micro_kernel<Arch, MR, NR, false>(kc, ap, g.ta ? 1 : g.lda, g.ta ? g.lda : 1, bp, mv,
                                                nv, out);
            } else {
              // The last partial row tile: pack just that sliver.
              pack_a<MR>(g, i, mv, p0, kc, a_buf);
              micro_kernel<Arch, MR, NR, true>(kc, a_buf, MR, 1, bp, mv, nv, out);
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace nabla::kernels::detail

// Declares one variant; used in the variant lists of gemm_<isa>.cpp.
#define NABLA_GEMM_VARIANT(ARCH, ISA, ISA_NAME, MR, NR)                                      \
  ::nabla::kernels::detail::GemmVariant {                                                    \
    "f32_gemm_" #MR "x" #NR "_" ISA_NAME, ISA, MR, NR,                                       \
        &::nabla::kernels::detail::gemm_chunk<ARCH, MR, NR>                                  \
  }
