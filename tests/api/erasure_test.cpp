// A closed case's personal data through the end of its life, through the API on both backends: the
// clock erases it when the programme's retention after closure has passed; before then, a caseworker of
// the office asks and an admin (a second person) approves. Either way the people rows and their data keys
// go in the transaction of the history row that records it, the audit trail says who, and the
// pseudonymous workflow data stays.
#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <soci/soci.h>

#include "persistence/repository.hpp"
#include "tests/api/fixture.hpp"

namespace returnflow::test {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;

/// How many rows of `table` the case has, read from the database itself.
long long RowsOf(Cast& cast, const std::string& table, const std::string& case_id) {
  long long count = -1;
  auto lease = cast.server.Service().Database().Lease();
  lease.Session() << "SELECT COUNT(*) FROM " + table + " WHERE case_id = :case_id", soci::use(case_id), soci::into(count);
  return count;
}

/// The case's history as its office reads it.
json::array History(Cast& cast, const std::string& id) {
  auto read = cast.server.Client(cast.caseworker).Get("/cases/" + id + "/history?limit=200");
  INFO(read.body);
  REQUIRE(read.status == 200);
  return read.Json().at("entries").as_array();
}

const json::object* Last(const json::array& history, std::string_view type) {
  const json::object* found = nullptr;
  for (const auto& entry : history) {
    if (entry.at("type") == json::value(type)) found = &entry.as_object();
  }
  return found;
}

/// A case of `programme` opened now, withdrawn (so closed) by the caseworker at the engine's time.
std::string ClosedCase(Cast& cast, const std::string& programme) {
  auto referral = cast.Referral();
  referral.erase("received_at");
  referral["programme"] = programme;
  auto created = cast.server.Client(cast.caseworker).PostJson("/cases", referral);
  INFO(created.body);
  REQUIRE(created.status == 201);
  const std::string id(created.Json().at("case_id").as_string());
  Apply(cast.server, cast.caseworker, id, "consent.withdrawn", {},
        workflow::FormatInstant(std::chrono::floor<std::chrono::seconds>(cast.server.Service().Database().Now())));
  return id;
}

std::string Programme(Cast& cast, const json::object& definition) {
  const auto code = Unique("erasure");
  auto put = cast.server.Client(cast.admin).Request(http::verb::put, "/programmes/" + code, json::serialize(definition),
                                                    "application/json");
  INFO(put.body);
  REQUIRE(put.status == 201);
  return code;
}

std::size_t ErasureAudits(Cast& cast, const std::string& id, const std::string& actor) {
  std::size_t count = 0;
  for (const auto& row : persistence::PeopleRepository(cast.server.Service().Database()).AuditTrail(id)) {
    if (row.action == "erase" && row.actor == actor) ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("the clock erases a closed case's personal data when the programme's retention has passed",
          "[api][privacy][clock]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, WithTestingClock);
    const auto code = Programme(cast, {{"name", "Synthetic retention"}, {"personal_data_retention", "1d"}});
    const auto id = ClosedCase(cast, code);
    REQUIRE(RowsOf(cast, "people", id) == 1);
    REQUIRE(RowsOf(cast, "data_keys", id) == 1);
    auto admin = cast.server.Client(cast.admin);
    // Not yet: 23 hours after closure everything is held. (Hours, not days: on the shared PostgreSQL
    // database this clock fires whatever else is due by then too.)
    REQUIRE(admin.PostJson("/testing/clock", json::object{{"advance", "23h"}}).status == 200);
    CHECK(RowsOf(cast, "people", id) == 1);
    CHECK(Last(History(cast, id), "personal_data.erased") == nullptr);
    // A day after closure: erased by the clock, in the history and the audit trail.
    REQUIRE(admin.PostJson("/testing/clock", json::object{{"advance", "2h"}}).status == 200);
    CHECK(RowsOf(cast, "people", id) == 0);
    CHECK(RowsOf(cast, "data_keys", id) == 0);
    const auto history = History(cast, id);
    const auto* erased = Last(history, "personal_data.erased");
    REQUIRE(erased != nullptr);
    CHECK(erased->at("outcome") == "applied");
    CHECK(erased->at("actor") == "returnflow:clock");
    CHECK(erased->at("changes") == json::array{"personal_data_erased=retention"});
    CHECK(ErasureAudits(cast, id, "returnflow:clock") == 1);
    // The workflow data stays: the case reads as closed, withdrawn, without its people.
    auto read = cast.server.Client(cast.caseworker).Get("/cases/" + id + "?include=personal_data");
    INFO(read.body);
    REQUIRE(read.status == 200);
    CHECK(read.Json().at("stage") == "closed");
    CHECK(read.Json().at("outcome") == "withdrawn");
    CHECK(read.Json().at("personal_data").as_array().empty());
    CHECK(read.body.find("Person") == std::string::npos);
    // It cannot be reopened without the people it was about.
    auto reopened = Send(cast.server, cast.caseworker, id, "case.reopened", {{"reason", "re-application"}});
    CHECK(reopened.status == 422);
    CHECK(reopened.Json().at("reason") == "personal_data_erased");
  }
}

TEST_CASE("before its retention, a closed case's personal data is erased on a caseworker's request an admin approves",
          "[api][privacy]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    const auto id = ClosedCase(cast, "avrr-test");
    auto admin = cast.server.Client(cast.admin);
    // Nothing to approve yet.
    auto early = admin.Request(http::verb::post, "/cases/" + id + "/erasure-approval");
    INFO(early.body);
    CHECK(early.status == 422);
    CHECK(early.Json().at("reason") == "erasure_not_requested");
    CHECK(RowsOf(cast, "people", id) == 1);
    // Nobody sends the erasure itself as an event, and only the office asks for it.
    CHECK(Send(cast.server, cast.caseworker, id, "personal_data.erased", {{"basis", "request"}}).status == 403);
    CHECK(Send(cast.server, cast.supervisor, id, "personal_data.erasure_requested", {{"ground", "data_subject_request"}})
              .status == 403);
    auto bad = Send(cast.server, cast.caseworker, id, "personal_data.erasure_requested", {{"ground", "because"}});
    CHECK(bad.status == 400);
    Apply(cast.server, cast.caseworker, id, "personal_data.erasure_requested", {{"ground", "data_subject_request"}});
    // Only an admin approves: the caseworker, a supervisor and a partner are refused, and nothing is erased.
    for (const auto* token : {&cast.caseworker, &cast.supervisor, &cast.travel_token}) {
      auto refused = cast.server.Client(*token).Request(http::verb::post, "/cases/" + id + "/erasure-approval");
      INFO(refused.body);
      CHECK(refused.status == 403);
      CHECK(refused.ProblemType() == "forbidden");
    }
    CHECK(RowsOf(cast, "people", id) == 1);
    CHECK(admin.Request(http::verb::post, "/cases/" + id + "/erasure-approval", "{}", "application/json").status == 400);
    CHECK(admin.Request(http::verb::post, std::string("/cases/") + kUnknownCase + "/erasure-approval").status == 404);
    auto approved = admin.Request(http::verb::post, "/cases/" + id + "/erasure-approval");
    INFO(approved.body);
    REQUIRE(approved.status == 200);
    CHECK(approved.Json().at("outcome") == "applied");
    CHECK(RowsOf(cast, "people", id) == 0);
    CHECK(RowsOf(cast, "data_keys", id) == 0);
    // Both people are in the history: who asked, who approved.
    const auto history = History(cast, id);
    const auto* requested = Last(history, "personal_data.erasure_requested");
    const auto* erased = Last(history, "personal_data.erased");
    REQUIRE(requested != nullptr);
    REQUIRE(erased != nullptr);
    CHECK(requested->at("actor") != erased->at("actor"));
    CHECK(erased->at("changes") == json::array{"personal_data_erased=request"});
    const std::string admin_actor(erased->at("actor").as_string());
    CHECK(ErasureAudits(cast, id, admin_actor) == 1);
    // Approving again finds nothing left to erase.
    auto again = admin.Request(http::verb::post, "/cases/" + id + "/erasure-approval");
    CHECK(again.status == 422);
    CHECK(again.Json().at("reason") == "personal_data_erased");
  }
}

TEST_CASE("an open case's personal data is not erased on request", "[api][privacy]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    const auto id = cast.CreateCase();
    auto asked = Send(cast.server, cast.caseworker, id, "personal_data.erasure_requested", {{"ground", "no_longer_needed"}});
    INFO(asked.body);
    CHECK(asked.status == 409);
    auto approved = cast.server.Client(cast.admin).Request(http::verb::post, "/cases/" + id + "/erasure-approval");
    CHECK(approved.status == 409);
    CHECK(RowsOf(cast, "people", id) == 1);
  }
}

}  // namespace returnflow::test
