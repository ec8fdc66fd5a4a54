// Losses against the float64 reference, optimisers against hand-computed
// torch.optim values, and safetensors save/load (round trip, corruptions).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "nabla/error.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/nn/serialize.hpp"
#include "nn_test_util.hpp"

namespace nn = nabla::nn;
using nabla::Tensor;
using nabla::test::RefLoss;

TEST(Losses, AgainstReference) {
  const Tensor logits = Tensor::uniform({7, 5}, -4.f, 4.f, 1);
  const Tensor probs = Tensor::uniform({7, 5}, 0.01f, 0.99f, 2);
  for (RefLoss kind : {RefLoss::Bce, RefLoss::BceLogits, RefLoss::SceIndex, RefLoss::SceProbs, RefLoss::Mse}) {
    SCOPED_TRACE(static_cast<int>(kind));
    const Tensor& pred = kind == RefLoss::Bce ? probs : logits;
    const Tensor t = nabla::test::random_target(kind, pred.shape(), 3);
    float l = 0;
    Tensor g;
    if (kind == RefLoss::Bce || kind == RefLoss::BceLogits) {
      nn::BinaryCrossEntropy loss(kind == RefLoss::BceLogits);
      l = loss.forward(pred, t);
      g = loss.backward();
    } else if (kind == RefLoss::Mse) {
      nn::MSE loss;
      l = loss.forward(pred, t);
      g = loss.backward();
    } else {
      nn::SoftmaxCrossEntropy loss;
      l = loss.forward(pred, t);
      g = loss.backward();
    }
    nabla::test::Vec gr;
    const double lr = nabla::test::ref_loss(kind, nabla::test::to_vec(pred), nabla::test::to_vec(t), 5, &gr);
    EXPECT_NEAR(l, lr, 1e-5 * std::max(1.0, lr));
    nabla::test::expect_close(g.data(), gr, 1e-5, "gradient");
  }
  nn::MSE mse;
  EXPECT_THROW(mse.backward(), nabla::Error);
  EXPECT_THROW(mse.forward(Tensor({2, 3}), Tensor({3, 2})), nabla::Error);
  nn::SoftmaxCrossEntropy sce;
  EXPECT_THROW(sce.forward(Tensor({2, 3}), Tensor({3})), nabla::Error);
}

TEST(Losses, SigmoidBceFusionSurvivesSaturation) {
  // A saturated sigmoid: BCELoss's gradient through the sigmoid is lost to
  // the clamp unfused, the fused (A − Y)/N keeps it, as autograd over
  // BCEWithLogits would.
  nn::Sequential m = nn::Sequential().add(nn::Dense(1, 1)).add(nn::Sigmoid());
  auto* d = dynamic_cast<nn::Dense*>(&m.layer(0));
  d->weight.value.fill(100.f);
  d->bias.value.fill(0.f);
  Tensor x({1, 1}), t({1, 1});
  x.fill(1.f);  // A = σ(100) = 1 in float, target 0
  nn::BinaryCrossEntropy loss;
  loss.forward(m.forward(x), t);
  m.backward(loss.backward());
  EXPECT_NEAR(d->bias.grad.data()[0], 1.f, 1e-6f);
}

TEST(Optimisers, SgdMatchesTorchRule) {
  nn::Parameter p{Tensor({1}), Tensor({1})};
  p.value.fill(1.f);
  nn::SGD opt({&p}, 0.1f, 0.9f, 0.1f);
  // torch.optim.SGD: g = grad + wd·w; buf = g (first), then 0.9·buf + g; w −= lr·buf.
  p.grad.fill(0.5f);
  opt.step();
  EXPECT_NEAR(p.value.data()[0], 1 - 0.1 * 0.6, 1e-7);  // g = 0.6
  p.grad.fill(-0.2f);
  opt.step();
  const double g2 = -0.2 + 0.1 * 0.94, buf = 0.9 * 0.6 + g2;
  EXPECT_NEAR(p.value.data()[0], 0.94 - 0.1 * buf, 1e-7);  // 0.8966
  opt.zero_grad();
  EXPECT_EQ(p.grad.data()[0], 0.f);
  EXPECT_THROW(nn::SGD({&p}, -1.f), nabla::Error);
  EXPECT_THROW(nn::SGD({nullptr}, 0.1f), nabla::Error);
}

TEST(Optimisers, AdamMatchesTorchRule) {
  nn::Parameter p{Tensor({1}), Tensor({1})};
  p.value.fill(1.f);
  nn::Adam opt({&p}, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f);
  double w = 1, m = 0, v = 0;
  const double grads[3] = {0.5, -0.2, 0.3};
  for (int t = 1; t <= 3; ++t) {
    p.grad.fill(static_cast<float>(grads[t - 1]));
    opt.step();
    // torch.optim.Adam (not AdamW): g = grad + wd·w; m, v moving averages;
    // w −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps)
    const double g = grads[t - 1] + 0.01 * w;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    w -= 0.1 / (1 - std::pow(0.9, t)) * m / (std::sqrt(v) / std::sqrt(1 - std::pow(0.999, t)) + 1e-8);
    EXPECT_NEAR(p.value.data()[0], w, 2e-6) << "step " << t;
    if (t == 1) EXPECT_NEAR(w, 0.9, 1e-7);  // the first step moves by lr·sign(g)
  }
  EXPECT_EQ(opt.steps(), 3);
  EXPECT_THROW(nn::Adam({&p}, 0.1f, 1.f), nabla::Error);
}

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("nabla_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

nn::Sequential small_model(int64_t hidden = 5) {
  return nn::Sequential().add(nn::Dense(4, hidden)).add(nn::ReLU()).add(nn::Dense(hidden, 3));
}

std::vector<float> snapshot(nn::Sequential& m) {
  std::vector<float> s;
  for (auto* p : m.parameters()) s.insert(s.end(), p->value.data(), p->value.data() + p->value.numel());
  return s;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string with_header(const std::string& header, const std::string& data, int64_t len_override = -1) {
  const uint64_t len = len_override >= 0 ? static_cast<uint64_t>(len_override) : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>(len >> (8 * i));
  return out + header + data;
}

}  // namespace

TEST(Serialize, RoundTripIsBitwise) {
  nn::manual_seed(1);
  nn::Sequential a = small_model();
  nn::Sequential b = small_model();
  const std::string path = temp_path("roundtrip.safetensors");
  nn::save(a, path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  ASSERT_NE(snapshot(a), snapshot(b));
  nabla::load(b, path);
  EXPECT_EQ(snapshot(a), snapshot(b));
  // The header is what safetensors / torch read.
  const std::string bytes = read_file(path);
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[static_cast<size_t>(i)])) << (8 * i);
  EXPECT_EQ(len % 8, 0u);
  const std::string header = bytes.substr(8, len);
  EXPECT_NE(header.find(R"("0.weight":{"dtype":"F32","shape":[5,4],"data_offsets":[0,80]})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("2.bias":{"dtype":"F32","shape":[3],"data_offsets":[160,172]})"), std::string::npos) << header;
  EXPECT_EQ(bytes.size(), 8 + len + 172);
  std::remove(path.c_str());
}

TEST(Serialize, ConvModelRoundTrip) {
  // LeNet-like: the state_dict names and shapes torch.nn.Sequential has.
  auto lenet = [](int64_t k1) {
    return nn::Sequential().add(nn::Conv2D(1, 6, k1)).add(nn::ReLU()).add(nn::MaxPool2D(2))
        .add(nn::Conv2D(6, 16, 5)).add(nn::ReLU()).add(nn::MaxPool2D(2)).add(nn::Flatten())
        .add(nn::Dense(16 * 4 * 4, 10));
  };
  nn::manual_seed(4);
  nn::Sequential a = lenet(5);
  nn::Sequential b = lenet(5);
  const std::string path = temp_path("conv.safetensors");
  nn::save(a, path);
  ASSERT_NE(snapshot(a), snapshot(b));
  nabla::load(b, path);
  EXPECT_EQ(snapshot(a), snapshot(b));
  const Tensor x = Tensor::uniform({2, 1, 28, 28}, 0.f, 1.f, 5);
  const Tensor ya = a.forward(x), yb = b.forward(x);
  EXPECT_EQ(std::memcmp(ya.data(), yb.data(), static_cast<size_t>(ya.numel()) * sizeof(float)), 0);
  const std::string bytes = read_file(path);
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[static_cast<size_t>(i)])) << (8 * i);
  const std::string header = bytes.substr(8, len);
  EXPECT_NE(header.find(R"("0.weight":{"dtype":"F32","shape":[6,1,5,5],"data_offsets":[0,600]})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("0.bias":{"dtype":"F32","shape":[6],"data_offsets":[600,624]})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("3.weight":{"dtype":"F32","shape":[16,6,5,5])"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("3.bias":{"dtype":"F32","shape":[16])"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("7.weight":{"dtype":"F32","shape":[10,256])"), std::string::npos) << header;
  // A model whose first kernel differs rejects the file and keeps its weights.
  nn::Sequential c = lenet(3);
  const std::vector<float> before = snapshot(c);
  try {
    nabla::load(c, path);
    ADD_FAILURE() << "no error";
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("0.weight"), std::string::npos) << e.what();
  }
  EXPECT_EQ(snapshot(c), before);
  std::remove(path.c_str());
}

TEST(Serialize, CorruptFilesThrowAndLeaveTheModelUnchanged) {
  nn::manual_seed(2);
  nn::Sequential m = small_model();
  const std::vector<float> before = snapshot(m);
  const std::string path = temp_path("corrupt.safetensors");
  // A valid file of another model with the same shapes, to corrupt.
  nn::Sequential other = small_model();
  nn::save(other, path);
  const std::string good = read_file(path);
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<unsigned char>(good[static_cast<size_t>(i)])) << (8 * i);
  const std::string header = good.substr(8, len), data = good.substr(8 + len);
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string h = header;
    const size_t at = h.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return h.replace(at, from.size(), to);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated", good.substr(0, good.size() - 4)},
      {"shorter than the length", good.substr(0, 5)},
      {"header length too large", with_header(header, data, static_cast<int64_t>(good.size()))},
      {"header length too small", with_header(header, data, 10)},
      {"bad JSON", with_header(replaced("{", "["), data)},
      {"not an object", with_header("[1,2]   ", data)},
      {"wrong dtype", with_header(replaced("\"F32\"", "\"F16\""), data)},
      {"wrong shape", with_header(replaced("[5,4]", "[4,5]"), data)},
      {"missing key", with_header(replaced("\"2.bias\"", "\"2.bian\""), data)},
      {"offsets out of range", with_header(replaced("[160,172]", "[160,176]"), data)},
      {"offsets reversed", with_header(replaced("[160,172]", "[172,160]"), data)},
      {"overlapping offsets", with_header(replaced("[160,172]", "[148,160]"), data)},
  };
  for (const auto& [what, bytes] : cases) {
    SCOPED_TRACE(what);
    write_file(path, bytes);
    try {
      nn::load(m, path);
      ADD_FAILURE() << "no error";
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_EQ(snapshot(m), before);
  }
  // A file of a model of another shape, and a missing file.
  nn::Sequential wider = small_model(6);
  nn::save(wider, path);
  EXPECT_THROW(nn::load(m, path), nabla::Error);
  EXPECT_EQ(snapshot(m), before);
  std::remove(path.c_str());
  EXPECT_THROW(nn::load(m, path), nabla::Error);
  EXPECT_THROW(nn::save(m, "/nonexistent-dir/x.safetensors"), nabla::Error);
}
