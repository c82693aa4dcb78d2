// The data loader: images/s through reading, augmentation, decoding and patch layout, as the
// training loop sees them (BatchLoader::next, with the decoding on its background thread).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "sav/data/augment.h"
#include "sav/data/loader.h"

namespace sav {
namespace {

constexpr int64_t kRecords = 10000;  // one batch file's worth

// A CIFAR-format file of random records, written once per process.
const std::string& synthetic_file() {
  static const std::string path = [] {
    std::string folder = (std::filesystem::temp_directory_path() / "sav_bench_XXXXXX").string();
    if (::mkdtemp(folder.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    const std::string file = folder + "/data_batch_1.bin";
    std::mt19937 rng(1);
    std::vector<char> bytes(kRecords * data::kRecordBytes);
    for (int64_t r = 0; r < kRecords; ++r) {
      bytes[r * data::kRecordBytes] = static_cast<char>(r % 10);
      for (int64_t i = 1; i < data::kRecordBytes; ++i) {
        bytes[r * data::kRecordBytes + i] = static_cast<char>(rng() & 0xff);
      }
    }
    std::ofstream(file, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::atexit(
        [] { std::filesystem::remove_all(std::filesystem::path(synthetic_file()).parent_path()); });
    return file;
  }();
  return path;
}

// One epoch over 10,000 records in batches of 100, augmented as the argument says: 0 not at all,
// 1 flip and crop, 2 flip, crop and TrivialAugment, 3 flip, crop and RandAugment (2 operations at
// magnitude 9), the order of torchvision's CIFAR-10 recipes, 4 the strong recipe's
// (data/recipes/cifar10-strong.json: flip, crop, TrivialAugment, then Mixup or CutMix).
// Augmentation runs on the loader's one background thread, so this is that thread's rate.
void BM_LoaderEpoch(benchmark::State& state) {
  data::LoaderOptions options;
  options.batch_size = 100;
  const int64_t augment = state.range(0);
  options.flip = augment > 0;
  options.crop_padding = augment > 0 ? 4 : 0;
  if (augment == 2) options.augment.kind = data::AugmentKind::kTrivialAugment;
  if (augment == 3) options.augment.kind = data::AugmentKind::kRandAugment;
  if (augment == 4) {
    options.augment.kind = data::AugmentKind::kTrivialAugment;
    options.mix.mixup_alpha = 0.8;
    options.mix.cutmix_alpha = 1.0;
  }
  data::BatchLoader loader(data::RecordSet::open({synthetic_file()}), options);
  data::Batch batch;
  uint64_t epoch = 0;
  for (auto _ : state) {
    loader.start_epoch(epoch++);
    while (loader.next(batch)) benchmark::DoNotOptimize(batch.patches.data());
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.SetBytesProcessed(state.iterations() * kRecords * data::kRecordBytes);
}
BENCHMARK(BM_LoaderEpoch)
    ->ArgName("augment")
    ->DenseRange(0, 4)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One operation on one 32 x 32 image, at TrivialAugment's middle bin (15): what each costs.
// Arg: the operation's index (augment.h's order; the label names it).
void BM_AugmentOp(benchmark::State& state) {
  const auto op = static_cast<data::AugmentOp>(state.range(0));
  const float magnitude = data::augment_magnitude(data::AugmentKind::kTrivialAugment, op, 15);
  std::vector<uint8_t> image(data::kPixelBytes), pixels(data::kPixelBytes);
  std::mt19937 rng(2);
  for (uint8_t& v : image) v = static_cast<uint8_t>(rng() & 0xff);
  for (auto _ : state) {
    pixels = image;
    data::apply_augment_op(op, magnitude, pixels.data());
    benchmark::DoNotOptimize(pixels.data());
  }
  state.SetLabel(data::augment_op_name(op));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * data::kPixelBytes);
}
BENCHMARK(BM_AugmentOp)->DenseRange(0, data::kAugmentOps - 1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sav
