#pragma once
/// CloudEvents 1.0 structured-mode JSON (`application/cloudevents+json`) and its batch form, validated
/// at the edge. Pure: no I/O, no clock; unit-tested without a server.
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>

#include "api/problem.hpp"
#include "workflow/dates.hpp"

namespace returnflow::api {

inline constexpr std::string_view kCloudEventContentType = "application/cloudevents+json";
inline constexpr std::string_view kCloudEventBatchContentType = "application/cloudevents-batch+json";

/// One validated CloudEvent as the engine uses it.
struct CloudEvent {
  std::string id;       ///< with `source`, the idempotency key
  std::string source;   ///< the sending system (partner or caseworker tool), a URI-reference
  std::string type;     ///< the workflow event name, e.g. "travel.departed"
  std::string subject;  ///< the case id
  workflow::Instant time{};
  boost::json::value data;  ///< the event data object (empty object when absent)
};

/// Validates one structured CloudEvent. `require_subject` is false where the URL names the case.
/// Returns the event, or a problem naming the attribute (never echoing values).
std::variant<CloudEvent, Problem> ParseCloudEvent(const boost::json::value& json, bool require_subject = true);

/// Parses a request body with the given content type into events: one for structured mode, the
/// array for batch mode (empty batches and batches over `max_events` are refused).
std::variant<std::vector<boost::json::value>, Problem> SplitCloudEventBody(std::string_view body,
                                                                        bool batch, std::size_t max_events);

/// The media type without parameters, lower-cased ("Application/JSON; charset=utf-8" -> "application/json").
std::string MediaType(std::string_view content_type);

}  // namespace returnflow::api
