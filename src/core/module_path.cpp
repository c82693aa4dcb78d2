#include "sav/module_path.h"

#include <unistd.h>

#include <climits>

namespace sav {

std::vector<std::string> module_candidates(const std::string& file_name,
                                           const std::string& build_path) {
  std::vector<std::string> candidates;
  char exe[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (length > 0) {
    std::string folder(exe, static_cast<size_t>(length));
    folder.resize(folder.rfind('/') + 1);
    candidates.push_back(folder + file_name);
  }
  candidates.push_back(build_path);
  return candidates;
}

}  // namespace sav
