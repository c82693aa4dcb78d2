// PNG files through lodepng: canvases are written as 8-bit RGB, and any PNG lodepng decodes is
// read back as 8-bit RGB.
#pragma once

#include <cstdint>
#include <string>

#include "sav/image/canvas.h"

namespace sav::image {

// Writes `canvas` to `path` atomically: the PNG goes to path + ".tmp", which is then renamed
// over `path`, so a reader never sees half a file. On failure the temporary file is removed and
// sav::Error names the path and the cause (the system's, or lodepng's error text).
void write_png(const std::string& path, const Canvas& canvas);

// The largest PNG read_png takes, checked from the header before anything is decoded (lodepng
// allocates the whole image from the header's size). sav resizes every image it is given to
// 32 x 32, so the limits only need to admit any real photograph or screenshot (an 8K frame is
// 33 Mpixel, a 48 Mpixel photo 8000 x 6000) while keeping the worst file within reach of a small
// machine: 64 Mpixel of 16-bit RGBA, half a megabyte compressed, decode in about 1 GB and 5 s on
// two cores (the inflated rows and the unfiltered image, 8 bytes a pixel each).
constexpr int64_t kMaxPngSide = 16384;
constexpr int64_t kMaxPngPixels = int64_t{1} << 26;  // 67,108,864

// Reads a PNG of any colour type and bit depth, converted to 8-bit RGB (alpha is dropped, not
// blended). Throws sav::Error naming the file when it cannot be opened or is not a PNG that
// lodepng decodes; naming also the size and the limit when a side is over kMaxPngSide or the
// pixels over kMaxPngPixels, and the byte count when the file is far larger than a PNG of its
// size can need (both refused before the image data is read).
Canvas read_png(const std::string& path);

// Whether the PNG at `path` stores colour (RGB, RGBA or a palette) rather than grey levels.
// Reads only the header. Throws sav::Error naming the file when it cannot be opened or is not a
// PNG.
bool png_has_color(const std::string& path);

}  // namespace sav::image
