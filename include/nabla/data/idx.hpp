#pragma once
/// \file idx.hpp  The IDX format of MNIST and Fashion-MNIST, gzip-compressed
/// or not.
///
/// Layout: a 4-byte magic number {0, 0, type, ndim}, ndim big-endian uint32
/// extents, then the elements, big-endian, row-major, nothing after them.
#include <cstdint>
#include <string>
#include <vector>

#include "nabla/data/dataset.hpp"

namespace nabla::data {

/// Element types (the magic number's third byte).
enum class IdxType : uint8_t {
  U8 = 0x08,   ///< unsigned byte
  I8 = 0x09,   ///< signed byte
  I16 = 0x0B,  ///< 16-bit integer
  I32 = 0x0C,  ///< 32-bit integer
  F32 = 0x0D,  ///< float
  F64 = 0x0E,  ///< double
};

/// One IDX file, validated.
struct IdxArray {
  IdxType type = IdxType::U8;  ///< element type
  std::vector<int64_t> dims;   ///< 1 to 4 extents
  std::string payload;         ///< the elements as stored (big-endian)

  /// Product of dims.
  int64_t numel() const;
  /// Element i converted to double (0 <= i < numel()).
  double value(int64_t i) const;
};

/// Parses the bytes of an IDX file, gunzipping them first when they start
/// with the gzip magic. name is what errors call the file. Validates the
/// magic number, the type, the dimension count (1 to 4), every extent >= 1,
/// and the payload size against the extents (no byte missing, none extra);
/// throws nabla::Error "'name': what is wrong" otherwise.
IdxArray parse_idx(std::string bytes, const std::string& name);

/// Reads and parses an IDX file (see parse_idx()).
IdxArray read_idx(const std::string& path);

/// Builds a dataset from an images file ([N, H, W] → x [N, 1, H, W];
/// [N, F] → [N, F]; [N, C, H, W] as is) and a labels file ([N], integer
/// type). Unsigned-byte pixels are scaled to [0, 1]; other types are taken
/// as they are. num_classes is 1 + the largest label. Throws nabla::Error
/// naming the file when the counts disagree, a label is negative or not an
/// integer type, or the images file has a single dimension.
Dataset load_idx(const std::string& images_path, const std::string& labels_path);

/// Which half of an MNIST-style directory.
enum class Split { Train, Test };

/// Loads `train-images-idx3-ubyte` + `train-labels-idx1-ubyte` (Split::Train)
/// or the `t10k-` pair (Split::Test) from dir, each with or without `.gz`.
/// Throws nabla::Error naming dir and the file names tried when one is
/// missing.
Dataset load_mnist_dir(const std::string& dir, Split split);

}  // namespace nabla::data
