#pragma once
// Run-time ISA dispatch, written once for every family: each family compiles
// its kernels per ISA (<family>_<isa>.cpp) and exposes one getter per ISA;
// for_isa calls the getter of the ISA asked for. An ISA the switch does not
// know falls back to the portable SSE2 build.
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// avx512(), avx2() or sse2() for isa (each a callable returning the
/// family's kernel table or variant list for that ISA).
template <class A, class B, class C>
decltype(auto) for_isa(Isa isa, A&& avx512, B&& avx2, C&& sse2) {
  switch (isa) {
    case Isa::Avx512: return avx512();
    case Isa::Avx2: return avx2();
    case Isa::Generic: break;
  }
  return sse2();
}

}  // namespace nabla::kernels::detail
