#pragma once
// Tensor's representation, shared by src/tensor and src/nn (never installed).
#include <cstdint>
#include <memory>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla {

struct Tensor::Impl {
  std::vector<int64_t> shape;
  int64_t numel = 0;
  std::shared_ptr<float> storage;  ///< the aligned block, shared by views
  float* data = nullptr;
};

namespace detail {

/// Internal access to a Tensor's representation.
struct TensorAccess {
  using Impl = Tensor::Impl;
  static Impl* impl(const Tensor& t) { return t.impl_.get(); }
  static const std::shared_ptr<Impl>& shared(const Tensor& t) { return t.impl_; }
};

}  // namespace detail
}  // namespace nabla
