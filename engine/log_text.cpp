#include "engine/log_text.hpp"

namespace returnflow::engine {

std::string EscapeForLog(std::string_view text, std::size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit) + 3);
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t used = 0;
  for (const char character : text) {
    if (used >= limit) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(character);
    if (byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\') {
      out += character;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
    ++used;
  }
  return out;
}

}  // namespace returnflow::engine
