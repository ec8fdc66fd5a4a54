#pragma once
// Kernel-variant names in the grammar of STYLE.md: f32_<op>[_<fusion>]_<isa>
// ("f32_relu_avx512", "f32_bias_sigmoid_avx2", "f32_maxpool_bwd_sse2").
// The element-wise families (activation, loss, pool, optimiser) have one
// variant per ISA, their per-ISA kernel table; the GEMM and convolution
// lists name theirs the same way (gemm_internal.hpp, conv_internal.hpp).
#include <string>
#include <string_view>

#include "nabla/kernels/types.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// The ISA as variant names spell it: "avx512", "avx2", "sse2".
inline const char* isa_suffix(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Generic: return "sse2";
  }
  return "sse2";
}

/// "f32_" + op + "_" + isa suffix.
inline std::string variant_name(std::string_view op, Isa isa) {
  std::string s = "f32_";
  s += op;
  s += '_';
  s += isa_suffix(isa);
  return s;
}

/// The op of an element-wise activation pass: "relu", "bias_relu", "bias"
/// (bias only), "identity" (neither); backward appends "_bwd".
inline std::string activation_op(Activation f, bool bias, bool backward) {
  std::string op = bias ? "bias" : "";
  if (f != Activation::None) op += std::string(op.empty() ? "" : "_") + activation_name(f);
  if (op.empty()) op = "identity";
  return backward ? op + "_bwd" : op;
}

}  // namespace nabla::kernels::detail
