#pragma once
// The activation family's kernels, written once as templates over an xsimd
// batch type and compiled per ISA by activation_<isa>.cpp. Anonymous
// namespace: no ISA-specific copy leaks into another translation unit.
//
// Data layouts (row-major, contiguous):
//   forward / backward    [rows, cols] (backward: a flat array of n)
//   add_forward / _bwd    flat arrays of n (a residual block's two branches)
//   bias                  [rows] (PerRow) or [cols] (PerCol)
//   softmax               [rows, cols], one softmax per row
//   col_sums              [rows, ld] -> [cols]
#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <limits>

#include "kernels/activation/activation_internal.hpp"
#include "kernels/activation/activation_math.hpp"
#include "kernels/common/simd.hpp"

namespace nabla::kernels::detail {
namespace {

template <class B, class Op>
void forward_rows(Op op, int64_t rows, int64_t cols, const float* src, BiasKind kind,
                  const float* bias, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * cols;
    float* d = dst + r * cols;
    if (kind == BiasKind::PerCol) {
      vec_loop<B>(cols, [&](int64_t j, auto lanes) {
        store(d + j, op.fwd(load<B>(s + j, lanes) + load<B>(bias + j, lanes)), lanes);
      });
    } else {
      const B b(kind == BiasKind::PerRow ? bias[r] : 0.f);
      vec_loop<B>(cols, [&](int64_t j, auto lanes) {
        B x = load<B>(s + j, lanes);
        if (kind == BiasKind::PerRow) x += b;
        store(d + j, op.fwd(x), lanes);
      });
    }
  }
}

template <class B>
void forward(Activation f, int64_t rows, int64_t cols, const float* src, BiasKind kind,
             const float* bias, float* dst) {
  with_activation(f, [&](auto op) { forward_rows<B>(op, rows, cols, src, kind, bias, dst); });
}

template <class B>
void backward(Activation f, int64_t n, const float* dst, const float* diff_dst, float* diff_src) {
  with_activation(f, [&](auto op) {
    vec_loop<B>(n, [&](int64_t i, auto lanes) {
      store(diff_src + i, op.bwd(load<B>(diff_dst + i, lanes), load<B>(dst + i, lanes)), lanes);
    });
  });
}

template <class B>
void add_forward(Activation f, int64_t n, const float* a, const float* b, float* dst) {
  with_activation(f, [&](auto op) {
    vec_loop<B>(n, [&](int64_t i, auto lanes) {
      store(dst + i, op.fwd(load<B>(a + i, lanes) + load<B>(b + i, lanes)), lanes);
    });
  });
}

template <class B>
void add_backward(Activation f, int64_t n, const float* dst, const float* diff_a, const float* diff_b,
                  float* diff_src) {
  if (f.is_none()) {  // dst may be null
    vec_loop<B>(n, [&](int64_t i, auto lanes) {
      store(diff_src + i, load<B>(diff_a + i, lanes) + load<B>(diff_b + i, lanes), lanes);
    });
    return;
  }
  with_activation(f, [&](auto op) {
    vec_loop<B>(n, [&](int64_t i, auto lanes) {
      store(diff_src + i, op.bwd(load<B>(diff_a + i, lanes) + load<B>(diff_b + i, lanes), load<B>(dst + i, lanes)),
            lanes);
    });
  });
}

// Per row: z = src + bias; m = max z; e = exp_sub(z, m) = e^(z − m) (stored in dst);
// dst = e / Σe. A NaN anywhere in the row makes Σe, hence the row, NaN.
template <class B>
void softmax_forward(int64_t rows, int64_t cols, const float* src, BiasKind kind, const float* bias,
                     float* dst) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * cols;
    float* d = dst + r * cols;
    const B brow(kind == BiasKind::PerRow ? bias[r] : 0.f);
    auto z = [&](int64_t j, auto lanes) {
      B x = load<B>(s + j, lanes, kNegInf);
      if (kind == BiasKind::PerCol) return x + load<B>(bias + j, lanes);
      return x + brow;
    };
    B vmax(kNegInf);
    vec_loop<B>(cols, [&](int64_t j, auto lanes) { vmax = xsimd::max(vmax, z(j, lanes)); });
    const B m(hmax(vmax));
    B vsum(0.f);
    vec_loop<B>(cols, [&](int64_t j, auto lanes) {
      const B e = keep(exp_sub(z(j, lanes), m), lanes);
      vsum += e;
      store(d + j, e, lanes);
    });
    const B sum(xsimd::hadd(vsum));
    vec_loop<B>(cols, [&](int64_t j, auto lanes) { store(d + j, load<B>(d + j, lanes) / sum, lanes); });
  }
}

template <class B>
void softmax_backward(int64_t rows, int64_t cols, const float* dst, const float* diff_dst,
                      float* diff_src) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* a = dst + r * cols;
    const float* g = diff_dst + r * cols;
    float* out = diff_src + r * cols;
    B vdot(0.f);
    vec_loop<B>(cols, [&](int64_t j, auto lanes) {
      vdot = xsimd::fma(load<B>(g + j, lanes), load<B>(a + j, lanes), vdot);
    });
    const B dot(xsimd::hadd(vdot));
    vec_loop<B>(cols, [&](int64_t j, auto lanes) {
      const B av = load<B>(a + j, lanes);
      store(out + j, av * (load<B>(g + j, lanes) - dot), lanes);
    });
  }
}

template <class B>
double sum(int64_t n, const float* src) {
  return block_sum<B>(n, [&](int64_t i, auto lanes) { return keep(load<B>(src + i, lanes), lanes); });
}

// Column sums of NV vectors of columns (lanes: Full or the width of the last
// partial vector): float sums over blocks of kRowBlock rows, each added to
// a running float total in row order.
template <class B, int NV, class Lanes>
inline void col_sums_strip(int64_t rows, int64_t ld, const float* src, float* dst, Lanes lanes) {
  constexpr int64_t kRowBlock = 64;
  constexpr int64_t W = B::size;
  B total[NV];
  for (int v = 0; v < NV; ++v) total[v] = B(0.f);
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    const int64_t r1 = rows - r0 < kRowBlock ? rows : r0 + kRowBlock;
    B blk[NV];
    for (int v = 0; v < NV; ++v) blk[v] = B(0.f);
    for (int64_t r = r0; r < r1; ++r)
      for (int v = 0; v < NV; ++v) blk[v] += load<B>(src + r * ld + v * W, lanes);
    for (int v = 0; v < NV; ++v) total[v] += blk[v];
  }
  for (int v = 0; v < NV; ++v) store(dst + v * W, total[v], lanes);
}

template <class B>
void col_sums(int64_t rows, int64_t cols, int64_t ld, const float* src, float* dst) {
  constexpr int64_t W = B::size;
  int64_t j = 0;
  for (; j + 4 * W <= cols; j += 4 * W) col_sums_strip<B, 4>(rows, ld, src + j, dst + j, Full{});
  for (; j + W <= cols; j += W) col_sums_strip<B, 1>(rows, ld, src + j, dst + j, Full{});
  if (j < cols) col_sums_strip<B, 1>(rows, ld, src + j, dst + j, cols - j);
}

}  // namespace
}  // namespace nabla::kernels::detail

// The function table of one ISA; used by activation_<isa>.cpp.
#define NABLA_ACTIVATION_KERNELS(ARCH)                                          \
  ::nabla::kernels::detail::ActivationKernels {                                 \
    &forward<xsimd::batch<float, ARCH>>, &backward<xsimd::batch<float, ARCH>>,  \
        &add_forward<xsimd::batch<float, ARCH>>,                                \
        &add_backward<xsimd::batch<float, ARCH>>,                               \
        &softmax_forward<xsimd::batch<float, ARCH>>,                            \
        &softmax_backward<xsimd::batch<float, ARCH>>,                           \
        &sum<xsimd::batch<float, ARCH>>, &col_sums<xsimd::batch<float, ARCH>>   \
  }
