// nabla._core: the compiled half of the Python package `nabla` (the other
// half, python/nabla/*.py, re-exports it as nabla, nabla.nn, nabla.data).
// Here: nabla.Error, nabla.Tensor, the runtime functions and save/load.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <csignal>
#include <map>
#include <string>

#include "arrays.hpp"
#include "bindings.hpp"
#include "nabla/error.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/serialize.hpp"
#include "nabla/runtime/cpu.hpp"
#include "nabla/runtime/interrupt.hpp"
#include "nabla/runtime/profile.hpp"
#include "nabla/runtime/threads.hpp"
#include "nabla/version.hpp"

namespace py = pybind11;
using namespace nabla::python;

namespace {

// Ctrl-C inside a long call. While nabla runs with the GIL released, Python
// only notes a SIGINT (its C handler sets a flag that bytecode checks), so a
// long forward would run to its end. Our handler, installed once at import
// in front of Python's, also asks nabla to stop (request_interrupt(), one
// atomic store) and then calls Python's handler; the call stops at its next
// safe point with nabla::Interrupted, which the translator below turns into
// what Python's handler raises (KeyboardInterrupt). signal.signal(SIGINT,
// f) later reinstalls Python's C handler in place of ours: then a Ctrl-C
// takes effect when the call returns, as for any extension.
struct sigaction g_python_sigint {};

void on_sigint(int sig, siginfo_t* info, void* context) {
  nabla::request_interrupt();
  if (g_python_sigint.sa_flags & SA_SIGINFO)
    g_python_sigint.sa_sigaction(sig, info, context);
  else if (g_python_sigint.sa_handler != SIG_DFL && g_python_sigint.sa_handler != SIG_IGN)
    g_python_sigint.sa_handler(sig);
}

void install_sigint_handler() {
  struct sigaction current {};
  if (::sigaction(SIGINT, nullptr, &current) != 0) return;
  // Python's default_int_handler is a C handler; SIG_DFL/SIG_IGN (embedded
  // interpreters, signal.SIG_IGN) are left as they are.
  const bool is_function = (current.sa_flags & SA_SIGINFO) ? current.sa_sigaction != nullptr
                                                            : current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN;
  if (!is_function) return;
  g_python_sigint = current;
  struct sigaction ours {};
  ours.sa_sigaction = on_sigint;
  ours.sa_flags = SA_SIGINFO | (current.sa_flags & SA_ONSTACK);
  ours.sa_mask = current.sa_mask;
  ::sigaction(SIGINT, &ours, nullptr);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "nabla's compiled core; import nabla, nabla.nn and nabla.data instead.";
  m.attr("__version__") = nabla::kVersion;

  // nabla::Error → nabla.Error, a RuntimeError carrying nabla's message.
  py::register_exception<nabla::Error>(m, "Error", PyExc_RuntimeError);
  // nabla::Interrupted (a Ctrl-C stopped a long call) → what Python's SIGINT
  // handler raises, KeyboardInterrupt by default. Registered after Error's,
  // so it is tried first.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const nabla::Interrupted& e) {
      nabla::clear_interrupt();
      if (PyErr_CheckSignals() != 0) return;  // the handler raised (KeyboardInterrupt)
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    }
  });
  install_sigint_handler();
  m.attr("Error").attr("__doc__") =
      "Every failure nabla reports (a shape mismatch, a bad file, a bad argument): a RuntimeError whose "
      "message names the layer or file and the offending values, as the C++ nabla::Error does.";

  bind_tensor(m);

  // ---- runtime --------------------------------------------------------------
  m.def("set_num_threads", &nabla::set_num_threads, py::arg("n"),
        "Limits nabla (and all oneTBB work in the process) to n >= 1 threads. Results never depend on it: "
        "every kernel is bitwise identical for any n.");
  m.def("num_threads", &nabla::num_threads,
        "The current thread limit: set_num_threads(), else NABLA_NUM_THREADS, else the number of physical cores.");
  m.def("manual_seed", &nabla::nn::manual_seed, py::arg("seed"),
        "Seeds the generator newly constructed layers draw their initial parameters from (like "
        "torch.manual_seed): the same seed and the same layer constructions give the same weights.");

  py::class_<nabla::CpuInfo>(m, "CpuInfo", "Facts about the machine (hwloc topology and caches, CPUID for the ISA).")
      .def_readonly("vendor", &nabla::CpuInfo::vendor, "e.g. 'AuthenticAMD'")
      .def_readonly("model", &nabla::CpuInfo::model, "e.g. 'AMD EPYC 9R14 96-Core Processor'")
      .def_readonly("physical_cores", &nabla::CpuInfo::physical_cores, "cores, not hardware threads")
      .def_readonly("logical_cpus", &nabla::CpuInfo::logical_cpus, "hardware threads")
      .def_readonly("l1d_bytes", &nabla::CpuInfo::l1d_bytes, "L1 data cache per core, bytes")
      .def_readonly("l2_bytes", &nabla::CpuInfo::l2_bytes, "L2 per core, bytes")
      .def_readonly("l3_bytes", &nabla::CpuInfo::l3_bytes, "L3 (shared), bytes; 0 if none")
      .def_property_readonly("best_isa", [](const nabla::CpuInfo& c) { return nabla::isa_name(c.best_isa); },
                             "the best ISA CPU and OS support: 'generic', 'avx2' or 'avx512'")
      .def("__repr__", [](const nabla::CpuInfo& c) {
        return "nabla.CpuInfo(vendor='" + c.vendor + "', model='" + c.model +
               "', physical_cores=" + std::to_string(c.physical_cores) +
               ", logical_cpus=" + std::to_string(c.logical_cpus) + ", l1d_bytes=" + std::to_string(c.l1d_bytes) +
               ", l2_bytes=" + std::to_string(c.l2_bytes) + ", l3_bytes=" + std::to_string(c.l3_bytes) +
               ", best_isa='" + nabla::isa_name(c.best_isa) + "')";
      });
  m.def("cpu_info", &nabla::cpu_info, py::return_value_policy::reference,
        "The machine's facts (CpuInfo), computed once.");
  m.def("active_isa", [] { return nabla::isa_name(nabla::active_isa()); },
        "The ISA the kernels dispatch to now: 'generic', 'avx2' or 'avx512' (the best the CPU has, lowered by "
        "NABLA_ISA or set_isa()).");
  m.def("set_isa", [](const std::string& isa) { nabla::set_isa(nabla::parse_isa(isa)); }, py::arg("isa"),
        "Forces the kernels to an ISA ('generic', 'avx2', 'avx512') no higher than the CPU supports; raises "
        "nabla.Error otherwise.");

  py::class_<nabla::ProfileStatus>(m, "ProfileStatus", "What happened to the tuning profile of an ISA at start-up.")
      .def_readonly("path", &nabla::ProfileStatus::path, "the file looked at ('' if none)")
      .def_readonly("message", &nabla::ProfileStatus::message,
                    "'disabled by NABLA_PROFILE=off', 'no file', or why the file was ignored")
      .def_property_readonly("in_use", [](const nabla::ProfileStatus& s) { return s.profile.has_value(); },
                             "True when the profile was loaded and is in use")
      .def_property_readonly(
          "profile",
          [](const nabla::ProfileStatus& s) -> py::object {
            if (!s.profile) return py::none();
            return py::module_::import("json").attr("loads")(nabla::profile_to_json(*s.profile));
          },
          "the profile in use, as the dict of its JSON file, or None")
      .def("__repr__", [](const nabla::ProfileStatus& s) {
        return "nabla.ProfileStatus(path='" + s.path + "', in_use=" + (s.profile ? "True" : "False") +
               ", message='" + s.message + "')";
      });
  m.def(
      "profile_status",
      [](std::optional<std::string> isa) {
        return nabla::profile_status(isa ? nabla::parse_isa(*isa) : nabla::active_isa());
      },
      py::arg("isa") = py::none(),
      "The tuning profile's status for an ISA (default: the active one); loads the profile if not yet done. "
      "`nabla tune` writes profiles; NABLA_PROFILE=FILE|off chooses another file or none.");

  // ---- submodules -----------------------------------------------------------
  py::module_ nn = m.def_submodule("nn", "Layers, Sequential, losses and optimisers (nabla::nn).");
  bind_nn(nn);
  py::module_ data = m.def_submodule("data", "Dataset readers and the mini-batch iterator (nabla::data).");
  bind_data(data);

  // ---- save / load (after nn: they take a Sequential) -----------------------
  bind_serialize(m);
}
