// Files sav reads (configurations, checkpoints, CIFAR-10 batches), opened only once they are
// known to be regular files: reading a FIFO can block forever and reading a device such as
// /dev/zero never ends, so both are refused before a byte is read.
#pragma once

#include <cstdint>
#include <string>

namespace sav::io {

class InputFile {
 public:
  // Opens `path` for reading. Throws sav::Error, "cannot open [<what> ]<path>: <why>", when it
  // does not exist, cannot be opened, or is not a regular file (a folder, a FIFO, a device, a
  // socket). `what` says what the file is for ("configuration").
  explicit InputFile(std::string path, const std::string& what = "");
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }  // when it was opened

  // Reads exactly `bytes` bytes at `offset`. Throws sav::Error naming the file when it ends
  // early (it shrank since it was opened) or the read fails.
  void read_at(void* out, uint64_t bytes, uint64_t offset) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The whole of the regular file `path`, refused before reading when it holds more than
// `max_bytes` (a configuration is a few hundred bytes; the bound keeps a wrong file, such as a
// data set passed by mistake, from being read into memory whole). Errors as InputFile's.
std::string read_small_file(const std::string& path, uint64_t max_bytes,
                            const std::string& what = "");

}  // namespace sav::io
