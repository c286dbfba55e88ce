#pragma once
/// One engine with the cast of a return case: a caseworker office, its partners and a supervisor,
/// each with its own token, all names unique to the test.
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/api/support.hpp"

namespace returnflow::test {

struct Cast {
  explicit Cast(Backend backend, std::function<void(config::Settings&)> adjust = {})
      : server(backend, std::move(adjust)),
        office(Unique("office")),
        other_office(Unique("office")),
        embassy(Unique("embassy")),
        immigration(Unique("immigration")),
        clinic(Unique("clinic")),
        travel_agent(Unique("travel")),
        reception(Unique("reception")),
        reintegration(Unique("reintegration")),
        stranger(Unique("stranger")),
        caseworker(server.Token("caseworker", {{"office", office}})),
        other_caseworker(server.Token("caseworker", {{"office", other_office}})),
        embassy_token(server.Token("partner", {{"organisation", embassy},
                                                {"event_types", {"travel_document.requested", "travel_document.issued",
                                                                 "travel_document.refused", "travel_document.passport_verified"}}})),
        immigration_token(server.Token("partner", {{"organisation", immigration},
                                                    {"event_types", {"exit_clearance.requested", "exit_clearance.granted",
                                                                     "exit_clearance.not_required"}}})),
        clinic_token(server.Token("partner", {{"organisation", clinic}, {"event_types", {"fitness.certified", "fitness.unfit"}}})),
        travel_token(server.Token("partner", {{"organisation", travel_agent},
                                              {"event_types", {"travel.booked", "travel.no_show", "travel.departed"}}})),
        reception_token(server.Token("partner", {{"organisation", reception},
                                                 {"event_types", {"travel.arrived", "caregiver.confirmed"}}})),
        reintegration_token(server.Token("partner", {{"organisation", reintegration},
                                                     {"event_types", {"assistance.delivered", "monitoring.visit_completed"}}})),
        stranger_token(server.Token("partner", {{"organisation", stranger},
                                                {"event_types", {"travel_document.requested", "travel_document.issued"}}})),
        supervisor(server.Token("supervisor", {{"countries", {"ID", "BD"}}})),
        other_supervisor(server.Token("supervisor", {{"countries", {"NP"}}})),
        admin(server.Token("admin", {})) {}

  Cast(const Cast&) = delete;
  Cast& operator=(const Cast&) = delete;
  /// Runs the test's clean-ups (newest first) while the server still runs.
  ~Cast() {
    for (auto cleanup = cleanups.rbegin(); cleanup != cleanups.rend(); ++cleanup) {
      try {
        (*cleanup)();
      } catch (...) {
      }
    }
  }

  boost::json::object Referral(boost::json::array household = {}) const {
    if (household.empty()) {
      household = {{{"relationship", "principal"}, {"sex", "female"}, {"vulnerabilities", boost::json::array()},
                    {"personal_data",
                     {{"given_names", "Synthetic"}, {"family_name", "Person"}, {"date_of_birth", "1991-04-02"},
                      {"documents", {{{"type", "passport"}, {"number", "SYN000001"}}}}}}}};
    }
    return {{"programme", "avrr-test"},
            {"office", office},
            {"host_country", "ID"},
            {"origin_country", "BD"},
            {"partners", {embassy, immigration, clinic, travel_agent, reception, reintegration}},
            {"received_at", "2026-11-01T09:00:00Z"},
            {"household", std::move(household)}};
  }

  /// Creates a case as the caseworker and returns its id.
  std::string CreateCase(boost::json::array household = {}) {
    auto client = server.Client(caseworker);
    auto created = client.PostJson("/cases", Referral(std::move(household)));
    INFO(created.body);
    REQUIRE(created.status == 201);
    return std::string(created.Json().at("case_id").as_string());
  }

  TestServer server;
  std::string office, other_office, embassy, immigration, clinic, travel_agent, reception, reintegration, stranger;
  std::string caseworker, other_caseworker, embassy_token, immigration_token, clinic_token, travel_token, reception_token,
      reintegration_token, stranger_token, supervisor, other_supervisor, admin;
  /// What the test leaves behind on the shared database and must take away (e.g. its subscriptions).
  std::vector<std::function<void()>> cleanups;
};

/// A case id no case has.
inline constexpr const char* kUnknownCase = "00000000-0000-4000-8000-000000000000";

/// The caller's answer about a case it may not see equals its answer about a case that does not exist
/// (status, problem type and detail; the `instance` names the path asked, so it is left out).
inline void CheckAnswersAsUnknown(const HttpResult& foreign, const HttpResult& unknown) {
  INFO(foreign.body);
  CHECK(foreign.status == 404);
  CHECK(unknown.status == 404);
  const auto stripped = [](const HttpResult& result) {
    auto value = result.Json();
    value.as_object().erase("instance");
    return value;
  };
  CHECK(stripped(foreign) == stripped(unknown));
}

/// Settings for a server whose clock an admin moves (POST /testing/clock).
inline void WithTestingClock(config::Settings& settings) { settings.testing_clock = true; }

/// A referral received now (no received_at: the engine's time); returns the case id.
inline std::string CreateCaseNow(Cast& cast) {
  auto referral = cast.Referral();
  referral.erase("received_at");
  auto created = cast.server.Client(cast.caseworker).PostJson("/cases", referral);
  INFO(created.body);
  REQUIRE(created.status == 201);
  return std::string(created.Json().at("case_id").as_string());
}

/// Sends one event and returns the response.
inline HttpResult Send(TestServer& server, const std::string& token, const std::string& case_id, const std::string& type,
                       boost::json::object data = {}, const std::string& time = "2026-11-20T10:00:00Z") {
  auto client = server.Client(token);
  return client.PostEvent(case_id, CloudEvent(type, case_id, std::move(data), time));
}

/// Sends one event that must be applied.
inline boost::json::object Apply(TestServer& server, const std::string& token, const std::string& case_id,
                                 const std::string& type, boost::json::object data = {},
                                 const std::string& time = "2026-11-20T10:00:00Z") {
  auto result = Send(server, token, case_id, type, std::move(data), time);
  INFO(type << " -> " << result.status << " " << result.body);
  REQUIRE(result.status == 200);
  auto body = result.Json().as_object();
  REQUIRE(body.at("outcome") == "applied");
  return body;
}

}  // namespace returnflow::test
