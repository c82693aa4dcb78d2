#include "sav/image/jpeg.h"

#include <turbojpeg.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "sav/error.h"
#include "sav/io/input_file.h"

namespace sav::image {
namespace {

// --- EXIF ---------------------------------------------------------------------------------

constexpr uint16_t kOrientationTag = 0x0112;
constexpr uint16_t kTiffShort = 3;

// Integers of a TIFF block in its byte order; false for any read past its end.
class TiffBytes {
 public:
  TiffBytes(const uint8_t* data, size_t size, bool big_endian)
      : data_(data), size_(size), big_endian_(big_endian) {}

  bool u16(size_t at, uint32_t& out) const { return read(at, 2, out); }
  bool u32(size_t at, uint32_t& out) const { return read(at, 4, out); }

 private:
  bool read(size_t at, size_t bytes, uint32_t& out) const {
    if (at > size_ || size_ - at < bytes) return false;
    out = 0;
    for (size_t i = 0; i < bytes; ++i) {
      const uint32_t byte = data_[at + (big_endian_ ? i : bytes - 1 - i)];
      out = (out << 8) | byte;
    }
    return true;
  }

  const uint8_t* data_;
  size_t size_;
  bool big_endian_;
};

}  // namespace

int tiff_orientation(const uint8_t* tiff, size_t size) {
  if (size < 8) return 1;
  const bool big_endian = tiff[0] == 'M' && tiff[1] == 'M';
  if (!big_endian && !(tiff[0] == 'I' && tiff[1] == 'I')) return 1;
  const TiffBytes bytes(tiff, size, big_endian);
  uint32_t magic = 0, ifd = 0, entries = 0;
  if (!bytes.u16(2, magic) || magic != 42 || !bytes.u32(4, ifd) || !bytes.u16(ifd, entries)) {
    return 1;
  }
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t entry = size_t{ifd} + 2 + size_t{12} * i;
    uint32_t tag = 0, type = 0, count = 0, value = 0;
    if (!bytes.u16(entry, tag) || !bytes.u16(entry + 2, type) || !bytes.u32(entry + 4, count)) {
      return 1;
    }
    if (tag != kOrientationTag) continue;
    // A SHORT fits the entry's value field: it is stored there, left-justified.
    if (type != kTiffShort || count != 1 || !bytes.u16(entry + 8, value)) return 1;
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

namespace {

// --- Decoding -----------------------------------------------------------------------------

// A TurboJPEG decompressor, destroyed however the decoding ends.
class Decompressor {
 public:
  explicit Decompressor(const std::string& name) : handle_(tjInitDecompress()) {
    if (handle_ == nullptr) {
      fail(name, ": cannot start the JPEG decoder: ", tjGetErrorStr2(nullptr));
    }
  }
  ~Decompressor() { tjDestroy(handle_); }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  tjhandle get() const { return handle_; }
  std::string error() const { return tjGetErrorStr2(handle_); }
  bool warned() const { return tjGetErrorCode(handle_) == TJERR_WARNING; }

 private:
  tjhandle handle_;
};

struct JpegHeader {
  int width = 0, height = 0;
  int colorspace = TJCS_YCbCr;
};

// The header, or false with the reason in `why`.
bool try_read_header(const Decompressor& decoder, const uint8_t* data, size_t size,
                     JpegHeader& header, std::string& why) {
  int subsampling = 0;
  header.width = header.height = 0;
  if (tjDecompressHeader3(decoder.get(), data, static_cast<unsigned long>(size), &header.width,
                          &header.height, &subsampling, &header.colorspace) != 0) {
    why = "TurboJPEG: " + decoder.error();
    return false;
  }
  // Data that ends before the frame header reads as tables only, which TurboJPEG accepts
  // without a size.
  if (header.width < 1 || header.height < 1) {
    why = "the data ends before the image's size is given: is the file cut short?";
    return false;
  }
  return true;
}

JpegHeader read_header(const Decompressor& decoder, const uint8_t* data, size_t size,
                       const std::string& name) {
  JpegHeader header;
  std::string why;
  if (!try_read_header(decoder, data, size, header, why)) {
    fail(name, ": not a JPEG that can be decoded (", why, ")");
  }
  return header;
}

void check_limits(const JpegHeader& header, const std::string& name) {
  const int64_t width = header.width, height = header.height;
  const std::string limits = "sav decodes photos up to " + std::to_string(kMaxPhotoSide) +
                             " pixels a side and " + std::to_string(kMaxPhotoPixels) +
                             " pixels in all; a smaller copy is explained as well, since every "
                             "photo is resized to the model's input";
  if (width > kMaxPhotoSide || height > kMaxPhotoSide) {
    fail(name, ": ", width, " x ", height, " pixels has a side over the limit of ", kMaxPhotoSide,
         " (", limits, ")");
  }
  if (width * height > kMaxPhotoPixels) {
    fail(name, ": ", width, " x ", height, " pixels is over the limit of ", kMaxPhotoPixels,
         " pixels (", limits, ")");
  }
}

// Junk after the last scan: libjpeg's JWRN_EXTRANEOUS_DATA before the EOI marker (0xd9).
bool is_junk_before_end(const std::string& warning) {
  return warning.find("extraneous bytes before marker 0xd9") != std::string::npos;
}

// Decodes into `out`, refusing any warning but junk before the end. That junk leaves every pixel
// decoded; data damaged so that it still decodes without a warning cannot be told from a photo,
// here or by any decoder.
void decompress(const Decompressor& decoder, const uint8_t* data, size_t size,
                const JpegHeader& header, int pixel_format, std::vector<uint8_t>& out,
                const std::string& name) {
  const auto run = [&](int flags) {
    return tjDecompress2(decoder.get(), data, static_cast<unsigned long>(size), out.data(),
                         header.width, 0, header.height, pixel_format, flags);
  };
  // LIMITSCANS: a progressive file of thousands of tiny scans takes minutes to decode.
  if (run(TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) == 0) return;
  std::string why = decoder.error();
  bool warned = decoder.warned();
  if (warned && is_junk_before_end(why)) {
    // The first warning stopped the run, so everything before the end marker decoded cleanly:
    // decode again, to the end this time, letting that one warning pass.
    if (run(TJFLAG_LIMITSCANS) == 0) return;
    why = decoder.error();
    warned = decoder.warned();
    if (warned && is_junk_before_end(why)) return;
  }
  if (warned) {
    fail(name, ": the JPEG is damaged or cut short (TurboJPEG: ", why,
         "); it would decode with missing or garbled parts, so it is refused: re-save or "
         "re-download it");
  }
  fail(name, ": the JPEG cannot be decoded (TurboJPEG: ", why, ")");
}

// PIL's CMYK to RGB for Adobe JPEGs, which store 255 - ink: with C, M, Y, K the stored bytes,
// R = K - round((255 - C) * K / 255), and so on (Pillow's cmyk2rgb after its "CMYK;I" rawmode).
uint8_t cmyk_channel(int stored_ink, int stored_black) {
  const int product = (255 - stored_ink) * stored_black + 128;
  const int rounded = ((product >> 8) + product) >> 8;  // product / 255, rounded
  return static_cast<uint8_t>(std::clamp(stored_black - rounded, 0, 255));
}

void cmyk_to_rgb(const std::vector<uint8_t>& cmyk, std::vector<uint8_t>& rgb) {
  const size_t pixels = cmyk.size() / 4;
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* in = &cmyk[i * 4];
    for (int c = 0; c < 3; ++c) rgb[i * 3 + c] = cmyk_channel(in[c], in[3]);
  }
}

// Room for metadata (Exif, ICC profiles, XMP, embedded previews) in a JPEG file.
constexpr uint64_t kMetadataBytes = uint64_t{64} << 20;

// The most a JPEG of `pixels` pixels can need: TurboJPEG's own worst case for a compressed image
// (tjBufSize) is 6 bytes a pixel, which progressive and arithmetic coding do not exceed, plus
// the metadata.
uint64_t most_bytes(int64_t pixels) { return 6 * static_cast<uint64_t>(pixels) + kMetadataBytes; }

// The header needs only the segments before the first scan: metadata of up to this much is read
// first, so that a file over the limits is refused without reading it whole.
constexpr uint64_t kHeaderProbeBytes = uint64_t{1} << 20;

}  // namespace

bool looks_like_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

int jpeg_exif_orientation(const uint8_t* data, size_t size) {
  if (!looks_like_jpeg(data, size)) return 1;
  size_t at = 2;  // after SOI
  while (at + 4 <= size && data[at] == 0xFF) {
    const uint8_t marker = data[at + 1];
    if (marker == 0xFF) {  // a fill byte before the marker
      ++at;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // the image data or its end: no Exif first
    const size_t length = size_t{data[at + 2]} << 8 | data[at + 3];  // counts itself, not marker
    if (length < 2 || size - at - 2 < length) return 1;
    const uint8_t* payload = data + at + 4;
    const size_t payload_size = length - 2;
    if (marker == 0xE1 && payload_size >= 6 && std::memcmp(payload, "Exif\0\0", 6) == 0) {
      return tiff_orientation(payload + 6, payload_size - 6);  // only the first Exif counts
    }
    at += 2 + length;
  }
  return 1;
}

RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  const Decompressor decoder(name);
  const JpegHeader header = read_header(decoder, data, size, name);
  check_limits(header, name);
  RgbImage image(header.width, header.height);
  const bool cmyk = header.colorspace == TJCS_CMYK || header.colorspace == TJCS_YCCK;
  if (cmyk) {
    // libjpeg converts CMYK to nothing else: decode the inks, then convert as PIL does.
    std::vector<uint8_t> inks(image.pixels.size() / 3 * 4);
    decompress(decoder, data, size, header, TJPF_CMYK, inks, name);
    cmyk_to_rgb(inks, image.pixels);
  } else {
    decompress(decoder, data, size, header, TJPF_RGB, image.pixels, name);
  }
  const int orientation = jpeg_exif_orientation(data, size);
  if (orientation != 1) return apply_orientation(image, orientation);
  return image;
}

RgbImage read_jpeg(const std::string& path) {
  const io::InputFile file(path);
  std::vector<uint8_t> bytes(std::min(file.size(), kHeaderProbeBytes));
  file.read_at(bytes.data(), bytes.size(), 0);
  const Decompressor decoder(path);
  JpegHeader header;
  std::string why;
  if (try_read_header(decoder, bytes.data(), bytes.size(), header, why)) {
    check_limits(header, path);
    const uint64_t most = most_bytes(int64_t{header.width} * header.height);
    if (file.size() > most) {
      fail(path, ": ", file.size(), " bytes is more than a JPEG of ", header.width, " x ",
           header.height, " pixels can need (at most ", most, " bytes); not read");
    }
  } else if (file.size() <= bytes.size()) {
    fail(path, ": not a JPEG that can be decoded (", why, ")");
  } else if (file.size() > kMetadataBytes) {
    // Beyond the probe only metadata can delay the header, and no more than this much of it.
    fail(path, ": no JPEG header in the first ", kHeaderProbeBytes, " bytes (", why,
         "), and the file is too large (", file.size(), " bytes) to look further; not read");
  }
  bytes.resize(file.size());
  file.read_at(bytes.data(), bytes.size(), 0);
  return decode_jpeg(bytes.data(), bytes.size(), path);
}

}  // namespace sav::image
