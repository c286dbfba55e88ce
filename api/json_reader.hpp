#pragma once
// Strict reading of JSON request bodies, shared by the decoders of api/ (not public): members a request
// does not define are refused, every string has a limit, problems name members by JSON pointer without
// echoing what the caller sent.
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/problem.hpp"
#include "workflow/vocabulary.hpp"

namespace returnflow::api {

/// A JSON pointer token for a member name the caller chose: cut at 64 bytes, never echoing more.
inline std::string PointerToken(std::string_view key) {
  std::string token;
  std::size_t used = 0;
  for (const char character : key) {
    if (used++ >= 64) {
      token += "...";
      break;
    }
    if (character == '~') token += "~0";
    else if (character == '/') token += "~1";
    else token += character;
  }
  return token;
}

inline Problem InvalidMember(const std::string& pointer, std::string_view why) {
  const std::string name = pointer.empty() ? std::string("the body") : "'" + pointer.substr(1) + "'";
  return Problem(ProblemKind::kInvalidRequest, fmt::format("{} {}", name, why), {{"pointer", pointer}});
}

/// Why an organisation id was refused (workflow::ValidOrganisationId).
inline constexpr std::string_view kOrganisationIdRule =
    "must be an organisation id: 1 to 64 of a-z, A-Z, 0-9, '-', '_' and '.', starting with a letter or digit";

/// Reads members of one JSON object at `at` (a JSON pointer), remembering the first problem. Members not
/// in `fields` are a problem of their own.
class Reader {
 public:
  Reader(const boost::json::object& object, std::string at, const std::vector<std::string_view>& fields)
      : object_(object), at_(std::move(at)) {
    for (const auto& member : object_) {
      if (std::find(fields.begin(), fields.end(), member.key()) == fields.end()) {
        Fail(InvalidMember(at_ + "/" + PointerToken(member.key()), "is not a member of this object"));
        break;
      }
    }
  }

  std::string Pointer(std::string_view key) const { return at_ + "/" + std::string(key); }

  std::optional<std::string> String(std::string_view key, bool required, std::size_t max_length) {
    auto found = object_.find(key);
    if (found == object_.end() || found->value().is_null()) {
      if (required) Fail(InvalidMember(Pointer(key), "is required"));
      return std::nullopt;
    }
    if (!found->value().is_string()) return Fail(InvalidMember(Pointer(key), "must be a string")), std::nullopt;
    const auto& text = found->value().get_string();
    if (required && text.empty()) return Fail(InvalidMember(Pointer(key), "must not be empty")), std::nullopt;
    if (text.size() > max_length) {
      return Fail(InvalidMember(Pointer(key), fmt::format("is longer than {} characters", max_length))), std::nullopt;
    }
    return std::string(text);
  }

  std::optional<std::string> Country(std::string_view key, bool required) {
    auto text = String(key, required, 2);
    if (!text) return std::nullopt;
    if (text->size() != 2 || !std::isupper(static_cast<unsigned char>((*text)[0])) ||
        !std::isupper(static_cast<unsigned char>((*text)[1]))) {
      Fail(InvalidMember(Pointer(key), "must be an ISO 3166-1 alpha-2 code (two capital letters)"));
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::int64_t> Integer(std::string_view key, std::int64_t low, std::int64_t high) {
    auto found = object_.find(key);
    if (found == object_.end() || found->value().is_null()) return std::nullopt;
    auto number = found->value().if_int64();
    if (!number || *number < low || *number > high) {
      Fail(InvalidMember(Pointer(key), fmt::format("must be an integer from {} to {}", low, high)));
      return std::nullopt;
    }
    return *number;
  }

  /// An array of at most `max_items` non-empty strings of at most `max_length` characters.
  std::vector<std::string> Strings(std::string_view key, std::size_t max_items, std::size_t max_length) {
    std::vector<std::string> out;
    const auto* array = Array(key, max_items);
    if (!array) return out;
    for (std::size_t index = 0; index < array->size(); ++index) {
      const auto& item = (*array)[index];
      if (!item.is_string() || item.get_string().empty() || item.get_string().size() > max_length) {
        Fail(InvalidMember(fmt::format("{}/{}", Pointer(key), index),
                           fmt::format("must be a non-empty string of at most {} characters", max_length)));
        return {};
      }
      out.emplace_back(item.get_string());
    }
    return out;
  }

  const boost::json::array* Array(std::string_view key, std::size_t max_items) {
    const auto* member = Member(key);
    if (!member) return nullptr;
    if (!member->is_array()) return Fail(InvalidMember(Pointer(key), "must be an array")), nullptr;
    if (member->get_array().size() > max_items) {
      return Fail(InvalidMember(Pointer(key), fmt::format("has more than {} items", max_items))), nullptr;
    }
    return &member->get_array();
  }

  const boost::json::value* Member(std::string_view key) const {
    auto found = object_.find(key);
    return found == object_.end() || found->value().is_null() ? nullptr : &found->value();
  }

  void Fail(Problem problem) {
    if (!problem_) problem_ = std::move(problem);
  }
  std::optional<Problem>& Result() { return problem_; }

 private:
  const boost::json::object& object_;
  std::string at_;
  std::optional<Problem> problem_;
};

template <typename Enum, std::size_t N>
std::optional<Enum> NamedEnum(Reader& reader, std::string_view key, const std::array<std::string_view, N>& names,
                              bool required) {
  auto text = reader.String(key, required, 64);
  if (!text) return std::nullopt;
  auto value = workflow::FromName<Enum>(*text, names);
  if (!value) {
    std::string allowed;
    for (auto name : names) allowed += (allowed.empty() ? "" : ", ") + std::string(name);
    reader.Fail(InvalidMember(reader.Pointer(key), "must be one of " + allowed));
  }
  return value;
}

}  // namespace returnflow::api
