#include "sav/io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "sav/error.h"
#include "sav/io/atomic_file.h"

namespace sav::io {

// The data area holds the floats' bytes exactly as they lie in memory on a little-endian
// IEEE-754 host, so values are read and written without conversion.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4,
              "F32 is IEEE-754 binary32");

namespace {

using Json = nlohmann::ordered_json;  // keeps keys in the order written: metadata, then the data's

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr uint64_t kMaxValues = std::numeric_limits<uint64_t>::max() / sizeof(float);
const char* const kMetadataKey = "__metadata__";

// One tensor's header entry: its byte range [begin, end) within the data area.
struct Entry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

std::string shape_str(const std::vector<int64_t>& shape) { return Json(shape).dump(); }  // "[2,3]"

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
  Json header = Json::object();
  if (!file.metadata.empty()) header[kMetadataKey] = file.metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const StoredTensor& tensor : file.tensors) {
    const std::string where = path + ": tensor '" + tensor.name + "'";
    if (tensor.name.empty() || tensor.name == kMetadataKey) fail(where, ": this name is reserved");
    if (!names.insert(tensor.name).second) fail(where, ": two tensors have this name");
    const uint64_t numel = checked_numel(tensor.shape, where);
    if (numel != tensor.values.size()) {
      fail(where, ": shape ", shape_str(tensor.shape), " holds ", numel, " values but ",
           tensor.values.size(), " were given");
    }
    const uint64_t end = offset + numel * sizeof(float);
    header[tensor.name] = {
        {"dtype", "F32"}, {"shape", tensor.shape}, {"data_offsets", Json::array({offset, end})}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {
    fail(path, ": tensor names and metadata must be valid UTF-8 (", e.what(), ")");
  }
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  return text;
}

// The header as a JSON object. nlohmann keeps only one of two equal keys, so duplicates are
// caught while parsing, at depth 1 (the top-level object's keys).
Json parse_header(const std::string& path, const std::string& text) {
  std::set<std::string> keys;
  std::string duplicate;
  const Json::parser_callback_t note_duplicates = [&](int depth, Json::parse_event_t event,
                                                      Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && !keys.insert(parsed).second &&
        duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, note_duplicates);
  } catch (const Json::exception& e) {
    fail(path, ": not a safetensors file (its header is not valid JSON: ", e.what(), ")");
  }
  if (!header.is_object()) {
    fail(path, ": not a safetensors file (its header is a JSON ", header.type_name(),
         ", not an object)");
  }
  if (!duplicate.empty()) fail(path, ": the header names '", duplicate, "' twice");
  return header;
}

Entry read_entry(const std::string& path, const std::string& name, const Json& info,
                 uint64_t data_bytes) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!info.is_object()) fail(where, ": the entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(key)) fail(where, ": the entry has no '", key, "'");
  }
  const Json& dtype = info.at("dtype");
  if (!dtype.is_string()) fail(where, ": 'dtype' is a ", dtype.type_name(), ", not a string");
  if (dtype != "F32") {
    fail(where, ": dtype ", dtype.get<std::string>(), " is not supported: sav stores float32 (F32) "
         "only; convert the tensor to float32 first");
  }
  const Json& shape = info.at("shape");
  if (!shape.is_array()) fail(where, ": 'shape' is a ", shape.type_name(), ", not an array");
  Entry entry{name, {}, 0, 0};
  for (const Json& dim : shape) {
    if (!dim.is_number_integer() || (dim.is_number_unsigned() && dim.get<uint64_t>() > INT64_MAX)) {
      fail(where, ": 'shape' ", shape.dump(), " is not a list of integer dimensions");
    }
    entry.shape.push_back(dim.get<int64_t>());
  }
  const uint64_t numel = checked_numel(entry.shape, where);
  const Json& offsets = info.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail(where, ": 'data_offsets' ", offsets.dump(), " is not a pair [begin, end] of byte offsets");
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.end < entry.begin || entry.end - entry.begin != numel * sizeof(float)) {
    fail(where, ": data_offsets ", offsets.dump(), " do not match shape ", shape_str(entry.shape),
         ", which needs ", numel * sizeof(float), " bytes of float32");
  }
  if (entry.end > data_bytes) {
    fail(where, ": data_offsets ", offsets.dump(), " run past the end of the data (", data_bytes,
         " bytes): the file is truncated");
  }
  return entry;
}

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
  std::error_code error;
  const uint64_t size = std::filesystem::file_size(path, error);  // fails unless a regular file
  if (error) fail("cannot open ", path, ": ", error.message());
  if (size < 8) fail(path, ": not a safetensors file (", size, " bytes is too short)");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", path, ": ", std::strerror(errno));
  const auto read_at = [&](void* out, uint64_t bytes, uint64_t offset) {
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(static_cast<char*>(out), static_cast<std::streamsize>(bytes));
    if (!in) fail(path, ": read failed at byte ", offset, " (was the file changed while read?)");
  };
  uint8_t prefix[8];
  read_at(prefix, sizeof prefix, 0);
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
  read_at(text.data(), header_bytes, 8);
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
        fail(path, ": __metadata__ value '", name, "' is a ", item.type_name(),
             ", not a string (safetensors metadata holds strings only)");
      }
      result.metadata[name] = item.get<std::string>();
    }
  }
  // Every tensor holds at least 4 bytes, so no two valid entries begin at the same offset.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t covered = 0;  // the data area's bytes [0, covered) belong to the tensors so far
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    if (entry.begin < covered) {
      fail(path, ": tensor '", entry.name, "' (bytes ", entry.begin, "..", entry.end,
           ") overlaps tensor '", entries[i - 1].name, "', which ends at byte ", covered);
    }
    if (entry.begin > covered) {
      fail(path, ": bytes ", covered, "..", entry.begin, " of the data, before tensor '",
           entry.name, "', belong to no tensor (a hole; safetensors data must be contiguous)");
    }
    covered = entry.end;
  }
  if (covered != data_bytes) {
    fail(path, ": the last ", data_bytes - covered, " bytes of the data belong to no tensor (a "
         "hole; safetensors data must be contiguous)");
  }
  for (Entry& entry : entries) {
    StoredTensor tensor{std::move(entry.name), std::move(entry.shape),
                        std::vector<float>((entry.end - entry.begin) / sizeof(float))};
    read_at(tensor.values.data(), entry.end - entry.begin, 8 + header_bytes + entry.begin);
    result.tensors.push_back(std::move(tensor));
  }
  return result;
}

}  // namespace sav::io
