// nn::Residual as Sequential runs it fused (borrowed input, the add in the
// body's last layer's pass — BatchNorm's apply kernel — the activation after
// the block with it, the gradients' add with the previous activation's
// derivative): against set_fusion(false), against a float64 reference and
// its central finite differences, the public forward contract (the caller's
// input may change before backward), bitwise at 1 and 2 threads, and eval
// mode (nothing folds into a block).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "nabla/error.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/presets.hpp"
#include "nabla/nn/registry.hpp"
#include "nabla/nn/residual.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/runtime/threads.hpp"
#include "nn_test_util.hpp"

namespace nn = nabla::nn;
using nabla::Tensor;
using nabla::test::RefLayer;
using nabla::test::RefLoss;
using nabla::test::RefNet;
using nabla::test::Vec;

namespace {

std::vector<float> flat(const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.numel()); }

// Everything a step produces: the output, the input gradient, every
// parameter gradient and every float buffer (running statistics), in order.
struct StepResult {
  std::vector<std::vector<float>> parts;
  std::vector<std::string> names;
};

StepResult one_step(nn::Sequential& m, const Tensor& x, uint64_t seed, bool modify_input_after_forward = false) {
  StepResult r;
  m.set_input_grad(true);
  m.zero_grad();
  Tensor xin = Tensor(x.shape());
  xin.copy_from(x);
  const Tensor y = m.forward(xin);
  if (modify_input_after_forward) xin.fill(123.f);
  nn::MSE loss;
  loss.forward(y, nabla::test::random_input(y.shape(), seed));
  const Tensor dx = m.backward(loss.backward());
  r.parts.push_back(flat(y));
  r.names.push_back("output");
  r.parts.push_back(flat(dx));
  r.names.push_back("input gradient");
  for (auto& [n, p] : m.named_parameters()) {
    r.parts.push_back(flat(p->grad));
    r.names.push_back("gradient of " + n);
  }
  for (auto& [n, b] : m.named_buffers())
    if (b.value) {
      r.parts.push_back(flat(*b.value));
      r.names.push_back(n);
    }
  return r;
}

void expect_bitwise(const StepResult& a, const StepResult& b, const std::string& what) {
  ASSERT_EQ(a.parts.size(), b.parts.size());
  for (size_t i = 0; i < a.parts.size(); ++i) {
    ASSERT_EQ(a.parts[i].size(), b.parts[i].size()) << a.names[i];
    EXPECT_EQ(std::memcmp(a.parts[i].data(), b.parts[i].data(), a.parts[i].size() * sizeof(float)), 0)
        << what << ": " << a.names[i];
  }
}

// |a − b| <= tol · max |b| per part (gradients of very different scales).
void expect_close(const StepResult& a, const StepResult& b, double tol, const std::string& what) {
  ASSERT_EQ(a.parts.size(), b.parts.size());
  for (size_t i = 0; i < a.parts.size(); ++i) {
    double scale = 1e-3, worst = 0;
    for (float v : b.parts[i]) scale = std::max(scale, static_cast<double>(std::fabs(v)));
    for (size_t j = 0; j < a.parts[i].size(); ++j)
      worst = std::max(worst, static_cast<double>(std::fabs(a.parts[i][j] - b.parts[i][j])));
    EXPECT_LE(worst / scale, tol) << what << ": " << a.names[i];
  }
}

void copy_params(nn::Sequential& from, nn::Sequential& to) {
  auto a = from.parameters(), b = to.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) b[i]->value.copy_from(a[i]->value);
  auto fa = from.named_buffers(), fb = to.named_buffers();
  for (size_t i = 0; i < fa.size(); ++i)
    if (fa[i].second.value) fb[i].second.value->copy_from(*fa[i].second.value);
}

nn::Sequential build(const std::string& spec, const std::vector<int64_t>& sample) {
  nn::manual_seed(7);
  return nn::build_model(nn::parse_spec(spec), sample);
}

// Models with residual blocks: the resnet preset's blocks (body ending in
// BatchNorm, identity and conv + BatchNorm shortcuts, ReLU after), a body
// ending in a Conv2D (the default forward_add), in BatchNorm + ReLU (no
// fused add), a block first in the model, GELU after a block (its
// derivative needs Z), sigmoid/tanh before one (their derivative fused
// into the block's gradient add), and blocks inside blocks (one the last
// layer of a body: the default forward_add around a whole block).
struct Case {
  std::string name, spec;
  std::vector<int64_t> input;  // [N, C, H, W]
};

std::vector<Case> cases() {
  return {
      {"resnet blocks",
       "conv 8 3 pad 1 | batchnorm relu | res( conv 8 3 pad 1 | batchnorm relu | conv 8 3 pad 1 | batchnorm ) | relu"
       " | res( conv 16 3 stride 2 pad 1 | batchnorm relu | conv 16 3 pad 1 | batchnorm ) | relu | gap | dense 5",
       {4, 3, 9, 10}},
      {"conv bodies, gelu and tanh around",
       "conv 4 3 pad 1 tanh | res( conv 4 3 pad 1 sigmoid | conv 4 3 pad 1 ) | gelu"
       " | res( conv 6 3 stride 2 pad 1 | conv 6 3 pad 1 ) | sigmoid | gap | dense 3",
       {3, 2, 8, 7}},
      {"block first, body ending in batchnorm relu",
       "res( conv 3 3 pad 1 | batchnorm relu ) | leakyrelu | res( conv 3 3 pad 1 | batchnorm ) | gap | dense 2",
       {5, 3, 6, 6}},
      {"nested blocks, one last in a body",
       "res( res( conv 3 3 pad 1 | batchnorm ) | relu | conv 3 3 pad 1 | batchnorm ) | relu"
       " | res( conv 3 3 pad 1 relu | res( conv 3 3 pad 1 | batchnorm ) ) | relu | gap | dense 2",
       {4, 3, 5, 6}},
  };
}

}  // namespace

// The fused block (one pass for BatchNorm + add + ReLU, no copies) against
// every layer run on its own, in training: outputs, input and parameter
// gradients, running statistics agree to float rounding. In eval mode the
// outputs too (there the body's last BatchNorm is folded into its Conv2D,
// and the add is a pass of its own).
TEST(Residual, FusedAgreesWithUnfused) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<int64_t> sample(c.input.begin() + 1, c.input.end());
    nn::Sequential fused = build(c.spec, sample), plain = build(c.spec, sample);
    copy_params(fused, plain);
    plain.set_fusion(false);
    const Tensor x = nabla::test::random_input(c.input, 3);
    for (int step = 0; step < 2; ++step) {  // the second step reuses every buffer
      const StepResult a = one_step(fused, x, 4 + step), b = one_step(plain, x, 4 + step);
      expect_close(a, b, 2e-5, "step " + std::to_string(step));
    }
    fused.eval();
    plain.eval();
    const Tensor ya = fused.forward(x), yb = plain.forward(x);
    StepResult ea, eb;
    ea.parts = {flat(ya)};
    eb.parts = {flat(yb)};
    ea.names = eb.names = {"eval output"};
    expect_close(ea, eb, 2e-5, "eval");
    EXPECT_THROW(fused.backward(ya), nabla::Error);  // the body's BatchNorm is folded
  }
}

// A block followed by a BatchNorm, and a BatchNorm followed by another, in
// eval mode: only a Dense/Conv2D absorbs a BatchNorm (a block's or a batch
// norm's two parameters must not be taken for a weight and a bias).
TEST(Residual, EvalFoldsABatchNormOnlyIntoDenseOrConv) {
  for (const std::string spec : {"res( conv 3 3 pad 1 ) | batchnorm | gap | dense 2",
                                 "conv 3 3 pad 1 | batchnorm | batchnorm | relu | gap | dense 2"}) {
    SCOPED_TRACE(spec);
    nn::Sequential fused = build(spec, {3, 5, 5}), plain = build(spec, {3, 5, 5});
    const Tensor x = nabla::test::random_input({4, 3, 5, 5}, 3);
    one_step(fused, x, 1);  // running statistics away from (0, 1)
    copy_params(fused, plain);
    fused.eval();
    plain.eval();
    plain.set_fusion(false);
    StepResult a, b;
    a.parts = {flat(fused.forward(x))};
    b.parts = {flat(plain.forward(x))};
    a.names = b.names = {"eval output"};
    expect_close(a, b, 2e-5, "eval");
  }
}

// The float64 reference of a model [Residual(body, shortcut), tail…]: the
// branches and the tail as reference nets, y = tail(body(x) + shortcut(x)),
// backward through the same composition. Its gradients against the model's
// and against central differences of its own loss.
TEST(Residual, GradientsAgainstFloat64AndFiniteDifferences) {
  for (bool conv_shortcut : {false, true}) {
    SCOPED_TRACE(conv_shortcut ? "conv + batchnorm shortcut" : "identity");
    const std::string spec = conv_shortcut
                                 ? "res( conv 4 3 stride 2 pad 1 | batchnorm relu | conv 4 3 pad 1 | batchnorm ) | relu | gap | dense 3"
                                 : "res( conv 3 3 pad 1 | batchnorm relu | conv 3 3 pad 1 | batchnorm ) | relu | gap | dense 3";
    for (bool fusion : {true, false}) {
      SCOPED_TRACE(fusion ? "fused" : "unfused");
      nn::Sequential m = build(spec, {3, 6, 5});
      m.set_fusion(fusion);
      m.set_input_grad(true);
      auto& res = dynamic_cast<nn::Residual&>(m.layer(0));
      ASSERT_EQ(res.shortcut().size(), conv_shortcut ? 2 : 0);
      // The reference nets (taken before forward: the running statistics do
      // not enter a training forward).
      RefNet body = nabla::test::reference_of(res.body()), shortcut;
      if (conv_shortcut) shortcut = nabla::test::reference_of(res.shortcut());
      RefNet tail = nabla::test::reference_of(m, [](nn::Layer&, RefLayer& rl) {
        rl.kind = RefLayer::Identity;  // the block, computed outside
        return true;
      });
      tail.layers.erase(tail.layers.begin());

      const std::vector<int64_t> in = {4, 3, 6, 5};
      const Tensor x = nabla::test::random_input(in, 11);
      m.zero_grad();
      const Tensor y = m.forward(x);
      const Tensor t = nabla::test::random_target(RefLoss::Mse, y.shape(), 12);
      nn::MSE loss;
      loss.forward(y, t);
      const Tensor dx = m.backward(loss.backward());

      const Vec tv = nabla::test::to_vec(t);
      Vec xv = nabla::test::to_vec(x);
      Vec s_in;  // the block's output, input of the tail
      auto ref_forward = [&]() {
        Vec b = body.forward(xv, in);
        const Vec s = conv_shortcut ? shortcut.forward(xv, in) : xv;
        for (size_t i = 0; i < b.size(); ++i) b[i] += s[i];
        s_in = b;
        return tail.forward(b, body.shapes.back());
      };
      const Vec yr = ref_forward();
      Vec g;
      nabla::test::ref_loss(RefLoss::Mse, yr, tv, 1, &g);
      nabla::test::expect_close(y.data(), yr, 2e-5, "output");
      const Vec gs = tail.backward(g);
      Vec dxr = body.backward(gs);
      const Vec dxs = conv_shortcut ? shortcut.backward(gs) : gs;
      for (size_t i = 0; i < dxr.size(); ++i) dxr[i] += dxs[i];
      nabla::test::expect_close(dx.data(), dxr, 2e-5, "input gradient");

      std::vector<Vec*> rparams, rgrads;
      for (RefNet* r : {&body, &shortcut, &tail}) {
        for (Vec* p : r->params()) rparams.push_back(p);
        for (Vec* p : r->grads()) rgrads.push_back(p);
      }
      auto params = m.named_parameters();
      ASSERT_EQ(params.size(), rgrads.size());
      double model_scale = 1e-3;  // a bias before a BatchNorm has the exact gradient 0
      for (const Vec* gr : rgrads)
        for (double v : *gr) model_scale = std::max(model_scale, std::fabs(v));
      for (size_t i = 0; i < params.size(); ++i) {
        Vec want(rgrads[i]->size());
        std::vector<float> got(want.size());
        for (size_t j = 0; j < want.size(); ++j) {
          want[j] = (*rgrads[i])[j] / model_scale;
          got[j] = static_cast<float>(params[i].second->grad.data()[j] / model_scale);
        }
        nabla::test::expect_close(got.data(), want, 2e-5, "gradient of " + params[i].first);
      }

      // The reference against central differences of its own loss.
      auto loss_at = [&] { return nabla::test::ref_loss(RefLoss::Mse, ref_forward(), tv, 1, nullptr); };
      auto check_fd = [&](Vec& v, const Vec& gv, const std::string& what) {
        nabla::test::expect_central_differences(v, gv, loss_at, 25, what);
      };
      check_fd(xv, dxr, "x");
      for (size_t i = 0; i < rparams.size(); ++i) check_fd(*rparams[i], *rgrads[i], params[i].first);
    }
  }
}

// Sequential::forward's contract: the caller's input may be modified (or
// destroyed) after forward; backward's results do not change. The blocks
// read their input where it lies, so this holds for a block first in the
// model, which reads the model's own copy.
TEST(Residual, CallersInputModifiedAfterForwardChangesNothing) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<int64_t> sample(c.input.begin() + 1, c.input.end());
    nn::Sequential a = build(c.spec, sample), b = build(c.spec, sample);
    copy_params(a, b);
    const Tensor x = nabla::test::random_input(c.input, 5);
    expect_bitwise(one_step(a, x, 6, /*modify_input_after_forward=*/false),
                   one_step(b, x, 6, /*modify_input_after_forward=*/true), "input modified");
  }
}

// Bitwise the same at 1 and 2 threads: the resnet preset at batch 64 (its
// stem's tensors above the element-wise passes' parallel cut-off) and a
// block whose add runs in parallel too (48×32×28×28 values), two steps, fused
// and not.
TEST(Residual, BitwiseAtOneAndTwoThreads) {
  const int saved = nabla::num_threads();
  struct Big {
    std::string spec;
    std::vector<int64_t> input;
  };
  const Big bigs[] = {{nn::resolve_model("resnet"), {64, 1, 28, 28}},
                      {"conv 32 3 pad 1 | res( conv 32 3 pad 1 | batchnorm ) | relu | gap | dense 3", {48, 1, 28, 28}}};
  for (const Big& c : bigs) {
    for (bool fusion : {true, false}) {
      SCOPED_TRACE(c.spec + (fusion ? " fused" : " unfused"));
      const Tensor x = nabla::test::random_input(c.input, 8);
      StepResult first;
      for (int threads : {1, 2}) {
        nabla::set_num_threads(threads);
        const std::vector<int64_t> sample(c.input.begin() + 1, c.input.end());
        nn::Sequential m = build(c.spec, sample);
        m.set_fusion(fusion);
        StepResult r = one_step(m, x, 9);
        const StepResult r2 = one_step(m, x, 10);
        r.parts.insert(r.parts.end(), r2.parts.begin(), r2.parts.end());
        r.names.insert(r.names.end(), r2.names.begin(), r2.names.end());
        if (threads == 1)
          first = r;
        else
          expect_bitwise(first, r, "2 threads vs 1");
      }
    }
  }
  nabla::set_num_threads(saved);
}
