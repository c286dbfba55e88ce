#pragma once
// Small helpers for reading and writing the workflow's JSON forms with Boost.JSON (private).
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

/// A field that is missing or of the wrong shape. The message names the field, never its value.
class FieldError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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

inline std::int64_t Integer(const json::value& value, std::string_view key) {
  if (value.is_int64()) return value.get_int64();
  if (value.is_uint64() && value.get_uint64() <= INT64_MAX) return static_cast<std::int64_t>(value.get_uint64());
  throw FieldError(fmt::format("'{}' must be an integer", key));
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
