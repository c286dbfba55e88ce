#pragma once
/// CloudEvents 1.0 over HTTP, every content mode of its HTTP binding, validated at the edge. Pure: no
/// I/O, no clock (the receipt time is passed in); fuzzed and unit-tested without a server.
///
///   structured  Content-Type application/cloudevents+json (parameters such as charset=utf-8 allowed):
///               the body is one event as JSON
///   batch       Content-Type application/cloudevents-batch+json: the body is a JSON array of events
///   binary      any other Content-Type with a ce-specversion header: the attributes are ce-* headers
///               (values percent-decoded), the body is the event data (JSON, or empty for none)
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>

#include "api/problem.hpp"
#include "engine/event_envelope.hpp"
#include "workflow/dates.hpp"

namespace returnflow::api {

inline constexpr std::string_view kCloudEventContentType = "application/cloudevents+json";
inline constexpr std::string_view kCloudEventBatchContentType = "application/cloudevents-batch+json";

/// Limits on what one event may carry (every string and array has one).
inline constexpr std::size_t kMaxEventIdLength = 200;
inline constexpr std::size_t kMaxSourceLength = 500;
inline constexpr std::size_t kMaxTypeLength = 100;
inline constexpr std::size_t kMaxSubjectLength = 100;
inline constexpr std::size_t kMaxExtensions = 32;
inline constexpr std::size_t kMaxExtensionValueLength = 1000;

/// The parts of an HTTP request the binding reads.
struct EventRequestInput {
  std::string_view content_type;
  /// Every header whose name starts with "ce-" (any case), with its raw value.
  std::vector<std::pair<std::string, std::string>> ce_headers;
  std::string_view body;
  /// Set on /cases/{id}/events: the case comes from the URL; `subject`, when present, must name it.
  std::optional<std::string> url_case_id;
  bool allow_batch = false;
  std::size_t max_batch_events = 500;
  /// The time of receipt: an event without `time` happened when it arrived.
  workflow::Instant received_at{};
};

/// The events of a request. A batch holds one entry per array element, each decoded on its own.
struct EventRequest {
  std::vector<std::variant<engine::EventEnvelope, Problem>> events;
  bool batch = false;
};

/// Decodes a request's events. A Problem for a request that is not an event request at all (a media
/// type none of the modes accepts, a body that is not JSON, a batch that is not an array or is too
/// long); a per-event Problem (invalid-cloudevent, with the attribute's JSON pointer) otherwise. Problems
/// name attributes, never echo their values.
std::variant<EventRequest, Problem> DecodeEventRequest(const EventRequestInput& input);

/// Validates one structured-mode event. `pointer_prefix` prefixes problem pointers ("/3" in a batch).
std::variant<engine::EventEnvelope, Problem> ParseStructuredEvent(const boost::json::value& json,
                                                                   const EventRequestInput& input,
                                                                   const std::string& pointer_prefix = {});

/// The media type without parameters, lower-cased ("Application/JSON; charset=utf-8" -> "application/json").
std::string MediaType(std::string_view content_type);
/// The charset parameter of a Content-Type, lower-cased, or "" when none.
std::string Charset(std::string_view content_type);

}  // namespace returnflow::api
