// Scalar references of the normalisation family: the definitions written
// for clarity, sums in double.
#include <cmath>
#include <vector>

#include "kernels/common/reference_math.hpp"
#include "kernels/norm/norm_internal.hpp"
#include "nabla/error.hpp"

namespace nabla::kernels {

namespace {
// x[n, c, i] of the [n, c, hw] layout.
inline int64_t at(const NormShape& s, int64_t n, int64_t c, int64_t i) { return (n * s.c + c) * s.hw + i; }
}  // namespace

void batchnorm_stats_reference(const NormShape& s, const float* x, double* mean, double* var) {
  const double m = static_cast<double>(s.n * s.hw);
  for (int64_t c = 0; c < s.c; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.hw; ++i) sum += x[at(s, n, c, i)];
    mean[c] = sum / m;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.hw; ++i) sq += (x[at(s, n, c, i)] - mean[c]) * (x[at(s, n, c, i)] - mean[c]);
    var[c] = sq / m;
  }
}

void batchnorm_apply_reference(const NormShape& s, const float* x, const float* scale, const float* shift,
                               Activation act, float* y, const float* residual) {
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t i = 0; i < s.hw; ++i) {
        const int64_t j = at(s, n, c, i);
        const double r = residual ? static_cast<double>(residual[j]) : 0.0;
        y[j] = static_cast<float>(detail::activation_f64(act, static_cast<double>(x[j]) * scale[c] + shift[c] + r));
      }
}

namespace {

// The argument of act's derivative: y[j], or (y null) the pre-activation
// fma(x, scale, shift) rounded once to float, as batchnorm_apply computes
// it (its sign is y's for the kinds that allow it).
double derivative_arg(const float* y, const float* x, const float* scale, const float* shift, int64_t j, int64_t c) {
  if (y != nullptr) return y[j];
  return std::fma(x[j], scale[c], shift[c]);
}

}  // namespace

void batchnorm_backward_reduce_reference(const NormShape& s, const float* dy, const float* y, Activation act,
                                         const float* x, const float* mean, double* sum_dz, double* sum_dzx,
                                         const float* scale, const float* shift) {
  for (int64_t c = 0; c < s.c; ++c) {
    sum_dz[c] = sum_dzx[c] = 0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.hw; ++i) {
        const int64_t j = at(s, n, c, i);
        const double dz = act.is_none() ? dy[j]
                                        : detail::activation_backward_f64(act, dy[j],
                                                                          derivative_arg(y, x, scale, shift, j, c));
        sum_dz[c] += dz;
        sum_dzx[c] += dz * (static_cast<double>(x[j]) - mean[c]);
      }
  }
}

void batchnorm_backward_apply_reference(const NormShape& s, const float* dy, const float* y, Activation act,
                                        const float* x, const float* mean, const float* k_dz, const float* k_x,
                                        const float* k_0, float* dx, const float* scale, const float* shift) {
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t i = 0; i < s.hw; ++i) {
        const int64_t j = at(s, n, c, i);
        const double dz = act.is_none() ? dy[j]
                                        : detail::activation_backward_f64(act, dy[j],
                                                                          derivative_arg(y, x, scale, shift, j, c));
        dx[j] = static_cast<float>(k_dz[c] * dz + static_cast<double>(k_x[c]) * (static_cast<double>(x[j]) - mean[c]) +
                                   k_0[c]);
      }
}

void dropout_reference(int64_t n, const float* src, float p, uint64_t key, float* dst) {
  const float scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(p)));
  for (int64_t i = 0; i < n; ++i) dst[i] = dropout_keep(key, i, p) ? src[i] * scale : 0.f;
}

}  // namespace nabla::kernels
