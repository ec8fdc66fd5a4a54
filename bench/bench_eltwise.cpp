// Element-wise kernels (activations, derivatives, softmax, losses, bias
// gradients, max pooling, optimiser steps) on the shapes of a training step,
// with a same-run vectorised copy and triad over buffers of the same size.
// Counter "bw" = bytes the kernel must move (each array read or written
// once) per second; compare each kernel with copy (2 streams) or triad
// (3 streams) on the same element count.
//
//     NABLA_NUM_THREADS=1 ./build/bench/bench_eltwise --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/loss.hpp"
#include "nabla/kernels/norm.hpp"
#include "nabla/kernels/optim.hpp"
#include "nabla/kernels/pool.hpp"

namespace nk = nabla::kernels;

namespace {

// Element counts: 64×256, 64×6×24×24, 64×32×28×28, 16 Mi.
const std::vector<int64_t> kSizes = {64 * 256, 64 * 6 * 24 * 24, 64 * 32 * 28 * 28, int64_t{16} << 20};

std::vector<float> buffer(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

void set_bw(benchmark::State& st, double bytes_per_iter) {
  st.counters["bw"] = benchmark::Counter(bytes_per_iter * static_cast<double>(st.iterations()),
                                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// ---- baselines ------------------------------------------------------------

void BM_copy(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto a = buffer(n, -1, 1, 1), b = buffer(n, -1, 1, 2);
  for (auto _ : st) {
    std::memcpy(b.data(), a.data(), static_cast<size_t>(n) * sizeof(float));
    benchmark::ClobberMemory();
  }
  set_bw(st, 8.0 * n);
}

void BM_triad(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto a = buffer(n, -1, 1, 1), b = buffer(n, -1, 1, 2), c = buffer(n, -1, 1, 3);
  const float s = 0.5f;
  for (auto _ : st) {
    float* __restrict pa = a.data();
    const float* __restrict pb = b.data();
    const float* __restrict pc = c.data();
    for (int64_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
    benchmark::ClobberMemory();
  }
  set_bw(st, 12.0 * n);
}

// ---- activations ------------------------------------------------------------

template <nk::Activation F>
void BM_act_fwd(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto x = buffer(n, -5, 5, 1), y = buffer(n, -1, 1, 2);
  for (auto _ : st) nk::activation_forward(F, 1, 1, n, x.data(), nk::BiasKind::None, nullptr, y.data());
  set_bw(st, 8.0 * n);
}

template <nk::Activation F>
void BM_act_bwd(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto a = buffer(n, 0, 1, 1), g = buffer(n, -1, 1, 2), d = buffer(n, -1, 1, 3);
  for (auto _ : st) nk::activation_backward(F, n, a.data(), g.data(), d.data());
  set_bw(st, 12.0 * n);
}

// Conv output: per-channel bias + ReLU, [64, C, H·W] with n = 64·C·H·W.
void BM_bias_relu_nchw(benchmark::State& st) {
  const int64_t n = st.range(0), c = st.range(1), hw = n / 64 / c;
  auto x = buffer(n, -5, 5, 1), y = buffer(n, -1, 1, 2), b = buffer(c, -1, 1, 3);
  for (auto _ : st) nk::activation_forward(nk::Activation::ReLU, 64, c, hw, x.data(), nk::BiasKind::PerRow, b.data(), y.data());
  set_bw(st, 8.0 * n);
}

void BM_bias_grad_nchw(benchmark::State& st) {
  const int64_t n = st.range(0), c = st.range(1), hw = n / 64 / c;
  auto d = buffer(n, -1, 1, 1), db = buffer(c, 0, 0, 2);
  for (auto _ : st) nk::bias_grad(64, c, hw, d.data(), nk::BiasKind::PerRow, db.data());
  set_bw(st, 4.0 * n);
}

void BM_bias_grad_cols(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  auto d = buffer(rows * cols, -1, 1, 1), db = buffer(cols, 0, 0, 2);
  for (auto _ : st) nk::bias_grad(1, rows, cols, d.data(), nk::BiasKind::PerCol, db.data());
  set_bw(st, 4.0 * rows * cols);
}

void BM_softmax_fwd(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  auto x = buffer(rows * cols, -5, 5, 1), y = buffer(rows * cols, 0, 0, 2);
  for (auto _ : st) nk::softmax_forward(rows, cols, x.data(), nk::BiasKind::None, nullptr, y.data());
  set_bw(st, 8.0 * rows * cols);
}

// ---- losses -----------------------------------------------------------------

void BM_softmax_ce(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  auto z = buffer(rows * cols, -5, 5, 1), g = buffer(rows * cols, 0, 0, 2);
  std::vector<float> labels(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) labels[r] = static_cast<float>(r % cols);
  for (auto _ : st) benchmark::DoNotOptimize(nk::softmax_cross_entropy(rows, cols, z.data(), labels.data(), g.data()));
  set_bw(st, 8.0 * rows * cols + 4.0 * rows);
}

void BM_bce_with_logits(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto z = buffer(n, -5, 5, 1), y = buffer(n, 0, 1, 2), g = buffer(n, 0, 0, 3);
  for (auto _ : st) benchmark::DoNotOptimize(nk::bce_with_logits(n, z.data(), y.data(), g.data()));
  set_bw(st, 12.0 * n);
}

void BM_mse(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto p = buffer(n, -5, 5, 1), y = buffer(n, -5, 5, 2), g = buffer(n, 0, 0, 3);
  for (auto _ : st) benchmark::DoNotOptimize(nk::mse(n, p.data(), y.data(), g.data()));
  set_bw(st, 12.0 * n);
}

// ---- pooling ----------------------------------------------------------------

// 2×2 stride 2 over [64, C, H, W]: reads H·W, writes H·W/4 values + H·W/4 indices.
void BM_maxpool2x2_fwd(benchmark::State& st) {
  const nk::MaxPool2d p{64, st.range(0), st.range(1), st.range(1), 2, 2, 0};
  const int64_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h() * p.out_w();
  auto x = buffer(in, -1, 1, 1), y = buffer(out, 0, 0, 2);
  std::vector<int32_t> id(static_cast<size_t>(out));
  for (auto _ : st) nk::max_pool2d_forward(p, x.data(), y.data(), id.data());
  set_bw(st, 4.0 * in + 8.0 * out);
}

void BM_maxpool2x2_bwd(benchmark::State& st) {
  const nk::MaxPool2d p{64, st.range(0), st.range(1), st.range(1), 2, 2, 0};
  const int64_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h() * p.out_w();
  auto x = buffer(in, -1, 1, 1), y = buffer(out, 0, 0, 2), dx = buffer(in, 0, 0, 3);
  std::vector<int32_t> id(static_cast<size_t>(out));
  nk::max_pool2d_forward(p, x.data(), y.data(), id.data());
  for (auto _ : st) nk::max_pool2d_backward(p, y.data(), id.data(), dx.data());
  set_bw(st, 4.0 * in + 8.0 * out);
}

// ---- optimisers ---------------------------------------------------------------

void BM_sgd_momentum(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto p = buffer(n, -1, 1, 1), g = buffer(n, -1, 1, 2), buf = buffer(n, -1, 1, 3);
  const nk::SgdParams hp{1e-3f, 0.9f, 1e-4f};
  for (auto _ : st) nk::sgd_update(n, p.data(), g.data(), buf.data(), hp, false);
  set_bw(st, 20.0 * n);
}

void BM_adam(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto p = buffer(n, -1, 1, 1), g = buffer(n, -1, 1, 2), m = buffer(n, -1, 1, 3), v = buffer(n, 0, 1, 4);
  int64_t step = 1;
  for (auto _ : st) nk::adam_update(n, p.data(), g.data(), m.data(), v.data(), nk::AdamParams{}, step++);
  set_bw(st, 28.0 * n);
}

void BM_sgd_nesterov(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto p = buffer(n, -1, 1, 1), g = buffer(n, -1, 1, 2), buf = buffer(n, -1, 1, 3);
  const nk::SgdParams hp{1e-3f, 0.9f, 1e-4f, true};
  for (auto _ : st) nk::sgd_update(n, p.data(), g.data(), buf.data(), hp, false);
  set_bw(st, 20.0 * n);
}

void BM_adamw(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto p = buffer(n, -1, 1, 1), g = buffer(n, -1, 1, 2), m = buffer(n, -1, 1, 3), v = buffer(n, 0, 1, 4);
  int64_t step = 1;
  const nk::AdamParams hp{1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f};
  for (auto _ : st) nk::adamw_update(n, p.data(), g.data(), m.data(), v.data(), hp, step++);
  set_bw(st, 28.0 * n);
}

// RMSprop: param, square_avg (read + write) and grad; momentum adds its buffer.
template <bool Momentum>
void BM_rmsprop(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto p = buffer(n, -1, 1, 1), g = buffer(n, -1, 1, 2), sq = buffer(n, 0, 1, 3), buf = buffer(n, -1, 1, 4);
  const nk::RmspropParams hp{1e-3f, 0.99f, 1e-8f, 0.f, Momentum ? 0.9f : 0.f};
  for (auto _ : st) nk::rmsprop_update(n, p.data(), g.data(), sq.data(), Momentum ? buf.data() : nullptr, hp);
  set_bw(st, (Momentum ? 28.0 : 20.0) * n);
}

// Gradient clipping's two passes: the sum of squares (1 stream) and the scaling (copy-like).
void BM_sum_squares(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto x = buffer(n, -1, 1, 1);
  for (auto _ : st) benchmark::DoNotOptimize(nk::sum_squares(n, x.data()));
  set_bw(st, 4.0 * n);
}

void BM_scale(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto x = buffer(n, -1, 1, 1);
  for (auto _ : st) nk::scale(n, x.data(), 0.999999f);
  set_bw(st, 8.0 * n);
}

// ---- batch norm and dropout -----------------------------------------------------

// Training forward of BatchNorm + ReLU over [N, C, HW] (HW = 1: [N, C]):
// the statistics pass (reads x) and the apply pass with the activation fused
// (reads x, writes y): 12 bytes per element, as a triad.
void BM_batchnorm_relu_fwd(benchmark::State& st) {
  const nk::NormShape s{st.range(0), st.range(1), st.range(2)};
  const int64_t n = s.numel();
  auto x = buffer(n, -1, 1, 1), y = buffer(n, 0, 0, 2), scale = buffer(s.c, 0.5, 2, 3), shift = buffer(s.c, -1, 1, 4);
  std::vector<double> mean(static_cast<size_t>(s.c)), var(mean);
  for (auto _ : st) {
    nk::batchnorm_stats(s, x.data(), mean.data(), var.data());
    nk::batchnorm_apply(s, x.data(), scale.data(), shift.data(), nk::Activation::ReLU, y.data());
  }
  set_bw(st, 12.0 * n);
  st.counters["n"] = static_cast<double>(n);
}

// Training backward with ReLU's derivative fused in both passes: the sums
// and dx. from_y 1: the derivative from the stored output (read dy, y, x,
// then dy, y, x and write dx: 28 bytes per element); from_y 0, what the
// BatchNorm layer runs after a ReLU: the sign from x·scale + shift (read dy,
// x twice, write dx: 20 bytes per element).
void BM_batchnorm_relu_bwd(benchmark::State& st) {
  const nk::NormShape s{st.range(0), st.range(1), st.range(2)};
  const bool from_y = st.range(3) != 0;
  const int64_t n = s.numel();
  auto x = buffer(n, -1, 1, 1), y = buffer(n, 0, 1, 2), dy = buffer(n, -1, 1, 3), dx = buffer(n, 0, 0, 4);
  auto mean = buffer(s.c, -0.1, 0.1, 5), k1 = buffer(s.c, -1, 1, 6), k2 = buffer(s.c, -1, 1, 7), k3 = buffer(s.c, -1, 1, 8);
  auto scale = buffer(s.c, 0.5, 2, 9), shift = buffer(s.c, -1, 1, 10);
  std::vector<double> a(static_cast<size_t>(s.c)), b(a);
  const float* yp = from_y ? y.data() : nullptr;
  for (auto _ : st) {
    nk::batchnorm_backward_reduce(s, dy.data(), yp, nk::Activation::ReLU, x.data(), mean.data(), a.data(), b.data(),
                                  scale.data(), shift.data());
    nk::batchnorm_backward_apply(s, dy.data(), yp, nk::Activation::ReLU, x.data(), mean.data(), k1.data(), k2.data(),
                                 k3.data(), dx.data(), scale.data(), shift.data());
  }
  set_bw(st, (from_y ? 28.0 : 20.0) * n);
  st.counters["n"] = static_cast<double>(n);
}

// Dropout p = 0.5 (reads x, writes y; the mask is a hash, not stored): as a copy.
void BM_dropout(benchmark::State& st) {
  const int64_t n = st.range(0);
  auto x = buffer(n, -1, 1, 1), y = buffer(n, 0, 0, 2);
  uint64_t counter = 0;
  for (auto _ : st) nk::dropout(n, x.data(), 0.5f, nk::dropout_key(1, counter++), y.data());
  set_bw(st, 8.0 * n);
}

void sizes(benchmark::internal::Benchmark* b) {
  b->ArgName("n");
  for (int64_t n : kSizes) b->Arg(n);
}

}  // namespace

BENCHMARK(BM_copy)->Apply(sizes);
BENCHMARK(BM_triad)->Apply(sizes);
BENCHMARK(BM_act_fwd<nk::Activation::ReLU>)->Apply(sizes);
BENCHMARK(BM_act_fwd<nk::Activation::Sigmoid>)->Apply(sizes);
BENCHMARK(BM_act_fwd<nk::Activation::Tanh>)->Apply(sizes);
BENCHMARK(BM_act_bwd<nk::Activation::ReLU>)->Apply(sizes);
BENCHMARK(BM_act_bwd<nk::Activation::Sigmoid>)->Apply(sizes);
BENCHMARK(BM_act_bwd<nk::Activation::Tanh>)->Apply(sizes);
BENCHMARK(BM_bias_relu_nchw)->ArgNames({"n", "C"})->Args({64 * 6 * 24 * 24, 6})->Args({64 * 32 * 28 * 28, 32});
BENCHMARK(BM_bias_grad_nchw)->ArgNames({"n", "C"})->Args({64 * 6 * 24 * 24, 6})->Args({64 * 32 * 28 * 28, 32});
BENCHMARK(BM_bias_grad_cols)->ArgNames({"N", "F"})->Args({64, 256})->Args({64, 10});
BENCHMARK(BM_softmax_fwd)->ArgNames({"N", "C"})->Args({64, 10})->Args({64, 256})->Args({65536, 256});
BENCHMARK(BM_softmax_ce)->ArgNames({"N", "C"})->Args({64, 10})->Args({65536, 256});
BENCHMARK(BM_bce_with_logits)->Apply(sizes);
BENCHMARK(BM_mse)->Apply(sizes);
BENCHMARK(BM_maxpool2x2_fwd)->ArgNames({"C", "HW"})->Args({6, 24})->Args({32, 28});
BENCHMARK(BM_maxpool2x2_bwd)->ArgNames({"C", "HW"})->Args({6, 24})->Args({32, 28});
BENCHMARK(BM_sgd_momentum)->Apply(sizes);
// Batch-norm shapes: [16, 16, 16×16] (256 KiB, L2), [64, 6, 24×24] (L2/L3), [64, 32, 28×28] (L3),
// [256, 256] features; copy and triad at the same element counts.
BENCHMARK(BM_batchnorm_relu_fwd)->ArgNames({"N", "C", "HW"})->Args({16, 16, 256})->Args({64, 6, 576})->Args({64, 32, 784})->Args({256, 256, 1});
BENCHMARK(BM_batchnorm_relu_bwd)
    ->ArgNames({"N", "C", "HW", "from_y"})
    ->ArgsProduct({{16}, {16}, {256}, {1, 0}})
    ->ArgsProduct({{64}, {6}, {576}, {1, 0}})
    ->ArgsProduct({{64}, {32}, {784}, {1, 0}})
    ->ArgsProduct({{256}, {256}, {1}, {1, 0}});
BENCHMARK(BM_triad)->ArgName("n")->Arg(65536)->Arg(64 * 6 * 576)->Arg(64 * 32 * 784);
BENCHMARK(BM_copy)->ArgName("n")->Arg(65536);
BENCHMARK(BM_dropout)->Apply(sizes)->Arg(65536);
BENCHMARK(BM_adam)->Apply(sizes);
BENCHMARK(BM_sgd_nesterov)->Apply(sizes);
BENCHMARK(BM_adamw)->Apply(sizes);
BENCHMARK(BM_rmsprop<false>)->Apply(sizes);
BENCHMARK(BM_rmsprop<true>)->Apply(sizes);
BENCHMARK(BM_sum_squares)->Apply(sizes);
BENCHMARK(BM_scale)->Apply(sizes);

BENCHMARK_MAIN();
