// libFuzzer: the CSV parser, with the label column chosen by name, index
// and negative index.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>
#include <string_view>

#include "nabla/data/csv.hpp"
#include "nabla/error.hpp"
#include "fuzz_seeds.hpp"

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

std::vector<std::string> nabla_fuzz_seeds() {
  return {"label,a,b\n0,1.5,2\n1,-3e2,4\n", "1,2,3\n0,4,5\n\n1,0.5,-0.25\n", "x;label\n1;0\n2;1\n"};
}
