#pragma once
// Helpers shared by the element-wise kernel tests (activation, loss, pool,
// optim): ISA and thread-count sweeps, test sizes, special values, ulp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "nabla/runtime/cpu.hpp"
#include "nabla/runtime/threads.hpp"

namespace nabla::test {

/// Runs fn once per ISA the CPU has (lower ones forced), restoring the ISA.
inline void for_each_isa(const std::function<void(Isa)>& fn) {
  const Isa saved = active_isa();
  for (int i = 0; i <= static_cast<int>(cpu_info().best_isa); ++i) {
    set_isa(static_cast<Isa>(i));
    SCOPED_TRACE(std::string("isa ") + isa_name(static_cast<Isa>(i)));
    fn(static_cast<Isa>(i));
  }
  set_isa(saved);
}

/// Runs fn with 1, 2 and 3 threads, restoring the thread count.
inline void for_each_thread_count(const std::function<void(int)>& fn) {
  const int saved = num_threads();
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    SCOPED_TRACE("threads " + std::to_string(t));
    fn(t);
  }
  set_num_threads(saved);
}

/// 0, 1, every length up to 3 AVX-512 vectors + 1, and large odd sizes.
inline std::vector<int64_t> test_sizes() {
  std::vector<int64_t> s;
  for (int64_t n = 0; n <= 49; ++n) s.push_back(n);
  for (int64_t n : {63, 65, 255, 257, 1001, 100003}) s.push_back(n);
  return s;
}

/// ±0, denormals, ±inf, NaN and values near the ends of the float range of
/// exp, followed by `n` values uniform in [−100, 100] (seeded).
inline std::vector<float> special_and_uniform(int64_t n, uint32_t seed = 1) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.f, -0.f, 1e-40f, -1e-40f, std::numeric_limits<float>::denorm_min(), inf, -inf,
                          std::numeric_limits<float>::quiet_NaN(), 100.f, -100.f, 88.5f, -88.5f, 87.f, -87.f,
                          20.f, -20.f, 9.f, -9.f, 0.625f, -0.625f, 1e-8f, -1e-8f, 1.f, -1.f};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-100.f, 100.f);
  for (int64_t i = 0; i < n; ++i) v.push_back(d(rng));
  return v;
}

/// Uniform floats in [lo, hi] (seeded).
inline std::vector<float> uniform(int64_t n, float lo, float hi, uint32_t seed = 2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

/// Error of got against the exact value ref in units of the last place of
/// ref as a float (ulp of FLT_MIN below the normal range). Matching
/// infinities and NaNs are 0; a mismatch is +inf.
inline double ulp_error(float got, double ref) {
  if (std::isnan(ref) || std::isnan(got)) return std::isnan(ref) && std::isnan(got) ? 0 : INFINITY;
  if (std::isinf(ref) || std::isinf(got)) return static_cast<double>(got) == ref ? 0 : INFINITY;
  const double a = std::max(std::fabs(ref), static_cast<double>(std::numeric_limits<float>::min()));
  int e = 0;
  std::frexp(a, &e);
  return std::fabs(got - ref) / std::ldexp(1.0, e - 24);
}

/// Bitwise equality of two float arrays (NaN == NaN).
inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace nabla::test
