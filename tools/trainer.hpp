#pragma once
/// \file trainer.hpp  What `nabla train` and `nabla eval` do, as functions
/// the tests call directly; tools/main.cpp only maps options onto them.
///
/// Files a training run writes, each atomically (temporary file renamed
/// over the target, so none is ever partial):
/// - `--save PATH`: the model, safetensors (loads into the equivalent
///   torch.nn.Sequential), with __metadata__ nabla.spec, nabla.input,
///   nabla.classes and nabla.normalize so that `nabla eval` can rebuild it;
///   written after every epoch.
/// - `PATH.ckpt` beside it, after every epoch: one safetensors file holding
///   the parameters ("model.0.weight", ...), the optimiser's state
///   ("optim.0", ... in the optimiser's state() order) and, as metadata, the
///   epoch, optimiser step count, schedule epoch, shuffling RNG state, the settings that
///   define the run and the history so far. `--resume PATH.ckpt` restores
///   all of it and ends bitwise identical to an uninterrupted run.
/// - `--log CSV` and `--plot SVG`: the history, rewritten after every epoch.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nabla/data/dataset.hpp"

namespace nabla::dist {
class World;  // nabla/dist/mpi.hpp, when built with MPI
}  // namespace nabla::dist

namespace nabla::cli {

/// Where Debian's dataset-fashion-mnist installs the IDX files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// The options of `nabla train` (defaults are the command line's).
struct TrainOptions {
  std::string model = "cnn";  ///< preset name or model spec
  std::string data = kFashionMnistDir;  ///< IDX directory or CSV file
  std::string test_data;      ///< CSV test file (IDX: the directory's t10k files)
  std::string label = "0";    ///< CSV label column (name or index)
  int epochs = 5;
  int64_t batch = 64;
  float lr = 1e-3f;
  float momentum = 0.9f;       ///< SGD's
  std::string optimizer = "adam";  ///< "sgd", "adam", "adamw" or "rmsprop"
  float weight_decay = 0.f;    ///< L2 (decoupled for adamw)
  bool nesterov = false;       ///< SGD's Nesterov momentum
  /// Learning-rate schedule, stepped per epoch: "" (constant),
  /// "step:EPOCHS:GAMMA" (StepLR) or "cosine[:T_MAX[:ETA_MIN]]"
  /// (CosineAnnealingLR; T_MAX defaults to epochs and is written out when
  /// the run starts, so a checkpoint keeps it).
  std::string schedule;
  /// Linear warm-up, "" (none) or "EPOCHS[:START_FACTOR]" (start factor
  /// 1/3 by default, as torch's LinearLR).
  std::string warmup;
  float clip_grad_norm = 0.f;  ///< max L2 norm of all gradients per step (0: no clipping)
  /// Training-time augmentation of image samples: "" or a comma list of
  /// "crop" (random crop after zero padding of 2 pixels; "crop:P" pads P)
  /// and "flip" (horizontal flip with probability 1/2). Seeded by --seed.
  std::string augment;
  uint64_t seed = 0;
  int threads = 0;               ///< 0: nabla's default
  std::vector<int32_t> classes;  ///< subset of classes, remapped to 0..k-1
  int64_t limit = 0;             ///< first N training samples (0: all)
  bool normalize = true;         ///< standardise by the training set's mean/std
  std::string save, resume, log, plot;
  /// Options the user set explicitly; with resume, these must agree with the
  /// checkpoint (the rest are taken from it). Names as on the command line
  /// ("lr", "model", ...).
  std::vector<std::string> given;
};

/// The figures of one epoch.
struct EpochStats {
  int epoch = 0;               ///< 1-based
  double train_loss = 0;       ///< mean over the epoch's batches, weighted by size
  double train_accuracy = 0;   ///< of the predictions made while training
  double test_loss = 0;        ///< NaN without test data
  double test_accuracy = 0;    ///< NaN without test data
  double seconds = 0;          ///< training time (not the test pass)
  double samples_per_s = 0;    ///< training samples per second
};

/// What a training run reports as it goes.
struct TrainObserver {
  /// Once, before the first epoch: the model summary and the data.
  std::function<void(const std::string& text)> on_start;
  /// After each batch: epoch (1-based), batches done, batches in total, the
  /// running mean loss and accuracy.
  std::function<void(int epoch, int64_t done, int64_t total, double loss, double accuracy)> on_batch;
  /// After each epoch.
  std::function<void(const EpochStats&)> on_epoch;
  /// Once, after the last epoch: closing remarks (with several ranks, the
  /// cost of the gradient reduction).
  std::function<void(const std::string& text)> on_end;
};

/// Trains as the options say; returns every epoch's figures (from the
/// checkpoint's history too when resuming). Throws nabla::Error for any
/// problem, before training starts whenever it can be known then (data,
/// spec, shapes, output paths).
///
/// With a world of N > 1 ranks (every rank calls train with its options),
/// training is data-parallel: `batch` is per rank, each global batch of
/// N·batch samples of the shared shuffled order is split by
/// data::shard_of, rank 0's initial weights and optimiser state are
/// broadcast, the gradients are summed in one buffer per step
/// (dist::GradientReducer, each rank's scaled by its share of the global
/// batch), and the result equals training on one rank with batch N·batch
/// to float32 rounding. Only rank 0 calls the observer and writes files;
/// the checkpoint records N and --resume needs the same N. The model specs
/// and the run's settings are compared between ranks first; an error any
/// rank meets before training is raised on every rank as a
/// dist::CollectiveError (rank 0's message names it).
std::vector<EpochStats> train(const TrainOptions& options, const TrainObserver& observer = {},
                              const dist::World* world = nullptr);

/// The result of evaluating a model on a dataset.
struct Evaluation {
  double loss = 0;      ///< mean loss
  double accuracy = 0;  ///< fraction right
  std::vector<std::vector<int64_t>> confusion;  ///< [true class][predicted class]
};

/// `nabla eval`: rebuilds the model saved at model_path (from its metadata),
/// loads it, and evaluates it on the test split of data (IDX directory, or a
/// CSV file with the label column `label`).
Evaluation evaluate_file(const std::string& model_path, const std::string& data, const std::string& label = "0");

/// The CSV log text for a history (header + one line per epoch).
std::string log_csv(const std::vector<EpochStats>& history);

/// An SVG picture of a history: loss and accuracy per epoch, train and test.
std::string plot_svg(const std::vector<EpochStats>& history, const std::string& title);


}  // namespace nabla::cli
