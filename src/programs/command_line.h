// What the programs' command lines share.
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <optional>
#include <string>
#include <thread>

#include "sav/device.h"
#include "sav/dist/communicator.h"

namespace sav {

// Parses the command line into the variables bound to `app`'s flags. Returns the exit status
// when the program ends here: 0 after --help, 2 for a flag refused (CLI11 prints why).
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return std::nullopt;
}

// The device named by --device (cpu, cuda, cuda:N, auto) for this process of the job: under
// mpirun, `cuda` and `auto` mean this rank's own GPU of its machine, cuda:<local rank>; a device
// named with its index is taken as given.
inline Device job_device(const std::string& name, const dist::Communicator& job) {
  const Device device = parse_device(name);
  if (device.type == DeviceType::kCuda && job.size() > 1 && (name == "cuda" || name == "auto")) {
    return Device::cuda(job.local_rank());
  }
  return device;
}

// The CPU threads a process of the job takes for --threads N: N where given; otherwise (0) its
// part of this machine's cores, shared with the job's other processes here.
inline int job_threads(int threads, const dist::Communicator& job) {
  if (threads != 0 || job.local_size() == 1) return threads;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / job.local_size());
}

}  // namespace sav
