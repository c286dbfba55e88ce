// libFuzzer target: CloudEvents over HTTP (api/cloudevents.hpp) in every content mode of the binding:
// structured, binary and batch; then each decoded event's data through workflow::DecodeEvent, as the
// engine reads it next.
//
// Input: an HTTP request as it arrives, request line, headers, an empty line, the body:
//   POST /cases/6f1c2d3e-0000-4000-8000-000000000001/events HTTP/1.1
//   Content-Type: application/json
//   ce-specversion: 1.0
//   ...
//
//   {"destination_country":"BD"}
// The request line chooses the route as the server does: POST /cases/{id}/events takes one event for the
// case in the URL; anything else is read as POST /events, where a batch is allowed.
//
// DecodeEventRequest's contract: it never throws; it answers with a Problem of one of the kinds below, or
// with events, each an envelope within the attribute limits or a per-event invalid-cloudevent Problem.
#include <algorithm>
#include <cctype>

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include "api/cloudevents.hpp"
#include "api/router.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "workflow/case.hpp"

namespace {

namespace json = boost::json;
using namespace returnflow;
using api::ProblemKind;

constexpr std::size_t kMaxBatchEvents = 16;

bool StartsWithCe(std::string_view name) {
  return name.size() > 3 && (name[0] == 'c' || name[0] == 'C') && (name[1] == 'e' || name[1] == 'E') && name[2] == '-';
}

bool EqualsIgnoringCase(std::string_view left, std::string_view right) {
  return left.size() == right.size() && std::equal(left.begin(), left.end(), right.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

void CheckProblem(const api::Problem& problem) {
  // Problems name attributes, never echo values: a detail stays short whatever the input held.
  FUZZ_REQUIRE(problem.detail.size() <= 300);
  (void)json::serialize(problem.ToJson("/events"));
}

void CheckEnvelope(const engine::EventEnvelope& event, const api::EventRequestInput& input) {
  FUZZ_REQUIRE(!event.id.empty() && event.id.size() <= api::kMaxEventIdLength);
  FUZZ_REQUIRE(!event.source.empty() && event.source.size() <= api::kMaxSourceLength);
  FUZZ_REQUIRE(!event.type.empty() && event.type.size() <= api::kMaxTypeLength);
  FUZZ_REQUIRE(!event.subject.empty());
  FUZZ_REQUIRE(!input.url_case_id || event.subject == *input.url_case_id);
  FUZZ_REQUIRE(input.url_case_id || event.subject.size() <= api::kMaxSubjectLength);
  FUZZ_REQUIRE(event.data.is_null() || event.data.is_object());
  workflow::DecodeError error;
  const auto decoded = workflow::DecodeEvent(event.type, event.data, error);
  FUZZ_REQUIRE(decoded || !error.detail.empty());
}

void Check(std::string_view input) {
  api::EventRequestInput request;
  request.allow_batch = true;
  request.max_batch_events = kMaxBatchEvents;
  request.received_at = *workflow::ParseInstant("2026-01-05T09:00:00Z");

  const auto request_line = fuzz::TakeLine(input);
  if (const auto space = request_line.find(' '); space != std::string_view::npos) {
    auto target = request_line.substr(space + 1);
    target = target.substr(0, target.find(' '));
    if (auto parsed = api::ParseTarget(target)) {
      const auto match = api::MatchRoute(boost::beast::http::verb::post, parsed->path);
      if (match.route != nullptr && match.route->id == api::RouteId::kPostCaseEvent) {
        request.url_case_id = match.params.at("case_id");
        request.allow_batch = false;
        request.max_batch_events = 1;
      }
    }
  }
  std::optional<std::string_view> content_type;
  while (!input.empty()) {
    const auto line = fuzz::TakeLine(input);
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const auto name = line.substr(0, colon);
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    if (EqualsIgnoringCase(name, "content-type")) {
      if (!content_type) content_type = value;
    } else if (StartsWithCe(name)) {
      request.ce_headers.emplace_back(std::string(name), std::string(value));
    }
  }
  request.content_type = content_type.value_or("");
  request.body = input;

  const auto decoded = api::DecodeEventRequest(request);
  if (const auto* problem = std::get_if<api::Problem>(&decoded)) {
    FUZZ_REQUIRE(problem->kind == ProblemKind::kMalformedJson || problem->kind == ProblemKind::kInvalidCloudEvent ||
                 problem->kind == ProblemKind::kUnsupportedMediaType || problem->kind == ProblemKind::kPayloadTooLarge);
    CheckProblem(*problem);
    return;
  }
  const auto& events = std::get<api::EventRequest>(decoded);
  FUZZ_REQUIRE(!events.events.empty());
  FUZZ_REQUIRE(events.batch ? request.allow_batch && events.events.size() <= request.max_batch_events
                            : events.events.size() == 1);
  for (const auto& event : events.events) {
    if (const auto* problem = std::get_if<api::Problem>(&event)) {
      FUZZ_REQUIRE(problem->kind == ProblemKind::kInvalidCloudEvent);
      CheckProblem(*problem);
    } else {
      CheckEnvelope(std::get<engine::EventEnvelope>(event), request);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::Run(data, size, Check);
}
