// Errors. The library throws sav::Error with a message that names what was wrong and where;
// programs catch it at the top and exit non-zero. Nothing in the library calls exit().
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace sav {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A mistake in how a program was called (a flag, a configuration file): programs exit with
// status 2 for these and 1 for everything else.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(message) {}
};

namespace detail {
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}
}  // namespace detail

// Throws sav::Error with the parts streamed together: fail("linear: input ", shape, " ...").
template <typename... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(detail::concat(std::forward<Parts>(parts)...));
}

template <typename... Parts>
[[noreturn]] void usage_fail(Parts&&... parts) {
  throw UsageError(detail::concat(std::forward<Parts>(parts)...));
}

}  // namespace sav
