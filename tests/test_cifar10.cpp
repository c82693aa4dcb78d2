// The CIFAR-10 reader, the patch layout, augmentation and the batch loader, on small files the
// tests write themselves.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <set>

#include "cifar_files.h"
#include "sav/data/images.h"
#include "sav/data/loader.h"
#include "sav/error.h"

namespace sav::testing {
namespace {

using data::Batch;
using data::BatchLoader;
using data::LoaderOptions;
using data::RecordSet;

// The inverse of the patch layout, written from its definition: pixel (c, y, x) is token
// (y / 4) * 8 + x / 4, feature c * 16 + (y % 4) * 4 + x % 4.
float patch_value(const float* patches, int c, int y, int x) {
  return patches[((y / 4) * 8 + x / 4) * 48 + c * 16 + (y % 4) * 4 + x % 4];
}

// Two files, 250 + 123 records, numbered on from each other.
RecordSet two_files(const TempFolder& folder) {
  return RecordSet::open(
      {write_records(folder, "a.bin", 0, 250), write_records(folder, "b.bin", 250, 123)});
}

std::vector<Batch> whole_epoch(BatchLoader& loader, uint64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  Batch batch;
  while (loader.next(batch)) batches.push_back(batch);
  return batches;
}

std::vector<int64_t> records_of(const std::vector<Batch>& batches) {
  std::vector<int64_t> records;
  for (const Batch& b : batches) records.insert(records.end(), b.records.begin(), b.records.end());
  return records;
}

TEST(RecordSet, ReadsLabelsAndPixelsAcrossFiles) {
  TempFolder folder;
  const RecordSet set = two_files(folder);
  ASSERT_EQ(set.size(), 373);
  uint8_t pixels[data::kPixelBytes];
  for (int64_t r : {0, 17, 249, 250, 372}) {
    EXPECT_EQ(set.read(r, pixels), pattern_label(r));
    EXPECT_EQ(pixels[0], pattern_pixel(r, 0, 0, 0));
    EXPECT_EQ(pixels[1024 + 32 * 5 + 9], pattern_pixel(r, 1, 5, 9));
    EXPECT_EQ(pixels[3071], pattern_pixel(r, 2, 31, 31));
  }
  EXPECT_EQ(set.describe(251), "b.bin record 1");
  const RecordSet tail = set.subset(240, 20);
  EXPECT_EQ(tail.size(), 20);
  EXPECT_EQ(tail.read(15, pixels), pattern_label(255));
  EXPECT_EQ(tail.describe(15), "b.bin record 5");
}

TEST(RecordSet, ChannelMeansOfTheImages) {
  TempFolder folder;
  const RecordSet records = RecordSet::open({write_records(folder, "a.bin", 0, 3)});
  const std::array<float, 3> means = data::channel_means(records);
  for (int c = 0; c < 3; ++c) {
    double sum = 0;
    for (int r = 0; r < 3; ++r)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) sum += pattern_pixel(r, c, y, x);
    EXPECT_NEAR(means[size_t(c)], sum / (255.0 * 3 * 1024), 1e-6) << "channel " << c;
  }
  EXPECT_THROW(data::channel_means(RecordSet{}), Error);
}

TEST(Patches, EveryPixelLandsInItsTokenAndFeature) {
  std::vector<uint8_t> pixels(data::kPixelBytes, 0);
  std::vector<float> patches(data::kPatches * data::kPatchFeatures);
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 32; ++x) {
        pixels[c * 1024 + y * 32 + x] = 255;
        data::image_to_patches(pixels.data(), {}, patches.data());
        const size_t where = ((y / 4) * 8 + x / 4) * 48 + c * 16 + (y % 4) * 4 + x % 4;
        for (size_t i = 0; i < patches.size(); ++i) {
          ASSERT_EQ(patches[i], i == where ? 1.0f : 0.0f)
              << "pixel (" << c << ", " << y << ", " << x << "), value " << i;
        }
        pixels[c * 1024 + y * 32 + x] = 0;
      }
    }
  }
}

TEST(Patches, NormalizationIsPerChannel) {
  std::vector<uint8_t> pixels(data::kPixelBytes);
  for (int i = 0; i < data::kPixelBytes; ++i) pixels[i] = static_cast<uint8_t>(i % 256);
  const data::Normalization norm{{0.5f, 0.25f, 0.0f}, {0.5f, 2.0f, 1.0f}};
  std::vector<float> patches(data::kPatches * data::kPatchFeatures);
  data::image_to_patches(pixels.data(), norm, patches.data());
  for (int c = 0; c < 3; ++c) {
    const float byte = pixels[c * 1024 + 3 * 32 + 7];
    EXPECT_NEAR(patch_value(patches.data(), c, 3, 7), (byte / 255.0f - norm.mean[c]) / norm.std[c],
                1e-6);
  }
}

TEST(Transform, FlipIsAMirrorAndShiftFillsWithZero) {
  std::vector<uint8_t> in(data::kPixelBytes), out(data::kPixelBytes);
  for (int i = 0; i < data::kPixelBytes; ++i) in[i] = static_cast<uint8_t>(1 + i % 200);
  data::transform_image(in.data(), true, 0, 0, out.data());
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x)
        ASSERT_EQ(out[c * 1024 + y * 32 + x], in[c * 1024 + y * 32 + (31 - x)]);
  data::transform_image(in.data(), false, 2, -3, out.data());
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        const bool inside = y + 2 < 32 && x - 3 >= 0;
        ASSERT_EQ(out[c * 1024 + y * 32 + x], inside ? in[c * 1024 + (y + 2) * 32 + x - 3] : 0);
      }
}

TEST(Loader, VisitsEveryRecordOncePerEpochWithAPartialLastBatch) {
  TempFolder folder;
  LoaderOptions options;
  options.batch_size = 32;
  BatchLoader loader(two_files(folder), options);
  EXPECT_EQ(loader.batches_per_epoch(), 12);
  for (uint64_t epoch : {0, 1}) {
    const std::vector<Batch> batches = whole_epoch(loader, epoch);
    ASSERT_EQ(batches.size(), 12u);
    for (size_t b = 0; b < 11; ++b) EXPECT_EQ(batches[b].size, 32);
    EXPECT_EQ(batches.back().size, 373 - 11 * 32);
    std::vector<int64_t> records = records_of(batches);
    std::sort(records.begin(), records.end());
    std::vector<int64_t> all(373);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(records, all);
  }
}

TEST(Loader, DropLastDropsThePartialBatch) {
  TempFolder folder;
  LoaderOptions options;
  options.batch_size = 32;
  options.drop_last = true;
  BatchLoader loader(two_files(folder), options);
  const std::vector<Batch> batches = whole_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 11u);
  for (const Batch& b : batches) EXPECT_EQ(b.size, 32);
  const std::vector<int64_t> records = records_of(batches);
  EXPECT_EQ(std::set<int64_t>(records.begin(), records.end()).size(), records.size());
}

TEST(Loader, OrderFollowsSeedAndEpoch) {
  TempFolder folder;
  const RecordSet set = two_files(folder);
  LoaderOptions options;
  options.batch_size = 50;
  BatchLoader a(set, options), b(set, options);
  options.seed = 43;
  BatchLoader other_seed(set, options);
  const auto first = records_of(whole_epoch(a, 0));
  EXPECT_EQ(first, records_of(whole_epoch(b, 0)));
  EXPECT_EQ(first, a.epoch_order(0));
  EXPECT_NE(first, records_of(whole_epoch(other_seed, 0)));
  EXPECT_NE(first, records_of(whole_epoch(a, 1)));
  std::vector<int64_t> identity(373);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(first, identity);
  options.shuffle = false;
  BatchLoader in_order(set, options);
  EXPECT_EQ(records_of(whole_epoch(in_order, 5)), identity);
}

TEST(Loader, BatchesCarryLabelsAndPatchesOfTheirRecords) {
  TempFolder folder;
  LoaderOptions options;
  options.batch_size = 40;
  BatchLoader loader(two_files(folder), options);
  for (const Batch& batch : whole_epoch(loader, 3)) {
    ASSERT_EQ(batch.patches.size(), static_cast<size_t>(batch.size) * 64 * 48);
    for (int64_t i = 0; i < batch.size; ++i) {
      const int64_t r = batch.records[i];
      EXPECT_EQ(batch.labels[i], pattern_label(r));
      const float* patches = batch.patches.data() + i * 64 * 48;
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; y += 5)
          for (int x = 0; x < 32; x += 3)
            ASSERT_FLOAT_EQ(patch_value(patches, c, y, x), pattern_pixel(r, c, y, x) / 255.0f);
    }
  }
}

// Whether mirroring (when flip) and shifting by (dy, dx) turns record r's pattern into these
// patches.
bool matches_transform(const float* patches, int64_t r, bool flip, int dy, int dx) {
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        const int sy = y + dy, sx = x + dx;
        const bool inside = sy >= 0 && sy < 32 && sx >= 0 && sx < 32;
        const float expected =
            inside ? pattern_pixel(r, c, sy, flip ? 31 - sx : sx) / 255.0f : 0.0f;
        if (std::fabs(patch_value(patches, c, y, x) - expected) > 1e-6f) return false;
      }
  return true;
}

TEST(Loader, FlipAugmentationMirrorsAboutHalfTheImages) {
  TempFolder folder;
  LoaderOptions options;
  options.flip = true;
  BatchLoader loader(two_files(folder), options);
  int flipped = 0, total = 0;
  for (const Batch& batch : whole_epoch(loader, 0)) {
    for (int64_t i = 0; i < batch.size; ++i, ++total) {
      const float* p = batch.patches.data() + i * 64 * 48;
      const bool plain = matches_transform(p, batch.records[i], false, 0, 0);
      const bool mirror = matches_transform(p, batch.records[i], true, 0, 0);
      ASSERT_TRUE(plain || mirror) << "record " << batch.records[i];
      flipped += mirror;
    }
  }
  EXPECT_GT(flipped, total / 4);
  EXPECT_LT(flipped, 3 * total / 4);
}

TEST(Loader, CropAugmentationIsAShiftWithZeroFill) {
  TempFolder folder;
  LoaderOptions options;
  options.crop_padding = 4;
  BatchLoader loader(RecordSet::open({write_records(folder, "a.bin", 0, 60)}), options);
  std::set<std::pair<int, int>> shifts;
  for (const Batch& batch : whole_epoch(loader, 0)) {
    for (int64_t i = 0; i < batch.size; ++i) {
      const float* p = batch.patches.data() + i * 64 * 48;
      bool found = false;
      for (int dy = -4; dy <= 4 && !found; ++dy)
        for (int dx = -4; dx <= 4 && !found; ++dx)
          if (matches_transform(p, batch.records[i], false, dy, dx)) {
            shifts.insert({dy, dx});
            found = true;
          }
      ASSERT_TRUE(found) << "record " << batch.records[i] << " is no shift of its image";
    }
  }
  EXPECT_GT(shifts.size(), 10u);  // 81 possible shifts over 60 images
}

TEST(Loader, AugmentationFollowsSeedAndEpoch) {
  TempFolder folder;
  const RecordSet set = two_files(folder);
  LoaderOptions options;
  options.flip = true;
  options.crop_padding = 4;
  options.shuffle = false;
  BatchLoader a(set, options), b(set, options);
  EXPECT_EQ(whole_epoch(a, 2)[0].patches, whole_epoch(b, 2)[0].patches);
  EXPECT_NE(whole_epoch(a, 2)[0].patches, whole_epoch(a, 3)[0].patches);
}

TEST(Loader, RestartingOrDestroyingMidEpochDoesNotHang) {
  TempFolder folder;
  LoaderOptions options;
  options.batch_size = 8;
  options.prefetch = 1;
  auto loader = std::make_unique<BatchLoader>(two_files(folder), options);
  loader->start_epoch(0);
  Batch batch;
  ASSERT_TRUE(loader->next(batch));
  loader->start_epoch(1);  // the worker is waiting on a full queue
  EXPECT_EQ(records_of(whole_epoch(*loader, 1)).size(), 373u);
  loader->start_epoch(2);
  loader.reset();
}

// Several workers decode the batches of one worker, in the same order, from any first batch,
// and stop cleanly in the middle of an epoch.
TEST(Loader, WorkersDeliverTheBatchesOfOneWorker) {
  TempFolder folder;
  const RecordSet set = two_files(folder);
  LoaderOptions options;
  options.batch_size = 16;
  options.flip = true;
  options.crop_padding = 4;
  options.augment.kind = data::AugmentKind::kTrivialAugment;
  options.mix.cutmix_alpha = 1.0;
  options.mix.mixup_alpha = 0.8;
  BatchLoader one(set, options);
  for (const int workers : {2, 3, 7}) {
    SCOPED_TRACE(std::to_string(workers) + " workers");
    LoaderOptions many_options = options;
    many_options.workers = workers;
    many_options.prefetch = 1;
    BatchLoader many(set, many_options);
    for (const int64_t first : {0, 5}) {
      one.start_epoch(1, first);
      many.start_epoch(1, first);
      Batch a, b;
      int64_t count = 0;
      while (one.next(a)) {
        ASSERT_TRUE(many.next(b));
        EXPECT_EQ(a.records, b.records);
        EXPECT_EQ(a.patches, b.patches);
        EXPECT_EQ(a.partner_labels, b.partner_labels);
        EXPECT_EQ(a.mix_lambda, b.mix_lambda);
        ++count;
      }
      EXPECT_FALSE(many.next(b));
      EXPECT_EQ(count, one.batches_per_epoch() - first);
    }
    many.start_epoch(2);
    Batch batch;
    ASSERT_TRUE(many.next(batch));
    many.start_epoch(3);  // restarted with workers waiting
  }
  options.workers = 0;
  EXPECT_NE(error_of([&] { BatchLoader(set, options); }).find("workers must be from 1 to 64"),
            std::string::npos);
}

TEST(Loader, RejectsBadOptions) {
  TempFolder folder;
  const RecordSet set = two_files(folder);
  LoaderOptions options;
  options.batch_size = 0;
  EXPECT_NE(error_of([&] { BatchLoader(set, options); }).find("batch size"), std::string::npos);
  options = {};
  options.crop_padding = 17;
  EXPECT_THROW(BatchLoader(set, options), Error);
  options = {};
  options.normalization.std[1] = 0.0f;
  EXPECT_THROW(BatchLoader(set, options), Error);
  options = {};
  options.batch_size = 1000;
  options.drop_last = true;
  EXPECT_THROW(BatchLoader(set, options), Error);
  BatchLoader fresh(set, {});
  Batch batch;
  EXPECT_THROW(fresh.next(batch), Error);
}

TEST(Split, HoldsOutTheLastRecordsAndLimitsTraining) {
  TempFolder folder;
  const RecordSet set = two_files(folder);
  const auto split = data::split_train_validation(set, 50, 100);
  EXPECT_EQ(split.train.size(), 100);
  EXPECT_EQ(split.validation.size(), 50);
  uint8_t pixels[data::kPixelBytes];
  EXPECT_EQ(split.train.read(99, pixels), pattern_label(99));
  EXPECT_EQ(split.validation.describe(0), "b.bin record 73");  // record 323 of 373
  const auto all = data::split_train_validation(set, 0, 0);
  EXPECT_EQ(all.train.size(), 373);
  EXPECT_EQ(all.validation.size(), 0);
  EXPECT_EQ(data::split_train_validation(set, 300, 1000).train.size(), 73);
  EXPECT_THROW(data::split_train_validation(set, 373, 0), Error);
  EXPECT_THROW(data::split_train_validation(set, -1, 0), Error);
  EXPECT_THROW(data::split_train_validation(set, 10, -5), Error);
}

TEST(ClassNames, FromMetaFileOrStandard) {
  TempFolder folder;
  EXPECT_EQ(data::read_class_names(folder.file("absent.txt")), data::standard_class_names());
  const std::string names = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n";
  const std::string meta = folder.write_bytes("meta.txt", {names.begin(), names.end()});
  EXPECT_EQ(data::read_class_names(meta)[9], "j");
  const std::string short_list = "a\nb\n";
  const std::string bad = folder.write_bytes("bad.txt", {short_list.begin(), short_list.end()});
  EXPECT_NE(error_of([&] { data::read_class_names(bad); }).find("holds 2 class names"),
            std::string::npos);
}

TEST(BadInput, MissingFolderOrFileSaysHowToGetTheData) {
  TempFolder folder;
  EXPECT_NE(error_of([&] {
              data::open_cifar10(folder.file("nowhere"));
            }).find("No such file or directory (run 'make data', or pass --data DIR)"),
            std::string::npos);
  write_records(folder, "data_batch_1.bin", 0, 2);
  const std::string message = error_of([&] { data::open_cifar10(folder.path()); });
  EXPECT_NE(message.find("data_batch_2.bin"), std::string::npos) << message;
  EXPECT_NE(message.find("make data"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { RecordSet::open({folder.file("x.bin")}); }).find("cannot open"),
            std::string::npos);
}

TEST(BadInput, SizeNotAMultipleOfTheRecord) {
  TempFolder folder;
  const std::string path = folder.write_bytes("odd.bin", std::vector<uint8_t>(3073 * 2 + 5, 1));
  EXPECT_EQ(error_of([&] { RecordSet::open({path}); }),
            path +
                ": size 6151 bytes is not a multiple of the 3073-byte CIFAR-10 record (a "
                "truncated or foreign file?)");
}

TEST(BadInput, EmptyFile) {
  TempFolder folder;
  const std::string path = folder.write_bytes("empty.bin", {});
  EXPECT_NE(error_of([&] { RecordSet::open({path}); }).find("the file is empty"),
            std::string::npos);
}

TEST(BadInput, LabelAboveNineNamesFileAndRecordThroughTheLoader) {
  TempFolder folder;
  write_records(folder, "bad.bin", 0, 20);
  {  // record 13's label byte becomes 10
    std::fstream f(folder.file("bad.bin"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(13 * 3073);
    f.put(10);
  }
  for (const int workers : {1, 3}) {  // with several, the batches before the bad one still come
    LoaderOptions options;
    options.batch_size = 5;
    options.shuffle = false;
    options.workers = workers;
    BatchLoader loader(RecordSet::open({folder.file("bad.bin")}), options);
    loader.start_epoch(0);
    Batch batch;
    ASSERT_TRUE(loader.next(batch));  // records 0-4
    ASSERT_TRUE(loader.next(batch));  // records 5-9
    const std::string message = error_of([&] { loader.next(batch); });
    EXPECT_EQ(message, folder.file("bad.bin") +
                           " record 13: label byte 10 is not a class (0-9); is this a CIFAR-10 "
                           "binary file (not CIFAR-100)?");
  }
}

TEST(BadInput, FileThatShrinksWhileBeingRead) {
  TempFolder folder;
  const std::string path = write_records(folder, "shrinks.bin", 0, 10);
  const RecordSet set = RecordSet::open({path});
  uint8_t pixels[data::kPixelBytes];
  EXPECT_EQ(set.read(9, pixels), pattern_label(9));
  ASSERT_EQ(::truncate(path.c_str(), 3073 * 6 + 100), 0);
  EXPECT_EQ(set.read(5, pixels), pattern_label(5));
  EXPECT_NE(error_of([&] { set.read(6, pixels); }).find(path + " record 6: the file ends early"),
            std::string::npos);
  EXPECT_NE(error_of([&] { set.read(8, pixels); }).find("record 8"), std::string::npos);
}

TEST(BadInput, ClassNamesFileThatIsTooLargeOrAFolderIsRefusedUnread) {
  TempFolder folder;
  // No newline in 64 KiB + 1: read line by line, /dev/zero in its place grew one line forever.
  const std::string large =
      folder.write_bytes("large.txt", std::vector<uint8_t>((64 << 10) + 1, 'a'));
  const std::string message = error_of([&] { data::read_class_names(large); });
  EXPECT_NE(message.find("cannot open " + large + ": it holds 65537 bytes, more than the 65536"),
            std::string::npos)
      << message.substr(0, 300);
  EXPECT_NE(error_of([&] {
              data::read_class_names(folder.path());
            }).find("cannot open " + folder.path() + ": it is a folder"),
            std::string::npos);
}

TEST(BadInput, BatchFileThatIsAFolderIsRefusedUnread) {
  TempFolder folder;
  EXPECT_EQ(error_of([&] { RecordSet::open({folder.path()}); }),
            "cannot open " + folder.path() +
                ": it is a folder, not a regular file (sav reads only "
                "regular files)");
}

}  // namespace
}  // namespace sav::testing
