#pragma once
// The convolution family's data-movement kernels, im2col and its adjoint
// col2im, written once as templates over an xsimd architecture and compiled
// per ISA by conv_<isa>.cpp. Anonymous namespace: no ISA-specific copy leaks
// into another translation unit. Each call handles one image on the calling
// thread.
//
// Row (c, i, j) of col holds, for each output position (y, x), the input
// src[c, y·sh + i·dh − ph, x·sw + j·dw − pw]. For a fixed row the valid
// outputs form a rectangle [ylo, yhi) × [xlo, xhi) (valid_range below), so
// im2col is zero filling around one copy per output row, with no index
// tested per element; col2im sweeps the input rows instead (see there).
// With stride_w = 1 the rows are contiguous and vectorised; other strides
// gather through a table of offsets into a zero-padded plane
// (im2col_gather).
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <type_traits>
#include <utility>
#include <vector>

#include "nabla/runtime/scratch.hpp"
#include "kernels/activation/activation_math.hpp"
#include "kernels/common/fma.hpp"
#include "kernels/common/pairs.hpp"
#include "kernels/common/max_rule.hpp"
#include "kernels/common/tail.hpp"
#include "kernels/conv/conv_internal.hpp"

namespace nabla::kernels::detail {
namespace {

// dst[k] = op(a[k], b[k]) for k < n: full vectors, then one partial one.
// dst may be a or b (in-place update).
template <class Arch, class Op>
inline __attribute__((always_inline)) void zip_row(float* dst, const float* a, const float* b, int64_t n,
                                                   Op op) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  int64_t k = 0;
  for (; k + W <= n; k += W) op(B::load_unaligned(a + k), B::load_unaligned(b + k)).store_unaligned(dst + k);
  if (k < n) Tail<Arch>::store(dst + k, n - k, op(Tail<Arch>::load(a + k, n - k), Tail<Arch>::load(b + k, n - k)));
}

// rows × n floats from src (rows ld_src apart) to dst (rows ld_dst apart).
// im2col copies the unpadded part of a column row with one call: small
// images make the rows short, and bookkeeping per row would dominate (it
// did: 3.5 → 1.2 µs per conv2 image).
template <class Arch>
inline void copy_rows(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows, int64_t n) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t full = n / W * W, rest = n - full;
  for (int64_t r = 0; r < rows; ++r, dst += ld_dst, src += ld_src) {
    for (int64_t k = 0; k < full; k += W) B::load_unaligned(src + k).store_unaligned(dst + k);
    if (rest) Tail<Arch>::store(dst + full, rest, Tail<Arch>::load(src + full, rest));
  }
}

template <class Arch>
inline void zero_row(float* dst, int64_t n) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  int64_t i = 0;
  for (; i + W <= n; i += W) B(0.f).store_unaligned(dst + i);
  if (i < n) Tail<Arch>::store(dst + i, n - i, B(0.f));
}

// The outputs o < n_out whose input o·stride + offset lies in [0, n_in).
// Stride 1 (the common case) needs no division.
struct Range {
  int64_t lo, hi;
};
inline Range valid_range(int64_t offset, int64_t stride, int64_t n_in, int64_t n_out) {
  int64_t lo, hi;
  if (stride == 1) {
    lo = offset >= 0 ? 0 : -offset;
    hi = n_in - offset;
  } else {
    lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    hi = n_in - offset <= 0 ? 0 : (n_in - 1 - offset) / stride + 1;
  }
  if (hi > n_out) hi = n_out;
  if (hi < 0) hi = 0;
  if (lo > hi) lo = hi;
  return {lo, hi};
}

// Lanes [lo, hi) of the vector at offset `off` of a row of n elements: the
// lanes l with 0 <= off + l < n.
struct Lanes {
  int64_t lo, hi;
};
template <int64_t W>
inline Lanes lanes_inside(int64_t off, int64_t n) {
  const int64_t lo = off < 0 ? -off : 0, hi = n - off < W ? n - off : W;
  return {lo, hi > lo ? hi : lo};
}

// im2col for stride 1 and no dilation: each channel plane is first copied
// into a zero-padded plane (pitch wp = w + 2·pad_w), so every output row of
// every column row is a plain copy of ow floats at a fixed shift, with no
// zero filling and no range logic per row. Small images make these rows
// short (14 floats for a 14×14 layer: one masked vector), and the general
// path below spent more on bookkeeping than on copying (measured: 13 µs per
// 32×14×14 image, 3×3 pad 1, against 0.2 µs of stores).
template <class Arch>
void im2col_stride1(const ConvParams& p, int64_t oh, int64_t ow, const float* src, float* col, int64_t ldc) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t wp = p.w + 2 * p.pad_w, hp = p.h + 2 * p.pad_h;
  // One padded plane per thread, grown on demand (W floats of slack: the
  // last vector of a row may read past it).
  thread_local ScratchBuffer padded;
  float* const pad0 = padded.get(hp * wp + W);
  std::fill(pad0, pad0 + hp * wp + W, 0.f);
  const int64_t full = ow / W * W, rest = ow - full;
  for (int64_t c = 0; c < p.c_in; ++c) {
    const float* plane = src + c * p.h * p.w;
    float* pad = pad0;
    // Interior only: the border stays zero from the fill above.
    copy_rows<Arch>(pad + p.pad_h * wp + p.pad_w, wp, plane, p.w, p.h, p.w);
    for (int64_t i = 0; i < p.kh; ++i)
      for (int64_t j = 0; j < p.kw; ++j, col += ldc) {
        const float* s = pad + i * wp + j;
        float* d = col;
        int64_t y = 0;
#ifdef __AVX512F__
        // Rows shorter than half a vector (LeNet's 8×8 outputs): g rows
        // gathered into one vector by masked loads, one store for them.
        if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
          const int64_t g = W / ow;
          if (g >= 2) {
            const __mmask16 first = static_cast<__mmask16>((1u << ow) - 1);
            const __mmask16 all = static_cast<__mmask16>((1u << (g * ow)) - 1);
            for (; y + g <= oh; y += g, s += g * wp, d += g * ow) {
              __m512 v = _mm512_maskz_loadu_ps(first, s);
              for (int64_t r = 1; r < g; ++r)  // lanes [r·ow, (r + 1)·ow) from row y + r
                v = _mm512_mask_loadu_ps(v, static_cast<__mmask16>(first << (r * ow)), s + r * (wp - ow));
              _mm512_mask_storeu_ps(d, all, v);
            }
          }
        }
#endif
        for (; y < oh; ++y, s += wp, d += ow) {
          for (int64_t x = 0; x < full; x += W) B::load_unaligned(s + x).store_unaligned(d + x);
          if (rest) Tail<Arch>::store(d + full, rest, B::load_unaligned(s + full));
        }
      }
  }
}

// Strided layers (stride_w > 1) gather: each channel plane is copied into
// a zero-padded plane of pitch wp = w + 2·pad_w, and output position
// k = y·OW + x of tap (i, j) reads padded[i·dh·wp + j·dw + off[k]] with
// off[k] = y·sh·wp + x·sw, one table for every tap and channel. A column row
// is then OH·OW/W vector gathers, whatever the stride, and no row is cut
// into pieces: the loops over output rows they replace copied element by
// element with range logic per row of 4 to 14 floats (resnet's 64→128 3×3
// stride 2 on 7×7 spent 49% of its forward in im2col). The table's padding
// lanes (the last vector's) point at a slack float past the plane and past
// any tap's shift (zero in im2col, a dummy sum in col2im), so every lane of
// a gather or scatter stays in the buffer.
struct GatherPlane {
  int64_t wp, size;         // padded pitch; floats of the padded plane
  int64_t positions, full;  // OH·OW, and the whole vectors among them
  int64_t buffer() const { return 2 * size + 1; }  // the plane, then the slack (at `size` past any tap)
};
template <int64_t W>
inline GatherPlane gather_plane(const ConvParams& p, int64_t oh, int64_t ow) {
  const int64_t wp = p.w + 2 * p.pad_w, size = (p.h + 2 * p.pad_h) * wp;
  return {wp, size, oh * ow, oh * ow / W};
}
// Whether the offsets fit the table's int32.
inline bool gathers(const GatherPlane& g) { return g.buffer() < (int64_t{1} << 31); }
// The offsets of every output position in a grow-only per-thread table,
// padded to whole vectors.
template <int64_t W>
inline const int32_t* gather_table(const ConvParams& p, int64_t oh, int64_t ow, const GatherPlane& g) {
  thread_local ScratchBuffer table;
  const int64_t n = (g.positions + W - 1) / W * W;
  auto* off = reinterpret_cast<int32_t*>(table.get(n));
  int64_t k = 0;
  for (int64_t y = 0; y < oh; ++y)
    for (int64_t x = 0; x < ow; ++x) off[k++] = static_cast<int32_t>(y * p.stride_h * g.wp + x * p.stride_w);
  for (; k < n; ++k) off[k] = static_cast<int32_t>(g.size);
  return off;
}

// base[off[l]] for the W lanes l, and its adjoint (the lanes' offsets
// distinct): the hardware gather and scatter where there is one (xsimd
// 8.1's batch::gather assembles the vector element by element, 3× slower
// than the loops it was to replace), else a loop over the lanes.
template <class Arch>
inline xsimd::batch<float, Arch> gather_lanes(const float* base, const int32_t* off) {
  using B = xsimd::batch<float, Arch>;
#ifdef __AVX512F__
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>)
    return _mm512_i32gather_ps(_mm512_loadu_si512(off), base, 4);
#endif
#ifdef __AVX2__
  if constexpr (std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>)
    return _mm256_i32gather_ps(base, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(off)), 4);
#endif
  alignas(64) float t[B::size];
  for (std::size_t l = 0; l < B::size; ++l) t[l] = base[off[l]];
  return B::load_aligned(t);
}
template <class Arch>
inline void scatter_lanes(xsimd::batch<float, Arch> x, float* base, const int32_t* off) {
  using B = xsimd::batch<float, Arch>;
#ifdef __AVX512F__
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    _mm512_i32scatter_ps(base, _mm512_loadu_si512(off), x, 4);
    return;
  }
#endif
  alignas(64) float t[B::size];
  x.store_aligned(t);
  for (std::size_t l = 0; l < B::size; ++l) base[off[l]] = t[l];
}

// [C_in, H, W] → [C_in·kh·kw, OH·OW] by gathers (stride_w > 1).
template <class Arch>
void im2col_gather(const ConvParams& p, int64_t oh, int64_t ow, const float* src, float* col, int64_t ldc) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const GatherPlane g = gather_plane<W>(p, oh, ow);
  thread_local ScratchBuffer padded;
  float* const pad = padded.get(g.buffer());
  std::fill(pad, pad + g.buffer(), 0.f);
  const int32_t* off = gathers(g) ? gather_table<W>(p, oh, ow, g) : nullptr;
  const int64_t rest = g.positions - g.full * W;
  for (int64_t c = 0; c < p.c_in; ++c) {
    copy_rows<Arch>(pad + p.pad_h * g.wp + p.pad_w, g.wp, src + c * p.h * p.w, p.w, p.h, p.w);  // the border stays 0
    for (int64_t i = 0; i < p.kh; ++i)
      for (int64_t j = 0; j < p.kw; ++j, col += ldc) {
        const float* base = pad + i * p.dil_h * g.wp + j * p.dil_w;
        if (!off) {  // a plane past 2^30 floats: int64 offsets, one by one
          for (int64_t y = 0; y < oh; ++y)
            for (int64_t x = 0; x < ow; ++x) col[y * ow + x] = base[y * p.stride_h * g.wp + x * p.stride_w];
          continue;
        }
        for (int64_t v = 0; v < g.full; ++v) gather_lanes<Arch>(base, off + v * W).store_unaligned(col + v * W);
        if (rest) Tail<Arch>::store(col + g.full * W, rest, gather_lanes<Arch>(base, off + g.full * W));
      }
  }
}

// [C_in, H, W] → [C_in·kh·kw, OH·OW], the rows ldc ≥ OH·OW apart (several
// images side by side: backward-weights' wide column matrix).
template <class Arch>
void im2col(const ConvParams& p, int64_t oh, int64_t ow, const float* src, float* col, int64_t ldc) {
  if (p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1)
    return im2col_stride1<Arch>(p, oh, ow, src, col, ldc);
  if (p.stride_w > 1) return im2col_gather<Arch>(p, oh, ow, src, col, ldc);
  // stride_w = 1 with dilation or a vertical stride: contiguous runs.
  for (int64_t c = 0; c < p.c_in; ++c) {
    const float* plane = src + c * p.h * p.w;
    for (int64_t i = 0; i < p.kh; ++i) {
      const int64_t y0 = i * p.dil_h - p.pad_h;
      const Range ys = valid_range(y0, p.stride_h, p.h, oh);
      for (int64_t j = 0; j < p.kw; ++j, col += ldc) {
        const int64_t x0 = j * p.dil_w - p.pad_w;
        const Range xs = valid_range(x0, 1, p.w, ow);
        zero_row<Arch>(col, ys.lo * ow);
        if (xs.lo == 0 && xs.hi == ow) {  // no padding along x
          copy_rows<Arch>(col + ys.lo * ow, ow, plane + (ys.lo * p.stride_h + y0) * p.w + x0, p.stride_h * p.w,
                          ys.hi - ys.lo, ow);
        } else {
          for (int64_t y = ys.lo; y < ys.hi; ++y) {
            float* d = col + y * ow;
            zero_row<Arch>(d, xs.lo);
            copy_rows<Arch>(d + xs.lo, 0, plane + (y * p.stride_h + y0) * p.w + xs.lo + x0, 0, 1, xs.hi - xs.lo);
            zero_row<Arch>(d + xs.hi, ow - xs.hi);
          }
        }
        zero_row<Arch>(col + ys.hi * ow, (oh - ys.hi) * ow);
      }
    }
  }
}

// [C_in·kh·kw, OH·OW] → [C_in, H, W]  (sums the overlapping windows; then
// dst ⊙= f'(act) once the sums are final)
//
// stride_w = 1: a gather. Each input row u is swept once in vectors; each
// vector sums, in registers, every column entry that lands on it (kernel
// rows i whose output row y = (u + ph − i·dh) / sh is whole and in range,
// and for each the kw column segments shifted by j·dw, masked to the
// output row), then is multiplied by f'(act) and stored: one write per
// element, no zeroing, and the derivative in that last write. A scatter
// would store and reload overlapping, shifted vectors and stall on store
// forwarding. Other strides scatter with scalar adds into a zeroed plane,
// then apply f' to the plane while it is in L1.
//
// The column rows are ldc ≥ OH·OW apart (one image of several side by side).
inline constexpr int64_t kMaxRowTaps = 16;  // col2im's one-vector-row path: kernel widths up to this

template <class Arch>
void col2im(const ConvParams& p, int64_t oh, int64_t ow, const float* col, float* dst, Activation f,
            const float* act, int64_t ldc) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t plane_size = p.h * p.w, col_cols = ldc;
  for (int64_t c = 0; c < p.c_in; ++c) {
    float* plane = dst + c * plane_size;
    const float* a_plane = f == Activation::None ? nullptr : act + c * plane_size;
    const float* c_rows = col + c * p.kh * p.kw * col_cols;  // the column rows of channel c
    if (p.stride_w == 1 && p.stride_h == 1 && p.dil_h == 1 && p.dil_w == 1 && p.w <= W && p.kw <= kMaxRowTaps) {
      // Rows of one vector (LeNet's 14 floats): tap j's lanes and offset
      // are the same for every row u, and the kernel rows whose output row
      // is in range are an interval; so the inner loop is one masked load
      // and add per tap, in the general loop's order (bitwise the same).
      // The general loop recomputed both per tap: its bookkeeping, not its
      // adds, was the pass (half of LeNet's conv2 backward-data).
      int64_t lo[kMaxRowTaps], hi[kMaxRowTaps];
      for (int64_t j = 0; j < p.kw; ++j) {
        const Lanes in = lanes_inside<W>(p.pad_w - j, ow);
        lo[j] = in.lo;
        hi[j] = in.hi;  // lanes past w, as the general loop's: summed, never stored
      }
      for (int64_t u = 0; u < p.h; ++u) {
        B acc(0.f);
        // Kernel rows i with output row y = u + ph − i in [0, oh).
        const int64_t i0 = std::max<int64_t>(0, u + p.pad_h - oh + 1), i1 = std::min<int64_t>(p.kh, u + p.pad_h + 1);
        for (int64_t i = i0; i < i1; ++i) {
          const float* seg = c_rows + i * p.kw * col_cols + (u + p.pad_h - i) * ow + p.pad_w;
          for (int64_t j = 0; j < p.kw; ++j, seg += col_cols - 1)
            if (lo[j] < hi[j]) acc += Tail<Arch>::load_range(seg, lo[j], hi[j]);
        }
        float* d = plane + u * p.w;
        if (a_plane) acc = activation_bwd_use_dst(f, acc, Tail<Arch>::load(a_plane + u * p.w, p.w));
        Tail<Arch>::store(d, p.w, acc);
      }
      continue;
    }
    if (p.stride_w == 1) {
      for (int64_t u = 0; u < p.h; ++u) {
        for (int64_t q = 0; q < p.w; q += W) {
          B acc(0.f);
          for (int64_t i = 0; i < p.kh; ++i) {
            const int64_t t = u + p.pad_h - i * p.dil_h;  // y · stride_h
            if (t < 0 || (p.stride_h > 1 && t % p.stride_h)) continue;
            const int64_t y = p.stride_h > 1 ? t / p.stride_h : t;
            if (y >= oh) continue;
            const float* seg = c_rows + i * p.kw * col_cols + y * ow;
            for (int64_t j = 0; j < p.kw; ++j, seg += col_cols) {
              // Input column q + l takes output column q + l − (j·dw − pw).
              const int64_t off = q - (j * p.dil_w - p.pad_w);
              const Lanes in = lanes_inside<W>(off, ow);
              if (in.lo == 0 && in.hi == W) {
                acc += B::load_unaligned(seg + off);
              } else if (in.lo < in.hi) {
                acc += Tail<Arch>::load_range(seg + off, in.lo, in.hi);
              }
            }
          }
          float* d = plane + u * p.w + q;
          if (q + W <= p.w) {
            if (a_plane) acc = activation_bwd_use_dst(f, acc, B::load_unaligned(a_plane + u * p.w + q));
            acc.store_unaligned(d);
          } else {
            if (a_plane) acc = activation_bwd_use_dst(f, acc, Tail<Arch>::load(a_plane + u * p.w + q, p.w - q));
            Tail<Arch>::store(d, p.w - q, acc);
          }
        }
      }
      continue;
    }
    zero_row<Arch>(plane, plane_size);
    for (int64_t i = 0; i < p.kh; ++i) {
      const int64_t y0 = i * p.dil_h - p.pad_h;
      const Range ys = valid_range(y0, p.stride_h, p.h, oh);
      for (int64_t j = 0; j < p.kw; ++j) {
        const int64_t x0 = j * p.dil_w - p.pad_w;
        const Range xs = valid_range(x0, p.stride_w, p.w, ow);
        const float* row = c_rows + (i * p.kw + j) * col_cols;
        for (int64_t y = ys.lo; y < ys.hi; ++y) {
          float* d = plane + (y * p.stride_h + y0) * p.w;  // the input row
          for (int64_t x = xs.lo; x < xs.hi; ++x) d[x * p.stride_w + x0] += row[y * ow + x];
        }
      }
    }
    if (a_plane)
      zip_row<Arch>(plane, plane, a_plane, plane_size, [f](B g, B a) { return activation_bwd_use_dst(f, g, a); });
  }
}

// [planes, pitch-wide rows] → [planes, rows, cols] (see ConvKernels::unpitch)
template <class Arch>
void unpitch(int64_t planes, int64_t rows, int64_t cols, int64_t pitch, int64_t ld_src, const float* src, float* dst,
             Activation f, const float* act) {
  using B = xsimd::batch<float, Arch>;
  for (int64_t c = 0; c < planes; ++c) {
    const float* s = src + c * ld_src;
    float* d = dst + c * rows * cols;
    if (f == Activation::None) {
      copy_rows<Arch>(d, cols, s, pitch, rows, cols);
      continue;
    }
    const float* a = act + c * rows * cols;
    for (int64_t y = 0; y < rows; ++y)
      zip_row<Arch>(d + y * cols, s + y * pitch, a + y * cols, cols,
                    [f](B g, B x) { return activation_bwd_use_dst(f, g, x); });
  }
}

// even[k] = s[2k], odd[k] = s[2k + 1] for k < pairs.
template <class Arch>
inline void deinterleave_row(const float* s, int64_t pairs, float* even, float* odd) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  B e, o;
  int64_t k = 0;
  for (; k + W <= pairs; k += W) {
    deinterleave<Arch>(B::load_unaligned(s + 2 * k), B::load_unaligned(s + 2 * k + W), e, o);
    e.store_unaligned(even + k);
    o.store_unaligned(odd + k);
  }
  if (k == pairs) return;
  const int64_t n = pairs - k, m = 2 * n;  // m < 2·W floats left
  const B a = m >= W ? B::load_unaligned(s + 2 * k) : Tail<Arch>::load(s + 2 * k, m);
  const B b = m > W ? Tail<Arch>::load(s + 2 * k + W, m - W) : B(0.f);
  deinterleave<Arch>(a, b, e, o);
  Tail<Arch>::store(even + k, n, e);
  Tail<Arch>::store(odd + k, n, o);
}

// [planes, h, w] → [planes, sh, sw, hq, wq] (see ConvKernels::phase_split;
// stride 1: the zero-padded image, hq = h + 2·ph, wq = w + 2·pw).
// Row u of phase plane (α, β) holds padded row α + sh·u, that is image row
// y = α + sh·u − ph (zeros outside the image), its column t = x + pw at
// phase t mod sw, position t div sw. Each element of dst is written once:
// zeros around the copied run, and stride 2 (the common case) as one
// vectorised deinterleave of the row's pairs into its two phases.
template <class Arch>
void phase_split(int64_t planes, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t sh, int64_t sw, int64_t hq,
                 int64_t wq, const float* src, float* dst) {
  const int64_t plane_size = hq * wq;
  // The run [v0, v1) of phase β that lies in the image (empty: v1 ≤ v0).
  auto run = [&](int64_t beta, int64_t& v0, int64_t& v1) {
    v0 = pw > beta ? (pw - beta + sw - 1) / sw : 0;
    v1 = w - 1 + pw - beta < 0 ? 0 : std::min(wq, (w - 1 + pw - beta) / sw + 1);
  };
  auto zero_around = [&](float* d, int64_t v0, int64_t v1) {
    if (v1 <= v0) return zero_row<Arch>(d, wq);
    zero_row<Arch>(d, v0);
    zero_row<Arch>(d + v1, wq - v1);
  };
  // Stride 2: x = 0 lands on phase 1 when pw is odd; from x1 = pw mod 2 on,
  // the pair (x, x + 1) goes to both phases at (x + pw) / 2, and an odd
  // element left at the end to phase 0.
  int64_t e0 = 0, e1 = 0, o0 = 0, o1 = 0;
  if (sw == 2) {
    run(0, e0, e1);
    run(1, o0, o1);
  }
  const int64_t x1 = std::min(w, pw & 1), pairs = (w - x1) / 2, at = (x1 + pw) >> 1;
  for (int64_t c = 0; c < planes; ++c) {
    if (c + 1 < planes)
      for (int64_t k = 0; k < h * w; k += 16) __builtin_prefetch(src + (c + 1) * h * w + k);
    for (int64_t alpha = 0; alpha < sh; ++alpha)
      for (int64_t u = 0; u < hq; ++u) {
        float* row = dst + ((c * sh + alpha) * sw * hq + u) * wq;  // phase (α, 0); (α, β) is β planes on
        const int64_t y = alpha + sh * u - ph;
        if (y < 0 || y >= h) {
          for (int64_t beta = 0; beta < sw; ++beta) zero_row<Arch>(row + beta * plane_size, wq);
          continue;
        }
        const float* s = src + (c * h + y) * w;
        if (sw == 2) {
          float* odd = row + plane_size;
          zero_around(row, e0, e1);
          zero_around(odd, o0, o1);
          if (x1) odd[pw >> 1] = s[0];
          deinterleave_row<Arch>(s + x1, pairs, row + at, odd + at);
          if ((w - x1) & 1) row[at + pairs] = s[w - 1];
          continue;
        }
        for (int64_t beta = 0; beta < sw; ++beta) {
          int64_t v0, v1;
          run(beta, v0, v1);
          float* d = row + beta * plane_size;
          zero_around(d, v0, v1);
          if (sw == 1 && v1 > v0) copy_rows<Arch>(d + v0, 0, s + v0 - pw, 0, 1, v1 - v0);
          else
            for (int64_t v = v0; v < v1; ++v) d[v] = s[beta + sw * v - pw];
        }
      }
  }
}

// The inverse of deinterleave_row: s[2k] = even[k], s[2k + 1] = odd[k] for
// k < pairs (even or odd null: zeros).
template <class Arch>
inline void interleave_row(const float* even, const float* odd, int64_t pairs, float* s) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const B zero(0.f);
  B a, b;
  int64_t k = 0;
  for (; k + W <= pairs; k += W) {
    interleave<Arch>(even ? B::load_unaligned(even + k) : zero, odd ? B::load_unaligned(odd + k) : zero, a, b);
    a.store_unaligned(s + 2 * k);
    b.store_unaligned(s + 2 * k + W);
  }
  if (k == pairs) return;
  const int64_t n = pairs - k, m = 2 * n;
  interleave<Arch>(even ? Tail<Arch>::load(even + k, n) : zero, odd ? Tail<Arch>::load(odd + k, n) : zero, a, b);
  if (m >= W) a.store_unaligned(s + 2 * k);
  else Tail<Arch>::store(s + 2 * k, m, a);
  if (m > W) Tail<Arch>::store(s + 2 * k + W, m - W, b);
}

// Image rows from their two column phases (see ConvKernels::phase_join).
template <class Arch>
void phase_join(int64_t rows, int64_t w, int64_t pw, const float* even, int64_t e0, const float* odd, int64_t o0,
                int64_t ld_src, float* dst, int64_t ld_dst) {
  const int64_t x1 = std::min(w, pw & 1), pairs = (w - x1) / 2, at = (x1 + pw) >> 1;
  for (int64_t t = 0; t < rows; ++t) {
    const float* e = even ? even + t * ld_src + (at - e0) : nullptr;
    const float* o = odd ? odd + t * ld_src + (at - o0) : nullptr;
    float* d = dst + t * ld_dst;
    if (x1) d[0] = odd ? odd[t * ld_src + (pw >> 1) - o0] : 0.f;
    interleave_row<Arch>(e, o, pairs, d + x1);
    if ((w - x1) & 1) d[w - 1] = e ? e[pairs] : 0.f;
  }
}

// ---- direct convolution of one input channel (stride 1, no dilation) ---------
//
// The first layer of an image network has one input channel: its column
// matrix is kh·kw times the image and its GEMMs have K = kh·kw (9, 25), far
// from what a GEMM runs well. Here the image is zero-padded into rows of pitch
// wp = w + 2·pad_w, flat, so output (oy, ox) reads padded[oy·wp + ox +
// ky·wp + kx]: every tap is a constant offset and the convolution is kh·kw
// FMAs per output over contiguous vectors, cut along each output row. The
// caller pads the image with kDirectSlack floats of slack (conv.cpp), as the
// last vector of a row may read past the row's end.

// Forward: dst [C_out, OH, OW] = f(bias + conv), written straight from the
// accumulators. The outputs are cut into vectors along each row (the last
// one of a row partial, stored masked); output (oy, ox) reads
// padded[oy·wp + ox + off(t)]. A block is CB channels × R such vectors:
// each tap loads R input vectors and CB weights for CB·R FMAs. Channels
// past c_out repeat the last one (their results are not stored).
// A block's channels c0 … c0 + CB − 1 (past c_out: the last one again):
// their weights and bias.
template <class Arch, int CB>
inline __attribute__((always_inline)) void direct1_channels(const ConvParams& p, int64_t c0, const float* w, const float* bias, const float* (&wc)[CB],
                             xsimd::batch<float, Arch> (&bv)[CB]) {
  NABLA_UNROLL for (int c = 0; c < CB; ++c) {
    const int64_t ch = std::min<int64_t>(c0 + c, p.c_out - 1);
    wc[c] = w + ch * p.kh * p.kw;
    bv[c] = xsimd::batch<float, Arch>(bias ? bias[ch] : 0.f);
  }
}

// acc[c][r] = bias + Σ_taps w[c][t] · the input vector at in[r] + off(t).
template <class Arch, int CB, int R>
inline __attribute__((always_inline)) void direct1_block(const ConvParams& p, int64_t wp, const float* const (&in)[R], const float* const (&wc)[CB],
                          const xsimd::batch<float, Arch> (&bv)[CB], xsimd::batch<float, Arch> (&acc)[CB][R]) {
  using B = xsimd::batch<float, Arch>;
  NABLA_UNROLL for (int c = 0; c < CB; ++c) { NABLA_UNROLL for (int r = 0; r < R; ++r) acc[c][r] = bv[c]; }
  for (int64_t ky = 0; ky < p.kh; ++ky) {
    for (int64_t kx = 0; kx < p.kw; ++kx) {
      const int64_t off = ky * wp + kx, t = ky * p.kw + kx;
      B x[R];
      NABLA_UNROLL for (int r = 0; r < R; ++r) x[r] = B::load_unaligned(in[r] + off);
      NABLA_UNROLL for (int c = 0; c < CB; ++c) {
        const B wv(wc[c][t]);
        NABLA_UNROLL for (int r = 0; r < R; ++r) acc[c][r] = fmadd<Arch>(wv, x[r], acc[c][r]);
      }
    }
  }
}

template <class Arch, int CB, int R, class Act>
void direct1_forward_act(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* w,
                         const float* bias, float* dst, Act act) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t wp = p.w + 2 * p.pad_w;
  const int64_t per_row = (ow + W - 1) / W, vectors = oh * per_row, plane = oh * ow;
  for (int64_t c0 = 0; c0 < p.c_out; c0 += CB) {
    const float* wc[CB];
    B bv[CB];
    direct1_channels<Arch, CB>(p, c0, w, bias, wc, bv);
    for (int64_t v0 = 0; v0 < vectors; v0 += R) {
      const float* in[R];
      int64_t out[R], lanes[R];
      NABLA_UNROLL for (int r = 0; r < R; ++r) {
        const int64_t v = std::min<int64_t>(v0 + r, vectors - 1), y = v / per_row, x = v % per_row * W;
        in[r] = padded + y * wp + x;
        out[r] = y * ow + x;
        lanes[r] = v0 + r < vectors ? std::min<int64_t>(W, ow - x) : 0;
      }
      B acc[CB][R];
      direct1_block<Arch, CB, R>(p, wp, in, wc, bv, acc);
      NABLA_UNROLL for (int c = 0; c < CB; ++c) {
        if (c0 + c >= p.c_out) break;
        float* o = dst + (c0 + c) * plane;
        NABLA_UNROLL for (int r = 0; r < R; ++r) {
          const B y = act(acc[c][r]);
          if (lanes[r] == W) y.store_unaligned(o + out[r]);
          else if (lanes[r] > 0) Tail<Arch>::store(o + out[r], lanes[r], y);
        }
      }
    }
  }
}

template <class Arch>
void direct1_forward(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* w,
                     const float* bias, Activation f, float* dst) {
  using B = xsimd::batch<float, Arch>;
  // AVX-512: 6 channels × 4 vectors = 24 accumulators + 4 inputs of 32
  // registers; 16 registers: 6 × 2.
  constexpr int R = B::size == 16 ? 4 : 2;
  constexpr int CB = 6;
  with_activation(f, [&](auto op) {
    direct1_forward_act<Arch, CB, R>(p, oh, ow, padded, w, bias, dst, [op](B x) { return op.fwd(x); });
  });
}

// direct1_forward with a 2×2 stride-2 max pool of the activated outputs
// (oh, ow even; ow ≤ PR vectors): a block is CB channels × the two output
// rows of one pooled row (PR vectors each), accumulated exactly as
// direct1_forward_act's; each channel's two rows are split into even and odd
// columns (deinterleave), compared in the pool's window order
// (common/max_rule.hpp), and only the maximum and its index (h·ow + w in
// the output plane, as max_pool2d_forward's) are stored: the same floats and
// indices as direct1_forward then max_pool2d_forward.
template <class Arch, int CB, int PR, class Act>
void direct1_forward_pool_act(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* w,
                              const float* bias, float* dst, int32_t* idx, Act act) {
  using B = xsimd::batch<float, Arch>;
  using I = xsimd::batch<int32_t, Arch>;
  constexpr int64_t W = B::size;
  constexpr int R = 2 * PR;
  const int64_t wp = p.w + 2 * p.pad_w, pw = ow / 2, pplane = (oh / 2) * pw;
  alignas(64) int32_t lanes[W];
  for (int64_t l = 0; l < W; ++l) lanes[l] = static_cast<int32_t>(2 * l);
  const I lane2 = I::load_aligned(lanes), one(1), below(static_cast<int32_t>(ow)), diag(static_cast<int32_t>(ow + 1));
  for (int64_t c0 = 0; c0 < p.c_out; c0 += CB) {
    const float* wc[CB];
    B bv[CB];
    direct1_channels<Arch, CB>(p, c0, w, bias, wc, bv);
    for (int64_t py = 0; py < oh / 2; ++py) {
      const float* in[R];
      NABLA_UNROLL for (int r = 0; r < R; ++r) in[r] = padded + (2 * py + r / PR) * wp + (r % PR) * W;
      B acc[CB][R];
      direct1_block<Arch, CB, R>(p, wp, in, wc, bv, acc);
      const I base = lane2 + I(static_cast<int32_t>(2 * py * ow));
      NABLA_UNROLL for (int c = 0; c < CB; ++c) {
        if (c0 + c >= p.c_out) break;
        B e0, o0, e1, o1;  // rows 2·py and 2·py + 1, even and odd columns
        deinterleave<Arch>(act(acc[c][0]), act(acc[c][PR - 1]), e0, o0);
        deinterleave<Arch>(act(acc[c][PR]), act(acc[c][R - 1]), e1, o1);
        B m;
        I mi;
        window_max4(e0, o0, e1, o1, base, base + one, base + below, base + diag, m, mi);
        store_max(dst + (c0 + c) * pplane + py * pw, idx + (c0 + c) * pplane + py * pw, m, mi, pw);
      }
    }
  }
}

// Whether direct1_forward_maxpool takes this output width: two rows of at
// most 2 vectors (32 registers) or 1 (16), as direct1_forward's blocks.
template <class Arch>
bool direct1_pools(int64_t ow) {
  constexpr int64_t W = xsimd::batch<float, Arch>::size;
  return ow <= (W == 16 ? 2 : 1) * W;
}

template <class Arch>
void direct1_forward_maxpool(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* w,
                             const float* bias, Activation f, float* dst, int32_t* idx) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  constexpr int CB = 6;  // as direct1_forward: 6 × 4 accumulators (32 registers), 6 × 2 (16)
  with_activation(f, [&](auto op) {
    auto a = [op](B x) { return op.fwd(x); };
    if constexpr (W == 16) {
      if (ow > W) {
        direct1_forward_pool_act<Arch, CB, 2>(p, oh, ow, padded, w, bias, dst, idx, a);
        return;
      }
    }
    direct1_forward_pool_act<Arch, CB, 1>(p, oh, ow, padded, w, bias, dst, idx, a);
  });
}

// Where the one-channel weight gradient reads dZ from: channel(c) gives
// the rows of channel c (c past the last: the next image's, as the batch is
// contiguous), load(y, row, x, k) the vector of row y (row = y·OW) from
// column x, k ≤ W lanes (the others zero); prefetch(c, y, row, x) asks for
// that vector's memory.
//
// DenseDz: dZ itself [C_out, OH, OW].
template <class Arch>
struct DenseDz {
  using B = xsimd::batch<float, Arch>;
  const float* dz;
  int64_t plane, ow;
  struct Channel {
    const float* p;
    B load(int64_t /*y*/, int64_t row, int64_t x, int64_t k) const {
      if (!Tail<Arch>::kCheap && k == B::size) return B::load_unaligned(p + row + x);
      return Tail<Arch>::load(p + row + x, k);
    }
  };
  Channel channel(int64_t c) const { return {dz + c * plane}; }
  void prefetch(int64_t c, int64_t /*y*/, int64_t row, int64_t x) const {
    __builtin_prefetch(reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(dz) +
                                                      sizeof(float) * static_cast<uintptr_t>(c * plane + row + x)),
                       0, 3);
  }
};

// PooledDz: dZ of a convolution followed by a 2×2 stride-2 max pool, from
// the pool's gradient g and arg-max idx [C_out, OH/2, OW/2] (OH, OW even):
// dZ[y, x] = g[y/2, x/2] where idx[y/2, x/2] = y·OW + x, else 0, built in
// registers (each pooled value and index doubled into two lanes, compared
// with the lanes' positions): the same vectors as the pool's scatter writes,
// without writing or reading back the unpooled dZ.
template <class Arch>
struct PooledDz {
  using B = xsimd::batch<float, Arch>;
  using I = xsimd::batch<int32_t, Arch>;
  const float* g;
  const int32_t* idx;
  int64_t pplane, pw;
  struct Channel {
    const float* g;
    const int32_t* idx;
    int64_t pw;
    B load(int64_t y, int64_t row, int64_t x, int64_t k) const {
      const int64_t at = (y >> 1) * pw + (x >> 1), n = (k + 1) >> 1;  // pooled values under the k lanes
      B gv, iv, g2, i2, unused;
      if (n == B::size) {
        gv = B::load_unaligned(g + at);
        iv = xsimd::bitwise_cast<B>(I::load_unaligned(idx + at));
      } else if constexpr (Tail<Arch>::kCheap) {  // masked: the indices' bits loaded as floats
        gv = Tail<Arch>::load(g + at, n);
        iv = Tail<Arch>::load(reinterpret_cast<const float*>(idx + at), n);
      } else {
        gv = Tail<Arch>::load(g + at, n);
        alignas(64) int32_t t[B::size] = {};
        std::copy_n(idx + at, n, t);
        iv = xsimd::bitwise_cast<B>(I::load_aligned(t));
      }
      interleave<Arch>(gv, gv, g2, unused);
      interleave<Arch>(iv, iv, i2, unused);
      // Lanes past k hold a zero index: never a position past the row's start.
      alignas(64) static constexpr int32_t kLane[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
      const auto hit = xsimd::bitwise_cast<I>(i2) == I::load_aligned(kLane) + I(static_cast<int32_t>(row + x));
      return xsimd::bitwise_cast<B>(xsimd::select(hit, xsimd::bitwise_cast<I>(g2), I(0)));
    }
  };
  Channel channel(int64_t c) const { return {g + c * pplane, idx + c * pplane, pw}; }
  void prefetch(int64_t c, int64_t y, int64_t /*row*/, int64_t x) const {
    if (x > 0) return;  // one pooled row (≤ 2 vectors of dZ) is at most a cache line per array
    const uintptr_t at = static_cast<uintptr_t>(c * pplane + (y >> 1) * pw);
    __builtin_prefetch(reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(g) + sizeof(float) * at), 0, 3);
    __builtin_prefetch(reinterpret_cast<const int32_t*>(reinterpret_cast<uintptr_t>(idx) + sizeof(int32_t) * at), 0, 3);
  }
};

// Backward-weights: dw[c·taps + t] += Σ_{oy, ox} dz[c, oy, ox] ·
// padded[oy·wp + ox + off(t)], over the same row vectors as the forward
// pass (the partial one at a row's end loads dz masked: its other lanes are
// zero, so whatever the input holds there adds nothing). A block is CB
// channels × TB taps of accumulators; each step loads CB gradient vectors
// and TB input vectors for CB·TB FMAs. Out-of-range channels and taps
// repeat the last one and are not stored. With Bias, the block also sums
// its channels' gradients, db[c] += Σ dz[c, ·, ·] (stored by the blocks of
// the first taps), while they are in registers: a separate pass re-read dZ
// from L3 (~20% of this pass on the 28×28 layers). Every row vector goes
// through one loop, the last one masked (a peeled last step ran out of
// registers for the tap offsets, 14% slower on a 28-wide layer).
template <class Arch, int CB, int TB, bool Bias, class Src>
void direct1_bwd_block(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const Src& src, float* dw,
                       float* db) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t wp = p.w + 2 * p.pad_w, taps = p.kh * p.kw;
  for (int64_t c0 = 0; c0 < p.c_out; c0 += CB) {
    typename Src::Channel dc[CB] = {};
    NABLA_UNROLL for (int c = 0; c < CB; ++c) dc[c] = src.channel(std::min<int64_t>(c0 + c, p.c_out - 1));
    // The next block's gradients (past the last channel: the next image's
    // first ones), prefetched a block ahead at the position being read: a
    // channel is a stream of a few KiB, too short for the hardware
    // prefetcher, and dZ was just written by the layer above, often out to
    // DRAM (the CNN's 28×28 layer, dZ evicted before each call: 1.05–1.23 →
    // 0.52–0.57 ms at 1 thread).
    auto prefetch_next = [&](int64_t y, int64_t row, int64_t x) __attribute__((always_inline)) {
      NABLA_UNROLL for (int c = 0; c < CB; ++c) src.prefetch(c0 + CB + c, y, row, x);
    };
    for (int64_t t0 = 0; t0 < taps; t0 += TB) {
      int64_t off[TB];
      NABLA_UNROLL for (int t = 0; t < TB; ++t) {
        const int64_t tap = std::min<int64_t>(t0 + t, taps - 1);
        off[t] = (tap / p.kw) * wp + tap % p.kw;
      }
      B acc[CB][TB], bsum[CB];
      NABLA_UNROLL for (int c = 0; c < CB; ++c) {
        bsum[c] = B(0.f);
        NABLA_UNROLL for (int t = 0; t < TB; ++t) acc[c][t] = B(0.f);
      }
      for (int64_t y = 0; y < oh; ++y) {
        const float* in = padded + y * wp;
        const int64_t row = y * ow;
        for (int64_t x = 0; x < ow; x += W) {
          const int64_t k = std::min(W, ow - x);
          B d[CB];
          NABLA_UNROLL for (int c = 0; c < CB; ++c) d[c] = dc[c].load(y, row, x, k);
          prefetch_next(y, row, x);
          NABLA_UNROLL for (int t = 0; t < TB; ++t) {
            // In a register: GCC would fold the load into each of the CB
            // FMAs, loading it CB times (most of them split across two
            // cache lines).
            typename B::register_type xr = B::load_unaligned(in + x + off[t]);
            asm("" : "+v"(xr));
            const B xv(xr);
            NABLA_UNROLL for (int c = 0; c < CB; ++c) acc[c][t] = fmadd<Arch>(d[c], xv, acc[c][t]);
          }
          if constexpr (Bias) {
            NABLA_UNROLL for (int c = 0; c < CB; ++c) bsum[c] += d[c];
          }
        }
      }
      NABLA_UNROLL for (int c = 0; c < CB; ++c) {
        if (c0 + c >= p.c_out) break;
        NABLA_UNROLL for (int t = 0; t < TB; ++t) {
          if (t0 + t >= taps) break;
          dw[(c0 + c) * taps + t0 + t] += xsimd::hadd(acc[c][t]);
        }
        if (Bias && t0 == 0) db[c0 + c] += xsimd::hadd(bsum[c]);
      }
    }
  }
}

// The block shape with the least modelled time for this layer: blocks ×
// max(FMAs, loads) per step (two of each per cycle), so that a 3×3 kernel
// (9 taps) and a 5×5 one (25) are not padded to a block of 8. With the
// bias, only the shapes whose accumulators, gradients and input vector fit
// the registers (CB·TB + 2·CB + 1).
template <class Arch, class Src>
void direct1_weights_grad(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const Src& src,
                          float* dw, float* db) {
  using Fn = void (*)(const ConvParams&, int64_t, int64_t, const float*, const Src&, float*, float*);
  struct Shape {
    int cb, tb;
    Fn fn, fn_bias;
  };
#define NABLA_D1_SHAPE(CB, TB) \
  { CB, TB, &direct1_bwd_block<Arch, CB, TB, false, Src>, &direct1_bwd_block<Arch, CB, TB, true, Src> }
  // AVX-512 (32 registers): up to 24 accumulators; 16 registers: up to 12.
  constexpr int kRegs = xsimd::batch<float, Arch>::size == 16 ? 32 : 16;
  static constexpr Shape kWideShapes[] = {NABLA_D1_SHAPE(3, 8), NABLA_D1_SHAPE(2, 9), NABLA_D1_SHAPE(8, 3),
                                          NABLA_D1_SHAPE(3, 5), NABLA_D1_SHAPE(4, 5), NABLA_D1_SHAPE(6, 4)};
  static constexpr Shape kNarrowShapes[] = {NABLA_D1_SHAPE(2, 4), NABLA_D1_SHAPE(1, 9), NABLA_D1_SHAPE(4, 3),
                                            NABLA_D1_SHAPE(2, 5), NABLA_D1_SHAPE(3, 3)};
#undef NABLA_D1_SHAPE
  const int64_t taps = p.kh * p.kw;
  const Shape* best = nullptr;
  double best_cost = 0;
  auto consider = [&](const Shape& sh) {
    if (db && sh.cb * sh.tb + 2 * sh.cb + 1 > kRegs) return;
    const double blocks = static_cast<double>((p.c_out + sh.cb - 1) / sh.cb) * static_cast<double>((taps + sh.tb - 1) / sh.tb);
    const double cost = blocks * std::max(sh.cb * sh.tb, sh.cb + sh.tb);
    if (!best || cost < best_cost) {
      best = &sh;
      best_cost = cost;
    }
  };
  if constexpr (kRegs == 32) {
    for (const Shape& sh : kWideShapes) consider(sh);
  } else {
    for (const Shape& sh : kNarrowShapes) consider(sh);
  }
  (db ? best->fn_bias : best->fn)(p, oh, ow, padded, src, dw, db);
}

template <class Arch>
void direct1_backward_weights(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* dz,
                              float* dw, float* db) {
  direct1_weights_grad<Arch>(p, oh, ow, padded, DenseDz<Arch>{dz, oh * ow, ow}, dw, db);
}

template <class Arch>
void direct1_backward_weights_pooled(const ConvParams& p, int64_t oh, int64_t ow, const float* padded,
                                     const float* g, const int32_t* idx, float* dw, float* db) {
  const int64_t pw = ow / 2;
  direct1_weights_grad<Arch>(p, oh, ow, padded, PooledDz<Arch>{g, idx, (oh / 2) * pw, pw}, dw, db);
}

// ---- Winograd F(2×2, 3×3) (see ConvKernels::wino_input / wino_output) ------
//
//     v    [16, planes, ld]  tile t = ty·tw + tx of the image at column t
//     m    [16, planes, ld]  → dst [planes, oh, ow]
//
//     Bᵀ = | 1  0 −1  0 |      Aᵀ = | 1  1  1  0 |
//          | 0  1  1  0 |           | 0  1 −1 −1 |
//          | 0 −1  1  0 |
//          | 0  1  0 −1 |
//
// Both transforms are separable, and each runs as two sweeps so that the
// vectors run along the tile index t over the whole image, not along one
// tile row (a 14×14 image has 7 tiles per row: 7 of 16 lanes).
//
// Input, per plane: (1) each padded row y (zero rows above and below; a
// row's vectors loaded from the image, zero outside it) is transformed
// along x, d ↦ d·B, with the even and odd columns split by a deinterleave: R[k][y mod 2][y div 2]
// [tx], k < 4, the four values of tile column tx. (2) Tile t = ty·tw + tx
// needs rows 2·ty … 2·ty + 3, that is R[k][0][t], R[k][1][t], R[k][0][t +
// tw], R[k][1][t + tw]: contiguous in t, so Bᵀ (·) runs over whole vectors
// of tiles and writes v[ξ] with full stores.
//
// Output, per plane: (1) Aᵀ m A for whole vectors of tiles, the four
// outputs of tile t into Y[i][j][t]; (2) output row 2·ty + i is Y[i][0]
// and Y[i][1] of tile row ty interleaved, then the bias and activation (or
// the derivative).
//
// Both give the same floats as a tile-by-tile evaluation (same operations,
// same order).

// The second sweep of wino_input and wino_grad_output: for each vector of
// tiles t (the last one partial) and each k < 4, combine(k, rk, st) with rk
// pointing at R[k][0][t] (R[k][1] is `plane` further) and st(ξ, value)
// storing the tiles' values of ξ at out + ξ·step + t.
template <class Arch, class Combine>
inline void wino_tile_sweep(int64_t tiles, const float* r, int64_t plane, float* out, int64_t step,
                            Combine combine) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  for (int64_t t = 0; t < tiles; t += W) {
    const int64_t n = std::min(W, tiles - t);
    auto st = [&](int xi, B val) {
      if (n == W) val.store_unaligned(out + xi * step + t);
      else Tail<Arch>::store(out + xi * step + t, n, val);
    };
    for (int k = 0; k < 4; ++k) combine(k, r + 2 * k * plane + t, st);
  }
}

// Zeros the slack after the `used` floats of each of `n` planes of `plane`
// floats: the second sweep's last vector reads past the rows the first
// wrote (the lanes it stores are never those).
inline void wino_zero_slack(float* scratch, int n, int64_t plane, int64_t used) {
  for (int i = 0; i < n; ++i) std::fill_n(scratch + i * plane + used, plane - used, 0.f);
}

// Plane c + 1's first sweep before plane c's second, so that no load of the
// second waits on a store of the first still in flight.
template <class Rows, class Tiles>
inline void wino_pipeline(int64_t planes, Rows rows, Tiles tiles_of) {
  for (int64_t c = 0; c <= planes; ++c) {
    if (c < planes) rows(c);
    if (c > 0) tiles_of(c - 1);
  }
}

template <class Arch>
void wino_input(int64_t planes, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t th, int64_t tw,
                const float* src, float* scratch, float* v, int64_t ld) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t plane = (th + 1) * tw + kDirectSlack, hp = 2 * th + 2, tiles = th * tw;
  const int64_t step = planes * ld;  // one ξ to the next in v
  wino_zero_slack(scratch, 16, plane, (th + 1) * tw);
  // R[k][parity] of plane c: 8 planes at r(c). Two buffers: the rows of
  // plane c + 1 are transformed before the tiles of plane c read theirs, so
  // no load waits on a store still in flight.
  auto r = [&](int64_t c) { return scratch + (c & 1) * 8 * plane; };
  auto rows = [&](int64_t c) {
    float* rc = r(c);
    for (int64_t y = 0; y < hp; ++y) {
      float* out = rc + (y & 1) * plane + (y >> 1) * tw;  // R[0][y mod 2][y div 2]
      const int64_t sy = y - ph;
      if (sy < 0 || sy >= h) {
        for (int k = 0; k < 4; ++k) std::fill_n(out + 2 * k * plane, tw, 0.f);
        continue;
      }
      // Padded columns j … j + W − 1 of the row, loaded from the source row
      // (zeros outside it).
      const float* sr = src + (c * h + sy) * w;
      // always_inline: as an out-of-line call (GCC's choice once this file
      // grew) the input transform ran ~25% slower, conv3 ~5%.
      auto seg = [&](int64_t j) __attribute__((always_inline)) {
        const int64_t lo = std::clamp<int64_t>(pw - j, 0, W), hi = std::clamp<int64_t>(w + pw - j, 0, W);
        if (lo == 0 && hi == W) return B::load_unaligned(sr + (j - pw));
        if (lo >= hi) return B(0.f);
        return Tail<Arch>::load_range(sr + (j - pw), lo, hi);
      };
      for (int64_t x = 0; x < tw; x += W) {
        B e, o, e2, o2;  // padded columns 2·tx, 2·tx + 1, 2·tx + 2, 2·tx + 3
        deinterleave<Arch>(seg(2 * x), seg(2 * x + W), e, o);
        deinterleave<Arch>(seg(2 * x + 2), seg(2 * x + 2 + W), e2, o2);
        (e - e2).store_unaligned(out + x);
        (o + e2).store_unaligned(out + 2 * plane + x);
        (e2 - o).store_unaligned(out + 4 * plane + x);
        (o - o2).store_unaligned(out + 6 * plane + x);
      }
    }
  };
  auto tiles_of = [&](int64_t c) {
    wino_tile_sweep<Arch>(tiles, r(c), plane, v + c * ld, step, [&](int k, const float* rk, auto& st) {
      const B a0 = B::load_unaligned(rk), a1 = B::load_unaligned(rk + plane);
      const B a2 = B::load_unaligned(rk + tw), a3 = B::load_unaligned(rk + plane + tw);
      st(0 + k, a0 - a2);
      st(4 + k, a1 + a2);
      st(8 + k, a2 - a1);
      st(12 + k, a1 - a3);
    });
  };
  wino_pipeline(planes, rows, tiles_of);
}

// The four outputs Y00, Y01, Y10, Y11 of a vector of tiles, Aᵀ m A, from
// m[ξ] at in + ξ·step (the first sweep of wino_output and of
// wino_output_maxpool: the same operations in the same order).
template <class Arch>
inline __attribute__((always_inline)) void wino_tile_outputs(const float* in, int64_t step, xsimd::batch<float, Arch> (&out)[4]) {
  using B = xsimd::batch<float, Arch>;
  // rows 0 and 1 of column k of Aᵀ m (always_inline: GCC made it a call)
  auto col = [&](int k, B& s0, B& s1) __attribute__((always_inline)) {
    const B m0 = B::load_unaligned(in + k * step), m1 = B::load_unaligned(in + (4 + k) * step);
    const B m2 = B::load_unaligned(in + (8 + k) * step), m3 = B::load_unaligned(in + (12 + k) * step);
    s0 = m0 + m1 + m2;
    s1 = m1 - m2 - m3;
  };
  B a0, a1, b0, b1, c0, c1, d0, d1;
  col(0, a0, a1);
  col(1, b0, b1);
  col(2, c0, c1);
  col(3, d0, d1);
  out[0] = a0 + b0 + c0;
  out[1] = b0 - c0 - d0;
  out[2] = a1 + b1 + c1;
  out[3] = b1 - c1 - d1;
}

template <class Arch>
void wino_output(int64_t planes, int64_t oh, int64_t ow, int64_t th, int64_t tw, const float* m, int64_t ld,
                 const float* bias, Activation f, const float* act, float* dst, float* scratch) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t step = planes * ld, tiles = th * tw, yp = tiles + kDirectSlack;
  // Y[i][j] of plane o: 4 planes of yp at y(o). Two buffers, as in wino_input.
  auto y = [&](int64_t o) { return scratch + (o & 1) * 4 * yp; };
  auto tiles_of = [&](int64_t o) {
    float* yo = y(o);
    for (int64_t t = 0; t < tiles; t += W) {  // the last vector reads past the image: m has the slack
      const float* in = m + o * ld + t;
      B out[4];
      wino_tile_outputs<Arch>(in, step, out);
      NABLA_UNROLL for (int q = 0; q < 4; ++q) out[q].store_unaligned(yo + q * yp + t);
    }
  };
  with_activation(f, [&](auto op) {
    auto rows = [&](int64_t o) {
      const float* yo = y(o);
      const B b(bias && !act ? bias[o] : 0.f);
      for (int64_t oy = 0; oy < oh; ++oy) {
        const float* y0 = yo + (oy & 1) * 2 * yp + (oy >> 1) * tw;  // Y[oy mod 2][0] of tile row oy div 2
        for (int64_t x = 0; x < tw; x += W) {
          B lo, hi;
          interleave<Arch>(B::load_unaligned(y0 + x), B::load_unaligned(y0 + yp + x), lo, hi);
          const int64_t cnt = std::min(2 * W, ow - 2 * x);  // output columns of this block
          const int64_t at = (o * oh + oy) * ow + 2 * x;
          auto put = [&](B val, int64_t off, int64_t k) {
            float* d = dst + at + off;
            B res;
            if (act) {
              const float* a = act + at + off;
              res = op.bwd(val, k == W ? B::load_unaligned(a) : Tail<Arch>::load(a, k));
            } else {
              res = op.fwd(val + b);
            }
            if (k == W) res.store_unaligned(d);
            else Tail<Arch>::store(d, k, res);
          };
          put(lo, 0, std::min(W, cnt));
          if (cnt > W) put(hi, W, cnt - W);
        }
      }
    };
    wino_pipeline(planes, tiles_of, rows);
  });
}

// wino_output with a 2×2 stride-2 max pool of the activated outputs (oh,
// ow even): tile t's 2×2 block is the pool's window t, and the pooled plane
// [oh/2, ow/2] is the tiles in order. The four outputs of a vector of tiles
// (computed as in wino_output's first sweep) get the bias and activation,
// are compared in the pool's window order (common/max_rule.hpp), and only
// the maximum and its index go out: the same floats and indices as
// wino_output then max_pool2d_forward, without writing the convolution's
// output or reading it back. base[t]: the index of tile t's first output,
// 2·ty·ow + 2·tx (read up to a vector past the last tile).
template <class Arch>
void wino_output_maxpool(int64_t planes, int64_t ow, int64_t tiles, const float* m, int64_t ld, const float* bias,
                         Activation f, const int32_t* base, float* dst, int32_t* idx) {
  using B = xsimd::batch<float, Arch>;
  using I = xsimd::batch<int32_t, Arch>;
  constexpr int64_t W = B::size;
  const int64_t step = planes * ld;
  const I one(1), wv(static_cast<int32_t>(ow)), w1(static_cast<int32_t>(ow + 1));
  with_activation(f, [&](auto op) {
    for (int64_t o = 0; o < planes; ++o) {
      const B b(bias ? bias[o] : 0.f);
      for (int64_t t = 0; t < tiles; t += W) {  // the last vector reads past the image: m has the slack
        const float* in = m + o * ld + t;
        B out[4];
        wino_tile_outputs<Arch>(in, step, out);
        const I bi = I::load_unaligned(base + t);
        B mx;
        I mi;
        window_max4(op.fwd(out[0] + b), op.fwd(out[1] + b), op.fwd(out[2] + b), op.fwd(out[3] + b), bi, bi + one,
                    bi + wv, bi + w1, mx, mi);
        store_max(dst + o * tiles + t, idx + o * tiles + t, mx, mi, std::min(W, tiles - t));
      }
    }
  });
}

// The weight gradient's transform of one image's dZ: tile t's 2×2 block dy
// (zero past oh, ow) → A dy Aᵀ (4×4) into m[ξ][o][t], A = Aᵀᵀ above; two
// sweeps as in wino_input: each row's columns (p, q) → (p, p + q, p − q,
// −q) into R[k][parity][row div 2], then the same along the rows for whole
// vectors of tiles.
template <class Arch>
void wino_grad_output(int64_t planes, int64_t oh, int64_t ow, int64_t th, int64_t tw, const float* dy,
                      float* scratch, float* m, int64_t ld) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t plane = th * tw + kDirectSlack, tiles = th * tw, step = planes * ld;
  wino_zero_slack(scratch, 16, plane, tiles);
  auto r = [&](int64_t o) { return scratch + (o & 1) * 8 * plane; };
  auto rows = [&](int64_t o) {
    float* ro = r(o);
    for (int64_t y = 0; y < 2 * th; ++y) {
      float* out = ro + (y & 1) * plane + (y >> 1) * tw;  // R[0][y mod 2][y div 2]
      if (y >= oh) {
        for (int k = 0; k < 4; ++k) std::fill_n(out + 2 * k * plane, tw, 0.f);
        continue;
      }
      const float* sr = dy + (o * oh + y) * ow;
      auto seg = [&](int64_t j) {  // columns j … j + W − 1 of the row, zeros past ow
        const int64_t hi = std::clamp<int64_t>(ow - j, 0, W);
        if (hi == W) return B::load_unaligned(sr + j);
        if (hi == 0) return B(0.f);
        return Tail<Arch>::load(sr + j, hi);
      };
      for (int64_t x = 0; x < tw; x += W) {
        B p, q;  // columns 2·tx, 2·tx + 1
        deinterleave<Arch>(seg(2 * x), seg(2 * x + W), p, q);
        p.store_unaligned(out + x);
        (p + q).store_unaligned(out + 2 * plane + x);
        (p - q).store_unaligned(out + 4 * plane + x);
        (-q).store_unaligned(out + 6 * plane + x);
      }
    }
  };
  auto tiles_of = [&](int64_t o) {
    wino_tile_sweep<Arch>(tiles, r(o), plane, m + o * ld, step, [&](int k, const float* rk, auto& st) {
      const B a = B::load_unaligned(rk), b = B::load_unaligned(rk + plane);
      st(0 + k, a);
      st(4 + k, a + b);
      st(8 + k, a - b);
      st(12 + k, -b);
    });
  };
  wino_pipeline(planes, rows, tiles_of);
}

// ---- Direct convolution, output channels in the vector -------------------
//
// Few input channels (LeNet's 6→16 5×5): im2col + GEMM spends 40% of the
// pass writing and reading a column matrix of kh·kw rows per channel, and
// the GEMM's M = C_out = 16 is one micro-tile tall. Here a vector holds W
// output channels of one output position, and a block of RY output rows ×
// RX positions keeps RY·RX accumulators: per tap (c, i, j) one load of the
// W channels' weights, then one FMA per position with the input broadcast
// from the padded image (an embedded-broadcast operand). No dilation, and
// a horizontal stride of 1 or 2 (a template parameter, so that a row's RX
// positions read at constant displacements from one pointer). RX is chosen
// per shape from a few widths so that the blocks tile OW with the least
// waste (10×10 outputs: 2 × 5 or 1 × 10, not 8 + 2); a block's positions
// may run past OW (reading into the row's padding or the next row: computed,
// never stored). Rows are exact (each RY ≤ the largest instantiated).
// wt: [⌈C_out/W⌉][C_in·kh·kw][W], zero lanes past C_out (directc_pack).

// acc[r][x] = bias + Σ_taps w · in[r·wp + x + tap], stored to t[(r·RX + x)·W].
template <class Arch, int RY, int RX, int SW>
void directc_block(const ConvParams& p, int64_t wp, int64_t plane, const float* in, const float* wt,
                   xsimd::batch<float, Arch> bv, float* t) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  B acc[RY][RX];
  NABLA_UNROLL for (int r = 0; r < RY; ++r) { NABLA_UNROLL for (int x = 0; x < RX; ++x) acc[r][x] = bv; }
  const int64_t rstep = p.stride_h * wp;  // one output row to the next in the image
  for (int64_t c = 0; c < p.c_in; ++c)
    for (int64_t i = 0; i < p.kh; ++i) {
      const float* row = in + c * plane + i * wp;
      for (int64_t j = 0; j < p.kw; ++j, wt += W) {
        const B wv = B::load_aligned(wt);
        // One pointer per row, opaque to the compiler: otherwise GCC keeps
        // an offset register per position (spilling them) or carries each
        // tap's inputs over to the next in scalar registers (s[x + 1] is
        // the next tap's s[x]); so each FMA broadcasts its input straight
        // from the image, at a constant displacement.
        NABLA_UNROLL for (int r = 0; r < RY; ++r) {
          const float* s = row + r * rstep + j;
          asm("" : "+r"(s));
          NABLA_UNROLL for (int x = 0; x < RX; ++x) acc[r][x] = fmadd<Arch>(wv, B(s[x * SW]), acc[r][x]);
        }
      }
    }
  NABLA_UNROLL for (int r = 0; r < RY; ++r) {
    NABLA_UNROLL for (int x = 0; x < RX; ++x) acc[r][x].store_aligned(t + (r * RX + x) * W);
  }
}

// Rows ry ≤ RY of a block: the instantiation for exactly ry rows.
template <class Arch, int RY, int RX, int SW>
inline void directc_rows(int64_t ry, const ConvParams& p, int64_t wp, int64_t plane, const float* in,
                         const float* wt, xsimd::batch<float, Arch> bv, float* t) {
  if (ry == RY) return directc_block<Arch, RY, RX, SW>(p, wp, plane, in, wt, bv, t);
  if constexpr (RY > 1) directc_rows<Arch, RY - 1, RX, SW>(ry, p, wp, plane, in, wt, bv, t);
}

// The block widths, with the rows each takes: RY·RX accumulators ≤ 24 of
// 32 registers (AVX-512), ≤ 12 of 16.
template <class Arch>
struct DirectcWidths {
  static constexpr bool kWide = xsimd::batch<float, Arch>::size == 16;
  static constexpr int kRx[] = {2, 3, 4, 5, 6, 7, 8, 10, 12, 16};
  static constexpr int rows(int rx) { return std::min(8, (kWide ? 24 : 12) / rx); }
};

// The width whose blocks compute the fewest positions per output row; on
// a tie, the most accumulators, then the widest.
template <class Arch>
inline int directc_width(int64_t ow) {
  using D = DirectcWidths<Arch>;
  int best = 0;
  int64_t best_cols = 0;
  for (int rx : D::kRx) {
    if (D::rows(rx) < 1) continue;
    const int64_t cols = (ow + rx - 1) / rx * rx;
    const auto acc = [](int x) { return D::rows(x) * x; };
    if (!best || cols < best_cols || (cols == best_cols && acc(rx) >= acc(best))) best = rx, best_cols = cols;
  }
  return best;
}

// t [ry][RX][W] (lane l: channel o0 + l) → dst [lanes][OH·OW] at the
// block's (y, x), rx of each row's positions, through f.
template <class Arch, class Act>
inline void directc_store(const float* t, int64_t rx_block, int64_t ry, int64_t rx, int64_t lanes, int64_t ohw,
                          int64_t ow, float* dst, Act act) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  for (int64_t r = 0; r < ry; ++r) {
    const float* tr = t + r * rx_block * W;
    float* d = dst + r * ow;
    int64_t x = 0;
#ifdef __AVX512F__
    if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
      // 8 positions × 16 channels at a time, transposed in registers: an
      // 8×8 transpose per 128-bit lane's 4 channels (unpacks, shuffles),
      // then each vector holds two channels' 8 positions, one per half.
      for (; x < rx; x += 8) {
        const int64_t n = std::min<int64_t>(8, rx - x);
        __m512 a[8];  // positions past rx repeat the last one (never stored)
        for (int q = 0; q < 8; ++q) a[q] = act(B::load_aligned(tr + (x + std::min<int64_t>(q, n - 1)) * W));
        const __m512 t0 = _mm512_unpacklo_ps(a[0], a[1]), t1 = _mm512_unpackhi_ps(a[0], a[1]);
        const __m512 t2 = _mm512_unpacklo_ps(a[2], a[3]), t3 = _mm512_unpackhi_ps(a[2], a[3]);
        const __m512 t4 = _mm512_unpacklo_ps(a[4], a[5]), t5 = _mm512_unpackhi_ps(a[4], a[5]);
        const __m512 t6 = _mm512_unpacklo_ps(a[6], a[7]), t7 = _mm512_unpackhi_ps(a[6], a[7]);
        // 128-bit lane k of u[m] (v[m]): positions 0–3 (4–7) of channel 4k + m.
        const __m512 u4[4] = {_mm512_shuffle_ps(t0, t2, 0x44), _mm512_shuffle_ps(t0, t2, 0xEE),
                              _mm512_shuffle_ps(t1, t3, 0x44), _mm512_shuffle_ps(t1, t3, 0xEE)};
        const __m512 v4[4] = {_mm512_shuffle_ps(t4, t6, 0x44), _mm512_shuffle_ps(t4, t6, 0xEE),
                              _mm512_shuffle_ps(t5, t7, 0x44), _mm512_shuffle_ps(t5, t7, 0xEE)};
        const __mmask16 lo = static_cast<__mmask16>((1u << n) - 1), hi = static_cast<__mmask16>(lo << 8);
        for (int m = 0; m < 4; ++m) {
          // Lanes (u0, u1, v0, v1) reordered (u0, v0, u1, v1): channel m's
          // 8 positions, then channel m + 4's; (u2, u3, v2, v3): m + 8, m + 12.
          const __m512 e0 = _mm512_shuffle_f32x4(u4[m], v4[m], 0x44), f0 = _mm512_shuffle_f32x4(u4[m], v4[m], 0xEE);
          const __m512 e = _mm512_shuffle_f32x4(e0, e0, 0xD8), f = _mm512_shuffle_f32x4(f0, f0, 0xD8);
          // The high half goes out through a mask shifted by 8, from 8
          // floats before its row (only its lanes are written).
          if (m < lanes) _mm512_mask_storeu_ps(d + m * ohw + x, lo, e);
          if (m + 4 < lanes) _mm512_mask_storeu_ps(d + (m + 4) * ohw + x - 8, hi, e);
          if (m + 8 < lanes) _mm512_mask_storeu_ps(d + (m + 8) * ohw + x, lo, f);
          if (m + 12 < lanes) _mm512_mask_storeu_ps(d + (m + 12) * ohw + x - 8, hi, f);
        }
      }
      continue;
    }
#endif
    alignas(64) float u[16 * W];  // rx ≤ 16
    for (int64_t q = x; q < rx; ++q) act(B::load_aligned(tr + q * W)).store_aligned(u + q * W);
    for (int64_t l = 0; l < lanes; ++l)
      for (int64_t q = x; q < rx; ++q) d[l * ohw + q] = u[q * W + l];
  }
}

template <class Arch, int RX, int SW, class Act>
void directc_forward_act(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* wt,
                         const float* bias, float* dst, Act act) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  constexpr int RY = DirectcWidths<Arch>::rows(RX);
  const int64_t wp = p.w + 2 * p.pad_w, plane = (p.h + 2 * p.pad_h) * wp, taps = p.c_in * p.kh * p.kw;
  const int64_t ohw = oh * ow;
  alignas(64) float t[RY * RX * W];
  for (int64_t o0 = 0; o0 < p.c_out; o0 += W) {
    const int64_t lanes = std::min(W, p.c_out - o0);
    alignas(64) float bl[W] = {};
    if (bias) std::copy(bias + o0, bias + o0 + lanes, bl);
    const B bv = B::load_aligned(bl);
    const float* w = wt + o0 / W * taps * W;
    float* d = dst + o0 * ohw;
    for (int64_t y = 0; y < oh; y += RY) {
      const int64_t ry = std::min<int64_t>(RY, oh - y);
      for (int64_t x = 0; x < ow; x += RX) {
        directc_rows<Arch, RY, RX, SW>(ry, p, wp, plane, padded + y * p.stride_h * wp + x * SW, w, bv, t);
        directc_store<Arch>(t, RX, ry, std::min<int64_t>(RX, ow - x), lanes, ohw, ow, d + y * ow + x, act);
      }
    }
  }
}

// One image: padded [C_in, h + 2·ph, w + 2·pw] (+ kDirectSlack floats) →
// dst [C_out, OH, OW] = f(bias + conv).
template <class Arch>
void directc_forward(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* wt,
                     const float* bias, Activation f, float* dst) {
  using B = xsimd::batch<float, Arch>;
  const int rx = directc_width<Arch>(ow);
  with_activation(f, [&](auto op) {
    const auto act = [op](B x) { return op.fwd(x); };
    // One instantiation per width that has rows on this ISA (16 registers
    // give 16-wide blocks none).
    auto run = [&]<int RX>() {
      if constexpr (DirectcWidths<Arch>::rows(RX) >= 1)
        if (rx == RX) {
          if (p.stride_w == 1)
            directc_forward_act<Arch, RX, 1>(p, oh, ow, padded, wt, bias, dst, act);
          else
            directc_forward_act<Arch, RX, 2>(p, oh, ow, padded, wt, bias, dst, act);
        }
    };
    [&]<int... I>(std::integer_sequence<int, I...>) {
      (run.template operator()<DirectcWidths<Arch>::kRx[I]>(), ...);
    }(std::make_integer_sequence<int, std::size(DirectcWidths<Arch>::kRx)>{});
  });
}

// Weight gradient in the same layout: dwt[(b·taps + t)·W + l] += Σ over
// one image's positions of dZ[b·W + l, pos] · in[pos + tap t], each vector
// the W output channels of one tap. dZ is first transposed to [pos][W]
// (gathers), its sum being the bias gradient; then per channel and block of
// TI kernel rows × KW = kw columns, TI·KW accumulators sweep the positions:
// one load of dZ's W channels, one FMA per tap with the input broadcast.
template <class Arch>
struct DirectcGrad {
  static constexpr int kAcc = xsimd::batch<float, Arch>::size == 16 ? 25 : 12;  // accumulators at most
  static constexpr int rows(int kw) { return kAcc / kw; }
};

template <class Arch, int TI, int KW>
void directc_wgrad_block(const float* in, int64_t wp, int64_t sh, int64_t sw, int64_t oh, int64_t ow, const float* dzt,
                         float* dw) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  B acc[TI][KW];
  NABLA_UNROLL for (int r = 0; r < TI; ++r) { NABLA_UNROLL for (int j = 0; j < KW; ++j) acc[r][j] = B(0.f); }
  for (int64_t y = 0; y < oh; ++y)
    for (int64_t x = 0; x < ow; ++x) {
      const B g = B::load_aligned(dzt + (y * ow + x) * W);
      NABLA_UNROLL for (int r = 0; r < TI; ++r) {
        const float* s = in + (y * sh + r) * wp + x * sw;
        asm("" : "+r"(s));  // as in directc_block: broadcasts straight from the image
        NABLA_UNROLL for (int j = 0; j < KW; ++j) acc[r][j] = fmadd<Arch>(g, B(s[j]), acc[r][j]);
      }
    }
  NABLA_UNROLL for (int r = 0; r < TI; ++r) {
    NABLA_UNROLL for (int j = 0; j < KW; ++j) {
      float* d = dw + (r * KW + j) * W;
      (B::load_aligned(d) + acc[r][j]).store_aligned(d);
    }
  }
}

template <class Arch, int TI, int KW>
inline void directc_wgrad_rows(int64_t ti, const float* in, int64_t wp, int64_t sh, int64_t sw, int64_t oh,
                               int64_t ow, const float* dzt, float* dw) {
  if (ti == TI) return directc_wgrad_block<Arch, TI, KW>(in, wp, sh, sw, oh, ow, dzt, dw);
  if constexpr (TI > 1) directc_wgrad_rows<Arch, TI - 1, KW>(ti, in, wp, sh, sw, oh, ow, dzt, dw);
}

// One image: padded as directc_forward's, dz [C_out, OH·OW]; dwt as
// directc_pack lays out weights, dbt [⌈C_out/W⌉][W]; both accumulated.
// kw must satisfy directc_grads.
template <class Arch>
void directc_backward_weights(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* dz,
                              float* dwt, float* dbt) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t wp = p.w + 2 * p.pad_w, plane = (p.h + 2 * p.pad_h) * wp, taps = p.c_in * p.kh * p.kw;
  const int64_t ohw = oh * ow;
  thread_local ScratchBuffer transposed;
  float* dzt = transposed.get(ohw * W);
  for (int64_t o0 = 0; o0 < p.c_out; o0 += W) {
    const int64_t lanes = std::min(W, p.c_out - o0), b = o0 / W;
    // Scalar, each channel's row read in order (hardware gathers across
    // the W rows waited on memory: ~45% of conv4's weight gradient at 1
    // thread, perf, when dZ came from L3).
    const float* zo = dz + o0 * ohw;
    for (int64_t l = 0; l < W; ++l) {
      const float* zl = zo + l * ohw;
      if (l < lanes) {
        for (int64_t q = 0; q < ohw; ++q) dzt[q * W + l] = zl[q];
      } else {
        for (int64_t q = 0; q < ohw; ++q) dzt[q * W + l] = 0.f;
      }
    }
    B bsum(0.f);
    for (int64_t q = 0; q < ohw; ++q) bsum += B::load_aligned(dzt + q * W);
    (B::load_aligned(dbt + b * W) + bsum).store_aligned(dbt + b * W);
    for (int64_t c = 0; c < p.c_in; ++c)
      for (int64_t i0 = 0; i0 < p.kh;) {
        float* dw = dwt + (b * taps + (c * p.kh + i0) * p.kw) * W;
        const float* in = padded + c * plane + i0 * wp;
        // One sweep per block of kernel rows, the kernel width a constant.
        const auto sweep = [&]<int KW>() {
          constexpr int TI = DirectcGrad<Arch>::rows(KW);
          const int64_t ti = std::min<int64_t>(TI, p.kh - i0);
          directc_wgrad_rows<Arch, TI, KW>(ti, in, wp, p.stride_h, p.stride_w, oh, ow, dzt, dw);
          i0 += ti;
        };
        if (p.kw == 3)
          sweep.template operator()<3>();
        else
          sweep.template operator()<5>();
      }
  }
}

// The weights [C_out, C_in, kh, kw] in directc_forward's layout.
template <class Arch>
void directc_pack(const ConvParams& p, const float* weights, float* wt) {
  constexpr int64_t W = xsimd::batch<float, Arch>::size;
  const int64_t taps = p.c_in * p.kh * p.kw, blocks = (p.c_out + W - 1) / W;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t l = 0; l < W; ++l) {
        const int64_t o = b * W + l;
        wt[(b * taps + t) * W + l] = o < p.c_out ? weights[o * taps + t] : 0.f;
      }
}

}  // namespace
}  // namespace nabla::kernels::detail

#define NABLA_CONV_KERNELS(ARCH)                                                                         \
  ::nabla::kernels::detail::ConvKernels {                                                               \
    &im2col<ARCH>, &col2im<ARCH>, &direct1_forward<ARCH>, &direct1_pools<ARCH>, &direct1_forward_maxpool<ARCH>, \
        &direct1_backward_weights<ARCH>, &direct1_backward_weights_pooled<ARCH>, &unpitch<ARCH>,          \
        &phase_split<ARCH>, &phase_join<ARCH>, &wino_input<ARCH>, &wino_output<ARCH>, \
        &wino_output_maxpool<ARCH>, &wino_grad_output<ARCH>, &directc_forward<ARCH>, &directc_pack<ARCH>, \
        &directc_backward_weights<ARCH>,                                                                \
        xsimd::batch<float, ARCH>::size                                                                  \
  }
