// The top of every program: a sav::UsageError (a bad flag, file or value) exits with status 2,
// any other failure with 1, each with the program's name and the message on stderr. In a job of
// several processes (mpirun) the message names the rank, and the failing rank ends the whole job:
// the others would otherwise wait for it in their next collective forever.
#pragma once

#include <chrono>
#include <exception>
#include <iostream>
#include <string>
#include <thread>

#include "sav/dist/communicator.h"
#include "sav/error.h"

namespace sav {

namespace detail {

inline int report_failure(const char* name, const char* message, int status) {
  dist::Communicator& world = dist::world();
  // One write of the whole line: unbuffered, each piece would be a write of its own, and in a job
  // the other ranks' output can land between them (mpirun merges the ranks' streams).
  const std::string rank = world.size() == 1 ? std::string()
                                             : " (rank " + std::to_string(world.rank()) + " of " +
                                                   std::to_string(world.size()) + ")";
  std::cerr << std::string(name) + rank + ": " + message + "\n" << std::flush;
  if (world.size() == 1) return status;
  // A rank's output reaches mpirun through Open MPI's daemons; ending the job at once can lose
  // the lines still on their way, this message among them. Two seconds let them arrive, even on
  // a busy machine.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  world.abort(status);
  return status;  // not reached: abort ends the job
}

}  // namespace detail

template <typename Run>
int run_program(const char* name, Run&& run) {
  try {
    return run();
  } catch (const UsageError& e) {
    return detail::report_failure(name, e.what(), 2);
  } catch (const std::exception& e) {
    return detail::report_failure(name, e.what(), 1);
  }
}

}  // namespace sav
