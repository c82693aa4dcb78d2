// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), float32 only:
// an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and
// byte range, then the raw little-endian values. PyTorch, NumPy and any safetensors reader load
// the files sav writes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sav::io {

struct StoredTensor {
  std::string name;
  std::vector<int64_t> shape;  // at least one dimension, each positive (no scalars)
  std::vector<float> values;   // product(shape) values, row-major
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;  // the header's "__metadata__": strings only
  std::vector<StoredTensor> tensors;            // in file order (the order of their data)

  const StoredTensor* find(const std::string& name) const;  // nullptr when absent
};

// Writes `path` atomically: to path + ".tmp" first, fsync, then rename over `path`, so a crash
// never leaves a half-written file. Tensors' data follow the order of `file.tensors`. On any
// failure the temporary is removed, `path` is left untouched, and sav::Error names the path and
// the reason (also for an invalid `file`: a bad shape, a value count that does not match it, a
// duplicate or empty name).
void save_safetensors(const std::string& path, const SafetensorsFile& file);

// Reads and validates a whole file. Throws sav::Error naming the file, and the tensor where one
// is at fault, when the file is missing or unreadable, is not a safetensors file (too short, an
// absurd header length, a header that is not a JSON object), or holds something sav cannot take:
// a dtype other than F32, a malformed entry, non-positive dimensions, byte ranges that do not fit
// the shapes, run past the end of the file (truncated), overlap or leave holes, duplicate names,
// or metadata values that are not strings.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace sav::io
