// The event API over real sockets, on SQLite and PostgreSQL: a case driven through its life by the
// roles that drive it, duplicates, every kind of bad request, batches, search, history, personal data.
#include <thread>

#include <sstream>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "api/openapi.hpp"
#include "persistence/repository.hpp"
#include "tests/api/fixture.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

namespace {
std::string StageOf(TestServer& server, const std::string& token, const std::string& case_id) {
  auto client = server.Client(token);
  auto result = client.Get("/cases/" + case_id);
  REQUIRE(result.status == 200);
  return std::string(result.Json().at("stage").as_string());
}
}  // namespace

TEST_CASE("a single adult's case is driven from referral to closure over HTTP by the roles that drive it", "[api][http]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    auto id = cast.CreateCase();
    CHECK(StageOf(server, cast.caseworker, id) == "referral");

    Apply(server, cast.caseworker, id, "eligibility.review_started", {}, "2026-11-02T09:00:00Z");
    Apply(server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}}, "2026-11-03T09:00:00Z");
    Apply(server, cast.caseworker, id, "counselling.session_held", {}, "2026-11-04T09:00:00Z");
    Apply(server, cast.caseworker, id, "consent.recorded", {{"kind", "explicit"}}, "2026-11-04T11:00:00Z");
    CHECK(StageOf(server, cast.caseworker, id) == "documentation");

    Apply(server, cast.embassy_token, id, "travel_document.requested", {}, "2026-11-05T09:00:00Z");
    Apply(server, cast.immigration_token, id, "exit_clearance.requested", {}, "2026-11-05T10:00:00Z");
    Apply(server, cast.clinic_token, id, "fitness.certified", {{"valid_until", "2027-01-31"}}, "2026-11-06T09:00:00Z");
    Apply(server, cast.immigration_token, id, "exit_clearance.granted", {}, "2026-11-10T09:00:00Z");
    Apply(server, cast.embassy_token, id, "travel_document.issued", {{"expires_on", "2027-06-30"}}, "2026-11-12T09:00:00Z");
    CHECK(StageOf(server, cast.caseworker, id) == "travel");

    Apply(server, cast.travel_token, id, "travel.booked", {{"departure_date", "2026-12-10"}, {"route", "CGK-KUL-DAC"}},
          "2026-11-15T09:00:00Z");
    Apply(server, cast.caseworker, id, "travel.briefing_held", {{"voluntariness_confirmed", true}}, "2026-12-08T09:00:00Z");
    Apply(server, cast.travel_token, id, "travel.departed", {}, "2026-12-10T06:00:00Z");
    // Voluntariness: withdrawal no longer applies once the migrant has departed.
    auto late_withdrawal = Send(server, cast.caseworker, id, "consent.withdrawn", {}, "2026-12-10T07:00:00Z");
    CHECK((late_withdrawal.status == 409 || late_withdrawal.status == 422));
    Apply(server, cast.reception_token, id, "travel.arrived", {}, "2026-12-10T18:00:00Z");
    CHECK(StageOf(server, cast.caseworker, id) == "reintegration");

    Apply(server, cast.caseworker, id, "reintegration.plan_submitted", {{"monitoring_visits", 3}}, "2026-12-20T09:00:00Z");
    Apply(server, cast.caseworker, id, "reintegration.plan_approved", {}, "2026-12-22T09:00:00Z");
    Apply(server, cast.reintegration_token, id, "assistance.delivered", {{"kind", "cash_on_arrival"}}, "2026-12-23T09:00:00Z");
    auto early = Send(server, cast.caseworker, id, "case.closed", {{"outcome", "reintegrated"}}, "2027-01-05T09:00:00Z");
    CHECK(early.status == 422);  // the monitoring schedule is not complete
    CHECK(early.ProblemType() == "guard-refused");
    for (const char* when : {"2027-03-10T09:00:00Z", "2027-06-10T09:00:00Z", "2027-12-10T09:00:00Z"}) {
      Apply(server, cast.reintegration_token, id, "monitoring.visit_completed",
            {{"economic", 0.7}, {"social", 0.8}, {"psychosocial", 0.9}}, when);
    }
    Apply(server, cast.caseworker, id, "case.closed", {{"outcome", "reintegrated"}}, "2027-12-11T09:00:00Z");

    auto client = server.Client(cast.supervisor);
    auto final_case = client.Get("/cases/" + id).Json();
    CHECK(final_case.at("stage") == "closed");
    CHECK(final_case.at("outcome") == "reintegrated");
    auto history = client.Get("/cases/" + id + "/history?limit=200").Json();
    const auto& entries = history.at("entries").as_array();  // `history` is a named value: no dangling
    CHECK(entries.size() == 1 + 20 + 2);  // case.opened, 20 applied events, two refusals
    CHECK(entries.front().at("type") == "case.opened");
    CHECK(entries.back().at("type") == "case.closed");
    for (const auto& entry : entries) CHECK(entry.as_object().contains("actor"));
  }
}

TEST_CASE("an unaccompanied child proceeds only after a supervisor approves the best-interests determination", "[api][http]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    auto id = cast.CreateCase(json::array{{{"relationship", "principal"}, {"sex", "male"}, {"birth_year", 2012},
                                           {"vulnerabilities", {"unaccompanied_child"}}}});
    Apply(server, cast.caseworker, id, "eligibility.review_started", {}, "2026-11-02T09:00:00Z");
    Apply(server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}}, "2026-11-03T09:00:00Z");
    Apply(server, cast.caseworker, id, "counselling.session_held", {}, "2026-11-04T09:00:00Z");
    auto blocked = Send(server, cast.caseworker, id, "consent.recorded", {{"kind", "explicit"}}, "2026-11-04T10:00:00Z");
    CHECK(blocked.status == 422);
    CHECK(blocked.Json().at("reason").as_string().size() > 0);
    Apply(server, cast.caseworker, id, "best_interests.determined", {{"member_id", "m1"}, {"in_child_interest", true}},
          "2026-11-05T09:00:00Z");
    // The approval needs a second person: the caseworker may not give it, the supervisor may.
    auto self_approval = Send(server, cast.caseworker, id, "best_interests.approved", {{"member_id", "m1"}});
    CHECK(self_approval.status == 403);
    Apply(server, cast.supervisor, id, "best_interests.approved", {{"member_id", "m1"}}, "2026-11-06T09:00:00Z");
    Apply(server, cast.caseworker, id, "guardian.recorded", {{"member_id", "m1"}}, "2026-11-06T10:00:00Z");
    Apply(server, cast.caseworker, id, "consent.recorded", {{"kind", "explicit"}}, "2026-11-07T09:00:00Z");
    CHECK(StageOf(server, cast.caseworker, id) == "documentation");
    // A supervisor reads but never writes anything other than approvals.
    auto supervisor_write = Send(server, cast.supervisor, id, "travel_document.requested");
    CHECK(supervisor_write.status == 403);
  }
}

TEST_CASE("a duplicate event is applied once and answered with the original outcome, also concurrently", "[api][http]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    auto id = cast.CreateCase();
    auto event = CloudEvent("eligibility.review_started", id, {}, "2026-11-02T09:00:00Z");
    auto client = server.Client(cast.caseworker);
    auto first = client.PostEvent(id, event);
    auto second = client.PostEvent(id, event);
    REQUIRE(first.status == 200);
    REQUIRE(second.status == 200);
    CHECK(first.Json().at("replayed") == false);
    CHECK(second.Json().at("replayed") == true);
    CHECK(second.Json().at("sequence") == first.Json().at("sequence"));
    CHECK(second.Json().at("version") == first.Json().at("version"));

    // The same (source, id) with other content is a conflict, not a silent replay.
    auto altered = event;
    altered["type"] = "counselling.session_held";
    auto conflict = client.PostEvent(id, altered);
    CHECK(conflict.status == 409);
    CHECK(conflict.ProblemType() == "idempotency-conflict");

    // Eight clients deliver one event at the same moment: one application, eight identical answers.
    auto concurrent = CloudEvent("eligibility.confirmed", id, {{"destination_country", "BD"}}, "2026-11-03T09:00:00Z");
    std::vector<HttpResult> results(8);
    std::vector<std::thread> threads;
    for (std::size_t index = 0; index < results.size(); ++index) {
      threads.emplace_back([&, index] {
        HttpClient own(server.Port(), cast.caseworker);
        results[index] = own.PostEvent(id, concurrent);
      });
    }
    for (auto& thread : threads) thread.join();
    int originals = 0;
    for (const auto& result : results) {
      REQUIRE(result.status == 200);
      if (result.Json().at("replayed") == false) ++originals;
      CHECK(result.Json().at("sequence") == results[0].Json().at("sequence"));
    }
    CHECK(originals == 1);
    auto history = client.Get("/cases/" + id + "/history").Json();
    int confirmed_rows = 0;
    for (const auto& entry : history.at("entries").as_array()) {
      if (entry.at("type") == "eligibility.confirmed") ++confirmed_rows;
    }
    CHECK(confirmed_rows == 1);
    CHECK(client.Get("/cases/" + id).Json().at("version") == 3);
  }
}

TEST_CASE("bad requests are answered with problem documents of a stable type", "[api][http]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, [](config::Settings& settings) { settings.server.body_limit = 64 * 1024; });
    auto& server = cast.server;
    auto id = cast.CreateCase();
    auto client = server.Client(cast.caseworker);
    const std::string events = "/cases/" + id + "/events";

    auto malformed = client.Request(http::verb::post, events, "{\"specversion\": \"1.0\",", "application/cloudevents+json");
    CHECK(malformed.status == 400);
    CHECK(malformed.ProblemType() == "malformed-json");
    CHECK(malformed.Header("content-type") == "application/problem+json");

    auto wrong_type = client.Request(http::verb::post, events,
                                     json::serialize(CloudEvent("eligibility.review_started", id)), "application/json");
    CHECK(wrong_type.status == 415);
    CHECK(wrong_type.ProblemType() == "unsupported-media-type");

    for (const char* attribute : {"id", "source", "type", "specversion"}) {
      auto event = CloudEvent("eligibility.review_started", id);
      event.erase(attribute);
      auto missing = client.PostEvent(id, event);
      INFO(attribute);
      CHECK(missing.status == 400);
      CHECK(missing.ProblemType() == "invalid-cloudevent");
      CHECK(std::string(missing.Json().at("detail").as_string()).find(attribute) != std::string::npos);
    }
    auto missing_subject = CloudEvent("eligibility.review_started", id);
    missing_subject.erase("subject");
    auto via_events = client.Request(http::verb::post, "/events", json::serialize(missing_subject), "application/cloudevents+json");
    CHECK(via_events.status == 400);
    CHECK(via_events.ProblemType() == "invalid-cloudevent");

    auto unknown = client.PostEvent(id, CloudEvent("travel.teleported", id));
    CHECK(unknown.status == 400);
    CHECK(unknown.ProblemType() == "unknown-event-type");

    auto bad_data = client.PostEvent(id, CloudEvent("eligibility.confirmed", id, {{"destination_country", 42}}));
    CHECK(bad_data.status == 400);
    CHECK(bad_data.ProblemType() == "invalid-event-data");

    std::string huge(100 * 1024, 'x');
    auto oversize = client.Request(http::verb::post, events, "{\"pad\":\"" + huge + "\"}", "application/cloudevents+json");
    CHECK(oversize.status == 413);
    CHECK(oversize.ProblemType() == "payload-too-large");

    // Not deferrable (a caseworker's own step), so refused rather than kept for later.
    auto not_allowed = client.PostEvent(id, CloudEvent("counselling.session_held", id));
    CHECK(not_allowed.status == 409);
    CHECK(not_allowed.ProblemType() == "event-not-allowed");
    const auto not_allowed_body = not_allowed.Json();
    const auto& allowed = not_allowed_body.at("allowed_events").as_array();
    CHECK(std::find(allowed.begin(), allowed.end(), json::value("eligibility.review_started")) != allowed.end());

    Apply(server, cast.caseworker, id, "eligibility.review_started");
    Apply(server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}});
    auto guard = client.PostEvent(id, CloudEvent("consent.recorded", id, {{"kind", "explicit"}}));
    CHECK(guard.status == 422);
    CHECK(guard.ProblemType() == "guard-refused");
    CHECK_FALSE(guard.Json().at("reason").as_string().empty());

    auto current = client.Get("/cases/" + id);
    auto etag = current.Header("etag");
    auto version = current.Json().at("version").as_int64();
    CHECK(etag == "\"" + std::to_string(version) + "\"");
    auto stale = client.PostEvent(id, CloudEvent("counselling.session_held", id),
                                  {{"If-Match", "\"" + std::to_string(version - 1) + "\""}});
    CHECK(stale.status == 409);
    CHECK(stale.ProblemType() == "version-conflict");
    auto fresh = client.PostEvent(id, CloudEvent("counselling.session_held", id), {{"If-Match", etag}});
    CHECK(fresh.status == 200);

    // Wrong role: a clinic sending an embassy's event; a partner searching; an admin reading a case.
    auto clinic = server.Client(cast.clinic_token);
    auto wrong_role = clinic.PostEvent(id, CloudEvent("travel_document.issued", id, {{"expires_on", "2027-01-01"}}));
    CHECK(wrong_role.status == 403);
    CHECK(wrong_role.ProblemType() == "forbidden");
    CHECK(clinic.Get("/cases").status == 403);
    CHECK(server.Client(cast.admin).Get("/cases/" + id).status == 403);

    // Another partner's case answers exactly like a case that does not exist.
    auto stranger = server.Client(cast.stranger_token);
    auto foreign = stranger.PostEvent(id, CloudEvent("travel_document.requested", id));
    auto unknown_id = std::string("00000000-0000-4000-8000-000000000000");
    auto nowhere = stranger.PostEvent(unknown_id, CloudEvent("travel_document.requested", unknown_id));
    CHECK(foreign.status == 404);
    CHECK(nowhere.status == 404);
    auto without_instance = [](json::value body) {
      body.as_object().erase("instance");
      return body;
    };
    CHECK(without_instance(foreign.Json()) == without_instance(nowhere.Json()));
    CHECK(stranger.Get("/cases/" + id).body.size() > 0);
    CHECK(stranger.Get("/cases/" + id).status == 404);

    HttpClient anonymous(server.Port());
    auto unauthenticated = anonymous.Get("/cases/" + id);
    CHECK(unauthenticated.status == 401);
    CHECK(unauthenticated.Header("www-authenticate").starts_with("Bearer"));
    HttpClient forged(server.Port(), "rft_forged");
    CHECK(forged.Get("/cases/" + id).status == 401);
    CHECK(anonymous.Request(http::verb::put, "/cases/" + id).status == 405);
    CHECK(anonymous.Get("/no/such/route").status == 404);
  }
}

TEST_CASE("a batch answers per event and keeps each case's order", "[api][http]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    auto first = cast.CreateCase();
    auto second = cast.CreateCase();
    json::array batch{CloudEvent("eligibility.review_started", first), CloudEvent("eligibility.review_started", second),
                      CloudEvent("eligibility.confirmed", first, {{"destination_country", "BD"}}),
                      json::object{{"specversion", "1.0"}, {"id", "broken"}},
                      CloudEvent("eligibility.confirmed", second, {{"destination_country", "BD"}}),
                      CloudEvent("counselling.session_held", first),
                      CloudEvent("eligibility.review_started", second)};
    auto client = server.Client(cast.caseworker);
    auto result = client.Request(http::verb::post, "/events", json::serialize(batch), "application/cloudevents-batch+json");
    REQUIRE(result.status == 200);
    auto body = result.Json();
    const auto& results = body.at("results").as_array();
    REQUIRE(results.size() == batch.size());
    std::vector<int> statuses;
    for (const auto& item : results) statuses.push_back(static_cast<int>(item.at("status").as_int64()));
    CHECK(statuses == std::vector<int>{200, 200, 200, 400, 200, 200, 409});
    CHECK(body.at("applied") == 5);
    CHECK(StageOf(server, cast.caseworker, first) == "counselling");

    auto partner_batch = json::array{CloudEvent("travel_document.requested", first)};
    auto partner = server.Client(cast.stranger_token);
    auto partner_result = partner.Request(http::verb::post, "/events", json::serialize(partner_batch),
                                          "application/cloudevents-batch+json");
    REQUIRE(partner_result.status == 200);
    CHECK(partner_result.Json().at("results").as_array()[0].at("status") == 404);
  }
}

TEST_CASE("search pages with a stable cursor, counts by stage and stays within the caller's scope", "[api][http]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    std::vector<std::string> ids{cast.CreateCase(), cast.CreateCase(), cast.CreateCase()};
    Apply(server, cast.caseworker, ids[0], "eligibility.review_started");
    Apply(server, cast.caseworker, ids[0], "eligibility.confirmed", {{"destination_country", "BD"}});
    auto client = server.Client(cast.caseworker);
    auto page = client.Get("/cases?limit=2").Json();
    REQUIRE(page.at("cases").as_array().size() == 2);
    REQUIRE(page.at("next_cursor").is_string());
    auto rest = client.Get("/cases?limit=2&cursor=" + std::string(page.at("next_cursor").as_string())).Json();
    REQUIRE(rest.at("cases").as_array().size() == 1);
    CHECK(rest.at("next_cursor").is_null());
    std::set<std::string> seen;
    for (const auto* part : {&page, &rest}) {
      for (const auto& item : part->at("cases").as_array()) seen.insert(std::string(item.at("case_id").as_string()));
    }
    CHECK(seen == std::set<std::string>(ids.begin(), ids.end()));
    const auto& counts = page.at("counts_by_stage").as_object();
    CHECK(counts.at("referral") == 2);
    CHECK(counts.at("counselling") == 1);
    auto by_stage = client.Get("/cases?stage=counselling").Json();
    REQUIRE(by_stage.at("cases").as_array().size() == 1);
    CHECK(by_stage.at("cases").as_array()[0].at("case_id").as_string() == ids[0]);
    CHECK(client.Get("/cases?vulnerability=tall").status == 400);
    CHECK(client.Get("/cases?limit=100000").status == 400);
    CHECK(client.Get("/cases?cursor=garbage").status == 400);

    // A caseworker never sees another office's cases; a supervisor only its countries.
    CHECK(server.Client(cast.other_caseworker).Get("/cases?office=" + cast.office).Json().at("cases").as_array().empty());
    auto np_supervisor = server.Client(cast.other_supervisor).Get("/cases?office=" + cast.office).Json();
    CHECK(np_supervisor.at("cases").as_array().empty());
    auto supervisor = server.Client(cast.supervisor).Get("/cases?office=" + cast.office).Json();
    CHECK(supervisor.at("cases").as_array().size() == 3);
  }
}

TEST_CASE("personal data in full only to the office's caseworkers, only when asked, and every read is audited", "[api][http]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    auto id = cast.CreateCase();
    auto client = server.Client(cast.caseworker);
    auto plain = client.Get("/cases/" + id).Json();
    CHECK_FALSE(plain.as_object().contains("personal_data"));
    CHECK(plain.at("household").as_array()[0].at("birth_year") == 1991);
    auto with = client.Get("/cases/" + id + "?include=personal_data&purpose=travel_document_request").Json();
    REQUIRE(with.at("personal_data").as_array().size() == 1);
    CHECK(with.at("personal_data").as_array()[0].at("family_name") == "Person");
    CHECK(server.Client(cast.supervisor).Get("/cases/" + id + "?include=personal_data").status == 403);
    // A partner names a transfer purpose of its part; with no consent recorded nothing of it goes.
    CHECK(server.Client(cast.embassy_token).Get("/cases/" + id + "?include=personal_data").status == 400);
    auto transfer = server.Client(cast.embassy_token).Get("/cases/" + id + "?include=personal_data&purpose=travel_document_issuance");
    REQUIRE(transfer.status == 200);
    CHECK(transfer.Json().at("personal_data").as_array().empty());
    CHECK(server.Client(cast.other_caseworker).Get("/cases/" + id + "?include=personal_data").status == 404);
    auto partner_view = server.Client(cast.embassy_token).Get("/cases/" + id).Json();
    CHECK_FALSE(partner_view.as_object().contains("household"));
    for (const auto& event : partner_view.at("allowed_events").as_array()) {
      CHECK(std::string(event.as_string()).starts_with("travel_document."));
    }
    persistence::PeopleRepository people(server.Service().Database());
    auto trail = people.AuditTrail(id);
    REQUIRE_FALSE(trail.empty());
    CHECK(trail.back().purpose == "travel_document_request");
  }
}

TEST_CASE("tokens are created once-shown, listed without secrets and revoked by an admin", "[api][http]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    auto admin = server.Client(cast.admin);
    auto name = Unique("cw");
    auto created = admin.PostJson("/tokens", json::object{{"name", name}, {"role", "caseworker"}, {"scope", {{"office", cast.office}}}});
    REQUIRE(created.status == 201);
    std::string secret(created.Json().at("token").as_string());
    CHECK(server.Client(secret).Get("/cases").status == 200);
    auto listed = admin.Get("/tokens");
    CHECK(listed.status == 200);
    CHECK(listed.body.find(secret) == std::string::npos);
    CHECK(listed.body.find(name) != std::string::npos);
    CHECK(admin.PostJson("/tokens", json::object{{"name", name}, {"role", "caseworker"}, {"scope", {{"office", "x"}}}}).status == 409);
    CHECK(server.Client(cast.caseworker).Get("/tokens").status == 403);
    CHECK(admin.Request(http::verb::delete_, "/tokens/" + name).status == 204);
    CHECK(server.Client(secret).Get("/cases").status == 401);
    CHECK(admin.Request(http::verb::delete_, "/tokens/" + name).status == 404);
  }
}

TEST_CASE("health, readiness, metrics and the served OpenAPI document", "[api][http][openapi]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    HttpClient anonymous(server.Port());
    CHECK(anonymous.Get("/healthz").status == 200);
    CHECK(anonymous.Get("/readyz").status == 200);
    auto id = cast.CreateCase();
    Apply(server, cast.caseworker, id, "eligibility.review_started");
    Send(server, cast.caseworker, id, "travel.departed");
    // Only health and readiness are anonymous: metrics need an admin or supervisor token.
    CHECK(anonymous.Get("/metrics").status == 401);
    CHECK(server.Client(cast.caseworker).Get("/metrics").status == 403);
    CHECK(server.Client(cast.embassy_token).Get("/metrics").status == 403);
    CHECK(server.Client(cast.admin).Get("/metrics").status == 200);
    auto metrics = server.Client(cast.supervisor).Get("/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("returnflow_http_requests_total{route=\"create_case\",status=\"201\"}") != std::string::npos);
    CHECK(metrics.body.find("returnflow_http_request_duration_seconds_bucket") != std::string::npos);
    CHECK(metrics.body.find("type=\"eligibility.review_started\"") != std::string::npos);
    CHECK(metrics.body.find("outcome=\"not_allowed\"") != std::string::npos);
    CHECK(metrics.body.find("returnflow_db_pool_size") != std::string::npos);

    CHECK(anonymous.Get("/openapi.json").status == 401);
    auto served = server.Client(cast.embassy_token).Get("/openapi.json");
    REQUIRE(served.status == 200);
    CHECK(served.Json() == api::OpenApiDocument());
    // Every documented operation is routed: it never answers "no such resource" or 405.
    auto client = server.Client(cast.caseworker);
    const auto document = served.Json();
    for (const auto& [path, item] : document.at("paths").as_object()) {
      for (const auto& [method, operation] : item.as_object()) {
        std::string target(path);
        for (const char* param : {"{case_id}", "{token_name}", "{code}", "{incident_id}"}) {
          if (auto at = target.find(param); at != std::string::npos) target.replace(at, std::strlen(param), "nobody");
        }
        std::string upper(method);
        std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
        auto verb = http::string_to_verb(upper);
        auto result = client.Request(verb, target, "{}", "application/json");
        INFO(method << " " << target << " -> " << result.status << " " << result.body);
        CHECK(result.status != 405);
        if (result.status == 404) CHECK(result.Json().at("detail") != "no such resource");
      }
    }
  }
}

TEST_CASE("caller text reaches the log escaped and cut, and problem documents do not echo it", "[api][http][log]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    std::ostringstream captured;
    {
      Cast cast(backend, [](config::Settings& settings) { settings.log.access_log = true; });
      auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
      sink->set_pattern("%v");
      spdlog::default_logger()->sinks().push_back(sink);
      const auto previous_level = spdlog::default_logger()->level();
      spdlog::set_level(spdlog::level::info);
      auto& server = cast.server;
      const auto id = cast.CreateCase();
      auto client = server.Client(cast.caseworker);
      auto forged_type = client.PostEvent(id, CloudEvent("x\nlevel=error event=forged", id));
      CHECK(forged_type.status == 400);
      CHECK(forged_type.body.find("forged") == std::string::npos);  // the type is not echoed
      auto huge_type = client.PostEvent(id, CloudEvent(std::string(900 * 1024, 't'), id));
      CHECK(huge_type.status == 400);  // beyond the attribute's limit
      CHECK(huge_type.body.size() < 2000);
      auto forged_id = CloudEvent("eligibility.review_started", id);
      forged_id["id"] = Unique("evt") + "\r\nlevel=error event=forged-id";
      CHECK(client.PostEvent(id, forged_id).status == 400);  // control characters are no CloudEvents string
      // An unknown member is named by its pointer, cut at 64 bytes, never as a long value.
      auto unknown_member =
          CloudEvent("eligibility.confirmed", id, {{"destination_country", "BD"}, {std::string(5000, 'k'), 1}});
      auto refused = client.PostEvent(id, unknown_member);
      CHECK(refused.status == 400);
      CHECK(refused.body.size() < 1000);
      CHECK(client.Get("/cases/" + id + "?include=personal_data&purpose=because%0Alevel%3Derror").status == 400);
      spdlog::default_logger()->flush();
      spdlog::default_logger()->sinks().pop_back();
      spdlog::set_level(previous_level);
    }
    std::istringstream lines(captured.str());
    std::string line;
    int access_lines = 0;
    while (std::getline(lines, line)) {
      INFO(line.substr(0, 200));
      CHECK_FALSE(line.starts_with("level="));  // no line a caller's newline began
      CHECK(line.size() < 4096);
      if (line.find("route=post_case_event") != std::string::npos) ++access_lines;
      if (line.find("forged") != std::string::npos) CHECK(line.find("\\x0a") != std::string::npos);
    }
    CHECK(access_lines >= 4);  // the requests above were logged, escaped
  }
}

TEST_CASE("a repeated referral with the same Idempotency-Key returns its case, and with other content is a 409",
          "[api][http]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto client = cast.server.Client(cast.caseworker);
    const std::vector<std::pair<std::string, std::string>> key{{"Idempotency-Key", Unique("referral")}};
    const auto body = json::serialize(cast.Referral());
    auto first = client.Request(http::verb::post, "/cases", body, "application/json", key);
    REQUIRE(first.status == 201);
    auto again = client.Request(http::verb::post, "/cases", body, "application/json", key);
    REQUIRE(again.status == 201);
    CHECK(again.Json().at("case_id") == first.Json().at("case_id"));
    // Other personal data under the same key: a conflict, never the old case with the new data dropped.
    auto other_person = cast.Referral();
    other_person["household"].as_array()[0].as_object()["personal_data"].as_object()["family_name"] = "Another";
    auto conflict = client.Request(http::verb::post, "/cases", json::serialize(other_person), "application/json", key);
    CHECK(conflict.status == 409);
    CHECK(conflict.ProblemType() == "idempotency-conflict");
    CHECK(conflict.body.find("Another") == std::string::npos);
    auto other_partners = cast.Referral();
    other_partners["partners"] = json::array{cast.embassy};
    CHECK(client.Request(http::verb::post, "/cases", json::serialize(other_partners), "application/json", key).status == 409);
  }
}
