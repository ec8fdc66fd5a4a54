#pragma once
// The parts of nabla._core, one function per source file.
#include <pybind11/pybind11.h>

#include "nabla/runtime/interrupt.hpp"

namespace nabla::python {

/// What every long call does before its C++ work: forgets an interrupt that
/// Python has already handled (a Ctrl-C while bytecode ran raised
/// KeyboardInterrupt there), then releases the GIL. A Ctrl-C during the call
/// reaches nabla through the SIGINT handler module.cpp installs; the call
/// stops at its next safe point and raises KeyboardInterrupt.
struct Unlocked {
  Unlocked() { clear_interrupt(); }
  pybind11::gil_scoped_release released;
};

/// nabla._core.nn: Layer (and the table the Python layer classes are made
/// from), Parameter, Sequential, losses, optimisers (nn.cpp).
void bind_nn(pybind11::module_& nn);
/// save, load, save_tensors, load_tensors on the top module (nn.cpp).
void bind_serialize(pybind11::module_& m);
/// nabla._core.data: Dataset, the readers, BatchIterator (data.cpp).
void bind_data(pybind11::module_& data);

}  // namespace nabla::python
