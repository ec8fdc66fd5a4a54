#pragma once
// The max-pool window rule, shared by the pooling kernels and the pooling
// fused into the convolution's output: a candidate replaces the current
// maximum if it is greater, or if it is the first NaN (ties keep the
// earlier position), as torch's max_pool2d. Included only by per-ISA
// translation units (anonymous namespace, see activation_math.hpp).
#include <xsimd/xsimd.hpp>

#include <cstdint>

#include "kernels/common/tail.hpp"

namespace nabla::kernels::detail {
namespace {

inline bool takes_over(float v, float m) { return v > m || (v != v && m == m); }

template <class B>
inline __attribute__((always_inline)) typename B::batch_bool_type takes_over(B v, B m) {
  return (v > m) || (xsimd::isnan(v) && (m == m));  // v NaN, m not (no !: GCC called it)
}

// The maximum of a 2×2 window's four candidates, per lane, compared in
// window order (v0 the top left), and the index of the one chosen.
// always_inline and flatten: in the large kernels that use it, GCC made
// this rule's pieces (the update below, takes_over, batch_bool's !) calls
// per window, a third of the one-channel pooled convolution's time.
template <class B, class I>
inline __attribute__((always_inline, flatten)) void window_max4(B v0, B v1, B v2, B v3, I i0, I i1, I i2, I i3, B& m, I& mi) {
  m = v0;
  mi = i0;
  auto update = [&](B v, I vi) __attribute__((always_inline)) {
    const auto take = takes_over(v, m);
    m = xsimd::select(take, v, m);
    mi = xsimd::bitwise_cast<I>(xsimd::select(take, xsimd::bitwise_cast<B>(vi), xsimd::bitwise_cast<B>(mi)));
  };
  update(v1, i1);
  update(v2, i2);
  update(v3, i3);
}

// The first n lanes (0 < n <= size) of a window maximum and its index
// (masked where masks are cheap: a copy through the stack cost the
// one-channel layer's pooled rows of 14 more than the pooling saved).
template <class B, class I>
inline __attribute__((always_inline)) void store_max(float* d, int32_t* id, B m, I mi, int64_t n) {
  if (n == static_cast<int64_t>(B::size)) {
    m.store_unaligned(d);
    mi.store_unaligned(id);
    return;
  }
  using Arch = typename B::arch_type;
  if constexpr (Tail<Arch>::kCheap) {  // masked stores, the indices' bits stored as floats
    Tail<Arch>::store(d, n, m);
    Tail<Arch>::store(reinterpret_cast<float*>(id), n, xsimd::bitwise_cast<B>(mi));
  } else {
    alignas(64) float tf[B::size];
    alignas(64) int32_t ti[B::size];
    m.store_aligned(tf);
    mi.store_aligned(ti);
    for (int64_t l = 0; l < n; ++l) d[l] = tf[l], id[l] = ti[l];
  }
}

}  // namespace
}  // namespace nabla::kernels::detail
