// Limits for JSON read from files (configurations, safetensors headers), checked on the text
// before it is parsed, and short quotations of untrusted text for error messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sav::io {

// The deepest nesting of arrays and objects sav accepts. Its own files nest 3 levels; the limit
// exists because nlohmann::json copies and prints values recursively, so a file of 100,000 '['
// would overflow the stack.
constexpr int kMaxJsonDepth = 32;

// Where `text` first nests arrays and objects deeper than `max_depth` (the byte offset of the
// bracket that does), or std::string::npos when it never does. A linear scan that skips the
// contents of strings; it does not validate the JSON, which the parser does afterwards.
size_t find_excess_nesting(std::string_view text, int max_depth = kMaxJsonDepth);

// `text` in quotes for an error message: whole when it has at most `max_chars` bytes, else its
// first bytes (not cutting a UTF-8 character) and "...", so a 1 MB key or value is never
// echoed whole.
std::string quote(std::string_view text, size_t max_chars = 40);

// The first `max_chars` bytes of a message from elsewhere (a JSON parser's, which quotes the
// token it stopped at, however long), with "..." when cut.
std::string shorten(std::string_view message, size_t max_chars = 200);

}  // namespace sav::io
