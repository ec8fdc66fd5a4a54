#pragma once
/// \file sequential.hpp  nabla::nn::Sequential: a chain of layers trained
/// with forward / backward, like PyTorch's nn.Sequential.
///
///     nn::Sequential model;
///     model.add(nn::Dense(784, 128)).add(nn::Tanh()).add(nn::Dense(128, 1)).add(nn::Sigmoid());
///     nn::BinaryCrossEntropy loss;
///     nn::SGD opt(model.parameters(), 0.1f);
///     for (...) {
///       opt.zero_grad();
///       float l = loss.forward(model.forward(x), y);
///       model.backward(loss.backward());
///       opt.step();
///     }
///
/// Fusion is internal: a Dense (or Conv2D) followed by ReLU, Sigmoid or Tanh
/// runs as one GEMM with a bias+activation epilogue; in backward the
/// activation's derivative is applied in the epilogue of the GEMM that
/// produces the gradient of that activation (when the next layer is a Dense,
/// or a Conv2D, which applies it right after col2im; after a pooling it is a
/// separate pass); a model ending in Sigmoid trained with BinaryCrossEntropy
/// uses dZ = (A − Y)/N directly (given the loss's unmodified gradient).
/// set_fusion(false) runs every layer on its own, for testing and
/// profiling; results agree to float rounding.
///
/// Buffers (activations, gradients, scratch) are sized on the first forward
/// at an input shape and reused while the shape stays the same: after that
/// a training step does not allocate. Tensors returned by forward() and
/// backward() stay valid and unchanged for as long as the caller holds them
/// (if the caller still holds the previous result, the next call writes
/// into another buffer).
#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nabla/kernels/types.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/parameter.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

/// A chain of layers; see the file comment.
class Sequential {
 public:
  Sequential();
  ~Sequential();
  Sequential(Sequential&&) noexcept;
  Sequential& operator=(Sequential&&) noexcept;
  Sequential(const Sequential&) = delete;
  Sequential& operator=(const Sequential&) = delete;

  /// Appends a layer, taken by value: `model.add(nn::Dense(784, 10))`.
  /// Returns the model, so calls chain.
  template <std::derived_from<Layer> L>
  Sequential& add(L layer) & {
    return add(std::unique_ptr<Layer>(new L(std::move(layer))));
  }
  /// Chaining on a temporary: `auto m = nn::Sequential().add(...).add(...);`.
  template <std::derived_from<Layer> L>
  Sequential&& add(L layer) && {
    add(std::unique_ptr<Layer>(new L(std::move(layer))));
    return std::move(*this);
  }
  /// Appends an owned layer; throws nabla::Error for null.
  Sequential& add(std::unique_ptr<Layer> layer) &;

  /// Number of layers.
  int64_t size() const { return static_cast<int64_t>(layers_.size()); }
  /// Layer i (0-based); throws nabla::Error when out of range.
  Layer& layer(int64_t i);

  /// Runs the model on a batch (first dimension N). Copies what backward
  /// needs: x may be destroyed or modified afterwards. Throws nabla::Error
  /// on an empty model or when a layer rejects its input shape, naming the
  /// layer index, the layer and both shapes.
  Tensor forward(const Tensor& x);
  /// Back-propagates dLoss/dOutput (shape of the last forward's output):
  /// adds every parameter's gradient into its grad and returns dLoss/dInput
  /// if set_input_grad(true), else an empty Tensor (the input gradient is
  /// then not computed at all). Throws nabla::Error before any forward or on
  /// a shape mismatch.
  Tensor backward(const Tensor& dloss);

  /// Whether backward computes and returns the gradient w.r.t. the input
  /// (default false).
  void set_input_grad(bool on);
  /// See set_input_grad().
  bool input_grad() const { return input_grad_; }
  /// Turns layer fusion on (default) or off; see the file comment.
  void set_fusion(bool on);
  /// See set_fusion().
  bool fusion() const { return fusion_; }

  /// Training mode (the default; PyTorch's train()): BatchNorm uses and
  /// updates batch statistics, Dropout drops. Every layer is told.
  Sequential& train(bool on = true);
  /// Evaluation mode (PyTorch's eval()): BatchNorm uses its running
  /// statistics — folded into the weights of a preceding Dense/Conv2D when
  /// fusion is on (backward is then unavailable until train()) — and Dropout
  /// is the identity.
  Sequential& eval() { return train(false); }
  /// See train().
  bool is_training() const { return training_; }
  /// Buffers named like PyTorch's state_dict ("1.running_mean",
  /// "1.running_var", "1.num_batches_tracked"), in layer order.
  std::vector<std::pair<std::string, Buffer>> named_buffers();

  /// The output shape for an input shape; throws nabla::Error as forward().
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const;
  /// Parameters named like PyTorch's nn.Sequential state_dict: "0.weight",
  /// "0.bias", "3.weight", … by layer index, in layer order.
  std::vector<std::pair<std::string, Parameter*>> named_parameters();
  /// The parameters in the same order.
  std::vector<Parameter*> parameters();
  /// Number of trainable values.
  int64_t num_parameters() const;
  /// Sets every gradient to zero.
  void zero_grad();
  /// Redraws every layer's parameters with a scheme; layer i uses a seed
  /// derived from (seed, i).
  void init(Init scheme, uint64_t seed);
  /// A table: index, layer, output shape, parameters; output shapes for an
  /// input of this shape.
  std::string summary(const std::vector<int64_t>& input) const;
  /// The same table with the shapes of the last forward ("?" before any).
  std::string summary() const;

 private:
  struct Step;
  // Residual runs its branches through the entry points below: on its own
  // input, borrowed (no copy; the outer model keeps it unchanged until the
  // next forward, and hands it to backward again), with the block's add and
  // the activation after it in the body's last step.
  friend class Residual;
  /// forward() on a borrowed x: returns the output, owned by the model (valid
  /// until the next forward).
  const Tensor& forward_borrowed(const Tensor& x);
  /// out = act(model(x) + r) on a borrowed x: the last step runs
  /// Layer::forward_add (BatchNorm: the add in its own pass) when it has no
  /// activation or folded BatchNorm of its own and fusion is on; otherwise
  /// it runs as usual and one add_activation_forward pass follows.
  void forward_add(const Tensor& x, const Tensor& r, Tensor& out, kernels::Activation act);
  /// backward() after forward_borrowed/forward_add(x, …): dy = dLoss/d(the
  /// model's output) (for forward_add: of model(x) + r); writes dLoss/dx
  /// into dx unless it is null (needs set_input_grad(true)).
  void backward_borrowed(const Tensor& x, const Tensor& dy, Tensor* dx);
  void plan_for(const std::vector<int64_t>& input);
  void run_step(size_t s, const Tensor& in);
  void check_backward() const;
  void backward_steps(const Tensor& x, const Tensor& last_dz, Tensor* dx);
  void plan(const std::vector<int64_t>& input);
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Parameter*> params_;  // every layer's, in order (zero_grad must not allocate)
  std::vector<Step> steps_;
  std::vector<int64_t> planned_input_;
  bool planned_ = false;
  bool fusion_ = true;
  bool input_grad_ = false;
  bool forward_done_ = false;
  bool training_ = true;
  Tensor x_;                   // the copy of the last input
  Tensor out_spare_;           // second output buffer (see the file comment)
  Tensor dx_, dx_spare_;       // the input gradient, when asked for
};

}  // namespace nabla::nn
