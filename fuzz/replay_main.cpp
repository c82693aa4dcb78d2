// Runs a fuzz target's LLVMFuzzerTestOneInput over files, without libFuzzer: what lets the normal
// build (any compiler) rerun every seed and every input that ever crashed a fuzzer.
// Usage: fuzz_replay_<target> FOLDER_OR_FILE...
// Each input runs in a child process, so that every failing input is named, not only the first,
// and one that hangs is stopped.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// Far above what any input of a corpus should take, even under sanitizers.
constexpr unsigned kSecondsPerInput = 60;

std::vector<std::string> inputs_in(const std::vector<std::string>& arguments) {
  std::vector<std::string> files;
  for (const std::string& argument : arguments) {
    if (fs::is_directory(argument)) {
      for (const fs::directory_entry& entry : fs::directory_iterator(argument)) {
        if (entry.is_regular_file()) files.push_back(entry.path().string());
      }
    } else {
      files.push_back(argument);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

[[noreturn]] void run_one(const std::string& path) {
  ::alarm(kSecondsPerInput);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot open " << path << "\n";
    ::_exit(2);
  }
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> files = inputs_in({argv + 1, argv + argc});
  if (files.empty()) {
    std::cerr << "usage: " << argv[0] << " FOLDER_OR_FILE... (no input files found)\n";
    return 2;
  }
  int failed = 0;
  for (const std::string& path : files) {
    std::cout.flush();
    const pid_t child = ::fork();
    if (child < 0) {
      std::cerr << "fork failed: " << std::strerror(errno) << "\n";
      return 2;
    }
    if (child == 0) run_one(path);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      std::cout << "ok      " << path << "\n";
      continue;
    }
    ++failed;
    std::cout << "FAILED  " << path << ": ";
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
      std::cout << "still running after " << kSecondsPerInput << " s\n";
    } else if (WIFSIGNALED(status)) {
      std::cout << "killed by signal " << WTERMSIG(status) << " (" << strsignal(WTERMSIG(status))
                << ")\n";
    } else {
      std::cout << "exit status " << WEXITSTATUS(status) << "\n";
    }
  }
  std::cout << files.size() << " inputs replayed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
