#include "nabla/nn/serialize.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "nabla/error.hpp"
#include "nabla/runtime/file.hpp"

namespace nabla::nn {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host needs byte swapping");

namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("'" + path + "': " + what);
}

std::string errno_text() { return std::strerror(errno); }

struct Entry {
  std::string name;
  std::string dtype = "F32";  // or "I64" (BatchNorm's num_batches_tracked)
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// Reads one header entry, checking its form (not yet the model).
Entry parse_entry(const std::string& path, const std::string& name, const Json& j) {
  Entry e;
  e.name = name;
  const std::string where = "tensor '" + name + "'";
  if (!j.is_object()) fail(path, where + " is not a JSON object");
  if (!j.contains("dtype") || !j["dtype"].is_string()) fail(path, where + " has no dtype");
  if (j["dtype"] != "F32" && j["dtype"] != "I64")
    fail(path, where + " has dtype " + j["dtype"].get<std::string>() + ", expected F32 (or I64)");
  e.dtype = j["dtype"].get<std::string>();
  if (!j.contains("shape") || !j["shape"].is_array()) fail(path, where + " has no shape");
  for (const auto& d : j["shape"]) {
    if (!d.is_number_unsigned()) fail(path, where + " has an invalid shape " + j["shape"].dump());
    e.shape.push_back(d.get<int64_t>());
  }
  const auto& off = j.contains("data_offsets") ? j["data_offsets"] : Json();
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    fail(path, where + " has invalid data_offsets " + off.dump());
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  return e;
}

// The whole file, checked: entries (in file order) with offsets in range,
// exactly sized and not overlapping, and the metadata.
struct Parsed {
  std::vector<char> file;
  const char* data = nullptr;
  std::vector<Entry> entries;
  Metadata metadata;
};

Parsed parse_file(const std::string& path) {
  Parsed p;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open: " + errno_text());
  p.file.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "read error");
  const uint64_t size = p.file.size();
  if (size < 8)
    fail(path, "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  uint64_t hlen = 0;
  for (int i = 0; i < 8; ++i) hlen |= static_cast<uint64_t>(static_cast<unsigned char>(p.file[static_cast<size_t>(i)])) << (8 * i);
  if (hlen > size - 8)
    fail(path, "header length " + std::to_string(hlen) + " exceeds the " + std::to_string(size - 8) +
                   " bytes after it (truncated file or wrong header length)");
  const Json header = Json::parse(p.file.begin() + 8, p.file.begin() + 8 + static_cast<std::ptrdiff_t>(hlen),
                                  nullptr, false);
  if (header.is_discarded()) fail(path, "header is not valid JSON");
  if (!header.is_object()) fail(path, "header is not a JSON object");
  const uint64_t data_size = size - 8 - hlen;
  p.data = p.file.data() + 8 + hlen;

  for (const auto& [name, j] : header.items()) {
    if (name == "__metadata__") {
      if (!j.is_object()) fail(path, "__metadata__ is not a JSON object");
      for (const auto& [key, value] : j.items()) {
        if (!value.is_string()) fail(path, "__metadata__ value of '" + key + "' is not a string");
        p.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    Entry e = parse_entry(path, name, j);
    uint64_t numel = 1;
    for (int64_t d : e.shape) {
      if (d != 0 && numel > (uint64_t{1} << 62) / static_cast<uint64_t>(d))
        fail(path, "tensor '" + name + "' has an impossibly large shape " + shape_string(e.shape));
      numel *= static_cast<uint64_t>(d);
    }
    if (e.begin > e.end || e.end > data_size)
      fail(path, "tensor '" + name + "' has data_offsets [" + std::to_string(e.begin) + ", " +
                     std::to_string(e.end) + "] outside the " + std::to_string(data_size) +
                     " data bytes");
    const uint64_t esize = e.dtype == "I64" ? 8 : 4;
    if (e.end - e.begin != numel * esize)
      fail(path, "tensor '" + name + "' has " + std::to_string(e.end - e.begin) +
                     " data bytes, its shape " + shape_string(e.shape) + " needs " +
                     std::to_string(numel * esize));
    p.entries.push_back(std::move(e));
  }
  std::vector<const Entry*> by_offset;
  for (const auto& e : p.entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      fail(path, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
                     "' overlap in the data");
  return p;
}

// One tensor to write: float32 values, or one int64 scalar (shape []).
struct Out {
  std::string name;
  const Tensor* t = nullptr;
  const int64_t* i64 = nullptr;
};

void write_file(const std::string& path, const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                const Metadata& metadata, const std::vector<Out>& scalars = {}) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      fail(path, "tensor name '" + name + "' is reserved or used twice");
    const uint64_t bytes = static_cast<uint64_t>(t->numel()) * sizeof(float);
    header[name] = {{"dtype", "F32"}, {"shape", t->shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  for (const Out& o : scalars) {
    if (o.name == "__metadata__" || header.contains(o.name))
      fail(path, "tensor name '" + o.name + "' is reserved or used twice");
    header[o.name] = {{"dtype", "I64"}, {"shape", Json::array()}, {"data_offsets", {offset, offset + 8}}};
    offset += 8;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  uint64_t len = text.size();
  unsigned char len_le[8];
  for (int i = 0; i < 8; ++i) len_le[i] = static_cast<unsigned char>(len >> (8 * i));

  write_file_atomic(path, [&](std::FILE* f) {
    bool ok = std::fwrite(len_le, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    for (const auto& [name, t] : tensors) {
      const size_t n = static_cast<size_t>(t->numel());
      ok = ok && std::fwrite(t->data(), sizeof(float), n, f) == n;
    }
    for (const Out& o : scalars) ok = ok && std::fwrite(o.i64, 8, 1, f) == 1;
    return ok;
  });
}

}  // namespace

void save(Sequential& model, const std::string& path, const Metadata& metadata) {
  std::vector<std::pair<std::string, const Tensor*>> tensors;
  for (const auto& [name, p] : model.named_parameters()) tensors.emplace_back(name, &p->value);
  std::vector<Out> scalars;
  for (const auto& [name, b] : model.named_buffers()) {
    if (b.value) tensors.emplace_back(name, b.value);
    if (b.count) scalars.push_back({name, nullptr, b.count});
  }
  write_file(path, tensors, metadata, scalars);
}

void save_tensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                  const Metadata& metadata) {
  std::vector<std::pair<std::string, const Tensor*>> refs;
  for (const auto& [name, t] : tensors) refs.emplace_back(name, &t);
  write_file(path, refs, metadata);
}

TensorFile load_tensors(const std::string& path) {
  const Parsed p = parse_file(path);
  TensorFile out;
  out.metadata = p.metadata;
  for (const Entry& e : p.entries) {
    if (e.dtype == "I64" && e.shape.empty()) {
      int64_t v = 0;
      std::memcpy(&v, p.data + e.begin, 8);
      out.counts.emplace_back(e.name, v);
      continue;
    }
    if (e.dtype != "F32") fail(path, "tensor '" + e.name + "' has dtype " + e.dtype + ", expected F32 (or an I64 scalar)");
    if (e.shape.empty() || e.shape.size() > 4)
      fail(path, "tensor '" + e.name + "' has rank " + std::to_string(e.shape.size()) +
                     ", nabla tensors have rank 1 to 4");
    Tensor t(e.shape);
    if (t.numel() > 0) std::memcpy(t.data(), p.data + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

void load(Sequential& model, const std::string& path) {
  const Parsed parsed = parse_file(path);
  const auto& entries = parsed.entries;
  const char* data = parsed.data;
  // Everything the model holds: parameters, float buffers, int64 buffers.
  struct Target {
    std::string name, kind;
    Tensor* t = nullptr;
    int64_t* i64 = nullptr;
  };
  std::vector<Target> targets;
  for (const auto& [name, p] : model.named_parameters()) targets.push_back({name, "parameter", &p->value, nullptr});
  for (const auto& [name, b] : model.named_buffers()) targets.push_back({name, "buffer", b.value, b.count});
  std::vector<const Entry*> source;
  for (const Target& tg : targets) {
    const std::string& name = tg.name;
    auto it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.name == name; });
    if (it == entries.end()) fail(path, "missing " + tg.kind + " '" + name + "'");
    const std::string want = tg.t ? "F32" : "I64";
    if (it->dtype != want)
      fail(path, tg.kind + " '" + name + "' has dtype " + it->dtype + ", the model expects " + want);
    const std::vector<int64_t> shape = tg.t ? tg.t->shape() : std::vector<int64_t>{};
    if (it->shape != shape)
      fail(path, tg.kind + " '" + name + "' has shape " + shape_string(it->shape) + ", the model expects " +
                     shape_string(shape));
    source.push_back(&*it);
  }
  for (const auto& e : entries) {
    const bool known = std::any_of(targets.begin(), targets.end(), [&](const Target& t) { return t.name == e.name; });
    if (!known) fail(path, "unexpected tensor '" + e.name + "' (not a parameter or buffer of the model)");
  }

  // Everything is valid: only now touch the model.
  for (size_t i = 0; i < targets.size(); ++i) {
    void* dst = targets[i].t ? static_cast<void*>(targets[i].t->data()) : static_cast<void*>(targets[i].i64);
    std::memcpy(dst, data + source[i]->begin, source[i]->end - source[i]->begin);
  }
}

}  // namespace nabla::nn
