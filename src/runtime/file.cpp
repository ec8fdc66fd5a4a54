// Atomic file writes: temporary + fsync + rename.
#include "nabla/runtime/file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "nabla/error.hpp"

namespace nabla {

void write_file_atomic(const std::string& path, const std::function<bool(std::FILE*)>& write) {
  auto fail = [&](const std::string& what) { throw Error("'" + path + "': " + what); };
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail("cannot create temporary file '" + tmp + "': " + std::strerror(errno));
  bool ok = write(f) && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const std::string err = ok ? "" : std::strerror(errno);
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    const std::string reason = err.empty() ? std::strerror(errno) : err;
    std::remove(tmp.c_str());
    fail("cannot write '" + tmp + "': " + reason);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    fail("cannot rename '" + tmp + "' to it: " + ec.message());
  }
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, [bytes](std::FILE* f) { return std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size(); });
}

}  // namespace nabla
