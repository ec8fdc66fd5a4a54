#include "nabla/nn/loss.hpp"

#include "nabla/error.hpp"
#include "nabla/kernels/loss.hpp"
#include "nn/buffer.hpp"
#include "nn/fusion.hpp"

#include <cstring>
#include <mutex>
#include <unordered_map>

namespace nabla::nn {

namespace nk = nabla::kernels;

namespace detail {
namespace {
// Gradient storage → the loss that returned it (see fusion.hpp). A few
// entries per live loss; looked up once per backward.
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::unordered_map<const float*, const Loss*>& registry() {
  static std::unordered_map<const float*, const Loss*> r;
  return r;
}
}  // namespace

void register_loss_gradient(const float* grad, const Loss* loss) {
  const std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[grad] = loss;
}

void unregister_loss(const Loss* loss) {
  const std::lock_guard<std::mutex> lock(registry_mutex());
  std::erase_if(registry(), [loss](const auto& e) { return e.second == loss; });
}

const Loss* loss_of_gradient(const float* grad) {
  const std::lock_guard<std::mutex> lock(registry_mutex());
  const auto it = registry().find(grad);
  return it == registry().end() ? nullptr : it->second;
}
}  // namespace detail

Loss::~Loss() { detail::unregister_loss(this); }

namespace {

void check_same_shape(const char* loss, const Tensor& pred, const Tensor& target) {
  if (pred.numel() == 0) throw Error(std::string(loss) + ": empty prediction");
  if (pred.shape() != target.shape())
    throw Error(std::string(loss) + ": target " + shape_string(target.shape()) +
                " does not match the prediction " + shape_string(pred.shape()));
}

Tensor ready(const char* loss, const Tensor& grad) {
  if (grad.numel() == 0) throw Error(std::string(loss) + ": backward called before forward");
  return grad;
}

}  // namespace

float SoftmaxCrossEntropy::forward(const Tensor& pred, const Tensor& target) {
  const char* what = "SoftmaxCrossEntropy";
  if (pred.rank() != 2 || pred.numel() == 0)
    throw Error(std::string(what) + ": prediction " + shape_string(pred.shape()) +
                " is not logits [N, C]");
  const int64_t n = pred.size(0), c = pred.size(1);
  const bool indices = target.rank() == 1;
  if (indices ? target.size(0) != n : target.shape() != pred.shape())
    throw Error(std::string(what) + ": target " + shape_string(target.shape()) + " is neither [" +
                std::to_string(n) + "] class indices nor [" + std::to_string(n) + ", " +
                std::to_string(c) + "] probabilities");
  detail::acquire(grad_, spare_, pred.shape());
  float* g = grad_.data();
  return indices ? nk::softmax_cross_entropy(n, c, pred.data(), target.data(), g)
                 : nk::softmax_cross_entropy_probs(n, c, pred.data(), target.data(), g);
}

Tensor SoftmaxCrossEntropy::backward() const { return ready("SoftmaxCrossEntropy", grad_); }

float BinaryCrossEntropy::forward(const Tensor& pred, const Tensor& target) {
  const char* what = from_logits_ ? "BinaryCrossEntropy(from_logits)" : "BinaryCrossEntropy";
  check_same_shape(what, pred, target);
  const int64_t n = pred.numel();
  detail::acquire(grad_, spare_, pred.shape());
  float* g = grad_.data();
  if (from_logits_) return nk::bce_with_logits(n, pred.data(), target.data(), g);
  const float loss = nk::bce(n, pred.data(), target.data(), g);
  // If pred = sigmoid(Z), dLoss/dZ = (A − Y)/n exactly, without the division
  // by A(1 − A) that loses everything once the sigmoid saturates.
  // Sequential::backward(const Loss&) uses it when its output ends in a
  // sigmoid and is this pred (fused_input_grad).
  if (dz_.shape() != pred.shape()) dz_ = Tensor(pred.shape());
  float* dz = dz_.data();
  const float* a = pred.data();
  const float* y = target.data();
  const float inv_n = 1.f / static_cast<float>(n);
  for (int64_t i = 0; i < n; ++i) dz[i] = (a[i] - y[i]) * inv_n;
  if (pred_copy_.shape() != pred.shape()) {
    pred_copy_ = Tensor(pred.shape());
    grad_copy_ = Tensor(pred.shape());
  }
  pred_copy_.copy_from(pred);
  grad_copy_.copy_from(grad_);
  dz_of_ = pred.data();
  detail::register_loss_gradient(grad_.data(), this);
  return loss;
}

const Tensor* BinaryCrossEntropy::fused_input_grad(kernels::Activation f, const Tensor& pred,
                                                   const Tensor& grad) const {
  if (from_logits_ || f != kernels::ActKind::Sigmoid || dz_of_ == nullptr || pred.data() != dz_of_ ||
      pred.shape() != pred_copy_.shape() || grad.shape() != grad_copy_.shape())
    return nullptr;
  const size_t bytes = static_cast<size_t>(pred.numel()) * sizeof(float);
  if (std::memcmp(pred.data(), pred_copy_.data(), bytes) != 0 || std::memcmp(grad.data(), grad_copy_.data(), bytes) != 0)
    return nullptr;
  return &dz_;
}

Tensor BinaryCrossEntropy::backward() const { return ready("BinaryCrossEntropy", grad_); }

float MSE::forward(const Tensor& pred, const Tensor& target) {
  check_same_shape("MSE", pred, target);
  detail::acquire(grad_, spare_, pred.shape());
  return nk::mse(pred.numel(), pred.data(), target.data(), grad_.data());
}

Tensor MSE::backward() const { return ready("MSE", grad_); }

}  // namespace nabla::nn
