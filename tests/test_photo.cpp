// Photos: JPEG and PNG decoding (orientation, colour models, damaged and oversized files) and the
// preprocessing of published ViTs, compared with what PIL computes. The fixtures in
// tests/fixtures/photos/ come from tools/make_photo_fixtures.py (Pillow and NumPy), which says
// what each file holds.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <lodepng.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sav/data/images.h"
#include "sav/error.h"
#include "sav/image/jpeg.h"
#include "sav/image/photo.h"
#include "test_support.h"

namespace sav::testing {
namespace {

using image::ChwImage;
using image::Interpolation;
using image::RgbImage;
using Bytes = std::vector<uint8_t>;

std::string fixture(const std::string& name) {
  return std::string(SAV_SOURCE_DIR) + "/tests/fixtures/photos/" + name;
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open fixture " + path);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A .npy array of the fixtures: version 1.0, C order, '|u1' or '<f4'.
struct Npy {
  std::string descr;
  std::vector<int64_t> shape;
  Bytes data;

  std::vector<float> floats() const {
    std::vector<float> values(data.size() / 4);
    for (size_t i = 0; i < values.size(); ++i) {
      const uint32_t bits = uint32_t{data[4 * i]} | uint32_t{data[4 * i + 1]} << 8 |
                            uint32_t{data[4 * i + 2]} << 16 | uint32_t{data[4 * i + 3]} << 24;
      std::memcpy(&values[i], &bits, 4);
    }
    return values;
  }
};

Npy read_npy(const std::string& name) {
  const Bytes bytes = read_bytes(fixture(name));
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY\x01\x00", 8) != 0) {
    throw std::runtime_error(name + ": not a version 1.0 .npy file");
  }
  const size_t header_end = 10 + (bytes[8] | bytes[9] << 8);
  const std::string header(bytes.begin() + 10, bytes.begin() + header_end);
  Npy npy;
  const size_t descr = header.find("'descr': '") + 10;
  npy.descr = header.substr(descr, header.find('\'', descr) - descr);
  if (header.find("'fortran_order': False") == std::string::npos) {
    throw std::runtime_error(name + ": not in C order");
  }
  const size_t open = header.find('(', header.find("'shape'")), close = header.find(')', open);
  std::string dims = header.substr(open + 1, close - open - 1);
  for (size_t at = 0; at < dims.size();) {
    const size_t comma = std::min(dims.find(',', at), dims.size());
    if (comma > at) npy.shape.push_back(std::stoll(dims.substr(at, comma - at)));
    at = comma + 1;
  }
  npy.data.assign(bytes.begin() + header_end, bytes.end());
  return npy;
}

// The largest difference between a decoded photo and PIL's [H, W, 3] uint8 pixels.
int max_difference(const RgbImage& image, const Npy& expected) {
  EXPECT_EQ(expected.descr, "|u1");
  EXPECT_EQ(expected.shape, (std::vector<int64_t>{image.height, image.width, 3}));
  if (expected.data.size() != image.pixels.size()) return 256;
  int most = 0;
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    most = std::max(most, std::abs(int{image.pixels[i]} - int{expected.data[i]}));
  }
  return most;
}

double mean_difference(const RgbImage& image, const Npy& expected) {
  if (expected.data.size() != image.pixels.size()) return 256;
  double sum = 0;
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    sum += std::abs(int{image.pixels[i]} - int{expected.data[i]});
  }
  return sum / static_cast<double>(image.pixels.size());
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Where the SOF segment's height and width lie in a JPEG file (walking the segments, so that
// bytes inside the Exif block cannot be mistaken for it).
size_t sof_size_offset(const Bytes& jpeg) {
  for (size_t at = 2; at + 4 <= jpeg.size();) {
    const uint8_t marker = jpeg[at + 1];
    if (marker >= 0xC0 && marker <= 0xC2) return at + 5;  // after length and precision
    at += 2 + (size_t{jpeg[at + 2]} << 8 | jpeg[at + 3]);
  }
  throw std::runtime_error("no SOF segment");
}

Bytes with_declared_size(Bytes jpeg, int width, int height) {
  const size_t at = sof_size_offset(jpeg);
  jpeg[at] = static_cast<uint8_t>(height >> 8);
  jpeg[at + 1] = static_cast<uint8_t>(height);
  jpeg[at + 2] = static_cast<uint8_t>(width >> 8);
  jpeg[at + 3] = static_cast<uint8_t>(width);
  return jpeg;
}

// --- Decoding ---------------------------------------------------------------------------------

// TurboJPEG here and the libjpeg-turbo inside Pillow decode with the same integer IDCT and
// upsampling, so the fixtures' pixels come back exactly; 1 leaves room for a build whose SIMD
// and C paths round one sample differently.
constexpr int kSameDecoderTolerance = 1;

TEST(PhotoDecode, EveryExifOrientationComesOutUpright) {
  const Npy upright = read_npy("orient_upright.npy");
  for (int n = 1; n <= 8; ++n) {
    SCOPED_TRACE("orientation " + std::to_string(n));
    const RgbImage image = image::load_photo(fixture("orient_" + std::to_string(n) + ".jpg"));
    ASSERT_EQ(image.width, 24);
    ASSERT_EQ(image.height, 16);
    EXPECT_LE(max_difference(image, read_npy("orient_" + std::to_string(n) + ".npy")),
              kSameDecoderTolerance);
    // Against the picture before compression: JPEG at quality 95 moves a sample of this noisy
    // texture by 3 on average (measured 2.97 to 3.04), a wrong turn or mirror by about 100.
    EXPECT_LT(mean_difference(image, upright), 6.0);
  }
}

// A PNG's eXIf chunk turns it as a JPEG's Exif segment does (PIL's exif_transpose reads both).
// PNG is lossless: the pixels must be PIL's exactly.
TEST(PhotoDecode, APngsExifOrientationComesOutUpright) {
  const RgbImage image = image::load_photo(fixture("orient_8.png"));
  EXPECT_EQ(image.width, 13);
  EXPECT_EQ(image.height, 21);
  EXPECT_EQ(max_difference(image, read_npy("orient_8_png.npy")), 0);
}

TEST(PhotoDecode, TheOrientationsTurnAndMirrorAsExifDefines) {
  RgbImage stored(3, 2);  // pixel (x, y) holds x + 10 y in every channel
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 3; ++x) std::fill_n(&stored.pixels[(y * 3 + x) * 3], 3, x + 10 * y);
  }
  const auto rows = [](const RgbImage& image) {
    std::vector<std::vector<int>> out(image.height);
    for (int y = 0; y < image.height; ++y) {
      for (int x = 0; x < image.width; ++x)
        out[y].push_back(image.pixels[(y * image.width + x) * 3]);
    }
    return out;
  };
  using Rows = std::vector<std::vector<int>>;
  EXPECT_EQ(rows(image::apply_orientation(stored, 1)), (Rows{{0, 1, 2}, {10, 11, 12}}));
  EXPECT_EQ(rows(image::apply_orientation(stored, 2)), (Rows{{2, 1, 0}, {12, 11, 10}}));
  EXPECT_EQ(rows(image::apply_orientation(stored, 3)), (Rows{{12, 11, 10}, {2, 1, 0}}));
  EXPECT_EQ(rows(image::apply_orientation(stored, 4)), (Rows{{10, 11, 12}, {0, 1, 2}}));
  EXPECT_EQ(rows(image::apply_orientation(stored, 5)), (Rows{{0, 10}, {1, 11}, {2, 12}}));
  EXPECT_EQ(rows(image::apply_orientation(stored, 6)), (Rows{{10, 0}, {11, 1}, {12, 2}}));
  EXPECT_EQ(rows(image::apply_orientation(stored, 7)), (Rows{{12, 2}, {11, 1}, {10, 0}}));
  EXPECT_EQ(rows(image::apply_orientation(stored, 8)), (Rows{{2, 12}, {1, 11}, {0, 10}}));
  EXPECT_EQ(rows(image::apply_orientation(stored, 9)), rows(stored));
}

TEST(PhotoDecode, TheOrientationTagIsReadInBothByteOrdersAndIgnoredWhenMalformed) {
  for (int n = 1; n <= 8; ++n) {  // odd n big-endian ("MM"), even n little-endian ("II")
    const Bytes jpeg = read_bytes(fixture("orient_" + std::to_string(n) + ".jpg"));
    EXPECT_EQ(image::jpeg_exif_orientation(jpeg.data(), jpeg.size()), n);
  }
  const Bytes good = read_bytes(fixture("orient_6.jpg"));  // little-endian, Make then Orientation
  const auto exif = std::search(good.begin(), good.end(), "Exif\0\0", "Exif\0\0" + 6);
  ASSERT_NE(exif, good.end());
  const size_t tiff = static_cast<size_t>(exif - good.begin()) + 6;
  const size_t entry = tiff + 8 + 2 + 12;  // IFD0's second entry
  ASSERT_EQ(good[entry], 0x12);
  ASSERT_EQ(good[entry + 8], 6);
  const auto orientation_of = [&](size_t at, uint8_t value) {
    Bytes bad = good;
    bad[at] = value;
    return image::jpeg_exif_orientation(bad.data(), bad.size());
  };
  EXPECT_EQ(orientation_of(entry + 8, 9), 1);    // a value outside 1..8
  EXPECT_EQ(orientation_of(entry + 8, 0), 1);    // 0
  EXPECT_EQ(orientation_of(entry + 2, 4), 1);    // type LONG, not SHORT
  EXPECT_EQ(orientation_of(tiff, 'X'), 1);       // no byte order
  EXPECT_EQ(orientation_of(tiff + 2, 43), 1);    // not TIFF's 42
  EXPECT_EQ(orientation_of(tiff + 7, 0x7F), 1);  // IFD0 far outside the segment
  EXPECT_EQ(orientation_of(tiff + 8, 0), 1);     // IFD0 with no entries
  EXPECT_EQ(orientation_of(tiff - 6, 'e'), 1);   // "exif", not an Exif segment
  EXPECT_EQ(image::jpeg_exif_orientation(good.data(), entry + 9), 1);  // file cut in the tag
}

TEST(PhotoDecode, GreyscaleCmykAndYcckJpegsBecomeRgbAsPilConvertsThem) {
  const RgbImage grey = image::load_photo(fixture("grey.jpg"));
  EXPECT_LE(max_difference(grey, read_npy("grey_jpg.npy")), kSameDecoderTolerance);
  for (size_t i = 0; i < grey.pixels.size(); i += 3) {
    ASSERT_EQ(grey.pixels[i], grey.pixels[i + 1]);
    ASSERT_EQ(grey.pixels[i], grey.pixels[i + 2]);
  }
  for (const std::string name : {"cmyk", "ycck"}) {
    SCOPED_TRACE(name);
    const RgbImage image = image::load_photo(fixture(name + ".jpg"));
    EXPECT_LE(max_difference(image, read_npy(name + "_jpg.npy")), kSameDecoderTolerance);
  }
}

TEST(PhotoDecode, PngsOfEveryColourTypeBecomeRgb) {
  TempFolder folder;
  struct Case {
    const char* name;
    std::vector<unsigned char> pixels;  // 2 x 1
    LodePNGColorType type;
    unsigned depth;
    std::vector<uint8_t> rgb;
  };
  const Case cases[] = {
      {"grey8", {7, 200}, LCT_GREY, 8, {7, 7, 7, 200, 200, 200}},
      {"grey16", {0x12, 0x34, 0xAB, 0xCD}, LCT_GREY, 16, {0x12, 0x12, 0x12, 0xAB, 0xAB, 0xAB}},
      {"grey_alpha", {9, 0, 90, 255}, LCT_GREY_ALPHA, 8, {9, 9, 9, 90, 90, 90}},
      {"rgba", {1, 2, 3, 0, 4, 5, 6, 128}, LCT_RGBA, 8, {1, 2, 3, 4, 5, 6}},
      {"rgb16", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, LCT_RGB, 16, {1, 3, 5, 7, 9, 11}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = folder.file(std::string(c.name) + ".png");
    ASSERT_EQ(lodepng::encode(path, c.pixels, 2, 1, c.type, c.depth), 0u);
    const RgbImage image = image::load_photo(path);
    EXPECT_EQ(image.width, 2);
    EXPECT_EQ(image.height, 1);
    EXPECT_EQ(image.pixels, c.rgb);
  }
  // A palette: lodepng encodes RGB pixels of few colours as one when asked to.
  lodepng::State state;
  state.info_png.color.colortype = LCT_PALETTE;
  state.info_png.color.bitdepth = 2;
  lodepng_palette_add(&state.info_png.color, 250, 0, 0, 255);
  lodepng_palette_add(&state.info_png.color, 0, 0, 250, 255);
  state.encoder.auto_convert = 0;
  ASSERT_EQ(lodepng_color_mode_copy(&state.info_raw, &state.info_png.color), 0u);
  std::vector<unsigned char> encoded;
  ASSERT_EQ(lodepng::encode(encoded, std::vector<unsigned char>{1 << 6 | 0 << 4}, 2, 1, state), 0u);
  const std::string path = folder.write_bytes("palette.png", Bytes(encoded.begin(), encoded.end()));
  EXPECT_EQ(image::load_photo(path).pixels, (Bytes{0, 0, 250, 250, 0, 0}));
}

TEST(PhotoDecode, TheFormatComesFromTheBytesNotTheName) {
  TempFolder folder;
  const std::string jpeg_named_png =
      folder.write_bytes("photo.png", read_bytes(fixture("orient_1.jpg")));
  EXPECT_EQ(image::load_photo(jpeg_named_png).pixels,
            image::load_photo(fixture("orient_1.jpg")).pixels);
  const std::string png_named_jpeg =
      folder.write_bytes("photo.jpg", read_bytes(fixture("photo_b.png")));
  EXPECT_EQ(image::load_photo(png_named_jpeg).width, 40);

  const std::string gif = folder.write_bytes("anim.jpg", {'G', 'I', 'F', '8', '9', 'a', 1, 0});
  const std::string gif_error = error_of([&] { image::load_photo(gif); });
  EXPECT_TRUE(contains(gif_error, gif + ": a GIF image")) << gif_error;
  EXPECT_TRUE(contains(gif_error, "JPEG or PNG")) << gif_error;
  const std::string text = folder.write_bytes("notes.jpg", {'h', 'e', 'l', 'l', 'o'});
  EXPECT_TRUE(contains(error_of([&] { image::load_photo(text); }), "neither a JPEG nor a PNG"));
  const std::string empty = folder.write_bytes("empty.jpg", {});
  EXPECT_TRUE(contains(error_of([&] { image::load_photo(empty); }), empty + ": the file is empty"));
  const std::string missing = folder.file("missing.jpg");
  EXPECT_TRUE(contains(error_of([&] { image::load_photo(missing); }), missing));
  std::filesystem::create_directory(folder.file("folder.jpg"));
  EXPECT_TRUE(
      contains(error_of([&] { image::load_photo(folder.file("folder.jpg")); }), "it is a folder"));
}

TEST(PhotoDecode, CutShortOrDamagedJpegsAreRefusedWithTheFileNamed) {
  TempFolder folder;
  const Bytes jpeg = read_bytes(fixture("photo_a.jpg"));
  // Cut inside the header, inside the image data, and just before the end marker.
  for (const size_t keep : {size_t{40}, size_t{400}, jpeg.size() / 2, jpeg.size() - 2}) {
    SCOPED_TRACE("keeping " + std::to_string(keep) + " bytes");
    const std::string path =
        folder.write_bytes("cut.jpg", Bytes(jpeg.begin(), jpeg.begin() + keep));
    const std::string error = error_of([&] { image::load_photo(path); });
    EXPECT_TRUE(contains(error, path + ": ")) << error;
    EXPECT_TRUE(contains(error, "TurboJPEG: ") || contains(error, "cut short")) << error;
  }
  const std::string cut = folder.write_bytes("half.jpg", Bytes(jpeg.begin(), jpeg.begin() + 3000));
  const std::string cut_error = error_of([&] { image::load_photo(cut); });
  EXPECT_TRUE(contains(cut_error, "damaged or cut short")) << cut_error;
  EXPECT_TRUE(contains(cut_error, "Premature end of JPEG file")) << cut_error;

  Bytes bad_table = jpeg;  // a quantisation table segment claiming more bytes than it has
  const Bytes dqt_marker = {0xFF, 0xDB};
  const auto dqt =
      std::search(bad_table.begin(), bad_table.end(), dqt_marker.begin(), dqt_marker.end());
  ASSERT_LT(dqt + 4, bad_table.end());
  dqt[2] = 0x00, dqt[3] = 0x05;
  const std::string damaged = folder.write_bytes("damaged.jpg", bad_table);
  const std::string damaged_error = error_of([&] { image::load_photo(damaged); });
  EXPECT_TRUE(contains(damaged_error, damaged + ": ")) << damaged_error;
  EXPECT_TRUE(contains(damaged_error, "TurboJPEG: ")) << damaged_error;
}

TEST(PhotoDecode, JunkBeforeTheEndMarkerIsAcceptedAndChangesNothing) {
  TempFolder folder;
  Bytes jpeg = read_bytes(fixture("photo_a.jpg"));
  ASSERT_EQ(jpeg[jpeg.size() - 2], 0xFF);
  ASSERT_EQ(jpeg[jpeg.size() - 1], 0xD9);
  jpeg.insert(jpeg.end() - 2, {0x00, 0x11, 0x22, 0x33});
  const std::string path = folder.write_bytes("junk.jpg", jpeg);
  EXPECT_EQ(image::load_photo(path).pixels, image::load_photo(fixture("photo_a.jpg")).pixels);
}

TEST(PhotoDecode, ImagesOverTheLimitsAreRefusedFromTheHeader) {
  TempFolder folder;
  const Bytes jpeg = read_bytes(fixture("orient_1.jpg"));
  struct Case {
    int width, height;
    const char* says;
  };
  const Case cases[] = {{30000, 30000, "has a side over the limit of 16384"},
                        {16385, 10, "has a side over the limit of 16384"},
                        {12000, 12000, "over the limit of 134217728 pixels"}};
  for (const Case& c : cases) {
    const std::string path =
        folder.write_bytes("huge.jpg", with_declared_size(jpeg, c.width, c.height));
    const auto start = std::chrono::steady_clock::now();
    const std::string error = error_of([&] { image::load_photo(path); });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(contains(error, path + ": " + std::to_string(c.width) + " x " +
                                    std::to_string(c.height) + " pixels"))
        << error;
    EXPECT_TRUE(contains(error, c.says)) << error;
    EXPECT_LT(seconds, 1.0) << "the header alone should have refused it";
  }
  // At the limits the header is accepted: the (tiny) data then runs out, and that is the error.
  const std::string at_limit = folder.write_bytes("edge.jpg", with_declared_size(jpeg, 16384, 16));
  EXPECT_TRUE(contains(error_of([&] { image::load_photo(at_limit); }), "damaged or cut short"));
}

TEST(PhotoDecode, AFileFarLargerThanItsHeaderCanNeedIsRefusedUnread) {
  TempFolder folder;
  const std::string path = folder.write_bytes("padded.jpg", read_bytes(fixture("orient_1.jpg")));
  std::filesystem::resize_file(path, uint64_t{80} << 20);  // sparse: takes no disk space
  const std::string error = error_of([&] { image::load_photo(path); });
  EXPECT_TRUE(contains(error, path + ": 83886080 bytes is more than a JPEG of 24 x 16 pixels"))
      << error;
}

TEST(PhotoDecode, AFifoIsRefusedWithoutWaitingForAWriter) {
  TempFolder folder;
  const std::string fifo = folder.file("camera.jpg");
  FifoWatchdog watchdog(fifo);
  const std::string error = error_of([&] { image::load_photo(fifo); });
  EXPECT_FALSE(watchdog.blocked()) << "load_photo waited for a writer on a FIFO";
  EXPECT_TRUE(contains(error, fifo + ": it is a FIFO")) << error;
}

// --- Preprocessing against PIL ----------------------------------------------------------------

struct Comparison {
  float max_difference = 0;
  size_t beyond_rounding = 0;  // values differing by more than float rounding
};

Comparison compare(const ChwImage& got, const std::string& expected_name) {
  const Npy expected = read_npy(expected_name);
  EXPECT_EQ(expected.descr, "<f4");
  EXPECT_EQ(expected.shape, (std::vector<int64_t>{3, got.height, got.width}));
  const std::vector<float> values = expected.floats();
  Comparison result;
  if (values.size() != got.values.size()) return {1e9f, values.size()};
  for (size_t i = 0; i < values.size(); ++i) {
    const float difference = std::fabs(values[i] - got.values[i]);
    result.max_difference = std::max(result.max_difference, difference);
    if (difference > 1e-5f) ++result.beyond_rounding;
  }
  return result;
}

// The resampling repeats PIL's integer arithmetic, so the bytes before normalisation should be
// PIL's and every value equal up to float32 rounding (timm and sav divide and subtract in the
// same order; Hugging Face rescales in float64 first: at most an ulp or two, far below 1e-5).
// A sample one byte off would move its value by 1 / 255 / std: 0.0175 for ImageNet's smallest
// std, 0.0078 for std 0.5. A difference of one byte in a filter coefficient's rounding is
// allowed for at most 1 value in 1,000, and none beyond one byte.
void expect_like_pil(const ChwImage& got, const std::string& expected_name, float std_min) {
  SCOPED_TRACE(expected_name);
  const Comparison result = compare(got, expected_name);
  ::testing::Test::RecordProperty(expected_name + "_max_difference",
                                  std::to_string(result.max_difference));
  EXPECT_LE(result.max_difference, 1.0f / 255.0f / std_min + 1e-5f);
  EXPECT_LE(result.beyond_rounding, got.values.size() / 1000) << "max " << result.max_difference;
}

const float kImagenetStdMin = 0.224f;

TEST(PhotoPreprocess, TimmBicubicResizeAndCentreCropMatchPil) {
  expect_like_pil(image::preprocess(image::load_photo(fixture("photo_a.jpg")),
                                    image::timm_preprocess(32, 32, 0.875)),
                  "photo_a_timm32.npy", kImagenetStdMin);
  expect_like_pil(image::preprocess(image::load_photo(fixture("photo_b.png")),
                                    image::timm_preprocess(48, 48, 0.875)),
                  "photo_b_timm48.npy", kImagenetStdMin);
  expect_like_pil(image::preprocess(image::load_photo(fixture("photo_c.png")),
                                    image::timm_preprocess(48, 48, 0.875)),
                  "photo_c_timm48.npy", kImagenetStdMin);
}

TEST(PhotoPreprocess, TimmKeepRatioResizeOfANonSquareInputMatchesPil) {
  const image::Preprocess spec = image::timm_preprocess(24, 40, 0.9);
  EXPECT_EQ(spec.resize, image::Preprocess::Resize::kKeepRatio);
  expect_like_pil(image::preprocess(image::load_photo(fixture("photo_a.jpg")), spec),
                  "photo_a_timm_rect.npy", kImagenetStdMin);
  expect_like_pil(image::preprocess(image::load_photo(fixture("photo_b.png")),
                                    image::timm_preprocess(32, 16, 0.9)),
                  "photo_b_timm_rect.npy", kImagenetStdMin);
}

// DeiTImageProcessor: an exact bicubic resize to 27 x 27, then a 24 x 24 crop whose corner
// Hugging Face floors (1, 1) where torchvision would round 1.5 to 2.
TEST(PhotoPreprocess, HuggingFaceDeitResizeAndFlooredCropMatchPil) {
  image::Preprocess spec = image::hugging_face_vit_preprocess(
      27, 27, Interpolation::kBicubic, image::kImagenetMean, image::kImagenetStd);
  spec.crop_width = spec.crop_height = 24;
  spec.crop_corner_floored = true;
  EXPECT_EQ(image::plan_preprocess(97, 61, spec).crop_left, 1);
  expect_like_pil(image::preprocess(image::load_photo(fixture("photo_a.jpg")), spec),
                  "photo_a_hf_deit.npy", kImagenetStdMin);
}

TEST(PhotoPreprocess, HuggingFaceBilinearExactResizeMatchesPil) {
  const auto hf = [](const char* photo, int height, int width) {
    return image::preprocess(image::load_photo(fixture(photo)),
                             image::hugging_face_vit_preprocess(height, width));
  };
  expect_like_pil(hf("photo_a.jpg", 24, 40), "photo_a_hf.npy", 0.5f);
  expect_like_pil(hf("photo_b.png", 32, 32), "photo_b_hf.npy", 0.5f);
  expect_like_pil(hf("photo_c.png", 32, 48), "photo_c_hf.npy", 0.5f);
}

TEST(PhotoPreprocess, NearestResizeMatchesPil) {
  image::Preprocess spec;
  spec.resize = image::Preprocess::Resize::kExact;
  spec.resize_width = 28;
  spec.resize_height = 20;
  spec.interpolation = Interpolation::kNearest;
  expect_like_pil(image::preprocess(image::load_photo(fixture("photo_c.png")), spec),
                  "photo_c_nearest.npy", 1.0f);
}

TEST(PhotoPreprocess, TimmSizesAndTorchvisionCropArithmetic) {
  EXPECT_EQ(image::timm_preprocess(224, 224, 0.875).shorter_side, 256);
  EXPECT_EQ(image::timm_preprocess(224, 224, 0.9).shorter_side, 248);
  EXPECT_EQ(image::timm_preprocess(384, 384, 1.0).shorter_side, 384);
  EXPECT_EQ(image::timm_preprocess(32, 32, 0.875).shorter_side, 36);
  const image::Preprocess spec = image::timm_preprocess(224, 224, 0.875);
  // 500 x 375: the long side int(256 * 500 / 375) = 341; the crop corner round(117 / 2) = 58
  // (58.5 rounds to even) and round(32 / 2) = 16.
  image::PreprocessPlan plan = image::plan_preprocess(500, 375, spec);
  EXPECT_EQ(plan.resized_width, 341);
  EXPECT_EQ(plan.resized_height, 256);
  EXPECT_EQ(plan.crop_left, 58);
  EXPECT_EQ(plan.crop_top, 16);
  EXPECT_EQ(plan.width, 224);
  EXPECT_EQ(plan.height, 224);
  plan = image::plan_preprocess(375, 503, spec);  // portrait: int(256 * 503 / 375) = 343
  EXPECT_EQ(plan.resized_width, 256);
  EXPECT_EQ(plan.resized_height, 343);
  EXPECT_EQ(plan.crop_top, 60);  // 59.5 rounds to even: 60
  plan = image::plan_preprocess(100, 100, image::hugging_face_vit_preprocess(30, 20));
  EXPECT_EQ(plan.resized_width, 20);
  EXPECT_EQ(plan.resized_height, 30);
  EXPECT_EQ(plan.crop_left, 0);
}

TEST(PhotoPreprocess, ACropLargerThanTheImagePadsWithBlackAsTorchvision) {
  RgbImage small(3, 2);
  std::fill(small.pixels.begin(), small.pixels.end(), 200);
  const RgbImage out = image::center_crop(small, 6, 5);  // pads 1 left, 2 right, 1 top, 2 below
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 6; ++x) {
      const bool inside = x >= 1 && x <= 3 && y >= 1 && y <= 2;
      EXPECT_EQ(out.pixels[(y * 6 + x) * 3], inside ? 200 : 0) << x << ", " << y;
    }
  }
}

TEST(PhotoPreprocess, AConstantPhotoStaysConstantUnderEveryFilterAndScale) {
  RgbImage flat(37, 23);
  for (size_t i = 0; i < flat.pixels.size(); i += 3) {
    flat.pixels[i] = 10, flat.pixels[i + 1] = 128, flat.pixels[i + 2] = 250;
  }
  for (const auto method :
       {Interpolation::kNearest, Interpolation::kBilinear, Interpolation::kBicubic}) {
    for (const auto& [w, h] : {std::pair{5, 3}, std::pair{37, 60}, std::pair{100, 7}}) {
      const RgbImage out = image::resize_like_pil(flat, w, h, method);
      ASSERT_EQ(out.pixels.size(), static_cast<size_t>(w) * h * 3);
      for (size_t i = 0; i < out.pixels.size(); i += 3) {
        ASSERT_EQ(out.pixels[i], 10);
        ASSERT_EQ(out.pixels[i + 1], 128);
        ASSERT_EQ(out.pixels[i + 2], 250);
      }
    }
  }
}

TEST(PhotoPreprocess, BadSpecsAndOversizedResultsAreRefused) {
  RgbImage photo(40, 30);
  image::Preprocess spec = image::timm_preprocess(32, 32, 0.875);
  spec.std[1] = 0.0f;
  EXPECT_THROW(image::preprocess(photo, spec), UsageError);
  spec = image::timm_preprocess(32, 32, 0.875);
  spec.crop_width = 0;
  EXPECT_THROW(image::preprocess(photo, spec), UsageError);
  EXPECT_THROW(image::timm_preprocess(224, 224, 1.5), UsageError);
  EXPECT_THROW(image::timm_preprocess(0, 224, 0.9), UsageError);
  EXPECT_THROW(image::hugging_face_vit_preprocess(0, 224), UsageError);
  EXPECT_THROW(image::parse_interpolation("lanczos"), UsageError);
  EXPECT_EQ(image::parse_interpolation("bicubic"), Interpolation::kBicubic);
  // A 16384 x 1 panorama with its shorter side to 224 would be 3.7 million pixels wide.
  RgbImage panorama(16384, 1);
  const std::string error =
      error_of([&] { image::preprocess(panorama, image::timm_preprocess(224, 224, 1.0)); });
  EXPECT_TRUE(contains(error, "over the photo limits")) << error;
}

// --- Patch tokens -----------------------------------------------------------------------------

TEST(PhotoPatches, TokensRunOverTheGridAndFeaturesOverChannelRowColumn) {
  ChwImage chw;
  chw.height = 4;
  chw.width = 6;
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 6; ++x) chw.values.push_back(static_cast<float>(c * 100 + y * 10 + x));
    }
  }
  const std::vector<float> tokens = image::to_patch_tokens(chw, 2);  // grid 2 x 3, 12 features
  ASSERT_EQ(tokens.size(), 6u * 12u);
  for (int t = 0; t < 6; ++t) {
    for (int f = 0; f < 12; ++f) {
      const int c = f / 4, y = (t / 3) * 2 + (f % 4) / 2, x = (t % 3) * 2 + f % 2;
      ASSERT_EQ(tokens[t * 12 + f], c * 100 + y * 10 + x) << "token " << t << " feature " << f;
    }
  }
  EXPECT_THROW(image::to_patch_tokens(chw, 4), UsageError);
  EXPECT_THROW(image::to_patch_tokens(chw, 0), UsageError);
}

TEST(PhotoPatches, SameLayoutAsTheCifarPatchesAtPatch4) {
  Bytes planar(3 * 32 * 32);
  for (size_t i = 0; i < planar.size(); ++i) planar[i] = static_cast<uint8_t>(i * 37 + i / 97);
  std::vector<float> cifar(64 * 48);
  data::image_to_patches(planar.data(), data::Normalization{}, cifar.data());
  ChwImage chw;
  chw.height = chw.width = 32;
  for (const uint8_t byte : planar) chw.values.push_back(byte / 255.0f);
  const std::vector<float> tokens = image::to_patch_tokens(chw, 4);
  ASSERT_EQ(tokens.size(), cifar.size());
  for (size_t i = 0; i < tokens.size(); ++i) ASSERT_NEAR(tokens[i], cifar[i], 1e-6f) << i;
}

}  // namespace
}  // namespace sav::testing
