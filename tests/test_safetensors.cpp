// The safetensors reader and writer: exact round trips, the byte layout other readers expect,
// atomic saves, F16 and BF16 read as float32, sharded checkpoints, and every bad input the
// readers must reject, on files the tests write by hand.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "sav/error.h"
#include "sav/io/safetensors.h"
#include "test_support.h"

namespace sav::testing {
namespace {

using io::load_safetensors;
using io::SafetensorsFile;
using io::save_safetensors;
using io::StoredTensor;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string length_prefix(uint64_t n) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(n >> (8 * i));
  return bytes;
}

// One header entry, as JSON text: "name": {"dtype": "F32", "shape": shape, "data_offsets": [..]}.
std::string f32_entry(const std::string& name, const std::string& shape, int begin, int end) {
  return "\"" + name + "\": {\"dtype\": \"F32\", \"shape\": " + shape + ", \"data_offsets\": [" +
         std::to_string(begin) + ", " + std::to_string(end) + "]}";
}

// A file written by hand: the header length, `header` as given (no padding), then `data_bytes`
// zero bytes of data.
std::string write_raw(const TempFolder& folder, const std::string& name, const std::string& header,
                      size_t data_bytes) {
  const std::string path = folder.file(name);
  write_bytes(path, length_prefix(header.size()) + header + std::string(data_bytes, '\0'));
  return path;
}

// Loading `path` fails with a message that names the file and holds every fact.
void expect_load_error(const std::string& path, const std::vector<std::string>& facts) {
  const std::string message = error_of([&] { load_safetensors(path); });
  EXPECT_NE(message.find(path), std::string::npos) << "the file is not named in: " << message;
  for (const std::string& fact : facts) {
    EXPECT_NE(message.find(fact), std::string::npos) << "no '" << fact << "' in: " << message;
  }
}

uint32_t bits(float value) {
  uint32_t out;
  std::memcpy(&out, &value, sizeof out);
  return out;
}

std::vector<float> iota_values(size_t count, float start) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = start + static_cast<float>(i);
  return values;
}

SafetensorsFile small_file() {
  SafetensorsFile file;
  file.metadata = {{"epoch", "3"}, {"model", "vit"}};
  file.tensors = {{"w", {2, 3}, iota_values(6, 0.0f)}, {"b", {2}, {0.5f, -1.5f}}};
  return file;
}

TEST(Safetensors, RoundTripIsBitExact) {
  TempFolder folder;
  const float special[] = {-0.0f,
                           0.0f,
                           std::numeric_limits<float>::denorm_min(),
                           -std::numeric_limits<float>::denorm_min() * 7,
                           std::numeric_limits<float>::min(),
                           std::numeric_limits<float>::max(),
                           -std::numeric_limits<float>::max(),
                           std::numeric_limits<float>::infinity(),
                           std::numeric_limits<float>::quiet_NaN(),
                           1e-30f,
                           3.14159274f,
                           -123456.789f};
  SafetensorsFile file;
  file.metadata = {{"config", "{\"dim\": 256, \"depth\": 6}"}, {"epoch", "12"}, {"note", "ünï"}};
  // Names out of alphabetical order: the file keeps the order given.
  file.tensors = {{"z.weight", {3, 2, 2}, {std::begin(special), std::end(special)}},
                  {"a.bias", {5}, iota_values(5, -2.0f)},
                  {"m", {1, 1, 48}, iota_values(48, 0.25f)}};
  const std::string path = folder.file("round.safetensors");
  save_safetensors(path, file);
  const SafetensorsFile back = load_safetensors(path);

  EXPECT_EQ(back.metadata, file.metadata);
  ASSERT_EQ(back.tensors.size(), file.tensors.size());
  for (size_t t = 0; t < file.tensors.size(); ++t) {
    const StoredTensor& want = file.tensors[t];
    const StoredTensor& got = back.tensors[t];
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.shape, want.shape);
    ASSERT_EQ(got.values.size(), want.values.size()) << want.name;
    for (size_t i = 0; i < want.values.size(); ++i) {
      EXPECT_EQ(bits(got.values[i]), bits(want.values[i])) << want.name << "[" << i << "]";
    }
  }
  ASSERT_NE(back.find("a.bias"), nullptr);
  EXPECT_EQ(back.find("a.bias")->values[4], 2.0f);
  EXPECT_EQ(back.find("absent"), nullptr);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Safetensors, MetadataOnlyAndEmptyFilesRoundTrip) {
  TempFolder folder;
  SafetensorsFile file;
  save_safetensors(folder.file("empty.safetensors"), file);
  EXPECT_TRUE(load_safetensors(folder.file("empty.safetensors")).tensors.empty());
  file.metadata = {{"k", "v"}};
  save_safetensors(folder.file("meta.safetensors"), file);
  EXPECT_EQ(load_safetensors(folder.file("meta.safetensors")).metadata, file.metadata);
}

TEST(Safetensors, ByteLayoutIsTheStandardOne) {
  TempFolder folder;
  const std::string path = folder.file("layout.safetensors");
  save_safetensors(path, small_file());
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 4 * (6 + 2));

  const std::string text = bytes.substr(8, n);
  EXPECT_EQ(text.front(), '{');
  EXPECT_EQ(text.find_last_not_of(' '), text.find_last_of('}'));  // padded with spaces only
  const nlohmann::json header = nlohmann::json::parse(text);
  EXPECT_EQ(header["__metadata__"], (nlohmann::json{{"epoch", "3"}, {"model", "vit"}}));
  EXPECT_EQ(header["w"]["dtype"], "F32");
  EXPECT_EQ(header["w"]["shape"], (nlohmann::json{2, 3}));
  EXPECT_EQ(header["w"]["data_offsets"], (nlohmann::json{0, 24}));
  EXPECT_EQ(header["b"]["dtype"], "F32");
  EXPECT_EQ(header["b"]["shape"], (nlohmann::json{2}));
  EXPECT_EQ(header["b"]["data_offsets"], (nlohmann::json{24, 32}));

  std::vector<float> data(8);
  std::memcpy(data.data(), bytes.data() + 8 + n, 32);
  EXPECT_EQ(data, (std::vector<float>{0, 1, 2, 3, 4, 5, 0.5f, -1.5f}));
}

TEST(Safetensors, SaveReplacesAnExistingFileEntirely) {
  TempFolder folder;
  const std::string path = folder.file("ckpt.safetensors");
  SafetensorsFile big;
  big.metadata = {{"epoch", "1"}, {"extra", std::string(500, 'x')}};
  big.tensors = {{"w", {100, 10}, iota_values(1000, 1.0f)}, {"old", {7}, iota_values(7, 0.0f)}};
  save_safetensors(path, big);
  const SafetensorsFile small = small_file();
  save_safetensors(path, small);

  const SafetensorsFile back = load_safetensors(path);
  EXPECT_EQ(back.metadata, small.metadata);
  ASSERT_EQ(back.tensors.size(), 2u);
  EXPECT_EQ(back.find("old"), nullptr);
  EXPECT_EQ(back.find("w")->values, small.tensors[0].values);
  save_safetensors(folder.file("fresh.safetensors"), small);
  EXPECT_EQ(read_bytes(path), read_bytes(folder.file("fresh.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Safetensors, FailedSaveIntoMissingFolderLeavesNothing) {
  TempFolder folder;
  const std::string path = folder.file("no_such_folder/ckpt.safetensors");
  const std::string message = error_of([&] { save_safetensors(path, small_file()); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Safetensors, FailedRenameRemovesTheTemporary) {
  TempFolder folder;
  const std::string path = folder.file("a_folder");
  std::filesystem::create_directory(path);
  std::filesystem::create_directory(path + "/inside");  // a non-empty folder: rename must fail
  const std::string message = error_of([&] { save_safetensors(path, small_file()); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("renaming"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_TRUE(std::filesystem::is_directory(path + "/inside"));
}

TEST(Safetensors, InvalidContentsAreRejectedBeforeTheExistingFileIsTouched) {
  TempFolder folder;
  const std::string path = folder.file("ckpt.safetensors");
  save_safetensors(path, small_file());
  const std::string before = read_bytes(path);

  SafetensorsFile wrong_count = small_file();
  wrong_count.tensors[1].values.push_back(1.0f);
  SafetensorsFile duplicate = small_file();
  duplicate.tensors[1].name = "w";
  SafetensorsFile scalar = small_file();
  scalar.tensors[1].shape = {};
  SafetensorsFile zero_dim = small_file();
  zero_dim.tensors[0].shape = {0, 6};
  const std::pair<SafetensorsFile, std::string> cases[] = {{wrong_count, "3 were given"},
                                                           {duplicate, "two tensors"},
                                                           {scalar, "at least 1 dimension"},
                                                           {zero_dim, "non-positive"}};
  for (const auto& bad : cases) {
    const std::string message = error_of([&] { save_safetensors(path, bad.first); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(bad.second), std::string::npos) << message;
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    EXPECT_EQ(read_bytes(path), before);
  }
}

TEST(SafetensorsErrors, MissingFile) {
  TempFolder folder;
  expect_load_error(folder.file("absent.safetensors"), {"cannot open", "No such file"});
}

TEST(SafetensorsErrors, ShorterThanTheLengthPrefix) {
  TempFolder folder;
  const std::string path = folder.file("short.safetensors");
  write_bytes(path, "abcde");
  expect_load_error(path, {"5 bytes", "too short", "not a safetensors file"});
}

TEST(SafetensorsErrors, HeaderLongerThanTheFile) {
  TempFolder folder;
  const std::string path = folder.file("long_header.safetensors");
  write_bytes(path, length_prefix(1000) + "{\"a\": 1}");
  expect_load_error(path, {"header length 1000", "larger than the file (16 bytes)"});
}

TEST(SafetensorsErrors, AbsurdHeaderLength) {
  TempFolder folder;
  const std::string path = folder.file("absurd.safetensors");
  write_bytes(path, length_prefix(uint64_t{1} << 40) + std::string(64, ' '));
  expect_load_error(path, {"absurd", "100 MB", "not a safetensors file"});
}

TEST(SafetensorsErrors, HeaderNotJson) {
  TempFolder folder;
  expect_load_error(write_raw(folder, "garbage.safetensors", "PK\x03\x04 not json", 0),
                    {"not a safetensors file", "not valid JSON"});
}

TEST(SafetensorsErrors, HeaderNotAnObject) {
  TempFolder folder;
  expect_load_error(write_raw(folder, "array.safetensors", "[1, 2, 3]", 0),
                    {"not a safetensors file", "array"});
}

TEST(SafetensorsErrors, EntryWithoutAField) {
  TempFolder folder;
  const std::pair<const char*, const char*> cases[] = {
      {R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", "no 'dtype'"},
      {R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", "no 'shape'"},
      {R"({"w": {"dtype": "F32", "shape": [2]}})", "no 'data_offsets'"}};
  for (const auto& [header, fact] : cases) {
    expect_load_error(write_raw(folder, "missing_field.safetensors", header, 8), {"'w'", fact});
  }
}

TEST(SafetensorsErrors, EntryWithWrongTypes) {
  TempFolder folder;
  const std::pair<const char*, const char*> cases[] = {
      {R"({"w": [1, 2]})", "not a JSON object"},
      {R"({"w": {"dtype": 32, "shape": [2], "data_offsets": [0, 8]}})", "'dtype' is a number"},
      {R"({"w": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}})", "'shape' is a string"},
      {R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", "integer dimensions"},
      {R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})", "not a pair"},
      {R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", "not a pair"},
      {R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": {"a": 0}}})", "not a pair"}};
  for (const auto& [header, fact] : cases) {
    expect_load_error(write_raw(folder, "wrong_type.safetensors", header, 8), {"'w'", fact});
  }
}

TEST(SafetensorsErrors, DtypesSavDoesNotRead) {
  TempFolder folder;
  // Sized right for each dtype (4 values), so that only the dtype is wrong.
  const std::pair<const char*, int> cases[] = {{"I8", 4},   {"U8", 4},   {"BOOL", 4},   {"I16", 8},
                                               {"I32", 16}, {"F64", 32}, {"F8_E4M3", 4}};
  for (const auto& [dtype, bytes] : cases) {
    const std::string path =
        write_raw(folder, "other_dtype.safetensors",
                  std::string(R"({"w": {"dtype": ")") + dtype +
                      R"(", "shape": [4], "data_offsets": [0, )" + std::to_string(bytes) + "]}}",
                  bytes);
    expect_load_error(
        path, {"'w'", std::string("dtype ") + dtype + " is not supported", "F32, F16 and BF16"});
  }
}

TEST(SafetensorsErrors, NonPositiveOrEmptyShape) {
  TempFolder folder;
  const std::pair<const char*, const char*> cases[] = {
      {R"({"w": {"dtype": "F32", "shape": [0, 2], "data_offsets": [0, 0]}})", "non-positive"},
      {R"({"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 8]}})", "non-positive"},
      {R"({"w": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}})", "at least 1 dimension"}};
  for (const auto& [header, fact] : cases) {
    expect_load_error(write_raw(folder, "bad_shape.safetensors", header, 8), {"'w'", fact});
  }
}

TEST(SafetensorsErrors, OffsetsNotMatchingTheShape) {
  TempFolder folder;
  const std::string path =
      write_raw(folder, "mismatch.safetensors", "{" + f32_entry("w", "[2, 3]", 0, 20) + "}", 20);
  expect_load_error(path, {"'w'", "[0,20]", "[2,3]", "needs 24 bytes"});
}

TEST(SafetensorsErrors, TruncatedFile) {
  TempFolder folder;
  const std::string path = folder.file("truncated.safetensors");
  save_safetensors(path, small_file());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 6);
  expect_load_error(path, {"'b'", "run past the end of the data (26 bytes)", "truncated"});
}

TEST(SafetensorsErrors, OverlappingTensors) {
  TempFolder folder;
  const std::string path =
      write_raw(folder, "overlap.safetensors",
                "{" + f32_entry("a", "[2]", 0, 8) + ", " + f32_entry("b", "[2]", 4, 12) + "}", 12);
  expect_load_error(path, {"'b'", "overlaps tensor 'a'"});
}

TEST(SafetensorsErrors, HolesInTheData) {
  TempFolder folder;
  const std::string gap =
      write_raw(folder, "gap.safetensors",
                "{" + f32_entry("a", "[1]", 0, 4) + ", " + f32_entry("b", "[1]", 8, 12) + "}", 12);
  expect_load_error(gap, {"bytes 4..8", "before tensor 'b'", "hole"});
  const std::string tail =
      write_raw(folder, "tail.safetensors", "{" + f32_entry("a", "[1]", 0, 4) + "}", 8);
  expect_load_error(tail, {"last 4 bytes", "hole"});
  const std::string head =
      write_raw(folder, "head.safetensors", "{" + f32_entry("a", "[1]", 4, 8) + "}", 8);
  expect_load_error(head, {"bytes 0..4", "hole"});
}

TEST(SafetensorsErrors, DuplicateNames) {
  TempFolder folder;
  const std::string path =
      write_raw(folder, "duplicate.safetensors",
                "{" + f32_entry("a", "[1]", 0, 4) + ", " + f32_entry("a", "[1]", 4, 8) + "}", 8);
  expect_load_error(path, {"'a' twice"});
}

TEST(SafetensorsErrors, MetadataThatIsNotStrings) {
  TempFolder folder;
  const std::string number = write_raw(folder, "meta_number.safetensors",
                                       R"({"__metadata__": {"name": "vit", "epoch": 3}})", 0);
  expect_load_error(number, {"__metadata__ value 'epoch'", "number", "not a string"});
  const std::string list =
      write_raw(folder, "meta_list.safetensors", R"({"__metadata__": ["epoch", "3"]})", 0);
  expect_load_error(list, {"__metadata__ is not a JSON object"});
}

// Hostile headers: each is refused quickly and in little memory, with a short message.

TEST(SafetensorsErrors, DeepNestingIsRefusedBeforeParsing) {
  TempFolder folder;
  // 100,000 levels: nlohmann::json prints (and copies) values recursively, out of stack.
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  for (const std::string& header :
       {R"({"w": {"dtype": "F32", "shape": )" + deep + R"(, "data_offsets": [0, 4]}})",
        R"({"__metadata__": {"k": )" + deep + "}}", R"({"w": )" + deep + "}"}) {
    expect_load_error(write_raw(folder, "deep.safetensors", header, 4),
                      {"not a safetensors file", "nests arrays and objects more than 32 deep"});
  }
}

TEST(SafetensorsErrors, MoreTensorsThanTheBoundAreRefused) {
  TempFolder folder;
  // kMaxTensors + 1 one-float tensors (4.6 MB of header). Before the bound, and with a header
  // parsed in quadratic time, 200,000 of them took 73 s.
  std::string header = "{";
  for (size_t i = 0; i <= io::kMaxTensors; ++i) {
    header += (i ? ", " : "") + f32_entry("t" + std::to_string(i), "[1]", 4 * i, 4 * i + 4);
  }
  header += "}";
  const std::string path = write_raw(folder, "many.safetensors", header, 4 * (io::kMaxTensors + 1));
  expect_load_error(path, {"holds more than 65536 tensors"});

  SafetensorsFile file;
  file.tensors.resize(io::kMaxTensors + 1, {"", {1}, {0.0f}});
  const std::string message =
      error_of([&] { save_safetensors(folder.file("w.safetensors"), file); });
  EXPECT_NE(message.find("65537 tensors, more than the 65536"), std::string::npos) << message;
}

TEST(Safetensors, TheMostTensorsAllowedRoundTrip) {
  TempFolder folder;
  SafetensorsFile file;
  for (size_t i = 0; i < io::kMaxTensors; ++i) {
    file.tensors.push_back({"t" + std::to_string(i), {1}, {static_cast<float>(i)}});
  }
  save_safetensors(folder.file("most.safetensors"), file);
  const SafetensorsFile back = load_safetensors(folder.file("most.safetensors"));
  ASSERT_EQ(back.tensors.size(), io::kMaxTensors);
  EXPECT_EQ(back.tensors.back().name, "t65535");
  EXPECT_EQ(back.tensors.back().values, std::vector<float>{65535.0f});
}

TEST(SafetensorsErrors, TooManyDimensionsOrJsonValues) {
  TempFolder folder;
  expect_load_error(write_raw(folder, "rank9.safetensors",
                              "{" + f32_entry("w", "[1, 1, 1, 1, 1, 1, 1, 1, 1]", 0, 4) + "}", 4),
                    {"'w'", "9 dimensions, more than the 8"});
  // An entry padded with an array of 2^20 zeros: 2 MB of text that would parse into 16 MB of
  // values (a 100 MB header into 1.6 GB), refused as it is parsed.
  std::string zeros = "[0";
  for (int i = 0; i < (1 << 20); ++i) zeros += ",0";
  const std::string header =
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "pad": )" + zeros + "]}}";
  expect_load_error(write_raw(folder, "padded.safetensors", header, 4),
                    {"more than 1048576 JSON values"});
}

TEST(SafetensorsErrors, LongNamesAndValuesAreQuotedShort) {
  TempFolder folder;
  const std::string long_name(100'000, 'n');
  const std::string cases[] = {
      "{\"" + long_name + R"(": {"dtype": "F16", "shape": [1], "data_offsets": [0, 4]}})",
      R"({"w": {"dtype": ")" + long_name + R"(", "shape": [1], "data_offsets": [0, 4]}})",
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": ")" + long_name + "\"}}",
      R"({"__metadata__": {")" + long_name + R"(": 1}})", "{\"" + long_name};
  for (const std::string& header : cases) {
    const std::string path = write_raw(folder, "long.safetensors", header, 4);
    const std::string message = error_of([&] { load_safetensors(path); });
    EXPECT_LT(message.size(), path.size() + 300) << message.substr(0, 400);
    EXPECT_NE(message.find("nnn..."), std::string::npos) << message.substr(0, 400);
  }
}

TEST(SafetensorsErrors, AFolderIsRefusedUnread) {
  TempFolder folder;
  expect_load_error(folder.path(), {"cannot open", "it is a folder, not a regular file"});
}

// F16 and BF16: converted to float32 exactly on load.

// Little-endian bytes of 16-bit values, as the data area holds F16 and BF16 tensors.
std::string le16(const std::vector<uint16_t>& values) {
  std::string bytes;
  for (const uint16_t v : values) {
    bytes += static_cast<char>(v & 0xff);
    bytes += static_cast<char>(v >> 8);
  }
  return bytes;
}

std::string le_floats(const std::vector<float>& values) {
  std::string bytes(values.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

// A header entry of any dtype, as JSON text.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  size_t begin, size_t end) {
  return "\"" + name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape +
         ", \"data_offsets\": [" + std::to_string(begin) + ", " + std::to_string(end) + "]}";
}

// A file from its header text and data, written as given.
std::string write_file(const std::string& path, const std::string& header,
                       const std::string& data) {
  write_bytes(path, length_prefix(header.size()) + header + data);
  return path;
}

// One tensor of `dtype` holding `values` (16-bit patterns), loaded back.
std::vector<float> load_16_bit(const TempFolder& folder, const std::string& dtype,
                               const std::vector<uint16_t>& values) {
  const std::string shape = "[" + std::to_string(values.size()) + "]";
  const std::string path =
      write_file(folder.file(dtype + ".safetensors"),
                 "{" + entry("x", dtype, shape, 0, 2 * values.size()) + "}", le16(values));
  const SafetensorsFile file = load_safetensors(path);
  EXPECT_EQ(file.tensors.size(), 1u);
  EXPECT_EQ(file.tensors[0].shape, std::vector<int64_t>{static_cast<int64_t>(values.size())});
  return file.tensors[0].values;
}

TEST(Safetensors, F16ValuesConvertExactly) {
  TempFolder folder;
  const float inf = std::numeric_limits<float>::infinity();
  const std::pair<uint16_t, float> cases[] = {
      {0x0000, 0.0f},         {0x8000, -0.0f},       {0x3c00, 1.0f},
      {0xc000, -2.0f},        {0x3555, 0x1.554p-2f},  // 0.33325195, the F16 nearest 1/3
      {0x3bff, 0x1.ffcp-1f},                          // 1 - 2^-11, the largest below 1
      {0x7bff, 65504.0f},     {0xfbff, -65504.0f},    // the largest finite
      {0x0400, 0x1p-14f},                             // the smallest normal
      {0x03ff, 0x1.ff8p-15f},                         // the largest subnormal, 1023 * 2^-24
      {0x0001, 0x1p-24f},     {0x8001, -0x1p-24f},    // the smallest subnormals
      {0x7c00, inf},          {0xfc00, -inf}};
  std::vector<uint16_t> halves;
  for (const auto& [half, value] : cases) halves.push_back(half);
  halves.push_back(0x7e00);  // a quiet NaN
  halves.push_back(0xfc01);  // a negative signalling NaN with payload 1
  const std::vector<float> values = load_16_bit(folder, "F16", halves);
  ASSERT_EQ(values.size(), halves.size());
  for (size_t i = 0; i < std::size(cases); ++i) {
    EXPECT_EQ(bits(values[i]), bits(cases[i].second)) << "F16 0x" << std::hex << cases[i].first;
  }
  EXPECT_TRUE(std::isnan(values[14]));
  EXPECT_TRUE(std::isnan(values[15]));
  EXPECT_TRUE(std::signbit(values[15]));
}

TEST(Safetensors, EveryF16ValueConvertsExactly) {
  // All 65,536 patterns against the definition, worked in double: (-1)^s 2^(e-15) (1 + m/1024)
  // for normal values, (-1)^s 2^-24 m for subnormals.
  TempFolder folder;
  std::vector<uint16_t> halves(65536);
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i);
  const std::vector<float> values = load_16_bit(folder, "F16", halves);
  ASSERT_EQ(values.size(), halves.size());
  int wrong = 0;
  for (size_t i = 0; i < halves.size(); ++i) {
    const double sign = (i & 0x8000) ? -1.0 : 1.0;
    const int exponent = (i >> 10) & 0x1f;
    const int mantissa = i & 0x3ff;
    if (exponent == 0x1f) {
      const bool ok = mantissa == 0 ? values[i] == sign * HUGE_VAL : std::isnan(values[i]);
      wrong += !ok;
      continue;
    }
    const double expected = exponent == 0 ? sign * std::ldexp(mantissa, -24)
                                          : sign * std::ldexp(1024 + mantissa, exponent - 25);
    if (values[i] != expected || std::signbit(values[i]) != (sign < 0)) {
      ++wrong;
      ADD_FAILURE() << "F16 0x" << std::hex << i << ": " << values[i] << ", not " << expected;
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST(Safetensors, Bf16ValuesConvertExactly) {
  TempFolder folder;
  const float inf = std::numeric_limits<float>::infinity();
  const std::pair<uint16_t, float> cases[] = {{0x0000, 0.0f},        {0x8000, -0.0f},
                                              {0x3f80, 1.0f},        {0xc040, -3.0f},
                                              {0x4049, 3.140625f},    // pi to BF16's 8 bits
                                              {0x7f7f, 0x1.fep127f},  // the largest finite
                                              {0x0080, 0x1p-126f},    // the smallest normal
                                              {0x0001, 0x1p-133f},    // the smallest subnormal
                                              {0x7f80, inf},         {0xff80, -inf}};
  std::vector<uint16_t> raw;
  for (const auto& [pattern, value] : cases) raw.push_back(pattern);
  raw.push_back(0x7fc0);  // NaN
  const std::vector<float> values = load_16_bit(folder, "BF16", raw);
  ASSERT_EQ(values.size(), raw.size());
  for (size_t i = 0; i < std::size(cases); ++i) {
    EXPECT_EQ(bits(values[i]), bits(cases[i].second)) << "BF16 0x" << std::hex << cases[i].first;
  }
  EXPECT_TRUE(std::isnan(values.back()));
}

TEST(Safetensors, MixedDtypesInOneFile) {
  TempFolder folder;
  // Listed out of data order, at byte ranges of 8, 6 and 4 bytes: F32, F16, BF16.
  const std::string header =
      "{\"__metadata__\": {\"format\": \"pt\"}, " + entry("c", "BF16", "[1, 2]", 14, 18) + ", " +
      entry("a", "F32", "[2]", 0, 8) + ", " + entry("b", "F16", "[3]", 8, 14) + "}";
  const std::string data =
      le_floats({1.5f, -2.0f}) + le16({0x3c00, 0x7bff, 0x0001}) + le16({0x4049, 0xc040});
  const SafetensorsFile file = load_safetensors(write_file(folder.file("mixed"), header, data));
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors[0].name, "a");  // in data order
  EXPECT_EQ(file.tensors[0].values, (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(file.tensors[1].name, "b");
  EXPECT_EQ(file.tensors[1].values, (std::vector<float>{1.0f, 65504.0f, 0x1p-24f}));
  EXPECT_EQ(file.tensors[2].name, "c");
  EXPECT_EQ(file.tensors[2].shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(file.tensors[2].values, (std::vector<float>{3.140625f, -3.0f}));
}

TEST(SafetensorsErrors, ByteRangesAreCheckedAtTheDtypesSize) {
  TempFolder folder;
  // A BF16 tensor given a float32's bytes, and a float32 one given half of them.
  expect_load_error(
      write_raw(folder, "bf16_as_f32", "{" + entry("w", "BF16", "[4]", 0, 16) + "}", 16),
      {"'w'", "[0,16]", "[4]", "needs 8 bytes as BF16"});
  expect_load_error(write_raw(folder, "f32_as_f16", "{" + entry("w", "F32", "[4]", 0, 8) + "}", 8),
                    {"'w'", "needs 16 bytes as F32"});
  expect_load_error(write_raw(folder, "f16_odd", "{" + entry("w", "F16", "[2]", 0, 3) + "}", 3),
                    {"'w'", "needs 4 bytes as F16"});
  // Truncated, overlapping and with a hole, in 2-byte values.
  expect_load_error(write_raw(folder, "f16_cut", "{" + entry("w", "F16", "[3]", 0, 6) + "}", 4),
                    {"'w'", "run past the end of the data (4 bytes)", "truncated"});
  expect_load_error(
      write_raw(folder, "bf16_overlap",
                "{" + entry("a", "F16", "[2]", 0, 4) + ", " + entry("b", "BF16", "[1]", 2, 4) + "}",
                4),
      {"'b'", "overlaps tensor 'a'"});
  expect_load_error(
      write_raw(folder, "f16_hole",
                "{" + entry("a", "F16", "[1]", 0, 2) + ", " + entry("b", "F32", "[1]", 4, 8) + "}",
                8),
      {"bytes 2..4", "before tensor 'b'", "hole"});
}

// Sharded checkpoints: an index and the shards it names.

const char* const kShard1 = "model-00001-of-00002.safetensors";
const char* const kShard2 = "model-00002-of-00002.safetensors";

// A checkpoint in two shards under `dir`: w [2, 2] and b [2] (F32) in the first, head [2]
// (BF16) in the second. Returns the index's path; `weight_map` is the index's map, as JSON.
std::string write_sharded(const std::string& dir, const std::string& weight_map) {
  SafetensorsFile first;
  first.metadata = {{"format", "pt"}};
  first.tensors = {{"w", {2, 2}, {1, 2, 3, 4}}, {"b", {2}, {0.5f, -0.5f}}};
  save_safetensors(dir + "/" + kShard1, first);
  write_file(dir + "/" + kShard2, "{" + entry("head", "BF16", "[2]", 0, 4) + "}",
             le16({0x3f80, 0xc040}));
  const std::string index = dir + "/model.safetensors.index.json";
  write_bytes(index, R"({"metadata": {"total_size": 28}, "weight_map": )" + weight_map + "}");
  return index;
}

std::string weight_map(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string text = "{";
  for (const auto& [tensor, shard] : entries) {
    text += (text.size() > 1 ? ", \"" : "\"") + tensor + "\": \"" + shard + "\"";
  }
  return text + "}";
}

std::vector<std::pair<std::string, std::string>> good_map() {
  return {{"b", kShard1}, {"head", kShard2}, {"w", kShard1}};
}

// Loading the index fails with a message that names it and holds every fact.
void expect_index_error(const std::string& index, const std::vector<std::string>& facts) {
  const std::string message = error_of([&] { io::load_sharded_safetensors(index); });
  EXPECT_NE(message.find(index), std::string::npos) << "the index is not named in: " << message;
  for (const std::string& fact : facts) {
    EXPECT_NE(message.find(fact), std::string::npos) << "no '" << fact << "' in: " << message;
  }
}

TEST(ShardedSafetensors, LoadsEveryShardAsOneFile) {
  TempFolder folder;
  const SafetensorsFile file =
      io::load_sharded_safetensors(write_sharded(folder.path(), weight_map(good_map())));
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors[0].name, "w");  // the first shard's, in its order, then the second's
  EXPECT_EQ(file.tensors[0].values, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(file.tensors[1].name, "b");
  EXPECT_EQ(file.tensors[2].name, "head");
  EXPECT_EQ(file.tensors[2].values, (std::vector<float>{1.0f, -3.0f}));
}

TEST(ShardedSafetensors, MissingShard) {
  TempFolder folder;
  auto map = good_map();
  map.emplace_back("extra", "model-00003-of-00003.safetensors");
  const std::string index = write_sharded(folder.path(), weight_map(map));
  expect_index_error(index, {folder.file("model-00003-of-00003.safetensors"), "cannot open",
                             "No such file", "a shard named by"});
}

TEST(ShardedSafetensors, TensorInAnotherShardThanListed) {
  TempFolder folder;
  // b lies in the first shard, not in the second as the index has it.
  const std::string index =
      write_sharded(folder.path(), weight_map({{"b", kShard2}, {"head", kShard2}, {"w", kShard1}}));
  expect_index_error(index, {folder.file(kShard1), "tensor 'b'", "puts it in shard",
                             std::string("'") + kShard2 + "'"});
}

TEST(ShardedSafetensors, ListedTensorMissingOrShardTensorUnlisted) {
  TempFolder folder;
  auto with_extra = good_map();
  with_extra.emplace_back("gone", kShard2);
  expect_index_error(write_sharded(folder.path(), weight_map(with_extra)),
                     {"tensor 'gone' is not in shard", kShard2});
  const std::string index =
      write_sharded(folder.path(), weight_map({{"head", kShard2}, {"w", kShard1}}));
  expect_index_error(index, {folder.file(kShard1), "tensor 'b'", "does not list it"});
}

TEST(ShardedSafetensors, ShardNamesMustStayInTheIndexFolder) {
  TempFolder folder;
  // A good shard just outside the index's folder: refused by name, never read.
  SafetensorsFile outside;
  outside.tensors = {{"w", {1}, {1.0f}}};
  save_safetensors(folder.file("outside.safetensors"), outside);
  std::filesystem::create_directory(folder.file("index"));
  const std::string dir = folder.file("index");
  const std::pair<std::string, std::string> cases[] = {
      {"../outside.safetensors", "not a file name in the index's folder"},
      {folder.file("outside.safetensors"), "is a path"},
      {"sub/x.safetensors", "is a path"},
      {"sub\\\\x.safetensors", "is a path"},
      {"..", "not a file name"},
      {".", "not a file name"},
      {"", "is empty"},
      {"a\\u0000b", "NUL"}};
  for (const auto& [name, why] : cases) {
    expect_index_error(write_sharded(dir, weight_map({{"w", name}})), {"tensor 'w'", why});
  }
}

TEST(ShardedSafetensors, MalformedIndexes) {
  TempFolder folder;
  const std::string index = folder.file("model.safetensors.index.json");
  const std::pair<std::string, std::string> cases[] = {
      {"not json", "not valid JSON"},
      {"[1, 2]", "a JSON array, not an object"},
      {R"({"metadata": {}})", "has no 'weight_map'"},
      {R"({"weight_map": ["w", "x.safetensors"]})", "'weight_map' is a JSON array"},
      {R"({"weight_map": {}})", "lists no tensors"},
      {R"({"weight_map": {"w": 3}})", "tensor 'w' has a JSON number for its shard"},
      {R"({"weight_map": {"w": {"file": "x"}}})", "tensor 'w' has a JSON object"},
      {R"({"weight_map": {"w": "x", "w": "y"}})", "lists tensor 'w' twice"},
      {R"({"weight_map": {"w": "x"}, "weight_map": {"v": "y"}})", "names 'weight_map' twice"},
      {R"({"weight_map": {"w": "x"}, "metadata": )" + std::string(100, '[') +
           std::string(100, ']') + "}",
       "nests arrays and objects more than 32 deep"}};
  for (const auto& [text, fact] : cases) {
    write_bytes(index, text);
    expect_index_error(index, {fact});
  }
  expect_index_error(folder.file("absent.json"), {"cannot open", "No such file"});
}

TEST(ShardedSafetensors, BoundsOnShardsAndTensors) {
  TempFolder folder;
  const std::string index = folder.file("model.safetensors.index.json");
  // kMaxShards + 1 shards, one tensor each: refused as the index is read, no shard opened.
  std::vector<std::pair<std::string, std::string>> map;
  for (size_t i = 0; i <= io::kMaxShards; ++i) {
    map.emplace_back("t" + std::to_string(i), "s" + std::to_string(i) + ".safetensors");
  }
  write_bytes(index, R"({"weight_map": )" + weight_map(map) + "}");
  expect_index_error(index, {"names more than 1024 shards"});
  // kMaxTensors + 1 tensors in one shard.
  map.clear();
  for (size_t i = 0; i <= io::kMaxTensors; ++i) map.emplace_back("t" + std::to_string(i), "s");
  write_bytes(index, R"({"weight_map": )" + weight_map(map) + "}");
  expect_index_error(index, {"lists more than 65536 tensors"});
}

}  // namespace
}  // namespace sav::testing
