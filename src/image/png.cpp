#include "sav/image/png.h"

#include <lodepng.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sav/error.h"
#include "sav/io/atomic_file.h"
#include "sav/io/input_file.h"

namespace sav::image {

void write_png(const std::string& path, const Canvas& canvas) {
  std::vector<unsigned char> encoded;
  const unsigned error =
      lodepng::encode(encoded, canvas.pixels(), static_cast<unsigned>(canvas.width()),
                      static_cast<unsigned>(canvas.height()), LCT_RGB, 8);
  if (error != 0) fail("cannot write ", path, ": PNG encoding failed: ", lodepng_error_text(error));
  io::write_file_atomically(path, std::string(encoded.begin(), encoded.end()));
}

static_assert(kMaxPngPixels <= Canvas::kMaxPixels, "a PNG read must fit a canvas");

namespace {

// The signature and the IHDR chunk: all lodepng_inspect needs for the size and colour type.
constexpr size_t kHeaderBytes = 33;

// Room for the chunks that are not image data (text, ICC profile, Exif), beyond what the pixels
// themselves can need.
constexpr uint64_t kOtherChunksBytes = uint64_t{64} << 20;

// An open PNG file whose header has been read and checked; the rest is read only when asked.
// Only a regular file is opened (io::InputFile): a FIFO given as an image would block.
class PngFile {
 public:
  explicit PngFile(const std::string& path) : file_(path) {
    header_ = read_at(0, std::min<uint64_t>(file_.size(), kHeaderBytes));
    const unsigned error =
        lodepng_inspect(&width_, &height_, &state_, header_.data(), header_.size());
    if (error != 0) fail(path, ": not a PNG that can be decoded: ", lodepng_error_text(error));
  }

  unsigned width() const { return width_; }
  unsigned height() const { return height_; }
  LodePNGColorType color_type() const { return state_.info_png.color.colortype; }
  uint64_t size() const { return file_.size(); }

  // The whole file, with the header that was checked: a file changed since is refused, since
  // lodepng sizes its buffers from the header it decodes.
  std::vector<unsigned char> read_all() const {
    std::vector<unsigned char> bytes = read_at(0, file_.size());
    if (!std::equal(header_.begin(), header_.end(), bytes.begin())) {
      fail("cannot read ", file_.path(), ": the file changed while it was read");
    }
    return bytes;
  }

 private:
  std::vector<unsigned char> read_at(uint64_t offset, uint64_t count) const {
    std::vector<unsigned char> bytes(count);
    file_.read_at(bytes.data(), count, offset);
    return bytes;
  }

  io::InputFile file_;
  std::vector<unsigned char> header_;
  unsigned width_ = 0, height_ = 0;
  lodepng::State state_;
};

// Refuses, before anything is decoded, an image over the limits (lodepng allocates the whole
// image up front from the header's size), and a file larger than such an image could ever need,
// which would otherwise be read whole into memory.
void check_size(const std::string& path, const PngFile& file) {
  const uint64_t width = file.width(), height = file.height();
  const std::string limits = " (sav reads PNGs up to " + std::to_string(kMaxPngSide) + " x " +
                             std::to_string(kMaxPngSide) + " and " + std::to_string(kMaxPngPixels) +
                             " pixels in all, and resizes every image to 32 x 32: a smaller "
                             "copy is explained as well)";
  if (width > static_cast<uint64_t>(kMaxPngSide) || height > static_cast<uint64_t>(kMaxPngSide)) {
    fail(path, ": ", width, " x ", height, " pixels has a side over the limit of ", kMaxPngSide,
         " pixels", limits);
  }
  if (width * height > static_cast<uint64_t>(kMaxPngPixels)) {
    fail(path, ": ", width, " x ", height, " pixels is over the limit of ", kMaxPngPixels,
         " pixels", limits);
  }
  // Uncompressed, a row is at most 8 bytes a pixel (16-bit RGBA) and a filter byte in each of
  // the 7 interlaced passes; deflate's stored blocks and the framing of IDAT chunks add well
  // under 1/64 to that.
  const uint64_t image_bytes = height * (8 * width + 7);
  const uint64_t most = image_bytes + image_bytes / 64 + kOtherChunksBytes;
  if (file.size() > most) {
    fail(path, ": ", file.size(), " bytes is more than a PNG of ", width, " x ", height,
         " pixels can need (at most ", most, " bytes); not read");
  }
}

}  // namespace

Canvas read_png(const std::string& path) {
  const PngFile file(path);
  check_size(path, file);
  const std::vector<unsigned char> bytes = file.read_all();
  lodepng::State state;
  state.info_raw.colortype = LCT_RGB;
  state.info_raw.bitdepth = 8;
  state.decoder.read_text_chunks = 0;  // sav has no use for them
  std::vector<unsigned char> rgb;      // height * width * 3
  unsigned width = 0, height = 0;
  const unsigned error = lodepng::decode(rgb, width, height, state, bytes);
  if (error != 0) fail(path, ": not a PNG that can be decoded: ", lodepng_error_text(error));
  Canvas canvas(static_cast<int>(width), static_cast<int>(height));
  for (unsigned y = 0; y < height; ++y) {
    for (unsigned x = 0; x < width; ++x) {
      const size_t i = (static_cast<size_t>(y) * width + x) * 3;
      canvas.set(static_cast<int>(x), static_cast<int>(y), {rgb[i], rgb[i + 1], rgb[i + 2]});
    }
  }
  return canvas;
}

bool png_has_color(const std::string& path) {
  const LodePNGColorType type = PngFile(path).color_type();
  return type == LCT_RGB || type == LCT_RGBA || type == LCT_PALETTE;
}

}  // namespace sav::image
