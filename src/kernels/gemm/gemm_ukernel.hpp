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
//   in place:        A read as a[i*rs_a + p*cs_a] (either transpose), B as
//                    b[p*ldb + j] (not transposed only), for full tiles;
//                    an indirect B (GemmArgs::b_rows) as b[b_rows[p] + j],
//                    an indirect A (a_rows) as a[a_rows[i] + p]
//
// Loop levels of one chunk C[m0:m1, n0:n1] (threads split chunks in the
// driver; nothing inside a chunk is parallel, and K is never split across
// threads, so results do not depend on the thread count):
//   jc: NC columns of B
//    pc: k in equal blocks ≤ KC
//     ic: MC rows of A            pack A (mc × kc)  -> L2
//      jr: NR columns             pack B micro-panel (kc × NR) on first use -> L1
//       ir: MR rows               micro-kernel: MR×NR accumulators in registers
// B is packed one micro-panel at a time, the first time the ic loop reaches
// it, so packing interleaves with the compute that uses it instead of
// streaming a whole block through the caches first.
#include <xsimd/xsimd.hpp>

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/activation/activation_math.hpp"
#include "kernels/common/fma.hpp"
#include "kernels/common/tail.hpp"
#include "kernels/gemm/gemm_internal.hpp"

namespace nabla::kernels::detail {
namespace {

// Every loop over the tile (i < MR, v < NV) has a constant trip count and is
// fully unrolled (NABLA_UNROLL, common/fma.hpp), so the accumulators live in
// registers.

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

// Lanes of vector v that lie inside a tile nv columns wide (0..W).
template <int W>
inline int lanes(int nv, int v) {
  return std::clamp(nv - v * W, 0, W);
}

// Runs f over the mv×nv tile at c (in L1: it was just stored), one vector
// at a time; the last vector of a row is partial when nv is not a multiple
// of W. Not inlined: one copy of each activation per ISA, instead of
// MR×NR/W inlined copies of exp/tanh in every micro-kernel.
template <class Arch, class F>
__attribute__((noinline)) void map_tile(float* c, int64_t ldc, int mv, int nv, F f) {
  using B = xsimd::batch<float, Arch>;
  constexpr int W = B::size;
  for (int i = 0; i < mv; ++i) {
    float* row = c + i * ldc;
    int j = 0;
    for (; j + W <= nv; j += W) f(B::load_unaligned(row + j)).store_unaligned(row + j);
    if (j < nv) Tail<Arch>::store(row + j, nv - j, f(Tail<Arch>::load(row + j, nv - j)));
  }
}

// C ⊙ f'(D) over the mv×nv tile at c, D at d; see map_tile.
template <class Arch, class F>
__attribute__((noinline)) void map_tile_with(float* c, int64_t ldc, const float* d, int64_t ldd, int mv, int nv,
                                             F f) {
  using B = xsimd::batch<float, Arch>;
  using P = Tail<Arch>;
  constexpr int W = B::size;
  for (int i = 0; i < mv; ++i) {
    float* row = c + i * ldc;
    const float* drow = d + i * ldd;
    int j = 0;
    for (; j + W <= nv; j += W) f(B::load_unaligned(row + j), B::load_unaligned(drow + j)).store_unaligned(row + j);
    if (j < nv) P::store(row + j, nv - j, f(P::load(row + j, nv - j), P::load(drow + j, nv - j)));
  }
}

// The epilogue's activation or derivative on a stored tile (see map_tile).
template <class Arch>
void activate_tile(const TileOut& out, int mv, int nv) {
  using B = xsimd::batch<float, Arch>;
  if (!out.act.is_none())
    with_activation(out.act, [&](auto op) { map_tile<Arch>(out.c, out.ldc, mv, nv, [op](B x) { return op.fwd(x); }); });
  if (!out.deriv.is_none())
    with_activation(out.deriv, [&](auto op) {
      map_tile_with<Arch>(out.c, out.ldc, out.d, out.ldd, mv, nv, [op](B g, B a) { return op.bwd(g, a); });
    });
}

// Applies alpha/beta and the bias to the accumulators in registers and
// stores the mv×nv corner of the tile to out.c; on the last k block the
// activation (or derivative) then runs over the stored tile while it is in
// L1 (activate_tile). kFull: the whole MR×NR tile is inside C.
template <class Arch, int MR, int NR, bool kFull>
inline __attribute__((always_inline)) void store_tile(
    xsimd::batch<float, Arch> (&acc)[MR][NR / (xsimd::batch<float, Arch>::size)], int mv, int nv,
    const TileOut& out) {
  using B = xsimd::batch<float, Arch>;
  using P = Tail<Arch>;
  constexpr int W = B::size;
  constexpr int NV = NR / W;
  // Loads the first lanes of row data, or nothing past the tile's edge.
  auto load = [&](const float* p, int v) -> B {
    if constexpr (kFull) return B::load_unaligned(p + v * W);
    const int n = lanes<W>(nv, v);
    return n == W ? B::load_unaligned(p + v * W) : n > 0 ? P::load(p + v * W, n) : B(0.f);
  };
  const B alpha(out.alpha), beta(out.beta);
  const bool read_c = out.beta != 0.f;
  NABLA_UNROLL for (int i = 0; i < MR; ++i) {
    if (!kFull && i >= mv) break;
    const float* crow = out.c + i * out.ldc;
    NABLA_UNROLL for (int v = 0; v < NV; ++v) {
      B x = acc[i][v] * alpha;
      if (read_c) x = fmadd<Arch>(beta, load(crow, v), x);
      acc[i][v] = x;
    }
  }
  if (out.epilogue) {
    if (out.bias_kind == BiasKind::PerRow) {
      NABLA_UNROLL for (int i = 0; i < MR; ++i) {
        if (!kFull && i >= mv) break;
        const B bi(out.bias[i]);
        NABLA_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] += bi; }
      }
    } else if (out.bias_kind == BiasKind::PerCol) {
      NABLA_UNROLL for (int v = 0; v < NV; ++v) {
        const B bv = load(out.bias, v);
        NABLA_UNROLL for (int i = 0; i < MR; ++i) { acc[i][v] += bv; }
      }
    }
  }
  // ReLU (one max) and its derivative (one compare and blend with D) are
  // applied in registers; the other activations and derivatives run over
  // the stored tile (activate_tile), keeping their code out of the
  // micro-kernels.
  const bool relu = out.epilogue && out.act == ActKind::ReLU;
  const bool drelu = out.epilogue && out.deriv == ActKind::ReLU;
  NABLA_UNROLL for (int i = 0; i < MR; ++i) {
    if (!kFull && i >= mv) break;
    float* crow = out.c + i * out.ldc;
    NABLA_UNROLL for (int v = 0; v < NV; ++v) {
      if (relu) acc[i][v] = relu_fwd(acc[i][v]);
      if (drelu) acc[i][v] = relu_bwd_use_dst(acc[i][v], load(out.d + i * out.ldd, v));
      if constexpr (kFull) {
        acc[i][v].store_unaligned(crow + v * W);
      } else {
        const int n = lanes<W>(nv, v);
        if (n == W) acc[i][v].store_unaligned(crow + v * W);
        else if (n > 0) P::store(crow + v * W, n, acc[i][v]);
      }
    }
  }
  if (out.epilogue && ((!out.act.is_none() && !relu) || (!out.deriv.is_none() && !drelu)))
    activate_tile<Arch>(out, mv, nv);
}

// The micro-kernel: acc[MR][NR] = Σ_p A[i, p] · B[p, j] over kc, then stored
// through the epilogue. A is packed (a[p*MR + i]) or read in place
// (a[i*rs_a + p*cs_a]); B is a packed, aligned panel (b[p*NR + j]) or read in
// place (b[p*rs_b + j], or b[b_off[p] + j] when kIndirectB). In-place
// operands need a full tile (mv == MR for A, nv == NR for B); edge tiles come
// packed (zero-padded), so the hot loop is the same for every tile and only
// the stores are masked.
// An indirect A (kIndirectA, in place) reads row i at a + a_off[i].
template <class Arch, int MR, int NR, bool kPackedA, bool kPackedB, bool kIndirectB = false, bool kIndirectA = false>
void micro_kernel(int64_t kc, const float* __restrict a, int64_t rs_a, int64_t cs_a,
                  const float* __restrict b, int64_t rs_b, const int64_t* __restrict b_off, int mv, int nv,
                  const TileOut& out, const int64_t* __restrict a_off = nullptr) {
  static_assert(!(kIndirectB && kPackedB), "an indirect B is read in place");
  static_assert(!(kIndirectA && kPackedA), "an indirect A is read in place");
  using B = xsimd::batch<float, Arch>;
  constexpr int W = B::size;
  static_assert(NR % W == 0, "NR must be a multiple of the vector width");
  constexpr int NV = NR / W;
  if constexpr (kPackedA) {
    rs_a = 1;
    cs_a = MR;
  }
  // Start fetching the C tile now: it is needed only after the k loop.
  NABLA_UNROLL for (int i = 0; i < MR; ++i) {
    if (i < mv) {
      NABLA_UNROLL for (int l = 0; l < NR; l += 16) { __builtin_prefetch(out.c + i * out.ldc + l, 1); }
    }
  }
  B acc[MR][NV];
  NABLA_UNROLL for (int i = 0; i < MR; ++i) { NABLA_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = B(0.f); } }
  const float* arow[MR];
  if constexpr (kIndirectA) {
    NABLA_UNROLL for (int i = 0; i < MR; ++i) arow[i] = a + a_off[i];
  }

  for (int64_t p = 0; p < kc; ++p) {
    B bv[NV];
    const float* brow = kIndirectB ? b + b_off[p] : b + p * rs_b;
    NABLA_UNROLL for (int v = 0; v < NV; ++v) {
      bv[v] = kPackedB ? B::load_aligned(brow + v * W) : B::load_unaligned(brow + v * W);
    }
    const float* ap = a + p * cs_a;
    NABLA_UNROLL for (int i = 0; i < MR; ++i) {
      const B ai(kIndirectA ? arow[i][p] : ap[i * rs_a]);
      NABLA_UNROLL for (int v = 0; v < NV; ++v) { acc[i][v] = fmadd<Arch>(ai, bv[v], acc[i][v]); }
    }
  }

  if (mv == MR && nv == NR) store_tile<Arch, MR, NR, true>(acc, mv, nv, out);
  else store_tile<Arch, MR, NR, false>(acc, mv, nv, out);
}

// Copies a block of `rows` source rows (row r at src[r]) × `cols` columns
// to dst transposed: dst[c*ldd + r] = src[r][c]; dst rows are `width` wide
// (r ≥ rows is written as 0 up to width). The packing of a transposed
// operand is this; on AVX2/AVX-512 it runs 8×8 blocks in registers.
inline void transpose_scalar(const float* const* src, int rows, int64_t cols, float* __restrict dst, int64_t ldd,
                             int width) {
  for (int r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r][c];
  for (int r = rows; r < width; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = 0.f;
}

#ifdef __AVX2__
// 8×8 in registers: rows ≥ rows are zero; each output row stores `width`
// (≤ 8) floats.
inline void transpose_8x8(const float* const* src, int64_t c0, int rows, float* __restrict dst, int64_t ldd,
                          int width) {
  __m256 r[8];
  NABLA_UNROLL for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src[i] + c0) : _mm256_setzero_ps();
  __m256 t[8], u[8];
  NABLA_UNROLL for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  NABLA_UNROLL for (int h = 0; h < 8; h += 4) {
    u[h + 0] = _mm256_shuffle_ps(t[h + 0], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[h + 1] = _mm256_shuffle_ps(t[h + 0], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  __m256 o[8];
  NABLA_UNROLL for (int c = 0; c < 4; ++c) {
    o[c] = _mm256_permute2f128_ps(u[c], u[c + 4], 0x20);
    o[c + 4] = _mm256_permute2f128_ps(u[c], u[c + 4], 0x31);
  }
  if (width == 8) {
    NABLA_UNROLL for (int c = 0; c < 8; ++c) _mm256_storeu_ps(dst + c * ldd, o[c]);
  } else {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    NABLA_UNROLL for (int c = 0; c < 8; ++c) _mm256_maskstore_ps(dst + c * ldd, m, o[c]);
  }
}
#endif

// dst[c*ldd + r] = row(r)[c] for r < rows, c < cols; 0 for rows ≤ r < width
// (≤ 64). row(r) is the start of source row r: src + r·lds, or an
// indirect operand's row.
template <class Row>
inline void transpose_pack(Row row, int rows, int64_t cols, float* __restrict dst, int64_t ldd, int width) {
  const float* src[64];
  for (int r = 0; r < rows; ++r) src[r] = row(r);
#ifdef __AVX2__
  for (int r0 = 0; r0 < width; r0 += 8) {
    const int w = std::min(8, width - r0), nr = std::clamp(rows - r0, 0, w);
    int64_t c0 = 0;
    for (; c0 + 8 <= cols; c0 += 8) transpose_8x8(src + r0, c0, nr, dst + c0 * ldd + r0, ldd, w);
    if (c0 < cols) {
      const float* rest[8];
      for (int r = 0; r < nr; ++r) rest[r] = src[r0 + r] + c0;
      transpose_scalar(rest, nr, cols - c0, dst + c0 * ldd + r0, ldd, w);
    }
  }
#else
  transpose_scalar(src, rows, cols, dst, ldd, width);
#endif
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
      // op(A)[i, p] = a[i*lda + p] (or a[a_rows[i] + p]): transpose MR rows into the panel.
      const int64_t i1 = i0 + ir;
      transpose_pack([&](int r) { return g.a_rows ? g.a + g.a_rows[i1 + r] + p0 : g.a + (i1 + r) * g.lda + p0; },
                     rows, kc, panel, MR, MR);
    }
  }
}

// Packs one micro-panel op(B)[p0:p0+kc, j0:j0+cols] (cols ≤ NR) as kc×NR,
// zero-padded past cols.
template <class Arch, int NR>
void pack_b_panel(const GemmArgs& g, int64_t p0, int64_t kc, int64_t j0, int cols, float* __restrict panel) {
  using B = xsimd::batch<float, Arch>;
  constexpr int W = B::size;
  if (!g.tb) {
    // op(B)[p, j] = b[p*ldb + j] (or b[b_rows[p] + j]): rows are contiguous.
    const float* src = g.b + p0 * g.ldb + j0;
    auto row = [&](int64_t p) { return g.b_rows ? g.b + g.b_rows[p0 + p] + j0 : src + p * g.ldb; };
    if (cols == NR) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* s = row(p);
        NABLA_UNROLL for (int v = 0; v < NR / W; ++v) {
          B::load_unaligned(s + v * W).store_aligned(panel + p * NR + v * W);
        }
      }
    } else {
      // Edge panel: partial (masked) loads, zero-filled full stores.
      for (int64_t p = 0; p < kc; ++p) {
        const float* s = row(p);
        NABLA_UNROLL for (int v = 0; v < NR / W; ++v) {
          const int n = lanes<W>(cols, v);
          const B x = n == W ? B::load_unaligned(s + v * W) : n > 0 ? Tail<Arch>::load(s + v * W, n) : B(0.f);
          x.store_aligned(panel + p * NR + v * W);
        }
      }
    }
  } else {
    // op(B)[p, j] = b[j*ldb + p] (or b[b_rows[j] + p]): transpose NR rows of b into the panel.
    transpose_pack([&](int r) { return g.b_rows ? g.b + g.b_rows[j0 + r] + p0 : g.b + (j0 + r) * g.ldb + p0; },
                   cols, kc, panel, NR, NR);
  }
}

// Prefetches (to L2) part of the source of micro-panel op(B)[p0:p0+kc,
// j0:j0+cols]: rows p0+u0..p0+u1 of B, or, transposed, rows j0+u0..j0+u1.
// Inline asm, not __builtin_prefetch: GCC 12 deletes loops whose only
// effect is a builtin prefetch (they have "no side effects").
inline void prefetch_l2(const float* p) { __asm__ volatile("prefetcht1 %0" : : "m"(*p)); }

inline void prefetch_b_panel(const GemmArgs& g, int64_t p0, int64_t kc, int64_t j0, int64_t cols, int64_t u0,
                             int64_t u1) {
  constexpr int kLine = 16;  // floats per 64-byte line
  if (!g.tb) {
    for (int64_t p = u0; p < u1; ++p)
      for (int64_t jj = 0; jj < cols; jj += kLine) prefetch_l2(g.b + (p0 + p) * g.ldb + j0 + jj);
  } else {
    for (int64_t jj = u0; jj < u1; ++jj)
      for (int64_t p = 0; p < kc; p += kLine) prefetch_l2(g.b + (j0 + jj) * g.ldb + p0 + p);
  }
}

// The loop nest over one chunk of C (see the top of this file).
// Calls f(std::integral_constant<int, N>) with N the narrowest multiple of
// the vector width that covers nv columns (N ≤ NR): the last, partial column
// panel of a GEMM runs a tile only as wide as it needs instead of the full
// NR over padding (N = 196 on 32-wide tiles computed 224 columns). Each
// element is the same chain of FMAs whatever the tile width, so the result
// is bitwise the same.
template <class Arch, int NR, class F>
inline __attribute__((always_inline)) void with_panel_width(int nv, F&& f) {
  constexpr int W = xsimd::batch<float, Arch>::size;
  if constexpr (NR > W) {
    if (nv <= NR - W) return with_panel_width<Arch, NR - W>(nv, f);
  }
  f(std::integral_constant<int, NR>{});
}

template <class Arch, int MR, int NR>
void gemm_chunk(const GemmArgs& g, const GemmBlocking& blk, int64_t m0, int64_t m1, int64_t n0,
                int64_t n1, float* a_buf, float* b_buf) {
  // k is cut into nk equal blocks of at most kc; with alpha == 0 or k == 0
  // there is one empty block, so beta and the epilogue still apply.
  const int64_t k = g.alpha == 0.f ? 0 : g.k;
  const int64_t nk = k == 0 ? 1 : (k + blk.kc - 1) / blk.kc;
  const int64_t kstep = k == 0 ? 0 : (k + nk - 1) / nk;
  const int64_t rs_a = g.ta ? 1 : g.lda, cs_a = g.ta ? g.lda : 1;

  for (int64_t jc = n0; jc < n1; jc += blk.nc) {  // jc: may be split across threads (driver)
    const int64_t nb = std::min(blk.nc, n1 - jc);
    for (int64_t kb = 0; kb < nk; ++kb) {  // pc: never split
      const int64_t p0 = kb * kstep;
      const int64_t kc = std::min(kstep, k - p0);
      TileOut out{};
      out.ldc = g.ldc;
      out.alpha = g.alpha;
      out.beta = kb == 0 ? g.beta : 1.f;
      out.epilogue = kb == nk - 1;
      out.bias_kind = g.ep.bias_kind;
      out.act = g.ep.act;
      out.deriv = g.ep.deriv;
      out.ldd = g.ep.ldd;

      const bool single_ic = m1 - m0 <= blk.mc;
      for (int64_t ic = m0; ic < m1; ic += blk.mc) {  // ic: may be split across threads (driver)
        const int64_t mb = std::min(blk.mc, m1 - ic);
        if (blk.pack_a && kc > 0) pack_a<MR>(g, ic, mb, p0, kc, a_buf);
        for (int64_t jr = 0; jr < nb; jr += NR) {  // jr
          const int nv = static_cast<int>(std::min<int64_t>(NR, nb - jr));
          const int64_t j = jc + jr;
          // B in place only for full panels of an untransposed B.
          const bool b_in_place = !blk.pack_b && !g.tb && nv == NR && kc > 0;
          // With a single ic block each packed panel is used right away and
          // never again: reuse one L1-hot panel instead of filling (and
          // missing on) a block-sized buffer.
          float* bp = single_ic ? b_buf : b_buf + jr * kc;
          if (!b_in_place && ic == m0 && kc > 0) pack_b_panel<Arch, NR>(g, p0, kc, j, nv, bp);
          const bool indirect_b = g.b_rows != nullptr;
          const float* b_src = !b_in_place ? bp : indirect_b ? g.b + j : g.b + p0 * g.ldb + j;
          const int64_t* b_off = indirect_b ? g.b_rows + p0 : nullptr;
          // While this panel's tiles compute, fetch the next panel's source
          // (it comes from memory, strided: the prefetchers alone leave the
          // packing waiting on misses), a slice before each tile. An
          // indirect B is a small padded image, already in the caches.
          const bool fetch_next = (ic == m0 || b_in_place) && jr + NR < nb && kc > 0 && !indirect_b;
          const int64_t next_cols = std::min<int64_t>(NR, nb - jr - NR);
          const int64_t units = g.tb ? next_cols : kc, tiles = (mb + MR - 1) / MR;
          for (int64_t ir = 0; ir < mb; ir += MR) {  // ir
            const int mv = static_cast<int>(std::min<int64_t>(MR, mb - ir));
            const int64_t i = ic + ir;
            if (fetch_next) {
              const int64_t t = ir / MR;
              prefetch_b_panel(g, p0, kc, j + NR, next_cols, units * t / tiles, units * (t + 1) / tiles);
            }
            out.c = g.c + i * g.ldc + j;
            if (g.ep.bias_kind == BiasKind::PerRow) out.bias = g.ep.bias + i;
            if (g.ep.bias_kind == BiasKind::PerCol) out.bias = g.ep.bias + j;
            if (!g.ep.deriv.is_none()) out.d = g.ep.d + i * g.ep.ldd + j;
            // A in place (small problems) only for full row tiles; the last
            // partial tile is packed on its own.
            const bool a_in_place = !blk.pack_a && mv == MR && kc > 0;
            const float* a_src = a_buf + ir * kc;
            // A packed B panel is NR wide whatever the kernel's width (rs_b = NR).
            if (a_in_place && g.a_rows) {  // the driver packs B for an indirect A
              with_panel_width<Arch, NR>(nv, [&](auto w) {
                micro_kernel<Arch, MR, decltype(w)::value, false, true, false, true>(kc, g.a + p0, 0, 0, b_src, NR,
                                                                                     nullptr, mv, nv, out,
                                                                                     g.a_rows + i);
              });
              continue;
            }
            if (a_in_place) {
              a_src = g.ta ? g.a + p0 * g.lda + i : g.a + i * g.lda + p0;
            } else if (!blk.pack_a && kc > 0) {
              pack_a<MR>(g, i, mv, p0, kc, a_buf);
              a_src = a_buf;
            }
            if (a_in_place && b_in_place && indirect_b)
              micro_kernel<Arch, MR, NR, false, false, true>(kc, a_src, rs_a, cs_a, b_src, 0, b_off, mv, nv, out);
            else if (a_in_place && b_in_place)
              micro_kernel<Arch, MR, NR, false, false>(kc, a_src, rs_a, cs_a, b_src, g.ldb, nullptr, mv, nv, out);
            else if (a_in_place)
              with_panel_width<Arch, NR>(nv, [&](auto w) {
                micro_kernel<Arch, MR, decltype(w)::value, false, true>(kc, a_src, rs_a, cs_a, b_src, NR, nullptr, mv,
                                                                        nv, out);
              });
            else if (b_in_place && indirect_b)
              micro_kernel<Arch, MR, NR, true, false, true>(kc, a_src, 1, MR, b_src, 0, b_off, mv, nv, out);
            else if (b_in_place)
              micro_kernel<Arch, MR, NR, true, false>(kc, a_src, 1, MR, b_src, g.ldb, nullptr, mv, nv, out);
            else
              with_panel_width<Arch, NR>(nv, [&](auto w) {
                micro_kernel<Arch, MR, decltype(w)::value, true, true>(kc, a_src, 1, MR, b_src, NR, nullptr, mv, nv,
                                                                       out);
              });
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
