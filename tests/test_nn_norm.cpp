// BatchNorm1D/2D and Dropout as layers: forward, every gradient and the
// running statistics against the float64 reference (and the reference
// against finite differences), eval mode (torch's formula, the fold into a
// preceding Dense/Conv2D), dropout's eval identity, mask and bitwise
// thread-independence, train/eval switching, the spec tokens, and the
// buffers in safetensors files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "activation_test_util.hpp"
#include "eltwise_test_util.hpp"
#include "nabla/error.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/registry.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/nn/serialize.hpp"
#include "nabla/runtime/threads.hpp"
#include "nn_test_util.hpp"

namespace nn = nabla::nn;
using nabla::Tensor;
using nabla::test::LossCase;
using nabla::test::RefLoss;

namespace {

LossCase mse_loss() {
  auto l = std::make_shared<nn::MSE>();
  return {RefLoss::Mse, 1, [l](const Tensor& p, const Tensor& t) { return l->forward(p, t); },
          [l] { return l->backward(); }};
}

void check_model(nn::Sequential& m, const std::vector<int64_t>& in, bool fusion, double tol = 1e-5) {
  m.set_input_grad(true);
  m.set_fusion(fusion);
  auto loss = mse_loss();
  const Tensor x = nabla::test::random_input(in, 11);
  const Tensor t = nabla::test::random_target(RefLoss::Mse, m.output_shape(in), 12);
  nabla::test::check_against_reference(m, loss, x, t, tol, {}, /*model_grad_scale=*/true);
}

// Non-trivial affine parameters and running statistics.
void perturb(nn::BatchNorm& bn, uint64_t seed) {
  bn.weight.value.copy_from(Tensor::uniform(bn.weight.value.shape(), 0.5f, 1.5f, seed));
  bn.bias.value.copy_from(Tensor::uniform(bn.bias.value.shape(), -0.5f, 0.5f, seed + 1));
  bn.running_mean.copy_from(Tensor::uniform(bn.running_mean.shape(), -0.3f, 0.3f, seed + 2));
  bn.running_var.copy_from(Tensor::uniform(bn.running_var.shape(), 0.5f, 2.f, seed + 3));
}

nn::BatchNorm& bn_at(nn::Sequential& m, int64_t i) { return dynamic_cast<nn::BatchNorm&>(m.layer(i)); }

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "nabla_norm_" + name; }

}  // namespace

TEST(BatchNormLayer, InitAndNames) {
  nn::BatchNorm2D bn(3);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(bn.weight.value.data()[c], 1.f);
    EXPECT_EQ(bn.bias.value.data()[c], 0.f);
    EXPECT_EQ(bn.running_mean.data()[c], 0.f);
    EXPECT_EQ(bn.running_var.data()[c], 1.f);
  }
  EXPECT_EQ(bn.name(), "BatchNorm2D(3)");
  EXPECT_EQ(nn::BatchNorm1D(4, 1e-3, 0.2).name(), "BatchNorm1D(4, eps=0.001, momentum=0.2)");
  EXPECT_THROW(nn::BatchNorm2D(0), nabla::Error);
  EXPECT_THROW(nn::BatchNorm1D(3, -1), nabla::Error);
  nn::Sequential m;
  m.add(nn::Dense(4, 3)).add(nn::BatchNorm1D(3)).add(nn::ReLU());
  std::vector<std::string> names;
  for (auto& [n, b] : m.named_buffers()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"}));
  EXPECT_EQ(m.named_parameters().at(2).first, "1.weight");
  EXPECT_EQ(nn::torch_equivalent(m.layer(1)).python(),
            "torch.nn.BatchNorm1d(num_features=3, eps=1e-05, momentum=0.1)");
}

TEST(BatchNormLayer, TrainingAgainstReference) {
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fused" : "unfused");
    for (const nabla::kernels::Activation f : nabla::test::real_activations()) {
      SCOPED_TRACE(nabla::test::label(f));
      nn::Sequential m;  // Conv → BN + act (one pass) → MaxPool → Dense
      m.add(nn::Conv2D(2, 3, 3, 1, 1)).add(nn::BatchNorm2D(3)).add(std::make_unique<nn::ActivationLayer>(f));
      m.add(nn::MaxPool2D(2)).add(nn::Flatten()).add(nn::Dense(3 * 3 * 3, 4));
      perturb(bn_at(m, 1), 3);
      check_model(m, {4, 2, 6, 7}, fusion);
    }
    {
      nn::Sequential m;  // BN1D between Dense layers; its activation's derivative is not the next Dense's
      m.add(nn::Dense(9, 11)).add(nn::BatchNorm1D(11)).add(nn::Tanh()).add(nn::Dense(11, 5)).add(nn::BatchNorm1D(5));
      perturb(bn_at(m, 1), 5);
      check_model(m, {6, 9}, fusion);
    }
    {
      nn::Sequential m;  // first layer (input gradient), last layer with a fused activation
      m.add(nn::BatchNorm2D(3)).add(nn::Conv2D(3, 2, 1)).add(nn::BatchNorm2D(2)).add(nn::Sigmoid());
      check_model(m, {2, 3, 5, 5}, fusion);
    }
  }
}

TEST(BatchNormLayer, RunningStatisticsAgainstReference) {
  nn::Sequential m;
  m.add(nn::BatchNorm2D(4, 1e-3, 0.3)).add(nn::Flatten()).add(nn::Dense(4 * 9, 3)).add(nn::BatchNorm1D(3));
  perturb(bn_at(m, 0), 1);
  perturb(bn_at(m, 3), 7);
  nabla::test::RefNet ref = nabla::test::reference_of(m);
  for (int step = 0; step < 3; ++step) {
    const Tensor x = nabla::test::random_input({5, 4, 3, 3}, 20 + step);
    m.forward(x);
    ref.forward(nabla::test::to_vec(x), x.shape());
  }
  for (int64_t i : {0, 3}) {
    nn::BatchNorm& bn = bn_at(m, i);
    const auto& rl = ref.layers[static_cast<size_t>(i)];
    nabla::test::expect_close(bn.running_mean.data(), rl.running_mean, 1e-6, "running_mean");
    nabla::test::expect_close(bn.running_var.data(), rl.running_var, 1e-6, "running_var");
    EXPECT_EQ(bn.num_batches_tracked, 3);
  }
  // Eval: the running statistics, not updated.
  m.eval();
  const std::vector<double> before = nabla::test::to_vec(bn_at(m, 0).running_mean);
  m.forward(nabla::test::random_input({5, 4, 3, 3}, 30));
  EXPECT_EQ(nabla::test::to_vec(bn_at(m, 0).running_mean), before);
  EXPECT_EQ(bn_at(m, 0).num_batches_tracked, 3);
}

// Eval mode is torch's formula (x − running_mean)/√(running_var + eps)·w + b;
// with fusion on, the BatchNorm after a Dense/Conv2D is folded into its weights.
TEST(BatchNormLayer, EvalAgainstReferenceFoldedAndNot) {
  auto make = [] {
    nn::Sequential m;
    m.add(nn::Conv2D(2, 3, 3)).add(nn::BatchNorm2D(3)).add(nn::ReLU()).add(nn::Flatten()).add(nn::Dense(3 * 16, 5));
    m.add(nn::BatchNorm1D(5, 1e-3)).add(nn::Tanh()).add(nn::Dense(5, 2)).add(nn::BatchNorm1D(2));
    perturb(bn_at(m, 1), 1);
    perturb(bn_at(m, 5), 2);
    perturb(bn_at(m, 8), 3);
    return m;
  };
  nn::Sequential m = make();
  m.eval();
  EXPECT_FALSE(m.is_training());
  EXPECT_FALSE(m.layer(1).is_training());
  const Tensor x = nabla::test::random_input({3, 2, 6, 6}, 4);
  nabla::test::RefNet ref = nabla::test::reference_of(m);
  const auto want = ref.forward(nabla::test::to_vec(x), x.shape());
  const Tensor folded = m.forward(x).clone();
  nabla::test::expect_close(folded.data(), want, 1e-5, "folded eval output");
  EXPECT_THROW(m.backward(Tensor(folded.shape())), nabla::Error);  // folded: no backward
  EXPECT_NE(m.summary().find("BatchNorm2D"), std::string::npos);
  // Unfused: BatchNorm runs on its own, and backward works in eval mode.
  nn::Sequential u = make();
  u.eval();
  check_model(u, {3, 2, 6, 6}, false);
  // Back to training: batch statistics again.
  m.train();
  EXPECT_TRUE(m.is_training());
  const Tensor t = m.forward(x);
  nabla::test::RefNet rt = nabla::test::reference_of(m);
  nabla::test::expect_close(t.data(), rt.forward(nabla::test::to_vec(x), x.shape()), 1e-5, "training output");
}

TEST(BatchNormLayer, TrainingNeedsMoreThanOneValuePerChannel) {
  nn::Sequential m;
  m.add(nn::Dense(3, 2)).add(nn::BatchNorm1D(2));
  EXPECT_THROW(m.forward(Tensor({1, 3})), nabla::Error);
  m.eval();
  EXPECT_NO_THROW(m.forward(Tensor({1, 3})));
}

TEST(DropoutLayer, EvalIdentityTrainMaskAndGradient) {
  EXPECT_THROW(nn::Dropout(1.0), nabla::Error);
  EXPECT_THROW(nn::Dropout(-0.1), nabla::Error);
  EXPECT_EQ(nn::Dropout(0.25).name(), "Dropout(0.25)");
  nn::Sequential m;
  m.add(nn::Dropout(0.4));
  m.set_input_grad(true);
  const Tensor x = Tensor::uniform({64, 1000}, 0.5f, 1.5f, 3);
  const float scale = static_cast<float>(1.0 / 0.6);
  const Tensor y = m.forward(x).clone();
  int64_t kept = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (y.data()[i] != 0) {
      ++kept;
      ASSERT_EQ(y.data()[i], x.data()[i] * scale);
    }
  }
  const double n = static_cast<double>(x.numel());
  EXPECT_NEAR(kept, 0.6 * n, 5 * std::sqrt(n * 0.24));
  const Tensor dy = Tensor::uniform(x.shape(), 1.f, 2.f, 4);
  const Tensor dx = m.backward(dy);
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_EQ(dx.data()[i], y.data()[i] != 0 ? dy.data()[i] * scale : 0.f) << i;
  const Tensor y2 = m.forward(x).clone();  // another call, another mask
  EXPECT_NE(std::memcmp(y.data(), y2.data(), sizeof(float) * static_cast<size_t>(x.numel())), 0);
  m.eval();
  const Tensor e = m.forward(x);
  EXPECT_EQ(std::memcmp(e.data(), x.data(), sizeof(float) * static_cast<size_t>(x.numel())), 0);
  const Tensor de = m.backward(dy);
  EXPECT_EQ(std::memcmp(de.data(), dy.data(), sizeof(float) * static_cast<size_t>(x.numel())), 0);
}

// A few training steps of a model with BatchNorm and Dropout give bitwise the
// same weights for 1, 2 and 3 threads; the same seed gives the same run, and
// restoring random_state() mid-run repeats the rest exactly.
TEST(DropoutLayer, BitwiseThreadIndependentAndResumable) {
  auto run = [](int steps_before, const nn::RandomState* resume, nn::RandomState* state_at) {
    nn::manual_seed(9);
    nn::Sequential m = nn::from_spec("conv 8 3 pad 1 | batchnorm relu | dropout 0.3 | maxpool 2 | dense 64 | "
                                     "batchnorm relu | dropout 0.5 | dense 10",
                                     {3, 32, 32});
    auto params = m.parameters();
    nn::MSE loss;
    for (int step = 0; step < 3; ++step) {
      if (step == steps_before && state_at) *state_at = nn::random_state();
      if (step == steps_before && resume) nn::set_random_state(*resume);
      const Tensor x = Tensor::uniform({32, 3, 32, 32}, -1.f, 1.f, 100 + step);
      const Tensor t = Tensor::uniform({32, 10}, 0.f, 1.f, 200 + step);
      m.zero_grad();
      loss.forward(m.forward(x), t);
      m.backward(loss.backward());
      for (nn::Parameter* p : params)
        for (int64_t i = 0; i < p->value.numel(); ++i) p->value.data()[i] -= 0.1f * p->grad.data()[i];
    }
    std::vector<float> out;
    for (nn::Parameter* p : params) out.insert(out.end(), p->value.data(), p->value.data() + p->value.numel());
    for (auto& [n, b] : m.named_buffers())
      if (b.value) out.insert(out.end(), b.value->data(), b.value->data() + b.value->numel());
    return out;
  };
  std::vector<float> base;
  nabla::test::for_each_thread_count([&](int t) {
    const auto w = run(-1, nullptr, nullptr);
    if (t == 1) base = w;
    EXPECT_TRUE(nabla::test::bitwise_equal(w, base));
  });
  nn::RandomState mid;
  run(2, nullptr, &mid);
  EXPECT_GT(mid.counter, 0u);
  // A run whose generator is disturbed before step 2 and then restored.
  nn::manual_seed(12345);
  nn::next_dropout_key();
  EXPECT_TRUE(nabla::test::bitwise_equal(run(2, &mid, nullptr), base));
}

TEST(NormSpec, TokensBuildTheRightLayers) {
  nn::Sequential m = nn::from_spec("conv 4 3 | batchnorm relu | maxpool 2 | dense 8 | batchnorm eps 0.001 momentum 0.2 | "
                                   "dropout 0.25 | dense 2",
                                   {1, 8, 8});
  EXPECT_EQ(m.layer(1).type().name, "BatchNorm2D");
  EXPECT_EQ(m.layer(1).args(), (std::vector<double>{4, 1e-5, 0.1}));
  EXPECT_EQ(m.layer(2).type().name, "ReLU");
  EXPECT_EQ(m.layer(6).type().name, "BatchNorm1D");
  EXPECT_EQ(m.layer(6).name(), "BatchNorm1D(8, eps=0.001, momentum=0.2)");
  EXPECT_EQ(m.layer(7).name(), "Dropout(0.25)");
  EXPECT_EQ(nn::torch_equivalent(m.layer(7)).python(), "torch.nn.Dropout(p=0.25)");
  EXPECT_EQ(nn::parse_spec("batchnorm eps 0.001 relu | dropout 0.5").to_string(), "batchnorm eps 0.001 relu | dropout 0.5");
  for (const char* bad : {"dense 4 | dropout 1.5", "dense 4 | dropout -0.1", "dense 4 | dropout", "dense 4 | dropout x"}) {
    SCOPED_TRACE(bad);
    try {
      nn::from_spec(bad, {3});
      ADD_FAILURE() << "no error";
    } catch (const nabla::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("layer 1 "), std::string::npos) << what;
      EXPECT_NE(what.find("dropout"), std::string::npos) << what;
      EXPECT_NE(what.find("drop probability"), std::string::npos) << what;
    }
  }
}

TEST(NormSerialize, BuffersRoundTripAndAreChecked) {
  nn::Sequential m = nn::from_spec("conv 3 3 | batchnorm relu | dense 4 | batchnorm", {2, 5, 5});
  for (int i = 0; i < 2; ++i) m.forward(Tensor::uniform({4, 2, 5, 5}, -1.f, 1.f, 40 + i));
  const std::string path = temp_path("bn.safetensors");
  nn::save(m, path);
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(bytes.find(R"("1.num_batches_tracked":{"dtype":"I64","shape":[])"), std::string::npos);
  EXPECT_NE(bytes.find(R"("1.running_var":{"dtype":"F32","shape":[3])"), std::string::npos);
  nn::Sequential n = nn::from_spec("conv 3 3 | batchnorm relu | dense 4 | batchnorm", {2, 5, 5});
  nn::load(n, path);
  EXPECT_EQ(bn_at(n, 1).num_batches_tracked, 2);
  EXPECT_EQ(nabla::test::to_vec(bn_at(n, 1).running_var), nabla::test::to_vec(bn_at(m, 1).running_var));
  EXPECT_EQ(nabla::test::to_vec(bn_at(n, 5).running_mean), nabla::test::to_vec(bn_at(m, 5).running_mean));
  // A file without the buffers (a model saved without BatchNorm's state) and one with a float counter.
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, p] : m.named_parameters()) tensors.emplace_back(name, p->value.clone());
  nn::save_tensors(path, tensors);
  try {
    nn::load(n, path);
    ADD_FAILURE();
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing buffer '1.running_mean'"), std::string::npos) << e.what();
  }
  for (auto& [name, b] : m.named_buffers()) tensors.emplace_back(name, b.value ? b.value->clone() : Tensor({1}));
  nn::save_tensors(path, tensors);
  try {
    nn::load(n, path);
    ADD_FAILURE();
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("buffer '1.num_batches_tracked' has dtype F32, the model expects I64"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(bn_at(n, 1).num_batches_tracked, 2);  // unchanged by the failed loads
  std::remove(path.c_str());
}
