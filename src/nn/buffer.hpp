#pragma once
// Reusable output buffers for tensors nn hands to the caller.
#include <cstdint>
#include <utility>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::nn::detail {

/// Makes `cur` a tensor of `shape` that nobody outside holds, without
/// allocating when possible: reuses cur if unique, else swaps in `spare` if
/// that is unique (the caller keeps the previous result, unchanged), else
/// allocates. The contents are stale either way.
inline void acquire(Tensor& cur, Tensor& spare, const std::vector<int64_t>& shape) {
  if (cur.shape() == shape && cur.unique()) return;
  if (spare.shape() == shape && spare.unique()) {
    std::swap(cur, spare);
    return;
  }
  if (cur.shape() == shape) spare = std::move(cur);  // still held outside; becomes the spare
  cur = Tensor(shape);
}

}  // namespace nabla::nn::detail
