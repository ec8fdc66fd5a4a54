// The data layer: IDX and CSV readers on small files written here (every
// corruption the readers check), class selection, the batch iterator.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "nabla/data/csv.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/data/idx.hpp"
#include "nabla/error.hpp"

namespace data = nabla::data;

namespace {

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("nabla_test_data_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// An IDX file of unsigned bytes with these extents and payload.
std::string idx(uint8_t type, const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s + payload;
}

std::string gzip(const std::string& raw) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, raw.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Expects f to throw nabla::Error whose message contains every piece.
template <typename F>
void expect_error(F f, const std::vector<std::string>& pieces) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << pieces[0] << "'";
  } catch (const nabla::Error& e) {
    for (const auto& p : pieces) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

// 3 images of 2×2 and their labels.
const std::string kPixels = std::string("\x00\xff\x80\x10" "\x01\x02\x03\x04" "\x05\x06\x07\x08", 12);
const std::string kLabels = std::string("\x02\x00\x07", 3);

}  // namespace

TEST(Idx, ReadsPlainAndGzip) {
  for (bool gz : {false, true}) {
    const std::string img = tmp_path(gz ? "img.gz" : "img"), lab = tmp_path(gz ? "lab.gz" : "lab");
    const std::string i = idx(0x08, {3, 2, 2}, kPixels), l = idx(0x08, {3}, kLabels);
    write(img, gz ? gzip(i) : i);
    write(lab, gz ? gzip(l) : l);
    const data::Dataset d = data::load_idx(img, lab);
    EXPECT_EQ(d.x.shape(), (std::vector<int64_t>{3, 1, 2, 2}));
    EXPECT_EQ(d.sample_shape(), (std::vector<int64_t>{1, 2, 2}));
    EXPECT_FLOAT_EQ(d.x.data()[1], 1.f);
    EXPECT_FLOAT_EQ(d.x.data()[2], 128.f / 255.f);
    EXPECT_EQ(d.labels, (std::vector<int32_t>{2, 0, 7}));
    EXPECT_EQ(d.num_classes, 8);
    std::filesystem::remove(img);
    std::filesystem::remove(lab);
  }
}

TEST(Idx, OtherTypesBigEndian) {
  const data::IdxArray a = data::parse_idx(idx(0x0B, {2}, std::string("\xff\xfe\x01\x00", 4)), "t");
  EXPECT_EQ(a.value(0), -2);
  EXPECT_EQ(a.value(1), 256);
  const data::IdxArray f = data::parse_idx(idx(0x0D, {1}, std::string("\x3f\xc0\x00\x00", 4)), "t");
  EXPECT_EQ(f.value(0), 1.5);
}

TEST(Idx, EveryCorruptionIsANamedError) {
  const std::string good = idx(0x08, {3, 2, 2}, kPixels);
  expect_error([] { data::parse_idx("\x00\x00", "f.idx"); }, {"'f.idx'", "too short for the 4-byte"});
  expect_error([] { data::parse_idx(std::string("\x12\x34\x08\x01", 4) + be32(1) + "x", "f.idx"); },
               {"'f.idx'", "not an IDX file"});
  expect_error([] { data::parse_idx(idx(0x07, {1}, "x"), "f.idx"); }, {"'f.idx'", "unknown IDX element type 0x07"});
  expect_error([] { data::parse_idx(idx(0x08, {}, ""), "f.idx"); }, {"'f.idx'", "0 dimensions"});
  expect_error([] { data::parse_idx(idx(0x08, {1, 1, 1, 1, 1}, "x"), "f.idx"); }, {"5 dimensions"});
  expect_error([] { data::parse_idx(std::string("\x00\x00\x08\x03", 4) + be32(3), "f.idx"); },
               {"too short for the header of 3 dimensions"});
  expect_error([] { data::parse_idx(idx(0x08, {3, 0, 2}, ""), "f.idx"); }, {"dimension 1 has extent 0"});
  expect_error([&] { data::parse_idx(good.substr(0, good.size() - 1), "f.idx"); }, {"'f.idx'", "need 12", "has 11", "truncated"});
  expect_error([&] { data::parse_idx(good + "x", "f.idx"); }, {"has 13", "trailing bytes"});
  expect_error([] { data::parse_idx(idx(0x08, {65536, 65536, 65536}, ""), "f.idx"); }, {"more than"});
  const std::string gz = gzip(good);
  expect_error([&] { data::parse_idx(gz.substr(0, gz.size() / 2), "f.gz"); }, {"'f.gz'", "truncated gzip"});
  std::string bad = gz;
  bad[12] = static_cast<char>(bad[12] ^ 0x55);
  bad[13] = static_cast<char>(bad[13] ^ 0x55);
  expect_error([&] { data::parse_idx(bad, "f.gz"); }, {"'f.gz'"});
  expect_error([] { data::read_idx("/nonexistent/nabla.idx"); }, {"'/nonexistent/nabla.idx'", "cannot open"});
}

TEST(Idx, DatasetMismatchesAreNamedErrors) {
  const std::string img = tmp_path("i"), lab = tmp_path("l");
  write(img, idx(0x08, {3, 2, 2}, kPixels));
  write(lab, idx(0x08, {2}, kLabels.substr(0, 2)));
  expect_error([&] { data::load_idx(img, lab); }, {"'" + lab + "'", "2 labels for the 3 images"});
  write(lab, idx(0x08, {3, 1}, kLabels));
  expect_error([&] { data::load_idx(img, lab); }, {"labels need 1 dimension"});
  write(lab, idx(0x0D, {3}, std::string(12, '\0')));
  expect_error([&] { data::load_idx(img, lab); }, {"labels must be integers"});
  write(lab, idx(0x09, {3}, std::string("\x01\xff\x00", 3)));
  expect_error([&] { data::load_idx(img, lab); }, {"label 1 is negative"});
  write(lab, idx(0x0C, {3}, be32(0) + be32(1) + be32(1u << 20)));
  expect_error([&] { data::load_idx(img, lab); }, {"label 2 is 1048576"});
  write(img, idx(0x08, {3}, "abc"));
  write(lab, idx(0x08, {3}, kLabels));
  expect_error([&] { data::load_idx(img, lab); }, {"'" + img + "'", "at least 2 dimensions"});
  expect_error([] { data::load_mnist_dir("/nonexistent", data::Split::Test); }, {"'/nonexistent'", "t10k-"});
  std::filesystem::remove(img);
  std::filesystem::remove(lab);
}

TEST(Csv, LabelByNameOrIndex) {
  const std::string text = "a, b ,\"label\",c\r\n1,2,3,4\n\n5.5,-6,0,7e1\n";
  const data::Dataset byname = data::parse_csv(text, "t.csv", {"label"});
  EXPECT_EQ(byname.x.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(byname.labels, (std::vector<int32_t>{3, 0}));
  EXPECT_EQ(byname.num_classes, 4);
  EXPECT_FLOAT_EQ(byname.x.data()[3], 5.5f);
  EXPECT_FLOAT_EQ(byname.x.data()[5], 70.f);
  const data::Dataset byindex = data::parse_csv(text, "t.csv", {"2"});
  EXPECT_EQ(byindex.labels, byname.labels);
  const data::Dataset last = data::parse_csv("1;2\n3;0\n", "t.csv", {"-1", false, ';'});
  EXPECT_EQ(last.labels, (std::vector<int32_t>{2, 0}));
  EXPECT_FLOAT_EQ(last.x.data()[1], 3.f);
  const std::string path = tmp_path("t.csv");
  write(path, text);
  EXPECT_EQ(data::read_csv(path, {"label"}).labels, byname.labels);
  std::filesystem::remove(path);
}

TEST(Csv, EveryCorruptionIsANamedError) {
  expect_error([] { data::parse_csv("", "t.csv"); }, {"'t.csv'", "empty"});
  expect_error([] { data::parse_csv("a,b\n", "t.csv"); }, {"not followed by any row"});
  expect_error([] { data::parse_csv("a\n1\n", "t.csv"); }, {"at least 2 columns"});
  expect_error([] { data::parse_csv("a,b\n1,2\n", "t.csv", {"zz"}); }, {"no column named 'zz'"});
  expect_error([] { data::parse_csv("a,b\n1,2\n", "t.csv", {"5"}); }, {"out of range"});
  expect_error([] { data::parse_csv("a,b\n1,2\n3\n", "t.csv"); }, {"'t.csv', line 3", "1 fields, expected 2"});
  expect_error([] { data::parse_csv("a,b\n1,x\n", "t.csv", {"a"}); }, {"line 2", "column 2 is 'x'"});
  expect_error([] { data::parse_csv("a,b\n1,\n", "t.csv", {"a"}); }, {"column 2 is ''"});
  expect_error([] { data::parse_csv("a,b\n1,nan\n", "t.csv", {"a"}); }, {"not a finite number"});
  expect_error([] { data::parse_csv("a,b\n1.5,2\n", "t.csv"); }, {"label '1.5' is not a class index"});
  expect_error([] { data::parse_csv("a,b\n-1,2\n", "t.csv"); }, {"label '-1'"});
  expect_error([] { data::read_csv("/nonexistent/x.csv"); }, {"'/nonexistent/x.csv'", "cannot open"});
}

namespace {

data::Dataset counting(int64_t n, int64_t classes) {
  data::Dataset d;
  d.x = nabla::Tensor({n, 2});
  for (int64_t i = 0; i < n; ++i) {
    d.x.data()[2 * i] = static_cast<float>(i);
    d.x.data()[2 * i + 1] = static_cast<float>(-i);
    d.labels.push_back(static_cast<int32_t>(i % classes));
  }
  d.num_classes = classes;
  return d;
}

}  // namespace

TEST(Dataset, SelectClassesRemapsTakeAndNormalize) {
  const data::Dataset d = counting(10, 5);
  const data::Dataset s = data::select_classes(d, {4, 1});
  EXPECT_EQ(s.labels, (std::vector<int32_t>{1, 0, 1, 0}));  // samples 1, 4, 6, 9
  EXPECT_EQ(s.num_classes, 2);
  EXPECT_FLOAT_EQ(s.x.data()[2], 4.f);
  expect_error([&] { data::select_classes(d, {1, 1}); }, {"listed twice"});
  expect_error([&] { data::select_classes(d, {5}); }, {"outside [0, 5)"});
  expect_error([&] { data::select_classes(d, {}); }, {"empty"});
  EXPECT_EQ(data::take(d, 3).size(), 3);
  EXPECT_EQ(data::take(d, 30).size(), 10);
  expect_error([&] { data::take(d, 0); }, {"< 1"});
  data::Dataset n = d;
  n.x = d.x.clone();
  const data::Moments m = data::moments(n);
  EXPECT_NEAR(m.mean, 0.f, 1e-6);
  data::normalize(n, m);
  const data::Moments after = data::moments(n);
  EXPECT_NEAR(after.mean, 0.f, 1e-5);
  EXPECT_NEAR(after.stddev, 1.f, 1e-5);
  expect_error([&] { data::normalize(n, {0.f, 0.f}); }, {"<= 0"});
}

TEST(BatchIterator, ShufflesEverySampleOnceKeepsPartialBatch) {
  const data::Dataset d = counting(10, 3);
  data::BatchIterator it(d, 4, true);
  EXPECT_EQ(it.num_batches(), 3);
  data::Rng rng(7);
  std::vector<int64_t> first_order;
  for (int epoch = 0; epoch < 2; ++epoch) {
    it.start(&rng);
    std::vector<int64_t> sizes, seen;
    while (it.next()) {
      sizes.push_back(it.batch_size());
      EXPECT_EQ(it.y().shape(), (std::vector<int64_t>{it.batch_size(), 1}));
      for (int64_t i = 0; i < it.batch_size(); ++i) {
        const auto s = static_cast<int64_t>(it.x().data()[2 * i]);
        EXPECT_EQ(it.x().data()[2 * i + 1], -static_cast<float>(s));
        EXPECT_EQ(it.labels()[i], s % 3);
        EXPECT_EQ(it.y().data()[i], static_cast<float>(s % 3));
        seen.push_back(s);
      }
    }
    EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 10u);
    if (epoch == 0) first_order = seen;
    else EXPECT_NE(seen, first_order);  // a new order each epoch
  }
  // Same seed, same order; no rng, dataset order.
  data::Rng a(3), b(3);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a.below(1000), b.below(1000));
  it.start(nullptr);
  ASSERT_TRUE(it.next());
  EXPECT_EQ(it.x().data()[2], 1.f);
  expect_error([&] { data::BatchIterator(d, 0); }, {"batch size 0"});
  expect_error([] { data::BatchIterator(data::Dataset{}, 4); }, {"empty"});
}

TEST(Shard, SlicesCoverTheBatchOnceInRankOrder) {
  for (int ranks = 1; ranks <= 5; ++ranks)
    for (int64_t n = 0; n <= 13; ++n) {
      int64_t next = 0, smallest = n, largest = 0;
      for (int r = 0; r < ranks; ++r) {
        const data::Shard s = data::shard_of(n, r, ranks);
        EXPECT_EQ(s.begin, next) << "n " << n << " rank " << r << "/" << ranks;
        next += s.count;
        smallest = std::min(smallest, s.count);
        largest = std::max(largest, s.count);
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(largest - smallest, 1);
    }
  expect_error([] { data::shard_of(4, 2, 2); }, {"rank 2 of 2"});
  expect_error([] { data::shard_of(4, 0, 0); }, {"0 ranks"});
}

// The ranks' iterators, given the same seed, together yield each global
// batch of the single iterator, in rank order: every sample once per epoch,
// also for a last global batch not divisible by the ranks (10 = 4 + 4 + 2
// on 3 ranks: slices 2+1+1, 2+1+1, 1+1+0).
TEST(BatchIterator, ShardsTogetherMakeTheGlobalBatches) {
  const data::Dataset d = counting(10, 3);
  for (int ranks : {2, 3, 4}) {
    data::BatchIterator whole(d, 4);
    std::vector<std::unique_ptr<data::BatchIterator>> parts;
    std::vector<data::Rng> rngs(static_cast<size_t>(ranks), data::Rng(11));
    for (int r = 0; r < ranks; ++r) {
      parts.push_back(std::make_unique<data::BatchIterator>(d, 4));
      parts.back()->set_shard(r, ranks);
    }
    data::Rng rng(11);
    for (int epoch = 0; epoch < 2; ++epoch) {
      whole.start(&rng);
      for (int r = 0; r < ranks; ++r) parts[static_cast<size_t>(r)]->start(&rngs[static_cast<size_t>(r)]);
      std::multiset<int64_t> seen;
      while (whole.next()) {
        std::vector<float> joined;
        for (auto& p : parts) {
          ASSERT_TRUE(p->next());
          EXPECT_EQ(p->global_batch_size(), whole.batch_size());
          EXPECT_EQ(p->y().size(0), p->batch_size());
          for (int64_t i = 0; i < p->batch_size(); ++i) {
            joined.push_back(p->x().data()[2 * i]);
            seen.insert(static_cast<int64_t>(p->x().data()[2 * i]));
          }
        }
        std::vector<float> expected;
        for (int64_t i = 0; i < whole.batch_size(); ++i) expected.push_back(whole.x().data()[2 * i]);
        EXPECT_EQ(joined, expected) << ranks << " ranks";
      }
      for (auto& p : parts) EXPECT_FALSE(p->next());
      EXPECT_EQ(seen.size(), 10u);
      EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 10u) << ranks << " ranks, epoch " << epoch;
    }
  }
  data::BatchIterator it(d, 4);
  expect_error([&] { it.set_shard(-1, 2); }, {"rank -1 of 2"});
}

// ---- augmentation -----------------------------------------------------------------

namespace {

// n images [c, h, w] with distinct values; label i is sample i.
data::Dataset distinct_images(int64_t n, int64_t c, int64_t h, int64_t w) {
  data::Dataset d;
  d.x = nabla::Tensor({n, c, h, w});
  for (int64_t i = 0; i < d.x.numel(); ++i) d.x.data()[i] = 1.f + static_cast<float>(i);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i));
  d.num_classes = n;
  return d;
}

// The scalar definition: out(ch, y, x) = in(ch, y + dy, x' + dx) with
// x' = flip ? w-1-x : x, `fill` outside the image.
std::vector<float> transformed(const float* in, int64_t c, int64_t h, int64_t w, int64_t dy, int64_t dx, bool flip,
                               float fill) {
  std::vector<float> out(static_cast<size_t>(c * h * w));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sy = y + dy, sx = (flip ? w - 1 - x : x) + dx;
        out[static_cast<size_t>((ch * h + y) * w + x)] =
            sy >= 0 && sy < h && sx >= 0 && sx < w ? in[(ch * h + sy) * w + sx] : fill;
      }
  return out;
}

}  // namespace

// Every augmented sample is one of the (2p+1)² crops, flipped or not, of its
// original; every offset and both flips occur; the draws depend only on
// (seed, epoch, sample), not on the batch size, the order or the shard.
TEST(Augment, CropsAndFlipsAsDefinedAndReproducibly) {
  const int64_t n = 300, c = 2, h = 5, w = 7, p = 2;
  const data::Dataset d = distinct_images(n, c, h, w);
  data::Augment a;
  a.crop_padding = p;
  a.flip = true;
  a.fill = -0.5f;
  auto run = [&](int64_t batch, bool shuffle, int64_t epoch, int rank, int ranks) {
    std::vector<std::vector<float>> out(static_cast<size_t>(n));
    data::BatchIterator it(d, batch);
    if (ranks > 1) it.set_shard(rank, ranks);
    it.set_augment(a, 42);
    data::Rng rng(7);
    it.start(shuffle ? &rng : nullptr, epoch);
    const int64_t per = c * h * w;
    while (it.next())
      for (int64_t i = 0; i < it.batch_size(); ++i)
        out[static_cast<size_t>(it.labels()[i])].assign(it.x().data() + i * per, it.x().data() + (i + 1) * per);
    return out;
  };
  const auto base = run(64, false, 3, 0, 1);
  std::set<std::tuple<int64_t, int64_t, bool>> seen;
  for (int64_t i = 0; i < n; ++i) {
    const float* orig = d.x.data() + i * c * h * w;
    bool found = false;
    for (int64_t dy = -p; dy <= p && !found; ++dy)
      for (int64_t dx = -p; dx <= p && !found; ++dx)
        for (bool flip : {false, true})
          if (!found && transformed(orig, c, h, w, dy, dx, flip, a.fill) == base[static_cast<size_t>(i)]) {
            found = true;
            seen.insert({dy, dx, flip});
          }
    ASSERT_TRUE(found) << "sample " << i << " is no crop/flip of its original";
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>((2 * p + 1) * (2 * p + 1) * 2));
  EXPECT_EQ(run(7, true, 3, 0, 1), base);  // another batch size, shuffled
  auto sharded = run(64, true, 3, 1, 2);   // rank 1 of 2 sees half of them, drawn alike
  int64_t compared = 0;
  for (int64_t i = 0; i < n; ++i)
    if (!sharded[static_cast<size_t>(i)].empty()) {
      EXPECT_EQ(sharded[static_cast<size_t>(i)], base[static_cast<size_t>(i)]) << i;
      ++compared;
    }
  EXPECT_EQ(compared, n / 2);
  EXPECT_NE(run(64, false, 4, 0, 1), base);  // a new epoch, new draws
  // augment_sample is what the iterator applies.
  std::vector<float> one(static_cast<size_t>(c * h * w));
  data::augment_sample(a, 42, 3, 5, {c, h, w}, d.x.data() + 5 * c * h * w, one.data());
  EXPECT_EQ(one, base[5]);
}

TEST(Augment, RejectsWhatIsNotAnImage) {
  data::Dataset flat = counting(10, 2);
  data::Augment a;
  a.flip = true;
  data::BatchIterator it(flat, 4);
  EXPECT_THROW(it.set_augment(a, 1), nabla::Error);
  a.flip = false;
  a.crop_padding = -1;
  const data::Dataset img = distinct_images(4, 1, 3, 3);
  data::BatchIterator it2(img, 4);
  EXPECT_THROW(it2.set_augment(a, 1), nabla::Error);
}
