// The training loop behind `nabla train` / `nabla eval` on real data
// (Fashion-MNIST, skipped when absent), resume-from-checkpoint, outputs,
// and the `nabla` binary's error contract.
#include <gtest/gtest.h>

#include <algorithm>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>

#include "nabla/data/dataset.hpp"
#include "nabla/data/idx.hpp"
#include "nabla/error.hpp"
#include "nabla/nn/serialize.hpp"
#include "checkpoint.hpp"
#include "trainer.hpp"

namespace cli = nabla::cli;
namespace fs = std::filesystem;

namespace {

bool have_fashion_mnist() { return fs::exists(fs::path(cli::kFashionMnistDir) / "t10k-labels-idx1-ubyte.gz"); }

#define SKIP_WITHOUT_DATA()                                                                                   \
  if (!have_fashion_mnist())                                                                                  \
  GTEST_SKIP() << "Fashion-MNIST is not installed at " << cli::kFashionMnistDir                               \
               << " (apt-get install dataset-fashion-mnist, or bash scripts/deps.sh)"

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("nabla_test_cli_" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the nabla binary; returns the exit status, stdout and stderr in out/err.
int run_nabla(const std::string& args, std::string& out, std::string& err, const TempDir& dir) {
  const std::string o = dir / "stdout", e = dir / "stderr";
  const int rc = std::system((std::string(NABLA_CLI_PATH) + " " + args + " >" + o + " 2>" + e).c_str());
  out = slurp(o);
  err = slurp(e);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The first `train` training and `test` test images of Fashion-MNIST as an
// IDX directory of their own (uncompressed), written once per process: the
// tests that train many short runs read it in milliseconds instead of
// decompressing and converting all 70,000 images every run.
std::string small_fashion_mnist(int64_t train = 4000, int64_t test = 1000) {
  static const fs::path dir = fs::temp_directory_path() / ("nabla_test_cli_fmnist_" + std::to_string(::getpid()));
  static const bool written = [&] {
    fs::create_directories(dir);
    auto be32 = [](std::string& s, uint32_t v) {
      for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    for (const auto& [split, prefix, n] : {std::tuple{nabla::data::Split::Train, "train", train},
                                           std::tuple{nabla::data::Split::Test, "t10k", test}}) {
      const nabla::data::Dataset d = nabla::data::load_mnist_dir(cli::kFashionMnistDir, split);
      const int64_t per = d.x.numel() / d.size();
      std::string images, labels;
      be32(images, 0x803), be32(images, static_cast<uint32_t>(n)), be32(images, 28), be32(images, 28);
      be32(labels, 0x801), be32(labels, static_cast<uint32_t>(n));
      for (int64_t i = 0; i < n * per; ++i)
        images.push_back(static_cast<char>(static_cast<uint8_t>(std::lround(d.x.data()[i] * 255.f))));
      for (int64_t i = 0; i < n; ++i) labels.push_back(static_cast<char>(d.labels[static_cast<size_t>(i)]));
      std::ofstream(dir / (std::string(prefix) + "-images-idx3-ubyte"), std::ios::binary) << images;
      std::ofstream(dir / (std::string(prefix) + "-labels-idx1-ubyte"), std::ios::binary) << labels;
    }
    std::atexit([] { fs::remove_all(dir); });
    return true;
  }();
  (void)written;
  return dir.string();
}

}  // namespace

TEST(Train, LenetOn2000FashionMnistSamplesBeats70Percent) {
  SKIP_WITHOUT_DATA();
  TempDir dir;
  cli::TrainOptions o;
  o.model = "lenet";
  o.epochs = 1;
  o.limit = 2000;
  // One epoch of 2,000 samples is 125 Adam steps at batch 16: LeNet lands at
  // 66-74% depending on the seed (measured over seeds 1-5), so the seed is
  // fixed; seed 1 gives 72.8%.
  o.batch = 16;
  o.lr = 0.005f;
  o.seed = 1;
  o.save = dir / "m.safetensors";
  o.log = dir / "log.csv";
  o.plot = dir / "plot.svg";
  int64_t batches = 0;
  cli::TrainObserver obs;
  obs.on_batch = [&](int, int64_t done, int64_t total, double, double) {
    EXPECT_EQ(total, 125);
    batches = done;
  };
  const auto history = cli::train(o, obs);
  EXPECT_EQ(batches, 125);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_GT(history[0].test_accuracy, 0.70);
  std::printf("lenet, 2000 samples, 1 epoch: test accuracy %.2f%%, %.2f s\n", 100 * history[0].test_accuracy,
              history[0].seconds);

  // eval reproduces the figure from the saved file alone.
  const cli::Evaluation e = cli::evaluate_file(o.save, cli::kFashionMnistDir);
  EXPECT_DOUBLE_EQ(e.accuracy, history[0].test_accuracy);
  int64_t n = 0, diag = 0;
  for (size_t r = 0; r < e.confusion.size(); ++r)
    for (size_t c = 0; c < e.confusion.size(); ++c) {
      n += e.confusion[r][c];
      diag += r == c ? e.confusion[r][c] : 0;
    }
  EXPECT_EQ(n, 10000);
  EXPECT_EQ(static_cast<double>(diag) / 10000.0, e.accuracy);

  const std::string log = slurp(o.log);
  EXPECT_EQ(log.rfind("epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,samples_per_second\n1,", 0), 0u);
  const std::string svg = slurp(o.plot);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  // The model file carries what eval needs, and no temporary file is left.
  EXPECT_EQ(nabla::nn::load_tensors(o.save).metadata.at("nabla.spec"),
            "conv 6 5 pad 2 relu | maxpool 2 | conv 16 5 relu | maxpool 2 | dense 120 relu | dense 84 relu | dense 10");
  for (const auto& f : fs::directory_iterator(fs::path(o.save).parent_path()))
    EXPECT_EQ(f.path().string().find(".tmp."), std::string::npos) << f.path();
}

// Two presets trained for one epoch give exactly the recorded weights
// (FNV-1a of every parameter's bytes, by name) and losses. First recorded
// with the code before the activation table and layer registry (commit
// 23a4346: the redesign changed no arithmetic); re-recorded once when Adam's
// second moment got its two products rounded separately, which made it
// independent of the thread count (the losses did not move at 1e-6), and
// again when LeNet's second convolution went direct (its forward and weight
// gradient sum the same products in tap and position order instead of the
// GEMM's: losses unchanged at 1e-6).
// cnn-sigmoid also pins the sigmoid + BCE fusion, and is run at 1 and 2
// threads for the same weights.
TEST(Train, PresetsTrainBitwiseAsBeforeTheRegistry) {
  SKIP_WITHOUT_DATA();
  TempDir dir;
  struct Pin {
    const char* model;
    std::vector<int32_t> classes;
    int threads;
    uint64_t weights;
    double train_loss, test_loss;
  };
  for (const Pin& p : {Pin{"cnn-sigmoid", {0, 6}, 2, 0x421b71a6477d55b0ull, 0.566903, 0.465759},
                       Pin{"cnn-sigmoid", {0, 6}, 1, 0x421b71a6477d55b0ull, 0.566903, 0.465759},
                       Pin{"lenet", {}, 1, 0x210a3a764103fef1ull, 2.146966, 1.779940}}) {
    SCOPED_TRACE(p.model);
    cli::TrainOptions o;
    o.model = p.model;
    o.classes = p.classes;
    o.epochs = 1;
    o.limit = 1000;
    o.seed = 7;
    o.threads = p.threads;
    o.save = dir / (std::string(p.model) + std::to_string(p.threads) + ".safetensors");
    const auto history = cli::train(o);
    ASSERT_EQ(history.size(), 1u);
    EXPECT_NEAR(history[0].train_loss, p.train_loss, 1e-6);
    EXPECT_NEAR(history[0].test_loss, p.test_loss, 1e-6);
    auto file = nabla::nn::load_tensors(o.save);
    std::sort(file.tensors.begin(), file.tensors.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    uint64_t h = 0xcbf29ce484222325ull;
    for (const auto& [name, t] : file.tensors) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
      for (size_t i = 0; i < static_cast<size_t>(t.numel()) * sizeof(float); ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
    }
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__) || defined(__NO_INLINE__)
    // The recorded bits are those of the optimised (Release) build: the
    // sanitizer build's -O1 contracts multiply-adds differently.
    (void)h;
#else
    EXPECT_EQ(h, p.weights) << std::hex << h;
#endif
  }
}

TEST(Train, ResumeIsBitwiseIdenticalToAnUninterruptedRun) {
  SKIP_WITHOUT_DATA();
  TempDir dir;
  // Every optimiser, with the schedules, warm-up and clipping: the
  // checkpoint carries the optimiser's state and the schedule's epoch. The
  // last models have BatchNorm (running statistics in the checkpoint, also
  // inside a residual block) and Dropout (its stream's counter in the
  // checkpoint); the last one trains on augmented images.
  struct Run {
    const char* optimizer;
    bool nesterov;
    const char *schedule, *warmup;
    float clip, lr;
    const char* model;
    const char* augment = "";
  };
  const char* mlp = "dense 32 tanh | dense 1 sigmoid";
  for (const Run& run : {Run{"sgd", false, "", "", 0.f, 0.01f, mlp}, Run{"adam", false, "", "", 0.f, 0.01f, mlp},
                         Run{"sgd", true, "step:1:0.5", "", 0.f, 0.01f, mlp},
                         Run{"adamw", false, "cosine:3", "2", 0.5f, 0.01f, mlp},
                         Run{"rmsprop", false, "step:2:0.1", "1:0.5", 1.f, 0.001f, mlp},
                         Run{"sgd", false, "", "", 0.f, 0.01f,
                             "dense 32 | batchnorm tanh | dropout 0.3 | dense 1 sigmoid"},
                         Run{"adam", false, "", "", 0.f, 0.01f,
                             "conv 4 3 stride 2 pad 1 | batchnorm relu | res( conv 6 3 stride 2 pad 1 | batchnorm relu "
                             "| conv 6 3 pad 1 | batchnorm ) | relu | gap | dropout 0.2 | dense 1 sigmoid",
                             "crop,flip"}}) {
    const char* opt = run.optimizer;
    const char* model = run.model;
    SCOPED_TRACE(std::string(opt) + " " + run.schedule + " warmup " + run.warmup + " " + model);
    cli::TrainOptions o;
    o.model = model;
    o.data = small_fashion_mnist();
    o.classes = {0, 6};
    o.limit = 700;  // 11 batches of 64 and a partial one (of the ~800 samples of the two classes)
    o.optimizer = opt;
    o.nesterov = run.nesterov;
    o.schedule = run.schedule;
    o.warmup = run.warmup;
    o.clip_grad_norm = run.clip;
    o.lr = run.lr;
    o.augment = run.augment;
    o.seed = 5;
    o.epochs = 3;
    o.save = dir / "full";
    const auto full = cli::train(o);
    o.epochs = 1;
    o.save = dir / "part";
    cli::train(o);
    cli::TrainOptions r;  // only what a user types to continue (the checkpoint names the data)
    r.resume = dir / "part.ckpt";
    r.epochs = 3;
    r.save = dir / "part";
    r.given = {};
    const auto resumed = cli::train(r);
    ASSERT_EQ(resumed.size(), 3u);
    EXPECT_EQ(resumed[2].test_accuracy, full[2].test_accuracy);
    EXPECT_EQ(resumed[2].train_loss, full[2].train_loss);
    const auto a = nabla::nn::load_tensors(dir / "full"), b = nabla::nn::load_tensors(dir / "part");
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i) {
      EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
      const auto& x = a.tensors[i].second;
      const auto& y = b.tensors[i].second;
      ASSERT_EQ(x.shape(), y.shape());
      EXPECT_EQ(std::memcmp(x.data(), y.data(), static_cast<size_t>(x.numel()) * sizeof(float)), 0)
          << a.tensors[i].first << " differs";
    }
    // A conflicting option is refused rather than silently ignored.
    r.lr = 0.5f;
    r.given = {"lr"};
    r.epochs = 4;
    try {
      cli::train(r);
      ADD_FAILURE() << "resumed with a different --lr";
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find("--lr '0.5' does not match the checkpoint's '" + cli::exact(run.lr) + "'"),
                std::string::npos)
          << e.what();
    }
    // So is other data: the checkpoint names what it trained on.
    r.lr = run.lr;
    r.data = cli::kFashionMnistDir;
    r.given = {"data"};
    try {
      cli::train(r);
      ADD_FAILURE() << "resumed on other data";
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find("--data '" + std::string(cli::kFashionMnistDir) +
                                           "' does not match the checkpoint's '" + o.data + "'"),
                std::string::npos)
          << e.what();
    }
  }
}

// The schedule, warm-up and clipping options reach the training loop: a
// StepLR with gamma 0 stops training after its first epoch, a warm-up from
// 1e-30 of the rate leaves the first epoch's weights where lr 0 leaves
// them, and clipping changes the result.
TEST(Train, ScheduleWarmupAndClippingTakeEffect) {
  SKIP_WITHOUT_DATA();
  TempDir dir;
  auto weights = [&](const std::string& path) {
    std::vector<float> w;
    for (const auto& [name, t] : nabla::nn::load_tensors(path).tensors) w.insert(w.end(), t.data(), t.data() + t.numel());
    return w;
  };
  cli::TrainOptions o;
  o.model = "dense 16 tanh | dense 1 sigmoid";
  o.classes = {0, 6};
  o.limit = 300;
  o.optimizer = "sgd";
  o.lr = 0.05f;
  o.seed = 3;
  o.epochs = 1;
  o.save = dir / "one";
  cli::train(o);
  o.epochs = 2;
  o.schedule = "step:1:0";  // lr · 0 from the second epoch on
  o.save = dir / "two";
  cli::train(o);
  EXPECT_EQ(weights(dir / "one"), weights(dir / "two"));

  o.schedule = "";
  o.epochs = 1;
  o.lr = 0.f;
  o.save = dir / "untrained";
  cli::train(o);
  o.lr = 0.05f;
  o.warmup = "2:1e-30";
  o.save = dir / "warm";
  cli::train(o);
  const auto a = weights(dir / "untrained"), b = weights(dir / "warm");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-20) << i;

  o.warmup = "";
  o.clip_grad_norm = 1e-3f;
  o.save = dir / "clipped";
  cli::train(o);
  EXPECT_NE(weights(dir / "one"), weights(dir / "clipped"));
  EXPECT_NE(weights(dir / "untrained"), weights(dir / "clipped"));
}

TEST(Train, CsvDataTrainsAndEvaluates) {
  TempDir dir;
  // Two separable classes: label = (x0 + x1 > 0).
  std::string text = "x0,x1,y\n";
  nabla::data::Rng rng(1);
  for (int i = 0; i < 400; ++i) {
    const double a = static_cast<double>(rng.below(2001)) / 1000 - 1, b = static_cast<double>(rng.below(2001)) / 1000 - 1;
    text += std::to_string(a) + "," + std::to_string(b) + "," + (a + b > 0 ? "1" : "0") + "\n";
  }
  std::ofstream(dir / "d.csv") << text;
  cli::TrainOptions o;
  o.model = "logreg";
  o.data = dir / "d.csv";
  o.test_data = dir / "d.csv";
  o.label = "y";
  o.epochs = 20;
  o.lr = 0.05f;
  o.save = dir / "m";
  const auto h = cli::train(o);
  EXPECT_GT(h.back().test_accuracy, 0.95);
  EXPECT_GT(cli::evaluate_file(dir / "m", dir / "d.csv", "y").accuracy, 0.95);
}

// A model with BatchNorm and Dropout trains, evaluates (in eval mode), and a
// file without its buffers is one clear error line from `nabla eval`.
TEST(Binary, BatchNormModelFilesNeedTheirBuffers) {
  TempDir dir;
  std::string text = "x0,x1,y\n";
  nabla::data::Rng rng(2);
  for (int i = 0; i < 300; ++i) {
    const double a = static_cast<double>(rng.below(2001)) / 1000 - 1, b = static_cast<double>(rng.below(2001)) / 1000 - 1;
    text += std::to_string(a) + "," + std::to_string(b) + "," + (a + b > 0 ? "1" : "0") + "\n";
  }
  std::ofstream(dir / "d.csv") << text;
  cli::TrainOptions o;
  o.model = "dense 8 | batchnorm relu | dropout 0.2 | dense 1 sigmoid";
  o.data = dir / "d.csv";
  o.test_data = dir / "d.csv";
  o.label = "y";
  o.epochs = 10;
  o.lr = 0.05f;
  o.save = dir / "m";
  const auto h = cli::train(o);
  EXPECT_GT(h.back().test_accuracy, 0.9);
  const auto e = cli::evaluate_file(dir / "m", dir / "d.csv", "y");
  EXPECT_EQ(e.accuracy, h.back().test_accuracy);  // the same eval-mode pass
  // The same file with the buffer renamed, and with the counter's dtype changed.
  std::ifstream in(dir / "m", std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [from, to, message] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"\"1.running_mean\"", "\"1.running_meam\"", "missing buffer '1.running_mean'"},
           {"\"dtype\":\"I64\"", "\"dtype\":\"F64\"", "'1.num_batches_tracked' has dtype F64"}}) {
    SCOPED_TRACE(message);
    std::string bad = good;
    const size_t at = bad.find(from);
    ASSERT_NE(at, std::string::npos);
    bad.replace(at, from.size(), to);
    std::ofstream(dir / "bad", std::ios::binary) << bad;
    std::string out, err;
    EXPECT_EQ(run_nabla("eval --model " + dir / "bad" + " --data " + dir / "d.csv" + " --label y", out, err, dir), 1);
    EXPECT_EQ(err.rfind("nabla: error: ", 0), 0u) << err;
    EXPECT_NE(err.find(message), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_TRUE(out.empty()) << out;
  }
}

TEST(Binary, ErrorsAreOneLineOnStderrAndNoFileIsWritten) {
  TempDir dir;
  std::string out, err;
  struct Case {
    std::string args, message;
  };
  const std::string model = dir / "m.safetensors";
  for (const Case& c : std::vector<Case>{
           {"train --model 'dense 10 | maxpool 2' --save " + model, "needs image input"},
           {"train --model 'dense x' --save " + model, "model spec, layer 0 'dense x'"},
           {"train --data /nonexistent --save " + model, "'/nonexistent': no such directory"},
           {"train --model mlp --save /nonexistent/dir/m.safetensors", "directory '/nonexistent/dir' does not exist"},
           {"train --model mlp --log /nonexistent/x.csv", "--log '/nonexistent/x.csv'"},
           {"train --model mlp --epochs 0 --save " + model, "--epochs 0"},
           {"train --model mlp --resume " + dir / "missing.ckpt", "cannot open"},
           {"eval --model " + dir / "missing", "cannot open"},
           {"train --model mlp --optimizer adagrad --save " + model, "--optimizer 'adagrad': expected sgd, adam, adamw or rmsprop"},
           {"train --model mlp --optimizer adam --nesterov --save " + model, "--nesterov applies to --optimizer sgd"},
           {"train --model mlp --optimizer sgd --momentum 0 --nesterov --save " + model, "--nesterov needs --momentum > 0"},
           {"train --model mlp --optimizer rmsprop --lr -1 --save " + model, "RMSprop: learning rate"},
           {"train --model mlp --schedule step:0:0.5 --save " + model, "--schedule 'step:0:0.5': StepLR: step_size 0"},
           {"train --model mlp --schedule step:2 --save " + model, "--schedule 'step:2': expected step:EPOCHS:GAMMA"},
           {"train --model mlp --schedule cosine:x --save " + model, "--schedule 'cosine:x': 'x' is not a valid number"},
           {"train --model mlp --schedule linear --save " + model, "--schedule 'linear': expected"},
           {"train --model mlp --warmup 0 --save " + model, "--warmup '0'"},
           {"train --model mlp --warmup 2:1.5 --save " + model, "--warmup '2:1.5'"},
           {"train --model mlp --clip-grad-norm -1 --save " + model, "--clip-grad-norm -1"},
       }) {
    SCOPED_TRACE(c.args);
    EXPECT_EQ(run_nabla(c.args, out, err, dir), 1);
    EXPECT_EQ(err.rfind("nabla: error: ", 0), 0u) << err;
    EXPECT_NE(err.find(c.message), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_FALSE(fs::exists(model));
  }
  EXPECT_NE(run_nabla("train --lr abc", out, err, dir), 0);  // CLI11's own parse errors
  EXPECT_NE(run_nabla("frobnicate", out, err, dir), 0);
  EXPECT_EQ(run_nabla("info", out, err, dir), 0);
  EXPECT_NE(out.find("gemm:"), std::string::npos) << out;
  EXPECT_EQ(run_nabla("train --help", out, err, dir), 0);
  EXPECT_NE(out.find("conv OUT_CHANNELS KERNEL [stride STRIDE] [pad PADDING] [ACT]"), std::string::npos);
  EXPECT_NE(out.find("lenet"), std::string::npos);
  for (const char* o : {"adamw", "rmsprop", "--nesterov", "--schedule", "step:EPOCHS:GAMMA", "cosine", "--warmup",
                        "--clip-grad-norm"})
    EXPECT_NE(out.find(o), std::string::npos) << o;
}
