#pragma once
// How the element-wise kernel families split work over oneTBB. Generic
// code (the dispatchers); the per-ISA kernels are called on sub-ranges.
//
// Cut-offs: waking an idle worker costs 60–76 µs on the reference machine
// (../shared/BASELINES.md), so a kernel stays on the calling thread unless
// each of two halves is worth much more than that: 1 Mi elements for
// memory-bound kernels (~8 MB moved), 128 Ki elements for the ones that
// compute exp/tanh/log per element.
//
// Reductions are cut into blocks whose boundaries depend on the problem
// size only, each summed by one task, and combined in block order: the
// result is bitwise the same for any thread count (and serial).
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cstdint>

#include "nabla/runtime/threads.hpp"

namespace nabla::kernels::detail {

inline constexpr int64_t kParallelMinMemory = int64_t{1} << 20;
inline constexpr int64_t kParallelMinCompute = int64_t{1} << 17;

/// fn(begin, end) over [0, n) in pieces of at least `grain`, in parallel
/// when n >= min_parallel (and more than one thread is allowed), else on
/// the calling thread. Only for work whose result does not depend on the
/// pieces (element-wise kernels).
template <class F>
void parallel_ranges(int64_t n, int64_t min_parallel, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (n < min_parallel || num_threads() == 1) {
    fn(int64_t{0}, n);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, std::max<int64_t>(1, grain)),
                    [&](const tbb::blocked_range<int64_t>& r) { fn(r.begin(), r.end()); });
}

/// Σ_b fn(begin_b, end_b) over fixed blocks of [0, n): at most kMaxBlocks
/// blocks of at least min_block units, boundaries multiples of `align`,
/// summed in block order. Runs the blocks in parallel when n >= min_parallel.
template <class F>
double parallel_block_sum(int64_t n, int64_t min_block, int64_t align, int64_t min_parallel, F&& fn) {
  constexpr int64_t kMaxBlocks = 64;
  if (n <= 0) return 0;
  const int64_t nb = std::clamp<int64_t>(n / std::max<int64_t>(1, min_block), 1, kMaxBlocks);
  auto bound = [&](int64_t b) { return b == nb ? n : n * b / nb / align * align; };
  double partial[kMaxBlocks];
  auto run = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) partial[b] = fn(bound(b), bound(b + 1));
  };
  if (nb == 1 || n < min_parallel || num_threads() == 1) {
    run(0, nb);
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, nb, 1),
                      [&](const tbb::blocked_range<int64_t>& r) { run(r.begin(), r.end()); });
  }
  double total = 0;
  for (int64_t b = 0; b < nb; ++b) total += partial[b];
  return total;
}

}  // namespace nabla::kernels::detail
