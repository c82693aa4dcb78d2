// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), float32 only:
// an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and
// byte range, then the raw little-endian values. PyTorch, NumPy and any safetensors reader load
// the files sav writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sav::io {

// The most tensors a file may hold. sav's largest checkpoint (1,024 layers, with Adam's two
// moments) holds 3 x (12 x 1,024 + 6) = 36,882; the bound keeps a header of millions of tiny
// entries from costing minutes and gigabytes before it is refused.
constexpr size_t kMaxTensors = 65'536;

struct StoredTensor {
  std::string name;
  std::vector<int64_t> shape;  // at least one dimension, each positive (no scalars)
  std::vector<float> values;   // product(shape) values, row-major
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;  // the header's "__metadata__": strings only
  std::vector<StoredTensor> tensors;            // in file order (the order of their data)

  // nullptr when absent. A linear search: build an index to look up many names.
  const StoredTensor* find(const std::string& name) const;
};

// Writes `path` atomically: to path + ".tmp" first, fsync, then rename over `path`, so a crash
// never leaves a half-written file. Tensors' data follow the order of `file.tensors`. On any
// failure the temporary is removed, `path` is left untouched, and sav::Error names the path and
// the reason (also for an invalid `file`: a bad shape, a value count that does not match it, a
// duplicate or empty name, more than kMaxTensors tensors).
void save_safetensors(const std::string& path, const SafetensorsFile& file);

// Reads and validates a whole file, in time linear in its size. Throws sav::Error naming the
// file, and the tensor where one is at fault, when the file is missing, unreadable or not a
// regular file (refused before reading), is not a safetensors file (too short, an absurd header
// length, a header that is not a JSON object or nests deeper than kMaxJsonDepth), or holds
// something sav cannot take: more than kMaxTensors tensors, a dtype other than F32, a malformed
// entry, non-positive dimensions, byte ranges that do not fit the shapes, run past the end of the
// file (truncated), overlap or leave holes, duplicate names, or metadata values that are not
// strings. Names and values are quoted in messages cut to a few dozen characters.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace sav::io
