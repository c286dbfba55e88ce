// The engine's clock over HTTP, driven by the testing clock (never by sleeping): deadlines that pass
// and the incidents they open, early events that wait in a case's inbox and are applied or expire,
// certificates that expire, monitoring visits that are missed, programme versions, and two engine
// nodes sharing one PostgreSQL database firing each timer once.
#include <algorithm>
#include <chrono>
#include <thread>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/api/fixture.hpp"
#include "workflow/dates.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

namespace {


/// Moves the server's clock forward by `advance` ("8d", "2h") and returns its time afterwards.
workflow::Instant Advance(TestServer& server, const std::string& admin, const std::string& advance) {
  auto client = server.Client(admin);
  auto result = advance == "0" ? client.PostJson("/testing/clock", json::object{{"seconds", 0}})
                               : client.PostJson("/testing/clock", json::object{{"advance", advance}});
  INFO(result.body);
  REQUIRE(result.status == 200);
  return *workflow::ParseInstant(result.Json().at("now").as_string());
}

std::string Time(workflow::Instant instant) { return workflow::FormatInstant(instant); }
std::string Day(workflow::Instant instant) {
  return workflow::FormatDate(std::chrono::floor<std::chrono::days>(instant));
}


json::object CaseJson(Cast& cast, const std::string& id) {
  auto result = cast.server.Client(cast.caseworker).Get("/cases/" + id);
  REQUIRE(result.status == 200);
  return result.Json().as_object();
}

std::vector<json::object> Entries(Cast& cast, const std::string& id) {
  auto result = cast.server.Client(cast.caseworker).Get("/cases/" + id + "/history?limit=200");
  REQUIRE(result.status == 200);
  std::vector<json::object> entries;
  const auto body = result.Json();
  for (const auto& entry : body.at("entries").as_array()) entries.push_back(entry.as_object());
  return entries;
}

std::size_t CountType(const std::vector<json::object>& entries, std::string_view type) {
  return static_cast<std::size_t>(std::count_if(entries.begin(), entries.end(), [&](const json::object& entry) {
    return entry.at("type").as_string() == type;
  }));
}

std::vector<json::object> Incidents(Cast& cast, const std::string& id, const std::string& status = "open") {
  auto result = cast.server.Client(cast.caseworker).Get("/incidents?case_id=" + id + "&status=" + status);
  INFO(result.body);
  REQUIRE(result.status == 200);
  std::vector<json::object> incidents;
  const auto body = result.Json();
  for (const auto& incident : body.at("incidents").as_array()) incidents.push_back(incident.as_object());
  return incidents;
}

bool Found(Cast& cast, const std::string& query, const std::string& id) {
  // The test's own office: on the shared PostgreSQL database other tests' cases would fill the page.
  auto result = cast.server.Client(cast.supervisor).Get("/cases?" + query + "&office=" + cast.office + "&limit=200");
  INFO(query << " -> " << result.body);
  REQUIRE(result.status == 200);
  const auto body = result.Json();
  const auto& cases = body.at("cases").as_array();
  return std::any_of(cases.begin(), cases.end(), [&](const json::value& row) { return row.at("case_id").as_string() == id; });
}

/// Drives a case from referral to counselling.in_progress, one hour apart from `start`.
void ToCounselling(Cast& cast, const std::string& id, workflow::Instant start) {
  Apply(cast.server, cast.caseworker, id, "eligibility.review_started", {}, Time(start + std::chrono::hours(1)));
  Apply(cast.server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}},
        Time(start + std::chrono::hours(2)));
  Apply(cast.server, cast.caseworker, id, "counselling.session_held", {}, Time(start + std::chrono::hours(3)));
}

}  // namespace

TEST_CASE("a passed deadline marks the case overdue and opens an incident, resolved only once the step is done",
          "[api][http][clock]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, WithTestingClock);
    auto& server = cast.server;
    const auto opened = Advance(server, cast.admin, "0");
    const auto id = CreateCaseNow(cast);
    auto fresh = CaseJson(cast, id);
    CHECK(fresh.at("programme_version") == 1);
    REQUIRE(fresh.at("deadlines").as_array().size() == 1);
    CHECK(fresh.at("deadlines").at(0).at("kind") == "eligibility");
    CHECK(fresh.at("deadlines").at(0).at("status") == "pending");
    CHECK(fresh.at("overdue").as_array().empty());
    CHECK(Incidents(cast, id).empty());

    // Six days: nothing is due yet. Eight: the eligibility review (7 days) is late.
    Advance(server, cast.admin, "6d");
    CHECK(CountType(Entries(cast, id), "deadline.passed") == 0);
    const auto late = Advance(server, cast.admin, "2d");
    auto overdue = CaseJson(cast, id);
    CHECK(overdue.at("overdue") == json::array{"eligibility"});
    CHECK(overdue.at("deadlines").at(0).at("status") == "overdue");
    const auto entries = Entries(cast, id);
    REQUIRE(CountType(entries, "deadline.passed") == 1);
    const auto& fired = *std::find_if(entries.begin(), entries.end(), [](const json::object& entry) {
      return entry.at("type") == "deadline.passed";
    });
    CHECK(fired.at("source") == "returnflow:clock");
    CHECK(fired.at("occurred_at").as_string() == Time(opened + std::chrono::days(7)));  // when it was due, not when it ran
    CHECK(Found(cast, "overdue=eligibility", id));
    CHECK(Found(cast, "overdue=true", id));
    CHECK(Found(cast, "incident=true", id));
    CHECK_FALSE(Found(cast, "incident=false", id));
    CHECK_FALSE(Found(cast, "overdue=counselling", id));

    auto incidents = Incidents(cast, id);
    REQUIRE(incidents.size() == 1);
    CHECK(incidents[0].at("kind") == "deadline_passed");
    CHECK(incidents[0].at("subject") == "eligibility");
    const std::string incident(incidents[0].at("incident_id").as_string());
    auto caseworker = server.Client(cast.caseworker);
    auto too_soon = caseworker.Request(http::verb::post, "/incidents/" + incident + "/resolve", "", "");
    CHECK(too_soon.status == 409);
    CHECK(too_soon.ProblemType() == "condition-holds");
    CHECK(too_soon.Json().at("reason") == "incident_condition_holds");
    // Another office's caseworker, and a partner, cannot reach it.
    CHECK(server.Client(cast.other_caseworker).Request(http::verb::post, "/incidents/" + incident + "/resolve", "", "").status == 404);
    CHECK(server.Client(cast.embassy_token).Get("/incidents").status == 403);

    // The review is done, late: the case is no longer overdue and the incident can be resolved.
    Apply(server, cast.caseworker, id, "eligibility.review_started", {}, Time(late));
    Apply(server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}}, Time(late));
    CHECK(CaseJson(cast, id).at("overdue").as_array().empty());
    CHECK_FALSE(Found(cast, "overdue=eligibility", id));
    auto resolved = caseworker.Request(http::verb::post, "/incidents/" + incident + "/resolve", "", "");
    INFO(resolved.body);
    REQUIRE(resolved.status == 200);
    CHECK(resolved.Json().at("status") == "resolved");
    CHECK_FALSE(resolved.Json().at("resolved_by").as_string().empty());
    CHECK(caseworker.Request(http::verb::post, "/incidents/" + incident + "/resolve", "", "").status == 409);
    CHECK(Incidents(cast, id).empty());
    CHECK(Incidents(cast, id, "resolved").size() == 1);
    // Counselling's own deadline (21 days from entering it) is the next one.
    const auto next = CaseJson(cast, id);
    REQUIRE(next.at("deadlines").as_array().size() == 1);
    CHECK(next.at("deadlines").at(0).at("kind") == "counselling");
    CHECK(next.at("deadlines").at(0).at("due").as_string() == Time(late + std::chrono::days(21)));
  }
}

TEST_CASE("an early partner event waits in the inbox and is applied when the case gets there, another expires",
          "[api][http][clock]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, WithTestingClock);
    auto& server = cast.server;
    const auto start = Advance(server, cast.admin, "0");
    const auto ready = CreateCaseNow(cast);
    const auto never = CreateCaseNow(cast);
    ToCounselling(cast, ready, start);
    ToCounselling(cast, never, start);

    // The embassy asks for the document while counselling still runs: kept, not refused.
    auto early = Send(server, cast.embassy_token, ready, "travel_document.requested", {}, Time(start + std::chrono::hours(4)));
    INFO(early.body);
    REQUIRE(early.status == 202);
    CHECK(early.Json().at("outcome") == "deferred");
    CHECK(early.Json().at("reason") == "waiting_for_case");
    auto waiting = CaseJson(cast, ready);
    REQUIRE(waiting.at("inbox").as_array().size() == 1);
    CHECK(waiting.at("inbox").at(0).at("type") == "travel_document.requested");
    // It may wait the programme's 30 days from when it was received (not from the time the sender gave it).
    const auto received = *workflow::ParseInstant(waiting.at("inbox").at(0).at("received_at").as_string());
    CHECK(received >= start);
    CHECK(waiting.at("inbox").at(0).at("expires_at").as_string() == Time(received + std::chrono::days(30)));
    // A caseworker's own step is never kept for later: it is refused when it cannot be applied.
    auto not_deferrable = Send(server, cast.caseworker, never, "case.reopened", {{"reason", "x"}});
    CHECK(not_deferrable.status == 409);

    // The document is issued before the case even reaches documentation: it waits too, behind the request.
    auto issued = Send(server, cast.embassy_token, ready, "travel_document.issued",
                       {{"expires_on", Day(start + std::chrono::days(400))}}, Time(start + std::chrono::hours(4)));
    REQUIRE(issued.status == 202);
    // Consent moves the case into documentation, and the waiting events are applied there, in order.
    Apply(server, cast.caseworker, ready, "consent.recorded", {{"kind", "explicit"}}, Time(start + std::chrono::hours(5)));
    auto applied = CaseJson(cast, ready);
    CHECK(applied.at("inbox").as_array().empty());
    const auto& states = applied.at("active_states").as_array();
    CHECK(std::find(states.begin(), states.end(), json::value("documentation.travel_document.issued")) != states.end());
    CHECK(applied.at("key_dates").as_object().contains("travel_document_expires_on"));
    const auto entries = Entries(cast, ready);
    std::vector<std::string> outcomes;
    for (const auto& entry : entries) {
      if (entry.at("type").as_string().starts_with("travel_document.")) {
        outcomes.push_back(std::string(entry.at("type").as_string()) + ":" + std::string(entry.at("outcome").as_string()));
      }
    }
    CHECK(outcomes == std::vector<std::string>{"travel_document.requested:deferred", "travel_document.issued:deferred",
                                               "travel_document.requested:applied", "travel_document.issued:applied"});

    // The other case never gets there: after the programme's 30 days its early event expires.
    auto kept = Send(server, cast.immigration_token, never, "exit_clearance.requested", {}, Time(start + std::chrono::hours(4)));
    REQUIRE(kept.status == 202);
    Advance(server, cast.admin, "29d");
    CHECK(CaseJson(cast, never).at("inbox").as_array().size() == 1);
    Advance(server, cast.admin, "2d");
    CHECK(CaseJson(cast, never).at("inbox").as_array().empty());
    const auto expired_entries = Entries(cast, never);
    const auto expired = std::find_if(expired_entries.begin(), expired_entries.end(), [](const json::object& entry) {
      return entry.at("outcome") == "expired";
    });
    REQUIRE(expired != expired_entries.end());
    CHECK(expired->at("reason") == "early_event_expired");
    bool incident = false;
    for (const auto& open : Incidents(cast, never)) {
      if (open.at("kind") == "early_event_expired") incident = open.at("subject") == "exit_clearance.requested";
    }
    CHECK(incident);
    // The first case's request was applied, so nothing of it expired.
    const auto later = Entries(cast, ready);
    CHECK(std::none_of(later.begin(), later.end(), [](const json::object& entry) { return entry.at("outcome") == "expired"; }));
  }
}

TEST_CASE("a fitness certificate that expires while the case waits to depart is cleared by the clock",
          "[api][http][clock]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, WithTestingClock);
    auto& server = cast.server;
    const auto start = Advance(server, cast.admin, "0");
    const auto id = CreateCaseNow(cast);
    ToCounselling(cast, id, start);
    const auto at = [&](int hours) { return Time(start + std::chrono::hours(hours)); };
    Apply(server, cast.caseworker, id, "consent.recorded", {{"kind", "explicit"}}, at(4));
    Apply(server, cast.embassy_token, id, "travel_document.requested", {}, at(5));
    Apply(server, cast.immigration_token, id, "exit_clearance.requested", {}, at(5));
    const auto departure = start + std::chrono::days(10);
    Apply(server, cast.clinic_token, id, "fitness.certified", {{"valid_until", Day(departure)}}, at(6));
    Apply(server, cast.immigration_token, id, "exit_clearance.granted", {}, at(7));
    Apply(server, cast.embassy_token, id, "travel_document.issued", {{"expires_on", Day(start + std::chrono::days(400))}},
          at(8));
    Apply(server, cast.travel_token, id, "travel.booked", {{"departure_date", Day(departure)}, {"route", "CGK-DAC"}}, at(9));
    CHECK(CaseJson(cast, id).at("key_dates").as_object().contains("fitness_valid_until"));

    // The flight does not leave; the day after the certificate's last day, the clock clears it.
    Advance(server, cast.admin, "11d");
    const auto after = CaseJson(cast, id);
    CHECK_FALSE(after.at("key_dates").as_object().contains("fitness_valid_until"));
    const auto entries = Entries(cast, id);
    REQUIRE(CountType(entries, "fitness.expired") == 1);
    // The departure deadline (the day after the booked date) passed too.
    CHECK(std::find(after.at("overdue").as_array().begin(), after.at("overdue").as_array().end(),
                    json::value("departure")) != after.at("overdue").as_array().end());
    // Moving the clock again fires nothing twice.
    Advance(server, cast.admin, "1d");
    CHECK(CountType(Entries(cast, id), "fitness.expired") == 1);
  }
}

TEST_CASE("after arrival the plan deadline and missed monitoring visits open incidents", "[api][http][clock]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, WithTestingClock);
    auto& server = cast.server;
    const auto start = Advance(server, cast.admin, "0");
    const auto id = CreateCaseNow(cast);
    ToCounselling(cast, id, start);
    const auto at = [&](int hours) { return Time(start + std::chrono::hours(hours)); };
    const auto departure = start + std::chrono::days(2);
    Apply(server, cast.caseworker, id, "consent.recorded", {{"kind", "explicit"}}, at(4));
    Apply(server, cast.embassy_token, id, "travel_document.requested", {}, at(5));
    Apply(server, cast.immigration_token, id, "exit_clearance.not_required", {}, at(5));
    Apply(server, cast.clinic_token, id, "fitness.certified", {{"valid_until", Day(start + std::chrono::days(60))}}, at(6));
    Apply(server, cast.embassy_token, id, "travel_document.issued", {{"expires_on", Day(start + std::chrono::days(400))}},
          at(8));
    Apply(server, cast.travel_token, id, "travel.booked", {{"departure_date", Day(departure)}, {"route", "CGK-DAC"}}, at(9));
    Apply(server, cast.caseworker, id, "travel.briefing_held", {{"voluntariness_confirmed", true}}, at(10));
    Advance(server, cast.admin, "2d");
    const auto arrived = Advance(server, cast.admin, "0");
    Apply(server, cast.travel_token, id, "travel.departed", {}, Time(arrived));
    Apply(server, cast.reception_token, id, "travel.arrived", {}, Time(arrived));
    Apply(server, cast.caseworker, id, "reintegration.plan_submitted", {{"monitoring_visits", 3}}, Time(arrived));

    // No plan approved 30 days after arrival: the plan deadline passes.
    Advance(server, cast.admin, "31d");
    auto kinds = [&] {
      std::set<std::string> open;
      for (const auto& incident : Incidents(cast, id)) {
        open.insert(std::string(incident.at("kind").as_string()) + "/" + std::string(incident.at("subject").as_string()));
      }
      return open;
    };
    CHECK(kinds().contains("deadline_passed/plan"));
    Apply(server, cast.caseworker, id, "reintegration.plan_approved", {}, Time(arrived + std::chrono::days(31)));
    Apply(server, cast.reintegration_token, id, "assistance.delivered", {{"kind", "cash_on_arrival"}},
          Time(arrived + std::chrono::days(31)));
    // The first visit (90 days, 14 days' grace) is done late but in time; the second is missed.
    Advance(server, cast.admin, "70d");  // day 101
    Apply(server, cast.reintegration_token, id, "monitoring.visit_completed",
          {{"economic", 0.5}, {"social", 0.5}, {"psychosocial", 0.5}}, Time(arrived + std::chrono::days(101)));
    Advance(server, cast.admin, "95d");  // day 196: the second visit (180 + 14) was missed
    const auto open = kinds();
    CHECK(open.contains("monitoring_visit_missed/2"));
    CHECK_FALSE(open.contains("monitoring_visit_missed/1"));
    const auto entries = Entries(cast, id);
    CHECK(CountType(entries, "monitoring.visit_missed") == 1);
    CHECK(CountType(entries, "monitoring.visit_due") == 2);
  }
}

TEST_CASE("programmes are server-side data: versions, the unsafe list for every case, and precise errors",
          "[api][http][clock]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    auto admin = server.Client(cast.admin);
    const auto code = Unique("prog");
    const json::object definition{{"name", "Synthetic programme"}, {"unsafe_destinations", {"AF"}}};
    auto created = admin.Request(http::verb::put, "/programmes/" + code, json::serialize(definition), "application/json");
    INFO(created.body);
    REQUIRE(created.status == 201);
    CHECK(created.Json().at("version") == 1);
    auto same = admin.Request(http::verb::put, "/programmes/" + code, json::serialize(definition), "application/json");
    CHECK(same.status == 200);
    CHECK(same.Json().at("version") == 1);

    // A referral under it, pinned to version 1.
    auto referral = cast.Referral();
    referral["programme"] = code;
    auto opened = server.Client(cast.caseworker).PostJson("/cases", referral);
    REQUIRE(opened.status == 201);
    const std::string id(opened.Json().at("case_id").as_string());
    CHECK(CaseJson(cast, id).at("programme_version") == 1);
    Apply(server, cast.caseworker, id, "eligibility.review_started");

    // BD becomes unsafe in version 2: the case, still on version 1, is protected at once.
    auto changed = definition;
    changed["unsafe_destinations"] = json::array{"AF", "BD"};
    auto second = admin.Request(http::verb::put, "/programmes/" + code, json::serialize(changed), "application/json");
    REQUIRE(second.status == 201);
    CHECK(second.Json().at("version") == 2);
    auto refused = Send(server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}});
    CHECK(refused.status == 422);
    CHECK(refused.Json().at("reason") == "destination_unsafe");
    CHECK(CaseJson(cast, id).at("programme_version") == 1);
    auto read = server.Client(cast.supervisor).Get("/programmes/" + code);
    REQUIRE(read.status == 200);
    CHECK(read.Json().at("versions").as_array().size() == 2);
    CHECK(read.Json().at("unsafe_destinations") == json::array{"AF", "BD"});

    // A caller cannot bring its own rules, nor name a programme the server does not have.
    auto own_rules = cast.Referral();
    own_rules["programme_rules"] = json::object{{"unsafe_destinations", json::array()}};
    auto refused_rules = server.Client(cast.caseworker).PostJson("/cases", own_rules);
    CHECK(refused_rules.status == 400);
    CHECK(refused_rules.Json().at("pointer") == "/programme_rules");
    auto unknown = cast.Referral();
    unknown["programme"] = "no-such-programme";
    auto refused_unknown = server.Client(cast.caseworker).PostJson("/cases", unknown);
    CHECK(refused_unknown.status == 422);
    CHECK(refused_unknown.ProblemType() == "unknown-programme");
    CHECK(refused_unknown.Json().at("pointer") == "/programme");

    // A definition with errors lists every one of them by pointer.
    const json::object broken{{"name", ""},
                              {"unsafe_destinations", {"Afghanistan"}},
                              {"service_levels", {{"booking", "two weeks"}}},
                              {"colour", "blue"}};
    auto invalid = admin.Request(http::verb::put, "/programmes/" + code, json::serialize(broken), "application/json");
    INFO(invalid.body);
    REQUIRE(invalid.status == 422);
    CHECK(invalid.ProblemType() == "invalid-programme");
    std::set<std::string> pointers;
    const auto invalid_body = invalid.Json();  // named: a range-for over a temporary's member dangles
    for (const auto& error : invalid_body.at("errors").as_array()) pointers.emplace(error.at("pointer").as_string());
    CHECK(pointers == std::set<std::string>{"/name", "/unsafe_destinations/0", "/service_levels/booking", "/colour"});
    CHECK(server.Client(cast.caseworker)
              .Request(http::verb::put, "/programmes/" + code, json::serialize(definition), "application/json")
              .status == 403);
    CHECK(server.Client(cast.embassy_token).Get("/programmes").status == 403);
    // Without --testing-clock there is no clock to move.
    CHECK(admin.PostJson("/testing/clock", json::object{{"seconds", 0}}).status == 404);
  }
}

TEST_CASE("two engine nodes on one PostgreSQL database fire each timer exactly once", "[api][http][clock][pg]") {
  const auto backends = Backends();
  if (std::find(backends.begin(), backends.end(), Backend::kPostgresql) == backends.end()) return;
  const auto live = [](config::Settings& settings) {
    settings.testing_clock = true;
    settings.scheduler.enabled = true;  // both loops run, and both are asked to drain
  };
  Cast cast(Backend::kPostgresql, live);
  TestServer other(Backend::kPostgresql, [&](config::Settings& settings) {
    live(settings);
    settings.database.url = cast.server.DatabaseUrl();  // the same database, of this test's own
  });
  const auto other_admin = other.Token("admin", {});
  Advance(cast.server, cast.admin, "0");
  std::vector<std::string> ids;
  for (int index = 0; index < 40; ++index) ids.push_back(CreateCaseNow(cast));
  // Both nodes' clocks move eight days at the same moment; each claims what is due. (No Catch2 macro
  // runs on these threads: the answers are checked after the join.)
  const json::object eight_days{{"advance", "8d"}};
  int first_status = 0, second_status = 0;
  std::thread first([&] { first_status = cast.server.Client(cast.admin).PostJson("/testing/clock", eight_days).status; });
  std::thread second([&] { second_status = other.Client(other_admin).PostJson("/testing/clock", eight_days).status; });
  first.join();
  second.join();
  REQUIRE(first_status == 200);
  REQUIRE(second_status == 200);
  for (const auto& id : ids) {
    INFO(id);
    CHECK(CountType(Entries(cast, id), "deadline.passed") == 1);
    CHECK(Incidents(cast, id).size() == 1);
  }
}
