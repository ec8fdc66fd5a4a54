#pragma once
/// \file presets.hpp  The named models (the seven architectures of
/// DESIGN.md, LeNet, an MLP and the default CNN) and building a classifier
/// from a model spec: the spec of <nabla/nn/registry.hpp> plus the checks
/// that make its output fit a classification loss.
#include <cstdint>
#include <string>
#include <vector>

#include "nabla/nn/registry.hpp"
#include "nabla/nn/sequential.hpp"

namespace nabla::nn {

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

/// A classifier ready to train, with what the training loop needs to know.
struct BuiltModel {
  Sequential model;
  int64_t outputs = 0;           ///< C of the final [N, C]
  bool ends_in_sigmoid = false;  ///< final layer's output is a probability
};

/// build_model(spec, sample_shape), then checks that the model ends in [N, C]
/// logits for C = num_classes >= 2 (softmax cross-entropy), or [N, 1] for two
/// classes: "dense 1 sigmoid" (binary cross-entropy) or "dense 1" (from
/// logits); a final softmax is refused (the loss applies it). Throws
/// nabla::Error saying what to change.
BuiltModel build_classifier(const ModelSpec& spec, const std::vector<int64_t>& sample_shape, int64_t num_classes);

/// The number of classes a spec's last dense layer is made for (2 for a
/// single output), or 0 when it does not end in a dense layer.
int64_t spec_classes(const ModelSpec& spec);

/// Whether the spec's first layer needs images ([C, H, W] samples).
bool spec_takes_images(const ModelSpec& spec);

}  // namespace nabla::nn
