#pragma once
/// \file scratch.hpp  Grow-only, 64-byte aligned scratch memory: what the
/// kernels keep per thread (GEMM packing panels, convolution column
/// matrices and padded images) so that a steady-state call allocates
/// nothing. Defined out of line (src/runtime/scratch.cpp, generic flags), so
/// that per-ISA translation units never share an ISA-specific copy.
#include <cstddef>
#include <cstdint>

namespace nabla {

/// A float buffer that is reallocated only when asked for more than it
/// holds; the contents are not kept across a growth. Not copyable.
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer();
  /// At least n floats, 64-byte aligned (the size rounded up to 64 bytes);
  /// throws std::bad_alloc when memory runs out.
  float* get(int64_t n);
  /// Floats held now.
  size_t capacity() const { return cap_; }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace nabla
