#pragma once
/// \file serialize.hpp  Saving and loading a model's parameters in the
/// safetensors format, the file torch's `safetensors.torch.load_file` +
/// `load_state_dict` reads for the equivalent nn.Sequential (and back).
///
/// Layout: 8-byte little-endian header length, a JSON header
/// {"0.weight": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, …}
/// padded with spaces to a multiple of 8 bytes, then the raw data.
#include <string>

#include "nabla/nn/sequential.hpp"

namespace nabla::nn {

/// Writes every named parameter to path (via a temporary file in the same
/// directory renamed over path, so a crash never leaves a partial file).
/// Throws nabla::Error naming the file on any I/O failure.
void save(Sequential& model, const std::string& path);

/// Reads path into the model's parameters. Validates everything first
/// (header length against the file size, the JSON, dtype F32, every name
/// present and no unexpected one, every shape against the model, data
/// offsets in range, exactly sized and not overlapping) and throws
/// nabla::Error naming the file and the problem; on failure the model is
/// unchanged.
void load(Sequential& model, const std::string& path);

}  // namespace nabla::nn

namespace nabla {
using nn::load;
using nn::save;
}  // namespace nabla
