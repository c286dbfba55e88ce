#include "api/cloudevents.hpp"

#include <algorithm>
#include <cctype>

#include <boost/json/parse.hpp>
#include <fmt/format.h>

namespace returnflow::api {

namespace json = boost::json;

namespace {

Problem Invalid(std::string detail) { return Problem(ProblemKind::kInvalidCloudEvent, std::move(detail)); }

/// A required, non-empty string attribute; nullptr when present and valid.
std::optional<Problem> RequireString(const json::object& object, std::string_view name, std::string& out) {
  auto found = object.find(name);
  if (found == object.end()) return Invalid(fmt::format("the required attribute '{}' is missing", name));
  if (!found->value().is_string()) return Invalid(fmt::format("the attribute '{}' must be a string", name));
  const auto& text = found->value().get_string();
  if (text.empty()) return Invalid(fmt::format("the attribute '{}' must not be empty", name));
  out.assign(text.begin(), text.end());
  return std::nullopt;
}

bool ValidExtensionName(std::string_view name) {
  // CloudEvents attribute names: lower-case a-z and digits only.
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

}  // namespace

std::string MediaType(std::string_view content_type) {
  auto semicolon = content_type.find(';');
  auto type = content_type.substr(0, semicolon);
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back()))) type.remove_suffix(1);
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.front()))) type.remove_prefix(1);
  std::string lowered(type);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered;
}

std::variant<CloudEvent, Problem> ParseCloudEvent(const json::value& value, bool require_subject) {
  if (!value.is_object()) return Invalid("a CloudEvent must be a JSON object");
  const auto& object = value.get_object();
  CloudEvent event;

  std::string specversion;
  if (auto problem = RequireString(object, "specversion", specversion)) return *problem;
  if (specversion != "1.0") return Invalid("the attribute 'specversion' must be \"1.0\"");
  if (auto problem = RequireString(object, "id", event.id)) return *problem;
  if (event.id.size() > 200) return Invalid("the attribute 'id' is longer than 200 characters");
  if (auto problem = RequireString(object, "source", event.source)) return *problem;
  if (event.source.size() > 500) return Invalid("the attribute 'source' is longer than 500 characters");
  if (auto problem = RequireString(object, "type", event.type)) return *problem;

  if (object.contains("subject") || require_subject) {
    if (auto problem = RequireString(object, "subject", event.subject)) return *problem;
  }
  std::string time_text;
  if (auto problem = RequireString(object, "time", time_text)) return *problem;
  auto time = workflow::ParseInstant(time_text);
  if (!time) return Invalid("the attribute 'time' must be an RFC 3339 timestamp");
  event.time = *time;

  if (auto found = object.find("datacontenttype"); found != object.end()) {
    if (!found->value().is_string() || MediaType(found->value().get_string()) != "application/json") {
      return Invalid("the attribute 'datacontenttype' must be application/json when present");
    }
  }
  if (object.contains("data_base64")) return Invalid("'data_base64' is not accepted; send JSON in 'data'");
  if (auto found = object.find("data"); found != object.end()) {
    if (!found->value().is_object()) return Invalid("the attribute 'data' must be a JSON object");
    event.data = found->value();
  } else {
    event.data = json::object();
  }
  for (const auto& [key, member] : object) {
    if (!ValidExtensionName(key) && key != "data_base64") {
      return Invalid(fmt::format("'{}' is not a valid CloudEvents attribute name", std::string_view(key)));
    }
  }
  return event;
}

std::variant<std::vector<json::value>, Problem> SplitCloudEventBody(std::string_view body, bool batch,
                                                                  std::size_t max_events) {
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec) return Problem(ProblemKind::kMalformedJson, "the body is not valid JSON");
  if (!batch) return std::vector<json::value>{std::move(parsed)};
  if (!parsed.is_array()) return Invalid("a CloudEvents batch must be a JSON array");
  auto& array = parsed.get_array();
  if (array.empty()) return Invalid("the batch is empty");
  if (array.size() > max_events) {
    return Problem(ProblemKind::kPayloadTooLarge,
                   fmt::format("the batch holds {} events; the limit is {}", array.size(), max_events));
  }
  return std::vector<json::value>(array.begin(), array.end());
}

}  // namespace returnflow::api
