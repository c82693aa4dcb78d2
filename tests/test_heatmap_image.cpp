// From patch scores to pictures: colour maps, overlays, resampling, and the .npy writer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "sav/error.h"
#include "sav/image/canvas.h"
#include "sav/image/colormap.h"
#include "sav/image/resample.h"
#include "sav/io/npy.h"
#include "test_support.h"

namespace sav::testing {
namespace {

using image::Canvas;
using image::Colormap;
using image::Rgb;
using image::Upsample;

constexpr Colormap kColormaps[] = {Colormap::kCoolwarm, Colormap::kJet, Colormap::kViridis,
                                   Colormap::kInferno, Colormap::kGray};
constexpr Upsample kMethods[] = {Upsample::kNearest, Upsample::kBilinear, Upsample::kBicubic};

// Relative luminance (sRGB decoded to linear light, Rec. 709 weights).
double luminance(Rgb c) {
  const auto linear = [](uint8_t v) {
    const double u = v / 255.0;
    return u <= 0.04045 ? u / 12.92 : std::pow((u + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * linear(c.r) + 0.7152 * linear(c.g) + 0.0722 * linear(c.b);
}

// (h, w) values that differ everywhere, so a misplaced value shows.
std::vector<float> scrambled(int w, int h) {
  std::vector<float> map(static_cast<size_t>(w) * h);
  for (size_t i = 0; i < map.size(); ++i) map[i] = static_cast<float>((i * 37 % 101) / 100.0);
  return map;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Colormap, EndPointsAreMatplotlibs) {
  struct Ends {
    Colormap colormap;
    Rgb low, high;
  };
  const Ends cases[] = {{Colormap::kCoolwarm, {59, 76, 192}, {180, 4, 38}},
                        {Colormap::kJet, {0, 0, 128}, {128, 0, 0}},
                        {Colormap::kViridis, {68, 1, 84}, {253, 231, 37}},
                        {Colormap::kInferno, {0, 0, 4}, {252, 255, 164}},
                        {Colormap::kGray, {0, 0, 0}, {255, 255, 255}}};
  for (const Ends& c : cases) {
    SCOPED_TRACE(image::colormap_name(c.colormap));
    EXPECT_EQ(image::map_color(c.colormap, 0.0), c.low);
    EXPECT_EQ(image::map_color(c.colormap, 1.0), c.high);
    EXPECT_EQ(image::map_color(c.colormap, -3.0), c.low);  // clamped
    EXPECT_EQ(image::map_color(c.colormap, 7.5), c.high);
    EXPECT_EQ(image::map_color(c.colormap, std::numeric_limits<double>::quiet_NaN()), c.low);
  }
  EXPECT_EQ(image::map_color(Colormap::kCoolwarm, 0.5), (Rgb{221, 221, 221}));  // light grey
  EXPECT_EQ(image::map_color(Colormap::kGray, 0.5), (Rgb{128, 128, 128}));
}

TEST(Colormap, SequentialMapsGrowLighter) {
  for (const Colormap colormap : {Colormap::kGray, Colormap::kViridis, Colormap::kInferno}) {
    SCOPED_TRACE(image::colormap_name(colormap));
    for (int k = 1; k <= 32; ++k) {
      EXPECT_GT(luminance(image::map_color(colormap, k / 32.0)),
                luminance(image::map_color(colormap, (k - 1) / 32.0)))
          << "at t = " << k << " / 32";
    }
  }
}

TEST(Colormap, NamesParseAndBadNamesListTheChoices) {
  for (const Colormap colormap : kColormaps) {
    EXPECT_EQ(image::parse_colormap(image::colormap_name(colormap)), colormap);
  }
  EXPECT_THROW(image::parse_colormap("Viridis"), UsageError);
  const std::string message = error_of([] { image::parse_colormap("rainbow"); });
  EXPECT_NE(message.find("'rainbow'"), std::string::npos) << message;
  EXPECT_NE(message.find("coolwarm, jet, viridis, inferno, gray"), std::string::npos) << message;
}

TEST(Overlay, AlphaZeroIsTheImageAndAlphaOneIsTheMap) {
  Canvas photo(5, 4);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 5; ++x) photo.set(x, y, {uint8_t(40 * x), uint8_t(60 * y), uint8_t(7)});
  }
  const std::vector<float> heat = scrambled(5, 4);
  EXPECT_EQ(image::overlay(photo, heat, Colormap::kJet, 0.0).pixels(), photo.pixels());
  const Canvas colored = image::overlay(photo, heat, Colormap::kJet, 1.0);
  const Canvas half = image::overlay(photo, heat, Colormap::kJet, 0.5);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 5; ++x) {
      const Rgb want = image::map_color(Colormap::kJet, heat[y * 5 + x]);
      EXPECT_EQ(colored.at(x, y), want);
      EXPECT_EQ(half.at(x, y).r, std::lround(0.5 * photo.at(x, y).r + 0.5 * want.r));
    }
  }
  EXPECT_NE(error_of([&] {
              image::overlay(photo, scrambled(4, 4), Colormap::kJet, 0.5);
            }).find("16 values"),
            std::string::npos);
  EXPECT_THROW(image::overlay(photo, heat, Colormap::kJet, 1.5), Error);
  EXPECT_THROW(image::overlay(photo, heat, Colormap::kJet, std::nan("")), Error);
}

TEST(ResizeMap, NamesParseAndBadArgumentsAreRefused) {
  for (const Upsample method : kMethods) {
    EXPECT_EQ(image::parse_upsample(image::upsample_name(method)), method);
  }
  const std::string message = error_of([] { image::parse_upsample("lanczos"); });
  EXPECT_NE(message.find("nearest, bilinear, bicubic"), std::string::npos) << message;
  EXPECT_THROW(image::parse_upsample("cubic"), UsageError);
  EXPECT_NE(error_of([] {
              image::resize_map(scrambled(8, 8), 8, 7, 32, 32, Upsample::kNearest);
            }).find("64 values"),
            std::string::npos);
  EXPECT_THROW(image::resize_map({}, 0, 0, 32, 32, Upsample::kBilinear), Error);
  EXPECT_THROW(image::resize_map(scrambled(8, 8), 8, 8, 0, 32, Upsample::kBicubic), Error);
}

TEST(ResizeMap, ConstantStaysExactlyConstant) {
  const std::vector<float> map(64, 0.3f);
  for (const Upsample method : kMethods) {
    SCOPED_TRACE(image::upsample_name(method));
    for (const auto& [w, h] : {std::pair{32, 32}, std::pair{24, 40}, std::pair{5, 3}}) {
      const std::vector<float> out = image::resize_map(map, 8, 8, w, h, method);
      ASSERT_EQ(out.size(), static_cast<size_t>(w) * h);
      for (const float v : out) ASSERT_EQ(v, 0.3f);
    }
  }
}

TEST(ResizeMap, NearestMakesExactBlocks) {
  const std::vector<float> map = {0.1f, 0.2f, 0.3f, 0.4f};  // 2 x 2
  const std::vector<float> out = image::resize_map(map, 2, 2, 32, 32, Upsample::kNearest);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) ASSERT_EQ(out[y * 32 + x], map[(y / 16) * 2 + x / 16]);
  }
}

// A ramp (and, for bicubic, a parabola) along x, the same in every row; away from the borders
// bilinear keeps the ramp, and Keys' a = -0.5 kernel keeps both.
TEST(ResizeMap, RampsSurviveAwayFromTheBorders) {
  std::vector<float> ramp(64), parabola(64);
  for (int i = 0; i < 64; ++i) {
    ramp[i] = static_cast<float>(i % 8);
    parabola[i] = static_cast<float>((i % 8) * (i % 8));
  }
  const auto linear = image::resize_map(ramp, 8, 8, 32, 32, Upsample::kBilinear);
  const auto cubic = image::resize_map(ramp, 8, 8, 32, 32, Upsample::kBicubic);
  const auto cubic_sq = image::resize_map(parabola, 8, 8, 32, 32, Upsample::kBicubic);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      const double s = (x + 0.5) * 8 / 32 - 0.5;                            // the source coordinate
      EXPECT_NEAR(linear[y * 32 + x], std::clamp(s, 0.0, 7.0), 1e-6) << x;  // flat at the ends
      if (s < 1.0 || s >= 6.0) continue;  // a bicubic tap would be clamped at the border
      EXPECT_NEAR(cubic[y * 32 + x], s, 1e-5) << x;
      EXPECT_NEAR(cubic_sq[y * 32 + x], s * s, 1e-4) << x;
    }
  }
}

TEST(ResizeMap, OddScalesPassThroughTheSourceValuesAtTheirCentres) {
  const std::vector<float> map = scrambled(8, 8);
  for (const Upsample method : kMethods) {
    for (const int scale : {3, 5}) {
      SCOPED_TRACE(image::upsample_name(method) + " x" + std::to_string(scale));
      const int size = 8 * scale, mid = scale / 2;
      const std::vector<float> out = image::resize_map(map, 8, 8, size, size, method);
      for (int j = 0; j < 8; ++j) {
        for (int i = 0; i < 8; ++i) {
          ASSERT_EQ(out[(scale * j + mid) * size + scale * i + mid], map[j * 8 + i]);
        }
      }
    }
  }
}

TEST(ResizeImage, UniformStaysUniform) {
  const Rgb color = {13, 200, 77};
  for (const auto& [w, h] : {std::pair{32, 32}, std::pair{100, 7}, std::pair{3, 45}}) {
    const Canvas out = image::resize_image(Canvas(37, 23, color), w, h);
    ASSERT_EQ(out.width(), w);
    ASSERT_EQ(out.height(), h);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) ASSERT_EQ(out.at(x, y), color);
    }
  }
  EXPECT_THROW(image::resize_image(Canvas(4, 4), 0, 4), Error);
}

TEST(ResizeImage, HalvingAveragesTwoByTwoBlocks) {
  Canvas photo(64, 64);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) {
      photo.set(x, y, {uint8_t(x * 7 + y * 3), uint8_t(y * 13 + x), uint8_t((x ^ y) * 5)});
    }
  }
  const Canvas out = image::resize_image(photo, 32, 32);
  const auto mean = [&](int x, int y, uint8_t Rgb::*channel) {
    const int sum = photo.at(2 * x, 2 * y).*channel + photo.at(2 * x + 1, 2 * y).*channel +
                    photo.at(2 * x, 2 * y + 1).*channel + photo.at(2 * x + 1, 2 * y + 1).*channel;
    return static_cast<uint8_t>(std::lround(sum / 4.0));
  };
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      ASSERT_EQ(out.at(x, y), (Rgb{mean(x, y, &Rgb::r), mean(x, y, &Rgb::g), mean(x, y, &Rgb::b)}))
          << x << ", " << y;
    }
  }
  EXPECT_EQ(image::resize_image(photo, 64, 64).pixels(), photo.pixels());  // same size: a copy
}

TEST(ScaleNearest, EachPixelBecomesABlock) {
  Canvas tile(2, 1);
  tile.set(1, 0, {9, 8, 7});
  const Canvas big = image::scale_nearest(tile, 3);
  ASSERT_EQ(big.width(), 6);
  ASSERT_EQ(big.height(), 3);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 6; ++x) EXPECT_EQ(big.at(x, y), tile.at(x / 3, 0));
  }
  EXPECT_THROW(image::scale_nearest(tile, 0), Error);
  EXPECT_THROW(image::scale_nearest(tile, 1 << 30), Error);
}

TEST(Npy, WritesTheExactBytes) {
  TempFolder folder;
  const std::string path = folder.file("tiny.npy");
  io::write_npy(path, {1.0f, -2.0f}, {2});
  // 10 prefix bytes + 57 dict characters + 60 spaces + '\n' = 128, a multiple of 64.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict +
                               std::string(60, ' ') + "\n" +
                               std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);
  EXPECT_EQ(read_bytes(path), expected);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Npy, HeadersAlignTheDataForAnyShape) {
  TempFolder folder;
  const std::string path = folder.file("maps.npy");
  struct Case {
    std::vector<int64_t> shape;
    std::string text;
  };
  for (const Case& c : {Case{{24, 8, 8}, "(24, 8, 8)"}, Case{{}, "()"}, Case{{0, 3}, "(0, 3)"}}) {
    size_t count = 1;
    for (const int64_t dim : c.shape) count *= static_cast<size_t>(dim);
    io::write_npy(path, std::vector<float>(count, 0.5f), c.shape);
    const std::string bytes = read_bytes(path);
    const size_t data_at = bytes.size() - count * sizeof(float);
    EXPECT_EQ(data_at % 64, 0u) << c.text;
    EXPECT_EQ(bytes[data_at - 1], '\n');
    EXPECT_EQ(static_cast<uint8_t>(bytes[8]) + 256 * static_cast<uint8_t>(bytes[9]), data_at - 10);
    EXPECT_NE(bytes.find("'shape': " + c.text + ", }"), std::string::npos) << c.text;
  }
}

TEST(Npy, RefusesAShapeThatDoesNotMatchAndLeavesNothing) {
  TempFolder folder;
  const std::string path = folder.file("bad.npy");
  const std::string message = error_of([&] { io::write_npy(path, {1, 2, 3, 4, 5}, {2, 3}); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("(2, 3) holds 6 values but 5"), std::string::npos) << message;
  EXPECT_THROW(io::write_npy(path, {}, {-1, 0}), Error);
  EXPECT_TRUE(std::filesystem::is_empty(folder.path()));
}

TEST(Npy, AFailedWriteLeavesNoTemporaryFile) {
  TempFolder folder;
  const std::string missing = folder.file("no/such/folder/maps.npy");
  const std::string message = error_of([&] { io::write_npy(missing, {1.0f}, {1}); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(missing + ".tmp"));
  // The rename fails when the path is a folder: the temporary beside it must go.
  const std::string taken = folder.file("taken");
  std::filesystem::create_directory(taken);
  EXPECT_THROW(io::write_npy(taken, {1.0f}, {1}), Error);
  EXPECT_FALSE(std::filesystem::exists(taken + ".tmp"));
  EXPECT_TRUE(std::filesystem::is_directory(taken));
}

}  // namespace
}  // namespace sav::testing
