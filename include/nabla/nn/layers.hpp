#pragma once
/// \file layers.hpp  The layers a Sequential chains: Dense, Conv2D,
/// MaxPool2D, Flatten, Softmax, and one activation layer per row of the
/// activation table (<nabla/kernels/types.hpp>: ReLU, Sigmoid, Tanh, …).
/// Every layer type has an entry in the layer registry
/// (<nabla/nn/registry.hpp>): its spec grammar, constructor arguments and
/// torch equivalent.
///
/// Layouts are PyTorch's: activations row-major, images NCHW, Dense weight
/// [out, in] with Z = X·Wᵀ + b, Conv2D weight [out_ch, in_ch, k, k]. A layer owns its parameters and the scratch
/// its kernels need (sized by Sequential once per input shape); Sequential
/// decides what runs fused (see sequential.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nabla/kernels/conv.hpp"
#include "nabla/kernels/pool.hpp"
#include "nabla/kernels/types.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/parameter.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

class Sequential;
struct LayerType;

/// A layer's non-trainable state (torch's buffers: BatchNorm's running
/// statistics): a float32 tensor, or an int64 scalar (num_batches_tracked).
struct Buffer {
  Tensor* value = nullptr;   ///< float32 buffers; null for an int64 one
  int64_t* count = nullptr;  ///< the int64 scalar; null for a float32 one
};

/// Base of every layer. The public part describes the layer; the private
/// virtuals are how Sequential runs it.
class Layer {
 public:
  virtual ~Layer() = default;
  /// Type and configuration, as errors and summary() print it:
  /// "Dense 120→84", "MaxPool2D 2×2/2", "ReLU".
  virtual std::string name() const = 0;
  /// The output shape for an input shape (batch first). Throws nabla::Error
  /// describing the mismatch ("input has 100 features, expected 120");
  /// Sequential prefixes the layer index and name.
  virtual std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const = 0;
  /// The parameters, named as in PyTorch's state_dict ("weight", "bias");
  /// empty for layers without any.
  virtual std::vector<std::pair<std::string, Parameter*>> named_parameters() { return {}; }
  /// Number of trainable values.
  virtual int64_t num_parameters() const { return 0; }
  /// Redraws the parameters with a scheme from a seed (no-op without
  /// parameters); gradients are left as they are.
  virtual void reset_parameters(Init /*init*/, uint64_t /*seed*/) {}
  /// The layer's entry in the registry (<nabla/nn/registry.hpp>).
  virtual const LayerType& type() const = 0;
  /// The constructor arguments that make this layer, in the order of
  /// type().args (LayerType::make(args()) builds an equal layer).
  virtual std::vector<double> args() const { return {}; }
  /// The element-wise activation this layer is (None for other layers).
  virtual kernels::Activation activation() const { return kernels::Activation::None; }
  /// The buffers, named as in torch's state_dict ("running_mean", …); empty
  /// for layers without any.
  virtual std::vector<std::pair<std::string, Buffer>> named_buffers() { return {}; }
  /// Whether the layer is in training mode (Sequential::train()/eval() set it).
  bool is_training() const { return training_; }

 protected:
  /// Told when Sequential switches between training and evaluation (a layer
  /// holding layers passes it on; overrides call this one).
  virtual void set_training(bool on) { training_ = on; }
  /// Told when Sequential::set_fusion() changes, and when the layer is added
  /// (a layer holding layers passes it on; the default ignores it).
  virtual void set_fusion(bool /*on*/) {}

 private:
  friend class Sequential;
  bool training_ = true;
  /// Dense/Conv2D: a following BatchNorm can be folded into the weights in
  /// eval mode (forward_with, fold).
  virtual bool folds_norm() const { return false; }
  /// True if backward takes dLoss/d(its output after the fused activation)
  /// and applies the activation's derivative itself (BatchNorm).
  virtual bool wants_output_grad() const { return false; }
  /// Dense/Conv2D: forward with other weight and bias tensors of the
  /// parameters' shapes (a following BatchNorm folded in, in eval mode).
  virtual void forward_with(const Tensor& /*x*/, Tensor& /*y*/, kernels::Activation /*act*/, const Tensor& /*w*/,
                            const Tensor& /*b*/) {}
  /// BatchNorm in eval mode: writes the weight and bias of a preceding
  /// Dense/Conv2D with this layer folded in (w' = w·s per output row,
  /// b' = (b − running_mean)·s + beta, s = weight/√(running_var + eps));
  /// false when it cannot fold.
  virtual bool fold(const Tensor& /*w*/, const Tensor& /*b*/, Tensor& /*fw*/, Tensor& /*fb*/) const { return false; }
  /// True if a following element-wise activation can run in this layer's
  /// forward epilogue (Dense, Conv2D).
  virtual bool fuses_activation() const { return false; }
  /// True if backward can multiply dX by the previous layer's activation
  /// derivative while producing it (Dense: in the GEMM epilogue; Conv2D:
  /// right after col2im; MaxPool2D: in its scatter, from its output).
  virtual bool fuses_input_derivative() const { return false; }
  /// Conv2D: true if `next` (a 2×2 stride-2 MaxPool2D) can run in this
  /// layer's forward output at the prepared shape (forward_pool), the
  /// unpooled output then never written.
  virtual bool fuses_max_pool(const Layer& /*next*/) const { return false; }
  /// y = pool(act(layer(x))), the pool layer keeping its arg-max for its
  /// own backward (only if fuses_max_pool(pool)).
  virtual void forward_pool(const Tensor& /*x*/, Tensor& /*y*/, kernels::Activation /*act*/, Layer& /*pool*/) {}
  /// Conv2D: true if the parameter gradients can be taken straight from
  /// the gradient of a merged pool's output and its arg-max (no dX wanted).
  virtual bool fuses_max_pool_grad(const Layer& /*pool*/) const { return false; }
  /// Adds the parameter gradients from dz, dLoss/d(the merged pool's
  /// output) with the activation's derivative applied (only if
  /// fuses_max_pool_grad(pool)).
  virtual void backward_pooled(const Tensor& /*x*/, const Tensor& /*dz*/, Layer& /*pool*/) {}
  /// Sizes scratch for this input shape (called when it changes).
  virtual void prepare(const std::vector<int64_t>& /*input*/) {}
  /// y = act(layer(x)); act is None unless fuses_activation().
  virtual void forward(const Tensor& x, Tensor& y, kernels::Activation act) = 0;
  /// out = act(f(x) + r), r of f(x)'s shape: the add of a residual block
  /// whose body ends in this layer, and the activation after the block, with
  /// f(x) left in y for backward, which then gets dLoss/d(f(x)) (the same as
  /// dLoss/d(f(x) + r)) and applies no activation of its own. The default
  /// runs forward(x, y, None) then one add_activation_forward pass;
  /// BatchNorm adds r in its own pass (batchnorm_apply's residual) and
  /// leaves y unwritten (its backward does not read it then).
  virtual void forward_add(const Tensor& x, Tensor& y, const Tensor& r, Tensor& out, kernels::Activation act);
  /// Given dz = dLoss/d(output before any fused activation), adds the
  /// parameter gradients and, if dx is not null, writes dLoss/dx, times
  /// input_deriv'(x) when input_deriv is not None (only if
  /// fuses_input_derivative()).
  virtual void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                        kernels::Activation input_deriv) = 0;
  /// backward() for an input_deriv whose derivative uses its input
  /// (kernels::derivative_uses_input: GELU, SiLU): d is the previous layer's
  /// pre-activation output Z, x its activation A. Dense and Conv2D fuse the
  /// derivative from d; the default runs backward() then an element-wise pass.
  virtual void backward_from(const Tensor& x, const Tensor& d, const Tensor& y, const Tensor& dz, Tensor* dx,
                             kernels::Activation input_deriv);
};

/// Fully connected layer: Z = X·Wᵀ + b for X [N, in], W [out, in], b [out].
/// Initialised with PyTorch's default from next_seed().
class Dense : public Layer {
 public:
  /// in, out >= 1; throws nabla::Error otherwise.
  Dense(int64_t in, int64_t out);
  std::string name() const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;
  std::vector<std::pair<std::string, Parameter*>> named_parameters() override;
  int64_t num_parameters() const override;
  void reset_parameters(Init init, uint64_t seed) override;
  const LayerType& type() const override;
  std::vector<double> args() const override;
  /// Input features.
  int64_t in_features() const { return in_; }
  /// Output features.
  int64_t out_features() const { return out_; }
  Parameter weight;  ///< [out, in]
  Parameter bias;    ///< [out]

 private:
  bool fuses_activation() const override { return true; }
  bool fuses_input_derivative() const override { return true; }
  bool folds_norm() const override { return true; }
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void forward_with(const Tensor& x, Tensor& y, kernels::Activation act, const Tensor& w, const Tensor& b) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
  void backward_from(const Tensor& x, const Tensor& d, const Tensor& y, const Tensor& dz, Tensor* dx,
                     kernels::Activation input_deriv) override;
  int64_t in_, out_;
};

/// 2-D convolution over NCHW input, square kernel, zero padding (PyTorch's
/// Conv2d(in_ch, out_ch, kernel, stride, padding)): Z[n, o] = b[o] +
/// Σ_c W[o, c] ⋆ X[n, c], for X [N, in_ch, H, W], W [out_ch, in_ch, k, k],
/// b [out_ch]; output [N, out_ch, OH, OW] with OH = (H + 2·padding − k) /
/// stride + 1 (floor; OW alike). Runs on the im2col + GEMM kernels of
/// <nabla/kernels/conv.hpp>. Initialised with PyTorch's default (fan_in =
/// in_ch·k·k) from next_seed().
class Conv2D : public Layer {
 public:
  /// in_ch, out_ch, kernel, stride >= 1 and padding >= 0; throws
  /// nabla::Error otherwise.
  Conv2D(int64_t in_ch, int64_t out_ch, int64_t kernel, int64_t stride = 1, int64_t padding = 0);
  /// "Conv2D 1→6 5×5", with " stride s" / " pad p" when not 1 / 0.
  std::string name() const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;
  std::vector<std::pair<std::string, Parameter*>> named_parameters() override;
  int64_t num_parameters() const override;
  void reset_parameters(Init init, uint64_t seed) override;
  const LayerType& type() const override;
  std::vector<double> args() const override;
  /// Input channels.
  int64_t in_channels() const { return in_ch_; }
  /// Output channels (filters).
  int64_t out_channels() const { return out_ch_; }
  /// Kernel side.
  int64_t kernel() const { return k_; }
  /// Step between windows.
  int64_t stride() const { return stride_; }
  /// Zero padding on each side.
  int64_t padding() const { return pad_; }
  Parameter weight;  ///< [out_ch, in_ch, k, k]
  Parameter bias;    ///< [out_ch]

 private:
  bool fuses_activation() const override { return true; }
  bool fuses_input_derivative() const override { return true; }
  bool folds_norm() const override { return true; }
  bool fuses_max_pool(const Layer& next) const override;
  void forward_pool(const Tensor& x, Tensor& y, kernels::Activation act, Layer& pool) override;
  bool fuses_max_pool_grad(const Layer& pool) const override;
  void backward_pooled(const Tensor& x, const Tensor& dz, Layer& pool) override;
  void prepare(const std::vector<int64_t>& input) override;
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void forward_with(const Tensor& x, Tensor& y, kernels::Activation act, const Tensor& w, const Tensor& b) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
  void backward_from(const Tensor& x, const Tensor& d, const Tensor& y, const Tensor& dz, Tensor* dx,
                     kernels::Activation input_deriv) override;
  kernels::ConvParams conv_params(const std::vector<int64_t>& input) const;
  int64_t in_ch_, out_ch_, k_, stride_, pad_;
  std::optional<kernels::ConvShape> shape_;  // the geometry at the planned input shape
};

/// 2-D max pooling over NCHW input, square window, no padding, floor mode
/// (PyTorch's MaxPool2d(kernel, stride)). Backward routes each gradient to
/// the window's first maximum.
class MaxPool2D : public Layer {
 public:
  /// kernel >= 1; stride >= 1, 0 meaning "= kernel" (PyTorch's default).
  explicit MaxPool2D(int64_t kernel, int64_t stride = 0);
  std::string name() const override;
  const LayerType& type() const override;
  std::vector<double> args() const override;
  /// Window side.
  int64_t kernel() const { return geom_.kernel; }
  /// Step between windows.
  int64_t stride() const { return geom_.stride; }
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;

 private:
  void prepare(const std::vector<int64_t>& input) override;
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
  /// The derivative of the activation before the pool, from the pooled
  /// output, in the scatter (max_pool2d_backward's f).
  bool fuses_input_derivative() const override { return true; }
  friend class Conv2D;  // pools in its forward output (forward_pool) into argmax_
  kernels::MaxPool2d geom_;
  std::vector<int32_t> argmax_;
};

/// 2-D average pooling over NCHW input, square window, zero padding counted
/// in the divisor, floor mode (PyTorch's AvgPool2d(kernel, stride, padding),
/// count_include_pad = True): every output is its window's sum / kernel².
class AvgPool2D : public Layer {
 public:
  /// kernel >= 1; stride >= 1, 0 meaning "= kernel" (PyTorch's default);
  /// 0 <= padding <= kernel/2. Throws nabla::Error naming the values otherwise.
  explicit AvgPool2D(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  /// "AvgPool2D 2×2/2", with " pad p" when not 0.
  std::string name() const override;
  const LayerType& type() const override;
  std::vector<double> args() const override;
  /// Window side.
  int64_t kernel() const { return geom_.kernel; }
  /// Step between windows.
  int64_t stride() const { return geom_.stride; }
  /// Zero padding on each side.
  int64_t padding() const { return geom_.padding; }
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;

 private:
  void prepare(const std::vector<int64_t>& input) override;
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
  kernels::AvgPool2d geom_;
};

/// Global average pooling: [N, C, H, W] → [N, C, 1, 1], the mean of each
/// plane (PyTorch's AdaptiveAvgPool2d(1)).
class GlobalAvgPool2D : public Layer {
 public:
  std::string name() const override { return "GlobalAvgPool2D"; }
  const LayerType& type() const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;

 private:
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
};

/// [N, d1, ..., dk] → [N, d1·…·dk] (C, H, W order, PyTorch's Flatten()).
class Flatten : public Layer {
 public:
  std::string name() const override { return "Flatten"; }
  const LayerType& type() const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;

 private:
  /// The previous activation's derivative in the copy of the gradient.
  bool fuses_input_derivative() const override { return true; }
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
  void backward_from(const Tensor& x, const Tensor& d, const Tensor& y, const Tensor& dz, Tensor* dx,
                     kernels::Activation input_deriv) override;
};

/// An element-wise activation: any input shape, output the same shape. One
/// class for every row of the activation table; the named layers below
/// (ReLU, Sigmoid, …) are its typed constructors. Sequential runs it in the
/// preceding Dense/Conv2D's epilogue when fusion is on.
class ActivationLayer : public Layer {
 public:
  /// Throws nabla::Error when the parameter is invalid for the kind (see
  /// kernels::check_activation).
  explicit ActivationLayer(kernels::Activation f);
  /// The table's layer name, with the parameter when the kind has one:
  /// "ReLU", "LeakyReLU(0.2)".
  std::string name() const override;
  const LayerType& type() const override;
  std::vector<double> args() const override;
  kernels::Activation activation() const override { return f_; }
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;

 private:
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
  kernels::Activation f_;
};

/// The activation layer of one kind of the table: `ActivationOf<ActKind::ReLU>()`,
/// or with the kind's parameter, `ActivationOf<ActKind::LeakyReLU>(0.2f)`
/// (default: torch's).
template <kernels::ActKind K>
class ActivationOf : public ActivationLayer {
 public:
  ActivationOf() requires(!kernels::has_param(K)) : ActivationLayer(K) {}
  explicit ActivationOf(float param = kernels::activation_info(K).param_default) requires(kernels::has_param(K))
      : ActivationLayer(kernels::Activation(K, param)) {}
};

/// max(x, 0); derivative 1 where the output is > 0, else 0.
using ReLU = ActivationOf<kernels::ActKind::ReLU>;
/// 1/(1 + e^−x).
using Sigmoid = ActivationOf<kernels::ActKind::Sigmoid>;
/// tanh(x).
using Tanh = ActivationOf<kernels::ActKind::Tanh>;
/// x for x > 0, alpha·(e^x − 1) else (torch.nn.ELU; alpha >= 0, default 1).
using ELU = ActivationOf<kernels::ActKind::ELU>;
/// x for x >= 0, negative_slope·x else (torch.nn.LeakyReLU; slope >= 0, default 0.01).
using LeakyReLU = ActivationOf<kernels::ActKind::LeakyReLU>;
/// z·σ(z) (torch.nn.SiLU); its derivative is computed from the input z.
using SiLU = ActivationOf<kernels::ActKind::SiLU>;
/// z·Φ(z), Φ the standard normal CDF (torch.nn.GELU(), erf form), or with
/// tanh_approx its tanh approximation z(1 + tanh(√(2/π)(z + 0.044715·z³)))/2
/// (torch.nn.GELU(approximate='tanh'); the table's kind GELUTanh, layer
/// type "GELUTanh", spec token "gelu_tanh"). Derivatives from the input z.
class GELU : public ActivationLayer {
 public:
  explicit GELU(bool tanh_approx = false)
      : ActivationLayer(tanh_approx ? kernels::ActKind::GELUTanh : kernels::ActKind::GELU) {}
};

/// Softmax over the last dimension (max-subtracted). A model trained with
/// SoftmaxCrossEntropy ends in logits; add Softmax for inference.
class Softmax : public Layer {
 public:
  std::string name() const override { return "Softmax"; }
  const LayerType& type() const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;

 private:
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
};

/// Batch normalisation (torch.nn.BatchNorm1d/2d): in training, y = (x −
/// mean)/√(var + eps)·weight + bias with the batch's per-channel mean and
/// biased variance, and running_mean/running_var updated with momentum (the
/// unbiased variance); in evaluation, the running statistics. weight starts
/// at 1, bias at 0, running_mean at 0, running_var at 1. A following
/// activation runs in the same pass (forward and backward); in eval mode a
/// preceding Dense/Conv2D absorbs the layer (Sequential folds it into its
/// weights). The two classes below fix the input rank.
class BatchNorm : public Layer {
 public:
  /// channels >= 1, eps >= 0, momentum >= 0; throws nabla::Error otherwise.
  BatchNorm(int rank, int64_t channels, double eps, double momentum);
  std::string name() const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;
  std::vector<std::pair<std::string, Parameter*>> named_parameters() override;
  std::vector<std::pair<std::string, Buffer>> named_buffers() override;
  int64_t num_parameters() const override { return 2 * c_; }
  /// Resets weight to 1 and bias to 0 (any scheme: torch's reset_parameters).
  void reset_parameters(Init init, uint64_t seed) override;
  std::vector<double> args() const override { return {double(c_), eps_, momentum_}; }
  /// Channels (features).
  int64_t num_features() const { return c_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  Parameter weight;          ///< [C], starts at 1
  Parameter bias;            ///< [C], starts at 0
  Tensor running_mean;       ///< [C], starts at 0
  Tensor running_var;        ///< [C], starts at 1
  int64_t num_batches_tracked = 0;

 private:
  bool fuses_activation() const override { return true; }
  bool wants_output_grad() const override { return true; }
  void prepare(const std::vector<int64_t>& input) override;
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void forward_add(const Tensor& x, Tensor& y, const Tensor& r, Tensor& out, kernels::Activation act) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
  /// The batch statistics (training) or running ones (eval) into scale_/shift_.
  void compute_scale_shift(const Tensor& x);
  bool fold(const Tensor& w, const Tensor& b, Tensor& fw, Tensor& fb) const override;
  int rank_;
  int64_t c_;
  double eps_, momentum_;
  kernels::Activation act_ = kernels::Activation::None;  // fused in the last forward
  bool trained_forward_ = false;  // the last forward used batch statistics
  std::vector<double> mean_, var_, sum_dz_, sum_dzx_;
  std::vector<float> mean_f_, scale_, shift_, k_dz_, k_x_, k_0_;
};

/// BatchNorm over [N, C, H, W] (torch.nn.BatchNorm2d).
class BatchNorm2D : public BatchNorm {
 public:
  explicit BatchNorm2D(int64_t channels, double eps = 1e-5, double momentum = 0.1)
      : BatchNorm(4, channels, eps, momentum) {}
  const LayerType& type() const override;
};

/// BatchNorm over [N, F] (torch.nn.BatchNorm1d on 2-D input).
class BatchNorm1D : public BatchNorm {
 public:
  explicit BatchNorm1D(int64_t features, double eps = 1e-5, double momentum = 0.1)
      : BatchNorm(2, features, eps, momentum) {}
  const LayerType& type() const override;
};

/// Dropout (torch.nn.Dropout): in training, each element is zeroed with
/// probability p and the others scaled by 1/(1 − p); the identity in eval
/// mode. The mask is a counter-based hash of (the key of the call, element
/// index): the key comes from the stream manual_seed() seeds, one per
/// training forward, so results do not depend on the thread count and a
/// resumed run (random_state() saved) repeats an uninterrupted one.
class Dropout : public Layer {
 public:
  /// p in [0, 1); throws nabla::Error otherwise.
  explicit Dropout(double p = 0.5);
  std::string name() const override;
  const LayerType& type() const override;
  std::vector<double> args() const override { return {p_}; }
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;
  double p() const { return p_; }

 private:
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
  double p_;
  uint64_t key_ = 0;
  bool masked_ = false;  // the last forward applied a mask
};

}  // namespace nabla::nn
