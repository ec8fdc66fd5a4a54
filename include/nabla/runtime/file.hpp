#pragma once
/// \file file.hpp  Writing a file so that a reader never sees it partial.
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace nabla {

/// Writes `path` through a temporary file beside it (PATH.tmp.PID), flushed
/// and fsync'd, then renamed over `path`: the previous file stays intact
/// until the new one is complete. `write` writes the content into the open
/// file and returns false on a failed write. Throws nabla::Error naming
/// `path` and the reason on any failure (and removes the temporary).
void write_file_atomic(const std::string& path, const std::function<bool(std::FILE*)>& write);

/// The same for a text (or any bytes) already in memory.
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace nabla
