// Files written whole or not at all: the bytes go to `path`.tmp, which is synced and then
// renamed over `path`, so a crash or a full disk never leaves half a checkpoint, map or picture.
#pragma once

#include <cstddef>
#include <string>

namespace sav::io {

class AtomicFile {
 public:
  // Creates path + ".tmp". Throws sav::Error naming `path` when it cannot.
  explicit AtomicFile(std::string path);
  // Removes the temporary file unless commit() succeeded.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  // Syncs, closes and renames the temporary file over `path`, then syncs the folder.
  void commit();

 private:
  [[noreturn]] void fail_step(const std::string& step);

  std::string path_, temporary_;
  int fd_ = -1;
  bool committed_ = false;
};

// `bytes` as the whole content of `path`, through an AtomicFile.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace sav::io
