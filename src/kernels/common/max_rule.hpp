#pragma once
// The max-pool window rule, shared by the pooling kernels and the pooling
// fused into the convolution's output: a candidate replaces the current
// maximum if it is greater, or if it is the first NaN (ties keep the
// earlier position), as torch's max_pool2d. Included only by per-ISA
// translation units (anonymous namespace, see activation_math.hpp).
#include <xsimd/xsimd.hpp>

namespace nabla::kernels::detail {
namespace {

inline bool takes_over(float v, float m) { return v > m || (v != v && m == m); }

template <class B>
inline typename B::batch_bool_type takes_over(B v, B m) {
  return (v > m) || (xsimd::isnan(v) && !xsimd::isnan(m));
}

}  // namespace
}  // namespace nabla::kernels::detail
