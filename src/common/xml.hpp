#pragma once
// XML/SVG text escaping, shared by the SVG writers of tools/ (training plot,
// roofline) and bench/ (nabla_compare's chart). Internal: listed in
// src/INTERNAL_HEADERS.
#include <string>

namespace nabla::detail {

/// s with & < > " ' escaped for XML text and attribute values.
inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace nabla::detail
