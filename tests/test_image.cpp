// The image module: canvas drawing, the built-in font, PNG files and the training-curves plot.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <lodepng.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>
#include <utility>

#include "sav/error.h"
#include "sav/image/canvas.h"
#include "sav/image/font.h"
#include "sav/image/plot.h"
#include "sav/image/png.h"
#include "test_support.h"

namespace sav::testing {
namespace {

using image::Canvas;
using image::Rgb;
using image::Series;
using Pixels = std::set<std::pair<int, int>>;  // (x, y)

constexpr Rgb kWhite = {255, 255, 255}, kBlack = {0, 0, 0}, kRed = {220, 20, 60};

Pixels pixels_of(const Canvas& canvas, Rgb color, int from_x = 0, int to_x = INT_MAX) {
  Pixels found;
  for (int y = 0; y < canvas.height(); ++y) {
    for (int x = from_x; x < std::min(to_x, canvas.width()); ++x) {
      if (canvas.at(x, y) == color) found.insert({x, y});
    }
  }
  return found;
}

// A different colour at every pixel, so a misplaced byte shows.
Canvas pattern_canvas(int width, int height) {
  Canvas canvas(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      canvas.set(x, y,
                 {static_cast<uint8_t>(x * 7 + y), static_cast<uint8_t>(y * 13),
                  static_cast<uint8_t>((x + y) * 5 + 1)});
    }
  }
  return canvas;
}

TEST(Canvas, HoldsPixelsAndChecksItsBounds) {
  Canvas canvas(4, 3, {1, 2, 3});
  EXPECT_EQ(canvas.pixels().size(), 4u * 3u * 3u);
  EXPECT_EQ(pixels_of(canvas, {1, 2, 3}).size(), 12u);
  canvas.set(3, 2, kRed);
  EXPECT_EQ(canvas.at(3, 2), kRed);
  EXPECT_EQ(canvas.pixels()[(2 * 4 + 3) * 3], kRed.r);
  for (const auto& [x, y] : Pixels{{-1, 0}, {4, 0}, {0, -1}, {0, 3}, {INT_MIN, INT_MAX}}) {
    canvas.set(x, y, kBlack);  // silently left out
    EXPECT_THROW(canvas.at(x, y), Error);
  }
  EXPECT_TRUE(pixels_of(canvas, kBlack).empty());
  EXPECT_NE(error_of([] { Canvas(0, 5); }).find("0 x 5"), std::string::npos);
  EXPECT_THROW(Canvas(5, -1), Error);
}

TEST(Canvas, RectanglesFillAndOutline) {
  Canvas canvas(10, 8);
  canvas.fill_rect(1, 2, 3, 4, kRed);
  canvas.draw_rect(5, 1, 5, 6, kBlack, 2);  // a 1 x 2 hole in a 5 x 6 outline
  EXPECT_EQ(pixels_of(canvas, kRed).size(), 12u);
  EXPECT_EQ(pixels_of(canvas, kBlack).size(), 5u * 6u - 1u * 2u);
  EXPECT_EQ(canvas.at(7, 3), kWhite);
  EXPECT_EQ(canvas.at(1, 5), kRed);
  EXPECT_EQ(canvas.at(1, 6), kWhite);
}

TEST(Canvas, HorizontalLineSetsExactlyItsPixels) {
  Pixels expected;
  for (int x = 3; x <= 12; ++x) expected.insert({x, 5});
  for (const auto& [from, to] : Pixels{{3, 12}, {12, 3}}) {
    Canvas canvas(16, 10);
    canvas.draw_line(from, 5, to, 5, kRed);
    EXPECT_EQ(pixels_of(canvas, kRed), expected) << "from x = " << from;
  }
  Canvas thick(16, 10);
  thick.draw_line(3, 5, 12, 5, kRed, 3);  // rows 4, 5 and 6; columns 2 .. 13
  EXPECT_EQ(pixels_of(thick, kRed).size(), 12u * 3u);
  EXPECT_EQ(thick.at(2, 4), kRed);
  EXPECT_EQ(thick.at(13, 6), kRed);
}

TEST(Canvas, SlantedLinesTakeOnePixelPerStepOfTheLongerAxis) {
  Canvas diagonal(10, 10);
  diagonal.draw_line(0, 0, 9, 9, kRed);
  Pixels expected;
  for (int i = 0; i < 10; ++i) expected.insert({i, i});
  EXPECT_EQ(pixels_of(diagonal, kRed), expected);

  Canvas steep(10, 14);
  steep.draw_line(2, 1, 5, 12, kRed);
  const Pixels drawn = pixels_of(steep, kRed);
  EXPECT_EQ(drawn.size(), 12u);
  EXPECT_TRUE(drawn.count({2, 1}) && drawn.count({5, 12}));
  std::set<int> rows;
  for (const auto& pixel : drawn) rows.insert(pixel.second);
  EXPECT_EQ(rows.size(), 12u);  // one pixel in each of rows 1 .. 12
}

TEST(Canvas, DrawingIsClippedAtTheEdges) {
  Canvas canvas(20, 10);
  canvas.draw_line(-1000, 5, 1000, 5, kRed);
  Pixels row;
  for (int x = 0; x < 20; ++x) row.insert({x, 5});
  EXPECT_EQ(pixels_of(canvas, kRed), row);

  Canvas corner(20, 10);
  corner.fill_rect(-5, -5, 8, 8, kRed);
  EXPECT_EQ(pixels_of(corner, kRed).size(), 9u);  // [0, 3) x [0, 3)
  corner.fill_rect(INT_MAX - 1, 0, INT_MAX, 3, kBlack);
  corner.fill_rect(5, 5, 0, 4, kBlack);
  EXPECT_TRUE(pixels_of(corner, kBlack).empty());

  // Far-off ends, thick lines across corners and text off every side: nothing to fail, and a
  // line through the canvas still shows.
  Canvas any(20, 10);
  any.draw_line(INT_MIN, INT_MIN, INT_MAX, INT_MAX, kRed, 5);
  EXPECT_FALSE(pixels_of(any, kRed).empty());
  any.draw_line(-50, -50, -10, 60, kBlack, 3);
  any.draw_line(INT_MAX, 0, INT_MAX, 9, kBlack);
  EXPECT_TRUE(pixels_of(any, kBlack).empty());
  any.draw_text(-7, -3, "clipped text", kBlack, 2);
  any.draw_text(INT_MAX - 10, 0, "far right", kBlack);
  any.draw_text(0, INT_MIN, "far up", kBlack, 3);
  EXPECT_FALSE(pixels_of(any, kBlack).empty());
}

TEST(Canvas, BlitCopiesTheOverlap) {
  const Canvas source = pattern_canvas(6, 4);
  Canvas target(10, 5);
  target.blit(source, 7, -1);
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 10; ++x) {
      const bool covered = x >= 7 && y <= 2;
      EXPECT_EQ(target.at(x, y), covered ? source.at(x - 7, y + 1) : kWhite) << x << ", " << y;
    }
  }
  target.blit(source, -100, 100);
  target.blit(target, 1, 1);  // onto itself: row by row from a copy
  EXPECT_EQ(target.at(8, 1), source.at(0, 1));
}

// Draws `c` at `scale` with its top-left at (3, 2) and compares every pixel with the glyph.
void expect_glyph_drawn(char c, int scale) {
  Canvas canvas(4 + image::kGlyphWidth * scale + 2, 3 + image::kGlyphHeight * scale + 2);
  EXPECT_EQ(canvas.draw_text(3, 2, std::string(1, c), kBlack, scale), 5 * scale);
  for (int y = 0; y < canvas.height(); ++y) {
    for (int x = 0; x < canvas.width(); ++x) {
      const bool in_cell = x >= 3 && y >= 2;
      const bool ink = in_cell && image::glyph_pixel(c, (x - 3) / scale, (y - 2) / scale);
      EXPECT_EQ(canvas.at(x, y), ink ? kBlack : kWhite)
          << "'" << c << "' at scale " << scale << ", pixel " << x << ", " << y;
    }
  }
}

TEST(Font, DrawTextInksExactlyTheGlyphPixels) {
  for (const char c : std::string("Ag%7(")) {
    expect_glyph_drawn(c, 1);
    expect_glyph_drawn(c, 2);
  }
}

TEST(Font, GlyphsFollowEachOtherByTheAdvance) {
  Canvas one(20, 20), two(20, 20);
  one.draw_text(2, 1, "i", kBlack, 2);
  two.draw_text(2 - image::kGlyphAdvance * 2, 1, "Hi", kBlack, 2);
  EXPECT_EQ(one.pixels(), two.pixels());
}

TEST(Font, TextWidth) {
  EXPECT_EQ(image::text_width(""), 0);
  EXPECT_EQ(image::text_width("a"), 5);
  EXPECT_EQ(image::text_width("abc"), 17);
  EXPECT_EQ(image::text_width("abc", 2), 34);
  EXPECT_EQ(image::text_width("loss: 0.25", 3), (9 * 6 + 5) * 3);
  EXPECT_THROW(image::text_width("a", 0), Error);
  Canvas canvas(8, 8);
  EXPECT_THROW(canvas.draw_text(0, 0, "a", kBlack, 0), Error);
}

std::string glyph_bits(char c) {
  std::string bits;
  for (int y = 0; y < image::kGlyphHeight; ++y) {
    for (int x = 0; x < image::kGlyphWidth; ++x) bits += image::glyph_pixel(c, x, y) ? '#' : '.';
  }
  return bits;
}

TEST(Font, EveryPrintableGlyphHasInkAndDiffersFromTheOthers) {
  std::set<std::string> seen;
  for (int code = 33; code <= 126; ++code) {
    const std::string bits = glyph_bits(static_cast<char>(code));
    EXPECT_NE(bits.find('#'), std::string::npos) << "'" << static_cast<char>(code) << "' is blank";
    EXPECT_TRUE(seen.insert(bits).second) << "'" << static_cast<char>(code) << "' repeats a glyph";
  }
  EXPECT_EQ(glyph_bits(' '), std::string(35, '.'));
  EXPECT_FALSE(image::glyph_pixel('H', -1, 0));
  EXPECT_FALSE(image::glyph_pixel('H', 0, image::kGlyphHeight));
}

TEST(Font, CharactersOutsidePrintableAsciiDrawAsQuestionMarks) {
  for (const char c : {'\n', '\t', '\x7f', static_cast<char>(0xc3)}) {
    EXPECT_EQ(glyph_bits(c), glyph_bits('?'));
  }
}

TEST(Png, WriteThenReadKeepsSizeAndEveryPixel) {
  TempFolder folder;
  const Canvas canvas = pattern_canvas(37, 23);
  image::write_png(folder.file("pattern.png"), canvas);
  const Canvas back = image::read_png(folder.file("pattern.png"));
  EXPECT_EQ(back.width(), 37);
  EXPECT_EQ(back.height(), 23);
  EXPECT_EQ(back.pixels(), canvas.pixels());
  EXPECT_FALSE(std::filesystem::exists(folder.file("pattern.png.tmp")));

  image::write_png(folder.file("pattern.png"), Canvas(2, 1, kRed));  // over the old file
  EXPECT_EQ(image::read_png(folder.file("pattern.png")).pixels(), Canvas(2, 1, kRed).pixels());
}

TEST(Png, WrittenFileDecodesWithLodepng) {
  TempFolder folder;
  const Canvas canvas = pattern_canvas(9, 14);
  image::write_png(folder.file("p.png"), canvas);
  std::vector<unsigned char> rgb;
  unsigned width = 0, height = 0;
  ASSERT_EQ(lodepng::decode(rgb, width, height, folder.file("p.png"), LCT_RGB, 8), 0u);
  EXPECT_EQ(width, 9u);
  EXPECT_EQ(height, 14u);
  EXPECT_EQ(rgb, canvas.pixels());
}

TEST(Png, ReadsOtherColourTypesAsRgb) {
  TempFolder folder;
  const std::vector<unsigned char> rgba = {10, 20, 30, 0, 40, 50, 60, 255};  // 2 x 1, alpha 0/255
  ASSERT_EQ(lodepng::encode(folder.file("rgba.png"), rgba, 2, 1, LCT_RGBA, 8), 0u);
  const Canvas from_rgba = image::read_png(folder.file("rgba.png"));
  EXPECT_EQ(from_rgba.at(0, 0), (Rgb{10, 20, 30}));  // alpha dropped, not blended
  EXPECT_EQ(from_rgba.at(1, 0), (Rgb{40, 50, 60}));

  const std::vector<unsigned char> grey16 = {0x12, 0x34, 0xff, 0xff};  // 2 x 1, big-endian
  ASSERT_EQ(lodepng::encode(folder.file("grey.png"), grey16, 2, 1, LCT_GREY, 16), 0u);
  const Canvas from_grey = image::read_png(folder.file("grey.png"));
  EXPECT_EQ(from_grey.at(0, 0), (Rgb{0x12, 0x12, 0x12}));
  EXPECT_EQ(from_grey.at(1, 0), kWhite);
}

TEST(Png, ReadingAMissingOrForeignFileNamesIt) {
  TempFolder folder;
  const std::string missing = folder.file("missing.png");
  const std::string missing_error = error_of([&] { image::read_png(missing); });
  EXPECT_NE(missing_error.find(missing), std::string::npos) << missing_error;
  EXPECT_NE(missing_error.find("No such file"), std::string::npos) << missing_error;

  const std::string foreign = folder.file("notes.png");
  std::ofstream(foreign) << "these are words, not a PNG\n";
  const std::string foreign_error = error_of([&] { image::read_png(foreign); });
  EXPECT_NE(foreign_error.find(foreign), std::string::npos) << foreign_error;
  EXPECT_NE(foreign_error.find("PNG"), std::string::npos) << foreign_error;

  std::filesystem::create_directory(folder.file("folder.png"));
  EXPECT_NE(error_of([&] { image::read_png(folder.file("folder.png")); }).find("folder.png"),
            std::string::npos);
}

// The bytes of a PNG chunk: length, type, data and the CRC of type and data (big-endian).
std::string png_chunk(const std::string& type, const std::string& data) {
  const auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  const std::string body = type + data;
  return be32(static_cast<uint32_t>(data.size())) + body +
         be32(lodepng_crc32(reinterpret_cast<const unsigned char*>(body.data()), body.size()));
}

// A PNG whose header declares width x height 8-bit RGB pixels but whose image data is a few
// bytes: what the size check must refuse from the header, before anything is decoded.
std::string png_declaring(uint32_t width, uint32_t height) {
  std::string ihdr;
  for (const uint32_t v : {width, height}) {
    for (int shift = 24; shift >= 0; shift -= 8) ihdr += static_cast<char>(v >> shift);
  }
  ihdr += std::string{8, 2, 0, 0, 0};  // 8 bits, RGB, deflate, no filter, not interlaced
  const std::string empty_zlib = {0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
  return "\x89PNG\r\n\x1a\n" + png_chunk("IHDR", ihdr) + png_chunk("IDAT", empty_zlib) +
         png_chunk("IEND", "");
}

TEST(Png, AFifoIsRefusedWithoutWaitingForAWriter) {
  TempFolder folder;
  const std::string fifo = folder.file("pipe.png");
  FifoWatchdog watchdog(fifo);
  const std::string read_error = error_of([&] { image::read_png(fifo); });
  const std::string color_error = error_of([&] { image::png_has_color(fifo); });
  EXPECT_FALSE(watchdog.blocked()) << "the PNG reader waited for a writer on a FIFO";
  EXPECT_NE(read_error.find(fifo + ": it is a FIFO"), std::string::npos) << read_error;
  EXPECT_NE(color_error.find(fifo + ": it is a FIFO"), std::string::npos) << color_error;
}

TEST(Png, SizeOverTheLimitsIsRefusedFromTheHeaderBeforeDecoding) {
  TempFolder folder;
  struct Case {
    uint32_t width, height;
    std::string size, limit;
  };
  // 40000 x 40000 would take 4.8 GB to decode; 1 x 2^28 is within the canvas limit but far
  // over a side; 16384 x 16384 has both sides at the limit but too many pixels.
  const std::vector<Case> cases = {
      {40000, 40000, "40000 x 40000", std::to_string(image::kMaxPngSide)},
      {1, 268435456, "1 x 268435456", std::to_string(image::kMaxPngSide)},
      {16384, 16384, "16384 x 16384", std::to_string(image::kMaxPngPixels)}};
  for (const Case& c : cases) {
    const std::string path = folder.file("big.png");
    std::ofstream(path, std::ios::binary) << png_declaring(c.width, c.height);
    const std::string error = error_of([&] { image::read_png(path); });
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_NE(error.find(c.size), std::string::npos) << error;
    EXPECT_NE(error.find("limit of " + c.limit), std::string::npos) << error;
  }
}

TEST(Png, ImagesUpToTheSideLimitAreReadAndWiderOnesRefused) {
  TempFolder folder;
  const int side = static_cast<int>(image::kMaxPngSide);
  image::write_png(folder.file("long.png"), Canvas(side, 1, kRed));
  EXPECT_EQ(image::read_png(folder.file("long.png")).width(), side);
  image::write_png(folder.file("tall.png"), Canvas(1, side, kRed));
  EXPECT_EQ(image::read_png(folder.file("tall.png")).height(), side);

  // A valid file of a few hundred bytes: its size, not its bytes, is what is refused.
  image::write_png(folder.file("wider.png"), Canvas(side + 1, 1, kRed));
  const std::string error = error_of([&] { image::read_png(folder.file("wider.png")); });
  EXPECT_NE(error.find(std::to_string(side + 1) + " x 1"), std::string::npos) << error;
}

TEST(Png, AFileFarLargerThanItsPixelsCouldNeedIsRefusedUnread) {
  TempFolder folder;
  const std::string path = folder.file("padded.png");
  image::write_png(path, Canvas(1, 1, kRed));
  // 100 MiB of zeros after the end: lodepng would ignore them, but only after reading them all.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) + (100u << 20));
  const std::string error = error_of([&] { image::read_png(path); });
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("bytes"), std::string::npos) << error;
  EXPECT_TRUE(image::png_has_color(path));  // the header alone answers that
}

TEST(Png, FailedWritesNameThePathAndLeaveNoTemporaryFile) {
  TempFolder folder;
  const std::string nowhere = folder.file("no/such/folder/out.png");
  const std::string error = error_of([&] { image::write_png(nowhere, Canvas(3, 3)); });
  EXPECT_NE(error.find(nowhere), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(nowhere + ".tmp"));

  // The temporary file is written, but cannot be renamed over a folder: it must go again.
  std::filesystem::create_directory(folder.file("taken.png"));
  EXPECT_THROW(image::write_png(folder.file("taken.png"), Canvas(3, 3)), Error);
  EXPECT_FALSE(std::filesystem::exists(folder.file("taken.png.tmp")));
  EXPECT_TRUE(std::filesystem::is_directory(folder.file("taken.png")));
}

// Loss series in reds and blues, accuracy series in other colours, none the plot uses itself.
constexpr Rgb kTrainLoss = {214, 39, 40}, kValidationLoss = {31, 119, 180};
constexpr Rgb kTrainAccuracy = {44, 160, 44}, kValidationAccuracy = {148, 103, 189};

// Pixels of each series' colour in its own panel (loss left, accuracy right).
std::vector<size_t> series_pixels(const std::string& path, const std::vector<Series>& loss,
                                  const std::vector<Series>& accuracy) {
  image::plot_curves(path, loss, accuracy);
  const Canvas plot = image::read_png(path);
  EXPECT_EQ(plot.width(), image::kPlotWidth);
  EXPECT_EQ(plot.height(), image::kPlotHeight);
  const int half = image::kPlotWidth / 2;
  std::vector<size_t> counts;
  for (const Series& s : loss) counts.push_back(pixels_of(plot, s.color, 0, half).size());
  for (const Series& s : accuracy) counts.push_back(pixels_of(plot, s.color, half).size());
  return counts;
}

void expect_plot_shows_series(const std::string& path, int epochs) {
  std::vector<double> train_loss, validation_loss, train_accuracy, validation_accuracy;
  for (int e = 1; e <= epochs; ++e) {
    train_loss.push_back(2.3 / e);
    validation_loss.push_back(2.0 / std::sqrt(e));
    train_accuracy.push_back(100.0 - 80.0 / e);
    validation_accuracy.push_back(85.0 - 60.0 / e);
  }
  const std::vector<size_t> shown = series_pixels(
      path, {{"train", train_loss, kTrainLoss}, {"val", validation_loss, kValidationLoss}},
      {{"train", train_accuracy, kTrainAccuracy},
       {"val", validation_accuracy, kValidationAccuracy}});
  // The same legend with no points: what the points add must be at least a marker's worth.
  const std::vector<size_t> legend_only =
      series_pixels(path, {{"train", {}, kTrainLoss}, {"val", {}, kValidationLoss}},
                    {{"train", {}, kTrainAccuracy}, {"val", {}, kValidationAccuracy}});
  for (size_t i = 0; i < shown.size(); ++i) {
    EXPECT_GT(legend_only[i], 0u) << "series " << i << " has no legend entry";
    EXPECT_GE(shown[i], legend_only[i] + 25) << "series " << i << ", " << epochs << " epochs";
  }
}

TEST(Plot, OneEpochAndThirtyEpochsShowEverySeries) {
  TempFolder folder;
  expect_plot_shows_series(folder.file("one.png"), 1);
  expect_plot_shows_series(folder.file("thirty.png"), 30);
  EXPECT_FALSE(std::filesystem::exists(folder.file("thirty.png.tmp")));
}

TEST(Plot, FractionCurvesShowEverySeries) {
  std::vector<double> falling, rising;
  for (int i = 0; i < 65; ++i) {
    falling.push_back(1.0 - i / 64.0);
    rising.push_back(i / 64.0);
  }
  const Canvas plot = image::draw_fraction_curves(
      "deletion", {{"a", falling, kTrainLoss}, {"b", rising, kValidationLoss}}, "insertion",
      {{"a", rising, kTrainAccuracy}}, "fraction of patches");
  EXPECT_EQ(plot.width(), image::kPlotWidth);
  const int half = image::kPlotWidth / 2;
  // A line across the panel is far more than a legend entry's pixels.
  EXPECT_GT(pixels_of(plot, kTrainLoss, 0, half).size(), 300u);
  EXPECT_GT(pixels_of(plot, kValidationLoss, 0, half).size(), 300u);
  EXPECT_GT(pixels_of(plot, kTrainAccuracy, half).size(), 300u);
  EXPECT_TRUE(pixels_of(plot, kTrainLoss, half).empty());
}

TEST(Plot, CopesWithEmptyConstantAndMissingValues) {
  TempFolder folder;
  const double nan = std::nan("");
  const std::vector<std::pair<std::vector<Series>, std::vector<Series>>> cases = {
      {{}, {}},
      {{{"train", {}, kTrainLoss}}, {{"train", {}, kTrainAccuracy}}},
      {{{"flat", {1.5, 1.5, 1.5}, kTrainLoss}}, {{"flat", {50, 50, 50}, kTrainAccuracy}}},
      {{{"zero", {0, 0}, kTrainLoss}}, {{"full", {100, 100}, kTrainAccuracy}}},
      {{{"gaps", {nan, 2.0, nan, 1.0, INFINITY}, kTrainLoss}}, {{"nan", {nan}, kTrainAccuracy}}},
      {{{"odd", {-3.0, 1e6}, kTrainLoss}}, {{"over", {-5, 120}, kTrainAccuracy}}},
  };
  for (const auto& [loss, accuracy] : cases) {
    EXPECT_NO_THROW(image::plot_curves(folder.file("c.png"), loss, accuracy));
    EXPECT_EQ(image::read_png(folder.file("c.png")).width(), image::kPlotWidth);
  }
  image::plot_curves(folder.file("flat.png"), {{"flat", {1.5, 1.5, 1.5}, kTrainLoss}}, {});
  EXPECT_FALSE(pixels_of(image::read_png(folder.file("flat.png")), kTrainLoss).empty());
  EXPECT_THROW(image::plot_curves(folder.file("no/folder.png"), {}, {}), Error);
}

}  // namespace
}  // namespace sav::testing
