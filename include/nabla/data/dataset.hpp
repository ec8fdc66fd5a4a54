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

/// The part of a global batch of n samples that one of `ranks` data-parallel
/// replicas takes: the contiguous slice [begin, begin + count). Slices are in
/// rank order, cover [0, n) exactly once, and their sizes differ by at most
/// one (the first n % ranks ranks take one more; with n < ranks the last
/// ranks take none).
struct Shard {
  int64_t begin = 0;  ///< first sample of the slice, within the global batch
  int64_t count = 0;  ///< number of samples, possibly 0
};

/// The slice of rank in [0, ranks) (see Shard); throws nabla::Error for
/// n < 0, ranks < 1 or a rank outside [0, ranks).
Shard shard_of(int64_t n, int rank, int ranks);

/// Random transforms of image samples [C, H, W] drawn afresh each epoch
/// (torchvision's RandomCrop(size, padding) and RandomHorizontalFlip()).
/// The draws for a sample are a hash of (seed, epoch, the sample's index in
/// the dataset) — no generator state — so they do not depend on the batch
/// order, the batch size, the thread count or the data-parallel ranks, and
/// a resumed run draws what an uninterrupted one does.
struct Augment {
  /// > 0: a crop of the sample's size at a random offset from the image
  /// zero-padded by this many pixels on each side ("zero" is `fill`, the
  /// value a raw 0 has after normalisation).
  int64_t crop_padding = 0;
  bool flip = false;  ///< mirror left–right with probability 1/2
  float fill = 0.f;   ///< the padded pixels' value
  bool any() const { return crop_padding > 0 || flip; }
};

/// Writes to dst the sample src [C, H, W] (shape without the batch)
/// transformed by `a` with the draws of (seed, epoch, index), in one pass
/// (src and dst must not overlap). Throws nabla::Error for a sample that is
/// not an image or a negative padding.
void augment_sample(const Augment& a, uint64_t seed, int64_t epoch, int64_t index, const std::vector<int64_t>& shape,
                    const float* src, float* dst);

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

  /// Makes this iterator one of `ranks` data-parallel replicas: batch_size
  /// becomes the global batch, and next() yields only this rank's
  /// shard_of() slice of each global batch of the epoch's order. Given the
  /// same seed on every rank (the same order), the ranks together see every
  /// sample exactly once per epoch. Restarts the epoch in dataset order;
  /// throws nabla::Error for a bad rank or ranks.
  void set_shard(int rank, int ranks);
  /// Number of (global) batches per epoch (the last one may be partial).
  int64_t num_batches() const;
  /// Begins an epoch: in dataset order when rng is null, else in an order
  /// drawn from rng (Fisher–Yates).
  void start(Rng* rng);
  /// start(rng), and the epoch number the augmentation draws with.
  void start(Rng* rng, int64_t epoch);
  /// Applies `a` to every sample next() yields (see Augment), with draws
  /// from `seed` and the epoch given to start(). Throws nabla::Error when
  /// the samples are not images [C, H, W].
  void set_augment(const Augment& a, uint64_t seed);
  /// Moves to the next batch; false when the epoch is over.
  bool next();
  /// The current batch's samples, [B, ...sample shape].
  const Tensor& x() const { return *x_cur_; }
  /// The current batch's targets (see the constructor).
  const Tensor& y() const { return *y_cur_; }
  /// The current batch's class indices (y() as integers), B of them.
  const int32_t* labels() const { return labels_.data(); }
  /// B, the current batch's size (this rank's slice of it: may be 0).
  int64_t batch_size() const { return x_cur_->size(0); }
  /// The current global batch's size (batch_size() without set_shard()).
  int64_t global_batch_size() const { return global_cur_; }

 private:
  void allocate();

  const Dataset& data_;
  int64_t batch_;
  bool column_targets_;
  int rank_ = 0, ranks_ = 1;
  int64_t global_cur_ = 0;
  std::vector<int64_t> order_;
  std::vector<int32_t> labels_;
  int64_t pos_ = 0;
  Tensor x_full_, y_full_, x_part_, y_part_;
  const Tensor* x_cur_ = nullptr;
  const Tensor* y_cur_ = nullptr;
  Augment augment_;
  uint64_t augment_seed_ = 0;
  std::vector<int64_t> augment_shape_;
  int64_t epoch_ = 0;
};

}  // namespace nabla::data
