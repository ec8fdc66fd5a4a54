// Uses the installed library: one fused GEMM, checked by hand.
#include <nabla/nabla.hpp>

#include <cstdio>

int main() {
  using namespace nabla::kernels;
  const float x[2 * 3] = {1, 2, 3, 4, 5, 6};      // 2 samples, 3 features
  const float w[2 * 3] = {1, 0, -1, 0.5f, 0.5f, 0.5f};  // Dense(3, 2), PyTorch layout [out, in]
  const float b[2] = {2.5f, -10.f};
  float y[2 * 2];
  gemm(Trans::No, Trans::Yes, 2, 2, 3, 1.f, x, 3, w, 3, 0.f, y, 2,
       Epilogue::bias_act(BiasKind::PerCol, b, Activation::ReLU));
  // relu(x·wᵀ + b): row 0: (1-3+2.5, 3-10) -> (0.5, 0); row 1: (4-6+2.5, 7.5-10) -> (0.5, 0)
  const float want[4] = {0.5f, 0.f, 0.5f, 0.f};
  for (int i = 0; i < 4; ++i)
    if (y[i] != want[i]) {
      std::printf("consumer: y[%d] = %g, want %g\n", i, y[i], want[i]);
      return 1;
    }
  float z[4];
  gemm(Trans::No, Trans::Yes, 2, 2, 3, 1.f, x, 3, w, 3, 0.f, z, 2, Epilogue::bias_act(BiasKind::PerCol, b));
  const float want_z[4] = {0.5f, -7.f, 0.5f, -2.5f};
  for (int i = 0; i < 4; ++i)
    if (z[i] != want_z[i]) {
      std::printf("consumer: z[%d] = %g, want %g\n", i, z[i], want_z[i]);
      return 1;
    }
  // The layer API: one SGD step of a tiny model through the installed headers.
  namespace nn = nabla::nn;
  auto model = nn::Sequential().add(nn::Dense(3, 4)).add(nn::ReLU()).add(nn::Dense(4, 1)).add(nn::Sigmoid());
  nabla::Tensor xs = nabla::Tensor::uniform({8, 3}, -1.f, 1.f, 1), ys({8, 1});
  nn::BinaryCrossEntropy bce;
  nn::SGD opt(model.parameters(), 0.1f);
  const float l0 = bce.forward(model.forward(xs), ys);
  model.backward(bce.backward());
  opt.step();
  if (!(bce.forward(model.forward(xs), ys) < l0)) {
    std::printf("consumer: the loss did not fall after one SGD step\n");
    return 1;
  }
  std::printf("consumer: nabla %s, ISA %s, %d threads: ok\n", nabla::kVersion,
              nabla::isa_name(nabla::active_isa()), nabla::num_threads());
  return 0;
}
