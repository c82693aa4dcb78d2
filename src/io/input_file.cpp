#include "sav/io/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sav/error.h"

namespace sav::io {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

[[noreturn]] void refuse(const std::string& name, mode_t mode) {
  fail("cannot open ", name, ": it is ", kind_of(mode),
       ", not a regular file (sav reads only "
       "regular files)");
}

}  // namespace

InputFile::InputFile(std::string path, const std::string& what) : path_(std::move(path)) {
  const std::string name = what.empty() ? path_ : what + " " + path_;
  // stat first, so that opening never touches a device; then O_NONBLOCK, so that a FIFO put in
  // the file's place in between does not block the open, and fstat on what was opened.
  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) fail("cannot open ", name, ": ", std::strerror(errno));
  if (!S_ISREG(info.st_mode)) refuse(name, info.st_mode);
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) fail("cannot open ", name, ": ", std::strerror(errno));
  const bool stat_ok = ::fstat(fd_, &info) == 0;
  const int error = errno;
  if (!stat_ok || !S_ISREG(info.st_mode)) {
    ::close(fd_);
    if (!stat_ok) fail("cannot open ", name, ": ", std::strerror(error));
    refuse(name, info.st_mode);
  }
  size_ = static_cast<uint64_t>(info.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void InputFile::read_at(void* out, uint64_t bytes, uint64_t offset) const {
  auto* cursor = static_cast<char*>(out);
  uint64_t done = 0;
  while (done < bytes) {
    const ssize_t got = ::pread(fd_, cursor + done, bytes - done, offset + done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(path_, ": read failed at byte ", offset + done, ": ", std::strerror(errno));
    if (got == 0) {
      fail(path_, ": the file ends at byte ", offset + done, ", before the ", offset + bytes,
           " it held when opened (was it changed while being read?)");
    }
    done += static_cast<uint64_t>(got);
  }
}

std::string read_small_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
  const InputFile file(path, what);
  if (file.size() > max_bytes) {
    fail("cannot open ", what.empty() ? path : what + " " + path, ": it holds ", file.size(),
         " bytes, more than the ", max_bytes, " sav reads from such a file");
  }
  std::string text(file.size(), '\0');
  file.read_at(text.data(), text.size(), 0);
  return text;
}

}  // namespace sav::io
