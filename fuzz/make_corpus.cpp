// Writes the seed corpora under FOLDER/<target>/: small valid files of each format and files
// that are wrong in one way each, so that fuzzing starts from both sides of every check.
// Usage: fuzz_make_corpus FOLDER (normally fuzz/corpus; the seeds are committed, so this is
// only needed when a format changes). Inputs found by fuzzers live there too and are kept.
#include <lodepng.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <string>
#include <vector>

#include "sav/data/cifar10.h"
#include "sav/device.h"
#include "sav/error.h"
#include "sav/image/canvas.h"
#include "sav/image/png.h"
#include "sav/io/safetensors.h"
#include "sav/nn/vit.h"
#include "sav/train/checkpoint.h"
#include "sav/train/config.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::string;

void write(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) sav::fail("cannot write ", path.string());
}

Bytes read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Bytes le64(uint64_t v) {
  Bytes out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>(v >> (8 * i));
  return out;
}

Bytes le16(std::initializer_list<uint16_t> values) {
  Bytes out;
  for (const uint16_t v : values) out += {static_cast<char>(v), static_cast<char>(v >> 8)};
  return out;
}

Bytes be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// A safetensors file from its header text and data, written as is (no validation).
Bytes raw_safetensors(const std::string& header, const Bytes& data) {
  return le64(header.size()) + header + data;
}

void safetensors_seeds(const fs::path& dir, const fs::path& scratch) {
  sav::io::SafetensorsFile file;
  file.metadata = {{"note", "two small tensors"}};
  file.tensors = {{"a", {2, 3}, {1, 2, 3, 4, 5, 6}}, {"b", {1}, {-0.5f}}};
  sav::io::save_safetensors((scratch / "valid.safetensors").string(), file);
  const Bytes valid = read(scratch / "valid.safetensors");
  write(dir / "valid_two_tensors", valid);
  write(dir / "truncated", valid.substr(0, valid.size() - 4));
  const Bytes four(4, '\0'), eight(8, '\0');
  write(dir / "valid_no_metadata",
        raw_safetensors(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", four));
  write(dir / "empty_header", raw_safetensors("{}", ""));
  write(dir / "absurd_header_length", le64(uint64_t{1} << 62) + "{}");
  write(dir / "header_not_object", raw_safetensors("[1,2]", ""));
  // A dtype sav refuses by name.
  write(dir / "dtype_i32",
        raw_safetensors(R"({"x":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})", four));
  // F16 (1, 65504, the smallest subnormal, -inf) and BF16 (1, -3, NaN), read as float32.
  write(dir / "valid_f16_bf16",
        raw_safetensors(R"({"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}})",
                        le16({0x3c00, 0x7bff, 0x0001, 0xfc00, 0x3f80, 0xc040, 0x7fc0})));
  // A BF16 tensor given a float32's bytes.
  write(dir / "bf16_f32_size",
        raw_safetensors(R"({"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}})", eight));
  write(dir / "zero_dimension",
        raw_safetensors(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})", ""));
  write(dir / "overlapping",
        raw_safetensors(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                        four));
  write(dir / "hole",
        raw_safetensors(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight));
  write(dir / "huge_shape",
        raw_safetensors(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296,16],)"
                        R"("data_offsets":[0,4]}})",
                        four));
  write(dir / "metadata_number",
        raw_safetensors(R"({"__metadata__":{"n":1},)"
                        R"("x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                        four));
}

// The seed's configuration, and ones wrong in one way each.
void config_seeds(const fs::path& dir) {
  write(dir / "full.json", sav::train::config_to_json(sav::train::Config{}));
  write(dir / "seed.json",
        R"({"data": {"random_seed": 42, "channels": 3, "patch_size": [4, 4], "n_classes": 10},)"
        R"( "model": {"d_model": 256, "h": 8, "N": 6, "dropout": 0.1},)"
        R"( "training": {"batch_size": 100, "lr": 0.0001, "epochs": 100, "betas": [0.9, 0.999]}})");
  write(dir / "tiny.json", R"({"model": {"d_model": 16, "h": 2, "N": 2, "dropout": 0.0},)"
                           R"( "training": {"batch_size": 50, "lr": 0.001, "epochs": 1}})");
  write(dir / "empty_object.json", "{}");
  write(dir / "not_an_object.json", "[1, 2, 3]");
  write(dir / "unfinished.json", R"({"model": {"d_model": 16)");
  write(dir / "unknown_key.json", R"({"model": {"depth": 3}})");
  write(dir / "wrong_type.json", R"({"training": {"epochs": "ten"}})");
  write(dir / "heads_do_not_divide.json", R"({"model": {"d_model": 10, "h": 3}})");
  write(dir / "bad_betas.json", R"({"training": {"betas": [0.9]}})");
  write(dir / "negative_seed.json", R"({"data": {"random_seed": -1}})");
  write(dir / "huge_model.json", R"({"model": {"d_model": 9223372036854775807, "h": 1}})");
}

void checkpoint_seeds(const fs::path& dir, const fs::path& scratch) {
  sav::train::Config config;
  config.d_model = 4;
  config.heads = 1;
  config.layers = 1;
  config.d_ff = 4;
  sav::nn::VisionTransformer model(config.vit(), sav::Device::cpu());
  model.initialize(1);
  sav::train::TrainingState state;
  state.epoch = 3;
  state.step = 30;
  state.best_epoch = 2;
  state.best_val_accuracy = 0.25;
  state.best_test_accuracy = 0.5;
  sav::train::save_checkpoint((scratch / "tiny.safetensors").string(), model, config, state);
  write(dir / "tiny_model", read(scratch / "tiny.safetensors"));

  // Metadata only: read_checkpoint reads no tensors, so these stay small.
  const std::string config_json = sav::train::config_to_json(config);
  const auto with_metadata = [](const std::string& metadata) {
    return raw_safetensors(R"({"__metadata__":)" + metadata + "}", "");
  };
  const auto quoted = [](const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    return out + "\"";
  };
  const std::string progress =
      R"("epoch":"1","step":"2","best_epoch":"1","best_val_accuracy":"0.5",)"
      R"("best_test_accuracy":"0.5")";
  write(dir / "metadata_only", with_metadata(R"({"format":"sav-vit/1","config":)" +
                                             quoted(config_json) + "," + progress + "}"));
  write(dir / "no_format",
        with_metadata(R"({"config":)" + quoted(config_json) + "," + progress + "}"));
  write(dir / "config_not_json",
        with_metadata(R"({"format":"sav-vit/1","config":"{\"model\":",)" + progress + "}"));
  write(dir / "config_unknown_key",
        with_metadata(R"({"format":"sav-vit/1","config":"{\"model\":{\"depth\":1}}",)" + progress +
                      "}"));
  write(dir / "epoch_not_a_number",
        with_metadata(R"({"format":"sav-vit/1","config":"{}","epoch":"x","step":"2",)"
                      R"("best_epoch":"1","best_val_accuracy":"0.5","best_test_accuracy":"0.5"})"));
  write(dir / "no_progress", with_metadata(R"({"format":"sav-vit/1","config":"{}"})"));
}

void cifar_seeds(const fs::path& dir) {
  const auto record = [](int label, int shift) {
    Bytes r(1, static_cast<char>(label));
    for (int i = 0; i < sav::data::kPixelBytes; ++i) r += static_cast<char>((i * 7 + shift) & 0xff);
    return r;
  };
  write(dir / "one_record.bin", record(3, 0));
  write(dir / "two_records.bin", record(0, 1) + record(9, 2));
  write(dir / "label_10.bin", record(10, 0));
  write(dir / "short_record.bin", record(1, 0).substr(0, sav::data::kPixelBytes));
  write(dir / "record_and_a_half.bin",
        record(2, 0) + record(2, 0).substr(0, sav::data::kRecordBytes / 2));
  write(dir / "empty.bin", "");
  Bytes names;
  for (const std::string& name : sav::data::standard_class_names()) names += name + "\n";
  write(dir / "batches.meta.txt", names);
  write(dir / "nine_names.txt", names.substr(names.find('\n') + 1));
}

Bytes encode(const std::vector<unsigned char>& pixels, unsigned width, unsigned height,
             lodepng::State& state) {
  std::vector<unsigned char> png;
  if (lodepng::encode(png, pixels, width, height, state) != 0) sav::fail("lodepng::encode failed");
  return {png.begin(), png.end()};
}

Bytes encode(const std::vector<unsigned char>& pixels, unsigned width, unsigned height,
             LodePNGColorType type, unsigned bits) {
  lodepng::State state;
  state.info_raw.colortype = type;
  state.info_raw.bitdepth = bits;
  state.info_png.color.colortype = type;
  state.info_png.color.bitdepth = bits;
  state.encoder.auto_convert = 0;  // keep the colour type asked for
  return encode(pixels, width, height, state);
}

Bytes png_chunk(const std::string& type, const Bytes& data) {
  const Bytes body = type + data;
  return be32(static_cast<uint32_t>(data.size())) + body +
         be32(lodepng_crc32(reinterpret_cast<const unsigned char*>(body.data()), body.size()));
}

// A header declaring width x height RGB pixels, with almost no image data.
Bytes png_declaring(uint32_t width, uint32_t height) {
  const Bytes ihdr = be32(width) + be32(height) + Bytes{8, 2, 0, 0, 0};
  const Bytes empty_zlib = {0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
  return "\x89PNG\r\n\x1a\n" + png_chunk("IHDR", ihdr) + png_chunk("IDAT", empty_zlib) +
         png_chunk("IEND", "");
}

void png_seeds(const fs::path& dir) {
  std::vector<unsigned char> rgb(6 * 4 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<unsigned char>(i * 37);
  const Bytes rgb_png = encode(rgb, 6, 4, LCT_RGB, 8);
  write(dir / "rgb_6x4.png", rgb_png);
  write(dir / "rgba_2x2.png",
        encode({1, 2, 3, 0, 4, 5, 6, 255, 7, 8, 9, 128, 10, 11, 12, 1}, 2, 2, LCT_RGBA, 8));
  write(dir / "grey16_2x1.png", encode({0x12, 0x34, 0xff, 0xff}, 2, 1, LCT_GREY, 16));
  write(dir / "grey_alpha_1x1.png", encode({200, 100}, 1, 1, LCT_GREY_ALPHA, 8));
  write(dir / "rgba16_1x1.png", encode({1, 2, 3, 4, 5, 6, 7, 8}, 1, 1, LCT_RGBA, 16));

  lodepng::State grey;  // lodepng chooses the smallest colour type that holds the pixels
  write(dir / "grey1_4x4.png", encode(std::vector<unsigned char>(4 * 4 * 4, 255), 4, 4, grey));
  std::vector<unsigned char> three_colours;
  for (int i = 0; i < 4 * 4; ++i) {
    const unsigned char c = static_cast<unsigned char>(100 * (i % 3));
    three_colours.insert(three_colours.end(), {c, static_cast<unsigned char>(255 - c), 7, 255});
  }
  lodepng::State palette;
  write(dir / "palette_4x4.png", encode(three_colours, 4, 4, palette));
  lodepng::State interlaced;
  interlaced.info_png.interlace_method = 1;  // Adam7: seven passes, each with its own rows
  write(dir / "interlaced_6x4.png",
        encode(std::vector<unsigned char>(6 * 4 * 4, 90), 6, 4, interlaced));
  lodepng::State text;
  lodepng_add_text(&text.info_png, "Comment", "a tEXt chunk");
  lodepng_add_itext(&text.info_png, "Title", "en", "Title", "an iTXt chunk");
  text.encoder.text_compression = 1;
  write(dir / "text_chunks_1x1.png", encode({1, 2, 3, 255}, 1, 1, text));

  write(dir / "truncated.png", rgb_png.substr(0, rgb_png.size() - 20));
  Bytes bad_crc = rgb_png;
  bad_crc[40] = static_cast<char>(bad_crc[40] ^ 0x55);  // inside IDAT: its CRC no longer fits
  write(dir / "bad_crc.png", bad_crc);
  write(dir / "signature_only.png", rgb_png.substr(0, 8));
  write(dir / "declares_40000x40000.png", png_declaring(40000, 40000));
  write(dir / "declares_1x268435456.png", png_declaring(1, 268435456));
  write(dir / "declares_0x1.png", png_declaring(0, 1));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " FOLDER (e.g. fuzz/corpus)\n";
    return 2;
  }
  try {
    const fs::path root = argv[1];
    const fs::path scratch = fs::temp_directory_path() / "sav_fuzz_make_corpus";
    fs::create_directories(scratch);
    for (const char* target : {"safetensors", "config", "checkpoint", "cifar", "png"}) {
      fs::create_directories(root / target);
    }
    safetensors_seeds(root / "safetensors", scratch);
    config_seeds(root / "config");
    checkpoint_seeds(root / "checkpoint", scratch);
    cifar_seeds(root / "cifar");
    png_seeds(root / "png");
    fs::remove_all(scratch);
  } catch (const std::exception& e) {
    std::cerr << "fuzz_make_corpus: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
