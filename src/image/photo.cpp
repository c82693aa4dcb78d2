// Photos in: the file's format from its first bytes, JPEG or PNG decoding, orientation.
#include "sav/image/photo.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

#include "sav/error.h"
#include "sav/image/canvas.h"
#include "sav/image/jpeg.h"
#include "sav/image/png.h"
#include "sav/io/input_file.h"

namespace sav::image {
namespace {

using std::string_view_literals::operator""sv;

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool starts_with(const std::vector<uint8_t>& bytes, size_t at, std::string_view text) {
  return bytes.size() >= at + text.size() &&
         std::memcmp(bytes.data() + at, text.data(), text.size()) == 0;
}

// What a file of another image format is, from its first bytes, for the error message; "" when
// it is no format sav knows of.
std::string other_format(const std::vector<uint8_t>& head) {
  if (starts_with(head, 0, "GIF8")) return "a GIF image";
  if (starts_with(head, 0, "BM")) return "a BMP image";
  if (starts_with(head, 0, "II*\0"sv) || starts_with(head, 0, "MM\0*"sv)) return "a TIFF image";
  if (starts_with(head, 0, "RIFF") && starts_with(head, 8, "WEBP")) return "a WebP image";
  if (starts_with(head, 4, "ftyp")) return "a HEIF, AVIF or other ISO media file";
  return "";
}

// The EXIF orientation of a PNG: the eXIf chunk's TIFF block, wherever it is among the chunks
// (PIL reads one after the image data too), or 1. Only chunk headers are read on the way; an
// eXIf chunk over 1 MB, or a malformed chunk list, counts as none (read_png judges the image).
int png_exif_orientation(const io::InputFile& file) {
  constexpr uint64_t kMaxExifBytes = uint64_t{1} << 20;
  uint64_t at = sizeof kPngSignature;
  uint8_t header[8];
  while (at + 12 <= file.size()) {
    file.read_at(header, 8, at);
    const uint64_t length = uint64_t{header[0]} << 24 | uint64_t{header[1]} << 16 |
                            uint64_t{header[2]} << 8 | header[3];
    if (length > file.size() - at - 12) return 1;
    if (std::memcmp(header + 4, "eXIf", 4) == 0) {
      if (length > kMaxExifBytes) return 1;
      std::vector<uint8_t> tiff(length);
      file.read_at(tiff.data(), tiff.size(), at + 8);
      return tiff_orientation(tiff.data(), tiff.size());
    }
    if (std::memcmp(header + 4, "IEND", 4) == 0) return 1;
    at += 12 + length;  // length, type, data, CRC
  }
  return 1;
}

}  // namespace

RgbImage photo_from_canvas(const Canvas& canvas) {
  RgbImage image;
  image.width = canvas.width();
  image.height = canvas.height();
  image.pixels = canvas.pixels();
  return image;
}

Canvas canvas_from_photo(const RgbImage& photo) {
  Canvas canvas(photo.width, photo.height);
  for (int y = 0; y < photo.height; ++y) {
    for (int x = 0; x < photo.width; ++x) {
      const uint8_t* p = &photo.pixels[(static_cast<size_t>(y) * photo.width + x) * 3];
      canvas.set(x, y, {p[0], p[1], p[2]});
    }
  }
  return canvas;
}

RgbImage::RgbImage(int width, int height) : width(width), height(height) {
  if (width < 1 || height < 1 || width > kMaxPhotoSide || height > kMaxPhotoSide ||
      int64_t{width} * height > kMaxPhotoPixels) {
    fail("RgbImage: size ", width, " x ", height, " is not within 1 x 1 and ", kMaxPhotoSide,
         " pixels a side, ", kMaxPhotoPixels, " pixels in all");
  }
  pixels.resize(static_cast<size_t>(width) * height * 3);
}

RgbImage load_photo(const std::string& path) {
  std::vector<uint8_t> head;
  bool png = false;
  int png_orientation = 1;
  {
    const io::InputFile file(path);
    head.resize(std::min<uint64_t>(file.size(), 16));
    file.read_at(head.data(), head.size(), 0);
    png = head.size() >= sizeof kPngSignature &&
          std::equal(std::begin(kPngSignature), std::end(kPngSignature), head.begin());
    if (png) png_orientation = png_exif_orientation(file);
  }
  if (png) return apply_orientation(photo_from_canvas(read_png(path)), png_orientation);
  if (looks_like_jpeg(head.data(), head.size())) return read_jpeg(path);
  if (head.empty()) fail(path, ": the file is empty; sav reads photos in JPEG or PNG");
  const std::string other = other_format(head);
  fail(path, ": ", other.empty() ? "neither a JPEG nor a PNG file" : other,
       " (told by its first bytes, not its name); sav reads photos in JPEG or PNG: convert it "
       "to one of them");
}

RgbImage apply_orientation(const RgbImage& stored, int orientation) {
  if (orientation < 2 || orientation > 8) return stored;
  const int w = stored.width, h = stored.height;
  const bool swaps = orientation >= 5;
  RgbImage upright(swaps ? h : w, swaps ? w : h);
  for (int y = 0; y < upright.height; ++y) {
    for (int x = 0; x < upright.width; ++x) {
      // The stored pixel that lands at (x, y) of the upright picture.
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;
        case 3: sx = w - 1 - x, sy = h - 1 - y; break;
        case 4: sy = h - 1 - y; break;
        case 5: sx = y, sy = x; break;
        case 6: sx = y, sy = h - 1 - x; break;
        case 7: sx = w - 1 - y, sy = h - 1 - x; break;
        case 8: sx = w - 1 - y, sy = x; break;
      }
      const uint8_t* from = &stored.pixels[(static_cast<size_t>(sy) * w + sx) * 3];
      std::copy(from, from + 3, &upright.pixels[(static_cast<size_t>(y) * upright.width + x) * 3]);
    }
  }
  return upright;
}

}  // namespace sav::image
