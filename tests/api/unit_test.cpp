// Pure logic of the API, tested without a server: routing, CloudEvents validation, authorization
// decisions, tokens, problem documents, settings, the OpenAPI document.
#include <set>
#include <tuple>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "api/application.hpp"
#include "api/auth.hpp"
#include "api/cloudevents.hpp"
#include "api/dto.hpp"
#include "api/openapi.hpp"
#include "api/problem.hpp"
#include "api/router.hpp"
#include "config/settings.hpp"

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

TEST_CASE("a valid structured CloudEvent is accepted", "[api][cloudevents]") {
  auto parsed = ParseCloudEvent(ValidEvent());
  REQUIRE(std::holds_alternative<CloudEvent>(parsed));
  const auto& event = std::get<CloudEvent>(parsed);
  CHECK(event.id == "e-1");
  CHECK(event.subject == "c-1");
  CHECK(event.data.is_object());
}

TEST_CASE("each missing or invalid CloudEvents attribute is named in a 400 problem", "[api][cloudevents]") {
  for (const char* attribute : {"specversion", "id", "source", "type", "subject", "time"}) {
    auto event = ValidEvent();
    event.erase(attribute);
    auto parsed = ParseCloudEvent(event);
    REQUIRE(std::holds_alternative<Problem>(parsed));
    const auto& problem = std::get<Problem>(parsed);
    CHECK(problem.kind == ProblemKind::kInvalidCloudEvent);
    CHECK(problem.detail.find(attribute) != std::string::npos);
    CHECK(problem.Status() == http::status::bad_request);
  }
  auto wrong_version = ValidEvent();
  wrong_version["specversion"] = "0.3";
  CHECK(std::holds_alternative<Problem>(ParseCloudEvent(wrong_version)));
  auto bad_time = ValidEvent();
  bad_time["time"] = "yesterday";
  CHECK(std::holds_alternative<Problem>(ParseCloudEvent(bad_time)));
  auto bad_data = ValidEvent();
  bad_data["data"] = "text";
  CHECK(std::holds_alternative<Problem>(ParseCloudEvent(bad_data)));
  auto base64 = ValidEvent();
  base64["data_base64"] = "AAAA";
  CHECK(std::holds_alternative<Problem>(ParseCloudEvent(base64)));
  auto bad_extension = ValidEvent();
  bad_extension["Bad-Name"] = 1;
  CHECK(std::holds_alternative<Problem>(ParseCloudEvent(bad_extension)));
  auto no_subject = ValidEvent();
  no_subject.erase("subject");
  CHECK(std::holds_alternative<CloudEvent>(ParseCloudEvent(no_subject, /*require_subject=*/false)));
}

TEST_CASE("batch bodies must be non-empty arrays within the event limit", "[api][cloudevents]") {
  CHECK(std::holds_alternative<Problem>(SplitCloudEventBody("{", true, 10)));
  CHECK(std::holds_alternative<Problem>(SplitCloudEventBody("[]", true, 10)));
  CHECK(std::holds_alternative<Problem>(SplitCloudEventBody("{}", true, 10)));
  auto too_many = SplitCloudEventBody("[{},{},{}]", true, 2);
  REQUIRE(std::holds_alternative<Problem>(too_many));
  CHECK(std::get<Problem>(too_many).kind == ProblemKind::kPayloadTooLarge);
  auto ok = SplitCloudEventBody("[{},{}]", true, 2);
  REQUIRE(std::holds_alternative<std::vector<json::value>>(ok));
  CHECK(std::get<std::vector<json::value>>(ok).size() == 2);
  CHECK(MediaType(" Application/CloudEvents+JSON ; charset=utf-8") == "application/cloudevents+json");
}

TEST_CASE("case visibility follows office, assignment and supervisor countries, and admins see no case", "[api][auth]") {
  CaseScope scope{"jakarta", "ID", "BD", {"embassy-bd", "clinic-1"}};
  Principal caseworker{"t1", "cw", Role::kCaseworker, "jakarta", "", {}, {}};
  Principal other_caseworker{"t2", "cw2", Role::kCaseworker, "surabaya", "", {}, {}};
  Principal partner{"t3", "p", Role::kPartner, "", "embassy-bd", {"travel_document.issued"}, {}};
  Principal other_partner{"t4", "p2", Role::kPartner, "", "embassy-np", {"travel_document.issued"}, {}};
  Principal supervisor_all{"t5", "s", Role::kSupervisor, "", "", {}, {}};
  Principal supervisor_bd{"t6", "s2", Role::kSupervisor, "", "", {}, {"BD"}};
  Principal supervisor_np{"t7", "s3", Role::kSupervisor, "", "", {}, {"NP"}};
  Principal admin{"t8", "a", Role::kAdmin, "", "", {}, {}};
  CHECK(CanSeeCase(caseworker, scope));
  CHECK_FALSE(CanSeeCase(other_caseworker, scope));
  CHECK(CanSeeCase(partner, scope));
  CHECK_FALSE(CanSeeCase(other_partner, scope));
  CHECK(CanSeeCase(supervisor_all, scope));
  CHECK(CanSeeCase(supervisor_bd, scope));
  CHECK_FALSE(CanSeeCase(supervisor_np, scope));
  CHECK_FALSE(CanSeeCase(admin, scope));
  CHECK(CanReadPersonalData(caseworker, scope));
  CHECK_FALSE(CanReadPersonalData(partner, scope));
  CHECK_FALSE(CanReadPersonalData(supervisor_all, scope));
}

TEST_CASE("event permissions: partners their types, supervisors approvals only, caseworkers the rest", "[api][auth]") {
  Principal caseworker{"t1", "cw", Role::kCaseworker, "jakarta", "", {}, {}};
  Principal partner{"t3", "p", Role::kPartner, "", "embassy-bd", {"travel_document.issued"}, {}};
  Principal supervisor{"t5", "s", Role::kSupervisor, "", "", {}, {}};
  CHECK(CanSendEvent(caseworker, "consent.recorded"));
  CHECK_FALSE(CanSendEvent(caseworker, "best_interests.approved"));
  CHECK(CanSendEvent(partner, "travel_document.issued"));
  CHECK_FALSE(CanSendEvent(partner, "fitness.certified"));
  CHECK(CanSendEvent(supervisor, "best_interests.approved"));
  CHECK(CanSendEvent(supervisor, "case.closed"));
  CHECK_FALSE(CanSendEvent(supervisor, "consent.recorded"));
}

TEST_CASE("metrics are for admins and supervisors only", "[api][auth]") {
  CHECK(CanReadMetrics(Principal{"t1", "a", Role::kAdmin, "", "", {}, {}}));
  CHECK(CanReadMetrics(Principal{"t2", "s", Role::kSupervisor, "", "", {}, {"NP"}}));
  CHECK_FALSE(CanReadMetrics(Principal{"t3", "cw", Role::kCaseworker, "jakarta", "", {}, {}}));
  CHECK_FALSE(CanReadMetrics(Principal{"t4", "p", Role::kPartner, "", "embassy-bd", {"travel_document.issued"}, {}}));
}

TEST_CASE("tokens are random, hashed with SHA-256 and compared in constant time", "[api][auth]") {
  auto first = GenerateToken();
  auto second = GenerateToken();
  CHECK(first != second);
  CHECK(first.starts_with("rft_"));
  CHECK(first.size() == 4 + 43);
  CHECK(HashToken("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(DigestsEqual(HashToken(first), HashToken(first)));
  CHECK_FALSE(DigestsEqual(HashToken(first), HashToken(second)));
  CHECK_FALSE(DigestsEqual("ab", "abc"));
  CHECK(BearerToken("Bearer rft_x") == std::optional<std::string_view>("rft_x"));
  CHECK(BearerToken("bearer  rft_x ") == std::optional<std::string_view>("rft_x"));
  CHECK_FALSE(BearerToken("Basic abc"));
  CHECK_FALSE(BearerToken("Bearer "));
}

TEST_CASE("token scopes are validated per role", "[api][auth]") {
  auto parse = [](json::object body) { return ParseCreateToken(body); };
  CHECK(std::holds_alternative<Problem>(parse({{"name", "x"}, {"role", "caseworker"}, {"scope", json::object()}})));
  CHECK(std::holds_alternative<CreateTokenRequest>(parse({{"name", "x"}, {"role", "caseworker"}, {"scope", {{"office", "jkt"}}}})));
  CHECK(std::holds_alternative<Problem>(
      parse({{"name", "x"}, {"role", "partner"}, {"scope", {{"organisation", "e"}, {"event_types", {"no.such"}}}}})));
  CHECK(std::holds_alternative<Problem>(parse(
      {{"name", "x"}, {"role", "partner"}, {"scope", {{"organisation", "e"}, {"event_types", {"best_interests.approved"}}}}})));
  CHECK(std::holds_alternative<Problem>(parse({{"name", "bad name"}, {"role", "admin"}})));
  CHECK(std::holds_alternative<Problem>(parse({{"name", "x"}, {"role", "root"}})));
  CHECK(std::holds_alternative<CreateTokenRequest>(parse({{"name", "x"}, {"role", "supervisor"}, {"scope", {{"countries", {"ID"}}}}})));
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

TEST_CASE("persistence errors map to problems in one place", "[api][problem]") {
  using persistence::ErrorKind;
  using persistence::PersistenceError;
  CHECK(Application::FromPersistence(PersistenceError(ErrorKind::kNotFound, "x")).kind == ProblemKind::kNotFound);
  CHECK(Application::FromPersistence(PersistenceError(ErrorKind::kUnavailable, "x")).kind == ProblemKind::kUnavailable);
  CHECK(Application::FromPersistence(PersistenceError(ErrorKind::kConflict, "apply case=c: conflict (version is 4, expected 3)"), true)
            .kind == ProblemKind::kVersionConflict);
  CHECK(Application::FromPersistence(
            PersistenceError(ErrorKind::kConflict, "apply case=c: conflict (event id reused with different content)"))
            .kind == ProblemKind::kIdempotencyConflict);
  CHECK(Application::FromPersistence(PersistenceError(ErrorKind::kInvalidData, "bad cursor")).kind == ProblemKind::kInvalidRequest);
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
  REQUIRE(std::holds_alternative<CreateCaseRequest>(parsed));
  const auto& new_case = std::get<CreateCaseRequest>(parsed).new_case;
  REQUIRE(new_case.context.household.size() == 2);
  CHECK(new_case.context.household[0].birth_year == 1990);
  CHECK(new_case.context.household[0].member_id == "m1");
  REQUIRE(new_case.people.size() == 1);
  CHECK(new_case.people[0].member_id == "m1");

  auto bad_country = referral;
  bad_country["host_country"] = "Indonesia";
  auto problem = std::get<Problem>(ParseCreateCase(bad_country));
  CHECK(problem.extensions.at("field") == "host_country");
  auto two_principals = referral;
  two_principals["household"].as_array()[1].as_object()["relationship"] = "principal";
  CHECK(std::holds_alternative<Problem>(ParseCreateCase(two_principals)));
  auto no_birth = referral;
  no_birth["household"].as_array()[1].as_object().erase("birth_year");
  CHECK(std::get<Problem>(ParseCreateCase(no_birth)).detail.find("birth_year") != std::string::npos);
  auto bad_flag = referral;
  bad_flag["household"].as_array()[1].as_object()["vulnerabilities"] = json::array{"tall"};
  CHECK(std::holds_alternative<Problem>(ParseCreateCase(bad_flag)));
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
