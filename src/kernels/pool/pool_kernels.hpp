#pragma once
// Max pooling kernels, written once as templates over an xsimd batch type
// and compiled per ISA by pool_<isa>.cpp (anonymous namespace, as in
// activation_math.hpp).
//
// Data layout, per plane (one (n, c) of NCHW):
//   src, diff_src [H, W]  ->  dst, diff_dst, idx [OH, OW]
//   idx = h·W + w of the chosen input in its plane
//
// 2×2 stride 2 without padding is vectorised along the output width (the
// last vector of a row partial, with masked loads and stores): two input
// rows are loaded as 2V columns each and split into even and odd
// columns (deinterleave), giving the four window positions of V outputs as
// four vectors, compared in row-major window order. The backward pass
// builds the four positions' values the same way and interleaves them back,
// writing every input element once (no zero pass, no scatter). Other
// geometries take the scalar path: clipped windows forward, zero + scatter-
// add backward (correct for overlapping windows).
#include <xsimd/xsimd.hpp>

#include <cstdint>

#include "kernels/activation/activation_math.hpp"
#include "kernels/common/max_rule.hpp"
#include "kernels/common/pairs.hpp"
#include "kernels/pool/pool_internal.hpp"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace nabla::kernels::detail {
namespace {

// Loads and stores of the first k lanes (masked where the ISA has them), of
// floats and of arg-max indices, for the last, partial vector of a row. One
// specialisation per ISA, for the TU compiled with it. The even/odd column
// split of 2V floats and its inverse are common/pairs.hpp's.
template <class B>
struct Pairs;

#if defined(__AVX512F__)
template <>
struct Pairs<xsimd::batch<float, xsimd::avx512f>> {
  using B = xsimd::batch<float, xsimd::avx512f>;
  using I = xsimd::batch<int32_t, xsimd::avx512f>;
  // The first k lanes (0 <= k <= 16); the others read as 0 and are not stored.
  static __mmask16 mask(int64_t k) { return static_cast<__mmask16>((1u << k) - 1u); }
  static B load_n(const float* p, int64_t k) { return _mm512_maskz_loadu_ps(mask(k), p); }
  static void store_n(float* p, B v, int64_t k) { _mm512_mask_storeu_ps(p, mask(k), v); }
  static I load_n(const int32_t* p, int64_t k) { return _mm512_maskz_loadu_epi32(mask(k), p); }
  static void store_n(int32_t* p, I v, int64_t k) { _mm512_mask_storeu_epi32(p, mask(k), v); }
};
#elif defined(__AVX2__)
template <>
struct Pairs<xsimd::batch<float, xsimd::fma3<xsimd::avx2>>> {
  using B = xsimd::batch<float, xsimd::fma3<xsimd::avx2>>;
  using I = xsimd::batch<int32_t, xsimd::fma3<xsimd::avx2>>;
  // The first k lanes (0 <= k <= 8); the others read as 0 and are not stored.
  static __m256i mask(int64_t k) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static B load_n(const float* p, int64_t k) { return _mm256_maskload_ps(p, mask(k)); }
  static void store_n(float* p, B v, int64_t k) { _mm256_maskstore_ps(p, mask(k), v); }
  static I load_n(const int32_t* p, int64_t k) { return _mm256_maskload_epi32(p, mask(k)); }
  static void store_n(int32_t* p, I v, int64_t k) { _mm256_maskstore_epi32(p, mask(k), v); }
};
#else
template <>
struct Pairs<xsimd::batch<float, xsimd::sse2>> {
  using B = xsimd::batch<float, xsimd::sse2>;
  using I = xsimd::batch<int32_t, xsimd::sse2>;
  // The first k lanes (0 <= k <= 4), staged (SSE2 has no masked moves).
  template <class T, class V>
  static V load_staged(const T* p, int64_t k) {
    alignas(16) T t[4] = {};
    for (int64_t l = 0; l < k; ++l) t[l] = p[l];
    return V::load_aligned(t);
  }
  template <class T, class V>
  static void store_staged(T* p, V v, int64_t k) {
    alignas(16) T t[4];
    v.store_aligned(t);
    for (int64_t l = 0; l < k; ++l) p[l] = t[l];
  }
  static B load_n(const float* p, int64_t k) { return load_staged<float, B>(p, k); }
  static void store_n(float* p, B v, int64_t k) { store_staged(p, v, k); }
  static I load_n(const int32_t* p, int64_t k) { return load_staged<int32_t, I>(p, k); }
  static void store_n(int32_t* p, I v, int64_t k) { store_staged(p, v, k); }
};
#endif

// The scalar window: rows [h0, h1), columns [w0, w1) of a plane of width w.
inline void window_max(const float* plane, int64_t w, int64_t h0, int64_t h1, int64_t w0, int64_t w1,
                       float* dst, int32_t* idx) {
  float m = plane[h0 * w + w0];
  int64_t id = h0 * w + w0;
  for (int64_t y = h0; y < h1; ++y)
    for (int64_t x = w0; x < w1; ++x)
      if (takes_over(plane[y * w + x], m)) {
        m = plane[y * w + x];
        id = y * w + x;
      }
  *dst = m;
  *idx = static_cast<int32_t>(id);
}

// {0, 2, 4, …}: the column of each lane's first window input, relative to
// the vector's first output.
template <class I>
inline I even_lanes() {
  alignas(64) int32_t t[I::size];
  for (int l = 0; l < static_cast<int>(I::size); ++l) t[l] = 2 * l;
  return I::load_aligned(t);
}

template <class B>
void max2x2_forward_plane(int64_t w, int64_t oh, int64_t ow, const float* src, float* dst,
                          int32_t* idx) {
  using I = xsimd::batch<int32_t, typename B::arch_type>;
  using P = Pairs<B>;
  using A = typename B::arch_type;
  constexpr int64_t V = B::size;
  const I lane2 = even_lanes<I>();
  const I one(1), wv(static_cast<int32_t>(w)), w1(static_cast<int32_t>(w + 1));
  for (int64_t y = 0; y < oh; ++y) {
    const float* r0 = src + 2 * y * w;
    const float* r1 = r0 + w;
    float* d = dst + y * ow;
    int32_t* id = idx + y * ow;
    // The input usually comes straight from a convolution, out of cache:
    // fetch the window rows 4 output rows ahead (into the next plane at the
    // bottom; prefetches past the array do not fault).
    for (int64_t l = 0; l < 2 * w; l += 16) __builtin_prefetch(r0 + 8 * w + l);
    for (int64_t x = 0; x < ow; x += V) {
      // k outputs (V but for the last vector of a row) from 2k input columns.
      const int64_t k = ow - x < V ? ow - x : V;
      const int64_t k0 = 2 * k < V ? 2 * k : V, k1 = 2 * k - k0;
      B e0, o0, e1, o1;
      if (k == V) {
        deinterleave<A>(B::load_unaligned(r0 + 2 * x), B::load_unaligned(r0 + 2 * x + V), e0, o0);
        deinterleave<A>(B::load_unaligned(r1 + 2 * x), B::load_unaligned(r1 + 2 * x + V), e1, o1);
      } else {
        deinterleave<A>(P::load_n(r0 + 2 * x, k0), P::load_n(r0 + 2 * x + V, k1), e0, o0);
        deinterleave<A>(P::load_n(r1 + 2 * x, k0), P::load_n(r1 + 2 * x + V, k1), e1, o1);
      }
      const I base = lane2 + I(static_cast<int32_t>(2 * y * w + 2 * x));
      B m;
      I mi;
      window_max4(e0, o0, e1, o1, base, base + one, base + wv, base + w1, m, mi);
      if (k == V) {
        m.store_unaligned(d + x);
        mi.store_unaligned(id + x);
      } else {
        P::store_n(d + x, m, k);
        P::store_n(id + x, mi, k);
      }
    }
  }
}

// op: the fused derivative (ActOp), from out (the pooled output; null when
// op is None's).
template <class B, class Op>
void max2x2_backward_plane(int64_t h, int64_t w, int64_t oh, int64_t ow, const float* diff_dst,
                           const int32_t* idx, float* diff_src, Op op, const float* out) {
  using I = xsimd::batch<int32_t, typename B::arch_type>;
  using P = Pairs<B>;
  using A = typename B::arch_type;
  constexpr int64_t V = B::size;
  const I lane2 = even_lanes<I>();
  const I zero(0), one(1), wv(static_cast<int32_t>(w)), w1(static_cast<int32_t>(w + 1));
  for (int64_t y = 0; y < oh; ++y) {
    float* r0 = diff_src + 2 * y * w;
    float* r1 = r0 + w;
    const float* g = diff_dst + y * ow;
    const int32_t* id = idx + y * ow;
    for (int64_t l = 0; l < 2 * w; l += 16) __builtin_prefetch(r0 + 8 * w + l, 1);
    for (int64_t l = 0; l < ow; l += 16) {
      __builtin_prefetch(g + 4 * ow + l);
      __builtin_prefetch(id + 4 * ow + l);
      if (out) __builtin_prefetch(out + (y + 4) * ow + l);
    }
    for (int64_t x = 0; x < ow; x += V) {
      const int64_t k = ow - x < V ? ow - x : V;
      const int64_t k0 = 2 * k < V ? 2 * k : V, k1 = 2 * k - k0;
      const bool full = k == V;
      B gf = full ? B::load_unaligned(g + x) : P::load_n(g + x, k);
      if (out) gf = op.bwd(gf, full ? B::load_unaligned(out + y * ow + x) : P::load_n(out + y * ow + x, k));
      const I gv = xsimd::bitwise_cast<I>(gf);
      const I iv = full ? I::load_unaligned(id + x) : P::load_n(id + x, k);
      const I base = lane2 + I(static_cast<int32_t>(2 * y * w + 2 * x));
      auto at = [&](I pos) { return xsimd::bitwise_cast<B>(xsimd::select(iv == pos, gv, zero)); };
      auto put = [&](float* row, B even, B odd) {
        B a, b;
        interleave<A>(even, odd, a, b);
        if (full) {
          a.store_unaligned(row + 2 * x);
          b.store_unaligned(row + 2 * x + V);
        } else {
          P::store_n(row + 2 * x, a, k0);
          P::store_n(row + 2 * x + V, b, k1);
        }
      };
      put(r0, at(base), at(base + one));
      put(r1, at(base + wv), at(base + w1));
    }
    for (int64_t c = 2 * ow; c < w; ++c) r0[c] = r1[c] = 0.f;  // odd W: the column no window covers
  }
  for (int64_t i = 2 * oh * w; i < h * w; ++i) diff_src[i] = 0.f;  // odd H: the last row
}

template <class B>
void max_forward(const MaxPool2d& p, int64_t planes, const float* src, float* dst, int32_t* idx) {
  const int64_t oh = p.out_h(), ow = p.out_w(), in = p.h * p.w, out = oh * ow;
  const bool fast = p.kernel == 2 && p.stride == 2 && p.padding == 0;
  for (int64_t q = 0; q < planes; ++q) {
    const float* s = src + q * in;
    float* d = dst + q * out;
    int32_t* id = idx + q * out;
    if (fast) {
      max2x2_forward_plane<B>(p.w, oh, ow, s, d, id);
      continue;
    }
    for (int64_t y = 0; y < oh; ++y) {
      const int64_t hs = y * p.stride - p.padding;
      const int64_t h0 = hs < 0 ? 0 : hs, h1 = hs + p.kernel > p.h ? p.h : hs + p.kernel;
      for (int64_t x = 0; x < ow; ++x) {
        const int64_t ws = x * p.stride - p.padding;
        const int64_t w0 = ws < 0 ? 0 : ws, w1 = ws + p.kernel > p.w ? p.w : ws + p.kernel;
        window_max(s, p.w, h0, h1, w0, w1, d + y * ow + x, id + y * ow + x);
      }
    }
  }
}

// f (not None): each dY times f'(·) from the pooled output dst before the
// scatter (see max_pool2d_backward). The general path scatters V outputs at
// a time from a staged vector.
template <class B>
void max_backward(const MaxPool2d& p, int64_t planes, const float* diff_dst, const int32_t* idx,
                  float* diff_src, Activation f, const float* dst) {
  using P = Pairs<B>;
  constexpr int64_t V = B::size;
  const int64_t oh = p.out_h(), ow = p.out_w(), in = p.h * p.w, out = oh * ow;
  const bool fast = p.kernel == 2 && p.stride == 2 && p.padding == 0;
  if (f.is_none()) dst = nullptr;
  with_activation(f, [&](auto op) {
    for (int64_t q = 0; q < planes; ++q) {
      const float* g = diff_dst + q * out;
      const int32_t* id = idx + q * out;
      const float* y = dst ? dst + q * out : nullptr;
      float* d = diff_src + q * in;
      if (fast) {
        max2x2_backward_plane<B>(p.h, p.w, oh, ow, g, id, d, op, y);
        continue;
      }
      for (int64_t i = 0; i < in; ++i) d[i] = 0.f;
      if (!y) {
        for (int64_t o = 0; o < out; ++o) d[id[o]] += g[o];
        continue;
      }
      alignas(64) float t[V];
      for (int64_t o = 0; o < out; o += V) {
        const int64_t k = out - o < V ? out - o : V;
        op.bwd(P::load_n(g + o, k), P::load_n(y + o, k)).store_aligned(t);
        for (int64_t l = 0; l < k; ++l) d[id[o + l]] += t[l];
      }
    }
  });
}

// ---- average pooling ----------------------------------------------------------
//
// Per plane: src, diff_src [H, W] -> dst, diff_dst [OH, OW]. The output row
// is the accumulator: zeroed, then for each window row a and column b the
// inputs (y·s − pad + a, x·s − pad + b) of the outputs x whose column is
// inside the plane are added (padding adds nothing, which is adding +0),
// then divided by kernel². Stride 1 loads V consecutive inputs, stride 2
// deinterleaves 2V; other strides run the same order in scalar.

// The outputs x in [x_lo, x_hi) whose window column b reads inside [0, w).
inline void valid_cols(int64_t w, int64_t ow, int64_t s, int64_t col0, int64_t& x_lo, int64_t& x_hi) {
  x_lo = col0 >= 0 ? 0 : (-col0 + s - 1) / s;
  x_hi = w - 1 - col0 < 0 ? 0 : (w - 1 - col0) / s + 1;
  if (x_hi > ow) x_hi = ow;
  if (x_lo > x_hi) x_lo = x_hi;
}

// k lanes (k <= V) of every s-th input from row (s = 1 or 2).
template <class B>
inline B load_cols(const float* row, int64_t s, int64_t k) {
  using P = Pairs<B>;
  using A = typename B::arch_type;
  constexpr int64_t V = B::size;
  if (s == 1) return k == V ? B::load_unaligned(row) : P::load_n(row, k);
  const int64_t n = 2 * k - 1, k0 = n < V ? n : V, k1 = n - k0;  // 2k − 1 inputs
  B e, o;
  deinterleave<A>(k0 == V ? B::load_unaligned(row) : P::load_n(row, k0), P::load_n(row + V, k1), e, o);
  return e;
}

template <class B>
void avg_forward(const AvgPool2d& p, int64_t planes, const float* src, float* dst) {
  using P = Pairs<B>;
  constexpr int64_t V = B::size;
  const int64_t oh = p.out_h(), ow = p.out_w(), in = p.h * p.w, out = oh * ow, s = p.stride;
  const float div = static_cast<float>(p.kernel * p.kernel);
  const bool vec = s == 1 || s == 2;
  for (int64_t q = 0; q < planes; ++q) {
    for (int64_t y = 0; y < oh; ++y) {
      float* d = dst + q * out + y * ow;
      for (int64_t x = 0; x < ow; ++x) d[x] = 0.f;
      for (int64_t a = 0; a < p.kernel; ++a) {
        const int64_t hh = y * s - p.padding + a;
        if (hh < 0 || hh >= p.h) continue;
        const float* r = src + q * in + hh * p.w;
        for (int64_t b = 0; b < p.kernel; ++b) {
          const int64_t col0 = b - p.padding;
          int64_t x_lo, x_hi;
          valid_cols(p.w, ow, s, col0, x_lo, x_hi);
          if (!vec) {
            for (int64_t x = x_lo; x < x_hi; ++x) d[x] += r[x * s + col0];
            continue;
          }
          for (int64_t x = x_lo; x < x_hi; x += V) {
            const int64_t k = x_hi - x < V ? x_hi - x : V;
            const B v = load_cols<B>(r + x * s + col0, s, k);
            if (k == V)
              (B::load_unaligned(d + x) + v).store_unaligned(d + x);
            else
              P::store_n(d + x, P::load_n(d + x, k) + v, k);
          }
        }
      }
      const B dv(div);
      for (int64_t x = 0; x < ow; x += V) {
        const int64_t k = ow - x < V ? ow - x : V;
        if (k == V)
          (B::load_unaligned(d + x) / dv).store_unaligned(d + x);
        else
          P::store_n(d + x, P::load_n(d + x, k) / dv, k);
      }
    }
  }
}

template <class B>
void avg_backward(const AvgPool2d& p, int64_t planes, const float* diff_dst, float* diff_src) {
  using P = Pairs<B>;
  constexpr int64_t V = B::size;
  const int64_t oh = p.out_h(), ow = p.out_w(), in = p.h * p.w, out = oh * ow, s = p.stride;
  const float div = static_cast<float>(p.kernel * p.kernel);
  const B dv(div);
  for (int64_t q = 0; q < planes; ++q) {
    float* ds = diff_src + q * in;
    for (int64_t i = 0; i < in; ++i) ds[i] = 0.f;
    for (int64_t y = 0; y < oh; ++y) {
      const float* g = diff_dst + q * out + y * ow;
      for (int64_t a = 0; a < p.kernel; ++a) {
        const int64_t hh = y * s - p.padding + a;
        if (hh < 0 || hh >= p.h) continue;
        float* r = ds + hh * p.w;
        for (int64_t b = 0; b < p.kernel; ++b) {
          const int64_t col0 = b - p.padding;
          int64_t x_lo, x_hi;
          valid_cols(p.w, ow, s, col0, x_lo, x_hi);
          if (s != 1) {
            for (int64_t x = x_lo; x < x_hi; ++x) r[x * s + col0] += g[x] / div;
            continue;
          }
          for (int64_t x = x_lo; x < x_hi; x += V) {
            const int64_t k = x_hi - x < V ? x_hi - x : V;
            float* t = r + x + col0;
            if (k == V)
              (B::load_unaligned(t) + B::load_unaligned(g + x) / dv).store_unaligned(t);
            else
              P::store_n(t, P::load_n(t, k) + P::load_n(g + x, k) / dv, k);
          }
        }
      }
    }
  }
}

// Global average: one plane's sum in four vector accumulators (then their
// lanes), divided by the plane size.
template <class B>
void gap_forward(int64_t planes, int64_t plane, const float* src, float* dst) {
  using P = Pairs<B>;
  constexpr int64_t V = B::size;
  for (int64_t q = 0; q < planes; ++q) {
    const float* x = src + q * plane;
    B a0(0.f), a1(0.f), a2(0.f), a3(0.f);
    int64_t i = 0;
    for (; i + 4 * V <= plane; i += 4 * V) {
      a0 += B::load_unaligned(x + i);
      a1 += B::load_unaligned(x + i + V);
      a2 += B::load_unaligned(x + i + 2 * V);
      a3 += B::load_unaligned(x + i + 3 * V);
    }
    for (; i < plane; i += V) a0 += P::load_n(x + i, plane - i < V ? plane - i : V);
    dst[q] = xsimd::hadd((a0 + a1) + (a2 + a3)) / static_cast<float>(plane);
  }
}

template <class B>
void gap_backward(int64_t planes, int64_t plane, const float* diff_dst, float* diff_src) {
  using P = Pairs<B>;
  constexpr int64_t V = B::size;
  for (int64_t q = 0; q < planes; ++q) {
    const B g(diff_dst[q] / static_cast<float>(plane));
    float* d = diff_src + q * plane;
    int64_t i = 0;
    for (; i + V <= plane; i += V) g.store_unaligned(d + i);
    if (i < plane) P::store_n(d + i, g, plane - i);
  }
}

}  // namespace
}  // namespace nabla::kernels::detail

// The function table of one ISA; used by pool_<isa>.cpp.
#define NABLA_POOL_KERNELS(ARCH)                                                                 \
  ::nabla::kernels::detail::PoolKernels {                                                        \
    &max_forward<xsimd::batch<float, ARCH>>, &max_backward<xsimd::batch<float, ARCH>>,           \
        &avg_forward<xsimd::batch<float, ARCH>>, &avg_backward<xsimd::batch<float, ARCH>>,       \
        &gap_forward<xsimd::batch<float, ARCH>>, &gap_backward<xsimd::batch<float, ARCH>>        \
  }
