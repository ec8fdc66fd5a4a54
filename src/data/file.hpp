#pragma once
// Whole-file reading and gunzip for the readers in src/data.
#include <string>

namespace nabla::data::detail {

/// The bytes of a file; throws nabla::Error "'path': cannot open: reason".
std::string read_file(const std::string& path);

/// True when bytes start with the gzip magic 1f 8b.
bool is_gzip(const std::string& bytes);

/// Decompresses a gzip stream (concatenated members allowed); throws
/// nabla::Error naming the file when it is corrupt or truncated or would
/// exceed max_bytes.
std::string gunzip(const std::string& bytes, const std::string& name, size_t max_bytes);

}  // namespace nabla::data::detail
