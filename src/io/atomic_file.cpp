#include "sav/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sav/error.h"

namespace sav::io {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), temporary_(path_ + ".tmp") {
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    fail("cannot write ", path_, ": cannot create ", temporary_, ": ", std::strerror(errno));
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
}

void AtomicFile::fail_step(const std::string& step) {
  const int saved = errno;
  fail("cannot write ", path_, ": ", step, " failed: ", std::strerror(saved));
}

void AtomicFile::write(const void* data, size_t bytes) {
  const char* next = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t put = ::write(fd_, next, bytes);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) fail_step("writing " + temporary_);
    next += put;
    bytes -= static_cast<size_t>(put);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail_step("syncing " + temporary_);
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) fail_step("closing " + temporary_);
  if (::rename(temporary_.c_str(), path_.c_str()) != 0) {
    fail_step("renaming " + temporary_ + " over it");
  }
  committed_ = true;
  // A rename is durable once its folder is synced; some filesystems refuse to sync a folder,
  // which loses nothing that was not already at risk, so this is best effort.
  const std::string folder = std::filesystem::path(path_).parent_path().string();
  const int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace sav::io
