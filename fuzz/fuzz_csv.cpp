// libFuzzer: the CSV parser, with the label column chosen by name, index
// and negative index.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nabla/data/csv.hpp"
#include "nabla/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* label : {"0", "-1", "label"}) {
    try {
      nabla::data::parse_csv(text, "fuzz", {label});
    } catch (const nabla::Error&) {
    }
  }
  return 0;
}
