// Where sav looks for a module it loads on first use (the CUDA backend, NCCL's communicator).
#pragma once

#include <string>
#include <vector>

namespace sav {

// The places to try, in order, for the module `file_name` that the build put at `build_path`:
// beside the running program first (the programs and the modules are built into one folder),
// then `build_path`.
std::vector<std::string> module_candidates(const std::string& file_name,
                                           const std::string& build_path);

}  // namespace sav
