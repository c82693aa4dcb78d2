#include "sav/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "sav/error.h"
#include "sav/io/atomic_file.h"
#include "sav/io/input_file.h"
#include "sav/io/json.h"

namespace sav::io {

// The data area holds the values' bytes exactly as they lie in memory on a little-endian
// IEEE-754 host, so float32 values are read and written without conversion, and F16 and BF16
// values are read as 16-bit integers and widened.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4,
              "F32 is IEEE-754 binary32");

namespace {

// A header is read into nlohmann::json, whose objects are std::maps: nlohmann::ordered_json
// finds each key by a linear search, so a header of n entries took time n^2 to parse. The
// written header keeps the tensors in data order, so it is assembled as text.
using Json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
// Each entry of a header (a tensor, or a metadata string) is a handful of JSON values (an
// object, a dtype, its dimensions and two offsets); this bounds the parsed header's memory to a
// small multiple of the text's, and the time to read it, whatever the text holds.
constexpr uint64_t kMaxHeaderValues = 16 * kMaxTensors;
constexpr uint64_t kMaxValues = std::numeric_limits<uint64_t>::max() / sizeof(float);
// The most dimensions a stored tensor may have: sav's have at most 4 (Shape::kMaxRank).
constexpr size_t kMaxRank = 8;
const char* const kMetadataKey = "__metadata__";
// A sharded checkpoint's index names a shard per tensor: a few MB at the most tensors allowed.
// It is held to a header's bound.
constexpr uint64_t kMaxIndexBytes = kMaxHeaderBytes;

// The dtypes sav reads. Every F16 and every BF16 value is also a float32 value, so reading them
// as float32 loses nothing.
enum class Dtype { kF32, kF16, kBF16 };

struct DtypeInfo {
  const char* name;  // as the header spells it
  Dtype dtype;
  uint64_t bytes;  // of one value
};
constexpr DtypeInfo kDtypes[] = {
    {"F32", Dtype::kF32, 4}, {"F16", Dtype::kF16, 2}, {"BF16", Dtype::kBF16, 2}};
const char* const kDtypeList = "F32, F16 and BF16";

const DtypeInfo* find_dtype(const std::string& name) {
  for (const DtypeInfo& info : kDtypes) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

// One tensor's header entry: its dtype and byte range [begin, end) within the data area.
struct Entry {
  std::string name;
  std::vector<int64_t> shape;
  const DtypeInfo* dtype = nullptr;
  uint64_t begin = 0, end = 0;
};

float float_from_bits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// IEEE-754 binary16 (sign, 5 exponent bits with bias 15, 10 mantissa bits) as float32, exactly:
// normal values move to float32's exponent bias, subnormals (mantissa * 2^-24) become normal
// float32 values, and infinities and NaNs stay so (a NaN keeps its payload and sign).
float half_to_float(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0x1f) return float_from_bits(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) {
    return float_from_bits(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
  }
  const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;  // exact: 0 or a subnormal
  return sign != 0 ? -magnitude : magnitude;
}

// bfloat16 is float32's upper half: the lower 16 mantissa bits are zero.
float bfloat16_to_float(uint16_t value) {
  return float_from_bits(static_cast<uint32_t>(value) << 16);
}

std::string shape_str(const std::vector<int64_t>& shape) { return Json(shape).dump(); }  // "[2,3]"

// "file: tensor 'name'", the name cut to a few dozen characters.
std::string tensor_where(const std::string& path, const std::string& name) {
  return path + ": tensor " + quote(name);
}

// A header value for a message: its JSON text, cut to a few dozen characters.
std::string shown(const Json& value) { return shorten(value.dump(), 40); }

// product(shape); `where` ("file: tensor 'x'") starts the message when the shape is unusable.
uint64_t checked_numel(const std::vector<int64_t>& shape, const std::string& where) {
  if (shape.empty()) fail(where, ": shape [] (a scalar): sav stores at least 1 dimension");
  uint64_t numel = 1;
  for (const int64_t dim : shape) {
    if (dim <= 0) fail(where, ": shape ", shape_str(shape), " has a non-positive dimension");
    const auto size = static_cast<uint64_t>(dim);
    if (size > kMaxValues / numel) fail(where, ": shape ", shape_str(shape), " is too large");
    numel *= size;
  }
  return numel;
}

// Validates `file` and returns its JSON header, padded with spaces so that the data starts at a
// multiple of 8 bytes (8 + header size), as the reference implementation pads it.
std::string make_header(const std::string& path, const SafetensorsFile& file) {
  if (file.tensors.size() > kMaxTensors) {
    fail("cannot write ", path, ": ", file.tensors.size(), " tensors, more than the ", kMaxTensors,
         " a safetensors file read by sav may hold");
  }
  std::string text = "{";
  std::unordered_set<std::string> names;
  uint64_t offset = 0;
  try {
    if (!file.metadata.empty()) {
      text += Json(kMetadataKey).dump() + ":" + Json(file.metadata).dump();
    }
    for (const StoredTensor& tensor : file.tensors) {
      const std::string where = tensor_where(path, tensor.name);
      if (tensor.name.empty() || tensor.name == kMetadataKey) {
        fail(where, ": this name is reserved");
      }
      if (!names.insert(tensor.name).second) fail(where, ": two tensors have this name");
      const uint64_t numel = checked_numel(tensor.shape, where);
      if (numel != tensor.values.size()) {
        fail(where, ": shape ", shape_str(tensor.shape), " holds ", numel, " values but ",
             tensor.values.size(), " were given");
      }
      const uint64_t end = offset + numel * sizeof(float);
      text += (text.size() > 1 ? "," : "") + Json(tensor.name).dump() +
              ":{\"dtype\":\"F32\","
              "\"shape\":" +
              shape_str(tensor.shape) + ",\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(end) + "]}";
      offset = end;
    }
  } catch (const Json::exception& e) {
    fail(path, ": tensor names and metadata must be valid UTF-8 (", e.what(), ")");
  }
  text += "}";
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  return text;
}

// Builds the header's JSON as nlohmann's own parser does, checking as it goes: a top-level key
// named twice (nlohmann keeps only one of two equal keys), and the number of entries and of
// values, so that an oversized header is refused before it is all built. nlohmann's parser with
// a callback would check the same, but it rescans an object's members each time one of them
// ends: a header of n entries took time n^2.
class HeaderBuilder : public nlohmann::json_sax<Json> {
 public:
  explicit HeaderBuilder(const std::string& path) : path_(path) {}

  bool null() override { return add(nullptr); }
  bool boolean(bool value) override { return add(value); }
  bool number_integer(number_integer_t value) override { return add(value); }
  bool number_unsigned(number_unsigned_t value) override { return add(value); }
  bool number_float(number_float_t value, const string_t&) override { return add(value); }
  bool string(string_t& value) override { return add(std::move(value)); }
  bool binary(binary_t& value) override { return add(Json::binary(std::move(value))); }
  bool start_object(size_t) override { return open(Json::object()); }
  bool start_array(size_t) override { return open(Json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& name) override {
    if (open_.size() == 1) {  // an entry of the header: a tensor, or __metadata__
      if (!keys_.insert(name).second && duplicate_.empty()) duplicate_ = name;
      if (keys_.size() > kMaxTensors + 1) {
        return refuse(path_ + ": holds more than " + std::to_string(kMaxTensors) +
                      " tensors, "
                      "the most sav reads (its largest checkpoint holds 36,882)");
      }
    }
    key_ = std::move(name);
    return true;
  }
  bool parse_error(size_t, const std::string&, const Json::exception& e) override {
    return refuse(path_ + ": not a safetensors file (its header is not valid JSON: " +
                  shorten(e.what()) + ")");
  }

  Json& root() { return root_; }
  const std::string& error() const { return error_; }          // why parsing stopped
  const std::string& duplicate() const { return duplicate_; }  // a key named twice, or ""

 private:
  // Puts `value` where the parser is: the root, the next element of an array, or the member
  // named by the last key. Elements of a std::map never move, and an array grows only after
  // its open element is closed, so the pointers in open_ stay valid.
  Json* place(Json&& value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    Json& member = parent[key_];
    member = std::move(value);
    return &member;
  }
  bool count() {
    if (++values_ <= kMaxHeaderValues) return true;
    return refuse(path_ + ": its header holds more than " + std::to_string(kMaxHeaderValues) +
                  " JSON values (a tensor's entry takes about 9); not a safetensors file sav "
                  "can read");
  }
  bool add(Json&& value) {
    place(std::move(value));
    return count();
  }
  bool open(Json&& container) {
    open_.push_back(place(std::move(container)));
    return count();
  }
  bool close() {
    open_.pop_back();
    return true;
  }
  bool refuse(std::string why) {
    error_ = std::move(why);
    return false;
  }

  const std::string& path_;
  Json root_;
  std::vector<Json*> open_;  // the arrays and objects being filled, innermost last
  std::string key_, error_, duplicate_;
  std::unordered_set<std::string> keys_;
  uint64_t values_ = 0;
};

// The header as a JSON object: nesting, size and duplicate names checked.
Json parse_header(const std::string& path, const std::string& text) {
  // Before parsing: nlohmann::json copies and prints values recursively.
  const size_t too_deep = find_excess_nesting(text);
  if (too_deep != std::string::npos) {
    fail(path, ": not a safetensors file (its header nests arrays and objects more than ",
         kMaxJsonDepth, " deep, at byte ", 8 + too_deep, "; a header nests 3)");
  }
  HeaderBuilder builder(path);
  if (!Json::sax_parse(text, &builder)) fail(builder.error());
  Json& header = builder.root();
  if (!header.is_object()) {
    fail(path, ": not a safetensors file (its header is a JSON ", header.type_name(),
         ", not an object)");
  }
  if (!builder.duplicate().empty()) {
    fail(path, ": the header names ", quote(builder.duplicate()), " twice");
  }
  if (header.size() - header.count(kMetadataKey) > kMaxTensors) {
    fail(path, ": holds more than ", kMaxTensors,
         " tensors, the most sav reads (its largest "
         "checkpoint holds 36,882)");
  }
  return std::move(header);
}

Entry read_entry(const std::string& path, const std::string& name, const Json& info,
                 uint64_t data_bytes) {
  const std::string where = tensor_where(path, name);
  if (!info.is_object()) fail(where, ": the entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(key)) fail(where, ": the entry has no '", key, "'");
  }
  const Json& dtype = info.at("dtype");
  if (!dtype.is_string()) fail(where, ": 'dtype' is a ", dtype.type_name(), ", not a string");
  const DtypeInfo* type = find_dtype(dtype.get_ref<const std::string&>());
  if (type == nullptr) {
    fail(where, ": dtype ", shorten(dtype.get_ref<const std::string&>(), 20),
         " is not supported: sav reads ", kDtypeList,
         " (as float32); convert the tensor to one of these first");
  }
  const Json& shape = info.at("shape");
  if (!shape.is_array()) fail(where, ": 'shape' is a ", shape.type_name(), ", not an array");
  if (shape.size() > kMaxRank) {
    fail(where, ": 'shape' has ", shape.size(), " dimensions, more than the ", kMaxRank,
         " sav reads");
  }
  Entry entry{name, {}, type, 0, 0};
  for (const Json& dim : shape) {
    if (!dim.is_number_integer() || (dim.is_number_unsigned() && dim.get<uint64_t>() > INT64_MAX)) {
      fail(where, ": 'shape' ", shown(shape), " is not a list of integer dimensions");
    }
    entry.shape.push_back(dim.get<int64_t>());
  }
  const uint64_t numel = checked_numel(entry.shape, where);
  const Json& offsets = info.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail(where, ": 'data_offsets' ", shown(offsets), " is not a pair [begin, end] of byte offsets");
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  // numel <= kMaxValues, so numel * type->bytes <= UINT64_MAX.
  if (entry.end < entry.begin || entry.end - entry.begin != numel * type->bytes) {
    fail(where, ": data_offsets ", shown(offsets), " do not match shape ", shape_str(entry.shape),
         ", which needs ", numel * type->bytes, " bytes as ", type->name);
  }
  if (entry.end > data_bytes) {
    fail(where, ": data_offsets ", shown(offsets), " run past the end of the data (", data_bytes,
         " bytes): the file is truncated");
  }
  return entry;
}

// The values of a checked entry, whose data area starts at byte `data_start` of the file, as
// float32.
StoredTensor read_tensor(const InputFile& in, Entry&& entry, uint64_t data_start) {
  const uint64_t bytes = entry.end - entry.begin;
  StoredTensor tensor{std::move(entry.name), std::move(entry.shape),
                      std::vector<float>(bytes / entry.dtype->bytes)};
  if (entry.dtype->dtype == Dtype::kF32) {
    in.read_at(tensor.values.data(), bytes, data_start + entry.begin);
    return tensor;
  }
  std::vector<uint16_t> raw(tensor.values.size());
  in.read_at(raw.data(), bytes, data_start + entry.begin);
  const bool half = entry.dtype->dtype == Dtype::kF16;
  for (size_t i = 0; i < raw.size(); ++i) {
    tensor.values[i] = half ? half_to_float(raw[i]) : bfloat16_to_float(raw[i]);
  }
  return tensor;
}

// A shard's name in an index, checked: a plain file name, so that the shard lies in the index's
// folder. Returns why it is not one, or "" when it is.
std::string bad_shard_name(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.find('\0') != std::string::npos) return "holds a NUL character";
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos) {
    return "is a path, not a file name in the index's folder";
  }
  if (name == "." || name.find("..") != std::string::npos) {
    return "holds '..' or is '.', not a file name in the index's folder";
  }
  return "";
}

// Reads a sharded checkpoint's index, {"metadata": {...}, "weight_map": {"tensor": "shard"}},
// straight from the parser's events into the (tensor, shard) pairs of "weight_map": no JSON tree
// is built, and the rest of the index ("metadata") is skipped, its values counted. Bounded as a
// header is: at most kMaxTensors tensors (each named once), kMaxShards shards and
// kMaxHeaderValues JSON values, so a hostile index is refused as it is read.
class IndexReader : public nlohmann::json_sax<Json> {
 public:
  explicit IndexReader(const std::string& path) : path_(path) {}

  bool null() override { return value("null"); }
  bool boolean(bool) override { return value("boolean"); }
  bool number_integer(number_integer_t) override { return value("number"); }
  bool number_unsigned(number_unsigned_t) override { return value("number"); }
  bool number_float(number_float_t, const string_t&) override { return value("number"); }
  bool binary(binary_t&) override { return value("binary"); }
  bool string(string_t& text) override {
    if (!value("string")) return false;
    return !in_map() || add(std::move(text));
  }
  bool start_object(size_t) override {
    if (!value("object")) return false;
    if (depth_ == 1 && key_ == "weight_map") map_open_ = true;
    ++depth_;
    return true;
  }
  bool start_array(size_t) override {
    if (!value("array")) return false;
    ++depth_;
    return true;
  }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& name) override {
    key_ = std::move(name);
    return true;
  }
  bool parse_error(size_t, const std::string&, const Json::exception& e) override {
    return refuse(path_ + ": not a safetensors index (not valid JSON: " + shorten(e.what()) + ")");
  }

  const std::string& error() const { return error_; }  // why parsing stopped
  bool has_map() const { return has_map_; }
  // The tensors of weight_map in the index's order, each with its shard's number in shards().
  const std::vector<std::pair<std::string, size_t>>& tensors() const { return tensors_; }
  const std::vector<std::string>& shards() const { return shards_; }

 private:
  // Inside weight_map, where each value is a tensor's shard.
  bool in_map() const { return map_open_ && depth_ == 2; }

  // Checks a value of JSON type `type` where the parser is, and counts it.
  bool value(const char* type) {
    const bool object = std::strcmp(type, "object") == 0;
    if (depth_ == 0 && !object) {
      return refuse(path_ + ": not a safetensors index (a JSON " + type + ", not an object)");
    }
    if (depth_ == 1 && key_ == "weight_map") {
      if (has_map_) return refuse(path_ + ": names 'weight_map' twice");
      if (!object) {
        return refuse(path_ + ": 'weight_map' is a JSON " + type +
                      ", not an object of tensor names and shard files");
      }
      has_map_ = true;
    }
    if (in_map() && std::strcmp(type, "string") != 0) {
      return refuse(path_ + ": tensor " + quote(key_) + " has a JSON " + type +
                    " for its shard, not a file name");
    }
    if (++values_ <= kMaxHeaderValues) return true;
    return refuse(path_ + ": holds more than " + std::to_string(kMaxHeaderValues) +
                  " JSON values; not a safetensors index sav can read");
  }

  // The tensor named by the last key lies in shard `shard`.
  bool add(std::string&& shard) {
    if (tensors_.size() == kMaxTensors) {
      return refuse(path_ + ": lists more than " + std::to_string(kMaxTensors) +
                    " tensors, the most sav reads");
    }
    if (!names_.insert(key_).second) {
      return refuse(path_ + ": lists tensor " + quote(key_) + " twice");
    }
    const auto [place, added] = shard_numbers_.emplace(shard, shards_.size());
    if (added) {
      const std::string why = bad_shard_name(shard);
      if (!why.empty()) {
        // A NUL would end the message where it stands: such a name is not quoted.
        const bool nul = shard.find('\0') != std::string::npos;
        return refuse(path_ + ": tensor " + quote(key_) + ": shard " +
                      (nul ? std::string("name") : quote(shard)) + " " + why);
      }
      if (shards_.size() == kMaxShards) {
        return refuse(path_ + ": names more than " + std::to_string(kMaxShards) +
                      " shards, the most sav reads");
      }
      shards_.push_back(std::move(shard));
    }
    tensors_.emplace_back(std::move(key_), place->second);
    return true;
  }

  bool close() {
    if (depth_ == 2) map_open_ = false;
    --depth_;
    return true;
  }
  bool refuse(std::string why) {
    error_ = std::move(why);
    return false;
  }

  const std::string& path_;
  int depth_ = 0;  // the arrays and objects open
  bool map_open_ = false, has_map_ = false;
  std::string key_, error_;
  uint64_t values_ = 0;
  std::unordered_set<std::string> names_;
  std::unordered_map<std::string, size_t> shard_numbers_;
  std::vector<std::string> shards_;  // in the order the index first names them
  std::vector<std::pair<std::string, size_t>> tensors_;
};

}  // namespace

const StoredTensor* SafetensorsFile::find(const std::string& name) const {
  for (const StoredTensor& tensor : tensors) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

void save_safetensors(const std::string& path, const SafetensorsFile& file) {
  const std::string header = make_header(path, file);  // before the disk is touched
  uint8_t prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<uint8_t>(header.size() >> (8 * i));
  AtomicFile out(path);
  out.write(prefix, sizeof prefix);
  out.write(header.data(), header.size());
  for (const StoredTensor& tensor : file.tensors) {
    out.write(tensor.values.data(), tensor.values.size() * sizeof(float));
  }
  out.commit();
}

SafetensorsFile load_safetensors(const std::string& path) {
  const InputFile in(path);
  const uint64_t size = in.size();
  if (size < 8) fail(path, ": not a safetensors file (", size, " bytes is too short)");
  uint8_t prefix[8];
  in.read_at(prefix, sizeof prefix, 0);
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | prefix[i];
  if (header_bytes > kMaxHeaderBytes) {
    fail(path, ": not a safetensors file (its header length, ", header_bytes,
         " bytes, is absurd: over 100 MB)");
  }
  if (header_bytes > size - 8) {
    fail(path, ": header length ", header_bytes, " bytes is larger than the file (", size,
         " bytes): the file is truncated, or not a safetensors file");
  }
  std::string text(header_bytes, '\0');
  in.read_at(text.data(), header_bytes, 8);
  const Json header = parse_header(path, text);
  const uint64_t data_bytes = size - 8 - header_bytes;
  SafetensorsFile result;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key != kMetadataKey) {
      entries.push_back(read_entry(path, key, value, data_bytes));
      continue;
    }
    if (!value.is_object()) fail(path, ": __metadata__ is not a JSON object of strings");
    for (const auto& [name, item] : value.items()) {
      if (!item.is_string()) {
        fail(path, ": __metadata__ value ", quote(name), " is a ", item.type_name(),
             ", not a string (safetensors metadata holds strings only)");
      }
      result.metadata[name] = item.get<std::string>();
    }
  }
  // Every tensor holds at least 2 bytes, so no two valid entries begin at the same offset.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t covered = 0;  // the data area's bytes [0, covered) belong to the tensors so far
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    if (entry.begin < covered) {
      fail(tensor_where(path, entry.name), " (bytes ", entry.begin, "..", entry.end,
           ") overlaps tensor ", quote(entries[i - 1].name), ", which ends at byte ", covered);
    }
    if (entry.begin > covered) {
      fail(path, ": bytes ", covered, "..", entry.begin, " of the data, before tensor ",
           quote(entry.name),
           ", belong to no tensor (a hole; safetensors data must be contiguous)");
    }
    covered = entry.end;
  }
  if (covered != data_bytes) {
    fail(path, ": the last ", data_bytes - covered,
         " bytes of the data belong to no tensor (a "
         "hole; safetensors data must be contiguous)");
  }
  for (Entry& entry : entries) {
    result.tensors.push_back(read_tensor(in, std::move(entry), 8 + header_bytes));
  }
  return result;
}

SafetensorsFile load_sharded_safetensors(const std::string& index_path) {
  const std::string text = read_small_file(index_path, kMaxIndexBytes, "safetensors index");
  const size_t too_deep = find_excess_nesting(text);
  if (too_deep != std::string::npos) {
    fail(index_path, ": not a safetensors index (it nests arrays and objects more than ",
         kMaxJsonDepth, " deep, at byte ", too_deep, "; an index nests 2)");
  }
  IndexReader index(index_path);
  if (!Json::sax_parse(text, &index)) fail(index.error());
  if (!index.has_map()) fail(index_path, ": not a safetensors index (it has no 'weight_map')");
  if (index.tensors().empty()) fail(index_path, ": its 'weight_map' lists no tensors");

  // Where each listed tensor belongs, and whether a shard has held it.
  std::unordered_map<std::string, size_t> shard_of;
  for (const auto& [name, shard] : index.tensors()) shard_of.emplace(name, shard);
  std::unordered_set<std::string> found;

  // The shards in the order of their names (model-00001-of-00003 first), each loaded and
  // checked in turn; the names were checked when the index was read.
  const std::vector<std::string>& shards = index.shards();
  std::vector<size_t> order(shards.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return shards[a] < shards[b]; });
  const std::filesystem::path folder = std::filesystem::path(index_path).parent_path();
  SafetensorsFile result;
  for (const size_t shard : order) {
    const std::string path = (folder / shards[shard]).string();
    SafetensorsFile part;
    try {
      part = load_safetensors(path);
    } catch (const Error& e) {
      fail(e.what(), " (a shard named by ", index_path, ")");
    }
    if (shard == order.front()) result.metadata = std::move(part.metadata);
    for (StoredTensor& tensor : part.tensors) {
      const auto listed = shard_of.find(tensor.name);
      if (listed == shard_of.end()) {
        fail(tensor_where(path, tensor.name), ": the index ", index_path, " does not list it");
      }
      if (listed->second != shard) {
        fail(tensor_where(path, tensor.name), ": the index ", index_path, " puts it in shard ",
             quote(shards[listed->second]));
      }
      found.insert(tensor.name);
      result.tensors.push_back(std::move(tensor));
    }
  }
  for (const auto& [name, shard] : index.tensors()) {
    if (found.count(name) == 0) {
      fail(index_path, ": tensor ", quote(name), " is not in shard ", quote(shards[shard]),
           ", where the index puts it");
    }
  }
  return result;
}

}  // namespace sav::io
