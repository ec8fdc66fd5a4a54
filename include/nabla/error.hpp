#pragma once
/// \file error.hpp  The one exception type that crosses nabla's public boundary.
#include <stdexcept>
#include <string>

namespace nabla {

/// Every user-facing failure (bad argument, shape mismatch, bad file) throws
/// this, with a message naming what was wrong and the offending values.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace nabla
