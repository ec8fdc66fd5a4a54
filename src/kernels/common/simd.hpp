#pragma once
// Vector-loop helpers shared by the per-ISA element-wise kernels
// (activation, loss, pool, optim). Included only by per-ISA translation
// units; everything is in an anonymous namespace (see activation_math.hpp).
//
// A loop over n floats runs full vectors, then at most one partial vector
// whose lanes are staged through a small aligned buffer: the tail goes
// through the same code as the body (no scalar remainder loop), and lanes
// past n read as `fill` and are never stored.
#include <xsimd/xsimd.hpp>

#include <cstdint>

namespace nabla::kernels {
namespace {

// Tag: a full vector (the common case, resolved at compile time).
struct Full {};

template <class B>
inline B load(const float* p, Full) {
  return B::load_unaligned(p);
}
template <class B>
inline B load(const float* p, int64_t w, float fill = 0.f) {
  alignas(64) float t[B::size];
  for (int64_t l = 0; l < static_cast<int64_t>(B::size); ++l) t[l] = l < w ? p[l] : fill;
  return B::load_aligned(t);
}
// Full-vector overload ignoring the fill (so callers can pass one).
template <class B>
inline B load(const float* p, Full, float) {
  return B::load_unaligned(p);
}

template <class B>
inline void store(float* p, B v, Full) {
  v.store_unaligned(p);
}
template <class B>
inline void store(float* p, B v, int64_t w) {
  alignas(64) float t[B::size];
  v.store_aligned(t);
  for (int64_t l = 0; l < w; ++l) p[l] = t[l];
}

// Lanes past w set to zero (for sums over a partial vector).
template <class B>
inline B keep(B v, Full) {
  return v;
}
template <class B>
inline B keep(B v, int64_t w) {
  alignas(64) float t[B::size];
  v.store_aligned(t);
  for (int64_t l = w; l < static_cast<int64_t>(B::size); ++l) t[l] = 0.f;
  return B::load_aligned(t);
}

// body(i, lanes) for i = 0, W, 2W, … < n; lanes is Full{} or the remainder.
template <class B, class F>
inline __attribute__((always_inline)) void vec_loop(int64_t n, F&& body) {
  constexpr int64_t W = B::size;
  int64_t i = 0;
  for (; i + W <= n; i += W) body(i, Full{});
  if (i < n) body(i, n - i);
}

// The largest lane (NaN-blind: lanes compare with >, as the row-max of a
// softmax needs; a NaN row is caught by the sums that follow).
template <class B>
inline float hmax(B v) {
  alignas(64) float t[B::size];
  v.store_aligned(t);
  float m = t[0];
  for (int l = 1; l < static_cast<int>(B::size); ++l) m = t[l] > m ? t[l] : m;
  return m;
}

// Σ of term(i, lanes) (vectors whose masked lanes are already zero) over
// [0, n): float lanes within fixed blocks of kSumBlock elements, each block
// reduced horizontally and added to a double. The order depends on n only.
constexpr int64_t kSumBlock = 256;

template <class B, class F>
inline __attribute__((always_inline)) double block_sum(int64_t n, F&& term) {
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kSumBlock) {
    const int64_t len = n - b0 < kSumBlock ? n - b0 : kSumBlock;
    B acc(0.f);
    vec_loop<B>(len, [&](int64_t i, auto lanes) { acc += term(b0 + i, lanes); });
    total += static_cast<double>(xsimd::hadd(acc));
  }
  return total;
}

}  // namespace
}  // namespace nabla::kernels
