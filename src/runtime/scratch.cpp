#include "nabla/runtime/scratch.hpp"

#include <cstdlib>
#include <new>

namespace nabla {

ScratchBuffer::~ScratchBuffer() { std::free(p_); }

float* ScratchBuffer::get(int64_t n) {
  const auto need = static_cast<size_t>(n < 0 ? 0 : n);
  if (need > cap_ || !p_) {
    std::free(p_);
    p_ = nullptr;
    cap_ = 0;
    const size_t bytes = (need * sizeof(float) + 63) / 64 * 64 + (need == 0 ? 64 : 0);
    p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p_) throw std::bad_alloc();
    cap_ = bytes / sizeof(float);
  }
  return p_;
}

}  // namespace nabla
