// The built-in bitmap font: fixed width, 5 x 7 pixels a glyph, printable ASCII 32..126. Any other
// character draws as '?'. Glyphs sit in cells kGlyphAdvance wide, so one blank column separates
// neighbours; lower-case descenders (g j p q y) are folded into the 7 rows, as on 5 x 7 LCDs.
#pragma once

#include <string>

namespace sav::image {

constexpr int kGlyphWidth = 5;    // ink columns 0..4
constexpr int kGlyphHeight = 7;   // rows 0..6, row 6 is the baseline of capitals and digits
constexpr int kGlyphAdvance = 6;  // from one glyph's left edge to the next's

// Whether font pixel (x, y) of `c` is ink; false for (x, y) outside the 5 x 7 cell.
bool glyph_pixel(char c, int x, int y);

// Width in pixels of `text` drawn at `scale` (each font pixel scale x scale): every glyph's
// advance except the last glyph's trailing blank column; 0 for "". Throws for scale < 1.
int text_width(const std::string& text, int scale = 1);

}  // namespace sav::image
