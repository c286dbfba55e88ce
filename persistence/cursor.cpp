#include "persistence/cursor.hpp"

#include <charconv>

#include <fmt/format.h>


namespace returnflow::persistence {

bool LooksLikeCaseId(std::string_view case_id) {
  if (case_id.size() != 36) return false;
  for (std::size_t index = 0; index < case_id.size(); ++index) {
    const char character = case_id[index];
    if (index == 8 || index == 13 || index == 18 || index == 23) {
      if (character != '-') return false;
    } else if (!((character >= '0' && character <= '9') || (character >= 'a' && character <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string EncodeCursor(const CursorPosition& position) {
  const auto plain = fmt::format("{}/{}", position.created_at, position.case_id);
  std::string hex;
  hex.reserve(plain.size() * 2);
  for (const unsigned char character : plain) hex += fmt::format("{:02x}", character);
  return hex;
}

std::optional<CursorPosition> DecodeCursor(std::string_view cursor) {
  // 20 digits, a slash and a 36-character id at most.
  if (cursor.empty() || cursor.size() % 2 != 0 || cursor.size() > 2 * 64) return std::nullopt;
  std::string plain;
  for (std::size_t index = 0; index < cursor.size(); index += 2) {
    unsigned value = 0;
    for (std::size_t offset = 0; offset < 2; ++offset) {
      const char digit = cursor[index + offset];
      value <<= 4;
      if (digit >= '0' && digit <= '9') {
        value |= static_cast<unsigned>(digit - '0');
      } else if (digit >= 'a' && digit <= 'f') {
        value |= static_cast<unsigned>(digit - 'a' + 10);
      } else {
        return std::nullopt;
      }
    }
    plain += static_cast<char>(value);
  }
  const auto slash = plain.find('/');
  if (slash == std::string::npos || slash == 0) return std::nullopt;
  CursorPosition position;
  const auto [end, error] = std::from_chars(plain.data(), plain.data() + slash, position.created_at);
  if (error != std::errc{} || end != plain.data() + slash || position.created_at < 0) return std::nullopt;
  position.case_id = plain.substr(slash + 1);
  if (!LooksLikeCaseId(position.case_id)) return std::nullopt;
  return position;
}

}  // namespace returnflow::persistence
