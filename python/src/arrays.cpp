#include "arrays.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "nabla/error.hpp"

namespace nabla::python {
namespace {

using py::detail::npy_api;

constexpr int kNpyFloat32 = 11;  // NPY_FLOAT
constexpr const char* kCapsuleName = "nabla.Tensor";  // the base of every array nabla returns

py::detail::PyArray_Proxy* proxy(py::handle h) { return py::detail::array_proxy(h.ptr()); }

std::string shape_text(const py::detail::PyArray_Proxy* a) {
  std::string s = "(";
  for (int i = 0; i < a->nd; ++i) s += (i ? ", " : "") + std::to_string(a->dimensions[i]);
  return s + (a->nd == 1 ? ",)" : ")");
}

// Releases the reference an adopted Tensor holds on its array, from whichever
// thread drops the last Tensor (a kernel thread, or one that released the GIL).
void release_ref(PyObject* p) {
  if (PyGILState_Check()) {  // the usual case: dropped by Python code
    Py_DECREF(p);
    return;
  }
  if (!Py_IsInitialized()) return;  // the interpreter is gone: nothing to give back to
  const PyGILState_STATE s = PyGILState_Ensure();
  Py_DECREF(p);
  PyGILState_Release(s);
}

}  // namespace

std::string describe(py::handle obj) {
  if (npy_api::get().PyArray_Check_(obj.ptr())) {
    const auto* a = proxy(obj);
    return py::str(reinterpret_cast<PyObject*>(a->descr)).cast<std::string>() + " array of shape " + shape_text(a);
  }
  return "an object of type " + py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

Tensor to_tensor(py::handle obj, const char* what, bool writable) {
  auto& api = npy_api::get();
  if (!api.PyArray_Check_(obj.ptr())) {
    if (py::isinstance<Tensor>(obj)) return obj.cast<const Tensor&>();
    throw py::type_error(std::string(what) + ": expected a float32 NumPy array (or nabla.Tensor), got " +
                         describe(obj));
  }
  const auto* a = proxy(obj);
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  if (d->type_num != kNpyFloat32 || d->byteorder == '>')
    throw py::type_error(std::string(what) + ": expected float32, got a " + describe(obj) +
                         " (convert with .astype(numpy.float32))");
  if (a->nd < 1 || a->nd > 4)
    throw py::value_error(std::string(what) + ": expected rank 1 to 4, got a " + describe(obj));
  int64_t n = 1;
  for (int i = 0; i < a->nd; ++i) n *= a->dimensions[i];
  if (n == 0) throw py::value_error(std::string(what) + ": empty " + describe(obj));
  if (!(a->flags & npy_api::NPY_ARRAY_C_CONTIGUOUS_))
    throw py::value_error(std::string(what) + ": expected a C-contiguous array, got a non-contiguous " +
                          describe(obj) + " (use numpy.ascontiguousarray)");
  auto* data = reinterpret_cast<float*>(a->data);
  const bool may_adopt = !writable || (a->flags & npy_api::NPY_ARRAY_WRITEABLE_);
  // A view nabla handed out: the very Tensor behind it.
  if (may_adopt && a->base != nullptr && PyCapsule_CheckExact(a->base) && PyCapsule_IsValid(a->base, kCapsuleName)) {
    const auto* t = static_cast<const Tensor*>(PyCapsule_GetPointer(a->base, kCapsuleName));
    if (t->data() == data && std::equal(t->shape().begin(), t->shape().end(), a->dimensions, a->dimensions + a->nd))
      return *t;
  }
  std::vector<int64_t> shape(a->dimensions, a->dimensions + a->nd);
  if (may_adopt && reinterpret_cast<uintptr_t>(data) % 64 == 0) {
    Py_INCREF(obj.ptr());
    return Tensor::adopt(data, std::move(shape),
                         std::shared_ptr<void>(obj.ptr(), [](void* p) { release_ref(static_cast<PyObject*>(p)); }));
  }
  Tensor t(std::move(shape));
  std::memcpy(t.data(), data, static_cast<size_t>(n) * sizeof(float));
  return t;
}

py::object to_array(const Tensor& t, bool writeable) {
  if (t.numel() == 0) return py::none();
  // The array's base: a capsule holding a Tensor that shares t's storage
  // (cheaper to make than a nabla.Tensor Python object: this runs on every
  // forward and backward).
  auto* held = new Tensor(t);
  PyObject* cap = PyCapsule_New(held, kCapsuleName, [](PyObject* c) {
    delete static_cast<Tensor*>(PyCapsule_GetPointer(c, kCapsuleName));
  });
  if (cap == nullptr) {
    delete held;
    throw py::error_already_set();
  }
  const auto& s = t.shape();
  const int nd = static_cast<int>(s.size());
  Py_intptr_t shape[4], strides[4];
  Py_intptr_t stride = sizeof(float);
  for (int i = nd; i-- > 0;) {
    shape[i] = s[static_cast<size_t>(i)];
    strides[i] = stride;
    stride *= shape[i];
  }
  auto& api = npy_api::get();
  // The const data(): the mutable one would drop the fused-gradient hint.
  PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, api.PyArray_DescrFromType_(kNpyFloat32), nd, shape,
                                          strides, const_cast<float*>(t.data()),
                                          writeable ? npy_api::NPY_ARRAY_WRITEABLE_ : 0, nullptr);
  if (a == nullptr) {
    Py_DECREF(cap);
    throw py::error_already_set();
  }
  if (api.PyArray_SetBaseObject_(a, cap) != 0) {  // steals cap
    Py_DECREF(a);
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(a);
}

void bind_tensor(py::module_& m) {
  py::class_<Tensor>(m, "Tensor", py::buffer_protocol(), R"doc(
nabla's tensor: float32, contiguous, row-major, 64-byte aligned, rank 1 to 4.

You rarely need one: every nabla function takes NumPy arrays and returns
NumPy arrays. A Tensor is what those arrays view: ``numpy.asarray(t)`` (the
buffer protocol) shares its memory, without a copy.

Tensor(shape)      a zero-filled tensor, e.g. nabla.Tensor((64, 784))
Tensor.from_array(a)  the tensor nabla would use for the array a (no copy
                   when a is 64-byte aligned or came from nabla)
)doc")
      .def(py::init([](const std::vector<int64_t>& shape) { return Tensor(shape); }), py::arg("shape"),
           "A zero-filled tensor of this shape (rank 1 to 4).")
      .def_static("from_array", [](py::handle a) { return to_tensor(a, "Tensor.from_array"); }, py::arg("array"),
                  "The Tensor nabla uses for a float32 C-contiguous array: the array's own memory when it is "
                  "64-byte aligned or a view nabla returned, else a copy.")
      .def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape())); },
                             "The extents, a tuple.")
      .def_property_readonly("numel", &Tensor::numel, "Number of elements.")
      .def("numpy", [](const Tensor& t) { return to_array(t); },
           "A NumPy view of the tensor (no copy, like numpy.asarray(t)); None for an empty tensor.")
      .def("__len__", [](const Tensor& t) { return t.rank() ? t.shape()[0] : 0; })
      .def("__repr__", [](const Tensor& t) { return "nabla.Tensor(shape=" + shape_string(t.shape()) + ")"; })
      .def_buffer([](const Tensor& t) {
        if (t.numel() == 0) throw py::value_error("nabla.Tensor: an empty tensor has no buffer");
        const auto& s = t.shape();
        std::vector<py::ssize_t> shape(s.begin(), s.end()), strides(s.size());
        py::ssize_t stride = sizeof(float);
        for (size_t i = s.size(); i-- > 0;) {
          strides[i] = stride;
          stride *= s[i];
        }
        return py::buffer_info(const_cast<float*>(t.data()), sizeof(float), py::format_descriptor<float>::format(),
                               static_cast<py::ssize_t>(s.size()), shape, strides);
      });
}

}  // namespace nabla::python
