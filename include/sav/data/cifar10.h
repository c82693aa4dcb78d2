// CIFAR-10, binary version: files of records of 1 label byte + 3,072 pixel bytes (1,024 R, then
// G, then B, each 32 x 32 row-major). Records are read from the files on demand, never loaded
// whole.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sav::data {

constexpr int kImageSide = 32, kChannels = 3, kClasses = 10;
constexpr int64_t kPixelBytes = kChannels * kImageSide * kImageSide;  // 3,072
constexpr int64_t kRecordBytes = 1 + kPixelBytes;                     // 3,073

// An ordered set of records drawn from one or more .bin files. Copies share the open files.
class RecordSet {
 public:
  RecordSet() = default;
  // Opens the files in order. Throws sav::Error naming the file when one is missing, not a
  // regular file (a FIFO or a device is refused before it is read: reading one could block or
  // never end), empty, or not a whole number of records.
  static RecordSet open(const std::vector<std::string>& paths);

  int64_t size() const { return size_; }
  // Records [first, first + count) of this set, sharing its files.
  RecordSet subset(int64_t first, int64_t count) const;
  // Reads record `index` into `pixels` (kPixelBytes) and returns its label. Throws sav::Error
  // naming the file and the record when the file ends early (it shrank since it was opened) or
  // the label is not a class.
  int read(int64_t index, uint8_t* pixels) const;
  // "data_batch_1.bin record 17": where record `index` of this set lives.
  std::string describe(int64_t index) const;

 private:
  struct File;
  struct Range {
    std::shared_ptr<const File> file;
    int64_t first;  // record index within the file
    int64_t count;
  };
  // The range holding record `index`, and the record's index within that range.
  std::pair<const Range*, int64_t> locate(int64_t index) const;

  std::vector<Range> ranges_;
  int64_t size_ = 0;
};

// The per-channel mean of a set of images in model-input units (byte / 255, the default
// normalisation): what the faithfulness measurement fills a deleted patch with. Reads every
// record; throws sav::Error for an empty set.
std::array<float, 3> channel_means(const RecordSet& images);

// The standard names, in label order: airplane, automobile, bird, ... truck.
const std::vector<std::string>& standard_class_names();

// Class names, one per line, from a batches.meta.txt; the standard names when the file does not
// exist. Throws sav::Error naming the file when it exists but is not a regular file, holds more
// than 64 KiB, or does not hold ten names.
std::vector<std::string> read_class_names(const std::string& meta_path);

struct Cifar10 {
  RecordSet train;  // data_batch_1.bin .. data_batch_5.bin: 50,000 records
  RecordSet test;   // test_batch.bin: 10,000 records
  std::vector<std::string> class_names;
};

// Opens the data set in `dir` (e.g. data/cifar-10-batches-bin). Errors say how to get it.
Cifar10 open_cifar10(const std::string& dir);

struct TrainValidation {
  RecordSet train, validation;
};

// Holds out the last `validation_count` training records for validation, so the held-out set
// does not change with `limit_train`; the training part is the first `limit_train` records of
// the rest (0: all of them). Throws when the counts do not fit.
TrainValidation split_train_validation(const RecordSet& train, int64_t validation_count,
                                       int64_t limit_train);

}  // namespace sav::data
