// NumPy .npy files, for handing heat maps and scores to Python: numpy.load reads them as float32
// arrays of the given shape.
//
// Format version 1.0: the magic "\x93NUMPY", version bytes 1 and 0, a little-endian uint16 header
// length, then the header, a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (24, 8, 8), }
// padded with spaces and ended by '\n' so that the data starts at a multiple of 64 bytes, then the
// values as little-endian float32 in C (row-major) order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sav::io {

// Writes `values` with `shape` to `path` atomically: to path + ".tmp" first, synced, then renamed
// over `path`, so a reader never sees half a file. `shape` may be empty (a scalar: one value) and
// may hold zeros; product(shape) must equal values.size(). On any failure (a negative dimension,
// a count that does not match, a header over 65,535 bytes, an error from the system) the
// temporary file is removed, `path` is left as it was, and sav::Error names the path and the
// cause.
void write_npy(const std::string& path, const std::vector<float>& values,
               const std::vector<int64_t>& shape);

}  // namespace sav::io
