// Batches for training and evaluation, decoded on background threads while the model works.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "sav/data/augment.h"
#include "sav/data/cifar10.h"
#include "sav/data/images.h"
#include "sav/data/mix.h"

namespace sav::data {

constexpr int kMaxLoaderWorkers = 64;

struct LoaderOptions {
  int64_t batch_size = 100;
  bool shuffle = true;     // a new order every epoch, a pure function of (seed, epoch)
  bool drop_last = false;  // drop a last, partial batch
  uint64_t seed = 42;
  Normalization normalization;
  // Training augmentations (off in the seed recipe), drawn per (seed, epoch, record).
  bool flip = false;     // horizontal mirror with probability 1/2
  int crop_padding = 0;  // random crop of the image zero-padded by this many pixels (e.g. 4)
  // TrivialAugment or RandAugment (augment.h; off by default), on the bytes after the crop and
  // the flip, as torchvision's recipes order them (RandomCrop, RandomHorizontalFlip, then the
  // policy). Drawn from Philox stream policy_stream(epoch) by record (draw_augment_ops).
  AugmentPolicy augment;
  // Mixup and CutMix (mix.h; off by default), last: CutMix on the bytes after the policy, Mixup
  // on the model's input. Drawn per (seed, epoch, batch) from Philox stream mix_stream(epoch).
  // Under shards, a rank decodes its share's partners too, so that the batches are one
  // process's.
  MixOptions mix;
  int prefetch = 2;  // batches decoded ahead of the model, beyond those being decoded
  // Background threads decoding batches, each its own batches (batch b on thread b % workers):
  // the batches and their order do not depend on it. One keeps a CPU model fed; a GPU takes
  // batches faster than one thread augments them.
  int workers = 1;
  // A rank's share of every batch, when `shards` ranks split it (data-parallel training): rows
  // [shard_begin(shard), shard_begin(shard + 1)) of each batch of batch_size, where
  // shard_begin(s) = floor(s * size / shards) for a batch of `size` images. The order, the
  // augmentations and the batches are those of one process; a share may be empty.
  int shard = 0;
  int shards = 1;
};

// Where share `shard` of `shards` begins in a batch of `size` images.
int64_t shard_begin(int64_t size, int shard, int shards);

// The Philox stream of epoch `epoch`'s TrivialAugment / RandAugment draws (under
// LoaderOptions::seed): apart from the streams of the order and of the flip and crop.
uint64_t policy_stream(uint64_t epoch);

// The Philox stream of epoch `epoch`'s Mixup / CutMix draws: apart from the others above.
uint64_t mix_stream(uint64_t epoch);

struct Batch {
  int64_t size = 0;
  std::vector<float> patches;    // [size, 64, 48]
  std::vector<int32_t> labels;   // [size]
  std::vector<int64_t> records;  // [size] indices into the loader's RecordSet
  // A share of a batch (LoaderOptions::shards): the whole batch's size, and the position in it
  // of this share's first image. One process's batch: global_size == size, first == 0.
  int64_t global_size = 0;
  int64_t first = 0;
  // Under Mixup or CutMix: the weight of each image's own label, and its partner's label (of
  // weight 1 - mix_lambda). Without: 1 and empty.
  float mix_lambda = 1;
  std::vector<int32_t> partner_labels;  // [size]
};

class BatchLoader {
 public:
  // Throws sav::Error for a batch size below 1, an empty set, or bad augmentation settings.
  BatchLoader(RecordSet records, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Starts (or restarts) epoch `epoch`; its batches are decoded in the background from now on.
  // With `first_batch`, the epoch starts there, as if that many batches had been taken (a run
  // resumed in the middle of an epoch): the order and augmentations depend on the seed, the
  // epoch and the record only, so the rest of the epoch is what it would have been.
  void start_epoch(uint64_t epoch, int64_t first_batch = 0);
  // The next batch of the current epoch into `batch`; false when the epoch is over. Rethrows
  // a read error (naming the file and record) from the background thread.
  bool next(Batch& batch);

  int64_t batches_per_epoch() const;
  int64_t size() const { return records_.size(); }
  // The order in which epoch `epoch` visits the records: every record exactly once.
  std::vector<int64_t> epoch_order(uint64_t epoch) const;

 private:
  // Worker `worker`'s share of the epoch: batches first_batch + worker + k * workers.
  void produce(int worker, uint64_t epoch, int64_t first_batch);
  // Batch `index` of epoch `epoch`, whose images are `records`: this rank's share of it.
  Batch make_batch(uint64_t epoch, int64_t index, const int64_t* records, int64_t count) const;
  // Images `records` after the crop, flip and policy: kPixelBytes each, and their labels.
  void decode(uint64_t epoch, const int64_t* records, int64_t count, std::vector<uint8_t>& pixels,
              std::vector<int32_t>& labels) const;
  void stop();

  RecordSet records_;
  LoaderOptions options_;

  std::vector<std::thread> workers_;
  std::vector<int64_t> order_;  // the current epoch's, read by the workers
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int64_t, Batch> ready_;  // decoded batches by index, not yet taken
  int64_t next_ = 0;                // the index next() returns next
  int finished_ = 0;                // workers that have produced their last batch
  bool stopping_ = false;           // asks the workers to quit early
  std::exception_ptr error_;        // the first failure, at batch error_batch_
  int64_t error_batch_ = 0;
};

}  // namespace sav::data
