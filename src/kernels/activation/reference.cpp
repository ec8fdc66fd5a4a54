// Scalar references of the activation family: the contracts of
// activation.hpp written for clarity, in double with <cmath>.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nabla/error.hpp"
#include "kernels/common/reference_math.hpp"
#include "nabla/kernels/activation.hpp"

namespace nabla::kernels {
namespace {

double bias_at(BiasKind kind, const float* bias, int64_t r, int64_t j) {
  if (kind == BiasKind::PerRow) return bias[r];
  if (kind == BiasKind::PerCol) return bias[j];
  return 0;
}

}  // namespace

double activation_reference(Activation f, double z) { return detail::activation_f64(f, z); }

double activation_backward_reference(Activation f, double g, double a) {
  return detail::activation_backward_f64(f, g, a);
}

void activation_forward_reference(Activation f, int64_t batch, int64_t rows, int64_t cols,
                                  const float* src, BiasKind bias_kind, const float* bias,
                                  float* dst) {
  if (batch < 0 || rows < 0 || cols < 0) throw Error("activation_forward_reference: negative size");
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t i = (b * rows + r) * cols + j;
        // The bias is added in float, as the kernel does, then f in double.
        const float z = src[i] + static_cast<float>(bias_at(bias_kind, bias, r, j));
        dst[i] = static_cast<float>(detail::activation_f64(f, z));
      }
}

void activation_backward_reference(Activation f, int64_t n, const float* dst, const float* diff_dst,
                                   float* diff_src) {
  if (n < 0) throw Error("activation_backward_reference: negative size");
  for (int64_t i = 0; i < n; ++i) {
    const double d = detail::activation_backward_f64(f, diff_dst[i], dst[i]);
    diff_src[i] = static_cast<float>(d);
  }
}

void add_activation_forward_reference(Activation f, int64_t n, const float* a, const float* b, float* dst) {
  if (n < 0) throw Error("add_activation_forward_reference: negative size");
  for (int64_t i = 0; i < n; ++i) {
    const float z = a[i] + b[i];  // the sum in float, as the kernel does, then f in double
    dst[i] = static_cast<float>(detail::activation_f64(f, z));
  }
}

void add_activation_backward_reference(Activation f, int64_t n, const float* dst, const float* diff_a,
                                       const float* diff_b, float* diff_src) {
  if (n < 0) throw Error("add_activation_backward_reference: negative size");
  for (int64_t i = 0; i < n; ++i) {
    const float g = diff_a[i] + diff_b[i];
    diff_src[i] = static_cast<float>(detail::activation_backward_f64(f, g, f.is_none() ? 0.f : dst[i]));
  }
}

void softmax_forward_reference(int64_t rows, int64_t cols, const float* src, BiasKind bias_kind,
                               const float* bias, float* dst) {
  if (rows < 0 || cols < 0) throw Error("softmax_forward_reference: negative size");
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * cols;
    float* d = dst + r * cols;
    auto z = [&](int64_t j) { return static_cast<double>(s[j] + static_cast<float>(bias_at(bias_kind, bias, r, j))); };
    double m = -std::numeric_limits<double>::infinity();
    bool nan = false;
    for (int64_t j = 0; j < cols; ++j) {
      nan = nan || std::isnan(z(j));
      m = std::max(m, z(j));
    }
    double sum = 0;
    for (int64_t j = 0; j < cols; ++j) sum += std::exp(z(j) - m);
    for (int64_t j = 0; j < cols; ++j)
      d[j] = nan ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(std::exp(z(j) - m) / sum);
  }
}

void softmax_backward_reference(int64_t rows, int64_t cols, const float* dst, const float* diff_dst,
                                float* diff_src) {
  if (rows < 0 || cols < 0) throw Error("softmax_backward_reference: negative size");
  for (int64_t r = 0; r < rows; ++r) {
    const float* a = dst + r * cols;
    const float* g = diff_dst + r * cols;
    double dot = 0;
    for (int64_t j = 0; j < cols; ++j) dot += static_cast<double>(g[j]) * a[j];
    for (int64_t j = 0; j < cols; ++j) diff_src[r * cols + j] = static_cast<float>(a[j] * (g[j] - dot));
  }
}

void bias_grad_reference(int64_t batch, int64_t rows, int64_t cols, const float* diff,
                         BiasKind bias_kind, float* db, bool accumulate) {
  if (batch < 0 || rows < 0 || cols < 0) throw Error("bias_grad_reference: negative size");
  if (bias_kind == BiasKind::None) throw Error("bias_grad_reference: bias kind none has no gradient");
  const int64_t len = bias_kind == BiasKind::PerRow ? rows : cols;
  std::vector<double> s(static_cast<size_t>(len), 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) s[bias_kind == BiasKind::PerRow ? r : j] += diff[(b * rows + r) * cols + j];
  for (int64_t t = 0; t < len; ++t) db[t] = static_cast<float>(accumulate ? db[t] + s[t] : s[t]);
}

}  // namespace nabla::kernels
