#pragma once
/// \file dataset.hpp  A labelled dataset in memory, the operations the
/// command line applies to one (class subset, first N samples, mean/std
/// normalisation), and the seeded shuffling mini-batch iterator.
#include <cstdint>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::data {

/// Samples and their classes: x is [N, F] for tabular rows or [N, C, H, W]
/// for images (NCHW, as Conv2D wants them); labels[i] is in [0, num_classes).
struct Dataset {
  Tensor x;                     ///< the samples, batch first
  std::vector<int32_t> labels;  ///< one class index per sample
  int64_t num_classes = 0;      ///< 1 + the largest class index the source can hold

  /// Number of samples.
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  /// The shape of one sample (x's shape without the batch dimension).
  std::vector<int64_t> sample_shape() const;
};

/// The samples whose class is in `classes`, in their original order, with
/// labels remapped to the position in `classes` (so {0, 6} gives a binary
/// dataset with labels 0 and 1). Throws nabla::Error for an empty list, a
/// repeated class or one outside [0, num_classes).
Dataset select_classes(const Dataset& data, const std::vector<int32_t>& classes);

/// The first n samples (all of them when n >= size()); throws nabla::Error
/// for n < 1.
Dataset take(const Dataset& data, int64_t n);

/// Mean and standard deviation over every value of a dataset.
struct Moments {
  float mean = 0.f;    ///< mean of all values
  float stddev = 1.f;  ///< population standard deviation
};

/// The mean and standard deviation of data.x (computed in double).
Moments moments(const Dataset& data);

/// x = (x − mean) / stddev in place; throws nabla::Error for stddev <= 0.
void normalize(Dataset& data, const Moments& m);

/// A small seeded generator (splitmix64) whose whole state is one integer,
/// so a checkpoint can store it: the same seed gives the same shuffles on
/// every platform (unlike std::shuffle, whose algorithm is unspecified).
class Rng {
 public:
  /// Starts from a seed (any value).
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  /// The next 64 random bits.
  uint64_t next();
  /// Uniform in [0, n), without modulo bias; n >= 1.
  uint64_t below(uint64_t n);
  /// The whole state, for checkpoints.
  uint64_t state() const { return state_; }
  /// Restores a state from state().
  void set_state(uint64_t s) { state_ = s; }

 private:
  uint64_t state_;
};

/// Mini-batches over a dataset, in order or shuffled per epoch, the last
/// partial batch kept. Buffers for the full and the partial batch are
/// allocated once, in the constructor: iterating never allocates.
///
///     BatchIterator it(train, 64);
///     it.start(&rng);                  // a new shuffled epoch
///     while (it.next()) { model.forward(it.x()); ... it.y() ... }
class BatchIterator {
 public:
  /// data must outlive the iterator. Targets y() are class indices as
  /// floats, shaped [B] (SoftmaxCrossEntropy) or, with column_targets,
  /// [B, 1] (BinaryCrossEntropy). Throws nabla::Error for an empty dataset
  /// or batch_size < 1.
  BatchIterator(const Dataset& data, int64_t batch_size, bool column_targets = false);

  /// Number of batches per epoch (the last one may be partial).
  int64_t num_batches() const;
  /// Begins an epoch: in dataset order when rng is null, else in an order
  /// drawn from rng (Fisher–Yates).
  void start(Rng* rng);
  /// Moves to the next batch; false when the epoch is over.
  bool next();
  /// The current batch's samples, [B, ...sample shape].
  const Tensor& x() const { return *x_cur_; }
  /// The current batch's targets (see the constructor).
  const Tensor& y() const { return *y_cur_; }
  /// The current batch's class indices (y() as integers), B of them.
  const int32_t* labels() const { return labels_.data(); }
  /// B, the current batch's size.
  int64_t batch_size() const { return x_cur_->size(0); }

 private:
  const Dataset& data_;
  int64_t batch_;
  std::vector<int64_t> order_;
  std::vector<int32_t> labels_;
  int64_t pos_ = 0;
  Tensor x_full_, y_full_, x_part_, y_part_;
  const Tensor* x_cur_ = nullptr;
  const Tensor* y_cur_ = nullptr;
};

}  // namespace nabla::data
