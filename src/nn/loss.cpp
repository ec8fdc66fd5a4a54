#include "nabla/nn/loss.hpp"

#include "nabla/error.hpp"
#include "nabla/kernels/loss.hpp"
#include "nn/buffer.hpp"
#include "tensor/tensor_internal.hpp"

namespace nabla::nn {

namespace nk = nabla::kernels;

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

// Stops an earlier gradient (perhaps still held by the caller) from
// pointing at the fused buffer about to be overwritten.
void drop_hint(const Tensor& t) {
  if (nabla::detail::TensorAccess::Impl* impl = nabla::detail::TensorAccess::impl(t)) {
    impl->fused_dz.reset();
    impl->fused_of = nullptr;
  }
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
  float* g = nabla::detail::TensorAccess::data(grad_);
  return indices ? nk::softmax_cross_entropy(n, c, pred.data(), target.data(), g)
                 : nk::softmax_cross_entropy_probs(n, c, pred.data(), target.data(), g);
}

Tensor SoftmaxCrossEntropy::backward() const { return ready("SoftmaxCrossEntropy", grad_); }

float BinaryCrossEntropy::forward(const Tensor& pred, const Tensor& target) {
  const char* what = from_logits_ ? "BinaryCrossEntropy(from_logits)" : "BinaryCrossEntropy";
  check_same_shape(what, pred, target);
  const int64_t n = pred.numel();
  drop_hint(grad_);
  drop_hint(spare_);
  detail::acquire(grad_, spare_, pred.shape());
  float* g = nabla::detail::TensorAccess::data(grad_);
  if (from_logits_) return nk::bce_with_logits(n, pred.data(), target.data(), g);
  const float loss = nk::bce(n, pred.data(), target.data(), g);
  // If pred = sigmoid(Z), dLoss/dZ = (A − Y)/n exactly, without the division
  // by A(1 − A) that loses everything once the sigmoid saturates. Sequential
  // uses it when its output ends in a sigmoid and is this pred.
  if (dz_.shape() != pred.shape()) dz_ = Tensor(pred.shape());  // only grad_ refers to it
  float* dz = nabla::detail::TensorAccess::data(dz_);
  const float* a = pred.data();
  const float* y = target.data();
  const float inv_n = 1.f / static_cast<float>(n);
  for (int64_t i = 0; i < n; ++i) dz[i] = (a[i] - y[i]) * inv_n;
  nabla::detail::TensorAccess::Impl* impl = nabla::detail::TensorAccess::impl(grad_);
  impl->fused_dz = nabla::detail::TensorAccess::shared(dz_);
  impl->fused_of = pred.data();
  return loss;
}

Tensor BinaryCrossEntropy::backward() const { return ready("BinaryCrossEntropy", grad_); }

float MSE::forward(const Tensor& pred, const Tensor& target) {
  check_same_shape("MSE", pred, target);
  detail::acquire(grad_, spare_, pred.shape());
  return nk::mse(pred.numel(), pred.data(), target.data(), nabla::detail::TensorAccess::data(grad_));
}

Tensor MSE::backward() const { return ready("MSE", grad_); }

}  // namespace nabla::nn
