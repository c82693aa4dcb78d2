// Progress for long work: a live bar on stderr for a person at a terminal, or a plain line every
// tenth of the way for a log.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace sav {

// "1:05" or "2:03:45".
inline std::string clock_text(double seconds) {
  const long s = std::lround(seconds);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  }
  return text;
}

class ProgressBar {
 public:
  explicit ProgressBar(bool live) : live_(live) {}

  // `prefix` and `suffix` frame the bar: "epoch 1/3 [####....] 12/45 loss 2.1 ETA 0:40".
  void show(const std::string& prefix, int64_t done, int64_t total, const std::string& suffix,
            double eta_seconds) {
    const std::string eta = "ETA " + clock_text(std::max(eta_seconds, 0.0));
    if (live_) {
      const auto now = std::chrono::steady_clock::now();
      if (done != total && now - last_draw_ < std::chrono::milliseconds(100)) return;
      last_draw_ = now;
      constexpr int kWidth = 24;
      const int filled = total > 0 ? static_cast<int>(kWidth * done / total) : 0;
      std::fprintf(stderr, "\r\033[K%s [%s%s] %lld/%lld %s %s", prefix.c_str(),
                   std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                   static_cast<long long>(done), static_cast<long long>(total), suffix.c_str(),
                   eta.c_str());
      std::fflush(stderr);
    } else if (done % std::max<int64_t>(1, total / 10) == 0 || done == total) {
      if (done == last_line_) return;
      last_line_ = done;
      std::printf("%s %lld/%lld %s %s\n", prefix.c_str(), static_cast<long long>(done),
                  static_cast<long long>(total), suffix.c_str(), eta.c_str());
      std::fflush(stdout);
    }
  }

  // Clears the live bar before other output.
  void clear() {
    if (live_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool live_;
  std::chrono::steady_clock::time_point last_draw_{};
  int64_t last_line_ = -1;
};

}  // namespace sav
