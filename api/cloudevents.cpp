#include "api/cloudevents.hpp"

#include <algorithm>
#include <cctype>

#include <boost/json/parse.hpp>
#include <fmt/format.h>

namespace returnflow::api {

namespace json = boost::json;

namespace {

Problem Invalid(std::string detail, std::string pointer) {
  return Problem(ProblemKind::kInvalidCloudEvent, std::move(detail), {{"pointer", std::move(pointer)}});
}

std::string Lower(std::string_view text) {
  std::string lowered(text);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

/// CloudEvents attribute names: lower-case a-z and digits, at most 20 characters. The 20 is the
/// specification's SHOULD for senders, enforced here as a limit; sdk-go (MaxExtensionNameLength 0 by
/// default) and sdk-javascript do not enforce it, so a longer extension name from them is refused.
bool ValidAttributeName(std::string_view name) {
  return !name.empty() && name.size() <= 20 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

/// A CloudEvents String (core specification, "Type System"): well-formed UTF-8 (no overlong forms, no
/// surrogates, nothing past U+10FFFF) without the control characters U+0000-U+001F and U+007F-U+009F and
/// without Unicode noncharacters. The HTTP binding requires percent-decoded header values that are not
/// UTF-8 to be refused ("%C0%A0" is an overlong space); JSON strings arrive as UTF-8 already, and the
/// same rule keeps a newline out of an id whichever mode it came in.
bool ValidString(std::string_view text) {
  std::size_t index = 0;
  while (index < text.size()) {
    const auto lead = static_cast<unsigned char>(text[index]);
    std::size_t length = 0;
    char32_t code_point = 0;
    if (lead < 0x80) {
      length = 1;
      code_point = lead;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      code_point = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      code_point = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      code_point = lead & 0x07;
    } else {
      return false;  // a continuation byte, an overlong two-byte lead (C0, C1) or past U+10FFFF
    }
    if (index + length > text.size()) return false;
    for (std::size_t offset = 1; offset < length; ++offset) {
      const auto continuation = static_cast<unsigned char>(text[index + offset]);
      if ((continuation & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (continuation & 0x3F);
    }
    const bool overlong = (length == 3 && code_point < 0x800) || (length == 4 && code_point < 0x10000);
    const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
    const bool control = code_point <= 0x1F || (code_point >= 0x7F && code_point <= 0x9F);
    const bool noncharacter = (code_point >= 0xFDD0 && code_point <= 0xFDEF) || (code_point & 0xFFFE) == 0xFFFE;
    if (overlong || surrogate || code_point > 0x10FFFF || control || noncharacter) return false;
    index += length;
  }
  return true;
}

/// Data in JSON: application/json, or any application/...+json.
bool JsonMediaType(std::string_view media_type) {
  return media_type == "application/json" || (media_type.starts_with("application/") && media_type.ends_with("+json"));
}

/// The attributes of one event, as strings, whichever mode they came in.
struct Attributes {
  std::optional<std::string> specversion, id, source, type, subject, time, datacontenttype, dataschema;
  std::size_t extensions = 0;
};

/// Validates the context attributes and builds the envelope (data filled in by the caller).
std::variant<engine::EventEnvelope, Problem> Envelope(const Attributes& attributes, const EventRequestInput& input,
                                                      const std::string& at) {
  for (const auto& [value, name] : {std::pair{&attributes.specversion, "specversion"}, {&attributes.id, "id"},
                                    {&attributes.source, "source"}, {&attributes.type, "type"},
                                    {&attributes.subject, "subject"}, {&attributes.time, "time"},
                                    {&attributes.datacontenttype, "datacontenttype"},
                                    {&attributes.dataschema, "dataschema"}}) {
    if (*value && !ValidString(**value)) {
      return Invalid(fmt::format("the attribute '{}' holds control characters or is not UTF-8", name),
                     at + "/" + std::string(name));
    }
  }
  const auto required = [&](const std::optional<std::string>& value, std::string_view name,
                            std::size_t limit) -> std::optional<Problem> {
    if (!value) return Invalid(fmt::format("the required attribute '{}' is missing", name), at + "/" + std::string(name));
    if (value->empty()) return Invalid(fmt::format("the attribute '{}' must not be empty", name), at + "/" + std::string(name));
    if (value->size() > limit) {
      return Invalid(fmt::format("the attribute '{}' is longer than {} characters", name, limit), at + "/" + std::string(name));
    }
    return std::nullopt;
  };
  if (auto problem = required(attributes.specversion, "specversion", 10)) return *problem;
  if (*attributes.specversion != "1.0") return Invalid("the attribute 'specversion' must be \"1.0\"", at + "/specversion");
  if (auto problem = required(attributes.id, "id", kMaxEventIdLength)) return *problem;
  if (auto problem = required(attributes.source, "source", kMaxSourceLength)) return *problem;
  if (auto problem = required(attributes.type, "type", kMaxTypeLength)) return *problem;
  if (attributes.extensions > kMaxExtensions) {
    return Invalid(fmt::format("an event carries at most {} extension attributes", kMaxExtensions), at);
  }
  engine::EventEnvelope event;
  event.id = *attributes.id;
  event.source = *attributes.source;
  event.type = *attributes.type;
  if (attributes.subject) {
    if (attributes.subject->empty() || attributes.subject->size() > kMaxSubjectLength) {
      return Invalid(fmt::format("the attribute 'subject' must be 1 to {} characters", kMaxSubjectLength), at + "/subject");
    }
    event.subject = *attributes.subject;
  }
  if (input.url_case_id) {
    if (attributes.subject && event.subject != *input.url_case_id) {
      return Invalid("the attribute 'subject' names a different case than the URL", at + "/subject");
    }
    event.subject = *input.url_case_id;
  } else if (!attributes.subject) {
    return Invalid("the attribute 'subject' (the case id) is required here", at + "/subject");
  }
  if (attributes.time) {
    const auto time = workflow::ParseInstant(*attributes.time);
    if (!time) return Invalid("the attribute 'time' must be an RFC 3339 timestamp", at + "/time");
    event.time = *time;
  } else {
    event.time = input.received_at;
  }
  if (attributes.datacontenttype && !JsonMediaType(MediaType(*attributes.datacontenttype))) {
    return Invalid("the attribute 'datacontenttype' must be application/json (event data is JSON)",
                   at + "/datacontenttype");
  }
  if (attributes.dataschema && (attributes.dataschema->empty() || attributes.dataschema->size() > kMaxSourceLength)) {
    return Invalid("the attribute 'dataschema' must be a URI of at most 500 characters", at + "/dataschema");
  }
  return event;
}

/// A ce-* header value as the HTTP binding (3.1.3.2) decodes it: first RFC 7230 quoted strings unescaped
/// (senders of binding versions before 1.0.2 quoted values with spaces instead of percent-encoding them,
/// and receivers must still accept that), then one round of "%XX" decoding; the result must be a
/// CloudEvents String (UTF-8 that is not, e.g. the overlong "%C0%A0", must be refused). nullopt for an
/// unterminated quote or escape, a malformed "%XX", or a result that is not a String.
std::optional<std::string> DecodedHeaderValue(std::string_view value) {
  std::string unquoted;
  unquoted.reserve(value.size());
  bool quoted = false;
  for (std::size_t index = 0; index < value.size(); ++index) {
    const char c = value[index];
    if (c == '"') {
      quoted = !quoted;
    } else if (c == '\\' && quoted) {
      if (++index == value.size()) return std::nullopt;
      unquoted += value[index];
    } else {
      unquoted += c;
    }
  }
  if (quoted) return std::nullopt;
  std::string out;
  out.reserve(unquoted.size());
  value = unquoted;
  for (std::size_t index = 0; index < value.size(); ++index) {
    if (value[index] != '%') {
      out += value[index];
      continue;
    }
    if (index + 2 >= value.size() || !std::isxdigit(static_cast<unsigned char>(value[index + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(value[index + 2]))) {
      return std::nullopt;
    }
    out += static_cast<char>(std::stoi(std::string(value.substr(index + 1, 2)), nullptr, 16));
    index += 2;
  }
  if (!ValidString(out)) return std::nullopt;
  return out;
}

std::variant<EventRequest, Problem> DecodeBinary(const EventRequestInput& input) {
  Attributes attributes;
  for (const auto& [raw_name, raw_value] : input.ce_headers) {
    const auto name = Lower(raw_name).substr(3);  // after "ce-"
    if (!ValidAttributeName(name)) {
      return Problem(ProblemKind::kInvalidCloudEvent, "a ce- header names an invalid CloudEvents attribute");
    }
    const auto value = DecodedHeaderValue(Trim(raw_value));
    if (!value) {
      return Invalid(fmt::format("the header 'ce-{}' is not a percent-encoded UTF-8 string without control characters", name),
                     "/" + name);
    }
    if (value->size() > kMaxExtensionValueLength) {
      return Invalid(fmt::format("the header 'ce-{}' is longer than {} characters", name, kMaxExtensionValueLength),
                     "/" + name);
    }
    std::optional<std::string>* slot = nullptr;
    if (name == "specversion") slot = &attributes.specversion;
    else if (name == "id") slot = &attributes.id;
    else if (name == "source") slot = &attributes.source;
    else if (name == "type") slot = &attributes.type;
    else if (name == "subject") slot = &attributes.subject;
    else if (name == "time") slot = &attributes.time;
    else if (name == "dataschema") slot = &attributes.dataschema;
    else if (name == "datacontenttype") {
      // In binary mode the Content-Type header is the datacontenttype; a ce- header for it is an error.
      return Invalid("in binary mode the data's media type is the Content-Type header, not ce-datacontenttype",
                     "/datacontenttype");
    } else {
      ++attributes.extensions;
    }
    if (slot != nullptr) {
      if (*slot) return Invalid(fmt::format("the header 'ce-{}' is given twice", name), "/" + name);
      *slot = std::move(*value);
    }
  }
  const auto body = Trim(input.body);
  if (!body.empty()) attributes.datacontenttype = std::string(input.content_type.empty() ? "application/json" : input.content_type);
  auto parsed = Envelope(attributes, input, "");
  EventRequest request;
  if (auto* problem = std::get_if<Problem>(&parsed)) {
    request.events.emplace_back(std::move(*problem));
    return request;
  }
  auto& event = std::get<engine::EventEnvelope>(parsed);
  if (!body.empty()) {
    boost::system::error_code error;
    auto data = json::parse(body, error);
    if (error) return Problem(ProblemKind::kMalformedJson, "the body (the event data) is not valid JSON");
    if (!data.is_object() && !data.is_null()) {
      request.events.emplace_back(Invalid("the event data must be a JSON object", "/data"));
      return request;
    }
    event.data = std::move(data);
  }
  request.events.emplace_back(std::move(event));
  return request;
}

}  // namespace

std::string MediaType(std::string_view content_type) {
  return Lower(Trim(content_type.substr(0, content_type.find(';'))));
}

std::string Charset(std::string_view content_type) {
  auto rest = content_type.find(';') == std::string_view::npos ? std::string_view()
                                                                : content_type.substr(content_type.find(';') + 1);
  while (!rest.empty()) {
    const auto end = rest.find(';');
    const auto parameter = Trim(rest.substr(0, end));
    const auto equals = parameter.find('=');
    if (equals != std::string_view::npos && Lower(Trim(parameter.substr(0, equals))) == "charset") {
      auto value = Trim(parameter.substr(equals + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return Lower(value);
    }
    if (end == std::string_view::npos) break;
    rest = rest.substr(end + 1);
  }
  return {};
}

std::variant<engine::EventEnvelope, Problem> ParseStructuredEvent(const json::value& value,
                                                                   const EventRequestInput& input,
                                                                   const std::string& at) {
  if (!value.is_object()) return Invalid("a CloudEvent must be a JSON object", at.empty() ? "" : at);
  const auto& object = value.get_object();
  Attributes attributes;
  const json::value* data = nullptr;
  for (const auto& member : object) {
    const std::string_view name = member.key();
    const auto pointer = at + "/" + std::string(name.substr(0, 20));
    if (name == "data") {
      data = &member.value();
      continue;
    }
    // The JSON format (2.2): an attribute whose value is null is unset (`data: null` above is a null payload).
    if (member.value().is_null()) continue;
    if (name == "data_base64") return Invalid("'data_base64' is not accepted: event data is JSON, sent in 'data'", pointer);
    if (!ValidAttributeName(name)) return Invalid("a member is not a valid CloudEvents attribute name", at);
    std::optional<std::string>* slot = nullptr;
    if (name == "specversion") slot = &attributes.specversion;
    else if (name == "id") slot = &attributes.id;
    else if (name == "source") slot = &attributes.source;
    else if (name == "type") slot = &attributes.type;
    else if (name == "subject") slot = &attributes.subject;
    else if (name == "time") slot = &attributes.time;
    else if (name == "datacontenttype") slot = &attributes.datacontenttype;
    else if (name == "dataschema") slot = &attributes.dataschema;
    if (slot != nullptr) {
      if (!member.value().is_string()) return Invalid(fmt::format("the attribute '{}' must be a string", name), pointer);
      *slot = std::string(member.value().get_string());
      continue;
    }
    // An extension: a string, an integer or a boolean, bounded; carried by the sender, not stored.
    ++attributes.extensions;
    const auto& extension = member.value();
    const bool scalar = extension.is_bool() || extension.is_int64() || extension.is_uint64() ||
                        (extension.is_string() && extension.get_string().size() <= kMaxExtensionValueLength &&
                         ValidString(extension.get_string()));
    if (!scalar) {
      return Invalid(fmt::format("an extension attribute must be a string of at most {} characters (UTF-8, no control "
                                 "characters), an integer or a boolean",
                                 kMaxExtensionValueLength),
                     pointer);
    }
  }
  auto parsed = Envelope(attributes, input, at);
  if (auto* event = std::get_if<engine::EventEnvelope>(&parsed)) {
    if (data != nullptr) {
      if (!data->is_object() && !data->is_null()) return Invalid("the attribute 'data' must be a JSON object", at + "/data");
      event->data = *data;
    }
  }
  return parsed;
}

std::variant<EventRequest, Problem> DecodeEventRequest(const EventRequestInput& input) {
  const auto media_type = MediaType(input.content_type);
  const bool structured = media_type == kCloudEventContentType;
  const bool batch = media_type == kCloudEventBatchContentType;
  if ((structured || batch) && !Charset(input.content_type).empty() && Charset(input.content_type) != "utf-8") {
    return Problem(ProblemKind::kUnsupportedMediaType, "CloudEvents in JSON are read as UTF-8 only",
                   {{"accepted", json::array{"charset=utf-8"}}});
  }
  if (!structured && !batch) {
    const bool binary = std::any_of(input.ce_headers.begin(), input.ce_headers.end(),
                                    [](const auto& header) { return Lower(header.first) == "ce-specversion"; });
    if (!binary) {
      json::array accepted{kCloudEventContentType, "application/json with ce-* headers (binary mode)"};
      if (input.allow_batch) accepted.emplace_back(kCloudEventBatchContentType);
      return Problem(ProblemKind::kUnsupportedMediaType,
                     "send a CloudEvent: structured (application/cloudevents+json), binary (ce-* headers)" +
                         std::string(input.allow_batch ? " or a batch (application/cloudevents-batch+json)" : ""),
                     {{"accepted", std::move(accepted)}});
    }
    if (!input.body.empty() && !JsonMediaType(media_type)) {
      return Problem(ProblemKind::kUnsupportedMediaType, "binary-mode event data must be JSON (application/json)",
                     {{"accepted", json::array{"application/json"}}});
    }
    return DecodeBinary(input);
  }
  if (batch && !input.allow_batch) {
    return Problem(ProblemKind::kUnsupportedMediaType, "a batch is sent to POST /events",
                   {{"accepted", json::array{kCloudEventContentType}}});
  }
  boost::system::error_code error;
  json::value parsed = json::parse(input.body, error);
  if (error) return Problem(ProblemKind::kMalformedJson, "the body is not valid JSON");
  EventRequest request;
  request.batch = batch;
  if (!batch) {
    auto event = ParseStructuredEvent(parsed, input);
    if (auto* envelope = std::get_if<engine::EventEnvelope>(&event)) {
      request.events.emplace_back(std::move(*envelope));
    } else {
      request.events.emplace_back(std::move(std::get<Problem>(event)));
    }
    return request;
  }
  if (!parsed.is_array()) return Invalid("a CloudEvents batch must be a JSON array", "");
  const auto& array = parsed.get_array();
  if (array.empty()) return Invalid("the batch is empty", "");
  if (array.size() > input.max_batch_events) {
    return Problem(ProblemKind::kPayloadTooLarge,
                   fmt::format("the batch holds {} events; the limit is {}", array.size(), input.max_batch_events));
  }
  for (std::size_t index = 0; index < array.size(); ++index) {
    auto event = ParseStructuredEvent(array[index], input, fmt::format("/{}", index));
    if (auto* envelope = std::get_if<engine::EventEnvelope>(&event)) {
      request.events.emplace_back(std::move(*envelope));
    } else {
      request.events.emplace_back(std::move(std::get<Problem>(event)));
    }
  }
  return request;
}

}  // namespace returnflow::api
