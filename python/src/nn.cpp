// nabla._core.nn: layers, Parameter, Sequential, losses, optimisers, and
// save/load.
//
// Layers are not bound one by one: nabla.nn's Python classes (Dense,
// Conv2D, ...) are made in python/nabla/nn.py from layer_types(), each
// constructing the generic _core.nn.Layer with its type name and arguments.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <time.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "nabla/nn/residual.hpp"
#include "layer_table.hpp"
#include "nabla/error.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/nn/schedule.hpp"
#include "nabla/nn/parameter.hpp"
#include "nabla/nn/presets.hpp"
#include "nabla/nn/registry.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/nn/serialize.hpp"

namespace nabla::python {
namespace {

namespace nn = nabla::nn;
using SequentialPtr = std::shared_ptr<nn::Sequential>;

/// A layer as Python holds it: owned until added to a Sequential, then a
/// view into the model (which it keeps alive).
struct PyLayer {
  std::unique_ptr<nn::Layer> owned;
  nn::Layer* layer = nullptr;
  SequentialPtr owner;
  std::string type;  // the layer type's name: "Conv2D"

  nn::Layer& get() const {
    if (layer == nullptr) throw Error("nabla.nn.Layer: not initialised");
    return *layer;
  }
};

py::tuple shape_tuple(const std::vector<int64_t>& s) { return py::tuple(py::cast(s)); }

// The arguments of one parameter view: Parameter objects are references
// into the layer, kept alive by the Python object they came from.
py::list parameter_list(const std::vector<std::pair<std::string, nn::Parameter*>>& named, py::handle parent,
                        bool with_names, bool as_arrays) {
  py::list out;
  for (const auto& [name, p] : named) {
    py::object v = as_arrays ? to_array(p->value)
                             : py::cast(p, py::return_value_policy::reference_internal, parent);
    if (with_names) out.append(py::make_tuple(name, v));
    else out.append(v);
  }
  return out;
}

void add_layer(const SequentialPtr& model, PyLayer& l) {
  if (!l.owned)
    throw Error("Sequential.add: layer '" + l.get().name() +
                "' already belongs to a Sequential (a layer can be added once; make a new one)");
  model->add(std::move(l.owned));
  l.owner = model;  // l.layer stays valid: the model owns the same object now
}

// An optimiser and the Parameter objects it updates (which keep their
// models alive while the optimiser lives).
template <class Opt>
struct Held : Opt {
  template <class... A>
  explicit Held(py::list p, A... a) : Opt(param_ptrs(p), a...), params(std::move(p)) {}
  py::list params;

  static std::vector<nn::Parameter*> param_ptrs(const py::list& params) {
    std::vector<nn::Parameter*> out;
    for (py::handle h : params) {
      if (!py::isinstance<nn::Parameter>(h))
        throw py::type_error("optimiser: expected nabla.nn.Parameter objects (model.parameters()), got " +
                             describe(h));
      out.push_back(h.cast<nn::Parameter*>());
    }
    return out;
  }
};

nn::Optimizer& optimizer_of(py::handle h) {
  if (!py::isinstance<nn::Optimizer>(h)) throw py::type_error("expected a nabla.nn optimiser, got " + describe(h));
  return h.cast<nn::Optimizer&>();
}

// The training step of the Python benchmark (bench/python_overhead.py), in
// C++: what Python's per-step cost is measured against, in the same process
// on the same objects.
// With thread_clock, the CPU time of the calling thread (what Python's
// time.thread_time() reads: at one thread, the steps run on it, and time
// the machine gave to other processes is left out).
double now_seconds(bool thread_clock) {
  timespec ts{};
  ::clock_gettime(thread_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double time_steps(nn::Sequential& m, nn::Loss& loss, nn::Optimizer& opt, const Tensor& x, const Tensor& y,
                  int64_t steps, bool thread_clock) {
  const Unlocked unlocked;
  const double t0 = now_seconds(thread_clock);
  for (int64_t i = 0; i < steps; ++i) {
    opt.zero_grad();
    loss.forward(m.forward(x), y);
    m.backward(loss.backward());
    opt.step();
  }
  return now_seconds(thread_clock) - t0;
}

}  // namespace

void bind_nn(py::module_& nn) {
  // ---- the layer table --------------------------------------------------------
  py::class_<LayerArgInfo>(nn, "LayerArg", "One constructor argument of a layer type.")
      .def_readonly("name", &LayerArgInfo::name)
      .def_readonly("type", &LayerArgInfo::type, "'int', 'float' or 'bool'")
      .def_readonly("default", &LayerArgInfo::default_value, "None when the argument is required")
      .def_readonly("doc", &LayerArgInfo::doc);
  py::class_<LayerTypeInfo>(nn, "LayerType", "One layer type: its name, documentation and constructor arguments.")
      .def_readonly("name", &LayerTypeInfo::name)
      .def_readonly("doc", &LayerTypeInfo::doc)
      .def_readonly("args", &LayerTypeInfo::args);
  nn.def("layer_types", &layer_types, py::return_value_policy::reference,
         "Every layer type nabla has, from its layer registry: what nabla.nn's layer classes are made from.");

  // ---- Parameter ----------------------------------------------------------------
  py::class_<nn::Parameter>(nn, "Parameter", R"doc(
A trainable tensor and its gradient, with PyTorch's layouts (Dense weight
[out, in], bias [out]; Conv2D weight [out_ch, in_ch, k, k], bias [out_ch]).

value, grad   NumPy views of nabla's memory (no copy): writing into
              ``p.value[...] = w`` sets the weights; assigning ``p.value = w``
              copies w in (same shape).
Sequential.backward adds into grad (PyTorch's ``grad +=``); zero_grad()
resets it. ``numpy.asarray(p)`` is the value.
)doc")
      .def_property(
          "value", [](const nn::Parameter& p) { return to_array(p.value); },
          [](nn::Parameter& p, py::handle v) {
            const Tensor t = to_tensor(v, "Parameter.value");
            if (t.shape() != p.value.shape())
              throw Error("Parameter.value: shape " + shape_string(t.shape()) + " does not match " +
                          shape_string(p.value.shape()));
            p.value.copy_from(t);
          },
          "The values (a writable NumPy view).")
      .def_property(
          "grad", [](const nn::Parameter& p) { return to_array(p.grad); },
          [](nn::Parameter& p, py::handle v) {
            const Tensor t = to_tensor(v, "Parameter.grad");
            if (t.shape() != p.grad.shape())
              throw Error("Parameter.grad: shape " + shape_string(t.shape()) + " does not match " +
                          shape_string(p.grad.shape()));
            p.grad.copy_from(t);
          },
          "dLoss/dvalue accumulated by backward (a writable NumPy view).")
      .def_property_readonly("shape", [](const nn::Parameter& p) { return shape_tuple(p.value.shape()); })
      .def(
          "__array__",
          [](const nn::Parameter& p, py::object dtype) {
            py::object a = to_array(p.value);
            return dtype.is_none() ? a : a.attr("astype")(dtype);
          },
          py::arg("dtype") = py::none())
      .def("__repr__",
           [](const nn::Parameter& p) { return "nabla.nn.Parameter(shape=" + shape_string(p.value.shape()) + ")"; });

  // ---- Layer ----------------------------------------------------------------------
  py::class_<PyLayer>(nn, "Layer", py::dynamic_attr(), R"doc(
Base of every layer. Its subclasses (Dense, Conv2D, MaxPool2D, ReLU, ...)
are made from the layer registry (layer_types()); construct those.

A layer is owned by the Sequential it is added to (once); the Python object
then views the layer inside the model, and keeps the model alive.
)doc")
      .def(py::init([](const std::string& type, const std::vector<double>& args) {
             const LayerTypeInfo& t = find_layer_type(type);
             if (args.size() != t.args.size())
               throw py::type_error(t.name + ": expected " + std::to_string(t.args.size()) + " arguments, got " +
                                    std::to_string(args.size()));
             auto l = std::make_unique<PyLayer>();
             l->owned = t.make(args);
             l->layer = l->owned.get();
             l->type = t.name;
             return l;
           }),
           py::arg("type"), py::arg("args"),
           "Makes a layer of a registered type from its arguments in order (what the subclasses call).")
      .def(py::init([](const py::list& body, const py::list& shortcut) {
             // Residual: the block takes the layers (each once, as Sequential.add does).
             auto take = [](const py::list& layers, const char* branch) {
               nn::Sequential seq;
               for (py::handle h : layers) {
                 if (!py::isinstance<PyLayer>(h))
                   throw py::type_error(std::string("Residual: ") + branch + " must be a list of nabla.nn layers, got " +
                                        describe(h));
                 auto& l = h.cast<PyLayer&>();
                 if (!l.owned)
                   throw Error(std::string("Residual: ") + branch + " layer '" + l.get().name() +
                               "' already belongs to a model (a layer can be added once; make a new one)");
                 seq.add(std::move(l.owned));
               }
               return seq;
             };
             nn::Sequential b = take(body, "body"), s = take(shortcut, "shortcut");
             auto l = std::make_unique<PyLayer>();
             l->owned = std::make_unique<nn::Residual>(std::move(b), std::move(s));
             l->layer = l->owned.get();
             l->type = "Residual";
             return l;
           }),
           py::arg("body"), py::arg("shortcut"),
           "Makes a Residual block from lists of new layers (what nabla.nn.Residual calls).")
      .def("name", [](const PyLayer& l) { return l.get().name(); },
           "Type and configuration, as errors and summary() print it: 'Dense 120→84'.")
      .def_readonly("type", &PyLayer::type, "The layer type's name ('Conv2D').")
      .def_property_readonly(
          "args",
          [](const PyLayer& l) {
            py::dict d;
            const auto values = l.get().args();
            const auto& type = l.get().type();
            for (size_t i = 0; i < values.size() && i < type.args.size(); ++i) {
              if (type.args[i].type == nn::LayerArg::Type::Int) d[py::str(type.args[i].name)] = static_cast<int64_t>(values[i]);
              else d[py::str(type.args[i].name)] = values[i];
            }
            return d;
          },
          "The constructor arguments that make this layer, {name: value}.")
      .def(
          "torch", [](const PyLayer& l) { return nn::torch_equivalent(l.get()).python(); },
          "The torch equivalent, as a Python expression: 'torch.nn.Conv2d(in_channels=1, out_channels=6, "
          "kernel_size=5, stride=1, padding=2)' (eval it with torch imported).")
      .def(
          "output_shape", [](const PyLayer& l, const std::vector<int64_t>& in) { return shape_tuple(l.get().output_shape(in)); },
          py::arg("input_shape"),
          "The output shape for an input shape (batch first); raises nabla.Error describing a mismatch.")
      .def(
          "named_parameters",
          [](py::handle self) {
            auto& l = self.cast<PyLayer&>();
            return parameter_list(l.get().named_parameters(), self, true, true);
          },
          "[(name, NumPy view of the value)], PyTorch's state_dict names ('weight', 'bias').")
      .def(
          "parameters",
          [](py::handle self) {
            auto& l = self.cast<PyLayer&>();
            return parameter_list(l.get().named_parameters(), self, false, false);
          },
          "The Parameter objects, in order.")
      .def("num_parameters", [](const PyLayer& l) { return l.get().num_parameters(); }, "Number of trainable values.")
      .def(
          "__getattr__",
          [](py::handle self, const std::string& attr) -> py::object {
            auto& l = self.cast<PyLayer&>();
            for (const auto& [name, p] : l.get().named_parameters())
              if (name == attr) return py::cast(p, py::return_value_policy::reference_internal, self);
            throw py::attribute_error("'" + l.type + "' layer has no attribute '" + attr + "'");
          },
          "A parameter by name: layer.weight, layer.bias (nabla.nn.Parameter).")
      .def("__repr__", [](const PyLayer& l) { return "nabla.nn." + l.type + "('" + l.get().name() + "')"; });

  // ---- Sequential -------------------------------------------------------------------
  py::class_<nn::Sequential, SequentialPtr>(nn, "Sequential", R"doc(
A chain of layers trained with forward / backward, like torch.nn.Sequential:

    model = nabla.nn.Sequential(nn.Dense(784, 128), nn.Tanh(), nn.Dense(128, 10))
    loss = nabla.nn.SoftmaxCrossEntropy()
    opt = nabla.nn.Adam(model.parameters(), lr=1e-3)
    for x, y in nabla.data.BatchIterator(train, 64, seed=0):
        opt.zero_grad()
        l = loss(model(x), y)
        model.backward(loss.backward())
        opt.step()

Inputs are float32 C-contiguous NumPy arrays (batch first); outputs are
NumPy views of nabla's buffers. An output stays unchanged while you hold it
(the next call writes into another buffer). Fusion is internal: a Dense or
Conv2D followed by ReLU/Sigmoid/Tanh runs as one GEMM with the activation in
its epilogue. forward, backward and the optimiser's step release the GIL; a
model must not be used from two threads at once.
)doc")
      .def(py::init([](const py::args& layers) {
             auto m = std::make_shared<nn::Sequential>();
             for (py::handle h : layers) {
               if (!py::isinstance<PyLayer>(h))
                 throw py::type_error("Sequential: expected nabla.nn layers, got " + describe(h));
               add_layer(m, h.cast<PyLayer&>());
             }
             return m;
           }),
           "Sequential(*layers): a model of these layers, in order.")
      .def(
          "add",
          [](const SequentialPtr& m, PyLayer& l) {
            add_layer(m, l);
            return m;
          },
          py::arg("layer"), "Appends a layer (which the model then owns); returns the model, so calls chain.")
      .def("__len__", &nn::Sequential::size)
      .def(
          "__getitem__",
          [](const SequentialPtr& m, int64_t i) {
            if (i < 0) i += m->size();
            if (i < 0 || i >= m->size()) throw py::index_error("Sequential: layer index out of range");
            auto l = std::make_unique<PyLayer>();
            l->layer = &m->layer(i);
            l->owner = m;
            l->type = layer_type_name(*l->layer);
            return l;
          },
          py::arg("index"), "Layer i (a view into the model).")
      .def(
          "forward",
          [](nn::Sequential& m, py::handle x) {
            const Tensor t = to_tensor(x, "Sequential.forward: x");
            Tensor y;
            {
              const Unlocked unlocked;
              y = m.forward(t);
            }
            return to_array(y);
          },
          py::arg("x"),
          "Runs the model on a batch (first dimension N); returns the output as a NumPy view. x may be "
          "modified afterwards (the model keeps a copy for backward). Raises nabla.Error naming the layer "
          "and shapes when a layer rejects its input.")
      .def(
          "__call__", [](py::object self, py::handle x) { return self.attr("forward")(x); }, py::arg("x"),
          "Same as forward().")
      .def(
          "backward",
          [](nn::Sequential& m, py::handle dloss) {
            const Tensor t = to_tensor(dloss, "Sequential.backward: dloss");
            Tensor dx;
            {
              const Unlocked unlocked;
              dx = m.backward(t);
            }
            return to_array(dx);
          },
          py::arg("dloss"),
          "Back-propagates dLoss/dOutput: adds every parameter's gradient into its grad; returns dLoss/dInput "
          "when input_grad is on, else None (not computed at all).")
      .def_property("input_grad", &nn::Sequential::input_grad, &nn::Sequential::set_input_grad,
                    "Whether backward computes and returns the gradient w.r.t. the input (default False).")
      .def("set_input_grad", &nn::Sequential::set_input_grad, py::arg("on"), "See input_grad.")
      .def_property("fusion", &nn::Sequential::fusion, &nn::Sequential::set_fusion,
                    "Layer fusion (default True); False runs every layer on its own (testing, profiling).")
      .def(
          "output_shape",
          [](const nn::Sequential& m, const std::vector<int64_t>& in) { return shape_tuple(m.output_shape(in)); },
          py::arg("input_shape"), "The output shape for an input shape; raises nabla.Error as forward() does.")
      .def(
          "named_parameters",
          [](py::handle self) {
            return parameter_list(self.cast<nn::Sequential&>().named_parameters(), self, true, true);
          },
          "[(name, NumPy view of the value)] with torch.nn.Sequential's state_dict names: '0.weight', "
          "'0.bias', '3.weight', ...")
      .def(
          "parameters",
          [](py::handle self) {
            return parameter_list(self.cast<nn::Sequential&>().named_parameters(), self, false, false);
          },
          "The Parameter objects (value and grad), in order: what the optimisers take.")
      .def(
          "state_dict",
          [](nn::Sequential& m) {
            py::dict d;
            for (const auto& [name, p] : m.named_parameters()) d[py::str(name)] = to_array(p->value);
            for (auto& [name, b] : m.named_buffers()) {
              if (b.value) d[py::str(name)] = to_array(*b.value);
              else d[py::str(name)] = py::module_::import("numpy").attr("int64")(*b.count);
            }
            return d;
          },
          "{name: value}, like torch's state_dict: the parameters as NumPy views, then the buffers (BatchNorm's "
          "running_mean / running_var as views, num_batches_tracked as a numpy.int64 copy). Views: copy them to "
          "keep a snapshot.")
      .def(
          "load_state_dict",
          [](nn::Sequential& m, const py::dict& d, bool strict) {
            auto named = m.named_parameters();
            auto buffers = m.named_buffers();
            std::vector<std::pair<Tensor*, Tensor>> todo;
            std::vector<std::pair<int64_t*, int64_t>> counts;
            auto take = [&](const std::string& name, Tensor& target) {
              if (!d.contains(name)) {
                if (strict) throw Error("load_state_dict: missing key '" + name + "'");
                return;
              }
              Tensor t = to_tensor(d[py::str(name)], ("load_state_dict: '" + name + "'").c_str());
              if (t.shape() != target.shape())
                throw Error("load_state_dict: '" + name + "' has shape " + shape_string(t.shape()) +
                            ", the model's is " + shape_string(target.shape()));
              todo.emplace_back(&target, std::move(t));
            };
            for (const auto& [name, p] : named) take(name, p->value);
            for (auto& [name, b] : buffers) {
              if (b.value) {
                take(name, *b.value);
                continue;
              }
              if (!d.contains(name)) {
                if (strict) throw Error("load_state_dict: missing key '" + name + "'");
                continue;
              }
              py::object v = d[py::str(name)];
              py::object a = py::module_::import("numpy").attr("asarray")(v);
              if (py::len(a.attr("shape")) != 0 || a.attr("dtype").attr("kind").cast<std::string>() != "i")
                throw Error("load_state_dict: '" + name + "' must be an integer scalar, got " +
                            py::str(a.attr("dtype")).cast<std::string>() + " of shape " +
                            py::str(a.attr("shape")).cast<std::string>());
              counts.emplace_back(b.count, a.attr("item")().cast<int64_t>());
            }
            if (strict)
              for (auto item : d) {
                const auto key = py::str(item.first).cast<std::string>();
                bool known = false;
                for (const auto& np : named) known = known || np.first == key;
                for (const auto& nb : buffers) known = known || nb.first == key;
                if (!known) throw Error("load_state_dict: unexpected key '" + key + "'");
              }
            for (auto& [target, t] : todo) target->copy_from(t);
            for (auto& [target, v] : counts) *target = v;
          },
          py::arg("state_dict"), py::arg("strict") = true,
          "Copies values in from {name: array}: parameters and buffers (e.g. a torch state_dict's tensors as "
          ".numpy()); with strict, every name must match, as in torch. Checks everything before changing anything.")
      .def(
          "train", [](nn::Sequential& m, bool on) -> nn::Sequential& { return m.train(on); }, py::arg("mode") = true,
          py::return_value_policy::reference_internal,
          "Training mode (PyTorch's train()): BatchNorm uses and updates batch statistics, Dropout drops. Returns "
          "the model.")
      .def(
          "eval", [](nn::Sequential& m) -> nn::Sequential& { return m.eval(); },
          py::return_value_policy::reference_internal,
          "Evaluation mode: BatchNorm uses its running statistics (folded into a preceding Dense/Conv2D when "
          "fusion is on), Dropout is the identity. Returns the model.")
      .def_property_readonly("training", &nn::Sequential::is_training, "True in training mode (the default).")
      .def("is_training", &nn::Sequential::is_training, "See train().")
      .def(
          "named_buffers",
          [](nn::Sequential& m) {
            py::list out;
            for (auto& [name, b] : m.named_buffers()) {
              if (b.value) out.append(py::make_tuple(name, to_array(*b.value)));
              else out.append(py::make_tuple(name, py::int_(*b.count)));
            }
            return out;
          },
          "[(name, value)]: BatchNorm's running_mean / running_var as writable NumPy views, num_batches_tracked "
          "as an int (torch's state_dict names).")
      .def("zero_grad", &nn::Sequential::zero_grad, "Sets every gradient to zero.")
      .def("num_parameters", &nn::Sequential::num_parameters, "Number of trainable values.")
      .def(
          "init",
          [](nn::Sequential& m, const std::string& scheme, uint64_t seed) { m.init(nn::parse_init(scheme), seed); },
          py::arg("scheme") = "default", py::arg("seed") = 0,
          "Redraws every parameter: 'default' (PyTorch's), 'he', 'he-normal', 'xavier', 'xavier-normal'.")
      .def(
          "summary",
          [](const nn::Sequential& m, std::optional<std::vector<int64_t>> in) {
            return in ? m.summary(*in) : m.summary();
          },
          py::arg("input_shape") = py::none(),
          "A table: index, layer, output shape, parameters (shapes for input_shape, else of the last forward).")
      .def("__repr__", [](const nn::Sequential& m) { return m.summary(); });

  // ---- losses -----------------------------------------------------------------------
  auto loss_forward = [](nn::Loss& loss, py::handle pred, py::handle target) {
    const Tensor p = to_tensor(pred, "loss.forward: pred"), t = to_tensor(target, "loss.forward: target");
    const Unlocked unlocked;
    return loss.forward(p, t);
  };
  py::class_<nn::Loss>(nn, "Loss", R"doc(
Base of the losses (PyTorch's definitions, 'mean' reduction):
``l = loss(pred, target)`` (or forward) returns the loss as a float and
computes its gradient; ``loss.backward()`` is dLoss/dpred, so
``model.backward(loss.backward())`` is the chain rule.
)doc")
      .def("forward", loss_forward, py::arg("pred"), py::arg("target"),
           "Returns the mean loss (a float) and computes its gradient; raises nabla.Error on a shape mismatch.")
      .def("__call__", loss_forward, py::arg("pred"), py::arg("target"), "Same as forward().")
      .def(
          "backward", [](const nn::Loss& loss) { return to_array(loss.backward(), /*writeable=*/false); },
          "dLoss/dpred of the last forward, a read-only NumPy array (pass it to Sequential.backward, which "
          "then uses the loss's fused gradient where there is one; copy it to modify it). Raises nabla.Error "
          "before any forward.")
      .def("name", &nn::Loss::name, "'SoftmaxCrossEntropy', 'BinaryCrossEntropy', ...")
      .def("__repr__", [](const nn::Loss& l) { return "nabla.nn." + l.name() + "()"; });
  py::class_<nn::SoftmaxCrossEntropy, nn::Loss>(nn, "SoftmaxCrossEntropy", R"doc(
Softmax + cross-entropy from logits [N, C] (torch.nn.CrossEntropyLoss):
targets are class indices [N] (whole numbers in [0, C) stored as float32)
or probabilities [N, C] (one-hot or soft); mean over the batch. Gradient
(softmax(z) − Y)/N.
)doc")
      .def(py::init<>());
  py::class_<nn::BinaryCrossEntropy, nn::Loss>(nn, "BinaryCrossEntropy", R"doc(
Binary cross-entropy, mean over all elements. from_logits=False: pred are
probabilities (torch.nn.BCELoss, logs clamped at −100); True: pred are
logits (BCEWithLogitsLoss, numerically stable). When pred is the output of
a Sequential ending in Sigmoid, model.backward(loss.backward()) uses the
exact gradient (A − Y)/N for the sigmoid's input.
)doc")
      .def(py::init<bool>(), py::arg("from_logits") = false)
      .def_property_readonly("from_logits", &nn::BinaryCrossEntropy::from_logits);
  py::class_<nn::MSE, nn::Loss>(nn, "MSE", R"doc(
Mean squared error over all elements (torch.nn.MSELoss): mean (p − y)²,
gradient 2(p − y)/numel.
)doc")
      .def(py::init<>());

  // ---- optimisers -------------------------------------------------------------------
  py::class_<nn::Optimizer>(nn, "Optimizer", R"doc(
Base of the optimisers (torch.optim's update rules), made from
model.parameters(). step() updates every parameter from its gradient (the
GIL released); it does not clear gradients: call zero_grad() (here or on
the model) before each backward, as in PyTorch.
)doc")
      .def(
          "step",
          [](nn::Optimizer& o) {
            const Unlocked unlocked;
            o.step();
          },
          "One update of every parameter from its gradient.")
      .def("zero_grad", &nn::Optimizer::zero_grad, "Sets every parameter's gradient to zero.")
      .def_property("lr", &nn::Optimizer::lr, &nn::Optimizer::set_lr,
                    "The learning rate (may be changed between steps; >= 0).")
      .def_property("steps", &nn::Optimizer::steps, &nn::Optimizer::set_steps,
                    "Steps taken so far (set it with the state to restore a checkpoint).")
      .def(
          "state",
          [](const nn::Optimizer& o) {
            py::list out;
            for (const Tensor& t : o.state()) out.append(to_array(t));
            return out;
          },
          "The buffers a checkpoint keeps besides steps, as writable NumPy views (see the class doc).")
      .def("name", &nn::Optimizer::name, "'SGD', 'Adam', ...")
      .def("__repr__", [](const nn::Optimizer& o) { return "nabla.nn." + o.name() + "(lr=" + std::to_string(o.lr()) + ")"; });
  py::class_<Held<nn::SGD>, nn::Optimizer>(nn, "SGD", R"doc(
torch.optim.SGD without dampening: g = grad + weight_decay·w; with
momentum, buf = g on the first step, then buf = momentum·buf + g, and
g = buf (or g + momentum·buf with nesterov); w −= lr·g. state(): the
momentum buffers, one per parameter.
)doc")
      .def(py::init([](const py::iterable& params, float lr, float momentum, float weight_decay, bool nesterov) {
             return std::make_unique<Held<nn::SGD>>(py::list(params), lr, momentum, weight_decay, nesterov);
           }),
           py::arg("params"), py::arg("lr"), py::arg("momentum") = 0.f, py::arg("weight_decay") = 0.f,
           py::arg("nesterov") = false,
           "SGD(model.parameters(), lr, momentum=0, weight_decay=0, nesterov=False); raises nabla.Error for "
           "negative values, or nesterov without momentum.")
      .def_readonly("params", &Held<nn::SGD>::params, "The Parameter objects it updates.");
  py::class_<Held<nn::Adam>, nn::Optimizer>(nn, "Adam", R"doc(
torch.optim.Adam (not AMSGrad; L2 weight decay added to the gradient, not
AdamW): m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g²,
w −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps). state(): the first moments of
every parameter in order, then the second moments.
)doc")
      .def(py::init([](const py::iterable& params, float lr, float beta1, float beta2, float eps, float weight_decay) {
             return std::make_unique<Held<nn::Adam>>(py::list(params), lr, beta1, beta2, eps, weight_decay);
           }),
           py::arg("params"), py::arg("lr") = 1e-3f, py::arg("beta1") = 0.9f, py::arg("beta2") = 0.999f,
           py::arg("eps") = 1e-8f, py::arg("weight_decay") = 0.f,
           "Adam(model.parameters(), lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0).")
      .def_readonly("params", &Held<nn::Adam>::params, "The Parameter objects it updates.");
  py::class_<Held<nn::AdamW>, nn::Optimizer>(nn, "AdamW", R"doc(
torch.optim.AdamW: decoupled weight decay (w −= lr·weight_decay·w before
the Adam update). state(): first moments, then second moments.
)doc")
      .def(py::init([](const py::iterable& params, float lr, float beta1, float beta2, float eps, float weight_decay) {
             return std::make_unique<Held<nn::AdamW>>(py::list(params), lr, beta1, beta2, eps, weight_decay);
           }),
           py::arg("params"), py::arg("lr") = 1e-3f, py::arg("beta1") = 0.9f, py::arg("beta2") = 0.999f,
           py::arg("eps") = 1e-8f, py::arg("weight_decay") = 1e-2f,
           "AdamW(model.parameters(), lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2).")
      .def_readonly("params", &Held<nn::AdamW>::params, "The Parameter objects it updates.");
  py::class_<Held<nn::RMSprop>, nn::Optimizer>(nn, "RMSprop", R"doc(
torch.optim.RMSprop (not centred): s = alpha·s + (1−alpha)·g²,
w −= lr·g/(√s + eps) (with momentum: buf = momentum·buf + g/(√s + eps),
w −= lr·buf).
)doc")
      .def(py::init([](const py::iterable& params, float lr, float alpha, float eps, float weight_decay,
                       float momentum) {
             return std::make_unique<Held<nn::RMSprop>>(py::list(params), lr, alpha, eps, weight_decay, momentum);
           }),
           py::arg("params"), py::arg("lr") = 1e-2f, py::arg("alpha") = 0.99f, py::arg("eps") = 1e-8f,
           py::arg("weight_decay") = 0.f, py::arg("momentum") = 0.f,
           "RMSprop(model.parameters(), lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0).")
      .def_readonly("params", &Held<nn::RMSprop>::params, "The Parameter objects it updates.");
  nn.def(
      "clip_grad_norm",
      [](const py::iterable& params, float max_norm) {
        const auto ptrs = Held<nn::SGD>::param_ptrs(py::list(params));
        const Unlocked unlocked;
        return nn::clip_grad_norm(ptrs, max_norm);
      },
      py::arg("params"), py::arg("max_norm"),
      "torch.nn.utils.clip_grad_norm_: scales every gradient so that their L2 norm (all parameters together) is "
      "at most max_norm; returns the norm before scaling.");

  // ---- learning-rate schedules (one step() per epoch, like torch's) ---------------
  py::class_<nn::Schedule>(nn, "Schedule", R"doc(
Base of the learning-rate schedules: step() once per epoch sets the
optimiser's lr from the epoch count (torch's closed forms);
set_warmup(epochs, start_factor) adds a linear warm-up.
)doc")
      .def("step", &nn::Schedule::step, "One epoch done: the optimiser's lr becomes the next epoch's.")
      .def_property("epoch", &nn::Schedule::epoch, &nn::Schedule::set_epoch, "Epochs stepped so far.")
      .def("lr_at", &nn::Schedule::lr_at, py::arg("epoch"), "The learning rate of an epoch.")
      .def("set_warmup", &nn::Schedule::set_warmup, py::arg("epochs"), py::arg("start_factor"),
           "Linear warm-up from start_factor·rate over the first epochs.")
      .def("name", &nn::Schedule::name);
  py::class_<nn::StepLR, nn::Schedule>(nn, "StepLR", "torch.optim.lr_scheduler.StepLR: lr·gamma^(epoch // step_size).")
      .def(py::init<nn::Optimizer&, int64_t, float>(), py::arg("optimizer"), py::arg("step_size"),
           py::arg("gamma") = 0.1f, py::keep_alive<1, 2>());
  py::class_<nn::CosineAnnealingLR, nn::Schedule>(nn, "CosineAnnealingLR",
                                                  "torch.optim.lr_scheduler.CosineAnnealingLR's closed form.")
      .def(py::init<nn::Optimizer&, int64_t, float>(), py::arg("optimizer"), py::arg("t_max"),
           py::arg("eta_min") = 0.f, py::keep_alive<1, 2>());
  py::class_<nn::LinearWarmup, nn::Schedule>(nn, "LinearWarmup",
                                             "torch.optim.lr_scheduler.LinearLR from start_factor to 1.")
      .def(py::init<nn::Optimizer&, int64_t, float>(), py::arg("optimizer"), py::arg("warmup_epochs"),
           py::arg("start_factor") = 1.f / 3, py::keep_alive<1, 2>());
  nn.def("manual_seed", &nn::manual_seed, py::arg("seed"),
         "Seeds the weights' initialisation and Dropout's stream (like torch.manual_seed).");

  nn.def(
      "from_spec",
      [](const std::string& spec, const std::vector<int64_t>& input_shape) {
        return std::make_shared<nn::Sequential>(nn::from_spec(nn::resolve_model(spec), input_shape));
      },
      py::arg("spec"), py::arg("input_shape"), "See nabla.nn.from_spec.");
  nn.def("resolve_model", &nn::resolve_model, py::arg("preset_or_spec"),
         "The spec of a preset name ('cnn', 'lenet', ...), or the text itself when it is not one.");
  nn.def(
      "presets",
      [] {
        py::dict d;
        for (const auto& p : nn::presets()) d[py::str(p.name)] = p.spec;
        return d;
      },
      "{preset name: spec}: the seven architectures of DESIGN.md, lenet, mlp, cnn and resnet.");

  nn.def(
      "_time_steps_cpp",
      [](nn::Sequential& m, nn::Loss& loss, py::handle opt, py::handle x, py::handle y, int64_t steps,
         bool thread_clock) {
        const Tensor tx = to_tensor(x, "x"), ty = to_tensor(y, "y");
        return time_steps(m, loss, optimizer_of(opt), tx, ty, steps, thread_clock);
      },
      py::arg("model"), py::arg("loss"), py::arg("opt"), py::arg("x"), py::arg("y"), py::arg("steps"),
      py::arg("thread_clock") = false,
      "Seconds for `steps` training steps (zero_grad, forward, loss, backward, step) run in C++, wall-clock "
      "or (thread_clock) CPU time of the calling thread: the reference of bench/python_overhead.py.");
}

void bind_serialize(py::module_& m) {
  m.def(
      "save",
      [](nn::Sequential& model, const std::string& path, const std::map<std::string, std::string>& metadata) {
        const Unlocked unlocked;
        nn::save(model, path, metadata);
      },
      py::arg("model"), py::arg("path"), py::arg("metadata") = std::map<std::string, std::string>{},
      "Writes the model's parameters as safetensors (keys '0.weight', ... like torch.nn.Sequential's "
      "state_dict; loads into torch with load_state_dict), atomically, with optional string metadata.");
  m.def(
      "load",
      [](nn::Sequential& model, const std::string& path) {
        const Unlocked unlocked;
        nn::load(model, path);
      },
      py::arg("model"), py::arg("path"),
      "Reads a safetensors file into the model's parameters; validates everything first (names, shapes, "
      "offsets) and raises nabla.Error naming the file, leaving the model unchanged on failure.");
  m.def(
      "save_tensors",
      [](const std::string& path, const py::dict& tensors, const std::map<std::string, std::string>& metadata) {
        std::vector<std::pair<std::string, Tensor>> list;
        for (auto item : tensors) {
          auto name = py::str(item.first).cast<std::string>();
          list.emplace_back(name, to_tensor(item.second, "save_tensors"));
        }
        const Unlocked unlocked;
        nn::save_tensors(path, list, metadata);
      },
      py::arg("path"), py::arg("tensors"), py::arg("metadata") = std::map<std::string, std::string>{},
      "Writes {name: float32 array} and string metadata as one safetensors file, atomically.");
  m.def(
      "load_tensors",
      [](const std::string& path) {
        nn::TensorFile f;
        {
          const Unlocked unlocked;
          f = nn::load_tensors(path);
        }
        py::dict d;
        for (const auto& [name, t] : f.tensors) d[py::str(name)] = to_array(t);
        return py::make_tuple(d, f.metadata);
      },
      py::arg("path"), "Reads a safetensors file (F32): ({name: array}, {metadata}).");
}

}  // namespace nabla::python
