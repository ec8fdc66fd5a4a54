// Tensor, every layer's forward and backward against the float64 reference
// (and the reference against finite differences), shape errors, naming,
// summary, initialisation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "nabla/error.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/residual.hpp"
#include "nabla/nn/sequential.hpp"
#include "activation_test_util.hpp"
#include "nabla/nn/registry.hpp"
#include "nn_test_util.hpp"

namespace nn = nabla::nn;
using nabla::Tensor;
using nabla::test::LossCase;
using nabla::test::RefLoss;

namespace {

LossCase mse_loss(std::shared_ptr<nn::MSE> l = std::make_shared<nn::MSE>()) {
  return {RefLoss::Mse, 1, [l](const Tensor& p, const Tensor& t) { return l->forward(p, t); },
          [l] { return l->backward(); }};
}

void check_layer_model(nn::Sequential& m, const std::vector<int64_t>& in, bool fusion = true) {
  m.set_input_grad(true);
  m.set_fusion(fusion);
  auto loss = mse_loss();
  const Tensor x = nabla::test::random_input(in, 11);
  const Tensor t = nabla::test::random_target(RefLoss::Mse, m.output_shape(in), 12);
  nabla::test::check_against_reference(m, loss, x, t, 2e-5);
}

}  // namespace

TEST(Tensor, ShapeViewsAndCopies) {
  Tensor e;
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.shape().empty());
  EXPECT_EQ(e.data(), nullptr);
  Tensor t({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(t.data()[i], 0.f);
  Tensor v = t.reshape({-1, 4});
  EXPECT_EQ(v.shape(), (std::vector<int64_t>{6, 4}));
  v.data()[5] = 7.f;
  EXPECT_EQ(t.data()[5], 7.f);  // a view shares storage
  EXPECT_FALSE(t.unique());
  Tensor c = t.clone();
  c.data()[5] = 1.f;
  EXPECT_EQ(t.data()[5], 7.f);
  EXPECT_TRUE(c.unique());
  c.fill(2.f);
  t.copy_from(c);
  EXPECT_EQ(v.data()[23], 2.f);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_THROW(t.reshape({5, -1}), nabla::Error);
  EXPECT_THROW(t.reshape({-1, -1}), nabla::Error);
  EXPECT_THROW(Tensor({1, 2, 3, 4, 5}), nabla::Error);
  EXPECT_THROW(Tensor({2, -1}), nabla::Error);
  EXPECT_THROW(t.copy_from(Tensor({5})), nabla::Error);
  EXPECT_THROW(t.size(3), nabla::Error);
}

TEST(Tensor, AdoptsExternalStorage) {
  // The owner is released with the last Tensor that shares the storage.
  alignas(64) static float buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  int released = 0;
  {
    auto owner = std::shared_ptr<void>(&released, [](void* p) { ++*static_cast<int*>(p); });
    Tensor t = Tensor::adopt(buf, {2, 4}, std::move(owner));
    EXPECT_EQ(t.data(), buf);
    EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 4}));
    Tensor v = t.reshape({8});
    t = Tensor();
    EXPECT_EQ(released, 0);
    EXPECT_EQ(v.data()[7], 8.f);
  }
  EXPECT_EQ(released, 1);
  EXPECT_THROW(Tensor::adopt(buf + 1, {4}, nullptr), nabla::Error);  // misaligned
  EXPECT_THROW(Tensor::adopt(nullptr, {4}, nullptr), nabla::Error);
  EXPECT_THROW(Tensor::adopt(buf, {}, nullptr), nabla::Error);
  EXPECT_THROW(Tensor::adopt(buf, {2, 0}, nullptr), nabla::Error);
}

TEST(Tensor, SeededInitialisers) {
  const Tensor a = Tensor::uniform({1000}, -2.f, 3.f, 5), b = Tensor::uniform({1000}, -2.f, 3.f, 5);
  const Tensor c = Tensor::uniform({1000}, -2.f, 3.f, 6);
  double mean = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(a.data()[i], b.data()[i]);
    EXPECT_GE(a.data()[i], -2.f);
    EXPECT_LT(a.data()[i], 3.f);
    mean += a.data()[i] / 1000.0;
  }
  EXPECT_NE(a.data()[0], c.data()[0]);
  EXPECT_NEAR(mean, 0.5, 0.15);
  const Tensor n = Tensor::normal({20001}, 1.f, 2.f, 9);
  double m = 0, var = 0;
  for (int64_t i = 0; i < n.numel(); ++i) m += n.data()[i] / n.numel();
  for (int64_t i = 0; i < n.numel(); ++i) var += (n.data()[i] - m) * (n.data()[i] - m) / n.numel();
  EXPECT_NEAR(m, 1.0, 0.05);
  EXPECT_NEAR(std::sqrt(var), 2.0, 0.05);
}

TEST(Layers, DenseAgainstReference) {
  for (bool fusion : {true, false}) {
    nn::Sequential m;
    m.add(nn::Dense(13, 7));
    check_layer_model(m, {5, 13}, fusion);
  }
}

TEST(Layers, ActivationsAgainstReference) {
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fused" : "unfused");
    {
      nn::Sequential m;  // Dense + activation: fused into the GEMM when fusion is on
      m.add(nn::Dense(9, 11)).add(nn::ReLU()).add(nn::Dense(11, 6)).add(nn::Tanh()).add(nn::Dense(6, 3)).add(nn::Sigmoid());
      check_layer_model(m, {4, 9}, fusion);
    }
    for (int kind = 0; kind < 4; ++kind) {  // each activation on its own
      nn::Sequential m;
      if (kind == 0) m.add(nn::ReLU());
      if (kind == 1) m.add(nn::Sigmoid());
      if (kind == 2) m.add(nn::Tanh());
      if (kind == 3) m.add(nn::Softmax());
      check_layer_model(m, {6, 10}, fusion);
    }
  }
}

// Every activation of the table (and each parameterised one at a second
// parameter value) as a layer: alone, fused into a Dense's and a Conv2D's
// forward epilogue, and with its derivative fused into the next Dense's GEMM
// epilogue and the next Conv2D's col2im; fusion on and off, against the
// float64 reference.
TEST(Layers, EveryActivationOfTheTable) {
  for (const nabla::kernels::Activation f : nabla::test::real_activations()) {
    SCOPED_TRACE(nabla::test::label(f));
    auto act = [&] { return std::make_unique<nn::ActivationLayer>(f); };
    for (bool fusion : {true, false}) {
      SCOPED_TRACE(fusion ? "fused" : "unfused");
      {
        nn::Sequential m;
        m.add(act());
        check_layer_model(m, {5, 7}, fusion);
      }
      {
        nn::Sequential m;
        m.add(nn::Dense(9, 11)).add(act()).add(nn::Dense(11, 6)).add(act()).add(nn::Dense(6, 3));
        check_layer_model(m, {4, 9}, fusion);
      }
      {
        nn::Sequential m;
        m.add(nn::Conv2D(2, 3, 3, 1, 1)).add(act()).add(nn::Conv2D(3, 4, 3, 2)).add(act()).add(nn::Flatten());
        m.add(nn::Dense(4 * 3 * 3, 5)).add(act());
        check_layer_model(m, {2, 2, 7, 7}, fusion);
      }
    }
    // Its registry entry makes the same layer back from its arguments.
    const nn::ActivationLayer layer(f);
    const nn::LayerType& type = layer.type();
    EXPECT_EQ(type.activation, f.kind);
    EXPECT_EQ(type.create(layer.args())->name(), layer.name());
    EXPECT_EQ(type.create(layer.args())->activation(), f);
    EXPECT_EQ(nn::torch_equivalent(layer).module, std::string(f.info().torch_module));
  }
}

TEST(Layers, ActivationParametersAreChecked) {
  for (const nabla::kernels::ActivationInfo& row : nabla::kernels::kActivations) {
    if (!nabla::kernels::has_param(row.kind)) continue;
    SCOPED_TRACE(std::string(row.name));
    for (float bad : {row.param_min - 1.f, std::numeric_limits<float>::quiet_NaN(),
                      std::numeric_limits<float>::infinity()}) {
      try {
        nn::ActivationLayer l(nabla::kernels::Activation(row.kind, bad));
        ADD_FAILURE() << "accepted " << bad;
      } catch (const nabla::Error& e) {
        EXPECT_NE(std::string(e.what()).find(std::string(row.param)), std::string::npos) << e.what();
      }
    }
  }
}

TEST(Layers, PoolAndFlattenAgainstReference) {
  nn::Sequential m;
  m.add(nn::Tanh()).add(nn::MaxPool2D(2)).add(nn::ReLU()).add(nn::MaxPool2D(3, 1)).add(nn::Flatten()).add(nn::Dense(2 * 3 * 3, 4));
  check_layer_model(m, {3, 2, 10, 11});
}

TEST(Layers, AvgPoolAndGlobalAvgPoolAgainstReference) {
  nn::Sequential m;
  m.add(nn::Tanh()).add(nn::AvgPool2D(2)).add(nn::ReLU()).add(nn::AvgPool2D(3, 1, 1)).add(nn::Conv2D(2, 3, 1));
  m.add(nn::AvgPool2D(3, 2, 1)).add(nn::GlobalAvgPool2D()).add(nn::Flatten()).add(nn::Dense(3, 4));
  check_layer_model(m, {3, 2, 10, 11});
  EXPECT_EQ(m.output_shape({3, 2, 10, 11}), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(nn::AvgPool2D(3, 2, 1).name(), "AvgPool2D 3×3/2 pad 1");
  EXPECT_EQ(nn::GlobalAvgPool2D().output_shape({2, 5, 7, 3}), (std::vector<int64_t>{2, 5, 1, 1}));
  EXPECT_THROW(nn::AvgPool2D(0), nabla::Error);
  EXPECT_THROW(nn::AvgPool2D(2, -1), nabla::Error);
  EXPECT_THROW(nn::AvgPool2D(2, 2, 2), nabla::Error);
  EXPECT_THROW(nn::AvgPool2D(3).output_shape({1, 1, 2, 2}), nabla::Error);
  EXPECT_THROW(nn::GlobalAvgPool2D().output_shape({1, 4}), nabla::Error);
}

TEST(Layers, Conv2DAgainstReference) {
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fused" : "unfused");
    {
      nn::Sequential m;  // alone, with padding: input gradient without a derivative
      m.add(nn::Conv2D(2, 3, 3, 1, 1));
      check_layer_model(m, {3, 2, 7, 6}, fusion);
    }
    {
      // Stride and padding; each activation fused into the conv forward and
      // its derivative into the next conv's backward-data (col2im path for
      // the 3×3, GEMM epilogue for the 1×1); a conv after a pooling layer.
      nn::Sequential m;
      m.add(nn::Conv2D(2, 4, 3, 2, 1)).add(nn::ReLU()).add(nn::Conv2D(4, 5, 3)).add(nn::Tanh())
          .add(nn::Conv2D(5, 3, 1)).add(nn::Sigmoid()).add(nn::MaxPool2D(2)).add(nn::Conv2D(3, 2, 2, 1, 1))
          .add(nn::Flatten()).add(nn::Dense(2 * 3 * 3, 3));
      check_layer_model(m, {2, 2, 13, 12}, fusion);
    }
  }
}

TEST(Layers, Conv2DFusedEqualsUnfused) {
  std::vector<float> results[2];
  for (int fusion = 0; fusion < 2; ++fusion) {
    nn::manual_seed(4);
    nn::Sequential m;
    m.add(nn::Conv2D(3, 8, 3, 1, 1)).add(nn::ReLU()).add(nn::Conv2D(8, 6, 5, 2)).add(nn::Tanh())
        .add(nn::Conv2D(6, 4, 1)).add(nn::Sigmoid());
    m.set_fusion(fusion == 1);
    m.set_input_grad(true);
    const Tensor x = Tensor::uniform({4, 3, 15, 15}, -1, 1, 5);
    Tensor y = m.forward(x);
    Tensor dx = m.backward(Tensor::uniform(y.shape(), -1, 1, 6));
    results[fusion].insert(results[fusion].end(), y.data(), y.data() + y.numel());
    results[fusion].insert(results[fusion].end(), dx.data(), dx.data() + dx.numel());
    for (auto* p : m.parameters())
      results[fusion].insert(results[fusion].end(), p->grad.data(), p->grad.data() + p->grad.numel());
  }
  ASSERT_EQ(results[0].size(), results[1].size());
  for (size_t i = 0; i < results[0].size(); ++i)
    ASSERT_NEAR(results[0][i], results[1][i], 1e-6f * (1 + std::fabs(results[0][i]))) << "element " << i;
}

TEST(Layers, Conv2DGradientsAccumulate) {
  // backward adds into grad (PyTorch): two backward passes give twice the gradient.
  nn::Sequential m;
  m.add(nn::Conv2D(2, 3, 3)).add(nn::ReLU()).add(nn::Conv2D(3, 2, 3, 1, 1));
  const Tensor x = Tensor::uniform({2, 2, 8, 8}, -1, 1, 1);
  const Tensor g = Tensor::uniform({2, 2, 6, 6}, -1, 1, 2);
  m.forward(x);
  m.backward(g);
  std::vector<float> once;
  for (auto* p : m.parameters()) once.insert(once.end(), p->grad.data(), p->grad.data() + p->grad.numel());
  m.forward(x);
  m.backward(g);
  size_t i = 0;
  for (auto* p : m.parameters())
    for (int64_t j = 0; j < p->grad.numel(); ++j, ++i)
      EXPECT_NEAR(p->grad.data()[j], 2 * once[i], 1e-6f * (1 + std::fabs(once[i])));
  m.zero_grad();
  for (auto* p : m.parameters())
    for (int64_t j = 0; j < p->grad.numel(); ++j) EXPECT_EQ(p->grad.data()[j], 0.f);
}

TEST(Layers, Conv2DNamesShapesAndErrors) {
  EXPECT_EQ(nn::Conv2D(1, 6, 5).name(), "Conv2D 1→6 5×5");
  EXPECT_EQ(nn::Conv2D(32, 64, 3, 1, 1).name(), "Conv2D 32→64 3×3 pad 1");
  EXPECT_EQ(nn::Conv2D(3, 8, 3, 2).name(), "Conv2D 3→8 3×3 stride 2");
  EXPECT_EQ(nn::Conv2D(3, 8, 3, 2, 1).name(), "Conv2D 3→8 3×3 stride 2 pad 1");
  nn::Conv2D c(3, 8, 5, 2, 1);
  EXPECT_EQ(c.weight.value.shape(), (std::vector<int64_t>{8, 3, 5, 5}));
  EXPECT_EQ(c.weight.grad.shape(), (std::vector<int64_t>{8, 3, 5, 5}));
  EXPECT_EQ(c.bias.value.shape(), (std::vector<int64_t>{8}));
  EXPECT_EQ(c.num_parameters(), 8 * 3 * 25 + 8);
  EXPECT_EQ(c.output_shape({4, 3, 28, 28}), (std::vector<int64_t>{4, 8, 13, 13}));  // (28 + 2 − 5)/2 + 1
  EXPECT_EQ(nn::Conv2D(1, 6, 5).output_shape({2, 1, 28, 28}), (std::vector<int64_t>{2, 6, 24, 24}));
  EXPECT_EQ(nn::Conv2D(1, 6, 3, 1, 1).output_shape({2, 1, 28, 28}), (std::vector<int64_t>{2, 6, 28, 28}));
  for (auto bad : {std::vector<int64_t>{0, 1, 3, 3, 1, 0}, {1, 0, 3, 1, 0}, {1, 1, 0, 1, 0}, {1, 1, 3, 0, 0},
                   {1, 1, 3, 1, -1}})
    EXPECT_THROW(nn::Conv2D(bad[0], bad[1], bad[2], bad[3], bad[4]), nabla::Error);

  auto message = [](nn::Sequential& m, const std::vector<int64_t>& in) {
    try {
      m.forward(Tensor(in));
    } catch (const nabla::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  nn::Sequential m;
  m.add(nn::Conv2D(1, 6, 5)).add(nn::ReLU()).add(nn::MaxPool2D(2)).add(nn::Conv2D(3, 16, 5));
  EXPECT_EQ(message(m, {8, 1, 28, 28}),
            "layer 3 (Conv2D 3→16 5×5): input [8, 6, 12, 12] has 6 channels, expected 3");
  nn::Sequential r;
  r.add(nn::Flatten()).add(nn::Conv2D(1, 6, 5));
  EXPECT_EQ(message(r, {8, 1, 28, 28}), "layer 1 (Conv2D 1→6 5×5): input [8, 784] is not [N, 1, H, W]");
  nn::Sequential small;
  small.add(nn::Conv2D(1, 6, 5, 1, 1));
  EXPECT_EQ(message(small, {8, 1, 2, 9}),
            "layer 0 (Conv2D 1→6 5×5 pad 1): input [8, 1, 2, 9] (padded 4×11) is smaller than the 5×5 kernel");
  // A failed forward leaves a planned model usable.
  nn::Sequential ok;
  ok.add(nn::Conv2D(1, 2, 3));
  EXPECT_EQ(ok.forward(Tensor({1, 1, 5, 5})).shape(), (std::vector<int64_t>{1, 2, 3, 3}));
  EXPECT_THROW(ok.forward(Tensor({1, 2, 5, 5})), nabla::Error);
  EXPECT_EQ(ok.forward(Tensor({1, 1, 5, 5})).shape(), (std::vector<int64_t>{1, 2, 3, 3}));
}

TEST(Init, Conv2DPyTorchDefaultHeXavier) {
  // fan_in = in_ch·k·k = 4·5·5 = 100, fan_out = out_ch·k·k = 2·25 = 50.
  nn::manual_seed(3);
  nn::Conv2D a(4, 2, 5);
  nn::manual_seed(3);
  nn::Conv2D b(4, 2, 5);
  EXPECT_EQ(std::memcmp(a.weight.value.data(), b.weight.value.data(), 200 * sizeof(float)), 0);
  auto max_abs = [](const Tensor& t) {
    float m = 0;
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.data()[i]));
    return m;
  };
  EXPECT_LE(max_abs(a.weight.value), 0.1f);  // 1/√100
  EXPECT_GT(max_abs(a.weight.value), 0.09f);
  EXPECT_LE(max_abs(a.bias.value), 0.1f);
  EXPECT_GT(max_abs(a.bias.value), 0.f);
  a.reset_parameters(nn::Init::HeUniform, 1);
  EXPECT_LE(max_abs(a.weight.value), std::sqrt(6.f / 100));
  EXPECT_GT(max_abs(a.weight.value), 0.9f * std::sqrt(6.f / 100));
  EXPECT_EQ(max_abs(a.bias.value), 0.f);
  a.reset_parameters(nn::Init::XavierUniform, 1);
  EXPECT_LE(max_abs(a.weight.value), std::sqrt(6.f / 150));
  EXPECT_GT(max_abs(a.weight.value), 0.9f * std::sqrt(6.f / 150));
}

TEST(Layers, InputGradientOnlyWhenAsked) {
  nn::Sequential m;
  m.add(nn::Dense(4, 3));
  const Tensor x = Tensor::uniform({2, 4}, -1, 1, 1);
  m.forward(x);
  EXPECT_EQ(m.backward(Tensor({2, 3})).numel(), 0);
  m.set_input_grad(true);
  m.forward(x);
  EXPECT_EQ(m.backward(Tensor::uniform({2, 3}, -1, 1, 2)).shape(), x.shape());
  nn::Sequential c;  // a first convolution skips its backward-data unless asked
  c.add(nn::Conv2D(1, 2, 3)).add(nn::ReLU());
  const Tensor xi = Tensor::uniform({2, 1, 6, 6}, -1, 1, 3);
  c.forward(xi);
  EXPECT_EQ(c.backward(Tensor::uniform({2, 2, 4, 4}, -1, 1, 4)).numel(), 0);
  c.set_input_grad(true);
  c.forward(xi);
  EXPECT_EQ(c.backward(Tensor::uniform({2, 2, 4, 4}, -1, 1, 4)).shape(), xi.shape());
}

TEST(Layers, ShapeErrorsNameLayerAndShapes) {
  nn::Sequential m;
  m.add(nn::Dense(30, 120)).add(nn::ReLU()).add(nn::Dense(100, 84));
  try {
    m.forward(Tensor({8, 30}));
    FAIL() << "no error";
  } catch (const nabla::Error& e) {
    EXPECT_STREQ(e.what(), "layer 2 (Dense 100→84): input [8, 120] has 120 features, expected 100");
  }
  nn::Sequential p;
  p.add(nn::MaxPool2D(2));
  EXPECT_THROW(p.forward(Tensor({8, 30})), nabla::Error);
  EXPECT_THROW(nn::Sequential().forward(Tensor({1, 2})), nabla::Error);
  EXPECT_THROW(nn::Dense(0, 3), nabla::Error);
  nn::Sequential ok;
  ok.add(nn::Dense(3, 2));
  EXPECT_THROW(ok.backward(Tensor({1, 2})), nabla::Error);  // before forward
  ok.forward(Tensor({1, 3}));
  EXPECT_THROW(ok.backward(Tensor({1, 3})), nabla::Error);  // wrong gradient shape
}

TEST(Sequential, NamedParametersAndSummary) {
  auto m = nn::Sequential().add(nn::Dense(8, 6)).add(nn::ReLU()).add(nn::Flatten()).add(nn::Dense(6, 2));
  const auto np = m.named_parameters();
  ASSERT_EQ(np.size(), 4u);
  EXPECT_EQ(np[0].first, "0.weight");
  EXPECT_EQ(np[1].first, "0.bias");
  EXPECT_EQ(np[2].first, "3.weight");
  EXPECT_EQ(np[3].first, "3.bias");
  EXPECT_EQ(np[0].second->value.shape(), (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(np[3].second->value.shape(), (std::vector<int64_t>{2}));
  EXPECT_EQ(m.num_parameters(), 6 * 8 + 6 + 2 * 6 + 2);
  const std::string s = m.summary({32, 8});
  EXPECT_NE(s.find("Dense 8→6"), std::string::npos) << s;
  EXPECT_NE(s.find("[32, 2]"), std::string::npos) << s;
  EXPECT_NE(s.find("68"), std::string::npos) << s;
  EXPECT_NE(m.summary().find("?"), std::string::npos);

  auto c = nn::Sequential().add(nn::Conv2D(1, 6, 5)).add(nn::ReLU()).add(nn::MaxPool2D(2)).add(nn::Flatten())
      .add(nn::Dense(6 * 12 * 12, 10));
  const auto cp = c.named_parameters();
  ASSERT_EQ(cp.size(), 4u);
  EXPECT_EQ(cp[0].first, "0.weight");
  EXPECT_EQ(cp[0].second->value.shape(), (std::vector<int64_t>{6, 1, 5, 5}));
  EXPECT_EQ(cp[1].first, "0.bias");
  EXPECT_EQ(cp[2].first, "4.weight");
  const std::string cs = c.summary({64, 1, 28, 28});
  EXPECT_NE(cs.find("Conv2D 1→6 5×5"), std::string::npos) << cs;
  EXPECT_NE(cs.find("[64, 6, 24, 24]"), std::string::npos) << cs;
  EXPECT_NE(cs.find("156"), std::string::npos) << cs;  // 6·25 + 6
}

TEST(Init, PyTorchDefaultHeXavier) {
  nn::manual_seed(3);
  nn::Dense a(100, 50);
  nn::manual_seed(3);
  nn::Dense b(100, 50);
  nn::Dense c(100, 50);
  EXPECT_EQ(a.weight.value.data()[17], b.weight.value.data()[17]);
  EXPECT_NE(b.weight.value.data()[17], c.weight.value.data()[17]);
  auto max_abs = [](const Tensor& t) {
    float m = 0;
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.data()[i]));
    return m;
  };
  EXPECT_LE(max_abs(a.weight.value), 0.1f);  // 1/√100
  EXPECT_GT(max_abs(a.weight.value), 0.09f);
  EXPECT_LE(max_abs(a.bias.value), 0.1f);
  a.reset_parameters(nn::parse_init("he"), 1);
  EXPECT_LE(max_abs(a.weight.value), std::sqrt(6.f / 100));
  EXPECT_GT(max_abs(a.weight.value), 0.9f * std::sqrt(6.f / 100));
  EXPECT_EQ(max_abs(a.bias.value), 0.f);
  a.reset_parameters(nn::parse_init("xavier"), 1);
  EXPECT_LE(max_abs(a.weight.value), std::sqrt(6.f / 150));
  EXPECT_GT(max_abs(a.weight.value), 0.9f * std::sqrt(6.f / 150));
  EXPECT_THROW(nn::parse_init("lecun"), nabla::Error);
}

// ---- Residual -------------------------------------------------------------------

namespace {

// A copy of `from`'s parameter values into `to` (same architecture).
void copy_params(nn::Sequential& from, nn::Sequential& to) {
  auto a = from.parameters(), b = to.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) b[i]->value.copy_from(a[i]->value);
}

nn::Sequential block_body(int64_t c, int64_t out, int64_t stride) {
  nn::Sequential b;
  b.add(nn::Conv2D(c, out, 3, stride, 1)).add(nn::GELU()).add(nn::Conv2D(out, out, 3, 1, 1));
  return b;
}

}  // namespace

// body(x) + shortcut(x) against the two branches run as Sequentials of their
// own with the same parameters: outputs, parameter gradients and the input
// gradient, bitwise (the same kernels on the same data).
TEST(Residual, EqualsItsBranchesBitwise) {
  for (bool with_shortcut : {false, true}) {
    SCOPED_TRACE(with_shortcut ? "conv shortcut" : "identity");
    const int64_t out = with_shortcut ? 5 : 3, stride = with_shortcut ? 2 : 1;
    nn::Sequential shortcut;
    if (with_shortcut) shortcut.add(nn::Conv2D(3, out, 1, stride, 0));
    nn::Sequential m;
    m.add(nn::Residual(block_body(3, out, stride), std::move(shortcut)));
    m.set_input_grad(true);
    nn::Sequential b = block_body(3, out, stride), s;
    if (with_shortcut) s.add(nn::Conv2D(3, out, 1, stride, 0));
    auto& res = dynamic_cast<nn::Residual&>(m.layer(0));
    copy_params(res.body(), b);
    if (with_shortcut) copy_params(res.shortcut(), s);
    b.set_input_grad(true);
    s.set_input_grad(true);
    const Tensor x = nabla::test::random_input({2, 3, 8, 9}, 5);
    const Tensor y = m.forward(x);
    const Tensor yb = b.forward(x);
    const Tensor ys = with_shortcut ? s.forward(x) : x;
    ASSERT_EQ(y.shape(), yb.shape());
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data()[i], yb.data()[i] + ys.data()[i]) << i;
    const Tensor g = nabla::test::random_input(y.shape(), 6);
    m.zero_grad();
    const Tensor dx = m.backward(g);
    const Tensor dxb = b.backward(g);
    const Tensor dxs = with_shortcut ? s.backward(g) : g;
    for (int64_t i = 0; i < dx.numel(); ++i) ASSERT_EQ(dx.data()[i], dxb.data()[i] + dxs.data()[i]) << i;
    auto np = m.named_parameters();
    ASSERT_EQ(np.size(), with_shortcut ? 6u : 4u);
    EXPECT_EQ(np[0].first, "0.body.0.weight");
    EXPECT_EQ(np[3].first, "0.body.2.bias");
    if (with_shortcut) EXPECT_EQ(np[4].first, "0.shortcut.0.weight");
    auto bp = b.parameters();
    for (size_t i = 0; i < bp.size(); ++i)
      for (int64_t j = 0; j < bp[i]->grad.numel(); ++j) ASSERT_EQ(np[i].second->grad.data()[j], bp[i]->grad.data()[j]);
    EXPECT_EQ(m.num_parameters(), b.num_parameters() + s.num_parameters());
  }
  nn::Sequential m;
  m.add(nn::Residual(block_body(3, 4, 1)));
  EXPECT_THROW(m.output_shape({1, 3, 8, 8}), nabla::Error);  // 4 channels + identity of 3
  EXPECT_THROW(nn::Residual(nn::Sequential()), nabla::Error);
}
