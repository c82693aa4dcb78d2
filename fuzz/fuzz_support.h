// What the fuzz targets share: the input as a file the readers can open, and the rule that a
// refused input (sav::Error) is an expected outcome while anything else escaping is a finding.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sav/error.h"

namespace sav::fuzz {

// Larger inputs are skipped: every format's interesting structure fits in far fewer bytes, and
// libFuzzer explores more inputs a second when each is small.
constexpr size_t kMaxInputBytes = size_t{1} << 20;

// Ends the run as a crash: the reader accepted the input but broke a promise its header makes.
[[noreturn]] inline void broken(const char* promise) {
  std::fprintf(stderr, "broken promise: %s\n", promise);
  std::abort();
}

// The input as a file, for readers that take a path. A memfd: no disk traffic, nothing left
// behind when a run is killed, and a regular file to fstat. Its path is /proc/self/fd/N.
class InputFile {
 public:
  InputFile(const uint8_t* data, size_t size) {
    fd_ = ::memfd_create("sav-fuzz-input", MFD_CLOEXEC);
    if (fd_ < 0) broken("memfd_create succeeds");
    for (size_t done = 0; done < size;) {
      const ssize_t wrote = ::write(fd_, data + done, size - done);
      if (wrote <= 0) broken("the input can be written to a memfd");
      done += static_cast<size_t>(wrote);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Runs `read`. sav::Error (UsageError included) is how the library refuses bad input, so it is
// caught; any other exception escapes and terminates the run, which libFuzzer reports.
template <typename Read>
void refusal_is_fine(Read&& read) {
  try {
    read();
  } catch (const Error&) {
  }
}

}  // namespace sav::fuzz
