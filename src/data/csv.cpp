#include "nabla/data/csv.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "data/file.hpp"
#include "nabla/error.hpp"
#include "nabla/runtime/interrupt.hpp"

namespace nabla::data {

namespace {

// Class indices beyond this are a corrupt file, not a real label set.
constexpr double kMaxLabel = 65535;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view line, char sep) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t end = line.find(sep, start);
    fields.push_back(trim(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return fields;
}

bool parse_int(std::string_view s, int64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

}  // namespace

Dataset parse_csv(std::string_view text, const std::string& name, const CsvOptions& options) {
  auto fail = [&](int64_t line, const std::string& what) -> Error {
    return Error("'" + name + "'" + (line > 0 ? ", line " + std::to_string(line) : std::string()) + ": " + what);
  };
  std::vector<std::pair<int64_t, std::string_view>> lines;  // (1-based number, text), blank ones skipped
  for (size_t pos = 0, no = 1; pos < text.size(); ++no) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!trim(line).empty()) lines.emplace_back(static_cast<int64_t>(no), line);
    pos = end + 1;
  }
  if (lines.empty()) throw fail(0, "no data (the file is empty)");

  std::vector<std::string> header;
  size_t first = 0;
  if (options.header) {
    for (std::string_view f : split(lines[0].second, options.separator)) {
      if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
      header.emplace_back(f);
    }
    first = 1;
  }
  const size_t columns = header.empty() ? split(lines[0].second, options.separator).size() : header.size();
  if (columns < 2) throw fail(lines[0].first, "needs at least 2 columns (features and a label), found " + std::to_string(columns));

  size_t label_col = columns;
  if (auto it = std::find(header.begin(), header.end(), options.label); it != header.end()) {
    label_col = static_cast<size_t>(it - header.begin());
  } else if (int64_t idx = 0; parse_int(options.label, idx)) {
    const auto n = static_cast<int64_t>(columns);
    if (idx < -n || idx >= n)
      throw fail(0, "label column " + options.label + " is out of range (" + std::to_string(columns) + " columns)");
    label_col = static_cast<size_t>(idx < 0 ? idx + n : idx);
  } else {
    throw fail(0, "no column named '" + options.label + "' in the header");
  }

  const auto rows = static_cast<int64_t>(lines.size() - first);
  if (rows < 1) throw fail(0, "the header is not followed by any row");
  const auto features = static_cast<int64_t>(columns - 1);
  Dataset d;
  d.x = Tensor({rows, features});
  d.labels.resize(static_cast<size_t>(rows));
  float* x = d.x.data();
  int64_t max_label = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (r % 4096 == 0) check_interrupt("read_csv");
    const auto& [no, line] = lines[first + static_cast<size_t>(r)];
    const auto fields = split(line, options.separator);
    if (fields.size() != columns)
      throw fail(no, "has " + std::to_string(fields.size()) + " fields, expected " + std::to_string(columns));
    int64_t out = 0;
    for (size_t c = 0; c < columns; ++c) {
      const std::string_view f = fields[c];
      float v = 0;
      auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      if (f.empty() || ec != std::errc() || p != f.data() + f.size() || !std::isfinite(v))
        throw fail(no, "column " + std::to_string(c + 1) + " is '" + std::string(f.substr(0, 40)) +
                           "', not a finite number");
      if (c == label_col) {
        if (v < 0 || v != std::floor(v) || v > kMaxLabel)
          throw fail(no, "label '" + std::string(f) + "' is not a class index (a whole number from 0 to " +
                             std::to_string(static_cast<int>(kMaxLabel)) + ")");
        d.labels[static_cast<size_t>(r)] = static_cast<int32_t>(v);
        max_label = std::max<int64_t>(max_label, static_cast<int64_t>(v));
      } else {
        x[r * features + out++] = v;
      }
    }
  }
  d.num_classes = max_label + 1;
  return d;
}

Dataset read_csv(const std::string& path, const CsvOptions& options) {
  return parse_csv(detail::read_file(path), path, options);
}

}  // namespace nabla::data
