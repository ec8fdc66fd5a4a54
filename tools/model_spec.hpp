#pragma once
/// \file model_spec.hpp  The model-spec language of `nabla train --model`,
/// the presets, and building an nn::Sequential from a spec.
///
/// Grammar (tokens separated by blanks, layers by '|'):
///
///     model   := layer { "|" layer }
///     layer   := "dense" UNITS [act]
///              | "conv" CHANNELS KERNEL ["stride" S] ["pad" P] [act]
///              | "maxpool" KERNEL ["stride" S]
///              | "flatten" | act | "softmax"
///     act     := "relu" | "sigmoid" | "tanh"
///
/// Numbers are whole and >= 1 (pad >= 0). A Flatten is inserted before the
/// first dense layer that follows image-shaped data. The last layer must
/// produce [N, C] logits for C >= 2 classes (softmax cross-entropy), or
/// [N, 1] for two classes: "dense 1 sigmoid" (binary cross-entropy) or
/// "dense 1" (binary cross-entropy from logits).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nabla/kernels/types.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/sequential.hpp"

namespace nabla::cli {

/// What one layer of a spec is.
enum class LayerKind { Dense, Conv, MaxPool, Flatten, ReLU, Sigmoid, Tanh, Softmax };

/// One layer of a spec, as written.
struct LayerSpec {
  LayerKind kind = LayerKind::Dense;
  int64_t units = 0;   ///< dense: output features; conv: output channels
  int64_t kernel = 0;  ///< conv, maxpool: window side
  int64_t stride = 0;  ///< conv: default 1; maxpool: default = kernel (0 = default)
  int64_t pad = 0;     ///< conv: zero padding on each side
  kernels::Activation act = kernels::Activation::None;  ///< dense, conv: fused activation
};

/// A parsed model spec.
struct ModelSpec {
  std::vector<LayerSpec> layers;  ///< in order, at least one
  /// The canonical text ("conv 32 3 pad 1 relu | maxpool 2 | dense 10"):
  /// parse_spec(to_string()) gives the same spec.
  std::string to_string() const;
};

/// Parses a spec (see the file comment); throws nabla::Error quoting the
/// offending layer and token.
ModelSpec parse_spec(const std::string& text);

/// A named model.
struct Preset {
  const char* name;         ///< e.g. "lenet"
  const char* spec;         ///< its spec
  const char* description;  ///< one line for --help
};

/// The presets: the seven architectures of DESIGN.md, lenet, mlp, and cnn
/// (the default model).
const std::vector<Preset>& presets();

/// The spec of a preset name, or the text itself when it is not one.
std::string resolve_model(const std::string& preset_or_spec);

/// The layer for "conv OUT K [stride S] [pad P]" on in_ch input channels:
/// the single place the spec language meets nn::Conv2D.
std::unique_ptr<nn::Layer> make_conv2d(int64_t in_ch, int64_t out_ch, int64_t kernel, int64_t stride, int64_t pad);

/// A model ready to train, with what the training loop needs to know.
struct BuiltModel {
  nn::Sequential model;
  int64_t outputs = 0;         ///< C of the final [N, C]
  bool ends_in_sigmoid = false;  ///< final layer's output is a probability
};

/// Builds the layers of a spec for samples of sample_shape ([F] or
/// [C, H, W]) and num_classes classes, checking every shape on the way;
/// throws nabla::Error naming the layer ("layer 3 'maxpool 4': window 4 is
/// larger than the 3×3 input"). Weights come from nn::next_seed().
BuiltModel build_model(const ModelSpec& spec, const std::vector<int64_t>& sample_shape, int64_t num_classes);

}  // namespace nabla::cli
