#pragma once
/// \file tensor.hpp  nabla::Tensor: float32, row-major, 64-byte aligned, rank ≤ 4.
///
/// A Tensor is a handle to shared storage, like torch::Tensor: copying one
/// (or reshape()) gives another view of the same floats; clone() makes an
/// independent copy. Copies never allocate, which is what lets a training
/// step run without touching the heap.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nabla {

namespace detail {
struct TensorAccess;
}

/// Owning, contiguous, row-major float32 array of rank 0 to 4, its data
/// 64-byte aligned. The empty Tensor (default-constructed, or any shape with
/// a zero extent) has numel() == 0.
class Tensor {
 public:
  /// The empty tensor: shape {}, numel() == 0, data() == nullptr.
  Tensor() = default;
  /// A zero-filled tensor of this shape. Throws nabla::Error for a rank
  /// above 4 or a negative extent. An empty shape gives the empty tensor.
  explicit Tensor(std::vector<int64_t> shape);

  /// A tensor over memory nabla did not allocate (no copy): `data` holds
  /// numel(shape) floats, contiguous and row-major, 64-byte aligned like
  /// every Tensor's, and stays valid while `owner` is alive; the last Tensor
  /// sharing this storage (views and copies included) releases `owner`. This
  /// is how the Python module hands a NumPy array to nabla without copying
  /// it. Throws nabla::Error for a null or misaligned `data`, or a shape as
  /// the constructor rejects it (or an empty one).
  static Tensor adopt(float* data, std::vector<int64_t> shape, std::shared_ptr<void> owner);

  /// The extents, exactly rank() entries.
  const std::vector<int64_t>& shape() const;
  /// Number of dimensions.
  int64_t rank() const { return static_cast<int64_t>(shape().size()); }
  /// Extent of dimension i (negative i counts from the end); throws
  /// nabla::Error when out of range.
  int64_t size(int64_t i) const;
  /// Number of elements (0 for the empty tensor).
  int64_t numel() const;
  /// The elements, contiguous and row-major; nullptr when empty.
  float* data();
  /// The elements, read-only.
  const float* data() const;

  /// A view of the same storage with another shape of the same numel; one
  /// extent may be -1 (inferred). Throws nabla::Error when the element
  /// counts differ or the shape is invalid.
  Tensor reshape(std::vector<int64_t> shape) const;
  /// An independent copy (new storage, same shape and values).
  Tensor clone() const;
  /// Sets every element to v.
  void fill(float v);
  /// Copies the values of src, which must have the same numel (shapes may
  /// differ); throws nabla::Error otherwise.
  void copy_from(const Tensor& src);
  /// True when no other Tensor shares this storage.
  bool unique() const;

  /// Uniform values in [lo, hi) from a seed (same seed, same values, on
  /// every platform).
  static Tensor uniform(std::vector<int64_t> shape, float lo, float hi, uint64_t seed);
  /// Normal values N(mean, stddev²) from a seed (Box–Muller over the same
  /// generator as uniform()).
  static Tensor normal(std::vector<int64_t> shape, float mean, float stddev, uint64_t seed);

 private:
  friend struct detail::TensorAccess;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// "[64, 1, 28, 28]".
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace nabla
