// Helpers shared by the tests: a temporary folder, the message of an expected error, and a
// watchdog for readers that must not block on a FIFO.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sav/error.h"

namespace sav::testing {

// A fresh folder under the test temporary directory, removed with everything in it.
class TempFolder {
 public:
  TempFolder() {
    std::string templ = ::testing::TempDir() + "sav_test_XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempFolder() { std::filesystem::remove_all(path_); }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  std::string write_bytes(const std::string& name, const std::vector<uint8_t>& bytes) const {
    std::ofstream out(file(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    return file(name);
  }

 private:
  std::string path_;
};

// The message of the sav::Error that `action` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Creates a FIFO at `path`. Reading one blocks until a writer comes; if the code under test
// opens it, the watchdog comes as a writer after 2 s (and again every 50 ms for any later wait),
// so that a regression makes the test fail (blocked() is true) rather than hang.
class FifoWatchdog {
 public:
  explicit FifoWatchdog(std::string path) : path_(std::move(path)) {
    if (::mkfifo(path_.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
    thread_ = std::thread([this] {
      for (int i = 0; !done_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (i < 40) continue;
        // Succeeds only while a reader is waiting in open(), which it releases.
        const int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK);
        if (fd >= 0) {
          blocked_ = true;
          ::close(fd);
        }
      }
    });
  }
  ~FifoWatchdog() {
    done_ = true;
    thread_.join();
  }
  // Whether the code under test was found blocked on the FIFO (call after it returned).
  bool blocked() {
    done_ = true;
    thread_.join();
    thread_ = std::thread([] {});
    return blocked_;
  }

 private:
  std::string path_;
  std::atomic<bool> done_{false}, blocked_{false};
  std::thread thread_;
};

}  // namespace sav::testing
