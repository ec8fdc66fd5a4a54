// nabla._core.data: Dataset, the readers (IDX/MNIST directories, CSV), the
// dataset operations of the command line, and BatchIterator.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "nabla/data/csv.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/data/idx.hpp"
#include "nabla/error.hpp"

namespace nabla::python {
namespace {

namespace data = nabla::data;
using DatasetPtr = std::shared_ptr<data::Dataset>;

data::Split parse_split(const std::string& s) {
  if (s == "train") return data::Split::Train;
  if (s == "test") return data::Split::Test;
  throw py::value_error("split must be 'train' or 'test', got '" + s + "'");
}

// The iterator with what it needs alive: the dataset, the shuffling
// generator, and one NumPy view per batch buffer (the full batch and the
// last partial one), made once: iterating creates no array and copies no batch.
struct PyBatchIterator {
  DatasetPtr data;
  data::BatchIterator it;
  std::optional<data::Rng> rng;
  struct Views {
    const Tensor* of[2] = {nullptr, nullptr};
    py::object array[2];
  } x_views, y_views;

  PyBatchIterator(DatasetPtr d, int64_t batch, bool column_targets, std::optional<uint64_t> seed)
      : data(std::move(d)), it(*data, batch, column_targets) {
    if (seed) rng.emplace(*seed);
  }

  static py::object view(const Tensor& t, Views& c) {
    for (int i = 0; i < 2; ++i)
      if (c.of[i] == &t && c.array[i].ptr() != nullptr && reinterpret_cast<const char*>(t.data()) == py::detail::array_proxy(c.array[i].ptr())->data)
        return c.array[i];
    for (int i = 0; i < 2; ++i)
      if (c.array[i].ptr() == nullptr || c.of[i] == &t) {
        c.of[i] = &t;
        c.array[i] = to_array(t);
        return c.array[i];
      }
    return to_array(t);
  }
};

}  // namespace

void bind_data(py::module_& m) {
  py::class_<data::Dataset, DatasetPtr>(m, "Dataset", R"doc(
Samples and their classes, in memory: x is [N, F] for tabular rows or
[N, C, H, W] for images (NCHW, as Conv2D wants them); labels[i] is in
[0, num_classes).

x and labels are NumPy views (float32, int32) of the dataset's memory.
Dataset(x, labels, num_classes=None) builds one from arrays: x is used in
place when it is 64-byte aligned and writable (normalize() then changes
it), else copied once; labels are copied; num_classes defaults to 1 + the
largest label.
)doc")
      .def(py::init([](py::handle x, const py::array_t<int32_t, py::array::c_style | py::array::forcecast>& labels,
                       std::optional<int64_t> num_classes) {
             auto d = std::make_shared<data::Dataset>();
             d->x = to_tensor(x, "Dataset: x", /*writable=*/true);  // normalize() writes into it
             if (labels.ndim() != 1 || labels.shape(0) != d->x.size(0))
               throw py::value_error("Dataset: labels must be 1-D with " + std::to_string(d->x.size(0)) +
                                     " entries (one per sample of x)");
             d->labels.assign(labels.data(), labels.data() + labels.shape(0));
             int64_t top = 0;
             for (int32_t l : d->labels) {
               if (l < 0) throw Error("Dataset: negative label " + std::to_string(l));
               top = std::max<int64_t>(top, l + 1);
             }
             d->num_classes = num_classes.value_or(top);
             if (d->num_classes < top)
               throw Error("Dataset: num_classes " + std::to_string(d->num_classes) + " but a label is " +
                           std::to_string(top - 1));
             return d;
           }),
           py::arg("x"), py::arg("labels"), py::arg("num_classes") = py::none())
      .def_property_readonly("x", [](const data::Dataset& d) { return to_array(d.x); },
                             "The samples, batch first (a float32 view).")
      .def_property_readonly(
          "labels",
          [](py::handle self) {
            auto& d = self.cast<data::Dataset&>();
            return py::array_t<int32_t>({static_cast<py::ssize_t>(d.labels.size())}, {sizeof(int32_t)},
                                        d.labels.data(), self);
          },
          "One class index per sample (an int32 view).")
      .def_readonly("num_classes", &data::Dataset::num_classes, "1 + the largest class index the source can hold.")
      .def("__len__", &data::Dataset::size)
      .def_property_readonly("sample_shape", [](const data::Dataset& d) { return py::tuple(py::cast(d.sample_shape())); },
                             "The shape of one sample (x's shape without the batch dimension).")
      .def("__repr__", [](const data::Dataset& d) {
        return "nabla.data.Dataset(x=" + shape_string(d.x.shape()) + ", num_classes=" + std::to_string(d.num_classes) +
               ")";
      });

  m.def(
      "load_mnist_dir",
      [](const std::string& dir, const std::string& split) {
        const auto s = parse_split(split);
        const Unlocked unlocked;
        return std::make_shared<data::Dataset>(data::load_mnist_dir(dir, s));
      },
      py::arg("dir"), py::arg("split") = "train",
      "Loads 'train-images-idx3-ubyte' + 'train-labels-idx1-ubyte' (split='train') or the 't10k-' pair "
      "(split='test') from an MNIST-style directory, each with or without '.gz': x [N, 1, H, W] scaled to "
      "[0, 1]. Raises nabla.Error naming the directory and the files tried.");
  m.def(
      "load_idx",
      [](const std::string& images, const std::string& labels) {
        const Unlocked unlocked;
        return std::make_shared<data::Dataset>(data::load_idx(images, labels));
      },
      py::arg("images_path"), py::arg("labels_path"),
      "A dataset from an IDX images file ([N, H, W] → x [N, 1, H, W]; [N, F]; [N, C, H, W]) and an IDX "
      "labels file ([N]); unsigned-byte pixels are scaled to [0, 1].");
  m.def(
      "read_csv",
      [](const std::string& path, const std::string& label, bool header, const std::string& separator) {
        if (separator.size() != 1) throw py::value_error("read_csv: separator must be one character");
        data::CsvOptions o;
        o.label = label;
        o.header = header;
        o.separator = separator[0];
        const Unlocked unlocked;
        return std::make_shared<data::Dataset>(data::read_csv(path, o));
      },
      py::arg("path"), py::arg("label") = "0", py::arg("header") = true, py::arg("separator") = ",",
      "Reads a CSV file: numeric feature columns and one label column (a header name, or a 0-based index, "
      "negative from the end). x is [rows, columns − 1]. Raises nabla.Error naming the line and column.");
  m.def(
      "select_classes",
      [](const data::Dataset& d, const std::vector<int32_t>& classes) {
        return std::make_shared<data::Dataset>(data::select_classes(d, classes));
      },
      py::arg("data"), py::arg("classes"),
      "The samples whose class is in classes, relabelled by position in classes ([0, 6] → labels 0 and 1).");
  m.def(
      "take", [](const data::Dataset& d, int64_t n) { return std::make_shared<data::Dataset>(data::take(d, n)); },
      py::arg("data"), py::arg("n"), "The first n samples (all of them when n >= len(data)).");
  m.def(
      "moments",
      [](const data::Dataset& d) {
        const auto mo = data::moments(d);
        return py::make_tuple(mo.mean, mo.stddev);
      },
      py::arg("data"), "(mean, standard deviation) over every value of data.x.");
  m.def(
      "normalize", [](data::Dataset& d, float mean, float stddev) { data::normalize(d, {mean, stddev}); },
      py::arg("data"), py::arg("mean"), py::arg("stddev"), "x = (x − mean) / stddev, in place.");

  py::class_<PyBatchIterator>(m, "BatchIterator", R"doc(
Mini-batches over a Dataset, the last partial batch kept:

    for x, y in nabla.data.BatchIterator(train, 64, seed=0):   # one epoch
        ...

Each iteration (``iter(it)``) is one epoch: in dataset order when seed is
None, else shuffled by a generator seeded once (so every epoch has a new
order, the same for the same seed on every platform). It yields (x, y):
x [B, ...sample shape] float32, y the class indices as float32, [B]
(SoftmaxCrossEntropy) or, with column_targets=True, [B, 1]
(BinaryCrossEntropy). x and y are views of the iterator's batch buffers:
nothing is copied or allocated per batch, and the next batch overwrites
them (copy them to keep one).
)doc")
      .def(py::init([](DatasetPtr d, int64_t batch_size, bool column_targets, std::optional<uint64_t> seed) {
             if (!d) throw py::type_error("BatchIterator: expected a nabla.data.Dataset");
             return std::make_unique<PyBatchIterator>(std::move(d), batch_size, column_targets, seed);
           }),
           py::arg("data"), py::arg("batch_size"), py::arg("column_targets") = false, py::arg("seed") = py::none())
      .def("__len__", [](const PyBatchIterator& b) { return b.it.num_batches(); }, "Batches per epoch.")
      .def(
          "__iter__",
          [](PyBatchIterator& b) -> PyBatchIterator& {
            b.it.start(b.rng ? &*b.rng : nullptr);
            return b;
          },
          py::return_value_policy::reference_internal, "Starts an epoch.")
      .def(
          "__next__",
          [](PyBatchIterator& b) {
            bool more;
            {
              const Unlocked unlocked;
              more = b.it.next();
            }
            if (!more) throw py::stop_iteration();
            return py::make_tuple(PyBatchIterator::view(b.it.x(), b.x_views), PyBatchIterator::view(b.it.y(), b.y_views));
          },
          "The next (x, y) views.")
      .def_property_readonly(
          "labels",
          [](py::handle self) {
            auto& b = self.cast<PyBatchIterator&>();
            return py::array_t<int32_t>({static_cast<py::ssize_t>(b.it.batch_size())}, {sizeof(int32_t)},
                                        b.it.labels(), self);
          },
          "The current batch's class indices (an int32 view).")
      .def("set_shard", [](PyBatchIterator& b, int rank, int ranks) { b.it.set_shard(rank, ranks); }, py::arg("rank"),
           py::arg("ranks"),
           "Makes this iterator one of `ranks` data-parallel replicas: batch_size becomes the global batch and "
           "each batch is this rank's slice of it.");
}

}  // namespace nabla::python
