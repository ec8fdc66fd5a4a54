#include "data/file.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "nabla/error.hpp"

namespace nabla::data::detail {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("'" + path + "': cannot open: " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error("'" + path + "': read error");
  return bytes;
}

bool is_gzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

std::string gunzip(const std::string& bytes, const std::string& name, size_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw Error("'" + name + "': cannot initialise zlib");
  std::string out;
  size_t in_pos = 0;
  int rc = Z_OK;
  char chunk[1 << 16];
  while (true) {
    const size_t avail = std::min<size_t>(bytes.size() - in_pos, 1u << 30);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + in_pos));
    zs.avail_in = static_cast<uInt>(avail);
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    in_pos += avail - zs.avail_in;
    out.append(chunk, sizeof chunk - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      throw Error("'" + name + "': decompresses to more than " + std::to_string(max_bytes) + " bytes");
    }
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow (concatenated .gz files are valid).
      if (in_pos < bytes.size() && is_gzip(bytes.substr(in_pos, 2))) {
        inflateReset(&zs);
        continue;
      }
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      const std::string msg = zs.msg ? zs.msg : "error " + std::to_string(rc);
      inflateEnd(&zs);
      throw Error("'" + name + "': corrupt gzip data (" + msg + ")");
    }
    if (rc == Z_BUF_ERROR && in_pos >= bytes.size() && zs.avail_out == sizeof chunk) {
      inflateEnd(&zs);
      throw Error("'" + name + "': truncated gzip data (the stream ends early)");
    }
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace nabla::data::detail
