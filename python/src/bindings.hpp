#pragma once
// The parts of nabla._core, one function per source file.
#include <pybind11/pybind11.h>

namespace nabla::python {

/// nabla._core.nn: Layer (and the table the Python layer classes are made
/// from), Parameter, Sequential, losses, optimisers (nn.cpp).
void bind_nn(pybind11::module_& nn);
/// save, load, save_tensors, load_tensors on the top module (nn.cpp).
void bind_serialize(pybind11::module_& m);
/// nabla._core.data: Dataset, the readers, BatchIterator (data.cpp).
void bind_data(pybind11::module_& data);

}  // namespace nabla::python
