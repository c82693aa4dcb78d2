// PNG files through lodepng: canvases are written as 8-bit RGB, and any PNG lodepng decodes is
// read back as 8-bit RGB.
#pragma once

#include <string>

#include "sav/image/canvas.h"

namespace sav::image {

// Writes `canvas` to `path` atomically: the PNG goes to path + ".tmp", which is then renamed
// over `path`, so a reader never sees half a file. On failure the temporary file is removed and
// sav::Error names the path and the cause (the system's, or lodepng's error text).
void write_png(const std::string& path, const Canvas& canvas);

// Reads a PNG of any colour type and bit depth, converted to 8-bit RGB (alpha is dropped, not
// blended). Throws sav::Error naming the file when it cannot be opened or is not a PNG that
// lodepng decodes.
Canvas read_png(const std::string& path);

// Whether the PNG at `path` stores colour (RGB, RGBA or a palette) rather than grey levels.
// Throws sav::Error naming the file when it cannot be opened or is not a PNG.
bool png_has_color(const std::string& path);

}  // namespace sav::image
