#include "sav/io/json.h"

namespace sav::io {
namespace {

// The length of the longest prefix of text[0, max_chars) that does not end inside a UTF-8
// character.
size_t cut_at_character(std::string_view text, size_t max_chars) {
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

}  // namespace

size_t find_excess_nesting(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, which may be a quote
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string::npos;
}

std::string quote(std::string_view text, size_t max_chars) {
  if (text.size() <= max_chars) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, cut_at_character(text, max_chars))) + "...'";
}

std::string shorten(std::string_view message, size_t max_chars) {
  if (message.size() <= max_chars) return std::string(message);
  return std::string(message.substr(0, cut_at_character(message, max_chars))) + "...";
}

}  // namespace sav::io
