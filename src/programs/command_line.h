// What the programs' command lines share.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

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

}  // namespace sav
