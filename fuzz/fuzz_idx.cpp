// libFuzzer: the IDX parser (gzip path included) accepts or throws
// nabla::Error, never crashes or reads out of bounds.
#include <cstddef>
#include <cstdint>
#include <vector>
#include <string>

#include "nabla/data/idx.hpp"
#include "nabla/error.hpp"
#include "fuzz_seeds.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nabla::data::IdxArray a =
        nabla::data::parse_idx(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    if (a.numel() > 0) (void)a.value(a.numel() - 1);
  } catch (const nabla::Error&) {
  }
  return 0;
}

std::vector<std::string> nabla_fuzz_seeds() {
  // ubyte images [2, 2, 3], ubyte labels [2], big-endian int32 [2].
  const std::string images = std::string("\0\0\x08\x03\0\0\0\x02\0\0\0\x02\0\0\0\x03", 16) + "abcdefghijkl";
  const std::string labels = std::string("\0\0\x08\x01\0\0\0\x02\x01\x07", 10);
  const std::string ints = std::string("\0\0\x0c\x01\0\0\0\x02\0\0\x01\0\xff\xff\xff\xfe", 16);
  return {images, labels, ints};
}
