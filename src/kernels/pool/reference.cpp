// Scalar references of the pooling family: the contracts of pool.hpp
// written for clarity (padded positions are −∞ and never chosen).
#include <cmath>

#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/pool.hpp"

namespace nabla::kernels {

void max_pool2d_forward_reference(const MaxPool2d& p, const float* src, float* dst, int32_t* idx) {
  if (p.kernel < 1 || p.stride < 1 || p.padding < 0) throw Error("max_pool2d_forward_reference: bad geometry");
  const int64_t oh = p.out_h(), ow = p.out_w();
  for (int64_t q = 0; q < p.n * p.c; ++q)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        bool found = false;
        float best = 0;
        int64_t best_at = 0;
        for (int64_t a = 0; a < p.kernel; ++a)
          for (int64_t b = 0; b < p.kernel; ++b) {
            const int64_t hh = y * p.stride - p.padding + a, ww = x * p.stride - p.padding + b;
            if (hh < 0 || hh >= p.h || ww < 0 || ww >= p.w) continue;
            const float v = src[q * p.h * p.w + hh * p.w + ww];
            // First maximum wins; the first NaN beats every number.
            if (!found || v > best || (std::isnan(v) && !std::isnan(best))) {
              found = true;
              best = v;
              best_at = hh * p.w + ww;
            }
          }
        dst[(q * oh + y) * ow + x] = best;
        idx[(q * oh + y) * ow + x] = static_cast<int32_t>(best_at);
      }
}

void max_pool2d_backward_reference(const MaxPool2d& p, const float* diff_dst, const int32_t* idx,
                                   float* diff_src, Activation f, const float* dst) {
  if (p.kernel < 1 || p.stride < 1 || p.padding < 0) throw Error("max_pool2d_backward_reference: bad geometry");
  const int64_t in = p.h * p.w, out = p.out_h() * p.out_w();
  for (int64_t i = 0; i < p.n * p.c * in; ++i) diff_src[i] = 0.f;
  for (int64_t q = 0; q < p.n * p.c; ++q)
    for (int64_t o = 0; o < out; ++o) {
      const int64_t at = q * out + o;
      const float g = f.is_none() ? diff_dst[at]
                                  : static_cast<float>(activation_backward_reference(f, diff_dst[at], dst[at]));
      diff_src[q * in + idx[at]] += g;
    }
}

// Average pooling in the documented order: per output, the window row-major
// (positions outside the plane skipped), divided by kernel²; backward per
// output row y, window row, window column, output column x.
void avg_pool2d_forward_reference(const AvgPool2d& p, const float* src, float* dst) {
  if (p.kernel < 1 || p.stride < 1 || p.padding < 0) throw Error("avg_pool2d_forward_reference: bad geometry");
  const int64_t oh = p.out_h(), ow = p.out_w();
  const float div = static_cast<float>(p.kernel * p.kernel);
  for (int64_t q = 0; q < p.n * p.c; ++q)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        float sum = 0.f;
        for (int64_t a = 0; a < p.kernel; ++a)
          for (int64_t b = 0; b < p.kernel; ++b) {
            const int64_t hh = y * p.stride - p.padding + a, ww = x * p.stride - p.padding + b;
            if (hh >= 0 && hh < p.h && ww >= 0 && ww < p.w) sum += src[(q * p.h + hh) * p.w + ww];
          }
        dst[(q * oh + y) * ow + x] = sum / div;
      }
}

void avg_pool2d_backward_reference(const AvgPool2d& p, const float* diff_dst, float* diff_src) {
  if (p.kernel < 1 || p.stride < 1 || p.padding < 0) throw Error("avg_pool2d_backward_reference: bad geometry");
  const int64_t oh = p.out_h(), ow = p.out_w();
  const float div = static_cast<float>(p.kernel * p.kernel);
  for (int64_t i = 0; i < p.n * p.c * p.h * p.w; ++i) diff_src[i] = 0.f;
  for (int64_t q = 0; q < p.n * p.c; ++q)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t a = 0; a < p.kernel; ++a)
        for (int64_t b = 0; b < p.kernel; ++b)
          for (int64_t x = 0; x < ow; ++x) {
            const int64_t hh = y * p.stride - p.padding + a, ww = x * p.stride - p.padding + b;
            if (hh >= 0 && hh < p.h && ww >= 0 && ww < p.w)
              diff_src[(q * p.h + hh) * p.w + ww] += diff_dst[(q * oh + y) * ow + x] / div;
          }
}

void global_avg_pool2d_forward_reference(int64_t planes, int64_t plane, const float* src, float* dst) {
  for (int64_t q = 0; q < planes; ++q) {
    double s = 0;
    for (int64_t i = 0; i < plane; ++i) s += src[q * plane + i];
    dst[q] = static_cast<float>(s / static_cast<double>(plane));
  }
}

}  // namespace nabla::kernels
