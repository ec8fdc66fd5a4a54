#include "nabla/data/idx.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>

#include "data/file.hpp"
#include "nabla/error.hpp"

namespace nabla::data {

namespace {

// Larger than any dataset this tool trains on fits in memory as floats.
constexpr size_t kMaxIdxBytes = size_t{4} << 30;

// Class indices beyond this are a corrupt file, not a real label set.
constexpr int64_t kMaxLabel = 65535;

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error("'" + name + "': " + what);
}

int element_size(IdxType t) {
  switch (t) {
    case IdxType::U8:
    case IdxType::I8: return 1;
    case IdxType::I16: return 2;
    case IdxType::I32:
    case IdxType::F32: return 4;
    case IdxType::F64: return 8;
  }
  return 0;
}

const char* type_name(IdxType t) {
  switch (t) {
    case IdxType::U8: return "unsigned byte";
    case IdxType::I8: return "signed byte";
    case IdxType::I16: return "int16";
    case IdxType::I32: return "int32";
    case IdxType::F32: return "float32";
    case IdxType::F64: return "float64";
  }
  return "?";
}

uint64_t big_endian(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

std::string hex_byte(unsigned v) {
  const char* digits = "0123456789abcdef";
  return std::string("0x") + digits[(v >> 4) & 15] + digits[v & 15];
}

}  // namespace

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

double IdxArray::value(int64_t i) const {
  const auto* p = reinterpret_cast<const unsigned char*>(payload.data()) + i * element_size(type);
  switch (type) {
    case IdxType::U8: return p[0];
    case IdxType::I8: return static_cast<int8_t>(p[0]);
    case IdxType::I16: return static_cast<int16_t>(big_endian(p, 2));
    case IdxType::I32: return static_cast<int32_t>(big_endian(p, 4));
    case IdxType::F32: return std::bit_cast<float>(static_cast<uint32_t>(big_endian(p, 4)));
    case IdxType::F64: return std::bit_cast<double>(big_endian(p, 8));
  }
  return 0;
}

IdxArray parse_idx(std::string bytes, const std::string& name) {
  if (detail::is_gzip(bytes)) bytes = detail::gunzip(bytes, name, kMaxIdxBytes);
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4)
    fail(name, "file is " + std::to_string(bytes.size()) + " bytes, too short for the 4-byte IDX magic number");
  if (b[0] != 0 || b[1] != 0)
    fail(name, "not an IDX file: the magic number starts " + hex_byte(b[0]) + " " + hex_byte(b[1]) +
                   ", expected 0x00 0x00");
  IdxArray a;
  a.type = static_cast<IdxType>(b[2]);
  if (element_size(a.type) == 0)
    fail(name, "unknown IDX element type " + hex_byte(b[2]) +
                   " (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)");
  const int ndim = b[3];
  if (ndim < 1 || ndim > 4)
    fail(name, "IDX file has " + std::to_string(ndim) + " dimensions, nabla reads 1 to 4");
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() < header)
    fail(name, "file is " + std::to_string(bytes.size()) + " bytes, too short for the header of " +
                   std::to_string(ndim) + " dimensions (" + std::to_string(header) + " bytes)");
  uint64_t numel = 1;
  for (int i = 0; i < ndim; ++i) {
    const auto d = static_cast<int64_t>(big_endian(b + 4 + 4 * i, 4));
    if (d < 1) fail(name, "dimension " + std::to_string(i) + " has extent 0");
    a.dims.push_back(d);
    numel *= static_cast<uint64_t>(d);
    if (numel > kMaxIdxBytes) fail(name, "the extents describe more than " + std::to_string(kMaxIdxBytes) + " elements");
  }
  const uint64_t want = numel * static_cast<uint64_t>(element_size(a.type));
  const uint64_t have = bytes.size() - header;
  if (have != want)
    fail(name, "the extents " + shape_string(a.dims) + " of " + type_name(a.type) + " need " +
                   std::to_string(want) + " data bytes, the file has " + std::to_string(have) +
                   (have < want ? " (truncated)" : " (trailing bytes)"));
  a.payload = bytes.substr(header);
  return a;
}

IdxArray read_idx(const std::string& path) { return parse_idx(detail::read_file(path), path); }

Dataset load_idx(const std::string& images_path, const std::string& labels_path) {
  const IdxArray images = read_idx(images_path);
  const IdxArray labels = read_idx(labels_path);
  if (images.dims.size() < 2)
    fail(images_path, "images need at least 2 dimensions (samples first), the file has " + shape_string(images.dims));
  if (labels.dims.size() != 1)
    fail(labels_path, "labels need 1 dimension, the file has " + shape_string(labels.dims));
  if (labels.type == IdxType::F32 || labels.type == IdxType::F64)
    fail(labels_path, std::string("labels must be integers, the file holds ") + type_name(labels.type));
  if (labels.dims[0] != images.dims[0])
    fail(labels_path, std::to_string(labels.dims[0]) + " labels for the " + std::to_string(images.dims[0]) +
                          " images of '" + images_path + "'");
  Dataset d;
  std::vector<int64_t> shape = images.dims;
  if (shape.size() == 3) shape.insert(shape.begin() + 1, 1);  // [N, H, W] → [N, 1, H, W]
  d.x = Tensor(shape);
  float* x = d.x.data();
  const int64_t n = images.numel();
  if (images.type == IdxType::U8) {
    const auto* p = reinterpret_cast<const unsigned char*>(images.payload.data());
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(p[i]) * (1.f / 255.f);
  } else {
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(images.value(i));
  }
  d.labels.resize(static_cast<size_t>(labels.dims[0]));
  int64_t max_label = 0;
  for (int64_t i = 0; i < labels.dims[0]; ++i) {
    const double v = labels.value(i);
    if (v < 0) fail(labels_path, "label " + std::to_string(i) + " is negative (" + std::to_string(static_cast<int64_t>(v)) + ")");
    if (v > kMaxLabel)
      fail(labels_path, "label " + std::to_string(i) + " is " + std::to_string(static_cast<int64_t>(v)) +
                            ", above the largest class index nabla accepts (" + std::to_string(kMaxLabel) + ")");
    d.labels[static_cast<size_t>(i)] = static_cast<int32_t>(v);
    max_label = std::max<int64_t>(max_label, static_cast<int64_t>(v));
  }
  d.num_classes = max_label + 1;
  return d;
}

Dataset load_mnist_dir(const std::string& dir, Split split) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    const std::filesystem::path base = std::filesystem::path(dir) / stem;
    for (const std::string ext : {".gz", ""}) {
      const std::string p = base.string() + ext;
      if (std::filesystem::exists(p)) return p;
    }
    throw Error("'" + dir + "': no " + stem + " or " + stem + ".gz (an MNIST-style IDX directory is expected)");
  };
  return load_idx(find(prefix + "-images-idx3-ubyte"), find(prefix + "-labels-idx1-ubyte"));
}

}  // namespace nabla::data
