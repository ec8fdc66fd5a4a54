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
  /// Loss fusion hint (see src/nn/sequential.cpp). A loss gradient dL/dA of a
  /// prediction A may carry dL/dZ for A = sigmoid(Z) computed directly as
  /// (A − Y)/n: `fused_dz`, valid for the prediction stored at `fused_of`.
  /// The mutable data() accessor clears it, so a gradient the caller has
  /// modified is always used as it is.
  std::shared_ptr<Impl> fused_dz;
  const float* fused_of = nullptr;
};

namespace detail {

/// Internal access to a Tensor's representation.
struct TensorAccess {
  using Impl = Tensor::Impl;
  static Impl* impl(const Tensor& t) { return t.impl_.get(); }
  static const std::shared_ptr<Impl>& shared(const Tensor& t) { return t.impl_; }
  /// Writable data without clearing the fusion hint.
  static float* data(const Tensor& t) { return t.impl_ ? t.impl_->data : nullptr; }
};

}  // namespace detail
}  // namespace nabla
