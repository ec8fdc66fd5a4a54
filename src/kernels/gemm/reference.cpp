// The scalar GEMM reference: the contract of gemm(), written for clarity.
// Accumulates in double; activations via <cmath>.
#include <string>

#include "kernels/common/reference_math.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/gemm.hpp"

namespace nabla::kernels {

void gemm_reference(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                    int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
                    const Epilogue& ep) {
  if (m < 0 || n < 0 || k < 0) throw Error("gemm_reference: negative size");
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      if (alpha != 0.f) {
        for (int64_t p = 0; p < k; ++p) {
          const double av = ta == Trans::No ? a[i * lda + p] : a[p * lda + i];
          const double bv = tb == Trans::No ? b[p * ldb + j] : b[j * ldb + p];
          acc += av * bv;
        }
      }
      double x = static_cast<double>(alpha) * acc;
      if (beta != 0.f) x += static_cast<double>(beta) * c[i * ldc + j];
      if (ep.bias_kind == BiasKind::PerRow) x += ep.bias[i];
      if (ep.bias_kind == BiasKind::PerCol) x += ep.bias[j];
      x = detail::activation_f64(ep.act, x);
      if (ep.deriv != Activation::None) x = detail::activation_backward_f64(ep.deriv, x, ep.d[i * ep.ldd + j]);
      c[i * ldc + j] = static_cast<float>(x);
    }
  }
}

}  // namespace nabla::kernels
