// bench_mpi: the cost of data-parallel training steps over MPI (nabla::dist).
// Run it as `mpirun -np N bench_mpi [MODEL] [BATCH_PER_RANK] [STEPS]`
// (defaults: the `cnn` preset on 1×28×28 inputs, 10 classes, batch 64 per
// rank, 60 steps, 1 thread per rank); rank 0 prints:
//   - bytes reduced per step (the fused gradient buffer) and sent per rank;
//   - the reduction alone, after a barrier (no waiting for a slower rank):
//     median and best of 60, for the rank-order reduction nabla uses and
//     for MPI_Allreduce on the same buffer;
//   - whole steps (zero_grad, forward, loss, backward, reduction, Adam):
//     median step time, the median reduction time inside it (this one
//     includes waiting for the slowest rank), its share of the step, and
//     samples/s over all ranks.
// Compare `-np 1` (no reduction) with `-np 2` for the speed-up.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "nabla/nn/presets.hpp"
#include "nabla/dist/mpi.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/runtime/threads.hpp"

namespace nn = nabla::nn;
namespace dist = nabla::dist;
using nabla::Tensor;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  dist::World world(argc, argv);
  const std::string model_name = argc > 1 ? argv[1] : "cnn";
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 64;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 60;
  if (!std::getenv("NABLA_NUM_THREADS")) nabla::set_num_threads(1);
  const bool root = world.rank() == 0;

  const nabla::nn::ModelSpec spec = nabla::nn::parse_spec(nabla::nn::resolve_model(model_name));
  nabla::nn::BuiltModel built = nabla::nn::build_classifier(spec, {1, 28, 28}, 10);
  nn::Sequential& model = built.model;
  nn::Adam opt(model.parameters(), 1e-3f);
  nn::SoftmaxCrossEntropy loss;
  const Tensor x = Tensor::uniform({batch, 1, 28, 28}, -1.f, 1.f, 1 + static_cast<uint64_t>(world.rank()));
  Tensor y({batch});
  for (int64_t i = 0; i < batch; ++i) y.data()[i] = static_cast<float>((i * 7 + world.rank()) % 10);
  const float scale = 1.f / static_cast<float>(world.size());

  if (root)
    std::printf("bench_mpi: %s (%s), %d rank(s) x batch %lld, %d thread(s) per rank, %d steps\n", model_name.c_str(),
                spec.to_string().c_str(), world.size(), static_cast<long long>(batch), nabla::num_threads(), steps);

  // The reduction alone, ranks aligned by a barrier first.
  for (dist::Reduction how : {dist::Reduction::RankOrder, dist::Reduction::MpiAllreduce}) {
    dist::GradientReducer reducer(world, model.parameters(), 0, how);
    std::vector<double> t;
    for (int i = 0; i < steps + 5; ++i) {
      world.barrier();
      const auto t0 = Clock::now();
      reducer.reduce(scale);
      if (i >= 5) t.push_back(since(t0));
    }
    if (root)
      std::printf("reduction alone (%s): %.3f MB/step, %.3f MB sent per rank; median %.3f ms, best %.3f ms = %.2f GB/s "
                  "of buffer\n",
                  how == dist::Reduction::RankOrder ? "rank order: alltoall + sum + allgather" : "MPI_Allreduce",
                  static_cast<double>(reducer.bytes_per_step()) / 1e6,
                  static_cast<double>(reducer.bytes_sent_per_step()) / 1e6, 1e3 * median(t),
                  1e3 * *std::min_element(t.begin(), t.end()),
                  static_cast<double>(reducer.bytes_per_step()) / median(t) / 1e9);
  }

  // Whole steps.
  dist::GradientReducer reducer(world, model.parameters());
  std::vector<double> step_t, red_t;
  world.barrier();
  for (int i = 0; i < steps + 5; ++i) {
    const auto t0 = Clock::now();
    opt.zero_grad();
    loss.forward(model.forward(x), y);
    model.backward(loss.backward());
    const double before = reducer.seconds();
    reducer.reduce(scale);
    const double red = reducer.seconds() - before;
    opt.step();
    if (i >= 5) {
      step_t.push_back(since(t0));
      red_t.push_back(red);
    }
  }
  const double step = median(step_t), red = median(red_t);
  if (root)
    std::printf("steps: median %.2f ms (best %.2f ms), reduction in it %.2f ms = %.1f%% of the step, compute %.2f ms; "
                "%.0f samples/s over %d rank(s)\n",
                1e3 * step, 1e3 * *std::min_element(step_t.begin(), step_t.end()), 1e3 * red, 100 * red / step,
                1e3 * (step - red), static_cast<double>(batch * world.size()) / step, world.size());
  return 0;
}
