#pragma once
// Batch-norm and dropout kernels, written once as templates over an xsimd
// batch type and compiled per ISA by norm_<isa>.cpp (anonymous namespace, as
// in activation_math.hpp).
//
// Data layout: [n, c, hw] row-major. For hw > 1 (NCHW images) a row of hw
// values belongs to one channel: the element-wise passes run over rows
// (n·c of them) with the channel's scalars broadcast, the reductions over a
// channel's n rows. For hw == 1 ([N, F]) a row holds one value of every
// channel: the passes run along the row with per-channel vectors, the
// reductions down columns, one vector of channels at a time.
//
// Sums: float lanes within blocks of kSumBlock elements (or rows), each
// block added to a double; the order depends on the shape only.
#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <type_traits>

#include "kernels/activation/activation_math.hpp"
#include "kernels/common/simd.hpp"
#include "kernels/norm/norm_internal.hpp"

namespace nabla::kernels::detail {
namespace {

template <class B>
void hadd_into(B v, double* out) {
  alignas(64) float t[B::size];
  v.store_aligned(t);
  for (size_t l = 0; l < B::size; ++l) out[l] += static_cast<double>(t[l]);
}

// Σ term1, Σ term2 over the channels [c0, c1): term(ptr_offset, lanes, K) gives
// the two per-element terms as vectors (masked lanes zero). For hw > 1, K is
// the channel's scalar shift; for hw == 1, a vector of shifts. out1/out2 per
// channel.
template <class B, class Term>
void channel_sums(const NormShape& s, int64_t c0, int64_t c1, Term&& term, double* out1, double* out2) {
  constexpr int64_t W = B::size;
  if (s.hw > 1) {
    for (int64_t c = c0; c < c1; ++c) {
      double d1 = 0, d2 = 0;
      for (int64_t n = 0; n < s.n; ++n) {
        const int64_t row = (n * s.c + c) * s.hw;
        for (int64_t b0 = 0; b0 < s.hw; b0 += kSumBlock) {
          const int64_t len = s.hw - b0 < kSumBlock ? s.hw - b0 : kSumBlock;
          B a1(0.f), a2(0.f);
          vec_loop<B>(len, [&](int64_t i, auto lanes) { term(row + b0 + i, c, lanes, a1, a2); });
          d1 += static_cast<double>(xsimd::hadd(a1));
          d2 += static_cast<double>(xsimd::hadd(a2));
        }
      }
      out1[c] = d1;
      out2[c] = d2;
    }
    return;
  }
  // [N, F]: G vectors of channels at a time (independent accumulators, so
  // the adds of one row do not wait on each other); a lane's sum is the same
  // whichever group it is in.
  constexpr int64_t G = 4;
  for (int64_t j = c0; j < c1; j += G * W) {
    const int64_t width = c1 - j < G * W ? c1 - j : G * W;
    double d1[G * W] = {}, d2[G * W] = {};
    for (int64_t b0 = 0; b0 < s.n; b0 += kSumBlock) {
      const int64_t b1 = s.n - b0 < kSumBlock ? s.n : b0 + kSumBlock;
      B a1[G], a2[G];
      for (int64_t g = 0; g < G; ++g) a1[g] = a2[g] = B(0.f);
      if (width == G * W) {
        for (int64_t n = b0; n < b1; ++n)
          for (int64_t g = 0; g < G; ++g) term(n * s.c + j + g * W, j + g * W, Full{}, a1[g], a2[g]);
      } else {
        for (int64_t n = b0; n < b1; ++n)
          for (int64_t g = 0; g * W < width; ++g) {
            const int64_t w = width - g * W;
            if (w >= W)
              term(n * s.c + j + g * W, j + g * W, Full{}, a1[g], a2[g]);
            else
              term(n * s.c + j + g * W, j + g * W, w, a1[g], a2[g]);
          }
      }
      for (int64_t g = 0; g < G; ++g) {
        hadd_into(a1[g], d1 + g * W);
        hadd_into(a2[g], d2 + g * W);
      }
    }
    for (int64_t l = 0; l < width; ++l) {
      out1[j + l] = d1[l];
      out2[j + l] = d2[l];
    }
  }
}

// Shifted one-pass statistics: with K the channel's first value,
// mean = K + Σ(x − K)/M, var = Σ(x − K)²/M − (Σ(x − K)/M)².
template <class B>
void stats(const NormShape& s, int64_t c0, int64_t c1, const float* x, double* mean, double* var) {
  const double m = static_cast<double>(s.n * s.hw);
  if (s.hw > 1) {
    channel_sums<B>(
        s, c0, c1,
        [&](int64_t at, int64_t c, auto lanes, B& a1, B& a2) {
          const float k = x[c * s.hw];
          const B d = load<B>(x + at, lanes, k) - B(k);
          a1 += d;
          a2 = xsimd::fma(d, d, a2);
        },
        mean, var);
    for (int64_t c = c0; c < c1; ++c) {
      const double mu = mean[c] / m, v = var[c] / m - mu * mu;
      mean[c] = static_cast<double>(x[c * s.hw]) + mu;
      var[c] = v > 0 ? v : 0;
    }
    return;
  }
  channel_sums<B>(
      s, c0, c1,
      [&](int64_t at, int64_t j, auto lanes, B& a1, B& a2) {
        const B d = load<B>(x + at, lanes, 0.f) - load<B>(x + j, lanes, 0.f);
        a1 += d;
        a2 = xsimd::fma(d, d, a2);
      },
      mean, var);
  for (int64_t c = c0; c < c1; ++c) {
    const double mu = mean[c] / m, v = var[c] / m - mu * mu;
    mean[c] = static_cast<double>(x[c]) + mu;
    var[c] = v > 0 ? v : 0;
  }
}

// y = act(fma(x, scale, shift) [+ residual]); kRes is whether there is a
// residual addend (a separate instantiation: no test in the loop).
template <class B, bool kRes>
void apply_rows(const NormShape& s, int64_t r0, int64_t r1, const float* x, const float* scale, const float* shift,
                Activation act, const float* res, float* y) {
  with_activation(act, [&](auto op) {
    if (s.hw > 1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % s.c, o = r * s.hw;
        const B sc(scale[c]), sh(shift[c]);
        vec_loop<B>(s.hw, [&](int64_t i, auto lanes) {
          B v = xsimd::fma(load<B>(x + o + i, lanes), sc, sh);
          if constexpr (kRes) v += load<B>(res + o + i, lanes);
          store(y + o + i, op.fwd(v), lanes);
        });
      }
      return;
    }
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r * s.c;
      vec_loop<B>(s.c, [&](int64_t i, auto lanes) {
        B v = xsimd::fma(load<B>(x + o + i, lanes), load<B>(scale + i, lanes), load<B>(shift + i, lanes));
        if constexpr (kRes) v += load<B>(res + o + i, lanes);
        store(y + o + i, op.fwd(v), lanes);
      });
    }
  });
}

template <class B>
void apply(const NormShape& s, int64_t r0, int64_t r1, const float* x, const float* scale, const float* shift,
           Activation act, const float* residual, float* y) {
  if (residual != nullptr)
    apply_rows<B, true>(s, r0, r1, x, scale, shift, act, residual, y);
  else
    apply_rows<B, false>(s, r0, r1, x, scale, shift, act, nullptr, y);
}

// The argument of act's derivative in the backward passes: the stored
// output y, or (y null: the activation's derivative depends only on the
// sign of its input, see batchnorm_backward_reduce) the pre-activation
// fma(x, scale, shift) recomputed as the forward computed it, whose sign is
// y's: the backward then does not read y.
template <class B>
void bwd_reduce(const NormShape& s, int64_t c0, int64_t c1, const float* dy, const float* y, Activation act,
                const float* x, const float* mean, const float* scale, const float* shift, double* sum_dz,
                double* sum_dzx) {
  auto run = [&](auto op, auto from_y) {
    if (s.hw > 1) {
      channel_sums<B>(
          s, c0, c1,
          [&](int64_t at, int64_t c, auto lanes, B& a1, B& a2) {
            const B xv = load<B>(x + at, lanes, mean[c]);
            B d;
            if constexpr (from_y) d = load<B>(y + at, lanes, 0.f);
            else d = xsimd::fma(xv, B(scale[c]), B(shift[c]));
            const B dz = op.bwd(load<B>(dy + at, lanes, 0.f), d);
            const B xc = xv - B(mean[c]);
            a1 += dz;
            a2 = xsimd::fma(dz, xc, a2);
          },
          sum_dz, sum_dzx);
      return;
    }
    channel_sums<B>(
        s, c0, c1,
        [&](int64_t at, int64_t j, auto lanes, B& a1, B& a2) {
          const B xv = load<B>(x + at, lanes, 0.f);
          B d;
          if constexpr (from_y) d = load<B>(y + at, lanes, 0.f);
          else d = xsimd::fma(xv, load<B>(scale + j, lanes, 0.f), load<B>(shift + j, lanes, 0.f));
          const B dz = op.bwd(load<B>(dy + at, lanes, 0.f), d);
          const B xc = xv - load<B>(mean + j, lanes, 0.f);
          a1 += dz;
          a2 = xsimd::fma(dz, xc, a2);
        },
        sum_dz, sum_dzx);
  };
  with_activation(act, [&](auto op) {
    if (y != nullptr || act.is_none()) run(op, std::true_type{});
    else run(op, std::false_type{});
  });
}

template <class B>
void bwd_apply(const NormShape& s, int64_t r0, int64_t r1, const float* dy, const float* y, Activation act,
               const float* x, const float* mean, const float* scale, const float* shift, const float* k_dz,
               const float* k_x, const float* k_0, float* dx) {
  auto run = [&](auto op, auto from_y) {
    if (s.hw > 1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % s.c, o = r * s.hw;
        const B kd(k_dz[c]), kx(k_x[c]), k0(k_0[c]), mu(mean[c]);
        const B sc(from_y ? 0.f : scale[c]), sh(from_y ? 0.f : shift[c]);
        vec_loop<B>(s.hw, [&](int64_t i, auto lanes) {
          const B xv = load<B>(x + o + i, lanes);
          B d;
          if constexpr (from_y) d = load<B>(y + o + i, lanes);
          else d = xsimd::fma(xv, sc, sh);
          const B dz = op.bwd(load<B>(dy + o + i, lanes), d);
          store(dx + o + i, xsimd::fma(kd, dz, xsimd::fma(kx, xv - mu, k0)), lanes);
        });
      }
      return;
    }
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r * s.c;
      vec_loop<B>(s.c, [&](int64_t i, auto lanes) {
        const B xv = load<B>(x + o + i, lanes);
        B d;
        if constexpr (from_y) d = load<B>(y + o + i, lanes);
        else d = xsimd::fma(xv, load<B>(scale + i, lanes), load<B>(shift + i, lanes));
        const B dz = op.bwd(load<B>(dy + o + i, lanes), d);
        const B xc = xv - load<B>(mean + i, lanes);
        store(dx + o + i,
              xsimd::fma(load<B>(k_dz + i, lanes), dz, xsimd::fma(load<B>(k_x + i, lanes), xc, load<B>(k_0 + i, lanes))),
              lanes);
      });
    }
  };
  with_activation(act, [&](auto op) {
    if (y != nullptr || act.is_none()) run(op, std::true_type{});
    else run(op, std::false_type{});
  });
}

template <class U>
inline U lowbias32(U x) {
  x ^= x >> 16;
  x *= U(0x7feb352du);
  x ^= x >> 15;
  x *= U(0x846ca68bu);
  x ^= x >> 16;
  return x;
}

// The vector form of dropout_bits (norm_internal.hpp): per block of 32
// elements, 16/W hash vectors, each deciding a vector in the block's first
// half (low 16 bits) and one in its second half (high 16 bits).
template <class B>
void dropout(int64_t i0, int64_t i1, const float* src, uint32_t threshold, float scale, uint64_t key, float* dst) {
  using U = xsimd::batch<uint32_t, typename B::arch_type>;
  using I = xsimd::batch<int32_t, typename B::arch_type>;
  constexpr int64_t W = B::size;
  static_assert(16 % W == 0, "vector width divides 16");
  alignas(64) uint32_t iota[W];
  for (uint32_t l = 0; l < W; ++l) iota[l] = l;
  const U lane = U::load_aligned(iota), k(static_cast<uint32_t>(key) ^ static_cast<uint32_t>(key >> 32));
  const U low(0xFFFFu);
  const B t(static_cast<float>(threshold)), sc(scale);
  auto apply = [&](int64_t o, U bits) {
    if (o >= i1) return;
    const B u = xsimd::batch_cast<float>(xsimd::bitwise_cast<I>(bits));
    if (o + W <= i1)
      store(dst + o, xsimd::select(u >= t, load<B>(src + o, Full{}) * sc, B(0.f)), Full{});
    else
      store(dst + o, xsimd::select(u >= t, load<B>(src + o, i1 - o) * sc, B(0.f)), i1 - o);
  };
  for (int64_t b = i0; b < i1; b += 32) {
    for (int64_t q = 0; q < 16; q += W) {
      const U j = U(static_cast<uint32_t>(b / 2 + q)) + lane;
      const U h = lowbias32(j ^ k);
      apply(b + q, h & low);
      apply(b + 16 + q, h >> 16);
    }
  }
}

}  // namespace
}  // namespace nabla::kernels::detail

// The function table of one ISA; used by norm_<isa>.cpp.
#define NABLA_NORM_KERNELS(ARCH)                                                                     \
  ::nabla::kernels::detail::NormKernels {                                                            \
    &stats<xsimd::batch<float, ARCH>>, &apply<xsimd::batch<float, ARCH>>,                            \
        &bwd_reduce<xsimd::batch<float, ARCH>>, &bwd_apply<xsimd::batch<float, ARCH>>,               \
        &dropout<xsimd::batch<float, ARCH>>                                                          \
  }
