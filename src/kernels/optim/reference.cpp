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
      g = hp.nesterov ? g + static_cast<double>(hp.momentum) * buf : buf;
    }
    param[i] = static_cast<float>(param[i] - static_cast<double>(hp.lr) * g);
  }
}

namespace {

void adam_reference(bool decoupled, int64_t n, float* param, const float* grad, float* m, float* v,
                    const AdamParams& hp, int64_t step) {
  if (n < 0 || step < 1) throw Error("adam_update_reference: negative size or step < 1");
  const double b1 = hp.beta1, b2 = hp.beta2, lr = hp.lr, wd = hp.weight_decay;
  const double bc1 = 1 - std::pow(b1, static_cast<double>(step)), bc2 = 1 - std::pow(b2, static_cast<double>(step));
  for (int64_t i = 0; i < n; ++i) {
    double w = param[i];
    if (decoupled) w *= 1 - lr * wd;  // AdamW: decay the weights, not the gradient
    const double g = static_cast<double>(grad[i]) + (decoupled ? 0.0 : wd * w);
    const double mi = b1 * m[i] + (1 - b1) * g;
    const double vi = b2 * v[i] + (1 - b2) * g * g;
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    param[i] = static_cast<float>(w - lr / bc1 * mi / (std::sqrt(vi) / std::sqrt(bc2) + hp.eps));
  }
}

}  // namespace

void adam_update_reference(int64_t n, float* param, const float* grad, float* m, float* v, const AdamParams& hp,
                           int64_t step) {
  adam_reference(false, n, param, grad, m, v, hp, step);
}

void adamw_update_reference(int64_t n, float* param, const float* grad, float* m, float* v, const AdamParams& hp,
                            int64_t step) {
  adam_reference(true, n, param, grad, m, v, hp, step);
}

void rmsprop_update_reference(int64_t n, float* param, const float* grad, float* square_avg, float* momentum_buf,
                              const RmspropParams& hp) {
  if (n < 0) throw Error("rmsprop_update_reference: negative size");
  const double alpha = hp.alpha, mom = hp.momentum, lr = hp.lr;
  for (int64_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(grad[i]) + static_cast<double>(hp.weight_decay) * param[i];
    const double sa = alpha * square_avg[i] + (1 - alpha) * g * g;
    square_avg[i] = static_cast<float>(sa);
    const double avg = std::sqrt(sa) + hp.eps;
    double step = g / avg;
    if (mom != 0) {
      step = mom * momentum_buf[i] + step;
      momentum_buf[i] = static_cast<float>(step);
    }
    param[i] = static_cast<float>(param[i] - lr * step);
  }
}

double sum_squares_reference(int64_t n, const float* src) {
  if (n < 0) throw Error("sum_squares_reference: negative size");
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(src[i]) * src[i];
  return s;
}

}  // namespace nabla::kernels
