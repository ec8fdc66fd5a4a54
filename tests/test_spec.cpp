// The model-spec language of `nabla train --model`: valid and invalid
// strings, the presets, and building models (shapes, loss choice, errors).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "nabla/nn/presets.hpp"
#include "nabla/nn/residual.hpp"
#include "nabla/error.hpp"

namespace nn = nabla::nn;
using nabla::kernels::Activation;

namespace {

std::string error_of(const std::string& spec, std::vector<int64_t> sample = {1, 28, 28}, int64_t classes = 10) {
  try {
    nn::build_classifier(nn::parse_spec(spec), sample, classes);
  } catch (const nabla::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Spec, ParsesEveryLayerKind) {
  const nn::ModelSpec s = nn::parse_spec(
      "  conv 6 5  stride 2 pad 1 relu|maxpool 2 stride 1 | flatten | tanh | softmax | sigmoid | relu | dense 10");
  ASSERT_EQ(s.layers.size(), 8u);
  EXPECT_EQ(s.layers[0].type->name, "Conv2D");
  EXPECT_EQ(s.layers[0].arg("out_channels"), 6);
  EXPECT_EQ(s.layers[0].arg("kernel"), 5);
  EXPECT_EQ(s.layers[0].arg("stride"), 2);
  EXPECT_EQ(s.layers[0].arg("padding"), 1);
  EXPECT_EQ(s.layers[0].act, Activation::ReLU);
  EXPECT_EQ(s.layers[1].type->name, "MaxPool2D");
  EXPECT_EQ(s.layers[1].arg("stride"), 1);
  EXPECT_EQ(s.layers[2].type->name, "Flatten");
  EXPECT_EQ(s.layers[3].type->name, "Tanh");
  EXPECT_EQ(s.layers[3].type->activation, nabla::kernels::ActKind::Tanh);
  EXPECT_EQ(s.layers[4].type->name, "Softmax");
  EXPECT_EQ(s.layers[7].type->name, "Dense");
  EXPECT_EQ(s.layers[7].act, Activation::None);
  EXPECT_EQ(s.to_string(),
            "conv 6 5 stride 2 pad 1 relu | maxpool 2 stride 1 | flatten | tanh | softmax | sigmoid | relu | dense 10");
  EXPECT_EQ(nn::parse_spec(s.to_string()).to_string(), s.to_string());
  EXPECT_EQ(nn::parse_spec("conv 4 3 pad 0 stride 1 sigmoid").layers[0].act, Activation::Sigmoid);
}

// Every activation of the table is a spec token: alone and as the suffix of
// dense and conv, with its parameter where it has one; the text round-trips
// and builds the layer the registry describes.
TEST(Spec, EveryActivationOfTheTableIsAToken) {
  for (const nabla::kernels::ActivationInfo& row : nabla::kernels::kActivations) {
    if (row.kind == nabla::kernels::ActKind::None) continue;
    const std::string name(row.name);
    SCOPED_TRACE(name);
    std::vector<std::string> forms = {name, "dense 4 " + name, "conv 3 3 pad 1 " + name + " | dense 2"};
    if (nabla::kernels::has_param(row.kind))
      for (const std::string& f : {name + " 0.25", "dense 4 " + name + " 0.25", "conv 3 3 " + name + " 0.25 | dense 2"})
        forms.push_back(f);
    for (const std::string& text : forms) {
      SCOPED_TRACE(text);
      const nn::ModelSpec s = nn::parse_spec(text);
      EXPECT_EQ(s.to_string(), text);
      EXPECT_EQ(nn::parse_spec(s.to_string()).to_string(), text);
      nn::Sequential m = nn::build_model(s, {1, 6, 6});
      bool found = false;
      for (int64_t i = 0; i < m.size(); ++i) {
        const nabla::kernels::Activation a = m.layer(i).activation();
        if (a.kind != row.kind) continue;
        found = true;
        const float want = text.find("0.25") != std::string::npos ? 0.25f : row.param_default;
        if (nabla::kernels::has_param(row.kind)) EXPECT_EQ(a.param, want);
        EXPECT_EQ(m.layer(i).name().rfind(std::string(row.layer), 0), 0u) << m.layer(i).name();
      }
      EXPECT_TRUE(found);
    }
    if (nabla::kernels::has_param(row.kind)) {
      EXPECT_NE(error_of("dense 4 " + name + " x | dense 10").find("unexpected 'x'"), std::string::npos);
      EXPECT_NE(error_of("dense 4 " + name + " -5 | dense 10").find("'-5' is not a finite number >="), std::string::npos)
          << error_of("dense 4 " + name + " -5 | dense 10");
    } else {
      EXPECT_NE(error_of("dense 4 " + name + " 0.5 | dense 10").find("unexpected '0.5'"), std::string::npos);
    }
  }
}

TEST(Spec, AvgPoolAndGlobalAvgPool) {
  const nn::ModelSpec s = nn::parse_spec("conv 4 3 pad 1 relu | avgpool 3 stride 2 pad 1 | avgpool 2 | gap | dense 3");
  EXPECT_EQ(s.layers[1].type->name, "AvgPool2D");
  EXPECT_EQ(s.layers[1].arg("padding"), 1);
  EXPECT_EQ(s.layers[3].type->name, "GlobalAvgPool2D");
  EXPECT_EQ(s.to_string(), "conv 4 3 pad 1 relu | avgpool 3 stride 2 pad 1 | avgpool 2 | gap | dense 3");
  nn::Sequential m = nn::build_model(s, {1, 12, 12});
  EXPECT_EQ(m.output_shape({2, 1, 12, 12}), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(nn::torch_equivalent(m.layer(2)).python(),
            "torch.nn.AvgPool2d(kernel_size=3, stride=2, padding=1)");
  EXPECT_EQ(nn::torch_equivalent(m.layer(4)).python(), "torch.nn.AdaptiveAvgPool2d(output_size=1)");
  for (const auto& [spec, message] : std::vector<std::pair<const char*, const char*>>{
           {"avgpool 0", "the window size '0'"},
           {"avgpool", "expected the window size"},
           {"avgpool 2 stride -1", "'-1' is not a whole number"},
           {"avgpool 2 pad x", "padding (at most kernel/2) 'x'"},
           {"gap 2", "unexpected '2'"}}) {
    SCOPED_TRACE(spec);
    EXPECT_THROW(
        try { nn::parse_spec(spec); } catch (const nabla::Error& e) {
          EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
          throw;
        },
        nabla::Error);
  }
  for (const auto& [spec, message] : std::vector<std::pair<const char*, const char*>>{
           {"avgpool 3 pad 2", "padding 2 is more than half the window 3"},
           {"avgpool 9", "window 9 is larger than the 4×4 input"},
           {"dense 3 | gap", "needs image input"}}) {
    SCOPED_TRACE(spec);
    try {
      nn::from_spec(spec, {1, 4, 4});
      ADD_FAILURE() << "built";
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

TEST(Spec, InvalidStringsNameTheLayerAndToken) {
  struct Case {
    const char* spec;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "layer 0 '': empty layer"},
           {"dense 10 |", "layer 1"},
           {"dense 10 || dense 2", "empty layer"},
           {"dense", "expected the number of units after 'dense'"},
           {"dense 0", "the number of units '0' is not a whole number in [1,"},
           {"dense -3", "'-3'"},
           {"dense 2x", "'2x'"},
           {"dense 99999999999", "'99999999999'"},
           {"dense 10 softmax", "unexpected 'softmax'"},
           {"dense 10 relu relu", "unexpected 'relu'"},
           {"conv 6", "expected the kernel size after '6'"},
           {"conv 6 5 stride", "expected the stride after 'stride'"},
           {"conv 6 5 pad -1", "the padding '-1'"},
           {"conv 6 5 stride 0", "the stride '0'"},
           {"maxpool", "expected the window size"},
           {"maxpool 2 pad 1", "unexpected 'pad'"},
           {"linear 10", "unknown layer 'linear'"},
           {"Dense 10", "unknown layer 'Dense'"},
       }) {
    SCOPED_TRACE(c.spec);
    try {
      nn::parse_spec(c.spec);
      ADD_FAILURE() << "parsed";
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind("model spec, layer ", 0), 0u) << e.what();
    }
  }
}

TEST(Spec, EveryPresetParsesAndBuilds) {
  ASSERT_EQ(nn::presets().size(), 11u);
  for (const auto& p : nn::presets()) {
    SCOPED_TRACE(p.name);
    const nn::ModelSpec s = nn::parse_spec(p.spec);
    EXPECT_EQ(s.to_string(), p.spec);
    EXPECT_EQ(nn::resolve_model(p.name), p.spec);
    EXPECT_EQ(error_of(p.spec, {1, 28, 28}, nn::spec_classes(s)), "");
  }
  EXPECT_EQ(nn::resolve_model("dense 3"), "dense 3");
}

TEST(Spec, BuildsWithFlattenAndChoosesTheLoss) {
  nn::BuiltModel m = nn::build_classifier(nn::parse_spec("maxpool 2 | dense 32 tanh | dense 10"), {1, 28, 28}, 10);
  EXPECT_EQ(m.outputs, 10);
  EXPECT_FALSE(m.ends_in_sigmoid);
  EXPECT_EQ(m.model.size(), 5);  // pool, flatten (inserted), dense, tanh, dense
  EXPECT_EQ(m.model.output_shape({4, 1, 28, 28}), (std::vector<int64_t>{4, 10}));
  EXPECT_EQ(m.model.named_parameters()[0].first, "2.weight");
  EXPECT_EQ(m.model.named_parameters()[0].second->value.shape(), (std::vector<int64_t>{32, 196}));
  nn::BuiltModel b = nn::build_classifier(nn::parse_spec("dense 1 sigmoid"), {5}, 2);
  EXPECT_TRUE(b.ends_in_sigmoid);
  EXPECT_EQ(b.outputs, 1);
  EXPECT_FALSE(nn::build_classifier(nn::parse_spec("dense 8 relu | dense 1"), {5}, 2).ends_in_sigmoid);
  EXPECT_TRUE(nn::build_classifier(nn::parse_spec("dense 1 | sigmoid"), {5}, 2).ends_in_sigmoid);
}

TEST(Spec, ImpossibleModelsAreClearErrors) {
  EXPECT_NE(error_of("maxpool 29 | dense 10").find("layer 0 'maxpool 29': window 29 is larger than the 28×28 input"),
            std::string::npos);
  EXPECT_NE(error_of("maxpool 2 | maxpool 2 | maxpool 2 | maxpool 2 | maxpool 2 | dense 10")
                .find("layer 4 'maxpool 2': window 2 is larger than the 1×1 input"),
            std::string::npos);
  EXPECT_NE(error_of("dense 10 | maxpool 2").find("needs image input [C, H, W], it gets [10]"), std::string::npos);
  EXPECT_NE(error_of("conv 4 3", {784}).find("needs image input"), std::string::npos);
  EXPECT_NE(error_of("conv 4 30").find("kernel 30 is larger than the 28×28 input"), std::string::npos);
  // Sizes that would allocate gigabytes are errors, found by the fuzzer.
  EXPECT_NE(error_of("conv 5 8958 pad 9059 | dense 10").find("parameters, more than the limit"), std::string::npos);
  EXPECT_NE(error_of("conv 64 3 pad 600 | dense 10").find("values per sample, more than the limit"),
            std::string::npos);
  EXPECT_NE(error_of("dense 1048576 | dense 1048576").find("parameters, more than the limit"), std::string::npos);
  EXPECT_NE(error_of("dense 10 | softmax").find("drop the final softmax"), std::string::npos);
  EXPECT_NE(error_of("maxpool 2").find("ends in [1, 14, 14] per sample"), std::string::npos);
  EXPECT_NE(error_of("dense 7").find("7 outputs but the data has 10 classes"), std::string::npos);
  EXPECT_NE(error_of("dense 1 sigmoid").find("1 output (binary) but the data has 10 classes"), std::string::npos);
  EXPECT_NE(error_of("dense 10 sigmoid").find("a sigmoid on 10 outputs"), std::string::npos);
}

namespace {

// Each spec fails to parse with an error containing its message.
void expect_parse_errors(const std::vector<std::pair<const char*, const char*>>& cases) {
  for (const auto& [spec, message] : cases) {
    SCOPED_TRACE(spec);
    try {
      nn::parse_spec(spec);
      ADD_FAILURE() << "parsed";
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

}  // namespace

// Arguments outside their range are rejected while parsing, naming the range;
// "gelu tanh" spells gelu_tanh, alone or fused.
TEST(Spec, RangesAndSpellings) {
  expect_parse_errors({{"dropout 1.5", "'1.5' is not a finite number in [0, 1)"},
                       {"dropout 1", "'1' is not a finite number in [0, 1)"},
                       {"dropout -0.1", "'-0.1' is not a finite number in [0, 1)"},
                       {"batchnorm momentum 2", "'2' is not a finite number in [0, 1]"},
                       {"gelu 3", "unexpected '3'"},
                       {"avgpool 0", "'0' is not a whole number in [1,"}});
  EXPECT_EQ(nn::parse_spec("dropout 0.999 | batchnorm momentum 1").to_string(), "dropout 0.999 | batchnorm momentum 1");
  EXPECT_THROW(nn::layer_type("Dropout").create({1.0}), nabla::Error);
  EXPECT_EQ(nn::parse_spec("gelu tanh | dense 4 gelu tanh | gelu").to_string(), "gelu_tanh | dense 4 gelu_tanh | gelu");
}

TEST(Spec, ResidualBlocks) {
  const nn::ModelSpec s = nn::parse_spec("conv 4 3 pad 1 relu | res( conv 4 3 pad 1 gelu | conv 4 3 pad 1 ) | relu | "
                                         "res(conv 8 3 stride 2 pad 1 silu|conv 8 3 pad 1) | gap | dense 2");
  ASSERT_EQ(s.layers.size(), 6u);
  EXPECT_EQ(s.layers[1].type->name, "Residual");
  EXPECT_EQ(s.layers[1].body.size(), 2u);
  EXPECT_EQ(s.to_string(), "conv 4 3 pad 1 relu | res( conv 4 3 pad 1 gelu | conv 4 3 pad 1 ) | relu | "
                           "res( conv 8 3 stride 2 pad 1 silu | conv 8 3 pad 1 ) | gap | dense 2");
  EXPECT_EQ(nn::parse_spec(s.to_string()).to_string(), s.to_string());
  nn::Sequential m = nn::build_model(s, {3, 8, 8});
  EXPECT_EQ(m.output_shape({2, 3, 8, 8}), (std::vector<int64_t>{2, 2}));
  std::vector<std::string> names;
  for (auto& [n, p] : m.named_parameters()) names.push_back(n);
  EXPECT_EQ(names[2], "2.body.0.weight");
  EXPECT_EQ(names[6], "4.body.0.weight");  // layers: conv, relu, res, relu, res, gap, flatten, dense
  EXPECT_NE(std::find(names.begin(), names.end(), "4.shortcut.0.weight"), names.end());
  auto& r = dynamic_cast<nn::Residual&>(m.layer(4));
  ASSERT_EQ(r.shortcut().size(), 2);
  EXPECT_EQ(r.shortcut().layer(0).name(), "Conv2D 4→8 1×1 stride 2");
  EXPECT_EQ(r.shortcut().layer(1).type().name, "BatchNorm2D");  // torchvision's BasicBlock downsample
  // The shortcut's batch norm is saved with the model, and follows eval().
  std::vector<std::string> buffers;
  for (auto& [n, b] : m.named_buffers()) buffers.push_back(n);
  EXPECT_EQ(buffers, (std::vector<std::string>{"4.shortcut.1.running_mean", "4.shortcut.1.running_var",
                                               "4.shortcut.1.num_batches_tracked"}));
  EXPECT_TRUE(r.shortcut().layer(1).is_training());
  m.eval();
  EXPECT_FALSE(r.shortcut().layer(1).is_training());
  EXPECT_FALSE(r.body().layer(0).is_training());
  m.train();
  EXPECT_TRUE(r.shortcut().layer(1).is_training());
  expect_parse_errors({{"res( dense 3", "unclosed 'res('"},
                       {"res()", "empty 'res()'"},
                       {"res( ) | dense 2", "empty 'res()'"},
                       {"res( dense x )", "'x'"}});
  try {
    nn::from_spec("res( dense 3 )", {5});
    ADD_FAILURE() << "built";
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("only image blocks"), std::string::npos) << e.what();
  }
}
