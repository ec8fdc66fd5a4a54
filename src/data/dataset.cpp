#include "nabla/data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "nabla/error.hpp"

namespace nabla::data {

namespace {

int64_t sample_numel(const Dataset& d) { return d.size() == 0 ? 0 : d.x.numel() / d.size(); }

// A dataset holding the samples `index` of src, in that order.
Dataset gather(const Dataset& src, const std::vector<int64_t>& index) {
  Dataset out;
  out.num_classes = src.num_classes;
  if (index.empty()) return out;
  std::vector<int64_t> shape = src.x.shape();
  shape[0] = static_cast<int64_t>(index.size());
  out.x = Tensor(shape);
  const int64_t per = sample_numel(src);
  out.labels.reserve(index.size());
  for (size_t i = 0; i < index.size(); ++i) {
    std::memcpy(out.x.data() + static_cast<int64_t>(i) * per, src.x.data() + index[i] * per,
                static_cast<size_t>(per) * sizeof(float));
    out.labels.push_back(src.labels[static_cast<size_t>(index[i])]);
  }
  return out;
}

}  // namespace

std::vector<int64_t> Dataset::sample_shape() const {
  const auto& s = x.shape();
  return s.empty() ? s : std::vector<int64_t>(s.begin() + 1, s.end());
}

Dataset select_classes(const Dataset& data, const std::vector<int32_t>& classes) {
  if (classes.empty()) throw Error("select_classes: the class list is empty");
  std::vector<int32_t> remap(static_cast<size_t>(data.num_classes), -1);
  for (size_t i = 0; i < classes.size(); ++i) {
    const int32_t c = classes[i];
    if (c < 0 || c >= data.num_classes)
      throw Error("select_classes: class " + std::to_string(c) + " is outside [0, " +
                  std::to_string(data.num_classes) + ")");
    if (remap[static_cast<size_t>(c)] >= 0)
      throw Error("select_classes: class " + std::to_string(c) + " is listed twice");
    remap[static_cast<size_t>(c)] = static_cast<int32_t>(i);
  }
  std::vector<int64_t> index;
  for (int64_t i = 0; i < data.size(); ++i)
    if (remap[static_cast<size_t>(data.labels[static_cast<size_t>(i)])] >= 0) index.push_back(i);
  Dataset out = gather(data, index);
  for (int32_t& l : out.labels) l = remap[static_cast<size_t>(l)];
  out.num_classes = static_cast<int64_t>(classes.size());
  return out;
}

Dataset take(const Dataset& data, int64_t n) {
  if (n < 1) throw Error("take: sample count " + std::to_string(n) + " < 1");
  if (n >= data.size()) return data;
  std::vector<int64_t> index(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) index[static_cast<size_t>(i)] = i;
  return gather(data, index);
}

Moments moments(const Dataset& data) {
  const int64_t n = data.x.numel();
  if (n == 0) return {};
  const float* x = data.x.data();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  return {static_cast<float>(mean), static_cast<float>(std::sqrt(sq / static_cast<double>(n)))};
}

void normalize(Dataset& data, const Moments& m) {
  if (!(m.stddev > 0.f)) throw Error("normalize: standard deviation " + std::to_string(m.stddev) + " <= 0");
  float* x = data.x.data();
  const float inv = 1.f / m.stddev;
  for (int64_t i = 0, n = data.x.numel(); i < n; ++i) x[i] = (x[i] - m.mean) * inv;
}

namespace {

// splitmix64's finaliser: a well-mixed 64-bit function of a counter (Rng's
// output function, and the augmentation's draw from (seed, epoch, sample)).
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t Rng::next() { return mix(state_ += 0x9e3779b97f4a7c15ull); }

uint64_t Rng::below(uint64_t n) {
  // Reject the top partial copy of [0, n) so every value is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r;
  do r = next();
  while (r >= limit);
  return r % n;
}

Shard shard_of(int64_t n, int rank, int ranks) {
  if (n < 0 || ranks < 1 || rank < 0 || rank >= ranks)
    throw Error("shard_of: rank " + std::to_string(rank) + " of " + std::to_string(ranks) + " ranks, batch " +
                std::to_string(n) + ": expected 0 <= rank < ranks and batch >= 0");
  const int64_t base = n / ranks, extra = n % ranks, r = rank;
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
}

BatchIterator::BatchIterator(const Dataset& data, int64_t batch_size, bool column_targets)
    : data_(data), batch_(batch_size), column_targets_(column_targets) {
  if (data.size() == 0) throw Error("BatchIterator: the dataset is empty");
  if (batch_size < 1) throw Error("BatchIterator: batch size " + std::to_string(batch_size) + " < 1");
  batch_ = std::min(batch_size, data.size());
  order_.resize(static_cast<size_t>(data.size()));
  allocate();
  start(nullptr);
}

void BatchIterator::set_shard(int rank, int ranks) {
  shard_of(0, rank, ranks);  // validates
  rank_ = rank;
  ranks_ = ranks;
  allocate();
  start(nullptr);
}

// Buffers for this rank's slice of a full and of the last partial batch.
void BatchIterator::allocate() {
  auto shapes = [&](int64_t b, Tensor& x, Tensor& y) {
    std::vector<int64_t> xs = data_.x.shape();
    xs[0] = b;
    x = Tensor(xs);
    y = column_targets_ ? Tensor({b, 1}) : Tensor({b});
  };
  const int64_t full = shard_of(batch_, rank_, ranks_).count;
  labels_.resize(static_cast<size_t>(full));
  shapes(full, x_full_, y_full_);
  if (const int64_t rest = data_.size() % batch_; rest != 0) shapes(shard_of(rest, rank_, ranks_).count, x_part_, y_part_);
}

int64_t BatchIterator::num_batches() const { return (data_.size() + batch_ - 1) / batch_; }

void augment_sample(const Augment& a, uint64_t seed, int64_t epoch, int64_t index, const std::vector<int64_t>& shape,
                    const float* src, float* dst) {
  if (shape.size() != 3)
    throw Error("augment: the samples are " + shape_string(shape) + ", not images [C, H, W]");
  if (a.crop_padding < 0) throw Error("augment: crop padding " + std::to_string(a.crop_padding) + " is negative");
  const int64_t c = shape[0], h = shape[1], w = shape[2], p = a.crop_padding;
  // One 64-bit draw per (seed, epoch, sample): bits for the two offsets and the flip.
  const uint64_t r = mix(mix(seed ^ 0x41554721ull) + mix(static_cast<uint64_t>(epoch)) * 0x9e3779b97f4a7c15ull +
                         static_cast<uint64_t>(index));
  const auto span = static_cast<uint64_t>(2 * p + 1);
  // Offsets in [-p, p]: the window of the padded image starting at (p + dy, p + dx).
  const int64_t dy = p > 0 ? static_cast<int64_t>((r & 0xffffffu) % span) - p : 0;
  const int64_t dx = p > 0 ? static_cast<int64_t>(((r >> 24) & 0xffffffu) % span) - p : 0;
  const bool flip = a.flip && ((r >> 63) & 1u) != 0;
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* in = src + ch * h * w;
    float* out = dst + ch * h * w;
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = y + dy;
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = (flip ? w - 1 - x : x) + dx;
        out[y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? in[sy * w + sx] : a.fill;
      }
    }
  }
}

void BatchIterator::set_augment(const Augment& a, uint64_t seed) {
  const std::vector<int64_t> shape = data_.sample_shape();
  if (a.any() && shape.size() != 3)
    throw Error("augment: the samples are " + shape_string(shape) + ", not images [C, H, W]");
  if (a.crop_padding < 0) throw Error("augment: crop padding " + std::to_string(a.crop_padding) + " is negative");
  augment_ = a;
  augment_seed_ = seed;
  augment_shape_ = shape;
}

void BatchIterator::start(Rng* rng, int64_t epoch) {
  start(rng);
  epoch_ = epoch;
}

void BatchIterator::start(Rng* rng) {
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
  if (rng)
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng->below(i)]);
  pos_ = 0;
  global_cur_ = batch_;
  x_cur_ = &x_full_;
  y_cur_ = &y_full_;
}

bool BatchIterator::next() {
  const int64_t n = data_.size();
  if (pos_ >= n) return false;
  const int64_t b = std::min(batch_, n - pos_);
  const Shard sh = shard_of(b, rank_, ranks_);
  Tensor& x = b == batch_ ? x_full_ : x_part_;
  Tensor& y = b == batch_ ? y_full_ : y_part_;
  const int64_t per = sample_numel(data_);
  for (int64_t i = 0; i < sh.count; ++i) {
    const int64_t src = order_[static_cast<size_t>(pos_ + sh.begin + i)];
    if (augment_.any())
      augment_sample(augment_, augment_seed_, epoch_, src, augment_shape_, data_.x.data() + src * per, x.data() + i * per);
    else
      std::memcpy(x.data() + i * per, data_.x.data() + src * per, static_cast<size_t>(per) * sizeof(float));
    labels_[static_cast<size_t>(i)] = data_.labels[static_cast<size_t>(src)];
    y.data()[i] = static_cast<float>(labels_[static_cast<size_t>(i)]);
  }
  pos_ += b;
  global_cur_ = b;
  x_cur_ = &x;
  y_cur_ = &y;
  return true;
}

}  // namespace nabla::data
