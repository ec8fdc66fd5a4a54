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
// go through scalar loops.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>

#include "kernels/activation/activation_math.hpp"
#include "kernels/common/fma.hpp"
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

// [C_in, H, W] → [C_in·kh·kw, OH·OW]
template <class Arch>
void im2col(const ConvParams& p, int64_t oh, int64_t ow, const float* src, float* col) {
  for (int64_t c = 0; c < p.c_in; ++c) {
    const float* plane = src + c * p.h * p.w;
    for (int64_t i = 0; i < p.kh; ++i) {
      const int64_t y0 = i * p.dil_h - p.pad_h;
      const Range ys = valid_range(y0, p.stride_h, p.h, oh);
      for (int64_t j = 0; j < p.kw; ++j, col += oh * ow) {
        const int64_t x0 = j * p.dil_w - p.pad_w;
        const Range xs = valid_range(x0, p.stride_w, p.w, ow);
        zero_row<Arch>(col, ys.lo * ow);
        if (p.stride_w == 1 && xs.lo == 0 && xs.hi == ow) {  // no padding along x
          copy_rows<Arch>(col + ys.lo * ow, ow, plane + (ys.lo * p.stride_h + y0) * p.w + x0, p.stride_h * p.w,
                          ys.hi - ys.lo, ow);
        } else {
          for (int64_t y = ys.lo; y < ys.hi; ++y) {
          float* d = col + y * ow;
          const float* s = plane + (y * p.stride_h + y0) * p.w + xs.lo * p.stride_w + x0;
          const int64_t n = xs.hi - xs.lo;
          zero_row<Arch>(d, xs.lo);
          if (p.stride_w == 1) {
            copy_rows<Arch>(d + xs.lo, 0, s, 0, 1, n);
          } else {
            for (int64_t x = 0; x < n; ++x) d[xs.lo + x] = s[x * p.stride_w];
          }
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
template <class Arch>
void col2im(const ConvParams& p, int64_t oh, int64_t ow, const float* col, float* dst, Activation f,
            const float* act) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  const int64_t plane_size = p.h * p.w, col_cols = oh * ow;
  for (int64_t c = 0; c < p.c_in; ++c) {
    float* plane = dst + c * plane_size;
    const float* a_plane = f == Activation::None ? nullptr : act + c * plane_size;
    const float* c_rows = col + c * p.kh * p.kw * col_cols;  // the column rows of channel c
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

// ---- direct convolution of one input channel (stride 1, no dilation) ---------
//
// The first layer of an image network has one input channel: its column
// matrix is kh·kw times the image and its GEMMs have K = kh·kw (9, 25), far
// from what a GEMM runs well. Here the image is zero-padded into rows of pitch
// wp = w + 2·pad_w, flat; the output is computed on the same pitch, so output
// q = oy·wp + ox reads padded[q + ky·wp + kx]: every tap is a constant offset
// and the convolution is kh·kw FMAs per output over contiguous vectors (the
// wp − ow outputs past each row's end are computed and dropped). The caller
// sizes the buffers with kDirectSlack floats of slack (conv.cpp).

// Forward, channels [0, c_out): out_v[c·q_pitch + q] = Σ_t w[c·taps + t] ·
// padded[q + off(t)] for q < q_len (blocks may run on to q_pitch). A block is
// CB channels × R vectors of outputs: each tap loads R input vectors and CB
// weights for CB·R FMAs. Channels past c_out repeat the last one (their
// results are not stored).
template <class Arch>
void direct1_forward(const ConvParams& p, int64_t q_len, int64_t q_pitch, const float* padded, const float* w,
                     float* out_v) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  constexpr int R = W == 16 ? 4 : 2;  // AVX-512: 24 accumulators + 4 inputs of 32 registers; else 12 of 16
  constexpr int CB = 6;
  const int64_t wp = p.w + 2 * p.pad_w, taps = p.kh * p.kw;
  for (int64_t c0 = 0; c0 < p.c_out; c0 += CB) {
    const float* wc[CB];
    NABLA_UNROLL for (int c = 0; c < CB; ++c) wc[c] = w + std::min<int64_t>(c0 + c, p.c_out - 1) * taps;
    for (int64_t q = 0; q < q_len; q += R * W) {
      B acc[CB][R];
      NABLA_UNROLL for (int c = 0; c < CB; ++c) { NABLA_UNROLL for (int r = 0; r < R; ++r) acc[c][r] = B(0.f); }
      for (int64_t ky = 0; ky < p.kh; ++ky) {
        const float* row = padded + q + ky * wp;
        const int64_t t0 = ky * p.kw;
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          B x[R];
          NABLA_UNROLL for (int r = 0; r < R; ++r) x[r] = B::load_unaligned(row + kx + r * W);
          NABLA_UNROLL for (int c = 0; c < CB; ++c) {
            const B wv(wc[c][t0 + kx]);
            NABLA_UNROLL for (int r = 0; r < R; ++r) acc[c][r] = fmadd<Arch>(wv, x[r], acc[c][r]);
          }
        }
      }
      NABLA_UNROLL for (int c = 0; c < CB; ++c) {
        if (c0 + c >= p.c_out) break;
        float* o = out_v + (c0 + c) * q_pitch + q;
        NABLA_UNROLL for (int r = 0; r < R; ++r) acc[c][r].store_unaligned(o + r * W);
      }
    }
  }
}

// Backward-weights: dw[c·taps + t] += Σ_{q < q_pitch} dz_v[c·q_pitch + q] ·
// padded[q + off(t)], dz_v holding the output gradient on the pitch-wp
// layout with zeros in the dropped columns and past q_len. A block is CB
// channels × TB taps of accumulators; each step loads CB gradient vectors
// and TB input vectors for CB·TB FMAs. Out-of-range channels and taps
// repeat the last one and are not stored.
template <class Arch>
void direct1_backward_weights(const ConvParams& p, int64_t q_pitch, const float* padded, const float* dz_v,
                              float* dw) {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = B::size;
  constexpr int CB = W == 16 ? 3 : 2;
  constexpr int TB = W == 16 ? 8 : 4;
  const int64_t wp = p.w + 2 * p.pad_w, taps = p.kh * p.kw;
  for (int64_t c0 = 0; c0 < p.c_out; c0 += CB) {
    const float* dc[CB];
    NABLA_UNROLL for (int c = 0; c < CB; ++c) dc[c] = dz_v + std::min<int64_t>(c0 + c, p.c_out - 1) * q_pitch;
    for (int64_t t0 = 0; t0 < taps; t0 += TB) {
      const float* xt[TB];
      NABLA_UNROLL for (int t = 0; t < TB; ++t) {
        const int64_t tap = std::min<int64_t>(t0 + t, taps - 1);
        xt[t] = padded + (tap / p.kw) * wp + tap % p.kw;
      }
      B acc[CB][TB];
      NABLA_UNROLL for (int c = 0; c < CB; ++c) { NABLA_UNROLL for (int t = 0; t < TB; ++t) acc[c][t] = B(0.f); }
      for (int64_t q = 0; q < q_pitch; q += W) {
        B d[CB];
        NABLA_UNROLL for (int c = 0; c < CB; ++c) d[c] = B::load_unaligned(dc[c] + q);
        NABLA_UNROLL for (int t = 0; t < TB; ++t) {
          const B x = B::load_unaligned(xt[t] + q);
          NABLA_UNROLL for (int c = 0; c < CB; ++c) acc[c][t] = fmadd<Arch>(d[c], x, acc[c][t]);
        }
      }
      NABLA_UNROLL for (int c = 0; c < CB; ++c) {
        if (c0 + c >= p.c_out) break;
        NABLA_UNROLL for (int t = 0; t < TB; ++t) {
          if (t0 + t >= taps) break;
          dw[(c0 + c) * taps + t0 + t] += xsimd::hadd(acc[c][t]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace nabla::kernels::detail

#define NABLA_CONV_KERNELS(ARCH)                                                                         \
  ::nabla::kernels::detail::ConvKernels {                                                               \
    &im2col<ARCH>, &col2im<ARCH>, &direct1_forward<ARCH>, &direct1_backward_weights<ARCH>               \
  }
