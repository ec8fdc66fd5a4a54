#pragma once
/// \file registry.hpp  The layer registry: one entry per layer type, and the
/// model-spec language built on it.
///
/// An entry (LayerType) knows the type's constructor arguments (names,
/// defaults, limits, docs), how to make the layer from them, how the type is
/// written in a model spec, how its arguments follow from the input shape,
/// and its torch equivalent. The spec parser, the builder, the comparison's
/// torch peer, the profiler, the Python module and the tests all read the
/// registry; nothing else lists layer types. Every row of the activation
/// table (<nabla/kernels/types.hpp>) is an entry of its own.
///
/// Model specs (`nabla train --model`, `nabla.nn.from_spec`): tokens
/// separated by blanks, layers by '|':
///
///     model   := layer { "|" layer }
///     layer   := "dense" UNITS [act]
///              | "conv" CHANNELS KERNEL ["stride" S] ["pad" P] [act]
///              | "maxpool" KERNEL ["stride" S]
///              | "batchnorm" ["eps" E] ["momentum" M] [act]
///              | "dropout" P
///              | "avgpool" KERNEL ["stride" S] ["pad" P] | "gap"
///              | "flatten" | "softmax" | act
///              | "res(" model ")"   (Residual: the layers are its body; when
///                                   they change the shape, the shortcut is a
///                                   1×1 Conv2D with the body's stride, then
///                                   BatchNorm2D: torchvision's BasicBlock)
///     act     := NAME [PARAM]      (a row of the activation table: "relu",
///                                   "sigmoid", "tanh", …; PARAM for the
///                                   kinds that take one; "gelu tanh" is
///                                   another spelling of "gelu_tanh")
///
/// Whole-number arguments are in [min, 2^20]; a Flatten is inserted before a
/// layer that takes [N, F] when it gets images [N, C, H, W].
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nabla/kernels/types.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/sequential.hpp"

namespace nabla::nn {

/// One constructor argument of a layer type.
struct LayerArg {
  enum class Type { Int, Float };
  std::string name;                     ///< as in C++ and Python: "out_channels"
  Type type = Type::Int;
  std::optional<double> default_value;  ///< none: required
  double min = 0;                       ///< smallest valid value
  /// How a spec writes it: "" = positional (in argument order), a keyword
  /// ("stride") = written "stride S"; ignored when !in_spec.
  std::string spec_keyword;
  bool in_spec = true;  ///< false: taken from the input shape (Dense's in_features)
  std::string torch_name;  ///< torch's keyword for it ("in_features")
  std::string doc;         ///< one line
  std::optional<double> max;  ///< largest valid value (none: no limit but the spec's 2^20 for Int)
  bool max_open = false;      ///< max itself is invalid (Dropout's p < 1)
  /// Whether v is in [min, max] (or [min, max)).
  bool in_range(double v) const { return v >= min && (!max || v < *max || (!max_open && v == *max)); }
  /// "[0, 1)", ">= 1".
  std::string range_text() const;
};

/// The torch equivalent of a layer: torch.nn.<module>(kwargs), or for an
/// element-wise activation also the ATen operator and its parameter.
struct TorchEquivalent {
  std::string module;                                  ///< "Conv2d", "LeakyReLU"
  std::vector<std::pair<std::string, double>> kwargs;  ///< in torch's order
  std::string extra;        ///< kwargs written as text ("dim=-1"), appended
  std::string aten_op;      ///< activations: "leaky_relu"; else empty
  std::optional<double> aten_param;  ///< activations with a parameter
  /// activations with a string argument: its name and value ({"approximate", "tanh"}), else empty
  std::pair<std::string, std::string> aten_str;
  /// The Python expression: "torch.nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5, stride=1, padding=2)".
  std::string python() const;
};

/// A registered layer type.
struct LayerType {
  std::string name;   ///< class name in C++ and Python, summary()'s first word: "Conv2D"
  std::string token;  ///< model-spec keyword: "conv"
  std::string doc;    ///< a paragraph, as the class's documentation
  std::vector<LayerArg> args;  ///< constructor arguments, in order
  /// The input rank the layer takes (batch first): 2 ([N, F]), 4 ([N, C, H, W]) or 0 (any).
  int input_rank = 0;
  /// A spec may follow it with an activation that runs fused ("dense 64 relu").
  bool takes_activation = false;
  /// For the activation layers, their kind (None for the others).
  kernels::ActKind activation = kernels::ActKind::None;
  /// Makes the layer; args has one value per entry of `args`, checked
  /// (check_args) by the callers below. Throws nabla::Error.
  std::function<std::unique_ptr<Layer>(const std::vector<double>& args)> make;
  /// Fills the arguments that are not in the spec from the input shape
  /// (batch first); null when there are none.
  std::function<void(std::vector<double>& args, const std::vector<int64_t>& input)> infer;
  /// Trainable values the layer will have, from its arguments (before it is
  /// made: a typo in a spec is an error, not a huge allocation); null: 0.
  std::function<double(const std::vector<double>& args)> count_parameters;
  /// Its torch equivalent, from the arguments.
  std::function<TorchEquivalent(const std::vector<double>& args)> torch;

  /// Throws nabla::Error naming the type and the argument when a value is
  /// missing, not whole for an Int, not finite or below its min.
  void check_args(const std::vector<double>& args) const;
  /// make() after check_args().
  std::unique_ptr<Layer> create(const std::vector<double>& args) const;
  /// How a spec writes it: "conv OUT_CHANNELS KERNEL [stride STRIDE] [pad PADDING] [ACT]".
  std::string spec_grammar() const;
};

/// Every layer type: Dense, Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, Flatten, Softmax, BatchNorm2D,
/// BatchNorm1D, Dropout, Residual, then one per
/// activation of the table (in its order, without None).
const std::vector<LayerType>& layer_types();
/// The entry whose name ("Conv2D") or spec token ("conv") is `key`, or null.
const LayerType* find_layer_type(std::string_view key);
/// find_layer_type, or nabla::Error listing the known ones.
const LayerType& layer_type(std::string_view key);
/// The entry of an activation kind.
const LayerType& activation_layer_type(kernels::ActKind kind);
/// The model-spec grammar, one line per layer type, from the registry (what
/// `nabla train --help` prints).
std::string spec_help();
/// The torch equivalent of a layer (layer.type().torch(layer.args())).
TorchEquivalent torch_equivalent(const Layer& layer);

/// One layer of a model spec, as written.
struct LayerSpec {
  const LayerType* type = nullptr;
  /// One value per type->args; NaN where the spec leaves it out (default, or
  /// inferred from the input shape).
  std::vector<double> args;
  kernels::Activation act;  ///< the trailing activation (takes_activation types)
  std::vector<LayerSpec> body;  ///< Residual: the body's layers
  /// The layer's canonical text ("conv 32 3 pad 1 relu").
  std::string to_string() const;
  /// The value of the argument called `name` as written (NaN if left out).
  double arg(std::string_view name) const;
};

/// A parsed model spec.
struct ModelSpec {
  std::vector<LayerSpec> layers;  ///< in order, at least one
  /// The canonical text: parse_spec(to_string()) gives the same spec.
  std::string to_string() const;
};

/// Parses a spec (grammar in the file comment); throws nabla::Error quoting
/// the offending layer and token.
ModelSpec parse_spec(const std::string& text);

/// Builds the layers of a spec for samples of sample_shape ([F] or
/// [C, H, W]), checking every shape on the way; throws nabla::Error naming
/// the layer ("model spec, layer 3 'maxpool 4': …"). Models are limited to
/// 2^28 parameters and 2^24 values per sample after any layer. Weights come
/// from next_seed().
Sequential build_model(const ModelSpec& spec, const std::vector<int64_t>& sample_shape);

/// build_model(parse_spec(text), sample_shape).
Sequential from_spec(const std::string& text, const std::vector<int64_t>& sample_shape);

}  // namespace nabla::nn
