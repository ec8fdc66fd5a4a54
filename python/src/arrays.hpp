#pragma once
// NumPy arrays ⇄ nabla::Tensor, the one place the module converts between
// them (every binding that takes or returns a tensor goes through here).
//
// In: a nabla.Tensor, or a C-contiguous float32 ndarray of rank 1 to 4 with
// at least one element.
//   - an array that is a view of a nabla tensor (what nabla returned: its
//     base is a "nabla.Tensor" capsule and it covers it exactly) → that
//     Tensor itself,
//     so nothing is copied and internal hints (the fused loss gradient)
//     survive the round trip through Python;
//   - another array whose data are 64-byte aligned → Tensor::adopt: no copy,
//     the Tensor holds a reference to the array;
//   - otherwise (NumPy aligns to 16 bytes only) → one copy into a new Tensor.
//   Anything else raises TypeError (not an ndarray, or not float32) or
//   ValueError (not C-contiguous, rank 0 or above 4, empty), naming the
//   array's dtype and shape.
// Out: an ndarray viewing the Tensor's storage, whose base is a capsule
// named "nabla.Tensor" holding a Tensor that shares it (so nabla sees the
// buffer as held by the caller and does not overwrite it; see Sequential's
// file comment).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "nabla/tensor.hpp"

namespace nabla::python {

namespace py = pybind11;

/// The conversion described above; `what` names the argument in errors
/// ("Sequential.forward: x"). With writable, a read-only array is copied
/// rather than adopted (for tensors nabla will write into).
Tensor to_tensor(py::handle obj, const char* what, bool writable = false);
/// A NumPy view of t (None for an empty tensor); read-only unless writeable.
py::object to_array(const Tensor& t, bool writeable = true);
/// "float64 array of shape (64, 784)" for error messages.
std::string describe(py::handle obj);
/// The module's Tensor type (bound in module.cpp).
void bind_tensor(py::module_& m);

}  // namespace nabla::python
