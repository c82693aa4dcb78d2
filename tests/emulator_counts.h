// The CUDA emulator's counts of kernel launches, cuBLAS calls and host synchronisations, read
// through the emulated CUDA module that the registry loaded (SAV_CUDA_MODULE_PATH names it). On a
// real GPU, or with no CUDA module loaded, there is nothing to read.
#pragma once

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sav::testing {

struct EmulatorCounts {
  std::map<std::string, long long> calls;             // kernel launches and cuBLAS calls
  std::map<std::string, long long> synchronisations;  // calls that made the host wait
  std::map<std::string, long long> graph_nodes;       // what replayed graphs ran

  static long long total(const std::map<std::string, long long>& table) {
    long long sum = 0;
    for (const auto& entry : table) sum += entry.second;
    return sum;
  }
  long long launches() const { return total(calls); }
  long long waits() const { return total(synchronisations); }
  long long nodes() const { return total(graph_nodes); }
};

class EmulatorCounter {
 public:
  // The counter of the emulated module already loaded, or nothing where there is none.
  static std::optional<EmulatorCounter> find() {
    const char* path = std::getenv("SAV_CUDA_MODULE_PATH");
    if (path == nullptr || *path == 0) return std::nullopt;
    void* module = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (module == nullptr) return std::nullopt;
    EmulatorCounter counter;
    counter.counts_ = reinterpret_cast<CountsFn>(dlsym(module, "sav_cuda_emulator_counts"));
    counter.reset_ = reinterpret_cast<ResetFn>(dlsym(module, "sav_cuda_emulator_reset_counts"));
    if (counter.counts_ == nullptr || counter.reset_ == nullptr) return std::nullopt;
    return counter;
  }

  void reset() const { reset_(); }

  EmulatorCounts read() const {
    EmulatorCounts result;
    for (int kind = 0; kind < 3; ++kind) {
      auto& table = kind == 0   ? result.calls
                    : kind == 1 ? result.synchronisations
                                : result.graph_nodes;
      const int n = counts_(kind, nullptr, nullptr, 0);
      std::vector<const char*> names(static_cast<size_t>(n));
      std::vector<long long> counts(static_cast<size_t>(n));
      counts_(kind, names.data(), counts.data(), n);
      for (int i = 0; i < n; ++i) table[names[i]] = counts[i];
    }
    return result;
  }

 private:
  using CountsFn = int (*)(int, const char**, long long*, int);
  using ResetFn = void (*)();
  CountsFn counts_ = nullptr;
  ResetFn reset_ = nullptr;
};

}  // namespace sav::testing
