// CloudEvents 1.0 over HTTP, case by case as the CloudEvents conformance suite and the specification's
// HTTP binding and JSON format state them, adapted to event types and data this engine accepts:
//
//   the suite's HTTP feature   binary and structured mode, each with and without "; charset=utf-8"
//   the suite's v1 events      binary and structured with extensions (one holding JSON text) and a
//                              transport header; the minimum events with text/plain, XML, a JSON string
//                              and a JSON array as data (refused: event data here is a JSON object)
//   the binding (3.1.3.2)      percent-encoded header values (lower-case hex, needless escapes, one round
//                              only, invalid UTF-8 refused), quoted strings, header names in any case
//   the binding (3.1.1, 3.2)   ce-datacontenttype refused in binary mode; Content-Type picks the mode
//   the JSON format            null attributes are unset; data_base64; batches answered per element
//   the core specification     missing required attributes, wrong specversion, control characters
//   the SDKs' defaults         what sdk-go (canonical "Ce-Id" header names, RFC 3339 nanosecond times, no
//                              Content-Type without data) and sdk-javascript (lower-case names,
//                              "application/json; charset=utf-8", millisecond times) send
//
// First against DecodeEventRequest (pure, no server), then a representative subset over a real socket on
// SQLite and PostgreSQL, where a redelivery in another content mode must be answered as a replay.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "api/cloudevents.hpp"
#include "tests/api/fixture.hpp"
#include "workflow/dates.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::api;
using namespace returnflow::test;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// An HTTP request as the server hands it to the decoder: the ce-* headers picked out in any case, as
/// Application does; other headers (user-agent, the suite's "transport extensions") play no part.
struct HttpRequest {
  std::string content_type;
  Headers headers;
  std::string body;
  std::optional<std::string> url_case_id;  ///< set: POST /cases/{case_id}/events; unset: POST /events
};

constexpr std::string_view kReceivedAt = "2026-11-30T12:00:00Z";

std::variant<EventRequest, Problem> Decode(const HttpRequest& request) {
  EventRequestInput input;
  input.content_type = request.content_type;
  for (const auto& [name, value] : request.headers) {
    if (name.size() > 3 && (name[0] == 'c' || name[0] == 'C') && (name[1] == 'e' || name[1] == 'E') && name[2] == '-') {
      input.ce_headers.emplace_back(name, value);
    }
  }
  input.body = request.body;
  input.url_case_id = request.url_case_id;
  input.allow_batch = !request.url_case_id;
  input.received_at = *workflow::ParseInstant(kReceivedAt);
  return DecodeEventRequest(input);
}

/// The one event of a request, or the problem refusing it (for the request or for its one event).
std::variant<engine::EventEnvelope, Problem> Single(const HttpRequest& request) {
  auto decoded = Decode(request);
  if (auto* problem = std::get_if<Problem>(&decoded)) return *problem;
  auto& events = std::get<EventRequest>(decoded).events;
  REQUIRE(events.size() == 1);
  return events.front();
}

engine::EventEnvelope Accepted(const HttpRequest& request) {
  auto parsed = Single(request);
  if (auto* problem = std::get_if<Problem>(&parsed)) FAIL("refused: " << problem->detail);
  return std::get<engine::EventEnvelope>(parsed);
}

Problem Refused(const HttpRequest& request) {
  auto parsed = Single(request);
  REQUIRE(std::holds_alternative<Problem>(parsed));
  return std::get<Problem>(parsed);
}

std::string PointerOf(const Problem& problem) {
  const auto* pointer = problem.extensions.if_contains("pointer");
  return pointer ? std::string(pointer->as_string()) : std::string();
}

/// The suite's binary-mode request ("Binary content mode" in its HTTP feature), with an event this
/// engine knows in place of com.example.someevent and the data that event defines.
HttpRequest SuiteBinary(std::string content_type = "application/json") {
  return {std::move(content_type),
          {{"ce-specversion", "1.0"},
           {"ce-type", "eligibility.confirmed"},
           {"ce-time", "2018-04-05T03:56:24Z"},
           {"ce-id", "1234-1234-1234"},
           {"ce-source", "/mycontext/subcontext"}},
          "{\n    \"destination_country\": \"BD\"\n}\n",
          "case-1"};
}

json::object SuiteEvent() {
  return {{"specversion", "1.0"},
          {"type", "eligibility.confirmed"},
          {"time", "2018-04-05T03:56:24Z"},
          {"id", "1234-1234-1234"},
          {"source", "/mycontext/subcontext"},
          {"datacontenttype", "application/json"},
          {"data", {{"destination_country", "BD"}}}};
}

/// The suite's structured-mode request ("Structured content mode").
HttpRequest SuiteStructured(const json::value& event, std::string content_type = "application/cloudevents+json") {
  return {std::move(content_type), {}, json::serialize(event), "case-1"};
}

void CheckSuiteAttributes(const engine::EventEnvelope& event) {
  CHECK(event.id == "1234-1234-1234");
  CHECK(event.source == "/mycontext/subcontext");
  CHECK(event.type == "eligibility.confirmed");
  CHECK(event.subject == "case-1");
  CHECK(workflow::FormatInstant(event.time) == "2018-04-05T03:56:24Z");
  CHECK(event.data == json::parse(R"({"destination_country": "BD"})"));
}

/// One header replaced (or added when absent), matched case-insensitively.
HttpRequest WithHeader(HttpRequest request, const std::string& name, const std::string& value) {
  const auto lower = [](std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  };
  for (auto& header : request.headers) {
    if (lower(header.first) == lower(name)) {
      header.second = value;
      return request;
    }
  }
  request.headers.emplace_back(name, value);
  return request;
}

HttpRequest WithoutHeader(HttpRequest request, const std::string& name) {
  std::erase_if(request.headers, [&](const auto& header) { return header.first == name; });
  return request;
}

}  // namespace

// --- The decoder, case by case -----------------------------------------------------------------------

TEST_CASE("conformance: the suite's binary and structured requests are accepted, with and without a charset",
          "[api][cloudevents][conformance]") {
  for (const char* content_type : {"application/json", "application/json; charset=utf-8"}) {
    INFO("binary, Content-Type: " << content_type);
    CheckSuiteAttributes(Accepted(SuiteBinary(content_type)));
  }
  // The suite's tool sends "charset=UTF-8" by default; sdk-javascript sends "charset=utf-8".
  for (const char* content_type : {"application/cloudevents+json", "application/cloudevents+json; charset=utf-8",
                                   "application/cloudevents+json; charset=UTF-8",
                                   "Application/CloudEvents+JSON;charset=\"utf-8\""}) {
    INFO("structured, Content-Type: " << content_type);
    CheckSuiteAttributes(Accepted(SuiteStructured(SuiteEvent(), content_type)));
  }
}

TEST_CASE("conformance: extension attributes and transport headers of the suite's v1 events are accepted in both modes",
          "[api][cloudevents][conformance]") {
  auto binary = SuiteBinary();
  binary.headers.emplace_back("ce-comexampleextension1", "value");
  // Sent as the suite's tool sends it, unencoded. Under the binding's rules the quotes are quoted-string
  // delimiters (an extension is carried, not stored, so its decoded value does not matter here).
  binary.headers.emplace_back("ce-comexampleextension2", R"({"othervalue": 5})");
  binary.headers.emplace_back("user-agent", "foo");
  CheckSuiteAttributes(Accepted(binary));

  auto event = SuiteEvent();
  event["comexampleextension1"] = "value";
  event["comexampleextension2"] = R"({"othervalue": 5})";
  event["comexampleothervalue"] = 5;  // the JSON format's examples: an Integer extension
  event["comexampleflag"] = true;
  auto structured = SuiteStructured(event);
  structured.headers.emplace_back("user-agent", "foo");
  CheckSuiteAttributes(Accepted(structured));

  // Extensions follow the attribute naming rules and the type system: no upper case or punctuation in
  // names, no objects, arrays or fractions as values.
  for (const char* name : {"comExample", "com-example", "com_example"}) {
    auto bad_name = SuiteEvent();
    bad_name[name] = "value";
    INFO(name);
    CHECK(Refused(SuiteStructured(bad_name)).kind == ProblemKind::kInvalidCloudEvent);
  }
  for (const auto& value : {json::value(json::object{{"a", 1}}), json::value(json::array{1}), json::value(1.5)}) {
    auto bad_value = SuiteEvent();
    bad_value["comexampleextension1"] = value;
    CHECK(PointerOf(Refused(SuiteStructured(bad_value))) == "/comexampleextension1");
  }
  CHECK(Refused(WithHeader(SuiteBinary(), "ce-com_example", "value")).kind == ProblemKind::kInvalidCloudEvent);
}

TEST_CASE("conformance: the suite's minimum events are refused unless their data is a JSON object",
          "[api][cloudevents][conformance]") {
  // Binary mode: the Content-Type is the datacontenttype; data that is not JSON is not read at all.
  for (const char* content_type : {"text/plain; charset=us-ascii", "text/plain; charset=utf-8", "application/xml; charset=utf-8"}) {
    auto request = SuiteBinary(content_type);
    request.body = "Hello, \xF0\x9F\x8C\x8E!";
    INFO(content_type);
    CHECK(Refused(request).kind == ProblemKind::kUnsupportedMediaType);
  }
  // JSON, but not an object: a JSON string and a JSON array.
  for (const char* data : {"\"Hello, \xF0\x9F\x8C\x8E!\"", "[\"Hello\",\"\xF0\x9F\x8C\x8E!\"]", "5"}) {
    auto request = SuiteBinary("application/json; charset=utf-8");
    request.body = data;
    INFO("binary data " << data);
    CHECK(PointerOf(Refused(request)) == "/data");
    auto event = SuiteEvent();
    event["data"] = json::parse(data);
    INFO("structured data " << data);
    CHECK(PointerOf(Refused(SuiteStructured(event))) == "/data");
  }
  // Structured mode: a datacontenttype that does not declare JSON, with its data as a string.
  for (const char* content_type : {"text/plain; charset=us-ascii", "application/xml; charset=utf-8"}) {
    auto event = SuiteEvent();
    event["datacontenttype"] = content_type;
    event["data"] = "Hello, World!";
    INFO(content_type);
    CHECK(PointerOf(Refused(SuiteStructured(event))) == "/datacontenttype");
  }
  // A JSON datacontenttype with parameters, or a +json suffix, declares JSON data.
  for (const char* content_type : {"application/json; charset=utf-8", "application/vnd.returnflow.eligibility+json"}) {
    auto event = SuiteEvent();
    event["datacontenttype"] = content_type;
    INFO(content_type);
    CheckSuiteAttributes(Accepted(SuiteStructured(event)));
    CheckSuiteAttributes(Accepted(SuiteBinary(content_type)));
  }
  // Binary data in JSON's base64 member is not accepted: event data here is JSON.
  auto base64 = SuiteEvent();
  base64.erase("data");
  base64["data_base64"] = "eyJkZXN0aW5hdGlvbl9jb3VudHJ5IjoiQkQifQ==";
  CHECK(PointerOf(Refused(SuiteStructured(base64))) == "/data_base64");
  auto both = SuiteEvent();
  both["data_base64"] = "eyJkZXN0aW5hdGlvbl9jb3VudHJ5IjoiQkQifQ==";
  CHECK(PointerOf(Refused(SuiteStructured(both))) == "/data_base64");
}

TEST_CASE("conformance: binary-mode header values are percent-decoded once and must be UTF-8 without control characters",
          "[api][cloudevents][conformance]") {
  const auto id_of = [](const std::string& header_value) {
    return Accepted(WithHeader(SuiteBinary(), "ce-id", header_value)).id;
  };
  // The binding's own example, then lower-case hex (decoders must accept it) and needless escapes.
  CHECK(id_of("Euro%20%E2%82%AC%20%F0%9F%98%80") == "Euro \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(id_of("caf%c3%a9") == "caf\xC3\xA9");
  CHECK(id_of("%31%32%33%34-1234") == "1234-1234");
  CHECK(id_of("percent%25encoded") == "percent%encoded");
  CHECK(id_of("%2541") == "%41");  // one round only
  CHECK(id_of("quote%22encoded") == "quote\"encoded");
  // Optional whitespace around a header value is not part of it.
  CHECK(id_of("  1234-1234-1234 \t") == "1234-1234-1234");
  // Quoted strings (RFC 7230 3.2.6), which senders of binding versions before 1.0.2 used for spaces and
  // quotes, are unquoted first, then percent-decoded.
  CHECK(id_of("\"1234 1234\"") == "1234 1234");
  CHECK(id_of(R"("a\"b\\c")") == "a\"b\\c");
  CHECK(id_of("\"caf%C3%A9\" au lait") == "caf\xC3\xA9 au lait");
  auto source = Accepted(WithHeader(SuiteBinary(), "ce-source", "%2Fmycontext%2Fsubcontext"));
  CHECK(source.source == "/mycontext/subcontext");
  auto time = Accepted(WithHeader(SuiteBinary(), "ce-time", "2018-04-05T03%3A56%3A24Z"));
  CHECK(workflow::FormatInstant(time.time) == "2018-04-05T03:56:24Z");

  for (const char* bad : {"%", "abc%4", "%zz", "%G1",        // malformed escapes
                          "%C0%A0", "%E0%80%A0",             // overlong encodings of U+0020 (the binding's example)
                          "%80", "%E2%82", "%F8%88%80%80%80", // a lone continuation, a truncated sequence, a 5-byte form
                          "%ED%A0%80", "%F4%90%80%80",         // a surrogate, past U+10FFFF
                          "%0A", "a%00b", "%7F", "%C2%85",      // control characters (C0, DEL, C1)
                          "%EF%BF%BE",                         // a noncharacter
                          "\"unterminated", "\"escape\\"}) {
    INFO("ce-id: " << bad);
    const auto problem = Refused(WithHeader(SuiteBinary(), "ce-id", bad));
    CHECK(problem.kind == ProblemKind::kInvalidCloudEvent);
    CHECK(PointerOf(problem) == "/id");
  }
  // Extension values are decoded and checked the same way.
  CHECK(PointerOf(Refused(WithHeader(SuiteBinary(), "ce-comexampleextension1", "%C0%A0"))) == "/comexampleextension1");
}

TEST_CASE("conformance: binary-mode header names are matched in any case, as the SDKs send them",
          "[api][cloudevents][conformance]") {
  // sdk-go writes canonical MIME names (Ce-Specversion, Ce-Id, extensions as Ce-Comexampleextension1),
  // RFC 3339 times with nanoseconds, and no Content-Type and no body for an event without data.
  HttpRequest go{"",
                 {{"Ce-Specversion", "1.0"},
                  {"Ce-Id", "go-1"},
                  {"Ce-Source", "/mycontext/subcontext"},
                  {"Ce-Type", "eligibility.review_started"},
                  {"Ce-Time", "2018-04-05T03:56:24.123456789Z"},
                  {"Ce-Comexampleextension1", "value"}},
                 "",
                 "case-1"};
  auto from_go = Accepted(go);
  CHECK(from_go.id == "go-1");
  CHECK(from_go.data.is_null());
  CHECK(workflow::FormatInstant(from_go.time) == "2018-04-05T03:56:24Z");
  // sdk-javascript writes lower-case names, "application/json; charset=utf-8" and millisecond times.
  auto javascript = WithHeader(SuiteBinary("application/json; charset=utf-8"), "ce-time", "2018-04-05T03:56:24.000Z");
  CheckSuiteAttributes(Accepted(javascript));
  // Any other mix of cases, and an offset instead of Z.
  HttpRequest shouting{"APPLICATION/JSON",
                       {{"CE-SPECVERSION", "1.0"},
                        {"cE-iD", "1234-1234-1234"},
                        {"Ce-SoUrCe", "/mycontext/subcontext"},
                        {"CE-type", "eligibility.confirmed"},
                        {"ce-TIME", "2018-04-05T05:56:24+02:00"}},
                       R"({"destination_country":"BD"})",
                       "case-1"};
  CheckSuiteAttributes(Accepted(shouting));
  // The same attribute twice, in two spellings, is refused rather than one of them picked.
  auto twice = SuiteBinary();
  twice.headers.emplace_back("CE-ID", "other");
  CHECK(PointerOf(Refused(twice)) == "/id");
}

TEST_CASE("conformance: an event missing a required attribute is refused in every mode, naming the attribute",
          "[api][cloudevents][conformance]") {
  for (const char* attribute : {"id", "source", "type"}) {
    INFO(attribute);
    const auto binary = Refused(WithoutHeader(SuiteBinary(), std::string("ce-") + attribute));
    CHECK(binary.kind == ProblemKind::kInvalidCloudEvent);
    CHECK(PointerOf(binary) == std::string("/") + attribute);
    CHECK(PointerOf(Refused(WithHeader(SuiteBinary(), std::string("ce-") + attribute, ""))) == std::string("/") + attribute);
  }
  // Without ce-specversion a request is not recognisably a binary-mode CloudEvent at all.
  CHECK(Refused(WithoutHeader(SuiteBinary(), "ce-specversion")).kind == ProblemKind::kUnsupportedMediaType);
  for (const char* attribute : {"specversion", "id", "source", "type"}) {
    INFO(attribute);
    auto missing = SuiteEvent();
    missing.erase(attribute);
    CHECK(PointerOf(Refused(SuiteStructured(missing))) == std::string("/") + attribute);
    auto empty = SuiteEvent();
    empty[attribute] = "";
    CHECK(PointerOf(Refused(SuiteStructured(empty))) == std::string("/") + attribute);
    // The JSON format: a null attribute is unset, so a null required attribute is a missing one.
    auto null = SuiteEvent();
    null[attribute] = nullptr;
    CHECK(PointerOf(Refused(SuiteStructured(null))) == std::string("/") + attribute);
    auto number = SuiteEvent();
    number[attribute] = 1;
    CHECK(PointerOf(Refused(SuiteStructured(number))) == std::string("/") + attribute);
  }
  // The subject names the case: required on POST /events, and never another case than the URL's.
  auto no_subject = SuiteStructured(SuiteEvent());
  no_subject.url_case_id.reset();
  CHECK(PointerOf(Refused(no_subject)) == "/subject");
  CHECK(PointerOf(Refused(WithHeader(SuiteBinary(), "ce-subject", "case-2"))) == "/subject");
}

TEST_CASE("conformance: an event of another specversion is refused in every mode", "[api][cloudevents][conformance]") {
  for (const char* version : {"0.3", "1.0.2", "1", "2.0", " 1.0x"}) {
    INFO(version);
    CHECK(PointerOf(Refused(WithHeader(SuiteBinary(), "ce-specversion", version))) == "/specversion");
    auto event = SuiteEvent();
    event["specversion"] = version;
    CHECK(PointerOf(Refused(SuiteStructured(event))) == "/specversion");
  }
  auto number = SuiteEvent();
  number["specversion"] = 1.0;
  CHECK(PointerOf(Refused(SuiteStructured(number))) == "/specversion");
}

TEST_CASE("conformance: null optional attributes are unset, and absent ones take their defaults",
          "[api][cloudevents][conformance]") {
  // The JSON format's own examples carry "subject": null, "time": null and "unsetextension": null.
  auto event = SuiteEvent();
  event["subject"] = nullptr;
  event["time"] = nullptr;
  event["datacontenttype"] = nullptr;
  event["dataschema"] = nullptr;
  event["unsetextension"] = nullptr;
  const auto accepted = Accepted(SuiteStructured(event));
  CHECK(accepted.subject == "case-1");
  CHECK(workflow::FormatInstant(accepted.time) == kReceivedAt);
  CHECK(accepted.data == json::parse(R"({"destination_country":"BD"})"));
  // "data": null is a null payload, not an error.
  auto null_data = SuiteEvent();
  null_data["type"] = "eligibility.review_started";
  null_data["data"] = nullptr;
  CHECK(Accepted(SuiteStructured(null_data)).data.is_null());
  // Binary mode without ce-time: the time of receipt.
  CHECK(workflow::FormatInstant(Accepted(WithoutHeader(SuiteBinary(), "ce-time")).time) == kReceivedAt);
  // Control characters are not part of any String, whichever mode carries them.
  auto newline = SuiteEvent();
  newline["id"] = "1234\n1234";
  CHECK(PointerOf(Refused(SuiteStructured(newline))) == "/id");
}

TEST_CASE("conformance: the Content-Type chooses the mode, and binary mode takes the datacontenttype from it only",
          "[api][cloudevents][conformance]") {
  // The binding 3.1.1: a ce-datacontenttype header must not be present in binary mode.
  auto with_header = SuiteBinary();
  with_header.headers.emplace_back("ce-datacontenttype", "application/json");
  CHECK(PointerOf(Refused(with_header)) == "/datacontenttype");
  // Binary-mode data without a Content-Type has no declared media type.
  CHECK(Refused(SuiteBinary("")).kind == ProblemKind::kUnsupportedMediaType);
  // A CloudEvents media type selects structured mode even when ce-* headers are present (a structured
  // request may repeat its attributes as headers): the body is then read as the event.
  auto structured = SuiteStructured(SuiteEvent());
  structured.headers = {{"ce-specversion", "1.0"}, {"ce-id", "ignored"}};
  CHECK(Accepted(structured).id == "1234-1234-1234");
  auto data_as_event = SuiteBinary("application/cloudevents+json");
  CHECK(Refused(data_as_event).kind == ProblemKind::kInvalidCloudEvent);
  // An event format this engine does not read, and a charset other than UTF-8.
  CHECK(Refused(SuiteStructured(SuiteEvent(), "application/cloudevents+xml")).kind == ProblemKind::kUnsupportedMediaType);
  CHECK(Refused(SuiteStructured(SuiteEvent(), "application/cloudevents+json; charset=iso-8859-1")).kind ==
        ProblemKind::kUnsupportedMediaType);
  // A body that is not JSON under a JSON media type.
  auto broken = SuiteBinary();
  broken.body = "{\"destination_country\":";
  CHECK(Refused(broken).kind == ProblemKind::kMalformedJson);
}

TEST_CASE("conformance: a batch is read on POST /events only, each element decoded and refused on its own",
          "[api][cloudevents][conformance]") {
  auto second = SuiteEvent();
  second["id"] = "1234-1234-1235";
  second["subject"] = "case-2";
  auto broken = SuiteEvent();
  broken.erase("source");
  auto nulls = SuiteEvent();
  nulls["id"] = "1234-1234-1236";
  nulls["subject"] = "case-3";
  nulls["time"] = nullptr;
  auto first = SuiteEvent();
  first["subject"] = "case-1";
  const json::array batch{first, second, broken, "not an event", nulls};
  for (const char* content_type : {"application/cloudevents-batch+json", "application/cloudevents-batch+json; charset=UTF-8"}) {
    INFO(content_type);
    auto decoded = Decode({content_type, {}, json::serialize(batch), std::nullopt});
    REQUIRE(std::holds_alternative<EventRequest>(decoded));
    const auto& request = std::get<EventRequest>(decoded);
    CHECK(request.batch);
    REQUIRE(request.events.size() == batch.size());
    CHECK(std::get<engine::EventEnvelope>(request.events[0]).subject == "case-1");
    CHECK(std::get<engine::EventEnvelope>(request.events[1]).subject == "case-2");
    CHECK(PointerOf(std::get<Problem>(request.events[2])) == "/2/source");
    CHECK(PointerOf(std::get<Problem>(request.events[3])) == "/3");
    CHECK(workflow::FormatInstant(std::get<engine::EventEnvelope>(request.events[4]).time) == kReceivedAt);
  }
  // Each element needs its own subject on POST /events; batches are not read on a case's route.
  auto without_subject = SuiteEvent();
  auto decoded = Decode({"application/cloudevents-batch+json", {}, json::serialize(json::array{without_subject}), std::nullopt});
  CHECK(PointerOf(std::get<Problem>(std::get<EventRequest>(decoded).events[0])) == "/0/subject");
  auto on_case = Decode({"application/cloudevents-batch+json", {}, json::serialize(json::array{first}), "case-1"});
  REQUIRE(std::holds_alternative<Problem>(on_case));
  CHECK(std::get<Problem>(on_case).kind == ProblemKind::kUnsupportedMediaType);
  auto latin = Decode({"application/cloudevents-batch+json; charset=iso-8859-1", {}, "[]", std::nullopt});
  CHECK(std::get<Problem>(latin).kind == ProblemKind::kUnsupportedMediaType);
}

// --- Over a socket, on SQLite and PostgreSQL -----------------------------------------------------------

namespace {

struct Sent {
  int status;
  json::value body;
};

Sent Post(HttpClient& client, const std::string& target, const HttpRequest& request) {
  auto result = client.Request(http::verb::post, target, request.body, request.content_type, request.headers);
  INFO(target << " -> " << result.status << " " << result.body);
  return {result.status, result.body.empty() ? json::value() : result.Json()};
}

void CheckApplied(const Sent& sent, bool replayed) {
  INFO(json::serialize(sent.body));
  REQUIRE(sent.status == 200);
  CHECK(sent.body.at("outcome") == "applied");
  CHECK(sent.body.at("replayed") == replayed);
}

void CheckProblem(const Sent& sent, int status, const std::string& slug) {
  INFO(json::serialize(sent.body));
  CHECK(sent.status == status);
  CHECK(sent.body.at("type") == json::value("urn:returnflow:problem:" + slug));
}

}  // namespace

TEST_CASE("conformance over HTTP: events in every content mode are applied, and a redelivery in another mode is a replay",
          "[api][http][cloudevents][conformance]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = cast.CreateCase();
    // The suite's source, and one that must be percent-encoded in a header.
    const std::string suite_source = "/mycontext/subcontext";
    const std::string accented_source = "urn:partenaire:b\xC3\xA9nin";
    auto client = server.Client(
        server.Token("caseworker", {{"office", cast.office}, {"sources", {suite_source, accented_source}}}));
    const std::string on_case = "/cases/" + id + "/events";
    const auto event_id = [](const char* what) { return Unique(std::string("conformance-") + what); };

    // 1. Binary, as sdk-go sends an event without data: canonical header names, no Content-Type, no body.
    const auto started = event_id("started");
    HttpRequest go_binary{"",
                          {{"Ce-Specversion", "1.0"},
                           {"Ce-Id", started},
                           {"Ce-Source", suite_source},
                           {"Ce-Type", "eligibility.review_started"},
                           {"Ce-Time", "2026-11-02T09:00:00.123456789Z"},
                           {"Ce-Comexampleextension1", "value"}},
                          "",
                          std::nullopt};
    const auto first = Post(client, on_case, go_binary);
    CheckApplied(first, false);
    // ... redelivered structured, with the attributes it had and nulls for those it had not.
    json::object started_event{{"specversion", "1.0"}, {"id", started}, {"source", suite_source},
                               {"type", "eligibility.review_started"}, {"time", "2026-11-02T09:00:00Z"},
                               {"subject", nullptr}, {"datacontenttype", nullptr}, {"comexampleextension1", "value"}};
    const auto again = Post(client, on_case, {"application/cloudevents+json; charset=UTF-8", {}, json::serialize(started_event), {}});
    CheckApplied(again, true);
    CHECK(again.body.at("sequence") == first.body.at("sequence"));
    CHECK(again.body.at("version") == first.body.at("version"));

    // 2. Structured on POST /events with the suite's extensions and a transport header ...
    const auto confirmed = event_id("confirmed");
    json::object confirmed_event{{"specversion", "1.0"}, {"id", confirmed}, {"source", suite_source},
                                 {"type", "eligibility.confirmed"}, {"subject", id}, {"time", "2026-11-03T09:00:00Z"},
                                 {"datacontenttype", "application/json"}, {"comexampleextension1", "value"},
                                 {"comexampleextension2", R"({"othervalue": 5})"}, {"data", {{"destination_country", "BD"}}}};
    const auto structured = Post(client, "/events",
                                 {"application/cloudevents+json", {{"User-Agent", "foo"}}, json::serialize(confirmed_event), {}});
    CheckApplied(structured, false);
    // ... redelivered in binary mode as sdk-javascript sends it, to the case's route, with the source
    // needlessly percent-encoded and the data laid out differently.
    HttpRequest javascript_binary{"application/json; charset=utf-8",
                                  {{"ce-specversion", "1.0"},
                                   {"ce-id", confirmed},
                                   {"ce-source", "%2Fmycontext%2Fsubcontext"},
                                   {"ce-type", "eligibility.confirmed"},
                                   {"ce-time", "2026-11-03T09:00:00.000Z"},
                                   {"ce-comexampleextension1", "value"}},
                                  "{\n  \"destination_country\" : \"BD\"\n}\n",
                                  std::nullopt};
    const auto replayed = Post(client, on_case, javascript_binary);
    CheckApplied(replayed, true);
    CHECK(replayed.body.at("sequence") == structured.body.at("sequence"));

    // 3. A batch: one good element, one without an id, each answered on its own ...
    const auto session = event_id("session");
    json::object session_event{{"specversion", "1.0"}, {"id", session}, {"source", accented_source},
                               {"type", "counselling.session_held"}, {"subject", id}, {"time", "2026-11-04T09:00:00Z"}};
    json::object no_id = session_event;
    no_id.erase("id");
    const auto batch = Post(client, "/events",
                            {"application/cloudevents-batch+json; charset=utf-8", {}, json::serialize(json::array{session_event, no_id}), {}});
    INFO(json::serialize(batch.body));
    REQUIRE(batch.status == 200);
    CHECK(batch.body.at("applied") == 1);
    CHECK(batch.body.at("refused") == 1);
    const auto& results = batch.body.at("results").as_array();
    REQUIRE(results.size() == 2);
    CHECK(results[0].at("status") == 200);
    CHECK(results[0].at("outcome").at("replayed") == false);
    CHECK(results[1].at("status") == 400);
    CHECK(results[1].at("problem").at("pointer") == "/1/id");
    // ... the good element redelivered in binary mode on POST /events, its source percent-encoded
    // because it is not ASCII, the case named by ce-subject.
    HttpRequest accented_binary{"",
                                {{"ce-specversion", "1.0"},
                                 {"ce-id", session},
                                 {"ce-source", "urn:partenaire:b%C3%A9nin"},
                                 {"ce-type", "counselling.session_held"},
                                 {"ce-subject", id},
                                 {"ce-time", "2026-11-04T09:00:00Z"}},
                                "",
                                std::nullopt};
    const auto session_again = Post(client, "/events", accented_binary);
    CheckApplied(session_again, true);
    CHECK(session_again.body.at("sequence") == results[0].at("outcome").at("sequence"));
    // ... and once more inside a batch, where a replay is answered per element too.
    const auto batch_again =
        Post(client, "/events", {"application/cloudevents-batch+json", {}, json::serialize(json::array{session_event}), {}});
    REQUIRE(batch_again.status == 200);
    CHECK(batch_again.body.at("results").at(0).at("outcome").at("replayed") == true);

    // 4. The same (source, id) with other content is not a replay, whichever mode carries it.
    auto altered = WithHeader(javascript_binary, "ce-type", "counselling.session_held");
    altered.body.clear();
    CheckProblem(Post(client, on_case, altered), 409, "idempotency-conflict");

    // 5. What the binding and the engine refuse, over the wire.
    CheckProblem(Post(client, on_case, WithHeader(javascript_binary, "ce-datacontenttype", "application/json")), 400,
                 "invalid-cloudevent");
    CheckProblem(Post(client, on_case, WithHeader(javascript_binary, "ce-specversion", "0.3")), 400, "invalid-cloudevent");
    CheckProblem(Post(client, on_case, WithHeader(javascript_binary, "ce-id", "%C0%A0")), 400, "invalid-cloudevent");
    const auto no_binary_id = Post(client, on_case, WithoutHeader(javascript_binary, "ce-id"));
    CheckProblem(no_binary_id, 400, "invalid-cloudevent");
    CHECK(no_binary_id.body.at("pointer") == "/id");
    auto text = javascript_binary;
    text.content_type = "text/plain; charset=utf-8";
    text.body = "Hello, World!";
    CheckProblem(Post(client, on_case, text), 415, "unsupported-media-type");
    CheckProblem(Post(client, on_case, WithHeader(WithHeader(javascript_binary, "ce-id", event_id("stranger")), "ce-source",
                                                   "/another/context")),
                 403, "forbidden");
    CheckProblem(Post(client, on_case, {"application/cloudevents-batch+json", {}, json::serialize(json::array{session_event}), {}}),
                 415, "unsupported-media-type");

    // Three events applied once each, however often and in whichever mode they came.
    auto history = client.Get("/cases/" + id + "/history?limit=200").Json();
    std::map<std::string, int> rows;
    for (const auto& entry : history.at("entries").as_array()) ++rows[std::string(entry.at("event_id").as_string())];
    CHECK(rows[started] == 1);
    CHECK(rows[confirmed] == 1);
    CHECK(rows[session] == 1);
    CHECK(client.Get("/cases/" + id).Json().at("stage") == "counselling");
  }
}
