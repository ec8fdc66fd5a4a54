// The named models and the classifier checks (presets.hpp).
#include "nabla/nn/presets.hpp"

#include "nabla/error.hpp"

namespace nabla::nn {

const std::vector<Preset>& presets() {
  static const std::vector<Preset> list = {
      {"logreg", "dense 1 sigmoid", "logistic regression (binary: needs --classes A,B)"},
      {"mlp-tanh", "dense 64 tanh | dense 1 sigmoid", "one tanh hidden layer (binary)"},
      {"mlp-relu", "dense 64 relu | dense 1 sigmoid", "one ReLU hidden layer (binary)"},
      {"deep-sigmoid", "dense 128 relu | dense 64 relu | dense 32 relu | dense 1 sigmoid", "deep ReLU net, sigmoid output (binary)"},
      {"deep-softmax", "dense 256 relu | dense 128 relu | dense 64 relu | dense 10", "deep ReLU net, 10 classes"},
      {"cnn-sigmoid", "conv 8 5 relu | maxpool 2 | dense 32 relu | dense 1 sigmoid", "small CNN, sigmoid output (binary)"},
      {"cnn-softmax", "conv 16 5 relu | maxpool 2 | conv 32 5 relu | maxpool 2 | dense 128 relu | dense 10",
       "two conv blocks, 10 classes"},
      {"lenet", "conv 6 5 pad 2 relu | maxpool 2 | conv 16 5 relu | maxpool 2 | dense 120 relu | dense 84 relu | dense 10",
       "LeNet-5 with ReLU, 10 classes"},
      {"mlp", "dense 256 relu | dense 128 relu | dense 10", "784-256-128-10 MLP, 10 classes"},
      {"cnn", "conv 32 3 pad 1 relu | maxpool 2 | conv 64 3 pad 1 relu | maxpool 2 | dense 128 relu | dense 10",
       "the default CNN, 10 classes"},
      {"resnet",
       "conv 32 3 pad 1 | batchnorm relu | maxpool 2"
       " | res( conv 32 3 pad 1 | batchnorm relu | conv 32 3 pad 1 | batchnorm ) | relu"
       " | res( conv 64 3 stride 2 pad 1 | batchnorm relu | conv 64 3 pad 1 | batchnorm ) | relu"
       " | res( conv 128 3 stride 2 pad 1 | batchnorm relu | conv 128 3 pad 1 | batchnorm ) | relu | gap | dense 10",
       "residual network with batch norm: a 32-channel stem and max-pool, three BasicBlocks of 32, 64, 128 "
       "channels (14x14, 7x7, 4x4), global average pool, 10 classes"},
  };
  return list;
}

std::string resolve_model(const std::string& preset_or_spec) {
  for (const Preset& p : presets())
    if (preset_or_spec == p.name) return p.spec;
  return preset_or_spec;
}

int64_t spec_classes(const ModelSpec& spec) {
  for (auto it = spec.layers.rbegin(); it != spec.layers.rend(); ++it)
    if (it->type->name == "Dense") {
      const auto units = static_cast<int64_t>(it->arg("out_features"));
      return units == 1 ? 2 : units;
    }
  return 0;
}

bool spec_takes_images(const ModelSpec& spec) { return !spec.layers.empty() && spec.layers.front().type->input_rank == 4; }

BuiltModel build_classifier(const ModelSpec& spec, const std::vector<int64_t>& sample_shape, int64_t num_classes) {
  if (!spec.layers.empty() && spec.layers.back().type->name == "Softmax")
    throw Error("model spec, layer " + std::to_string(spec.layers.size() - 1) +
                " 'softmax': a model ends in logits: drop the final softmax (the loss and eval apply it)");
  BuiltModel out;
  out.model = build_model(spec, sample_shape);
  std::vector<int64_t> input = {1};
  input.insert(input.end(), sample_shape.begin(), sample_shape.end());
  const std::vector<int64_t> shape = out.model.output_shape(input);
  if (shape.size() != 2)
    throw Error("model spec: the model ends in " + shape_string({shape.begin() + 1, shape.end()}) +
                " per sample; end with a dense layer giving one value per class");
  out.outputs = shape[1];
  const Layer& last = out.model.layer(out.model.size() - 1);
  out.ends_in_sigmoid = last.activation() == kernels::ActKind::Sigmoid;
  if (out.outputs == 1) {
    if (num_classes != 2)
      throw Error("model spec: the model has 1 output (binary) but the data has " + std::to_string(num_classes) +
                  " classes; pick two with --classes A,B or end with 'dense " + std::to_string(num_classes) + "'");
  } else {
    if (out.ends_in_sigmoid)
      throw Error("model spec: a sigmoid on " + std::to_string(out.outputs) +
                  " outputs; multi-class models end in logits (no activation after the last dense)");
    if (out.outputs != num_classes)
      throw Error("model spec: the model has " + std::to_string(out.outputs) + " outputs but the data has " +
                  std::to_string(num_classes) + " classes" +
                  (num_classes == 2 ? " (for two classes end with 'dense 1 sigmoid' or 'dense " + std::to_string(num_classes) + "')" : ""));
  }
  return out;
}

}  // namespace nabla::nn
