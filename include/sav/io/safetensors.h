// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and byte
// range, then the raw little-endian values. sav writes float32 (F32), which PyTorch, NumPy and
// any safetensors reader load; it reads F32, F16 and BF16, the dtypes checkpoints are published
// in, as float32, and checkpoints published in shards with their index.
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

// The most shard files a sharded checkpoint's index may name: published ones name a few dozen.
constexpr size_t kMaxShards = 1'024;

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

// Reads and validates a whole file, in time linear in its size. Tensors of dtype F16 (IEEE
// half precision, subnormals, infinities and NaNs included) and BF16 (bfloat16) are converted
// to float32, exactly: each of their values is a float32 value. Throws sav::Error naming the
// file, and the tensor where one is at fault, when the file is missing, unreadable or not a
// regular file (refused before reading), is not a safetensors file (too short, an absurd header
// length, a header that is not a JSON object or nests deeper than kMaxJsonDepth), or holds
// something sav cannot take: more than kMaxTensors tensors, a dtype other than F32, F16 and BF16
// (I8, F64, BOOL, ...: the message names it), a malformed entry, non-positive dimensions, byte
// ranges that do not fit the shapes at their dtype's size, run past the end of the file
// (truncated), overlap or leave holes, duplicate names, or metadata values that are not strings.
// Names and values are quoted in messages cut to a few dozen characters.
SafetensorsFile load_safetensors(const std::string& path);

// Reads a checkpoint published in shards, from its index `index_path`
// (model.safetensors.index.json: {"metadata": {...}, "weight_map": {"tensor name": "shard file
// name", ...}}) and every shard it names: a file in the index's folder, read as
// load_safetensors reads one. Returns the tensors of all shards as one file: the shards in the
// order of their names (model-00001-of-00002.safetensors first), each shard's tensors in its
// own order, and the metadata of that first shard (the index's "metadata" is not kept). Throws
// sav::Error naming the index, or the shard and the tensor at fault, when the index cannot be
// read, is larger than 100 MB, is not a JSON object with a non-empty object "weight_map" of
// strings, nests deeper than kMaxJsonDepth, lists more than kMaxTensors tensors or one tensor
// twice, or names more than kMaxShards shards or a shard by anything but a plain file name in
// its folder (a name holding '/', '\' or "..", or an empty one); when a shard cannot be loaded
// (load_safetensors' errors, with the index named); when a tensor the index lists is not in the
// shard it names; or when a shard holds a tensor the index does not list there.
SafetensorsFile load_sharded_safetensors(const std::string& index_path);

}  // namespace sav::io
