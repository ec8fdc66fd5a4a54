// libFuzzer: the IDX parser (gzip path included) accepts or throws
// nabla::Error, never crashes or reads out of bounds.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nabla/data/idx.hpp"
#include "nabla/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nabla::data::IdxArray a =
        nabla::data::parse_idx(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    if (a.numel() > 0) (void)a.value(a.numel() - 1);
  } catch (const nabla::Error&) {
  }
  return 0;
}
