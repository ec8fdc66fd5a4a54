// nabla::dist under `mpirun -np N` (ctest runs it with N = 2; any N works):
// data-parallel training equals one-rank training on the global batch, the
// ranks' shards cover each epoch exactly once, broadcast and the collective
// checks. Every rank runs every test; each rank also computes the one-rank
// reference itself. `test_dist --die-at-step K` is not a test but a job
// whose rank 1 dies in step K (ctest checks that the job ends).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nabla/data/dataset.hpp"
#include "nabla/dist/mpi.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/runtime/threads.hpp"

namespace nn = nabla::nn;
namespace data = nabla::data;
namespace dist = nabla::dist;
using nabla::Tensor;

namespace {

dist::World* g_world = nullptr;

// n samples of the given shape, labels a function of the values so there is
// something to learn.
data::Dataset make_data(int64_t n, std::vector<int64_t> sample, int64_t classes, uint64_t seed) {
  data::Dataset d;
  std::vector<int64_t> shape = {n};
  shape.insert(shape.end(), sample.begin(), sample.end());
  d.x = Tensor::uniform(shape, -1.f, 1.f, seed);
  const int64_t per = d.x.numel() / n;
  for (int64_t i = 0; i < n; ++i) {
    float s = 0;
    for (int64_t j = 0; j < per; ++j) s += d.x.data()[i * per + j] * static_cast<float>(j % 3 - 1);
    d.labels.push_back(static_cast<int32_t>(static_cast<int64_t>(std::fabs(s) * 7.f) % classes));
  }
  d.num_classes = classes;
  return d;
}

struct Case {
  std::function<nn::Sequential()> model;
  bool binary;    // BCE after a sigmoid, else softmax cross-entropy
  bool adam;      // else SGD with momentum
  data::Dataset d;
};

// Trains `steps` steps with a global batch of `global` samples, split over
// `ranks` ranks (1: this process alone), and returns the parameters.
std::vector<Tensor> train(const Case& s, int64_t global, int ranks, int steps) {
  nn::manual_seed(5);
  nn::Sequential model = s.model();
  nn::SGD sgd(model.parameters(), 0.05f, 0.9f, 1e-4f);
  nn::Adam adam(model.parameters(), 0.01f);
  nn::SoftmaxCrossEntropy sce;
  nn::BinaryCrossEntropy bce;
  data::BatchIterator it(s.d, global, s.binary);
  std::unique_ptr<dist::GradientReducer> reducer;
  if (ranks > 1) {
    it.set_shard(g_world->rank(), ranks);
    reducer = std::make_unique<dist::GradientReducer>(*g_world, model.parameters());
  }
  data::Rng rng(9);
  int done = 0;
  while (done < steps) {
    it.start(&rng);
    while (done < steps && it.next()) {
      s.adam ? adam.zero_grad() : sgd.zero_grad();
      if (it.batch_size() > 0) {
        const Tensor out = model.forward(it.x());
        if (s.binary) {
          bce.forward(out, it.y());
          model.backward(bce.backward());
        } else {
          sce.forward(out, it.y());
          model.backward(sce.backward());
        }
      }
      if (reducer) reducer->reduce(static_cast<float>(it.batch_size()) / static_cast<float>(it.global_batch_size()));
      s.adam ? adam.step() : sgd.step();
      ++done;
    }
  }
  std::vector<Tensor> out;
  for (nn::Parameter* p : model.parameters()) out.push_back(p->value.clone());
  return out;
}

// ‖a − b‖ / ‖b‖ per tensor, and the replicas must be bitwise equal.
void expect_equivalent(const Case& s, int64_t per_rank) {
  const int n = g_world->size();
  const std::vector<Tensor> start = train(s, per_rank * n, 1, 0);
  const std::vector<Tensor> ref = train(s, per_rank * n, 1, 20);
  const std::vector<Tensor> got = train(s, per_rank * n, n, 20);
  ASSERT_EQ(ref.size(), got.size());
  for (size_t t = 0; t < ref.size(); ++t) {
    double diff = 0, norm = 0, moved = 0;
    for (int64_t i = 0; i < ref[t].numel(); ++i) {
      const double a = got[t].data()[i], b = ref[t].data()[i], a0 = start[t].data()[i];
      diff += (a - b) * (a - b);
      norm += b * b;
      moved += (b - a0) * (b - a0);
    }
    const double rel = std::sqrt(diff / norm);
    // Training moved every tensor: the comparison is not of two copies of
    // the initial weights.
    EXPECT_GT(std::sqrt(moved / norm), 1e-3) << "parameter " << t << " barely moved";
    if (std::getenv("NABLA_TEST_VERBOSE") && g_world->rank() == 0)
      std::printf("  parameter %zu: relative error %.2e (moved %.2e)\n", t, rel, std::sqrt(moved / norm));
    EXPECT_LE(rel, 1e-5) << "parameter " << t << ": " << n << " ranks x batch " << per_rank << " vs 1 x "
                         << n * per_rank;
    // Every rank holds the same bits: rank 0's copy, broadcast, must match.
    Tensor mine = got[t].clone();
    g_world->broadcast({mine}, 0);
    EXPECT_EQ(std::memcmp(mine.data(), got[t].data(), sizeof(float) * static_cast<size_t>(mine.numel())), 0)
        << "parameter " << t << " differs from rank 0's on rank " << g_world->rank();
  }
}

}  // namespace

// 69 samples, global batch 2·8 = 16: each epoch ends with a batch of 5, split
// 3 + 2 on 2 ranks (scales 3/5 and 2/5); 20 steps cross 4 epochs.
TEST(DataParallel, MlpEqualsOneRankOnTheGlobalBatch) {
  Case s{[] {
            return std::move(nn::Sequential().add(nn::Dense(12, 16)).add(nn::Tanh()).add(nn::Dense(16, 1)).add(
                nn::Sigmoid()));
          },
          true, false, make_data(69, {12}, 2, 1)};
  expect_equivalent(s, 8);
  s.adam = true;
  expect_equivalent(s, 8);
}

TEST(DataParallel, CnnEqualsOneRankOnTheGlobalBatch) {
  Case s{[] {
            return std::move(nn::Sequential()
                                 .add(nn::Conv2D(2, 4, 3, 1, 1))
                                 .add(nn::ReLU())
                                 .add(nn::MaxPool2D(2))
                                 .add(nn::Flatten())
                                 .add(nn::Dense(4 * 4 * 4, 16))
                                 .add(nn::ReLU())
                                 .add(nn::Dense(16, 5)));
          },
          false, true, make_data(45, {2, 8, 8}, 5, 2)};
  expect_equivalent(s, 4);
}

// Each sample's count over the epoch, summed over the ranks: exactly 1.
TEST(DataParallel, ShardsCoverEachEpochOnce) {
  const data::Dataset d = make_data(37, {3}, 2, 3);
  for (int64_t per_rank : {1, 5, 16, 40}) {
    data::BatchIterator it(d, per_rank * g_world->size());
    it.set_shard(g_world->rank(), g_world->size());
    data::Rng rng(4);
    for (int epoch = 0; epoch < 2; ++epoch) {
      std::vector<double> count(static_cast<size_t>(d.size()), 0.0);
      it.start(&rng);
      while (it.next())
        for (int64_t i = 0; i < it.batch_size(); ++i)
          for (int64_t j = 0; j < d.size(); ++j)
            if (std::memcmp(d.x.data() + 3 * j, it.x().data() + 3 * i, 3 * sizeof(float)) == 0)
              ++count[static_cast<size_t>(j)];
      g_world->sum(count.data(), static_cast<int>(count.size()));
      for (int64_t j = 0; j < d.size(); ++j)
        EXPECT_EQ(count[static_cast<size_t>(j)], 1.0) << "sample " << j << ", batch " << per_rank << " per rank";
    }
  }
}

TEST(DataParallel, BroadcastAndCollectiveChecks) {
  Tensor t({5});
  t.fill(static_cast<float>(g_world->rank() + 1));
  g_world->broadcast({t}, 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t.data()[i], 1.f);
  EXPECT_NO_THROW(g_world->check_same("dense 10", "model specs"));
  EXPECT_NO_THROW(g_world->check_ok(""));
  if (g_world->size() < 2) return;
  try {
    g_world->check_same(g_world->rank() == 1 ? "dense 3" : "dense 10", "model specs");
    ADD_FAILURE() << "no error";
  } catch (const dist::CollectiveError& e) {
    if (g_world->rank() == 0)
      EXPECT_NE(std::string(e.what()).find("model specs differ between the " + std::to_string(g_world->size()) +
                                           " ranks: rank 0 has 'dense 10', rank 1 'dense 3'"),
                std::string::npos)
          << e.what();
  }
  try {
    g_world->check_ok(g_world->rank() == 1 ? "no data" : "");
    ADD_FAILURE() << "no error";
  } catch (const dist::CollectiveError& e) {
    if (g_world->rank() == 0) EXPECT_STREQ(e.what(), "rank 1: no data");
  }
}

int main(int argc, char** argv) {
  dist::World world(argc, argv);
  g_world = &world;
  nabla::set_num_threads(1);
  if (argc == 3 && std::strcmp(argv[1], "--die-at-step") == 0) {
    // Rank 1 dies in the middle of training; the others wait in the
    // reduction. The job must end (mpirun kills it), not hang.
    const int die_at = std::atoi(argv[2]);
    nn::Sequential model = nn::Sequential().add(nn::Dense(4, 2));
    dist::GradientReducer reducer(world, model.parameters());
    for (int step = 0;; ++step) {
      if (world.rank() == 1 && step == die_at) {
        std::fprintf(stderr, "test_dist: rank 1 dies in step %d\n", step);
        std::fflush(stderr);
        std::_Exit(3);
      }
      reducer.reduce(1.f);
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  // Only rank 0 prints; a failure on another rank still fails the job
  // through its exit status (mpirun returns it).
  if (world.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  return RUN_ALL_TESTS();
}
