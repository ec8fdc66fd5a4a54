#pragma once
/// \file serialize.hpp  Saving and loading a model's parameters in the
/// safetensors format, the file torch's `safetensors.torch.load_file` +
/// `load_state_dict` reads for the equivalent nn.Sequential (and back).
///
/// Layout: 8-byte little-endian header length, a JSON header
/// {"0.weight": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, …}
/// padded with spaces to a multiple of 8 bytes, then the raw data.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nabla/nn/sequential.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

/// String key/value pairs stored in the header's "__metadata__" entry
/// (safetensors readers, torch's included, ignore what they do not know).
using Metadata = std::map<std::string, std::string>;

/// Writes every named parameter to path (via a temporary file in the same
/// directory renamed over path, so a crash never leaves a partial file),
/// with optional metadata. Throws nabla::Error naming the file on any I/O
/// failure.
void save(Sequential& model, const std::string& path, const Metadata& metadata = {});

/// Reads path into the model's parameters. Validates everything first
/// (header length against the file size, the JSON, dtype F32, every name
/// present and no unexpected one, every shape against the model, data
/// offsets in range, exactly sized and not overlapping) and throws
/// nabla::Error naming the file and the problem; on failure the model is
/// unchanged.
void load(Sequential& model, const std::string& path);

/// The contents of a safetensors file: tensors in file order, and metadata.
struct TensorFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  ///< name, values
  std::vector<std::pair<std::string, int64_t>> counts;  ///< int64 scalars (dtype I64, shape []): buffers such as num_batches_tracked
  Metadata metadata;                                    ///< "__metadata__"
};

/// Writes named tensors (names unique, none "__metadata__") and metadata,
/// atomically like save(); what checkpoints use to store more than a
/// model's parameters. Throws nabla::Error naming the file.
void save_tensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                  const Metadata& metadata = {});

/// Reads every tensor and the metadata of a safetensors file, validated like
/// load() (F32 of rank 1 to 4, or I64 scalars into `counts`, offsets in range and not overlapping,
/// metadata values strings). Throws nabla::Error naming the file.
TensorFile load_tensors(const std::string& path);

}  // namespace nabla::nn

namespace nabla {
using nn::load;
using nn::load_tensors;
using nn::save;
using nn::save_tensors;
}  // namespace nabla
