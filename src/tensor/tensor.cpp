#include "nabla/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <numbers>

#include "nabla/error.hpp"
#include "tensor/tensor_internal.hpp"

namespace nabla {
namespace {

constexpr std::align_val_t kAlign{64};

int64_t checked_numel(const std::vector<int64_t>& shape, const char* what) {
  if (shape.size() > 4)
    throw Error(std::string(what) + ": rank " + std::to_string(shape.size()) + " of shape " +
                shape_string(shape) + " is above 4");
  int64_t n = 1;
  for (int64_t e : shape) {
    if (e < 0) throw Error(std::string(what) + ": negative extent in shape " + shape_string(shape));
    n *= e;
  }
  return shape.empty() ? 0 : n;
}

std::shared_ptr<float> allocate(int64_t n) {
  auto* p = static_cast<float*>(::operator new(static_cast<size_t>(n) * sizeof(float), kAlign));
  std::memset(p, 0, static_cast<size_t>(n) * sizeof(float));
  return std::shared_ptr<float>(p, [](float* q) { ::operator delete(q, kAlign); });
}

// splitmix64: a tiny generator with the same output everywhere.
struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

const std::vector<int64_t> kNoShape;

}  // namespace

Tensor::Tensor(std::vector<int64_t> shape) {
  const int64_t n = checked_numel(shape, "Tensor");
  if (shape.empty()) return;
  impl_ = std::make_shared<Impl>();
  impl_->numel = n;
  impl_->shape = std::move(shape);
  if (n > 0) {
    impl_->storage = allocate(n);
    impl_->data = impl_->storage.get();
  }
}

Tensor Tensor::adopt(float* data, std::vector<int64_t> shape, std::shared_ptr<void> owner) {
  const int64_t n = checked_numel(shape, "Tensor::adopt");
  if (n == 0) throw Error("Tensor::adopt: empty shape " + shape_string(shape));
  if (data == nullptr) throw Error("Tensor::adopt: null data for shape " + shape_string(shape));
  if (reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(kAlign) != 0)
    throw Error("Tensor::adopt: data for shape " + shape_string(shape) + " is not 64-byte aligned");
  Tensor t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->numel = n;
  t.impl_->shape = std::move(shape);
  // Aliasing constructor: the storage points at data and shares owner's count.
  t.impl_->storage = std::shared_ptr<float>(std::move(owner), data);
  t.impl_->data = data;
  return t;
}

const std::vector<int64_t>& Tensor::shape() const { return impl_ ? impl_->shape : kNoShape; }

int64_t Tensor::size(int64_t i) const {
  const int64_t r = rank();
  if (i < -r || i >= r)
    throw Error("Tensor::size: dimension " + std::to_string(i) + " out of range for shape " +
                shape_string(shape()));
  return shape()[static_cast<size_t>(i < 0 ? i + r : i)];
}

int64_t Tensor::numel() const { return impl_ ? impl_->numel : 0; }

float* Tensor::data() { return impl_ ? impl_->data : nullptr; }

const float* Tensor::data() const { return impl_ ? impl_->data : nullptr; }

Tensor Tensor::reshape(std::vector<int64_t> shape) const {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && infer < 0) {
      infer = static_cast<int64_t>(i);
    } else if (shape[i] < 0) {
      throw Error("Tensor::reshape: invalid shape " + shape_string(shape) + " for " +
                  shape_string(this->shape()));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      throw Error("Tensor::reshape: cannot infer -1 in " + shape_string(shape) + " from " +
                  shape_string(this->shape()) + " (" + std::to_string(numel()) + " elements)");
    shape[static_cast<size_t>(infer)] = numel() / known;
  }
  const int64_t n = checked_numel(shape, "Tensor::reshape");
  if (n != numel())
    throw Error("Tensor::reshape: shape " + shape_string(shape) + " has " + std::to_string(n) +
                " elements, tensor " + shape_string(this->shape()) + " has " +
                std::to_string(numel()));
  Tensor t;
  if (shape.empty()) return t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->shape = std::move(shape);
  t.impl_->numel = n;
  if (impl_) {
    t.impl_->storage = impl_->storage;
    t.impl_->data = impl_->data;
  }
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(shape());
  if (numel() > 0) std::memcpy(t.impl_->data, data(), static_cast<size_t>(numel()) * sizeof(float));
  return t;
}

void Tensor::fill(float v) {
  float* p = data();
  for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = v;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.numel() != numel())
    throw Error("Tensor::copy_from: source " + shape_string(src.shape()) + " has " +
                std::to_string(src.numel()) + " elements, destination " + shape_string(shape()) +
                " has " + std::to_string(numel()));
  if (numel() > 0 && src.data() != data())
    std::memmove(data(), src.data(), static_cast<size_t>(numel()) * sizeof(float));
}

bool Tensor::unique() const {
  if (!impl_) return true;
  return impl_.use_count() == 1 && (!impl_->storage || impl_->storage.use_count() == 1);
}

Tensor Tensor::uniform(std::vector<int64_t> shape, float lo, float hi, uint64_t seed) {
  Tensor t(std::move(shape));
  SplitMix64 g{seed};
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = static_cast<float>(lo + (static_cast<double>(hi) - lo) * g.unit());
  return t;
}

Tensor Tensor::normal(std::vector<int64_t> shape, float mean, float stddev, uint64_t seed) {
  Tensor t(std::move(shape));
  SplitMix64 g{seed};
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); i += 2) {
    const double u1 = 1.0 - g.unit(), u2 = g.unit();  // u1 in (0, 1]
    const double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * std::numbers::pi * u2;
    p[i] = static_cast<float>(mean + stddev * r * std::cos(a));
    if (i + 1 < t.numel()) p[i + 1] = static_cast<float>(mean + stddev * r * std::sin(a));
  }
  return t;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace nabla
