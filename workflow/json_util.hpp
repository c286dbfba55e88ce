#pragma once
// Small helpers for reading and writing the workflow's JSON forms with Boost.JSON (private).
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "workflow/dates.hpp"
#include "workflow/vocabulary.hpp"

namespace returnflow::workflow::json_util {

namespace json = boost::json;

/// A field that is missing or of the wrong shape. The message names the field, never its value;
/// `pointer` is where it is, as a JSON pointer relative to the object decoded ("/findings/0/member_id").
class FieldError : public std::runtime_error {
 public:
  explicit FieldError(const std::string& message, std::string pointer = {})
      : std::runtime_error(message), pointer_(std::move(pointer)) {}
  const std::string& Pointer() const { return pointer_; }

 private:
  std::string pointer_;
};

/// A JSON pointer reference token for `key` (RFC 6901: '~' as "~0", '/' as "~1"). A key is the caller's
/// text: past 64 bytes it is cut (at a character boundary) and marked with "...", so that an error never
/// carries a long caller value back.
inline std::string PointerToken(std::string_view key) {
  constexpr std::size_t kMaxKey = 64;
  bool cut = false;
  if (key.size() > kMaxKey) {
    std::size_t end = kMaxKey;
    while (end > 0 && (static_cast<unsigned char>(key[end]) & 0xC0) == 0x80) --end;  // UTF-8 continuation
    key = key.substr(0, end);
    cut = true;
  }
  std::string token;
  for (const char character : key) {
    if (character == '~') token += "~0";
    else if (character == '/') token += "~1";
    else token += character;
  }
  if (cut) token += "...";
  return token;
}

/// Refuses any member of `object` not in `allowed`, naming the first as a JSON pointer under `at`.
/// Unknown members are refused rather than ignored: nothing (personal data least of all) may ride along
/// in a field the engine would store without reading.
inline void OnlyFields(const json::object& object, std::initializer_list<std::string_view> allowed,
                       const std::string& at = {}) {
  for (const auto& member : object) {
    bool known = false;
    for (const auto name : allowed) known = known || member.key() == name;
    if (!known) {
      const std::string pointer = at + "/" + PointerToken(member.key());
      throw FieldError(fmt::format("'{}' is not a field of this object", pointer.substr(1)), pointer);
    }
  }
}

inline const json::value* Find(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return (value == nullptr || value->is_null()) ? nullptr : value;
}

inline const json::value& Require(const json::object& object, std::string_view key) {
  const auto* value = Find(object, key);
  if (value == nullptr) throw FieldError(fmt::format("'{}' is required", key));
  return *value;
}

inline std::string String(const json::value& value, std::string_view key) {
  if (!value.is_string()) throw FieldError(fmt::format("'{}' must be a string", key));
  return std::string(value.get_string());
}

inline bool Bool(const json::value& value, std::string_view key) {
  if (!value.is_bool()) throw FieldError(fmt::format("'{}' must be a boolean", key));
  return value.get_bool();
}

/// Every integer of the saved form is a count, a year or a limit kept in an int. One beyond 10^9 either
/// way is not one this program wrote, and refusing it keeps a restored count from overflowing the int on
/// its next increment (undefined behaviour: a tampered "no_shows": 2147483647 then a no-show).
inline constexpr std::int64_t kMaxSavedInteger = 1'000'000'000;

inline std::int64_t Integer(const json::value& value, std::string_view key) {
  if (!value.is_int64() && !value.is_uint64()) throw FieldError(fmt::format("'{}' must be an integer", key));
  const auto* number = value.if_int64();  // a uint64 is past INT64_MAX: out of range too
  if (number == nullptr || *number < -kMaxSavedInteger || *number > kMaxSavedInteger) {
    throw FieldError(fmt::format("'{}' is out of range", key));
  }
  return *number;
}

inline double Number(const json::value& value, std::string_view key) {
  if (!value.is_number()) throw FieldError(fmt::format("'{}' must be a number", key));
  return value.to_number<double>();
}

inline Date DateField(const json::value& value, std::string_view key) {
  const auto parsed = value.is_string() ? ParseDate(value.get_string()) : std::nullopt;
  if (!parsed) throw FieldError(fmt::format("'{}' must be a date (YYYY-MM-DD)", key));
  return *parsed;
}

inline Instant InstantField(const json::value& value, std::string_view key) {
  const auto parsed = value.is_string() ? ParseInstant(value.get_string()) : std::nullopt;
  if (!parsed) throw FieldError(fmt::format("'{}' must be an RFC 3339 timestamp", key));
  return *parsed;
}

template <typename Enum, std::size_t N>
Enum EnumField(const json::value& value, std::string_view key, const std::array<std::string_view, N>& names) {
  const auto parsed = value.is_string() ? FromName<Enum>(value.get_string(), names) : std::nullopt;
  if (!parsed) {
    std::string allowed;
    for (const auto name : names) allowed += fmt::format("{}{}", allowed.empty() ? "" : ", ", name);
    throw FieldError(fmt::format("'{}' must be one of: {}", key, allowed));
  }
  return *parsed;
}

}  // namespace returnflow::workflow::json_util
