// The pooling dispatcher: validates the geometry, picks the kernels of the
// active ISA and splits the N·C planes over oneTBB (common/parallel.hpp).
// Compiled with generic flags: nothing here touches SIMD.
#include <algorithm>
#include <limits>
#include <string>

#include "kernels/common/dispatch.hpp"
#include "kernels/common/names.hpp"
#include "nabla/runtime/trace.hpp"
#include "kernels/common/parallel.hpp"
#include "kernels/pool/pool_internal.hpp"
#include "nabla/error.hpp"

namespace nabla::kernels {
namespace detail {

const PoolKernels& pool_kernels(Isa isa) {
  return for_isa(isa, pool_kernels_avx512, pool_kernels_avx2, pool_kernels_sse2);
}

}  // namespace detail

namespace {

template <class Geometry>
std::string describe(const Geometry& p) {
  return " (input " + std::to_string(p.n) + "x" + std::to_string(p.c) + "x" + std::to_string(p.h) + "x" +
         std::to_string(p.w) + ", kernel " + std::to_string(p.kernel) + ", stride " + std::to_string(p.stride) +
         ", padding " + std::to_string(p.padding) + ")";
}

// Throws on an invalid geometry; returns false when there is nothing to do.
template <class Geometry>
bool validate(const char* fn, const Geometry& p) {
  const auto where = [&] { return describe(p); };
  if (p.n < 0 || p.c < 0 || p.h < 0 || p.w < 0) throw Error(std::string(fn) + ": negative size" + where());
  if (p.kernel < 1 || p.stride < 1) throw Error(std::string(fn) + ": kernel and stride must be at least 1" + where());
  if (p.padding < 0 || 2 * p.padding > p.kernel)
    throw Error(std::string(fn) + ": padding must be in [0, kernel/2]" + where());
  if (p.n == 0 || p.c == 0) return false;
  if (p.h + 2 * p.padding < p.kernel || p.w + 2 * p.padding < p.kernel)
    throw Error(std::string(fn) + ": the window is larger than the padded input" + where());
  if (p.h * p.w > std::numeric_limits<int32_t>::max())
    throw Error(std::string(fn) + ": an H×W plane has 2^31 elements or more; indices are int32" + where());
  return true;
}

// "64x6x28x28,k2,s2": the shape `nabla prof` prints for a pooling call.
template <class Geometry>
trace::Call pool_call(const Geometry& p, const std::string& op, int64_t in, int64_t out) {
  auto s = [](int64_t v) { return std::to_string(v); };
  const double planes = static_cast<double>(p.n * p.c), fi = static_cast<double>(in), fo = static_cast<double>(out);
  return {detail::variant_name(op, active_isa()),
          s(p.n) + "x" + s(p.c) + "x" + s(p.h) + "x" + s(p.w) + ",k" + s(p.kernel) + ",s" + s(p.stride) +
              (p.padding ? ",p" + s(p.padding) : ""),
          planes * fo * static_cast<double>(p.kernel * p.kernel), planes * (4 * fi + 8 * fo)};
}

// Planes over threads from 32 Ki input elements (a quarter of the compute
// cut-off of common/parallel.hpp, not the 1 Mi of a streaming kernel):
// pooling runs at a fraction of copy speed, small planes at less (64×64
// planes of 14×14, 0.8 Mi elements: 266 µs on one thread, the same at "2
// threads" while it stayed below the memory cut-off). LeNet's second pool
// (64×16 planes of 10×10, 100 Ki elements) stayed serial below 128 Ki: its
// backward at 2 threads took 83–157 µs, reading a gradient half written by
// the other core, now 24–49 (`nabla prof --model lenet --threads 2`, three
// runs alternating with the old binary; step 1.18–1.68 → 1.11–1.45 ms).
template <class F>
void over_planes(int64_t planes, int64_t hw, F&& fn) {
  const int64_t plane = std::max<int64_t>(1, hw);
  detail::parallel_ranges(planes, std::max<int64_t>(2, (int64_t{1} << 15) / plane),
                          std::max<int64_t>(1, (int64_t{1} << 16) / plane), fn);
}

}  // namespace

void max_pool2d_forward(const MaxPool2d& p, const float* src, float* dst, int32_t* idx) {
  const char* fn = "max_pool2d_forward";
  if (!validate(fn, p)) return;
  if (!src || !dst || !idx) throw Error(std::string(fn) + ": null src, dst or idx" + describe(p));
  const auto& k = detail::pool_kernels(active_isa());
  const int64_t in = p.h * p.w, out = p.out_h() * p.out_w();
  const trace::KernelScope scope([&] { return pool_call(p, "maxpool", in, out); });
  over_planes(p.n * p.c, p.h * p.w, [&](int64_t q0, int64_t q1) { k.max_forward(p, q1 - q0, src + q0 * in, dst + q0 * out, idx + q0 * out); });
}

void max_pool2d_backward(const MaxPool2d& p, const float* diff_dst, const int32_t* idx, float* diff_src,
                         Activation f, const float* dst) {
  const char* fn = "max_pool2d_backward";
  check_activation(f, fn);
  if (derivative_uses_input(f.kind))
    throw Error(std::string(fn) + ": the fused derivative of " + activation_name(f) +
                " needs the activation's input, which pooling does not keep; apply it with activation_backward");
  if (!validate(fn, p)) return;
  if (!diff_dst || !idx || !diff_src) throw Error(std::string(fn) + ": null diff_dst, idx or diff_src" + describe(p));
  if (!f.is_none() && !dst)
    throw Error(std::string(fn) + ": null dst (the pooled output " + activation_name(f) + "'s derivative comes from)" +
                describe(p));
  const auto& k = detail::pool_kernels(active_isa());
  const int64_t in = p.h * p.w, out = p.out_h() * p.out_w();
  const trace::KernelScope scope([&] {
    return pool_call(p, f.is_none() ? std::string("maxpool_bwd") : std::string("maxpool_bwd_d") + activation_name(f), in,
                     out);
  });
  over_planes(p.n * p.c, p.h * p.w, [&](int64_t q0, int64_t q1) {
    k.max_backward(p, q1 - q0, diff_dst + q0 * out, idx + q0 * out, diff_src + q0 * in, f,
                   f.is_none() ? nullptr : dst + q0 * out);
  });
}

void avg_pool2d_forward(const AvgPool2d& p, const float* src, float* dst) {
  const char* fn = "avg_pool2d_forward";
  if (!validate(fn, p)) return;
  if (!src || !dst) throw Error(std::string(fn) + ": null src or dst" + describe(p));
  const auto& k = detail::pool_kernels(active_isa());
  const int64_t in = p.h * p.w, out = p.out_h() * p.out_w();
  const trace::KernelScope scope([&] { return pool_call(p, "avgpool", in, out); });
  over_planes(p.n * p.c, in, [&](int64_t q0, int64_t q1) { k.avg_forward(p, q1 - q0, src + q0 * in, dst + q0 * out); });
}

void avg_pool2d_backward(const AvgPool2d& p, const float* diff_dst, float* diff_src) {
  const char* fn = "avg_pool2d_backward";
  if (!validate(fn, p)) return;
  if (!diff_dst || !diff_src) throw Error(std::string(fn) + ": null diff_dst or diff_src" + describe(p));
  const auto& k = detail::pool_kernels(active_isa());
  const int64_t in = p.h * p.w, out = p.out_h() * p.out_w();
  const trace::KernelScope scope([&] { return pool_call(p, "avgpool_bwd", in, out); });
  over_planes(p.n * p.c, in, [&](int64_t q0, int64_t q1) {
    k.avg_backward(p, q1 - q0, diff_dst + q0 * out, diff_src + q0 * in);
  });
}

namespace {

bool validate_global(const char* fn, int64_t planes, int64_t plane, const void* a, const void* b) {
  if (planes < 0 || plane < 1)
    throw Error(std::string(fn) + ": planes " + std::to_string(planes) + " must be >= 0 and plane size " +
                std::to_string(plane) + " >= 1");
  if (planes == 0) return false;
  if (!a || !b) throw Error(std::string(fn) + ": null pointer (planes " + std::to_string(planes) + ")");
  return true;
}

trace::Call gap_call(const char* op, int64_t planes, int64_t plane) {
  const double v = static_cast<double>(planes) * static_cast<double>(plane);
  return {detail::variant_name(op, active_isa()), std::to_string(planes) + "x" + std::to_string(plane), v,
          4 * v + 4 * static_cast<double>(planes)};
}

}  // namespace

void global_avg_pool2d_forward(int64_t planes, int64_t plane, const float* src, float* dst) {
  const char* fn = "global_avg_pool2d_forward";
  if (!validate_global(fn, planes, plane, src, dst)) return;
  const auto& k = detail::pool_kernels(active_isa());
  const trace::KernelScope scope([&] { return gap_call("gap", planes, plane); });
  over_planes(planes, plane, [&](int64_t q0, int64_t q1) { k.gap_forward(q1 - q0, plane, src + q0 * plane, dst + q0); });
}

void global_avg_pool2d_backward(int64_t planes, int64_t plane, const float* diff_dst, float* diff_src) {
  const char* fn = "global_avg_pool2d_backward";
  if (!validate_global(fn, planes, plane, diff_dst, diff_src)) return;
  const auto& k = detail::pool_kernels(active_isa());
  const trace::KernelScope scope([&] { return gap_call("gap_bwd", planes, plane); });
  over_planes(planes, plane, [&](int64_t q0, int64_t q1) {
    k.gap_backward(q1 - q0, plane, diff_dst + q0, diff_src + q0 * plane);
  });
}

}  // namespace nabla::kernels
