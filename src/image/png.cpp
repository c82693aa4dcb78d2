#include "sav/image/png.h"

#include <fcntl.h>
#include <lodepng.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "sav/error.h"
#include "sav/io/atomic_file.h"

namespace sav::image {

void write_png(const std::string& path, const Canvas& canvas) {
  std::vector<unsigned char> encoded;
  const unsigned error =
      lodepng::encode(encoded, canvas.pixels(), static_cast<unsigned>(canvas.width()),
                      static_cast<unsigned>(canvas.height()), LCT_RGB, 8);
  if (error != 0) fail("cannot write ", path, ": PNG encoding failed: ", lodepng_error_text(error));
  io::write_file_atomically(path, std::string(encoded.begin(), encoded.end()));
}

namespace {

// The bytes of the file at `path`; sav::Error naming it when it cannot be read.
std::vector<unsigned char> read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open ", path, ": ", std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    fail("cannot read ", path, ": not a regular file");
  }
  std::vector<unsigned char> bytes(static_cast<size_t>(info.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int saved = errno;
      ::close(fd);
      fail("cannot read ", path, ": ", got == 0 ? "the file ended early" : std::strerror(saved));
    }
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  return bytes;
}

}  // namespace

Canvas read_png(const std::string& path) {
  const std::vector<unsigned char> bytes = read_whole_file(path);
  std::vector<unsigned char> rgb;  // height * width * 3
  unsigned width = 0, height = 0;
  const unsigned error = lodepng::decode(rgb, width, height, bytes, LCT_RGB, 8);
  if (error != 0) fail(path, ": not a PNG that can be decoded: ", lodepng_error_text(error));
  if (static_cast<uint64_t>(width) * height > static_cast<uint64_t>(Canvas::kMaxPixels)) {
    fail(path, ": ", width, " x ", height, " pixels is over the limit of ", Canvas::kMaxPixels);
  }
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
  const std::vector<unsigned char> bytes = read_whole_file(path);
  unsigned width = 0, height = 0;
  lodepng::State state;
  const unsigned error = lodepng_inspect(&width, &height, &state, bytes.data(), bytes.size());
  if (error != 0) fail(path, ": not a PNG that can be decoded: ", lodepng_error_text(error));
  const LodePNGColorType type = state.info_png.color.colortype;
  return type == LCT_RGB || type == LCT_RGBA || type == LCT_PALETTE;
}

}  // namespace sav::image
