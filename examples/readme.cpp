// The README's example, built and run by ctest so that it cannot rot.
#include <nabla/nabla.hpp>

#include <cstdio>

int main() {
  namespace nn = nabla::nn;
  // 256 points in [-1, 1]², labelled 1 inside the circle of radius 0.7.
  nabla::Tensor x = nabla::Tensor::uniform({256, 2}, -1.f, 1.f, 42), y({256, 1});
  for (int i = 0; i < 256; ++i) {
    const float* p = x.data() + 2 * i;
    y.data()[i] = p[0] * p[0] + p[1] * p[1] < 0.49f ? 1.f : 0.f;
  }
  auto model = nn::Sequential().add(nn::Dense(2, 16)).add(nn::Tanh()).add(nn::Dense(16, 1)).add(nn::Sigmoid());
  nn::BinaryCrossEntropy loss;
  nn::Adam opt(model.parameters(), 0.05f);
  float l = 0;
  for (int step = 0; step < 300; ++step) {
    opt.zero_grad();
    l = loss.forward(model.forward(x), y);  // forward, loss and its gradient
    model.backward(loss.backward());        // gradients of every parameter
    opt.step();
  }
  nabla::save(model, "circle.safetensors");  // loads into torch.nn.Sequential too
  std::printf("%s\n%s loss after 300 steps: %.4f\n", model.summary().c_str(), nabla::isa_name(nabla::active_isa()), l);
  return l < 0.2f ? 0 : 1;
}
