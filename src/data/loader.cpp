#include "sav/data/loader.h"

#include <algorithm>
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

uint64_t mix_stream(uint64_t epoch) { return (uint64_t{1} << 62) | epoch; }

BatchLoader::BatchLoader(RecordSet records, LoaderOptions options)
    : records_(std::move(records)), options_(options) {
  if (options_.batch_size < 1) fail("batch size must be at least 1, got ", options_.batch_size);
  if (records_.size() == 0) fail("loader: the record set is empty");
  if (options_.crop_padding < 0 || options_.crop_padding > kImageSide / 2) {
    fail("crop padding must be in [0, ", kImageSide / 2, "], got ", options_.crop_padding);
  }
  check_augment_policy(options_.augment);
  check_mix_options(options_.mix);
  if (options_.prefetch < 1) fail("prefetch must be at least 1 batch, got ", options_.prefetch);
  if (options_.workers < 1 || options_.workers > kMaxLoaderWorkers) {
    fail("loader: workers must be from 1 to ", kMaxLoaderWorkers, ", got ", options_.workers);
  }
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
  order_ = epoch_order(epoch);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_.clear();
    next_ = first_batch;
    finished_ = 0;
    error_ = nullptr;
  }
  for (int w = 0; w < options_.workers; ++w) {
    workers_.emplace_back(&BatchLoader::produce, this, w, epoch, first_batch);
  }
}

void BatchLoader::decode(uint64_t epoch, const int64_t* records, int64_t count,
                         std::vector<uint8_t>& pixels, std::vector<int32_t>& labels) const {
  pixels.resize(static_cast<size_t>(count) * kPixelBytes);
  labels.resize(count);
  const bool augment = options_.flip || options_.crop_padding > 0;
  const bool policy = options_.augment.kind != AugmentKind::kNone;
  const int span = 2 * options_.crop_padding + 1;
  uint8_t read[kPixelBytes];
  for (int64_t i = 0; i < count; ++i) {
    uint8_t* image = pixels.data() + i * kPixelBytes;
    labels[i] = records_.read(records[i], augment ? read : image);
    if (augment) {
      const PhiloxBlock bits = random_block(options_.seed, augment_stream(epoch), records[i]);
      const bool flip = options_.flip && (bits[0] & 1u);
      const int shift_y = static_cast<int>(bits[1] % span) - options_.crop_padding;
      const int shift_x = static_cast<int>(bits[2] % span) - options_.crop_padding;
      transform_image(read, flip, shift_y, shift_x, image);
    }
    if (policy) {
      augment_image(options_.augment, options_.seed, policy_stream(epoch), records[i], image);
    }
  }
}

Batch BatchLoader::make_batch(uint64_t epoch, int64_t index, const int64_t* records,
                              int64_t count) const {
  // This rank's share of the batch: positions [begin, end) of `count`.
  const int64_t begin = shard_begin(count, options_.shard, options_.shards);
  const int64_t end = shard_begin(count, options_.shard + 1, options_.shards);
  const int64_t n = end - begin;
  constexpr int64_t kInput = kPatches * kPatchFeatures;
  Batch batch;
  batch.size = n;
  batch.global_size = count;
  batch.first = begin;
  batch.records.assign(records + begin, records + end);
  std::vector<uint8_t> pixels;
  decode(epoch, records + begin, n, pixels, batch.labels);
  batch.patches.resize(static_cast<size_t>(n) * kInput);
  const MixDraw draw = draw_mix(options_.mix, options_.seed, mix_stream(epoch), index);
  if (!options_.mix.enabled()) {
    for (int64_t i = 0; i < n; ++i) {
      image_to_patches(pixels.data() + i * kPixelBytes, options_.normalization,
                       batch.patches.data() + i * kInput);
    }
    return batch;
  }
  // The partners of positions [begin, end) are positions [count - end, count - begin), in
  // reverse: image i of the share pairs with image n - 1 - i of `partners`. One process is its
  // own partner set.
  std::vector<uint8_t> decoded_partners;
  if (options_.shards > 1) {
    decode(epoch, records + count - end, n, decoded_partners, batch.partner_labels);
  } else {
    batch.partner_labels = batch.labels;
  }
  const std::vector<uint8_t>& partner_pixels = options_.shards > 1 ? decoded_partners : pixels;
  std::reverse(batch.partner_labels.begin(), batch.partner_labels.end());
  batch.mix_lambda = draw.lambda;
  uint8_t mixed[kPixelBytes];
  std::vector<float> partner(draw.cutmix ? 0 : kInput);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* own = pixels.data() + i * kPixelBytes;
    const uint8_t* other = partner_pixels.data() + (n - 1 - i) * kPixelBytes;
    float* input = batch.patches.data() + i * kInput;
    if (draw.cutmix) {
      std::copy(own, own + kPixelBytes, mixed);
      paste_box(draw, other, mixed);
      image_to_patches(mixed, options_.normalization, input);
    } else {
      image_to_patches(own, options_.normalization, input);
      image_to_patches(other, options_.normalization, partner.data());
      blend(draw.lambda, partner.data(), input, kInput);
    }
  }
  return batch;
}

void BatchLoader::produce(int worker, uint64_t epoch, int64_t first_batch) {
  const int64_t batches = batches_per_epoch(), workers = options_.workers;
  for (int64_t b = first_batch + worker; b < batches; b += workers) {
    {
      // At most `prefetch` batches wait beyond those being decoded: memory stays bounded.
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || b < next_ + options_.prefetch + workers; });
      if (stopping_ || (error_ && b > error_batch_)) break;
    }
    try {
      const int64_t first = b * options_.batch_size;
      const int64_t count = std::min<int64_t>(options_.batch_size, order_.size() - first);
      Batch batch = make_batch(epoch, b, order_.data() + first, count);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(b, std::move(batch));
      changed_.notify_all();
    } catch (...) {
      // The batches before this one are still delivered; next() then rethrows.
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_ || b < error_batch_) {
        error_ = std::current_exception();
        error_batch_ = b;
      }
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++finished_;
  changed_.notify_all();
}

bool BatchLoader::next(Batch& batch) {
  if (workers_.empty()) fail("loader: call start_epoch() before next()");
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] {
    return ready_.count(next_) != 0 || (error_ && next_ >= error_batch_) ||
           finished_ == options_.workers;
  });
  const auto found = ready_.find(next_);
  if (found != ready_.end()) {
    batch = std::move(found->second);
    ready_.erase(found);
    ++next_;
    changed_.notify_all();
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

void BatchLoader::stop() {
  if (workers_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  ready_.clear();
}

}  // namespace sav::data
