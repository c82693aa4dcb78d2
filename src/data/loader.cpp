#include "sav/data/loader.h"

#include <numeric>
#include <utility>

#include "sav/error.h"
#include "sav/random.h"

namespace sav::data {
namespace {

// Philox streams: each epoch has one for its shuffle and one for its flips and crops.
uint64_t shuffle_stream(uint64_t epoch) { return 2 * epoch; }
uint64_t augment_stream(uint64_t epoch) { return 2 * epoch + 1; }

}  // namespace

int64_t shard_begin(int64_t size, int shard, int shards) { return size * shard / shards; }

// Above 2^63: apart from the shuffle's and the flip and crop's streams (2 epoch, 2 epoch + 1) for
// every epoch below 2^62, so that adding it changed neither.
uint64_t policy_stream(uint64_t epoch) { return (uint64_t{1} << 63) | epoch; }

BatchLoader::BatchLoader(RecordSet records, LoaderOptions options)
    : records_(std::move(records)), options_(options) {
  if (options_.batch_size < 1) fail("batch size must be at least 1, got ", options_.batch_size);
  if (records_.size() == 0) fail("loader: the record set is empty");
  if (options_.crop_padding < 0 || options_.crop_padding > kImageSide / 2) {
    fail("crop padding must be in [0, ", kImageSide / 2, "], got ", options_.crop_padding);
  }
  check_augment_policy(options_.augment);
  if (options_.prefetch < 1) fail("prefetch must be at least 1 batch, got ", options_.prefetch);
  if (options_.shards < 1 || options_.shard < 0 || options_.shard >= options_.shards) {
    fail("loader: share ", options_.shard, " of ", options_.shards, " does not exist");
  }
  for (int c = 0; c < kChannels; ++c) {
    if (!(options_.normalization.std[c] > 0.0f)) {
      fail("normalization std of channel ", c, " must be positive, got ",
           options_.normalization.std[c]);
    }
  }
  if (options_.drop_last && batches_per_epoch() == 0) {
    fail("batch size ", options_.batch_size, " with drop_last leaves no batch from ",
         records_.size(), " records");
  }
}

BatchLoader::~BatchLoader() { stop(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = records_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> BatchLoader::epoch_order(uint64_t epoch) const {
  std::vector<int64_t> order(records_.size());
  std::iota(order.begin(), order.end(), 0);
  if (!options_.shuffle) return order;
  // Fisher-Yates, with the swap partner of position i drawn from Philox block i: the same order
  // on every platform and standard library.
  for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) {
    const PhiloxBlock bits = random_block(options_.seed, shuffle_stream(epoch), i);
    const uint64_t r = (uint64_t{bits[0]} << 32) | bits[1];
    std::swap(order[i], order[r % static_cast<uint64_t>(i + 1)]);
  }
  return order;
}

void BatchLoader::start_epoch(uint64_t epoch, int64_t first_batch) {
  if (first_batch < 0 || first_batch > batches_per_epoch()) {
    fail("loader: first batch ", first_batch, " is outside the epoch's ", batches_per_epoch(),
         " batches");
  }
  stop();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_.clear();
    finished_ = false;
    error_ = nullptr;
  }
  worker_ = std::thread(&BatchLoader::produce, this, epoch, epoch_order(epoch), first_batch);
}

void BatchLoader::decode(uint64_t epoch, const int64_t* records, int64_t count,
                         Batch& batch) const {
  batch.size = count;
  batch.patches.resize(static_cast<size_t>(count) * kPatches * kPatchFeatures);
  batch.labels.resize(count);
  batch.records.assign(records, records + count);
  const bool augment = options_.flip || options_.crop_padding > 0;
  const bool policy = options_.augment.kind != AugmentKind::kNone;
  const int span = 2 * options_.crop_padding + 1;
  uint8_t pixels[kPixelBytes], transformed[kPixelBytes];
  for (int64_t i = 0; i < count; ++i) {
    batch.labels[i] = records_.read(records[i], pixels);
    uint8_t* image = pixels;
    if (augment) {
      const PhiloxBlock bits = random_block(options_.seed, augment_stream(epoch), records[i]);
      const bool flip = options_.flip && (bits[0] & 1u);
      const int shift_y = static_cast<int>(bits[1] % span) - options_.crop_padding;
      const int shift_x = static_cast<int>(bits[2] % span) - options_.crop_padding;
      transform_image(pixels, flip, shift_y, shift_x, transformed);
      image = transformed;
    }
    if (policy) {
      augment_image(options_.augment, options_.seed, policy_stream(epoch), records[i], image);
    }
    image_to_patches(image, options_.normalization,
                     batch.patches.data() + i * kPatches * kPatchFeatures);
  }
}

void BatchLoader::produce(uint64_t epoch, std::vector<int64_t> order, int64_t first_batch) {
  try {
    const int64_t batches = batches_per_epoch();
    for (int64_t b = first_batch; b < batches; ++b) {
      const int64_t first = b * options_.batch_size;
      const int64_t count = std::min<int64_t>(options_.batch_size, order.size() - first);
      const int64_t begin = shard_begin(count, options_.shard, options_.shards);
      const int64_t end = shard_begin(count, options_.shard + 1, options_.shards);
      Batch batch;
      decode(epoch, order.data() + first + begin, end - begin, batch);
      batch.global_size = count;
      batch.first = begin;
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] {
        return stopping_ || ready_.size() < static_cast<size_t>(options_.prefetch);
      });
      if (stopping_) return;
      ready_.push_back(std::move(batch));
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  changed_.notify_all();
}

bool BatchLoader::next(Batch& batch) {
  if (!worker_.joinable()) fail("loader: call start_epoch() before next()");
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || finished_; });
  if (!ready_.empty()) {
    batch = std::move(ready_.front());
    ready_.pop_front();
    changed_.notify_all();
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

void BatchLoader::stop() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  ready_.clear();
}

}  // namespace sav::data
