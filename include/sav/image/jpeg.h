// JPEG files through TurboJPEG (libjpeg-turbo), decoded to upright 8-bit RGB as PIL decodes them:
// the same library and settings (accurate integer IDCT, smooth chroma upsampling), greyscale
// spread to R = G = B, CMYK and YCCK converted with PIL's formula for Adobe (inverted) CMYK, and
// the EXIF Orientation tag applied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "sav/image/photo.h"

namespace sav::image {

// Whether `data` begins as every JPEG file does (SOI and the next marker's 0xFF).
bool looks_like_jpeg(const uint8_t* data, size_t size);

// The Orientation entry (tag 0x0112, 1..8) of IFD0 of an EXIF TIFF block, in either byte order:
// the body of a JPEG's Exif segment or of a PNG's eXIf chunk. 1 (as stored) when there is none or
// the block is malformed.
int tiff_orientation(const uint8_t* tiff, size_t size);

// The EXIF Orientation (1..8) of a JPEG file's bytes: tag 0x0112 of IFD0 in the first APP1
// segment holding "Exif\0\0", in either TIFF byte order. 1 (as stored) when there is none or
// the metadata is malformed: a bad tag never stops a photo from being read.
int jpeg_exif_orientation(const uint8_t* data, size_t size);

// Decodes a whole JPEG file held in memory and turns it upright. `name` (the file's path) starts
// every error message. Throws sav::Error when the header is not a JPEG's; when the image is over
// kMaxPhotoSide or kMaxPhotoPixels (from the header, before anything is decoded); and when
// TurboJPEG reports an error or a warning: a JPEG cut short or with damaged data would
// otherwise decode to grey or smeared blocks that sav would explain as if they were the photo.
// The one warning accepted is junk between the last scan and the end marker, which camera files
// sometimes carry and which leaves every pixel decoded.
RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name);

// Reads the JPEG file at `path` (a regular file only) and decodes it as decode_jpeg does; a file
// far larger than a JPEG of its size can need is refused unread.
RgbImage read_jpeg(const std::string& path);

}  // namespace sav::image
