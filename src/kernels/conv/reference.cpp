// Scalar references of the convolution passes: direct convolutions straight
// from the definitions (derivatives-paper.md, equations 35, 52–62), summed in
// float64. Slow and obviously correct; the tests compare every fast path to
// them.
#include <cmath>
#include <vector>

#include "kernels/common/reference_math.hpp"
#include "nabla/kernels/conv.hpp"

namespace nabla::kernels {
namespace {

// Calls fn(src index, dst index, weights index) for
// every term of the convolution sum whose input position is inside the image.
template <class F>
void for_each_term(const ConvShape& s, F&& fn) {
  const ConvParams& p = s.params();
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t o = 0; o < p.c_out; ++o)
      for (int64_t y = 0; y < s.oh(); ++y)
        for (int64_t x = 0; x < s.ow(); ++x)
          for (int64_t c = 0; c < p.c_in; ++c)
            for (int64_t i = 0; i < p.kh; ++i)
              for (int64_t j = 0; j < p.kw; ++j) {
                const int64_t u = y * p.stride_h + i * p.dil_h - p.pad_h;
                const int64_t v = x * p.stride_w + j * p.dil_w - p.pad_w;
                if (u < 0 || u >= p.h || v < 0 || v >= p.w) continue;
                fn(((n * p.c_in + c) * p.h + u) * p.w + v, ((n * p.c_out + o) * s.oh() + y) * s.ow() + x,
                   ((o * p.c_in + c) * p.kh + i) * p.kw + j);
              }
}

}  // namespace

void conv2d_forward_reference(const ConvShape& s, const float* src, const float* weights, const float* bias,
                              Activation act, float* dst) {
  const ConvParams& p = s.params();
  const int64_t per_channel = s.oh() * s.ow();
  std::vector<double> z(static_cast<size_t>(p.n * s.dst_image()));
  for (size_t e = 0; e < z.size(); ++e) z[e] = bias ? bias[e / per_channel % p.c_out] : 0.0;
  for_each_term(s, [&](int64_t si, int64_t di, int64_t wi) { z[di] += double{src[si]} * weights[wi]; });
  for (size_t e = 0; e < z.size(); ++e) dst[e] = static_cast<float>(detail::activation_f64(act, z[e]));
}

void conv2d_backward_data_reference(const ConvShape& s, const float* diff_dst, const float* weights,
                                    float* diff_src, Activation src_act, const float* src) {
  std::vector<double> dx(static_cast<size_t>(s.params().n * s.src_image()));
  for_each_term(s, [&](int64_t si, int64_t di, int64_t wi) { dx[si] += double{diff_dst[di]} * weights[wi]; });
  for (size_t e = 0; e < dx.size(); ++e)
    diff_src[e] = static_cast<float>(
        src_act == Activation::None ? dx[e] : detail::activation_backward_f64(src_act, dx[e], src[e]));
}

void conv2d_backward_weights_reference(const ConvShape& s, const float* src, const float* diff_dst,
                                       float* diff_weights, float* diff_bias, bool accumulate) {
  const ConvParams& p = s.params();
  std::vector<double> dw(static_cast<size_t>(s.weights_size()));
  for_each_term(s, [&](int64_t si, int64_t di, int64_t wi) { dw[wi] += double{src[si]} * diff_dst[di]; });
  for (size_t e = 0; e < dw.size(); ++e)
    diff_weights[e] = static_cast<float>((accumulate ? diff_weights[e] : 0.0) + dw[e]);
  if (!diff_bias) return;
  const int64_t per_channel = s.oh() * s.ow();
  for (int64_t o = 0; o < p.c_out; ++o) {
    double db = accumulate ? diff_bias[o] : 0.0;
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t e = 0; e < per_channel; ++e) db += diff_dst[(n * p.c_out + o) * per_channel + e];
    diff_bias[o] = static_cast<float>(db);
  }
}

}  // namespace nabla::kernels
