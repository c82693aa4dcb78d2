#include "sav/data/cifar10.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "sav/error.h"
#include "sav/io/input_file.h"

namespace sav::data {

// An open .bin file, closed with its last reference. Opened as an io::InputFile: a FIFO or a
// device in a batch file's place would otherwise block the open, or the reads, forever.
struct RecordSet::File {
  explicit File(const std::string& path) : input(path) {}

  io::InputFile input;
  int64_t records = 0;
};

namespace {

constexpr uint64_t kMaxClassNamesBytes = 64 * 1024;

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

RecordSet RecordSet::open(const std::vector<std::string>& paths) {
  RecordSet set;
  for (const std::string& path : paths) {
    auto file = std::make_shared<File>(path);
    const auto size = static_cast<int64_t>(file->input.size());
    if (size == 0) {
      fail(path, ": the file is empty (expected CIFAR-10 records of ", kRecordBytes, " bytes)");
    }
    if (size % kRecordBytes != 0) {
      fail(path, ": size ", size, " bytes is not a multiple of the ", kRecordBytes,
           "-byte CIFAR-10 record (a truncated or foreign file?)");
    }
    file->records = size / kRecordBytes;
    set.ranges_.push_back({file, 0, file->records});
    set.size_ += file->records;
  }
  return set;
}

RecordSet RecordSet::subset(int64_t first, int64_t count) const {
  if (first < 0 || count < 0 || first + count > size_) {
    fail("records [", first, ", ", first + count, ") are not within a set of ", size_);
  }
  RecordSet out;
  int64_t skip = first, left = count;
  for (const Range& range : ranges_) {
    if (left == 0) break;
    if (skip >= range.count) {
      skip -= range.count;
      continue;
    }
    const int64_t take = std::min(range.count - skip, left);
    out.ranges_.push_back({range.file, range.first + skip, take});
    out.size_ += take;
    left -= take;
    skip = 0;
  }
  return out;
}

std::pair<const RecordSet::Range*, int64_t> RecordSet::locate(int64_t index) const {
  if (index < 0 || index >= size_) fail("record ", index, " is not within a set of ", size_);
  for (const Range& range : ranges_) {
    if (index < range.count) return {&range, index};
    index -= range.count;
  }
  fail("record set: inconsistent ranges");  // unreachable: size_ is the sum of the counts
}

std::string RecordSet::describe(int64_t index) const {
  const auto [range, offset] = locate(index);
  return base_name(range->file->input.path()) + " record " + std::to_string(range->first + offset);
}

int RecordSet::read(int64_t index, uint8_t* pixels) const {
  const auto [range, offset] = locate(index);
  const File& file = *range->file;
  const int64_t record = range->first + offset;
  uint8_t buffer[kRecordBytes];
  int64_t done = 0;
  while (done < kRecordBytes) {
    const ssize_t got =
        ::pread(file.input.fd(), buffer + done, kRecordBytes - done, record * kRecordBytes + done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      fail(file.input.path(), " record ", record, ": read failed: ", std::strerror(errno));
    }
    if (got == 0) {
      fail(file.input.path(), " record ", record,
           ": the file ends early (it is shorter than when "
           "it was opened; was it changed while being read?)");
    }
    done += got;
  }
  const int label = buffer[0];
  if (label >= kClasses) {
    fail(file.input.path(), " record ", record, ": label byte ", label, " is not a class (0-9); ",
         "is this a CIFAR-10 binary file (not CIFAR-100)?");
  }
  std::memcpy(pixels, buffer + 1, kPixelBytes);
  return label;
}

std::array<float, 3> channel_means(const RecordSet& images) {
  if (images.size() == 0) fail("no images to take the channel means of");
  std::array<double, 3> sums{0, 0, 0};
  std::vector<uint8_t> pixels(kPixelBytes);
  const int plane = kImageSide * kImageSide;
  for (int64_t i = 0; i < images.size(); ++i) {
    images.read(i, pixels.data());
    for (int c = 0; c < kChannels; ++c) {
      uint64_t sum = 0;
      for (int p = 0; p < plane; ++p) sum += pixels[static_cast<size_t>(c * plane + p)];
      sums[c] += static_cast<double>(sum);
    }
  }
  std::array<float, 3> means{};
  for (int c = 0; c < kChannels; ++c) {
    means[c] = static_cast<float>(sums[c] / (255.0 * plane * static_cast<double>(images.size())));
  }
  return means;
}

const std::vector<std::string>& standard_class_names() {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

std::vector<std::string> read_class_names(const std::string& meta_path) {
  struct stat info {};
  if (::stat(meta_path.c_str(), &info) != 0 && errno == ENOENT) return standard_class_names();
  // Ten names take about 70 bytes; a larger file is not a class list.
  std::istringstream in(io::read_small_file(meta_path, kMaxClassNamesBytes));
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const size_t begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos) continue;
    names.push_back(line.substr(begin, line.find_last_not_of(" \t\r") - begin + 1));
  }
  if (names.size() != static_cast<size_t>(kClasses)) {
    fail(meta_path, ": holds ", names.size(), " class names, expected ", kClasses,
         " (one per line)");
  }
  return names;
}

Cifar10 open_cifar10(const std::string& dir) {
  const char* hint = " (run 'make data', or pass --data DIR)";
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) fail("cannot open ", dir, ": ", std::strerror(errno), hint);
  if (!S_ISDIR(info.st_mode)) fail(dir, ": not a folder", hint);
  std::vector<std::string> train_files;
  for (int i = 1; i <= 5; ++i) {
    train_files.push_back(dir + "/data_batch_" + std::to_string(i) + ".bin");
  }
  const std::string test_file = dir + "/test_batch.bin";
  for (const std::string& file : train_files) {
    if (::access(file.c_str(), R_OK) != 0) {
      fail("cannot open ", file, ": ", std::strerror(errno), hint);
    }
  }
  if (::access(test_file.c_str(), R_OK) != 0) {
    fail("cannot open ", test_file, ": ", std::strerror(errno), hint);
  }
  return {RecordSet::open(train_files), RecordSet::open({test_file}),
          read_class_names(dir + "/batches.meta.txt")};
}

TrainValidation split_train_validation(const RecordSet& train, int64_t validation_count,
                                       int64_t limit_train) {
  if (validation_count < 0 || validation_count >= train.size()) {
    fail("validation split of ", validation_count,
         " records: must be at least 0 and leave some of the ", train.size(),
         " training records to train on");
  }
  const int64_t rest = train.size() - validation_count;
  if (limit_train < 0) fail("training limit ", limit_train, ": must be 0 (no limit) or positive");
  const int64_t used = limit_train == 0 ? rest : std::min(limit_train, rest);
  return {train.subset(0, used), train.subset(rest, validation_count)};
}

}  // namespace sav::data
