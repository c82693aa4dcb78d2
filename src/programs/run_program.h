// The top of every program: a sav::UsageError (a bad flag, file or value) exits with status 2,
// any other failure with 1, each with the program's name and the message on stderr.
#pragma once

#include <exception>
#include <iostream>

#include "sav/error.h"

namespace sav {

template <typename Run>
int run_program(const char* name, Run&& run) {
  try {
    return run();
  } catch (const UsageError& e) {
    std::cerr << name << ": " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace sav
