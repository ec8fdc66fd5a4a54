// Scalar references of the loss family: the contracts of loss.hpp written
// for clarity, in double with <cmath>.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "nabla/error.hpp"
#include "nabla/kernels/loss.hpp"

namespace nabla::kernels {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Row r of softmax cross-entropy; y(j) is the target probability of class j.
template <class Y>
double softmax_ce_row(int64_t c, const float* z, Y y, double inv_n, float* d) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < c; ++j) m = std::max<double>(m, z[j]);
  double s = 0, sumy = 0;
  for (int64_t j = 0; j < c; ++j) {
    s += std::exp(z[j] - m);
    sumy += y(j);
  }
  const double lse = m + std::log(s);
  double loss = 0;
  for (int64_t j = 0; j < c; ++j) {
    if (y(j) != 0) loss += y(j) * (lse - z[j]);
    d[j] = static_cast<float>((std::exp(z[j] - m) / s * sumy - y(j)) * inv_n);
  }
  return loss;
}

}  // namespace

float softmax_cross_entropy_reference(int64_t n, int64_t c, const float* logits, const float* labels,
                                      float* dlogits) {
  if (n < 0 || c < 0) throw Error("softmax_cross_entropy_reference: negative size");
  if (n == 0) return kNaN;
  double total = 0;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t label = static_cast<int64_t>(labels[r]);
    if (label < 0 || label >= c) throw Error("softmax_cross_entropy_reference: bad label " + std::to_string(labels[r]));
    total += softmax_ce_row(c, logits + r * c, [&](int64_t j) { return j == label ? 1.0 : 0.0; }, 1.0 / n,
                            dlogits + r * c);
  }
  return static_cast<float>(total / n);
}

float softmax_cross_entropy_probs_reference(int64_t n, int64_t c, const float* logits, const float* targets,
                                            float* dlogits) {
  if (n < 0 || c < 0) throw Error("softmax_cross_entropy_probs_reference: negative size");
  if (n == 0) return kNaN;
  double total = 0;
  for (int64_t r = 0; r < n; ++r)
    total += softmax_ce_row(c, logits + r * c, [&](int64_t j) { return static_cast<double>(targets[r * c + j]); },
                            1.0 / n, dlogits + r * c);
  return static_cast<float>(total / n);
}

float bce_with_logits_reference(int64_t n, const float* logits, const float* targets, float* dlogits) {
  if (n < 0) throw Error("bce_with_logits_reference: negative size");
  if (n == 0) return kNaN;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double z = logits[i], y = targets[i];
    total += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::fabs(z)));
    dlogits[i] = static_cast<float>((1 / (1 + std::exp(-z)) - y) / n);
  }
  return static_cast<float>(total / n);
}

float bce_reference(int64_t n, const float* probs, const float* targets, float* dprobs) {
  if (n < 0) throw Error("bce_reference: negative size");
  if (n == 0) return kNaN;
  auto clamp_log = [](double x) { return std::max(std::log(x), -100.0); };
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double p = probs[i], y = targets[i];
    total -= y * clamp_log(p) + (1 - y) * clamp_log(1 - p);
    dprobs[i] = static_cast<float>((p - y) / std::max(p * (1 - p), 1e-12) / n);
  }
  return static_cast<float>(total / n);
}

float mse_reference(int64_t n, const float* pred, const float* targets, float* dpred) {
  if (n < 0) throw Error("mse_reference: negative size");
  if (n == 0) return kNaN;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(pred[i]) - targets[i];
    total += d * d;
    dpred[i] = static_cast<float>(2 * d / n);
  }
  return static_cast<float>(total / n);
}

}  // namespace nabla::kernels
