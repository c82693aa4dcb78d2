// TrivialAugment and RandAugment: every operation against torchvision on Pillow (the fixtures in
// tests/fixtures/augment/ come from tools/make_augment_fixtures.py) and against values worked
// out by hand; the policies' draws; the loader with a policy on, and with it off.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cifar_files.h"
#include "npy_reader.h"
#include "sav/data/augment.h"
#include "sav/data/images.h"
#include "sav/data/loader.h"
#include "sav/error.h"

namespace sav::testing {
namespace {

using data::AugmentDraw;
using data::AugmentKind;
using data::AugmentOp;
using data::AugmentPolicy;
using data::kPixelBytes;
using Image = std::vector<uint8_t>;  // [3, 32, 32], channel planes

std::string fixture(const std::string& name) {
  return std::string(SAV_SOURCE_DIR) + "/tests/fixtures/augment/" + name;
}

// A uint8 ('|u1') .npy array of the fixtures (npy_reader.h reads float32 and int64 only).
Image read_byte_npy(const std::string& name, std::vector<int64_t>& shape) {
  std::ifstream in(fixture(name), std::ios::binary);
  if (!in) throw std::runtime_error("cannot open fixture " + fixture(name));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) != 0) {
    throw std::runtime_error(name + ": not a version 1.0 .npy file");
  }
  const size_t header_end = 10 + (uint8_t(bytes[8]) | uint8_t(bytes[9]) << 8);
  const std::string header = bytes.substr(10, header_end - 10);
  if (header.find("'|u1'") == std::string::npos) throw std::runtime_error(name + ": not uint8");
  const size_t open = header.find('(', header.find("'shape'")), close = header.find(')', open);
  const std::string dims = header.substr(open + 1, close - open - 1);
  shape.clear();
  for (size_t at = 0; at < dims.size();) {
    const size_t comma = std::min(dims.find(',', at), dims.size());
    if (dims.find_first_of("0123456789", at) < comma) {
      shape.push_back(std::stoll(dims.substr(at, comma - at)));
    }
    at = comma + 1;
  }
  return Image(bytes.begin() + header_end, bytes.end());
}

uint8_t& at(Image& image, int c, int y, int x) { return image[c * 1024 + y * 32 + x]; }
uint8_t at(const Image& image, int c, int y, int x) { return image[c * 1024 + y * 32 + x]; }

Image applied(AugmentOp op, float magnitude, Image image) {
  data::apply_augment_op(op, magnitude, image.data());
  return image;
}

// Every operation, at the magnitudes the fixture script chose (both signs, the ends of the
// ranges, RandAugment's magnitude 9, the rotations Pillow turns into transposes), on a
// structured image and on noise: the same bytes as torchvision's _apply_op on a PIL image.
// Exact, not within a level: the code follows Pillow's single-precision blends and filter and
// its 16.16 fixed-point resampling operation for operation.
TEST(AugmentOps, MatchTorchvisionOnPillow) {
  std::vector<int64_t> image_shape, expected_shape;
  const Image images = read_byte_npy("images.npy", image_shape);
  const Image expected = read_byte_npy("expected.npy", expected_shape);
  const NpyArray cases = read_npy(fixture("cases.npy"));
  ASSERT_EQ(image_shape, (std::vector<int64_t>{2, 3, 32, 32}));
  ASSERT_EQ(cases.shape.size(), 2u);
  const int64_t count = cases.shape[0];
  ASSERT_EQ(expected_shape, (std::vector<int64_t>{count, 3, 32, 32}));
  std::set<int> ops_seen;
  for (int64_t k = 0; k < count; ++k) {
    const int image = static_cast<int>(cases.values[k * 3]);
    const auto op = static_cast<AugmentOp>(static_cast<int>(cases.values[k * 3 + 1]));
    const float magnitude = cases.values[k * 3 + 2];
    ops_seen.insert(static_cast<int>(op));
    const Image input(images.begin() + image * kPixelBytes,
                      images.begin() + (image + 1) * kPixelBytes);
    const Image got = applied(op, magnitude, input);
    const uint8_t* want = expected.data() + k * kPixelBytes;
    int differing = 0, first = -1;
    for (int i = 0; i < kPixelBytes; ++i) {
      if (got[i] == want[i]) continue;
      if (first < 0) first = i;
      ++differing;
    }
    EXPECT_EQ(differing, 0) << data::augment_op_name(op) << " " << magnitude << " on image "
                            << image << ": first at (c, y, x) = (" << first / 1024 << ", "
                            << first / 32 % 32 << ", " << first % 32
                            << "): " << (first < 0 ? 0 : int{got[first]}) << " instead of "
                            << (first < 0 ? 0 : int{want[first]});
  }
  EXPECT_EQ(ops_seen.size(), static_cast<size_t>(data::kAugmentOps));
}

uint32_t fnv1a32(const Image& bytes) {
  uint32_t hash = 0x811c9dc5u;
  for (uint8_t byte : bytes) hash = (hash ^ byte) * 0x01000193u;
  return hash;
}

// Every (operation, magnitude) TrivialAugment or RandAugment can draw, torchvision's float32
// magnitudes with both signs, on both images (2,232 cases): the output's byte sum and hash
// against torchvision's. The rare pixel whose blend lands within a float rounding of an integer
// shows up here, where the 100 full images above could miss it.
TEST(AugmentOps, EveryMagnitudeThePoliciesDrawMatchesTorchvision) {
  std::vector<int64_t> image_shape;
  const Image images = read_byte_npy("images.npy", image_shape);
  const NpyArray sweep = read_npy(fixture("sweep.npy"));
  ASSERT_EQ(sweep.shape.size(), 2u);
  ASSERT_EQ(sweep.shape[1], 6);
  ASSERT_GT(sweep.shape[0], 2000);
  int mismatches = 0;
  for (int64_t k = 0; k < sweep.shape[0]; ++k) {
    const float* row = sweep.values.data() + k * 6;
    const int image = static_cast<int>(row[0]);
    const auto op = static_cast<AugmentOp>(static_cast<int>(row[1]));
    const Image got = applied(
        op, row[2],
        Image(images.begin() + image * kPixelBytes, images.begin() + (image + 1) * kPixelBytes));
    int64_t sum = 0;
    for (uint8_t v : got) sum += v;
    const uint32_t hash = fnv1a32(got);
    const bool match = sum == static_cast<int64_t>(row[3]) &&
                       (hash & 0xffff) == static_cast<uint32_t>(row[4]) &&
                       (hash >> 16) == static_cast<uint32_t>(row[5]);
    if (!match && ++mismatches <= 10) {
      ADD_FAILURE() << data::augment_op_name(op) << " " << row[2] << " on image " << image
                    << ": byte sum " << sum << " against torchvision's " << row[3];
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// The tables against torch.linspace's float32 values. Within one unit in the last place: torch
// computes its linspace in kernels that differ by CPU (a vector kernel with fused multiply-adds
// on AVX2 gives 0.62700003 where the nearest float to 0.627 is 0.627), so its last bit is no
// part of the recipe; integers (posterize bits, 16 pixels of translation) come out exact.
TEST(AugmentOps, MagnitudeTablesMatchTorchvision) {
  const NpyArray tables = read_npy(fixture("magnitudes.npy"));
  ASSERT_EQ(tables.shape, (std::vector<int64_t>{2, data::kAugmentOps, data::kMagnitudeBins}));
  const AugmentKind kinds[2] = {AugmentKind::kTrivialAugment, AugmentKind::kRandAugment};
  for (int p = 0; p < 2; ++p)
    for (int o = 0; o < data::kAugmentOps; ++o)
      for (int bin = 0; bin < data::kMagnitudeBins; ++bin) {
        const float torch = tables.values[(p * data::kAugmentOps + o) * data::kMagnitudeBins + bin];
        const float ours = data::augment_magnitude(kinds[p], static_cast<AugmentOp>(o), bin);
        const bool close = ours == torch || std::nextafter(ours, torch) == torch;
        EXPECT_TRUE(close) << data::augment_op_name(static_cast<AugmentOp>(o)) << " bin " << bin
                           << " of policy " << p << ": " << ours << " against " << torch;
        if (torch == std::round(torch)) {
          EXPECT_EQ(ours, torch);
        }
      }
  EXPECT_EQ(data::augment_magnitude(kinds[0], AugmentOp::kTranslateX, 15), 16.0f);
  EXPECT_EQ(data::augment_magnitude(kinds[1], AugmentOp::kPosterize, 9), 7.0f);
}

// A picture of every byte value: byte i of the image is i % 256.
Image all_values() {
  Image image(kPixelBytes);
  for (int i = 0; i < kPixelBytes; ++i) image[i] = static_cast<uint8_t>(i % 256);
  return image;
}

Image filled(uint8_t value) { return Image(kPixelBytes, value); }

TEST(AugmentOps, PosterizeKeepsTheTopBitsAndSolarizeInvertsFromTheThreshold) {
  const Image image = all_values();
  const Image three_bits = applied(AugmentOp::kPosterize, 3.0f, image);
  const Image solarized = applied(AugmentOp::kSolarize, 128.0f, image);
  const Image half_step = applied(AugmentOp::kSolarize, 128.5f, image);
  for (int v = 0; v < 256; ++v) {
    EXPECT_EQ(three_bits[v], v & 0xe0) << v;
    EXPECT_EQ(solarized[v], v >= 128 ? 255 - v : v) << v;
    EXPECT_EQ(half_step[v], v >= 129 ? 255 - v : v) << v;
  }
  EXPECT_EQ(applied(AugmentOp::kPosterize, 8.0f, image), image);
  EXPECT_EQ(applied(AugmentOp::kSolarize, 255.0f, image)[255], 0);
  EXPECT_EQ(applied(AugmentOp::kSolarize, 0.0f, image)[0], 255);  // 0 >= 0: everything inverts
}

TEST(AugmentOps, EnhancementsBlendWithTheirDegenerateImage) {
  // Brightness: the factor 1 + m times the byte, truncated and clipped; -1 is black.
  Image image = filled(100);
  at(image, 0, 0, 1) = 101;
  at(image, 0, 0, 2) = 200;
  const Image bright = applied(AugmentOp::kBrightness, 0.5f, image);
  EXPECT_EQ(at(bright, 0, 0, 0), 150);
  EXPECT_EQ(at(bright, 0, 0, 1), 151);  // 151.5 truncated
  EXPECT_EQ(at(bright, 0, 0, 2), 255);  // 300 clipped
  EXPECT_EQ(applied(AugmentOp::kBrightness, -1.0f, image), filled(0));

  // Color -1: every channel the pixel's grey, (19595 R + 38470 G + 7471 B + 2^15) >> 16.
  Image red = filled(0);
  for (int i = 0; i < 1024; ++i) red[i] = 255;
  EXPECT_EQ(applied(AugmentOp::kColor, -1.0f, red), filled(76));  // 255 * 19595 / 65536 = 76.2

  // Contrast -1: the mean grey, rounded: half black, half white is 127.5 -> 128.
  Image halves = filled(0);
  for (int c = 0; c < 3; ++c)
    for (int y = 16; y < 32; ++y)
      for (int x = 0; x < 32; ++x) at(halves, c, y, x) = 255;
  EXPECT_EQ(applied(AugmentOp::kContrast, -1.0f, halves), filled(128));
  EXPECT_EQ(applied(AugmentOp::kContrast, 0.0f, halves), halves);
}

// Sharpness against the smoothing kernel [1 1 1; 1 5 1; 1 1 1] / 13, worked by hand on one
// bright pixel; the border is never touched.
TEST(AugmentOps, SharpnessBlendsWithPillowsSmoothingAndKeepsTheBorder) {
  Image image = filled(0);
  for (int c = 0; c < 3; ++c) {
    at(image, c, 16, 16) = 130;
    at(image, c, 0, 5) = 200;  // on the border
  }
  // m = -1: the smoothed image itself. Centre 130 * 5 / 13 = 50, its neighbours 130 / 13 = 10;
  // the pixel under the border pixel 200 / 13 = 15.4 -> 15; the border pixel stays 200.
  const Image smooth = applied(AugmentOp::kSharpness, -1.0f, image);
  EXPECT_EQ(at(smooth, 1, 16, 16), 50);
  EXPECT_EQ(at(smooth, 1, 15, 17), 10);
  EXPECT_EQ(at(smooth, 1, 17, 16), 10);
  EXPECT_EQ(at(smooth, 1, 18, 16), 0);
  EXPECT_EQ(at(smooth, 2, 1, 5), 15);
  EXPECT_EQ(at(smooth, 2, 0, 5), 200);
  // m = 1, factor 2: 50 + 2 (130 - 50) = 210 at the centre, 10 + 2 (0 - 10) < 0 -> 0 around it.
  const Image sharp = applied(AugmentOp::kSharpness, 1.0f, image);
  EXPECT_EQ(at(sharp, 0, 16, 16), 210);
  EXPECT_EQ(at(sharp, 0, 15, 15), 0);
  EXPECT_EQ(at(sharp, 0, 0, 5), 200);
  EXPECT_EQ(applied(AugmentOp::kSharpness, 0.99f, filled(77)), filled(77));
}

TEST(AugmentOps, AutoContrastAndEqualizeWorkPerChannel) {
  // R from 50 to 150 stretched to 0..255 (v -> int(2.55 v - 127.5)); G constant, left alone.
  Image image = filled(90);
  for (int i = 0; i < 1024; ++i) image[i] = static_cast<uint8_t>(50 + i % 101);
  const Image stretched = applied(AugmentOp::kAutoContrast, 0.0f, image);
  EXPECT_EQ(stretched[0], 0);      // 50
  EXPECT_EQ(stretched[50], 127);   // 100: 127.5 truncated
  EXPECT_EQ(stretched[100], 255);  // 150
  EXPECT_EQ(at(stretched, 1, 5, 5), 90);

  // Four values 256 times each: step = (1024 - 256) / 255 = 3, n from 1: 10 -> 1 / 3 = 0,
  // 20 -> 257 / 3 = 85, 30 -> 513 / 3 = 171, 40 -> 769 / 3 = 256, clipped to 255 as Pillow's
  // table is. A channel of one value is left alone.
  Image levels = filled(33);
  for (int i = 0; i < 1024; ++i) levels[i] = static_cast<uint8_t>(10 + 10 * (i % 4));
  const Image equalized = applied(AugmentOp::kEqualize, 0.0f, levels);
  EXPECT_EQ(equalized[0], 0);
  EXPECT_EQ(equalized[1], 85);
  EXPECT_EQ(equalized[2], 171);
  EXPECT_EQ(equalized[3], 255);
  EXPECT_EQ(at(equalized, 2, 7, 7), 33);
}

TEST(AugmentOps, GeometryMovesPixelsWithZeroFill) {
  Image image(kPixelBytes);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) at(image, c, y, x) = static_cast<uint8_t>(1 + x + 32 * c + y);
  const Image right = applied(AugmentOp::kTranslateX, 3.0f, image);
  const Image up = applied(AugmentOp::kTranslateY, -3.7f, image);  // int(-3.7) = -3
  const Image turned = applied(AugmentOp::kRotate, 90.0f, image);
  const Image sheared = applied(AugmentOp::kShearX, 0.5f, image);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        EXPECT_EQ(at(right, c, y, x), x >= 3 ? at(image, c, y, x - 3) : 0);
        EXPECT_EQ(at(up, c, y, x), y < 29 ? at(image, c, y + 3, x) : 0);
        EXPECT_EQ(at(turned, c, y, x), at(image, c, x, 31 - y));  // anticlockwise
        // Source x = floor(x + 0.5 + 0.5 (y + 0.5)), sampled at pixel centres.
        const int source = x + (3 + 2 * y) / 4;
        EXPECT_EQ(at(sheared, c, y, x), source < 32 ? at(image, c, y, source) : 0);
      }
  EXPECT_EQ(applied(AugmentOp::kRotate, 0.0f, image), image);
  EXPECT_EQ(applied(AugmentOp::kShearY, 0.0f, image), image);
  EXPECT_EQ(applied(AugmentOp::kIdentity, 5.0f, image), image);
}

std::vector<AugmentDraw> draws_of(const AugmentPolicy& policy, uint64_t seed, uint64_t stream,
                                  int64_t record) {
  std::vector<AugmentDraw> draws(data::kMaxAugmentOps);
  draws.resize(data::draw_augment_ops(policy, seed, stream, record, draws.data()));
  return draws;
}

bool same(const std::vector<AugmentDraw>& a, const std::vector<AugmentDraw>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].op != b[i].op || a[i].magnitude != b[i].magnitude) return false;
  }
  return true;
}

TEST(AugmentPolicy, DrawsArePureFunctionsOfSeedStreamAndRecord) {
  const AugmentPolicy trivial{AugmentKind::kTrivialAugment};
  EXPECT_TRUE(draws_of(AugmentPolicy{}, 1, 2, 3).empty());
  EXPECT_TRUE(same(draws_of(trivial, 1, 2, 3), draws_of(trivial, 1, 2, 3)));
  int differ_record = 0, differ_stream = 0, differ_seed = 0;
  for (int64_t r = 0; r < 50; ++r) {
    const std::vector<AugmentDraw> base = draws_of(trivial, 1, 2, r);
    differ_record += !same(base, draws_of(trivial, 1, 2, r + 1));
    differ_stream += !same(base, draws_of(trivial, 1, 3, r));
    differ_seed += !same(base, draws_of(trivial, 4, 2, r));
  }
  EXPECT_GT(differ_record, 40);  // two draws agree by chance with probability ~1/600
  EXPECT_GT(differ_stream, 40);
  EXPECT_GT(differ_seed, 40);

  // augment_image is the draws applied in turn.
  const AugmentPolicy rand{AugmentKind::kRandAugment, 4, 20};
  Image image = all_values(), by_hand = image;
  data::augment_image(rand, 9, 8, 7, image.data());
  for (const AugmentDraw& d : draws_of(rand, 9, 8, 7))
    by_hand = applied(d.op, d.magnitude, by_hand);
  EXPECT_EQ(image, by_hand);
}

// Over 14,000 records each operation comes about 1,000 times (standard deviation 30), each
// bin about 452 (21), and a signed operation's magnitude is negative about half the time;
// the bounds are more than 4 standard deviations out, and the seed is fixed.
TEST(AugmentPolicy, TrivialAugmentDrawsOperationBinAndSignUniformly) {
  const AugmentPolicy trivial{AugmentKind::kTrivialAugment};
  std::map<int, int> per_op, per_bin;
  int signed_draws = 0, negative = 0;
  for (int64_t r = 0; r < 14000; ++r) {
    const std::vector<AugmentDraw> draws = draws_of(trivial, 42, 5, r);
    ASSERT_EQ(draws.size(), 1u);
    const AugmentDraw d = draws[0];
    ++per_op[static_cast<int>(d.op)];
    if (d.op == AugmentOp::kRotate)
      ++per_bin[static_cast<int>(std::lround(std::fabs(d.magnitude) / 4.5f))];
    if (data::augment_op_is_signed(d.op)) {
      ++signed_draws;
      negative += d.magnitude < 0;
    }
    bool in_table = false;
    for (int bin = 0; bin < data::kMagnitudeBins; ++bin) {
      in_table |= std::fabs(d.magnitude) == data::augment_magnitude(trivial.kind, d.op, bin);
    }
    EXPECT_TRUE(in_table) << data::augment_op_name(d.op) << " " << d.magnitude;
  }
  ASSERT_EQ(per_op.size(), static_cast<size_t>(data::kAugmentOps));
  for (const auto& [op, n] : per_op) {
    EXPECT_GT(n, 870) << data::augment_op_name(static_cast<AugmentOp>(op));
    EXPECT_LT(n, 1130) << data::augment_op_name(static_cast<AugmentOp>(op));
  }
  // Rotate's bins (4.5 degrees apart) stand for all: about 1000 / 31 = 32 each.
  EXPECT_EQ(per_bin.size(), static_cast<size_t>(data::kMagnitudeBins));
  for (const auto& [bin, n] : per_bin) EXPECT_LT(n, 70) << "rotate bin " << bin;
  EXPECT_NEAR(negative / static_cast<double>(signed_draws), 0.5, 0.04);
}

TEST(AugmentPolicy, RandAugmentChainsNumOpsAtOneMagnitude) {
  const AugmentPolicy rand{AugmentKind::kRandAugment, 3, 9};
  std::map<int, int> per_op;
  for (int64_t r = 0; r < 5000; ++r) {
    const std::vector<AugmentDraw> draws = draws_of(rand, 42, 6, r);
    ASSERT_EQ(draws.size(), 3u);
    for (const AugmentDraw& d : draws) {
      ++per_op[static_cast<int>(d.op)];
      EXPECT_EQ(std::fabs(d.magnitude), data::augment_magnitude(rand.kind, d.op, 9));
    }
  }
  for (const auto& [op, n] : per_op) {
    EXPECT_GT(n, 15000 / 14 - 150) << data::augment_op_name(static_cast<AugmentOp>(op));
    EXPECT_LT(n, 15000 / 14 + 150) << data::augment_op_name(static_cast<AugmentOp>(op));
  }
}

TEST(AugmentPolicy, RejectsRandAugmentOutOfBounds) {
  EXPECT_NO_THROW(data::check_augment_policy({AugmentKind::kRandAugment, 16, 30}));
  EXPECT_NE(error_of([] {
              data::check_augment_policy({AugmentKind::kRandAugment, 0, 9});
            }).find("number of operations"),
            std::string::npos);
  EXPECT_THROW(data::check_augment_policy({AugmentKind::kRandAugment, 17, 9}), Error);
  EXPECT_NE(error_of([] {
              data::check_augment_policy({AugmentKind::kRandAugment, 2, 31});
            }).find("magnitude must be in [0, 30]"),
            std::string::npos);
  EXPECT_THROW(data::check_augment_policy({AugmentKind::kRandAugment, 2, -1}), Error);
}

// The records of an epoch, each with its patches.
std::map<int64_t, std::vector<float>> patches_by_record(data::BatchLoader& loader, uint64_t epoch) {
  std::map<int64_t, std::vector<float>> out;
  loader.start_epoch(epoch);
  data::Batch batch;
  while (loader.next(batch)) {
    for (int64_t i = 0; i < batch.size; ++i) {
      out[batch.records[i]].assign(batch.patches.begin() + i * 64 * 48,
                                   batch.patches.begin() + (i + 1) * 64 * 48);
    }
  }
  return out;
}

data::RecordSet two_files(const TempFolder& folder) {
  return data::RecordSet::open(
      {write_records(folder, "a.bin", 0, 250), write_records(folder, "b.bin", 250, 123)});
}

// FNV-1a over an epoch as the model sees it: record, label, and the patches turned back into
// bytes (exact with the default normalisation, and blind to how a build rounds the division).
uint64_t epoch_hash(data::BatchLoader& loader, uint64_t epoch) {
  uint64_t hash = 0xcbf29ce484222325ull;
  const auto mix = [&](uint8_t byte) { hash = (hash ^ byte) * 0x100000001b3ull; };
  loader.start_epoch(epoch);
  data::Batch batch;
  while (loader.next(batch)) {
    for (int64_t i = 0; i < batch.size; ++i) {
      for (int k = 0; k < 8; ++k) mix(static_cast<uint8_t>(batch.records[i] >> (8 * k)));
      mix(static_cast<uint8_t>(batch.labels[i]));
      for (int j = 0; j < 64 * 48; ++j) {
        mix(static_cast<uint8_t>(std::lround(batch.patches[i * 64 * 48 + j] * 255.0f)));
      }
    }
  }
  return hash;
}

// The hashes the loader gave before the policies existed (its code at the commit before
// augment.cpp, same files and options): with the policy off, nothing changed.
TEST(LoaderAugment, PolicyOffGivesWhatTheLoaderGaveBefore) {
  TempFolder folder;
  const data::RecordSet set = two_files(folder);
  const uint64_t before[3][2] = {{0x48f2bff1362a1781ull, 0x3b5e67a3461145c3ull},
                                 {0x87a0c564d94cd5d5ull, 0xce800e7f78038a2bull},
                                 {0x0adf312fc99b1cf3ull, 0xc4143e2aacf45f46ull}};
  for (int variant = 0; variant < 3; ++variant) {
    data::LoaderOptions options;
    options.batch_size = 50;
    options.seed = 7;
    options.flip = variant >= 1;
    options.crop_padding = variant >= 1 ? 4 : 0;
    options.shard = variant == 2 ? 1 : 0;
    options.shards = variant == 2 ? 3 : 1;
    data::BatchLoader loader(set, options);
    EXPECT_EQ(epoch_hash(loader, 0), before[variant][0]) << "variant " << variant;
    EXPECT_EQ(epoch_hash(loader, 2), before[variant][1]) << "variant " << variant;
  }
}

std::vector<float> patches_of(const Image& image) {
  std::vector<float> patches(64 * 48);
  data::image_to_patches(image.data(), {}, patches.data());
  return patches;
}

// With flip and TrivialAugment on, each image is the policy applied to the (possibly)
// mirrored record, drawn from policy_stream(epoch) for that record: flip first, as
// torchvision's recipes order them. The other order fits fewer images (those whose operation
// does not commute with a mirror: shears, translations, rotations).
TEST(LoaderAugment, TrivialAugmentRunsAfterTheFlipOnTheBackgroundThread) {
  TempFolder folder;
  const data::RecordSet set = two_files(folder);
  data::LoaderOptions options;
  options.seed = 11;
  options.flip = true;
  options.augment.kind = AugmentKind::kTrivialAugment;
  data::BatchLoader loader(set, options);
  const uint64_t epoch = 3;
  int policy_first_fits = 0, changed = 0;
  for (const auto& [record, patches] : patches_by_record(loader, epoch)) {
    Image pixels(kPixelBytes), mirrored(kPixelBytes);
    set.read(record, pixels.data());
    bool fits = false, other_order_fits = false;
    for (bool flip : {false, true}) {
      data::transform_image(pixels.data(), flip, 0, 0, mirrored.data());
      Image expected = mirrored;
      data::augment_image(options.augment, options.seed, data::policy_stream(epoch), record,
                          expected.data());
      fits |= patches == patches_of(expected);
      Image policy_first = pixels;
      data::augment_image(options.augment, options.seed, data::policy_stream(epoch), record,
                          policy_first.data());
      data::transform_image(policy_first.data(), flip, 0, 0, mirrored.data());
      other_order_fits |= patches == patches_of(mirrored);
    }
    ASSERT_TRUE(fits) << "record " << record;
    policy_first_fits += other_order_fits;
    changed += patches != patches_of(pixels);
  }
  EXPECT_LT(policy_first_fits, 373 - 20);
  EXPECT_GT(changed, 373 / 2);
}

// The images follow the record, not the batch: batches of 50 and of 9, and a rank's share,
// give every record the same image; another epoch gives other images.
TEST(LoaderAugment, RandAugmentFollowsTheRecordNotTheBatch) {
  TempFolder folder;
  const data::RecordSet set = two_files(folder);
  data::LoaderOptions options;
  options.flip = true;
  options.crop_padding = 4;
  options.augment = {AugmentKind::kRandAugment, 2, 9};
  data::BatchLoader big(set, options);
  options.batch_size = 9;
  options.shard = 1;
  options.shards = 2;
  data::BatchLoader shared(set, options);
  const auto all = patches_by_record(big, 1);
  const auto share = patches_by_record(shared, 1);
  ASSERT_EQ(all.size(), 373u);
  ASSERT_GT(share.size(), 150u);
  for (const auto& [record, patches] : share) EXPECT_EQ(patches, all.at(record)) << record;
  const auto next_epoch = patches_by_record(big, 2);
  int differ = 0;
  for (const auto& [record, patches] : all) differ += patches != next_epoch.at(record);
  EXPECT_GT(differ, 300);
}

TEST(LoaderAugment, RejectsABadPolicy) {
  TempFolder folder;
  data::LoaderOptions options;
  options.augment = {AugmentKind::kRandAugment, 0, 9};
  EXPECT_THROW(data::BatchLoader(two_files(folder), options), Error);
}

}  // namespace
}  // namespace sav::testing
