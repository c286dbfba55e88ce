// A case's complete state saved as plain data and restored into a fresh machine continues identically.
#include <random>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/workflow/case_fixtures.hpp"

namespace returnflow::testing {
namespace {

/// A pool of valid events that, chosen at random, walks a case through every stage and back.
std::vector<Event> EventPool(bool child) {
  std::vector<Event> pool = {
      ev::EligibilityReviewStarted{}, ev::EligibilityConfirmed{"BD"}, ev::CounsellingSessionHeld{},
      ev::CapacityAssessed{!child}, ev::ConsentRecorded{child ? ConsentKind::kProxy : ConsentKind::kExplicit},
      ev::PassportVerified{Day("2030-01-01")}, ev::TravelDocumentRequested{}, ev::TravelDocumentIssued{Day("2030-01-01")},
      ev::TravelDocumentRefused{}, ev::ExitClearanceRequested{}, ev::ExitClearanceGranted{},
      ev::ExitClearanceNotRequired{}, ev::FitnessCertified{Day("2026-12-31"), child}, ev::FitnessUnfit{},
      ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"}, ev::EscortAssigned{EscortKind::kChild},
      ev::EscortAssigned{EscortKind::kMedical}, ev::CaregiverConfirmed{"m1"}, ev::BriefingHeld{true},
      ev::Departed{}, ev::NoShow{}, ev::Arrived{}, ev::PlanSubmitted{2}, ev::PlanApproved{},
      ev::AssistanceDelivered{AssistanceKind::kSchooling}, ev::MonitoringVisitCompleted{0.5, 0.5, 0.5},
      ev::CaseSuspended{SuspensionReason::kMedical}, ev::CaseResumed{}, ev::CaseResumed{}, ev::CaseReopened{"again"},
      ev::CaseClosed{Outcome::kReintegrated}, ev::ConsentWithdrawn{}, ev::CaseClosed{Outcome::kLostContact},
      ev::ClosureRequested{Outcome::kOptedOut, "walk"}, ev::ClosureApproved{}, ev::ClosureRejected{"walk"},
  };
  if (child) {
    pool.push_back(ev::BestInterestsDetermined{"m1", true});
    pool.push_back(ev::BestInterestsApproved{"m1"});
    pool.push_back(ev::GuardianRecorded{"m1"});
  }
  return pool;
}

void RequireSameResult(const ApplyResult& a, const ApplyResult& b) {
  CHECK(a.verdict == b.verdict);
  CHECK(a.from == b.from);
  CHECK(a.to == b.to);
  CHECK(a.reason == b.reason);
  CHECK(a.changes == b.changes);
  CHECK(a.allowed_events == b.allowed_events);
}

}  // namespace

TEST_CASE("save and restore from every reachable state continues identically", "[workflow][persistence-form]") {
  std::set<std::vector<std::string>> configurations;
  int pending_closures = 0, approved_closures = 0;  // the pending-closure condition is context, not a state
  for (const bool child : {false, true}) {
    const auto pool = EventPool(child);
    for (std::uint32_t seed = 1; seed <= 40; ++seed) {
      std::mt19937 random(seed);
      auto original = Case::Open(child ? UnaccompaniedChildContext() : AdultContext());
      auto saved = original.Save();
      Instant clock = *ParseInstant("2026-01-05T09:00:00Z");
      for (int step = 0; step < 120; ++step) {
        // Mostly events the case accepts now, so walks go deep; sometimes a disruptive one (hold, no-show,
        // withdrawal, closure) or any event at all, so refusals and detours are exercised too.
        const auto allowed = original.AllowedEvents();
        std::vector<const Event*> progress, disruptive;
        for (const auto& candidate : pool) {
          const auto name = EventName(candidate);
          if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) continue;
          const bool disrupts = name == "case.suspended" || name == "consent.withdrawn" || name == "case.closed" ||
                                name == "case.closure_approved" || name == "travel.no_show" || name == "travel_document.refused" || name == "fitness.unfit";
          (disrupts ? disruptive : progress).push_back(&candidate);
        }
        const auto roll = random() % 100;
        Event event = pool[random() % pool.size()];
        if (roll >= 10 && roll < 18 && !disruptive.empty()) {
          event = *disruptive[random() % disruptive.size()];
        } else if (roll >= 18 && !progress.empty()) {
          event = *progress[random() % progress.size()];
        }
        clock += std::chrono::hours(1);
        // Approvals come from a second person; a request from the same one would be refused.
        const EventMeta meta{EventName(event) == "case.closure_approved" ? "supervisor-1" : "actor-1", clock};

        auto restored = Case::Restore(saved);
        REQUIRE(restored.Save() == saved);
        REQUIRE(restored.ActiveStates() == original.ActiveStates());
        REQUIRE(restored.AllowedEvents() == original.AllowedEvents());

        const auto expected = original.Apply(event, meta);
        const auto actual = restored.Apply(event, meta);
        INFO("seed " << seed << " step " << step << " event " << EventName(event));
        RequireSameResult(expected, actual);
        saved = restored.Save();
        REQUIRE(saved == original.Save());
        configurations.insert(original.ActiveStates());
        if (original.Context().closure_request) ++pending_closures;
        if (expected.Applied() && EventName(event) == "case.closure_approved") ++approved_closures;
      }
    }
  }
  // The walks must actually reach the depth of the machine, or this test proves little.
  const auto reached = [&](std::string_view state) {
    for (const auto& configuration : configurations) {
      if (std::find(configuration.begin(), configuration.end(), state) != configuration.end()) return true;
    }
    return false;
  };
  for (const auto* state : {"referral.eligibility_review", "counselling.in_progress", "documentation.travel_document.requested",
                            "documentation.medical.fit", "documentation.exit_clearance.granted", "travel.briefed",
                            "travel.departed", "reintegration.monitoring", "suspended", "closed"}) {
    INFO(state);
    CHECK(reached(state));
  }
  CHECK(pending_closures > 0);
  CHECK(approved_closures > 0);
}

TEST_CASE("the saved form holds names, never numeric state ids", "[workflow][persistence-form]") {
  Driver driver(AdultContext());
  driver.ToDocumentation();
  driver.Send(ev::TravelDocumentRequested{});
  const auto saved = boost::json::parse(driver.Get().Save());
  const auto& documentation = saved.at("states").at("documentation");
  REQUIRE(documentation.as_array().size() == 3);
  for (const auto& name : documentation.as_array()) {
    CHECK(name.as_string().starts_with("documentation."));
  }
  CHECK(saved.at("states").at("open").at(0).as_string() == "documentation");
  // Machines still in their initial configuration are left out: a fresh machine already is there.
  CHECK_FALSE(saved.at("states").as_object().contains("travel"));
}

TEST_CASE("restore refuses a saved state that does not fit the definition", "[workflow][persistence-form]") {
  Driver driver(AdultContext());
  driver.ToDocumentation();
  driver.Send(ev::TravelDocumentRequested{});
  const auto good = boost::json::parse(driver.Get().Save());

  const auto refuses = [](boost::json::value saved, std::string_view fragment) {
    try {
      Case::Restore(saved);
      FAIL("restore accepted an invalid saved state");
    } catch (const RestoreFailed& error) {
      CHECK_THAT(error.what(), Catch::Contains(std::string(fragment)));
    }
  };
  auto unknown_state = good;
  unknown_state.at("states").at("documentation").as_array()[0] = "documentation.travel_document.lost";
  refuses(unknown_state, "lacks");
  auto wrong_region = good;
  wrong_region.at("states").at("documentation").as_array()[0] = "documentation.medical.fit";
  refuses(wrong_region, "region 0");
  auto too_few_regions = good;
  too_few_regions.at("states").at("documentation").as_array().pop_back();
  refuses(too_few_regions, "does not have 3 region(s)");
  auto extra_machine = good;
  extra_machine.at("states").as_object()["repatriation"] = extra_machine.at("states").at("open");
  refuses(extra_machine, "machines this definition lacks");
  auto bad_context = good;
  bad_context.at("context").as_object()["departure_date"] = "2026-02-30";
  refuses(bad_context, "departure_date");
  CHECK_THROWS_AS(Case::Restore(std::string_view("{not json")), RestoreFailed);
}

TEST_CASE("restore refuses a saved count no case reaches, so that counting on cannot overflow", "[workflow][persistence-form]") {
  // Found by UBSan under tests/fuzz/fuzz_restore: a saved "counselling_sessions": 2147483647 restored, and
  // the next session held overflowed the int (undefined behaviour) instead of answering corrupt data.
  Driver driver(AdultContext());
  driver.ToCounselling();
  driver.Send(ev::CounsellingSessionHeld{});
  auto saved = boost::json::parse(driver.Get().Save());
  REQUIRE(saved.at("context").at("counselling_sessions") == 1);
  saved.at("context").as_object()["counselling_sessions"] = 2147483647;
  CHECK_THROWS_AS(Case::Restore(saved), RestoreFailed);
  saved.at("context").as_object()["counselling_sessions"] = 1000000;
  auto restored = Case::Restore(saved);
  CHECK(restored.Apply(ev::CounsellingSessionHeld{}, {"caseworker-1", *ParseInstant("2026-02-01T09:00:00Z")}).Applied());
  CHECK(restored.Context().counselling_sessions == 1000001);
}

TEST_CASE("cases saved in states an earlier definition had restore where those states are now", "[workflow][persistence-form]") {
  // Saved by the definition that kept a refused document and an unfit assessment as strand states.
  Driver driver(AdultContext());
  driver.ToDocumentation();
  driver.Send(ev::TravelDocumentRequested{});
  driver.Send(ev::FitnessUnfit{});
  auto saved = boost::json::parse(driver.Get().Save());
  saved.at("states").at("documentation").as_array()[0] = "documentation.travel_document.refused";
  saved.at("states").at("documentation").as_array()[2] = "documentation.medical.unfit";
  auto restored = Case::Restore(saved);
  CHECK(restored.Stage() == "suspended");
  REQUIRE(restored.Apply(ev::CaseResumed{}, {"caseworker-1", *ParseInstant("2026-02-01T09:00:00Z")}).Applied());
  const auto states = restored.ActiveStates();
  CHECK(states == std::vector<std::string>{"documentation.travel_document.requested", "documentation.exit_clearance.pending",
                                           "documentation.medical.pending"});
}

TEST_CASE("restoring runs no entry actions and replays nothing", "[workflow][persistence-form]") {
  Driver driver(AdultContext());
  driver.ToBooked();
  const auto saved = driver.Get().Save();
  auto restored = Case::Restore(saved);
  CHECK(restored.Context() == driver.Get().Context());
  CHECK(restored.ActiveStates() == std::vector<std::string>{"travel.booked"});
  CHECK(restored.Save() == saved);
}

}  // namespace returnflow::testing
