#pragma once
/// \file gemm.hpp  Single-precision GEMM with a fused epilogue.
///
///     C = epilogue(alpha * op(A) * op(B) + beta * C)
///
/// Row-major, op = identity or transpose, any leading dimensions. The epilogue
/// runs on each finished micro-tile, never as a separate pass over C:
///   1. add a bias (one value per row of C, or one per column), in registers;
///   2. then, on the tile just stored (still in L1), apply an activation
///      (ReLU, sigmoid, tanh)                         -- the forward pass, or
///      multiply by an activation's derivative computed from a matrix D of
///      that activation's outputs (ReLU: D > 0; sigmoid: D(1-D); tanh: 1-D²)
///                                                    -- the backward pass.
///
/// Example, a Dense layer's forward Y = relu(X·Wᵀ + b), W stored [out, in]:
///
///     nabla::kernels::gemm(Trans::No, Trans::Yes, batch, out, in, 1.f,
///                          x, in, w, in, 0.f, y, out,
///                          Epilogue::bias_act(BiasKind::PerCol, b, Activation::ReLU));
#include <cstdint>

#include "nabla/kernels/types.hpp"

namespace nabla::kernels {

/// op(X) = X or Xᵀ.
enum class Trans { No, Yes };

/// What happens to each element of C after alpha·AB + beta·C.
struct Epilogue {
  BiasKind bias_kind = BiasKind::None;
  const float* bias = nullptr;          ///< length m (PerRow) or n (PerCol)
  Activation act = Activation::None;    ///< forward: C = act(C + bias)
  Activation deriv = Activation::None;  ///< backward: C = C ⊙ deriv'(D)
  const float* d = nullptr;             ///< m×n activation outputs, row-major
  int64_t ldd = 0;                      ///< leading dimension of d (>= n)

  /// Forward: bias (optional) then activation.
  static Epilogue bias_act(BiasKind kind, const float* bias, Activation act = Activation::None) {
    Epilogue e;
    e.bias_kind = kind;
    e.bias = bias;
    e.act = act;
    return e;
  }
  /// Backward: multiply by f'(·) computed from the stored outputs D of f.
  static Epilogue derivative(Activation f, const float* d, int64_t ldd) {
    Epilogue e;
    e.deriv = f;
    e.d = d;
    e.ldd = ldd;
    return e;
  }
  bool empty() const {
    return bias_kind == BiasKind::None && act == Activation::None && deriv == Activation::None;
  }
};

/// C = epilogue(alpha·op(A)·op(B) + beta·C), row-major: op(A) is m×k, op(B)
/// k×n, C m×n. BLAS semantics: beta == 0 never reads C (NaN there does not
/// leak); alpha == 0 reads neither A nor B. Bitwise identical results for any
/// thread count. Throws nabla::Error on negative sizes, leading dimensions
/// too small for the shape, null pointers with non-zero sizes, or an
/// inconsistent epilogue.
void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
          const Epilogue& ep = {});

/// The scalar reference: the same contract, obviously correct and slow
/// (accumulates in double, activations from <cmath>). The tests compare the fast path to it
/// and to a float64 model.
void gemm_reference(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                    float* c, int64_t ldc, const Epilogue& ep = {});

}  // namespace nabla::kernels
