// Pure logic of the API, tested without a server: routing, CloudEvents validation, authorization
// decisions, tokens, problem documents, settings, the OpenAPI document.
#include <set>
#include <tuple>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "api/application.hpp"
#include "engine/failure.hpp"
#include "api/auth.hpp"
#include "api/cloudevents.hpp"
#include "api/dto.hpp"
#include "api/openapi.hpp"
#include "api/problem.hpp"
#include "api/query.hpp"
#include "api/router.hpp"
#include "api/webhook_client.hpp"
#include "config/settings.hpp"
#include "workflow/case.hpp"
#include "workflow/reasons.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::api;

namespace {
json::object ValidEvent() {
  return {{"specversion", "1.0"}, {"id", "e-1"}, {"source", "embassy/bd"}, {"type", "travel_document.requested"},
          {"subject", "c-1"}, {"time", "2026-11-20T10:00:00Z"}, {"data", json::object()}};
}
config::EnvironmentLookup NoEnvironment() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}
}  // namespace

TEST_CASE("routes match methods and path templates, and unknown methods on known paths are 405", "[api][router]") {
  auto match = MatchRoute(http::verb::post, "/cases/abc/events");
  REQUIRE(match.route);
  CHECK(match.route->id == RouteId::kPostCaseEvent);
  CHECK(match.params.at("case_id") == "abc");
  auto wrong_method = MatchRoute(http::verb::put, "/cases/abc");
  CHECK_FALSE(wrong_method.route);
  CHECK(wrong_method.path_known);
  CHECK(wrong_method.allow == "GET");
  auto unknown = MatchRoute(http::verb::get, "/nothing/here");
  CHECK_FALSE(unknown.route);
  CHECK_FALSE(unknown.path_known);
  CHECK_FALSE(MatchRoute(http::verb::get, "/cases//history").route);
}

TEST_CASE("request targets are decoded and an encoded slash cannot reach the router", "[api][router]") {
  auto target = ParseTarget("/cases?stage=travel&host_country=ID&cursor=a%2Bb");
  REQUIRE(target);
  CHECK(target->path == "/cases");
  CHECK(target->Query("stage") == "travel");
  CHECK(target->Query("cursor") == "a+b");
  CHECK_FALSE(ParseTarget("/cases/a%2Fb/events"));
  CHECK_FALSE(ParseTarget("http://example.org/cases"));
}

TEST_CASE("search parameters are read strictly, each refusal naming its parameter", "[api][query]") {
  const auto now = persistence::Timestamp(std::chrono::seconds(1767600000));
  const auto read = [&](const std::string& text) { return ParseSearchQuery(*ParseTarget(text), 50, 200, now); };
  const auto search = read("/cases?stage=travel&host_country=ID&overdue=true&limit=20&counts=false&cursor=abc");
  CHECK(search.query.stage == "travel");
  CHECK(search.query.host_country == "ID");
  CHECK(search.query.overdue_as_of == now);
  CHECK(search.query.page_size == 20);
  CHECK(search.query.cursor == "abc");
  CHECK_FALSE(search.with_counts);
  CHECK(read("/cases").query.page_size == 50);
  CHECK(read("/cases").with_counts);
  const auto refused_parameter = [&](const std::string& text) {
    try {
      read(text);
      return std::string("accepted");
    } catch (const ProblemException& error) {
      CHECK(error.problem().kind == ProblemKind::kInvalidRequest);
      const auto* parameter = error.problem().extensions.if_contains("parameter");
      return parameter ? std::string(parameter->as_string()) : std::string("(none)");
    }
  };
  CHECK(refused_parameter("/cases?limit=0") == "limit");
  CHECK(refused_parameter("/cases?limit=201") == "limit");
  CHECK(refused_parameter("/cases?limit=2x") == "limit");
  CHECK(refused_parameter("/cases?host_country=IDN") == "host_country");
  CHECK(refused_parameter("/cases?stage=a%20b") == "stage");
  CHECK(refused_parameter("/cases?stage=a&stage=b") == "stage");
  CHECK(refused_parameter("/cases?overdue=yes") == "overdue");
  CHECK(refused_parameter("/cases?updated_since=yesterday") == "updated_since");
  CHECK(refused_parameter("/cases?vulnerability=tall") == "vulnerability");
  CHECK(refused_parameter("/cases?cursor=" + std::string(201, 'a')) == "cursor");
  CHECK(refused_parameter("/cases?sort=stage") == "(none)");  // not a parameter here: the problem lists those that are
}

namespace {
EventRequestInput Structured(const json::value& event, std::optional<std::string> url_case = std::nullopt) {
  static std::string body;
  body = json::serialize(event);
  EventRequestInput input;
  input.content_type = "application/cloudevents+json";
  input.body = body;
  input.url_case_id = std::move(url_case);
  input.received_at = *workflow::ParseInstant("2026-11-30T12:00:00Z");
  return input;
}
/// The one event of a decoded request, or its problem.
std::variant<engine::EventEnvelope, Problem> Single(const EventRequestInput& input) {
  auto decoded = DecodeEventRequest(input);
  if (auto* problem = std::get_if<Problem>(&decoded)) return *problem;
  auto& events = std::get<EventRequest>(decoded).events;
  REQUIRE(events.size() == 1);
  return events.front();
}
std::string PointerOf(const std::variant<engine::EventEnvelope, Problem>& parsed) {
  REQUIRE(std::holds_alternative<Problem>(parsed));
  const auto& problem = std::get<Problem>(parsed);
  const auto* pointer = problem.extensions.if_contains("pointer");
  return pointer ? std::string(pointer->as_string()) : std::string();
}
}  // namespace

TEST_CASE("a valid structured CloudEvent is accepted, with or without a charset", "[api][cloudevents]") {
  for (const char* content_type : {"application/cloudevents+json", "Application/CloudEvents+JSON; charset=UTF-8"}) {
    auto input = Structured(ValidEvent());
    input.content_type = content_type;
    auto parsed = Single(input);
    REQUIRE(std::holds_alternative<engine::EventEnvelope>(parsed));
    const auto& event = std::get<engine::EventEnvelope>(parsed);
    CHECK(event.id == "e-1");
    CHECK(event.subject == "c-1");
    CHECK(event.data.is_object());
  }
  auto latin = Structured(ValidEvent());
  latin.content_type = "application/cloudevents+json; charset=iso-8859-1";
  auto refused = DecodeEventRequest(latin);
  REQUIRE(std::holds_alternative<Problem>(refused));
  CHECK(std::get<Problem>(refused).kind == ProblemKind::kUnsupportedMediaType);
}

TEST_CASE("each missing or invalid CloudEvents attribute is named by its pointer in a 400 problem", "[api][cloudevents]") {
  for (const char* attribute : {"specversion", "id", "source", "type", "subject"}) {
    auto event = ValidEvent();
    event.erase(attribute);
    auto parsed = Single(Structured(event));
    CHECK(PointerOf(parsed) == std::string("/") + attribute);
    CHECK(std::get<Problem>(parsed).kind == ProblemKind::kInvalidCloudEvent);
    CHECK(std::get<Problem>(parsed).Status() == http::status::bad_request);
  }
  auto wrong_version = ValidEvent();
  wrong_version["specversion"] = "0.3";
  CHECK(PointerOf(Single(Structured(wrong_version))) == "/specversion");
  auto bad_time = ValidEvent();
  bad_time["time"] = "yesterday";
  CHECK(PointerOf(Single(Structured(bad_time))) == "/time");
  auto bad_data = ValidEvent();
  bad_data["data"] = "text";
  CHECK(PointerOf(Single(Structured(bad_data))) == "/data");
  auto base64 = ValidEvent();
  base64["data_base64"] = "AAAA";
  CHECK(PointerOf(Single(Structured(base64))) == "/data_base64");
  auto bad_extension = ValidEvent();
  bad_extension["Bad-Name"] = 1;
  CHECK(std::holds_alternative<Problem>(Single(Structured(bad_extension))));
  auto long_id = ValidEvent();
  long_id["id"] = std::string(kMaxEventIdLength + 1, 'i');
  auto too_long = Single(Structured(long_id));
  CHECK(PointerOf(too_long) == "/id");
  CHECK(std::get<Problem>(too_long).detail.find("iiii") == std::string::npos);  // values are never echoed
  auto no_subject = ValidEvent();
  no_subject.erase("subject");
  CHECK(std::holds_alternative<engine::EventEnvelope>(Single(Structured(no_subject, "c-1"))));
  CHECK(PointerOf(Single(Structured(ValidEvent(), "c-2"))) == "/subject");  // another case than the URL's
  // No `time`: the event happened when it arrived.
  auto no_time = ValidEvent();
  no_time.erase("time");
  auto received = Single(Structured(no_time));
  REQUIRE(std::holds_alternative<engine::EventEnvelope>(received));
  CHECK(workflow::FormatInstant(std::get<engine::EventEnvelope>(received).time) == "2026-11-30T12:00:00Z");
}

TEST_CASE("binary mode reads the attributes from ce- headers and the data from the body", "[api][cloudevents]") {
  EventRequestInput input;
  input.content_type = "application/json";
  input.ce_headers = {{"ce-specversion", "1.0"}, {"CE-ID", "b-1"}, {"ce-source", "urn:embassy%3Abd"},
                      {"ce-type", "travel_document.issued"}, {"ce-time", "2026-11-20T10:00:00Z"},
                      {"ce-traceparent", "00-abc"}};
  const std::string body = R"({"expires_on":"2030-01-01"})";
  input.body = body;
  input.url_case_id = "c-9";
  auto parsed = Single(input);
  REQUIRE(std::holds_alternative<engine::EventEnvelope>(parsed));
  const auto& event = std::get<engine::EventEnvelope>(parsed);
  CHECK(event.id == "b-1");
  CHECK(event.source == "urn:embassy:bd");  // percent-decoded
  CHECK(event.subject == "c-9");
  CHECK(event.data.at("expires_on") == "2030-01-01");

  auto no_body = input;
  no_body.body = "";
  auto empty = Single(no_body);
  REQUIRE(std::holds_alternative<engine::EventEnvelope>(empty));
  CHECK(std::get<engine::EventEnvelope>(empty).data.is_null());

  auto missing = input;
  missing.ce_headers.erase(missing.ce_headers.begin() + 1);
  CHECK(PointerOf(Single(missing)) == "/id");
  auto xml = input;
  xml.content_type = "application/xml";
  auto refused = DecodeEventRequest(xml);
  REQUIRE(std::holds_alternative<Problem>(refused));
  CHECK(std::get<Problem>(refused).kind == ProblemKind::kUnsupportedMediaType);
  auto bad_escape = input;
  bad_escape.ce_headers[2].second = "urn:%zz";
  CHECK(PointerOf(Single(bad_escape)) == "/source");
  EventRequestInput plain;  // no ce- headers, no CloudEvents media type: not an event request at all
  plain.content_type = "application/json";
  plain.body = body;
  auto not_event = DecodeEventRequest(plain);
  REQUIRE(std::holds_alternative<Problem>(not_event));
  CHECK(std::get<Problem>(not_event).kind == ProblemKind::kUnsupportedMediaType);
}

TEST_CASE("batch bodies must be non-empty arrays within the event limit, each event decoded on its own", "[api][cloudevents]") {
  EventRequestInput input;
  input.content_type = "application/cloudevents-batch+json";
  input.allow_batch = true;
  input.max_batch_events = 2;
  std::string body;
  const auto decode = [&](std::string text) {
    body = std::move(text);
    input.body = body;
    return DecodeEventRequest(input);
  };
  CHECK(std::get<Problem>(decode("{")).kind == ProblemKind::kMalformedJson);
  CHECK(std::holds_alternative<Problem>(decode("[]")));
  CHECK(std::holds_alternative<Problem>(decode("{}")));
  CHECK(std::get<Problem>(decode("[{},{},{}]")).kind == ProblemKind::kPayloadTooLarge);
  const std::string good = json::serialize(ValidEvent());
  auto mixed = decode("[" + good + R"(,{"id":"x"}])");
  REQUIRE(std::holds_alternative<EventRequest>(mixed));
  const auto& events = std::get<EventRequest>(mixed).events;
  REQUIRE(events.size() == 2);
  CHECK(std::holds_alternative<engine::EventEnvelope>(events[0]));
  CHECK(PointerOf(events[1]) == "/1/specversion");
  input.allow_batch = false;
  CHECK(std::get<Problem>(decode("[" + good + "]")).kind == ProblemKind::kUnsupportedMediaType);
  CHECK(MediaType(" Application/CloudEvents+JSON ; charset=utf-8") == "application/cloudevents+json");
  CHECK(Charset("application/json; Charset=\"UTF-8\"") == "utf-8");
}

TEST_CASE("bearer tokens are read from the Authorization header", "[api][auth]") {
  CHECK(BearerToken("Bearer rft_x") == std::optional<std::string_view>("rft_x"));
  CHECK(BearerToken("bearer  rft_x ") == std::optional<std::string_view>("rft_x"));
  CHECK_FALSE(BearerToken("Basic abc"));
  CHECK_FALSE(BearerToken("Bearer "));
  CHECK_FALSE(BearerToken("Bearer " + std::string(300, 'x')));
}

TEST_CASE("token requests are read strictly, each role with its own scope members", "[api][dto]") {
  auto pointer_of = [](json::object body) {
    auto parsed = ParseCreateToken(body);
    if (std::holds_alternative<engine::NewToken>(parsed)) return std::string("valid");
    return std::string(std::get<Problem>(parsed).extensions.at("pointer").as_string());
  };
  CHECK(pointer_of({{"name", "x"}, {"role", "caseworker"}, {"scope", json::object()}}) == "/scope/office");
  CHECK(pointer_of({{"name", "x"}, {"role", "caseworker"}, {"scope", {{"office", "jkt"}}}}) == "valid");
  CHECK(pointer_of({{"name", "x"}, {"role", "caseworker"}, {"scope", {{"office", "jkt"}, {"countries", {"ID"}}}}}) ==
        "/scope/countries");
  CHECK(pointer_of({{"name", "x"}, {"role", "root"}}) == "/role");
  CHECK(pointer_of({{"name", "x"}, {"role", "admin"}, {"extra", 1}}) == "/extra");
  CHECK(pointer_of({{"name", "x"}, {"role", "supervisor"}, {"scope", {{"countries", {"ID"}}, {"sources", {"urn:s"}}}}}) ==
        "valid");
  auto parsed = std::get<engine::NewToken>(
      ParseCreateToken(json::object{{"name", "p"}, {"role", "partner"},
                                    {"scope", {{"organisation", "e"}, {"event_types", {"travel_document.issued"}},
                                               {"sources", {"urn:e"}}}}}));
  CHECK(parsed.principal.role == workflow::Role::kPartner);
  CHECK(parsed.principal.sources == std::set<std::string>{"urn:e"});
}

TEST_CASE("problem documents carry a stable type, the status and extensions", "[api][problem]") {
  std::set<std::string_view> slugs;
  for (std::size_t index = 0; index < ProblemCatalogue().size(); ++index) {
    const auto& info = ProblemCatalogue()[index];
    CHECK(static_cast<std::size_t>(info.kind) == index);
    CHECK(slugs.insert(info.slug).second);
  }
  Problem problem(ProblemKind::kNotAllowedInState, "no", {{"allowed_events", json::array{"a"}}});
  auto body = problem.ToJson("/cases/x/events");
  CHECK(body.at("type") == "urn:returnflow:problem:event-not-allowed");
  CHECK(body.at("status") == 409);
  CHECK(body.at("instance") == "/cases/x/events");
  CHECK(body.at("allowed_events").as_array().size() == 1);
}

TEST_CASE("every failure kind of the engine maps to its own problem type, in one table", "[api][problem]") {
  using engine::FailureKind;
  std::set<ProblemKind> kinds;
  for (int kind = 0; kind <= static_cast<int>(FailureKind::kInternal); ++kind) {
    const auto problem = ProblemFor(engine::Failure(static_cast<FailureKind>(kind), "d", "/x"));
    CHECK(kinds.insert(problem.kind).second);
    if (kind != static_cast<int>(FailureKind::kInternal)) CHECK(problem.kind != ProblemKind::kInternal);
    CHECK(problem.extensions.at("pointer") == "/x");
  }
  CHECK(ProblemFor(engine::Failure(FailureKind::kCorruptCase, "")).Status() == http::status::internal_server_error);
  CHECK(Info(ProblemFor(engine::Failure(FailureKind::kCorruptCase, "")).kind).slug == "case-unreadable");
  CHECK(ProblemFor(engine::Failure(FailureKind::kOutcomeUnknown, "")).Status() == http::status::service_unavailable);
  CHECK(ProblemFor(engine::Failure(FailureKind::kVersionConflict, "")).kind == ProblemKind::kVersionConflict);
}

TEST_CASE("If-Match accepts a strong, weak or bare version", "[api]") {
  CHECK(ParseIfMatch("\"3\"") == 3);
  CHECK(ParseIfMatch("W/\"12\"") == 12);
  CHECK(ParseIfMatch("7") == 7);
  CHECK_FALSE(ParseIfMatch("\"x\""));
  CHECK_FALSE(ParseIfMatch("*"));
}

TEST_CASE("referrals are validated field by field and personal data kept apart", "[api][dto]") {
  json::object referral{{"programme", "avrr"}, {"office", "jkt"}, {"host_country", "ID"}, {"origin_country", "BD"},
                        {"partners", {"embassy-bd"}},
                        {"household",
                         {{{"relationship", "principal"}, {"sex", "female"},
                           {"personal_data", {{"given_names", "Test"}, {"family_name", "Person"}, {"date_of_birth", "1990-02-03"}}}},
                          {{"relationship", "dependant"}, {"birth_year", 2015}, {"vulnerabilities", {"separated_child"}}}}}};
  auto parsed = ParseCreateCase(referral);
  REQUIRE(std::holds_alternative<persistence::NewCase>(parsed));
  const auto& new_case = std::get<persistence::NewCase>(parsed);
  REQUIRE(new_case.context.household.size() == 2);
  CHECK(new_case.context.household[0].birth_year == 1990);
  CHECK(new_case.context.household[0].member_id == "m1");
  REQUIRE(new_case.people.size() == 1);
  CHECK(new_case.people[0].member_id == "m1");

  auto bad_country = referral;
  bad_country["host_country"] = "Indonesia";
  auto problem = std::get<Problem>(ParseCreateCase(bad_country));
  CHECK(problem.extensions.at("pointer") == "/host_country");
  auto two_principals = referral;
  two_principals["household"].as_array()[1].as_object()["relationship"] = "principal";
  CHECK(std::holds_alternative<Problem>(ParseCreateCase(two_principals)));
  auto no_birth = referral;
  no_birth["household"].as_array()[1].as_object().erase("birth_year");
  CHECK(std::get<Problem>(ParseCreateCase(no_birth)).detail.find("birth_year") != std::string::npos);
  auto bad_flag = referral;
  bad_flag["household"].as_array()[1].as_object()["vulnerabilities"] = json::array{"tall"};
  CHECK(std::get<Problem>(ParseCreateCase(bad_flag)).extensions.at("pointer") == "/household/1/vulnerabilities/0");
}

TEST_CASE("a referral member with an empty member_id is refused, since its case could not be read back", "[api][dto]") {
  // Found by tests/fuzz/fuzz_referral: the referral was accepted, the case row written, and its saved
  // state refused on every restore (500 case-unreadable from the creating request on).
  json::object referral{{"programme", "avrr"}, {"office", "jkt"}, {"host_country", "ID"}, {"origin_country", "BD"},
                        {"household", {{{"member_id", ""}, {"birth_year", 1990}}}}};
  auto refused = ParseCreateCase(referral);
  REQUIRE(std::holds_alternative<Problem>(refused));
  CHECK(std::get<Problem>(refused).extensions.at("pointer") == "/household/0/member_id");
  referral["household"].as_array()[0].as_object()["member_id"] = "p1";
  auto accepted = ParseCreateCase(referral);
  REQUIRE(std::holds_alternative<persistence::NewCase>(accepted));
  const auto saved = workflow::Case::Open(std::get<persistence::NewCase>(accepted).context).Save();
  CHECK(workflow::Case::Restore(std::string_view(saved)).Context().household.at(0).member_id == "p1");
}

TEST_CASE("a referral member it does not define is refused by its pointer, and every list has a limit", "[api][dto]") {
  json::object referral{{"programme", "avrr"}, {"office", "jkt"}, {"host_country", "ID"}, {"origin_country", "BD"},
                        {"household", {{{"sex", "female"}, {"birth_year", 1990},
                                        {"personal_data", {{"given_name", "Synthetic"}, {"family_name", "Person"}}}}}}};
  const auto pointer_of = [](const json::object& body) {
    auto parsed = ParseCreateCase(body);
    if (std::holds_alternative<persistence::NewCase>(parsed)) return std::string("valid");
    const auto& problem = std::get<Problem>(parsed);
    CHECK(problem.detail.find("Synthetic") == std::string::npos);
    return std::string(problem.extensions.at("pointer").as_string());
  };
  CHECK(pointer_of(referral) == "/household/0/personal_data/given_name");  // the old README's misspelling
  auto fixed = referral;
  fixed["household"].as_array()[0].as_object()["personal_data"].as_object().erase("given_name");
  CHECK(pointer_of(fixed) == "valid");
  auto extra = fixed;
  extra["notes"] = "Synthetic notes";
  CHECK(pointer_of(extra) == "/notes");
  auto many_partners = fixed;
  json::array partners;
  for (int index = 0; index < 21; ++index) partners.emplace_back("partner-" + std::to_string(index));
  many_partners["partners"] = partners;
  CHECK(pointer_of(many_partners) == "/partners");
  auto long_name = fixed;
  long_name["household"].as_array()[0].as_object()["personal_data"].as_object()["family_name"] = std::string(201, 'S');
  CHECK(pointer_of(long_name) == "/household/0/personal_data/family_name");
  auto many_documents = fixed;
  json::array documents;
  for (int index = 0; index < 11; ++index) documents.push_back({{"type", "passport"}, {"number", "SYN" + std::to_string(index)}});
  many_documents["household"].as_array()[0].as_object()["personal_data"].as_object()["documents"] = documents;
  CHECK(pointer_of(many_documents) == "/household/0/personal_data/documents");
  auto extra_document_field = fixed;
  extra_document_field["household"].as_array()[0].as_object()["personal_data"].as_object()["documents"] =
      json::array{{{"type", "passport"}, {"number", "SYN1"}, {"issued_by", "x"}}};
  CHECK(pointer_of(extra_document_field) == "/household/0/personal_data/documents/0/issued_by");
}


TEST_CASE("settings: zero-config defaults, TOML file, environment overrides, clear errors", "[config]") {
  auto defaults = config::LoadSettings(std::nullopt, NoEnvironment());
  CHECK(defaults.database.url == "sqlite:returnflow.db");
  CHECK(defaults.server.listen_address == "127.0.0.1");
  CHECK(defaults.server.listen_port == 8080);
  CHECK(defaults.EffectiveWorkerThreads() == defaults.database.pool_size);

  auto from_file = config::LoadSettingsFromString(
      "[server]\nlisten = \"0.0.0.0:9090\"\nio_threads = 2\n[database]\npool_size = 8\n", "test.toml", NoEnvironment());
  CHECK(from_file.server.listen_port == 9090);
  CHECK(from_file.server.listen_address == "0.0.0.0");
  CHECK(from_file.database.pool_size == 8);

  auto environment = [](const std::string& name) -> std::optional<std::string> {
    if (name == "RETURNFLOW_DATABASE") return "postgresql://u@127.0.0.1:5432/db";
    if (name == "RETURNFLOW_LISTEN") return "127.0.0.1:7070";
    return std::nullopt;
  };
  auto overridden = config::LoadSettingsFromString("[database]\nurl = \"sqlite:x.db\"\n", "test.toml", environment);
  CHECK(overridden.database.url == "postgresql://u@127.0.0.1:5432/db");
  CHECK(overridden.server.listen_port == 7070);

  // Group transactions in flight: 0 means the pool size, and never more than the pool.
  CHECK(defaults.group_commit.EffectiveMaxInFlight(8) == 8);
  auto in_flight = config::LoadSettingsFromString("[group_commit]\nmax_in_flight = 2\n", "test.toml", NoEnvironment());
  CHECK(in_flight.group_commit.EffectiveMaxInFlight(8) == 2);
  CHECK(in_flight.group_commit.EffectiveMaxInFlight(1) == 1);
  auto in_flight_environment = [](const std::string& name) -> std::optional<std::string> {
    if (name == "RETURNFLOW_GROUP_COMMIT_IN_FLIGHT") return "3";
    return std::nullopt;
  };
  CHECK(config::LoadSettings(std::nullopt, in_flight_environment).group_commit.max_in_flight == 3);

  // The case-state cache of group commit: on by default, sized or turned off by file or environment.
  CHECK(defaults.group_commit.cached_cases == 10'000);
  CHECK(config::LoadSettingsFromString("[group_commit]\ncached_cases = 0\n", "test.toml", NoEnvironment())
            .group_commit.cached_cases == 0);
  auto cache_environment = [](const std::string& name) -> std::optional<std::string> {
    if (name == "RETURNFLOW_GROUP_COMMIT_CACHED_CASES") return "500";
    return std::nullopt;
  };
  CHECK(config::LoadSettings(std::nullopt, cache_environment).group_commit.cached_cases == 500);

  auto error_of = [](std::string_view text) {
    try {
      config::LoadSettingsFromString(text, "bad.toml", NoEnvironment());
    } catch (const config::SettingsError& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  CHECK(error_of("[server]\nio_threads = 0\n").find("server.io_threads") != std::string::npos);
  CHECK(error_of("[server]\nio_thread = 2\n").find("unknown setting") != std::string::npos);
  CHECK(error_of("[server]\nio_threads = \"two\"\n").find("expected an integer") != std::string::npos);
  CHECK(error_of("[database]\nurl = \"mysql://x\"\n").find("database.url") != std::string::npos);
  CHECK(error_of("[server\n").find("bad.toml:") == 0);
  auto bad_environment = [](const std::string& name) -> std::optional<std::string> {
    if (name == "RETURNFLOW_IO_THREADS") return "many";
    return std::nullopt;
  };
  CHECK_THROWS_WITH(config::LoadSettings(std::nullopt, bad_environment), Catch::Contains("RETURNFLOW_IO_THREADS"));
}

TEST_CASE("the example settings file loads", "[config]") {
  auto settings = config::LoadSettings(std::string(RETURNFLOW_SOURCE_DIR) + "/config/returnflow.toml", NoEnvironment());
  CHECK(settings.database.url == "sqlite:returnflow.db");
}

TEST_CASE("the OpenAPI document describes exactly the routes the router serves", "[api][openapi]") {
  auto document = OpenApiDocument();
  CHECK(document.at("openapi") == "3.1.0");
  // Each (path, method) with whether the document says it is anonymous (`security: []`, overriding the
  // document-wide bearer requirement), so a route that drops or gains authentication must be
  // documented that way too.
  std::set<std::tuple<std::string, std::string, bool>> documented;
  for (const auto& [path, item] : document.at("paths").as_object()) {
    for (const auto& [method, operation] : item.as_object()) {
      const auto* security = operation.as_object().if_contains("security");
      const bool anonymous = security && security->as_array().empty();
      documented.emplace(std::string(path), std::string(method), !anonymous);
      CHECK(operation.as_object().contains("responses"));
      if (!anonymous) CHECK(operation.at("responses").as_object().contains("401"));
    }
  }
  std::set<std::tuple<std::string, std::string, bool>> served;
  std::set<std::string> anonymous_paths;
  for (const auto& route : Routes()) {
    std::string method(http::to_string(route.method));
    std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::tolower(c); });
    served.emplace(std::string(route.pattern), method, route.authenticated);
    if (!route.authenticated) anonymous_paths.insert(std::string(route.pattern));
  }
  CHECK(documented == served);
  // The house rule: only health and readiness answer without a token.
  CHECK(anonymous_paths == std::set<std::string>{"/healthz", "/readyz"});
}

TEST_CASE("the OpenAPI document describes every operation's answers, the problem members and the event content modes",
          "[api][openapi]") {
  const auto document = OpenApiDocument();
  CHECK_FALSE(document.at("servers").as_array().empty());
  std::set<std::string> operation_ids;
  for (const auto& [path, item] : document.at("paths").as_object()) {
    for (const auto& [method, value] : item.as_object()) {
      const auto& operation = value.as_object();
      INFO(method << " " << path);
      CHECK(operation_ids.insert(std::string(operation.at("operationId").as_string())).second);
      CHECK_FALSE(operation.at("description").as_string().empty());
      CHECK(operation.at("tags").as_array().size() == 1);
      const auto& responses = operation.at("responses").as_object();
      CHECK(std::any_of(responses.begin(), responses.end(), [](const auto& response) {
        return response.key().starts_with("4");
      }));
      const auto* security = operation.if_contains("security");
      const bool anonymous = security && security->as_array().empty();
      // Every authenticated operation but this document itself checks a role or scope.
      if (!anonymous && path != "/openapi.json") CHECK(responses.contains("403"));
    }
  }
  const auto& schemas = document.at("components").at("schemas");
  // `reason` is the registry's enum, in its order.
  json::array codes;
  for (const auto& reason : workflow::AllReasonCodes()) codes.emplace_back(reason.code);
  for (const auto& reason : workflow::EngineReasonCodes()) codes.emplace_back(reason.code);
  CHECK(schemas.at("ReasonCode").at("enum") == codes);
  CHECK(schemas.at("Problem").at("properties").at("reason").at("$ref") == "#/components/schemas/ReasonCode");
  CHECK(schemas.at("EventOutcome").at("properties").at("reason").at("$ref") == "#/components/schemas/ReasonCode");
  CHECK(schemas.at("Problem").at("properties").as_object().contains("pointer"));
  CHECK(schemas.at("TokenScope").at("properties").as_object().contains("sources"));
  CHECK(schemas.at("TokenRequest").at("properties").at("scope").at("$ref") == "#/components/schemas/TokenScope");
  // Both event routes take structured and binary mode; POST /events takes batches too. The binary-mode
  // attributes are header parameters, and the answers name case-unreadable and outcome-unknown.
  const auto types_of = [](const json::value& response) {
    return response.at("content").at("application/problem+json").at("schema").at("allOf").at(1).at("properties").at(
        "type").at("enum");
  };
  for (const auto& [path, batch] : {std::pair{"/cases/{case_id}/events", false}, {"/events", true}}) {
    INFO(path);
    const auto& operation = document.at("paths").at(path).at("post");
    std::set<std::string> media_types;
    for (const auto& [media_type, content] : operation.at("requestBody").at("content").as_object()) {
      media_types.insert(std::string(media_type));
    }
    std::set<std::string> expected{"application/cloudevents+json", "application/json"};
    if (batch) expected.insert("application/cloudevents-batch+json");
    CHECK(media_types == expected);
    std::set<std::string> headers;
    for (const auto& parameter : operation.at("parameters").as_array()) {
      if (parameter.at("in") == "header") headers.insert(std::string(parameter.at("name").as_string()));
    }
    for (const char* attribute : {"ce-specversion", "ce-id", "ce-source", "ce-type", "ce-subject", "ce-time"}) {
      CHECK(headers.contains(attribute));
    }
    const auto server_error = types_of(operation.at("responses").at("500"));
    CHECK(std::find(server_error.as_array().begin(), server_error.as_array().end(),
                    json::value(TypeUri(ProblemKind::kCaseUnreadable))) != server_error.as_array().end());
    const auto unavailable = types_of(operation.at("responses").at("503"));
    CHECK(std::find(unavailable.as_array().begin(), unavailable.as_array().end(),
                    json::value(TypeUri(ProblemKind::kOutcomeUnknown))) != unavailable.as_array().end());
  }
}

TEST_CASE("Retry-After is read as delay-seconds or as an HTTP-date in any of its three forms", "[api][webhooks]") {
  using std::chrono::seconds;
  const auto answered = *api::ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(*api::ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT") == answered);
  CHECK(*api::ParseHttpDate("Sun Nov  6 08:49:37 1994") == answered);
  CHECK(api::RetryAfter("120", answered) == seconds(120));
  CHECK(api::RetryAfter("Sun, 06 Nov 1994 08:51:37 GMT", answered) == seconds(120));
  CHECK(api::RetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", answered) == seconds(0));    // a date past: no wait
  CHECK(api::RetryAfter("99999999", answered) == seconds(7 * 24 * 3600));            // at most a week
  CHECK(api::RetryAfter("Sun, 06 Dec 1994 08:49:37 GMT", answered) == seconds(7 * 24 * 3600));
  CHECK_FALSE(api::RetryAfter("-5", answered));
  CHECK_FALSE(api::RetryAfter("soon", answered));
  CHECK_FALSE(api::RetryAfter("Sun, 06 Nov 1994 08:49:37 GMT trailing", answered));
  CHECK_FALSE(api::ParseHttpDate(""));
}
