// A reader of the .npy files the fixture generators write (NumPy's format, version 1 or 2: a
// little-endian float32 or int64 array in C order), for the tests only.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace sav::testing {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> values;  // int64 arrays are converted
};

inline NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 12 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    throw std::runtime_error(path + " is not a .npy file");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    offset = 10;
  } else {
    uint32_t len = 0;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    offset = 12;
  }
  const std::string header = bytes.substr(offset, header_len);
  const bool f4 = header.find("'<f4'") != std::string::npos;
  const bool i8 = header.find("'<i8'") != std::string::npos;
  if ((!f4 && !i8) || header.find("'fortran_order': False") == std::string::npos) {
    throw std::runtime_error(path + ": not a C-order float32 or int64 array: " + header);
  }
  NpyArray array;
  const size_t open = header.find('(', header.find("'shape'")), close = header.find(')', open);
  std::string dims = header.substr(open + 1, close - open - 1);
  size_t count = 1;
  for (size_t pos = 0; pos < dims.size();) {
    const size_t comma = dims.find(',', pos);
    const std::string item =
        dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.find_first_of("0123456789") != std::string::npos) {
      array.shape.push_back(std::stoll(item));
      count *= static_cast<size_t>(array.shape.back());
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  const char* data = bytes.data() + offset + header_len;
  const size_t element = f4 ? 4 : 8;
  if (bytes.size() - offset - header_len != count * element) {
    throw std::runtime_error(path + ": data size does not match the shape");
  }
  array.values.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (f4) {
      std::memcpy(&array.values[i], data + 4 * i, 4);
    } else {
      int64_t v;
      std::memcpy(&v, data + 8 * i, 8);
      array.values[i] = static_cast<float>(v);
    }
  }
  return array;
}

}  // namespace sav::testing
