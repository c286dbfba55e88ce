// Consent records over real sockets on SQLite and PostgreSQL: recorded, read and withdrawn by the office's
// caseworkers, each a history entry; partners read only those naming them, supervisors counts only; the
// repository call the outbox uses reads them inside the caller's transaction.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "persistence/repository.hpp"
#include "tests/api/fixture.hpp"
#include "workflow/consent.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

namespace {

HttpResult PostConsent(TestServer& server, const std::string& token, const std::string& case_id, const json::object& body,
                       const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  return server.Client(token).Request(http::verb::post, "/cases/" + case_id + "/consents", json::serialize(body),
                                      "application/json", headers);
}

HttpResult Withdraw(TestServer& server, const std::string& token, const std::string& case_id,
                    const std::string& consent_id) {
  return server.Client(token).Request(http::verb::post, "/cases/" + case_id + "/consents/" + consent_id + "/withdrawal");
}

json::object TicketingConsent(const std::string& recipient) {
  return {{"recipient", recipient}, {"purpose", "ticketing"}, {"categories", {"identity", "travel_document"}}};
}

json::array TwoMembers() {
  return {{{"member_id", "m1"}, {"relationship", "principal"}, {"sex", "female"}, {"birth_year", 1990}},
          {{"member_id", "m2"}, {"relationship", "dependant"}, {"sex", "male"}, {"birth_year", 1992}}};
}

}  // namespace

TEST_CASE("consent: recorded, read and withdrawn by the office's caseworker, each a history entry",
          "[api][http][consent]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = cast.CreateCase();  // one member: the data subject defaults to it

    // Given on paper before it is recorded (signed at the counselling session).
    auto ticketing = TicketingConsent(cast.travel_agent);
    ticketing["given_at"] = "2026-11-05T09:00:00Z";
    auto recorded = PostConsent(server, cast.caseworker, id, ticketing);
    INFO(recorded.body);
    REQUIRE(recorded.status == 201);
    const auto consent = recorded.Json();
    const std::string consent_id(consent.at("consent_id").as_string());
    CHECK(consent.at("member_id") == "m1");
    CHECK(consent.at("recipient") == json::value(cast.travel_agent));
    CHECK(consent.at("purpose") == "ticketing");
    CHECK(consent.at("categories") == json::array{"identity", "travel_document"});
    CHECK(consent.at("given_at") == "2026-11-05T09:00:00Z");
    CHECK(consent.at("withdrawn_at").is_null());
    CHECK(consent.at("in_effect") == true);
    // The case's version moved (another test's clock may fire this case's passed dates on the shared
    // database, so the exact number is not this test's to know).
    CHECK(consent.at("version").as_int64() >= 2);
    CHECK(recorded.Header("location") == "/cases/" + id + "/consents/" + consent_id);
    // A second consent, to the clinic, for health data.
    auto clinic = PostConsent(server, cast.caseworker, id,
                              {{"recipient", cast.clinic}, {"purpose", "medical_assessment"}, {"categories", {"health"}},
                               {"given_at", "2026-11-01T10:00:00Z"}});
    REQUIRE(clinic.status == 201);
    CHECK(clinic.Json().at("given_at") == "2026-11-01T10:00:00Z");

    auto listed = server.Client(cast.caseworker).Get("/cases/" + id + "/consents");
    REQUIRE(listed.status == 200);
    CHECK(listed.Json().at("consents").as_array().size() == 2);
    CHECK(listed.Json().at("in_effect") == 2);
    CHECK(listed.Json().at("consents").at(0).as_object().contains("recorded_by"));

    // Withdrawal is immediate and keeps the record.
    auto withdrawn = Withdraw(server, cast.caseworker, id, consent_id);
    INFO(withdrawn.body);
    REQUIRE(withdrawn.status == 200);
    CHECK(withdrawn.Json().at("changed") == true);
    CHECK(withdrawn.Json().at("in_effect") == false);
    CHECK(withdrawn.Json().at("withdrawn_at").is_string());
    CHECK(withdrawn.Json().at("version").as_int64() > consent.at("version").as_int64() + 1);  // clinic's, then this
    auto again = Withdraw(server, cast.caseworker, id, consent_id);
    REQUIRE(again.status == 200);
    CHECK(again.Json().at("changed") == false);
    CHECK(again.Json().at("withdrawn_at") == withdrawn.Json().at("withdrawn_at"));
    auto after = server.Client(cast.caseworker).Get("/cases/" + id + "/consents").Json();
    CHECK(after.at("consents").as_array().size() == 2);
    CHECK(after.at("in_effect") == 1);
    CHECK(after.at("withdrawn") == 1);

    // The repository call the outbox makes inside its own transaction, and the pure rule over it.
    std::vector<workflow::ConsentRecord> loaded;
    server.Service().Database().WriteTransaction("test", [&](soci::session& sql) {
      loaded = persistence::LoadConsents(sql, id);
    });
    REQUIRE(loaded.size() == 2);
    const auto now = std::chrono::floor<std::chrono::seconds>(server.Service().Database().Now());
    CHECK(workflow::TransferableCategories(loaded, "m1", cast.travel_agent, workflow::TransferPurpose::kTicketing, now)
              .empty());
    CHECK(workflow::TransferableCategories(loaded, "m1", cast.travel_agent, workflow::TransferPurpose::kTicketing,
                                           *workflow::ParseInstant("2026-11-05T09:00:00Z"))
              == std::set<workflow::DataCategory>{workflow::DataCategory::kIdentity,
                                                  workflow::DataCategory::kTravelDocument});
    CHECK(workflow::TransferableCategories(loaded, "m1", cast.clinic, workflow::TransferPurpose::kMedicalAssessment, now) ==
          std::set<workflow::DataCategory>{workflow::DataCategory::kHealth});

    // The history: both records and the withdrawal, with who and when; no personal data in any of them.
    auto history = server.Client(cast.caseworker).Get("/cases/" + id + "/history");
    REQUIRE(history.status == 200);
    const auto entries = history.Json().at("entries").as_array();
    std::vector<std::string> types;
    for (const auto& entry : entries) types.emplace_back(entry.at("type").as_string());
    CHECK(types == std::vector<std::string>{"case.opened", "case.consent_recorded", "case.consent_recorded",
                                            "case.consent_withdrawn"});
    CHECK(entries.at(1).at("actor") == entries.at(0).at("actor"));
    CHECK(entries.at(3).at("actor") == entries.at(0).at("actor"));
    CHECK(entries.at(1).at("changes") == json::array{json::value("consent_recorded=" + consent_id)});
    CHECK(entries.at(3).at("changes") == json::array{json::value("consent_withdrawn=" + consent_id)});
    CHECK(entries.at(3).at("version_after") == 4);
    CHECK(history.body.find("Synthetic") == std::string::npos);
    CHECK_FALSE(persistence::VerifyCase(server.Service().Database(), id).has_value());
  }
}

TEST_CASE("consent: checks the data subject, the lists, the limits, If-Match and the idempotency key",
          "[api][http][consent]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto household = cast.CreateCase(TwoMembers());
    const auto pointer = [&](const json::object& body) {
      auto result = PostConsent(server, cast.caseworker, household, body);
      INFO(result.body);
      CHECK(result.status == 400);
      return result.status == 400 ? std::string(result.Json().at("pointer").as_string()) : std::string();
    };
    // Several people: the data subject must be named, and be one of them.
    CHECK(pointer(TicketingConsent(cast.travel_agent)) == "/member_id");
    auto named = TicketingConsent(cast.travel_agent);
    named["member_id"] = "m3";
    CHECK(pointer(named) == "/member_id");
    named["member_id"] = "m2";
    CHECK(PostConsent(server, cast.caseworker, household, named).status == 201);
    auto body = named;
    body["purpose"] = "curiosity";
    CHECK(pointer(body) == "/purpose");
    body = named;
    body["categories"] = json::array{"identity", "shoe_size"};
    CHECK(pointer(body) == "/categories/1");
    body["categories"] = json::array{};
    CHECK(pointer(body) == "/categories");
    body["categories"] = json::array{"identity", "identity"};
    CHECK(pointer(body) == "/categories/1");
    body = named;
    body["recipient"] = "not an id";
    CHECK(pointer(body) == "/recipient");
    body = named;
    body["note"] = "free text could hold personal data";
    CHECK(pointer(body) == "/note");
    body = named;
    body["given_at"] = "2099-01-01T00:00:00Z";
    CHECK(pointer(body) == "/given_at");
    body["given_at"] = "yesterday";
    CHECK(pointer(body) == "/given_at");

    // If-Match names the case version.
    auto stale = PostConsent(server, cast.caseworker, household, named, {{"If-Match", "\"1\""}});
    CHECK(stale.status == 409);
    CHECK(stale.ProblemType() == "version-conflict");
    CHECK(PostConsent(server, cast.caseworker, household, named, {{"If-Match", "\"2\""}}).status == 201);

    // An idempotency key answers a repeat with the record it created, and refuses another request.
    auto first = PostConsent(server, cast.caseworker, household, named, {{"Idempotency-Key", "consent-form-17"}});
    REQUIRE(first.status == 201);
    auto repeat = PostConsent(server, cast.caseworker, household, named, {{"Idempotency-Key", "consent-form-17"}});
    REQUIRE(repeat.status == 200);
    CHECK(repeat.Json().at("consent_id") == first.Json().at("consent_id"));
    CHECK(repeat.Json().at("replayed") == true);
    auto other = named;
    other["categories"] = json::array{"contact"};
    auto reused = PostConsent(server, cast.caseworker, household, other, {{"Idempotency-Key", "consent-form-17"}});
    CHECK(reused.status == 409);
    CHECK(reused.ProblemType() == "idempotency-conflict");
    auto listed = server.Client(cast.caseworker).Get("/cases/" + household + "/consents").Json();
    CHECK(listed.at("consents").as_array().size() == 3);

    // Unknown consents and cases; a withdrawal takes no body.
    CHECK(Withdraw(server, cast.caseworker, household, "00000000-0000-4000-8000-000000000001").status == 404);
    CHECK(server.Client(cast.caseworker)
              .Request(http::verb::post,
                       "/cases/" + household + "/consents/" + std::string(first.Json().at("consent_id").as_string()) +
                           "/withdrawal",
                       "{}", "application/json")
              .status == 400);

    // At most kMaxConsentsPerCase records per case (withdrawn ones count).
    const auto full = cast.CreateCase();
    for (std::size_t index = 0; index < persistence::kMaxConsentsPerCase; ++index) {
      REQUIRE(PostConsent(server, cast.caseworker, full, TicketingConsent(cast.travel_agent)).status == 201);
    }
    auto over = PostConsent(server, cast.caseworker, full, TicketingConsent(cast.travel_agent));
    CHECK(over.status == 409);
    CHECK(over.ProblemType() == "conflict");
  }
}

TEST_CASE("consent: partners read only the records naming them, supervisors counts only, others nothing",
          "[api][http][consent][authz]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = cast.CreateCase();
    auto to_agent = PostConsent(server, cast.caseworker, id, TicketingConsent(cast.travel_agent));
    REQUIRE(to_agent.status == 201);
    REQUIRE(PostConsent(server, cast.caseworker, id,
                        {{"recipient", cast.clinic}, {"purpose", "medical_assessment"}, {"categories", {"health"}}})
                .status == 201);
    const std::string consent_id(to_agent.Json().at("consent_id").as_string());

    auto agent = server.Client(cast.travel_token).Get("/cases/" + id + "/consents");
    REQUIRE(agent.status == 200);
    const auto agent_body = agent.Json();
    REQUIRE(agent_body.at("consents").as_array().size() == 1);
    CHECK(agent_body.at("consents").at(0).at("recipient") == json::value(cast.travel_agent));
    CHECK_FALSE(agent_body.at("consents").at(0).as_object().contains("recorded_by"));  // who in the office: not its business
    CHECK(agent.body.find(cast.clinic) == std::string::npos);
    CHECK(agent.body.find("health") == std::string::npos);
    // A partner of the case with no consent naming it reads none.
    auto embassy = server.Client(cast.embassy_token).Get("/cases/" + id + "/consents");
    REQUIRE(embassy.status == 200);
    CHECK(embassy.Json().at("consents").as_array().empty());
    CHECK(embassy.Json().at("in_effect") == 0);

    auto supervisor = server.Client(cast.supervisor).Get("/cases/" + id + "/consents");
    REQUIRE(supervisor.status == 200);
    const auto supervisor_body = supervisor.Json();
    CHECK_FALSE(supervisor_body.as_object().contains("consents"));
    CHECK(supervisor_body.at("in_effect") == 2);
    CHECK(supervisor.body.find(cast.travel_agent) == std::string::npos);
    CHECK(supervisor.body.find("ticketing") == std::string::npos);

    // Only the office's caseworkers record and withdraw.
    for (const auto* token : {&cast.travel_token, &cast.supervisor, &cast.admin}) {
      CHECK(PostConsent(server, *token, id, TicketingConsent(cast.travel_agent)).status == 403);
      CHECK(Withdraw(server, *token, id, consent_id).status == 403);
    }
    // Another office, a stranger partner, another country's supervisor: the case is unknown to them.
    for (const auto* token : {&cast.other_caseworker, &cast.stranger_token, &cast.other_supervisor}) {
      CheckAnswersAsUnknown(server.Client(*token).Get("/cases/" + id + "/consents"),
                            server.Client(*token).Get(std::string("/cases/") + kUnknownCase + "/consents"));
    }
    CheckAnswersAsUnknown(PostConsent(server, cast.other_caseworker, id, TicketingConsent(cast.travel_agent)),
                          PostConsent(server, cast.other_caseworker, kUnknownCase, TicketingConsent(cast.travel_agent)));
    CHECK(Withdraw(server, cast.other_caseworker, id, consent_id).status == 404);
    // Nothing they tried changed anything.
    auto listed = server.Client(cast.caseworker).Get("/cases/" + id + "/consents").Json();
    CHECK(listed.at("consents").as_array().size() == 2);
    CHECK(listed.at("in_effect") == 2);
  }
}
