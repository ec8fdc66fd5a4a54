#pragma once
/// \file csv.hpp  Tabular data from CSV: numeric feature columns and one
/// class-label column.
#include <string>
#include <string_view>

#include "nabla/data/dataset.hpp"

namespace nabla::data {

/// How to read a CSV file.
struct CsvOptions {
  /// The label column: a name from the header, or a 0-based index (a
  /// negative one counts from the end, "-1" = last column). A name is looked
  /// up first.
  std::string label = "0";
  /// Whether the first line names the columns.
  bool header = true;
  /// The field separator.
  char separator = ',';
};

/// Parses CSV text: every row has the same number of fields, every feature
/// is a number, every label a whole number >= 0; blank lines are skipped,
/// CRLF accepted, fields trimmed, a header name may be double-quoted. x is
/// [rows, columns − 1]; num_classes = 1 + the largest label. name is what
/// errors call the file; they name the line and column as well.
Dataset parse_csv(std::string_view text, const std::string& name, const CsvOptions& options = {});

/// Reads and parses a CSV file (see parse_csv()).
Dataset read_csv(const std::string& path, const CsvOptions& options = {});

}  // namespace nabla::data
