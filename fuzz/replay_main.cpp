// The fuzz targets without libFuzzer (GCC builds, ctest): runs the target on
// its seeds (nabla_fuzz_seeds()) and on N mutants of them drawn from a fixed
// generator — bit flips, byte changes to boundary and separator values,
// insertions, deletions, repeats and splices — so every build exercises the
// same inputs, under the sanitizers when the build has them. Coverage-guided
// fuzzing is scripts/fuzz.sh (clang's libFuzzer). Usage: fuzz_replay_NAME [N].
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_seeds.hpp"
#include "nabla/data/dataset.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The data module's splitmix64 stream, with the bounded draws the mutator needs.
struct Gen {
  nabla::data::Rng rng;
  uint64_t next() { return rng.next(); }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng.below(n)); }
};

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

std::string mutate(std::string s, const std::vector<std::string>& seeds, Gen& g) {
  static const char kSpecial[] = {'\0', '\x7f', '\x80', '\xff', '0', '1', '9', '-', '.', ',', '|', '(', ')', ' ', '\n', 'e'};
  const int edits = 1 + static_cast<int>(g.below(4));
  for (int e = 0; e < edits; ++e) {
    const size_t pos = g.below(s.size() + 1);
    switch (g.below(7)) {
      case 0:  // flip a bit
        if (!s.empty()) s[g.below(s.size())] ^= static_cast<char>(1u << g.below(8));
        break;
      case 1:  // a boundary or separator byte
        if (!s.empty()) s[g.below(s.size())] = kSpecial[g.below(sizeof kSpecial)];
        break;
      case 2:  // insert one
        s.insert(pos, 1, kSpecial[g.below(sizeof kSpecial)]);
        break;
      case 3:  // delete a range
        if (pos < s.size()) s.erase(pos, 1 + g.below(std::min<size_t>(16, s.size() - pos)));
        break;
      case 4:  // repeat a range
        if (pos < s.size()) s.insert(pos, s.substr(pos, 1 + g.below(std::min<size_t>(32, s.size() - pos))));
        break;
      case 5: {  // splice the tail of another seed
        const std::string& o = seeds[g.below(seeds.size())];
        s = s.substr(0, pos) + o.substr(g.below(o.size() + 1));
        break;
      }
      default:  // a random byte anywhere
        if (!s.empty()) s[g.below(s.size())] = static_cast<char>(g.next());
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 10000;
  const std::vector<std::string> seeds = nabla_fuzz_seeds();
  if (seeds.empty()) {
    std::fprintf(stderr, "no seeds\n");
    return 1;
  }
  run("");
  for (const std::string& s : seeds) run(s);
  Gen g{nabla::data::Rng(0x6e61626c61ull)};
  for (long i = 0; i < n; ++i) {
    const std::string m = mutate(seeds[g.below(seeds.size())], seeds, g);
    run(g.below(4) == 0 ? mutate(m, seeds, g) : m);
  }
  std::printf("%zu seeds and %ld mutants: no crash\n", seeds.size(), n);
  return 0;
}
