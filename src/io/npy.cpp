#include "sav/io/npy.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include "sav/error.h"
#include "sav/io/atomic_file.h"

namespace sav::io {

// The data are the floats' bytes as they lie in memory on a little-endian IEEE-754 host: '<f4'.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy '<f4' data is little-endian");
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4,
              "'<f4' is IEEE-754 binary32");

namespace {

constexpr char kMagic[] = "\x93NUMPY";      // 6 bytes and the terminating zero
constexpr size_t kPrefixBytes = 6 + 2 + 2;  // magic, version, header length
constexpr size_t kAlignment = 64;           // where numpy >= 1.9 starts the data
constexpr size_t kMaxHeaderBytes = 65535;   // what a version 1.0 uint16 length can say

// A Python tuple literal, as numpy writes shapes: "()", "(5,)", "(24, 8, 8)".
std::string python_tuple(const std::vector<int64_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

// The magic, version, length and header, padded to a multiple of kAlignment bytes.
std::string make_prefix(const std::string& path, const std::vector<float>& values,
                        const std::vector<int64_t>& shape) {
  const std::string shape_text = python_tuple(shape);
  uint64_t count = 1;
  for (const int64_t dim : shape) {
    if (dim < 0) fail("cannot write ", path, ": shape ", shape_text, " has a negative dimension");
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(dim)) {
      fail("cannot write ", path, ": shape ", shape_text, " is too large");
    }
    count *= static_cast<uint64_t>(dim);
  }
  if (count != values.size()) {
    fail("cannot write ", path, ": shape ", shape_text, " holds ", count, " values but ",
         values.size(), " were given");
  }
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_text + ", }";
  const size_t unpadded = kPrefixBytes + header.size() + 1;  // + the closing '\n'
  header.append((kAlignment - unpadded % kAlignment) % kAlignment, ' ');
  header += '\n';
  if (header.size() > kMaxHeaderBytes) {
    fail("cannot write ", path, ": the header for shape ", shape_text, " is ", header.size(),
         " bytes, over the ", kMaxHeaderBytes, " a version 1.0 file allows");
  }
  std::string prefix(kMagic, 6);
  prefix += '\x01';
  prefix += '\x00';
  prefix += static_cast<char>(header.size() & 0xff);
  prefix += static_cast<char>(header.size() >> 8);
  return prefix + header;
}

}  // namespace

void write_npy(const std::string& path, const std::vector<float>& values,
               const std::vector<int64_t>& shape) {
  const std::string prefix = make_prefix(path, values, shape);  // before the disk is touched
  AtomicFile out(path);
  out.write(prefix.data(), prefix.size());
  out.write(values.data(), values.size() * sizeof(float));
  out.commit();
}

}  // namespace sav::io
