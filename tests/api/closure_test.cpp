// Closure as a two-person act over real sockets, on SQLite and PostgreSQL: a caseworker requests, a
// supervisor (another person) approves or rejects; a caseworker's direct closure that needs approval is
// refused naming the request; withdrawal and the programme's exemptions still close at once.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/api/fixture.hpp"

namespace json = boost::json;
using namespace returnflow;
using namespace returnflow::test;

namespace {

/// A case in counselling, driven by its caseworker.
std::string CaseInCounselling(Cast& cast) {
  auto id = cast.CreateCase();
  Apply(cast.server, cast.caseworker, id, "eligibility.review_started", {}, "2026-11-02T09:00:00Z");
  Apply(cast.server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}}, "2026-11-03T09:00:00Z");
  Apply(cast.server, cast.caseworker, id, "counselling.session_held", {}, "2026-11-04T09:00:00Z");
  return id;
}

json::object CaseView(Cast& cast, const std::string& id) {
  auto result = cast.server.Client(cast.supervisor).Get("/cases/" + id);
  REQUIRE(result.status == 200);
  return result.Json().as_object();
}

json::array History(Cast& cast, const std::string& id) {
  auto history = cast.server.Client(cast.supervisor).Get("/cases/" + id + "/history?limit=200").Json();
  return history.at("entries").as_array();
}

bool Lists(const json::object& view, std::string_view event) {
  for (const auto& allowed : view.at("allowed_events").as_array()) {
    if (allowed.as_string() == event) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a closure needing approval is requested by the caseworker and approved by a supervisor over HTTP", "[api][closure]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = CaseInCounselling(cast);

    // The caseworker's direct closure is refused with the reason naming the request it needs.
    auto direct = Send(server, cast.caseworker, id, "case.closed", {{"outcome", "lost_contact"}}, "2026-11-05T09:00:00Z");
    INFO(direct.body);
    CHECK(direct.status == 422);
    CHECK(direct.ProblemType() == "guard-refused");
    CHECK(direct.Json().at("reason") == "closure_requires_approval");
    // Supervisors approve; they neither close nor request on their own.
    CHECK(Send(server, cast.supervisor, id, "case.closed", {{"outcome", "lost_contact"}}, "2026-11-05T09:10:00Z").status == 403);
    CHECK(Send(server, cast.supervisor, id, "case.closure_requested",
               {{"outcome", "lost_contact"}, {"reason", "no contact"}}, "2026-11-05T09:20:00Z")
              .status == 403);
    auto nothing_pending = Send(server, cast.supervisor, id, "case.closure_approved", {}, "2026-11-05T09:30:00Z");
    CHECK(nothing_pending.status == 422);
    CHECK(nothing_pending.Json().at("reason") == "closure_not_requested");

    Apply(server, cast.caseworker, id, "case.closure_requested",
          {{"outcome", "lost_contact"}, {"reason", "no contact for sixty days"}}, "2026-11-06T09:00:00Z");
    auto pending = CaseView(cast, id);
    CHECK(pending.at("stage") == "counselling");  // the case keeps its stage while the request waits
    CHECK(pending.at("outcome").is_null());
    CHECK(pending.at("closure_request").at("outcome") == "lost_contact");
    // The requester cannot approve (a supervisor's event), and a second request waits for the first.
    CHECK(Send(server, cast.caseworker, id, "case.closure_approved", {}, "2026-11-06T10:00:00Z").status == 403);
    auto again = Send(server, cast.caseworker, id, "case.closure_requested",
                      {{"outcome", "opted_out"}, {"reason", "again"}}, "2026-11-06T11:00:00Z");
    CHECK(again.status == 422);
    CHECK(again.Json().at("reason") == "closure_already_requested");
    // A supervisor of other countries cannot see the case at all.
    CHECK(Send(server, cast.other_supervisor, id, "case.closure_approved", {}, "2026-11-06T12:00:00Z").status == 404);

    Apply(server, cast.supervisor, id, "case.closure_approved", {}, "2026-11-07T09:00:00Z");
    auto closed = CaseView(cast, id);
    CHECK(closed.at("stage") == "closed");
    CHECK(closed.at("outcome") == "lost_contact");

    // The history records who requested and who approved: two different actors.
    std::string requester, approver;
    for (const auto& entry : History(cast, id)) {
      const auto& type = entry.at("type").as_string();
      if (entry.as_object().contains("outcome") && entry.at("outcome") != "applied") continue;
      if (type == "case.closure_requested") requester = std::string(entry.at("actor").as_string());
      if (type == "case.closure_approved") approver = std::string(entry.at("actor").as_string());
    }
    CHECK_FALSE(requester.empty());
    CHECK_FALSE(approver.empty());
    CHECK(requester != approver);
  }
}

TEST_CASE("a supervisor rejects a closure request, and withdrawal and exempt outcomes close directly, over HTTP", "[api][closure]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = CaseInCounselling(cast);

    Apply(server, cast.caseworker, id, "case.closure_requested", {{"outcome", "opted_out"}, {"reason", "wants to stay"}},
          "2026-11-05T09:00:00Z");
    CHECK(Lists(CaseView(cast, id), "case.closure_rejected"));
    auto no_reason = Send(server, cast.supervisor, id, "case.closure_rejected", {}, "2026-11-05T10:00:00Z");
    CHECK(no_reason.status == 400);
    Apply(server, cast.supervisor, id, "case.closure_rejected", {{"reason", "counselling continues"}},
          "2026-11-05T11:00:00Z");
    auto open = CaseView(cast, id);
    CHECK(open.at("stage") == "counselling");
    auto late = Send(server, cast.supervisor, id, "case.closure_approved", {}, "2026-11-05T12:00:00Z");
    CHECK(late.status == 422);
    CHECK(late.Json().at("reason") == "closure_not_requested");
    // The case goes on.
    Apply(server, cast.caseworker, id, "consent.recorded", {{"kind", "explicit"}}, "2026-11-06T09:00:00Z");
    CHECK(CaseView(cast, id).at("stage") == "documentation");

    // Withdrawn closes at once, through consent.withdrawn, even with a request pending.
    Apply(server, cast.caseworker, id, "case.closure_requested", {{"outcome", "opted_out"}, {"reason", "again"}},
          "2026-11-07T09:00:00Z");
    Apply(server, cast.caseworker, id, "consent.withdrawn", {}, "2026-11-07T10:00:00Z");
    auto withdrawn = CaseView(cast, id);
    CHECK(withdrawn.at("stage") == "closed");
    CHECK(withdrawn.at("outcome") == "withdrawn");

    // Deceased and the programme's exemptions (the test programme: transferred) close directly too.
    const auto deceased = CaseInCounselling(cast);
    Apply(server, cast.caseworker, deceased, "case.closed", {{"outcome", "deceased"}}, "2026-11-08T09:00:00Z");
    CHECK(CaseView(cast, deceased).at("outcome") == "deceased");
    const auto transferred = CaseInCounselling(cast);
    auto needless = Send(server, cast.caseworker, transferred, "case.closure_requested",
                         {{"outcome", "transferred"}, {"reason", "moved"}}, "2026-11-08T10:00:00Z");
    CHECK(needless.status == 422);
    CHECK(needless.Json().at("reason") == "closure_approval_not_required");
    Apply(server, cast.caseworker, transferred, "case.closed", {{"outcome", "transferred"}}, "2026-11-08T11:00:00Z");
    CHECK(CaseView(cast, transferred).at("outcome") == "transferred");
  }
}
