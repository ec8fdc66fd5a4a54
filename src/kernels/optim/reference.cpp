// Scalar references of the optimiser family: torch.optim's update rules
// written for clarity, in double.
#include <cmath>

#include "nabla/error.hpp"
#include "nabla/kernels/optim.hpp"

namespace nabla::kernels {

void sgd_update_reference(int64_t n, float* param, const float* grad, float* momentum_buf, const SgdParams& hp,
                          bool first_step) {
  if (n < 0) throw Error("sgd_update_reference: negative size");
  for (int64_t i = 0; i < n; ++i) {
    double g = static_cast<double>(grad[i]) + static_cast<double>(hp.weight_decay) * param[i];
    if (hp.momentum != 0) {
      const double buf = first_step ? g : static_cast<double>(hp.momentum) * momentum_buf[i] + g;
      momentum_buf[i] = static_cast<float>(buf);
      g = buf;
    }
    param[i] = static_cast<float>(param[i] - static_cast<double>(hp.lr) * g);
  }
}

void adam_update_reference(int64_t n, float* param, const float* grad, float* m, float* v, const AdamParams& hp,
                           int64_t step) {
  if (n < 0 || step < 1) throw Error("adam_update_reference: negative size or step < 1");
  const double b1 = hp.beta1, b2 = hp.beta2;
  const double bc1 = 1 - std::pow(b1, static_cast<double>(step)), bc2 = 1 - std::pow(b2, static_cast<double>(step));
  for (int64_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(grad[i]) + static_cast<double>(hp.weight_decay) * param[i];
    const double mi = b1 * m[i] + (1 - b1) * g;
    const double vi = b2 * v[i] + (1 - b2) * g * g;
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    param[i] = static_cast<float>(param[i] - hp.lr / bc1 * mi / (std::sqrt(vi) / std::sqrt(bc2) + hp.eps));
  }
}

}  // namespace nabla::kernels
