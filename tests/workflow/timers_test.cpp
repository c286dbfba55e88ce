// The engine's clock over a case, pure: which timers each state has, when they are due, and what their
// events do to the case.
#include <catch2/catch.hpp>

#include "tests/workflow/case_fixtures.hpp"
#include "workflow/timers.hpp"

namespace returnflow::testing {
namespace {

std::optional<Instant> DueOf(const std::vector<Timer>& timers, std::string_view kind) {
  for (const auto& timer : timers) {
    if (timer.kind == kind) return timer.due;
  }
  return std::nullopt;
}
Instant At(const char* text) { return *ParseInstant(text); }
bool Has(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

}  // namespace

TEST_CASE("each stage's deadline runs from when the case entered it, by the programme's service levels", "[workflow][timers]") {
  Driver driver(AdultContext());
  driver.programme.service_levels.eligibility = Days{5};
  const auto opened = At("2026-01-05T09:00:00Z");
  auto timers = DesiredTimers(driver.Get(), driver.programme, opened);
  CHECK(DueOf(timers, "deadline:eligibility") == opened + Days{5});
  CHECK(NextDeadline(timers) == opened + Days{5});
  driver.ToCounselling();
  const auto entered = At("2026-01-05T11:00:00Z");  // the driver's clock: one hour per event
  timers = DesiredTimers(driver.Get(), driver.programme, entered);
  CHECK_FALSE(DueOf(timers, "deadline:eligibility"));
  CHECK(DueOf(timers, "deadline:counselling") == entered + Days{21});
}

TEST_CASE("a passed deadline marks the step overdue until it is done, and is not scheduled again", "[workflow][timers]") {
  Driver driver(AdultContext());
  driver.ToCounselling();
  auto passed = driver.Send(ev::DeadlinePassed{"counselling"}, "clock");
  REQUIRE(passed.Applied());
  CHECK(Has(passed.changes, "overdue=counselling"));
  CHECK(driver.Get().Context().overdue.contains("counselling"));
  CHECK_FALSE(DueOf(DesiredTimers(driver.Get(), driver.programme, At("2026-01-05T11:00:00Z")), "deadline:counselling"));
  driver.Send(ev::CounsellingSessionHeld{});
  const auto consented = driver.Send(ev::ConsentRecorded{ConsentKind::kExplicit});
  REQUIRE(consented.Applied());
  CHECK(Has(consented.changes, "deadline_met_late=counselling"));
  CHECK(driver.Get().Context().overdue.empty());
  CHECK(OpenDeadlines(driver.Get()) == std::set<std::string>{"documentation"});
}

TEST_CASE("a deadline is announced the programme's warning before it, once per open step", "[workflow][timers]") {
  Driver driver(AdultContext());
  driver.programme.deadline_warning = Days{3};
  driver.ToCounselling();
  const auto entered = At("2026-01-05T11:00:00Z");
  auto timers = DesiredTimers(driver.Get(), driver.programme, entered);
  CHECK(DueOf(timers, "warning:counselling") == entered + Days{21} - Days{3});
  CHECK(std::get<ev::DeadlineApproaching>(*EventForTimer("warning:counselling")).deadline == "counselling");
  REQUIRE(driver.Send(ev::DeadlineApproaching{"counselling"}, "clock").Applied());
  CHECK(driver.Get().Context().warned.contains("counselling"));
  timers = DesiredTimers(driver.Get(), driver.programme, entered);
  CHECK_FALSE(DueOf(timers, "warning:counselling"));       // announced once
  CHECK(DueOf(timers, "deadline:counselling") == entered + Days{21});  // the deadline itself still runs
  // The step done, its warning is forgotten; the next step's deadline is announced in its turn.
  driver.Send(ev::CounsellingSessionHeld{});
  REQUIRE(driver.Send(ev::ConsentRecorded{ConsentKind::kExplicit}).Applied());
  CHECK(driver.Get().Context().warned.empty());
  CHECK(DueOf(DesiredTimers(driver.Get(), driver.programme, entered), "warning:documentation"));
  // A programme without warnings schedules none.
  driver.programme.deadline_warning = Days{0};
  for (const auto& timer : DesiredTimers(driver.Get(), driver.programme, entered)) CHECK_FALSE(timer.kind.starts_with("warning:"));
}

TEST_CASE("documents expire as events: the strand is no longer finished and the departure is refused", "[workflow][timers]") {
  Driver driver(AdultContext());
  driver.ToDocumentation();
  driver.Send(ev::PassportVerified{Day("2030-01-01")});
  driver.Send(ev::FitnessCertified{Day("2026-02-10"), false});
  auto timers = DesiredTimers(driver.Get(), driver.programme, At("2026-01-05T14:00:00Z"));
  CHECK(DueOf(timers, "expiry:fitness") == At("2026-02-11T00:00:00Z"));  // valid through its last day
  CHECK(DueOf(timers, "expiry:travel_document") == At("2030-01-02T00:00:00Z"));
  const auto expired = driver.Send(ev::FitnessExpired{}, "clock");
  REQUIRE(expired.Applied());
  CHECK(Has(expired.to, "documentation.medical.pending"));
  driver.Send(ev::ExitClearanceNotRequired{});
  CHECK(driver.Get().Stage() == "documentation");  // waits for a new certificate

  Driver booked(AdultContext());
  booked.ToBooked();  // departure 2026-03-01, fitness valid until 2026-06-30
  timers = DesiredTimers(booked.Get(), booked.programme, At("2026-01-05T16:00:00Z"));
  CHECK(DueOf(timers, "deadline:departure") == At("2026-03-02T00:00:00Z"));
  CHECK(DueOf(timers, "deadline:briefing") == At("2026-02-28T00:00:00Z"));
  CHECK_FALSE(DueOf(timers, "deadline:booking"));
  REQUIRE(booked.Send(ev::TravelDocumentExpired{}, "clock").Applied());
  REQUIRE(booked.Send(ev::BriefingHeld{true}).Applied());
  const auto departure = booked.Send(ev::Departed{});
  CHECK(departure.verdict == Verdict::kGuardRefused);
  CHECK(departure.reason == "travel_document_expires_before_departure");
  REQUIRE(booked.Send(ev::PassportVerified{Day("2031-01-01")}).verdict == Verdict::kNotAllowed);  // only awaiting booking
}

TEST_CASE("monitoring visits come due and are missed on the programme's schedule after arrival", "[workflow][timers]") {
  Driver driver(AdultContext());
  driver.programme.monitoring = {{Days{90}, Days{14}}, {Days{180}, Days{14}}};
  driver.ToReintegration();
  const Instant arrived = *driver.Get().Context().arrived_at;
  auto timers = DesiredTimers(driver.Get(), driver.programme, arrived);
  CHECK(DueOf(timers, "deadline:plan") == arrived + Days{30});
  CHECK(DueOf(timers, "monitoring:1:due") == arrived + Days{90});
  CHECK(DueOf(timers, "monitoring:1:missed") == arrived + Days{104});
  CHECK(DueOf(timers, "monitoring:2:due") == arrived + Days{180});
  CHECK_FALSE(DueOf(timers, "monitoring:3:due"));
  REQUIRE(driver.Send(*EventForTimer("monitoring:1:due"), "clock").Applied());
  REQUIRE(driver.Send(*EventForTimer("monitoring:1:missed"), "clock").Applied());
  timers = DesiredTimers(driver.Get(), driver.programme, arrived);
  CHECK_FALSE(DueOf(timers, "monitoring:1:due"));
  CHECK_FALSE(DueOf(timers, "monitoring:1:missed"));
  CHECK(driver.Get().Context().monitoring_visits_missed == std::set<int>{1});
  driver.Send(ev::PlanSubmitted{0});
  driver.Send(ev::PlanApproved{});
  CHECK(driver.Get().Context().monitoring_visits_required == 2);  // the programme's schedule
  REQUIRE(driver.Send(ev::MonitoringVisitCompleted{0.5, 0.5, 0.5}).Applied());  // the first, late
  timers = DesiredTimers(driver.Get(), driver.programme, arrived);
  CHECK_FALSE(DueOf(timers, "deadline:plan"));
  CHECK(DueOf(timers, "monitoring:2:missed") == arrived + Days{194});
}

TEST_CASE("a suspension is reviewed on the programme's schedule", "[workflow][timers]") {
  Driver driver(AdultContext());
  driver.ToCounselling();
  driver.Send(ev::CaseSuspended{SuspensionReason::kLegalImpediment});
  const auto suspended_at = *driver.Get().Context().suspended_at;
  auto timers = DesiredTimers(driver.Get(), driver.programme, suspended_at);
  REQUIRE(timers.size() == 1);  // no deadline runs while on hold
  CHECK(timers[0] == Timer{"review:suspension", suspended_at + Days{30}});
  REQUIRE(driver.Send(ev::SuspensionReviewDue{}, "clock").Applied());
  CHECK(DesiredTimers(driver.Get(), driver.programme, suspended_at).empty());
  driver.Send(ev::CaseResumed{});
  CHECK_FALSE(driver.Get().Context().suspended_at);
}

TEST_CASE("every timer kind fires an event the machine knows, and the engine's kinds none", "[workflow][timers]") {
  for (const auto kind : DeadlineKinds()) {
    const auto event = EventForTimer("deadline:" + std::string(kind));
    REQUIRE(event);
    CHECK(std::get<ev::DeadlinePassed>(*event).deadline == kind);
  }
  CHECK(EventName(*EventForTimer("expiry:fitness")) == "fitness.expired");
  CHECK(EventName(*EventForTimer("expiry:travel_document")) == "travel_document.expired");
  CHECK(std::get<ev::MonitoringVisitMissed>(*EventForTimer("monitoring:12:missed")).visit == 12);
  CHECK(EventName(*EventForTimer("review:suspension")) == "suspension.review_due");
  CHECK_FALSE(EventForTimer("inbox:7"));
  CHECK_FALSE(EventForTimer("monitoring:x:due"));
  CHECK(IsClockEvent("deadline.passed"));
  CHECK(IsClockEvent("deadline.approaching"));
  CHECK_FALSE(IsClockEvent("programme.changed"));
}

TEST_CASE("an eligibility decision reads the programme's current unsafe list, and records the version", "[workflow][timers]") {
  Driver driver(AdultContext());
  driver.Send(ev::EligibilityReviewStarted{});
  Programme current = driver.programme;  // version 2 of the programme found BD unsafe
  current.version = 2;
  current.unsafe_destinations.insert("BD");
  auto refused = driver.Get().Apply(ev::EligibilityConfirmed{"BD"},
                                    EventMeta{"cw", At("2026-01-06T09:00:00Z"), &driver.programme, &current});
  CHECK(refused.reason == "destination_unsafe");
  CHECK(refused.verdict == Verdict::kGuardRefused);
  const auto decided = driver.Send(ev::EligibilityConfirmed{"BD"});  // the pinned list alone: BD is fine
  REQUIRE(decided.Applied());
  CHECK(Has(decided.changes, "decided_under_programme_version=1"));
}

}  // namespace returnflow::testing

namespace returnflow::testing {

TEST_CASE("a closed case's personal data is erased by the clock after the programme's retention, once",
          "[workflow][timers][privacy]") {
  Driver driver(AdultContext());
  driver.ToCounselling();
  const auto closed_at = At("2026-03-01T09:00:00Z");
  // No retention in the programme: nothing is scheduled, the data stays until an approved request.
  REQUIRE(driver.Send(ev::ConsentWithdrawn{}).Applied());
  CHECK_FALSE(DueOf(DesiredTimers(driver.Get(), driver.programme, closed_at), kRetentionTimer));
  driver.programme.personal_data_retention = Days{365};
  CHECK(DueOf(DesiredTimers(driver.Get(), driver.programme, closed_at), kRetentionTimer) == closed_at + Days{365});
  const auto event = EventForTimer(kRetentionTimer);
  REQUIRE(event);
  CHECK(std::get<ev::PersonalDataErased>(*event).basis == ErasureBasis::kRetention);
  CHECK(EventDataForTimer(kRetentionTimer) == R"({"basis":"retention"})");
  const auto erased = driver.Send(*event, "returnflow:clock");
  REQUIRE(erased.Applied());
  CHECK(Has(erased.changes, "personal_data_erased=retention"));
  CHECK(driver.Get().Context().personal_data_erased);
  CHECK_FALSE(DueOf(DesiredTimers(driver.Get(), driver.programme, closed_at), kRetentionTimer));
  // Gone for good: it cannot be erased again, and the case cannot be reopened without its people.
  CHECK(driver.Send(*event, "returnflow:clock").reason == "personal_data_erased");
  CHECK(driver.Send(ev::CaseReopened{"re-application"}).reason == "personal_data_erased");
}

TEST_CASE("erasure before the retention time needs a request and a second person to approve it",
          "[workflow][privacy]") {
  Driver driver(AdultContext());
  driver.ToCounselling();
  const ev::PersonalDataErased approval{ErasureBasis::kRequest};
  // An open case's data is in use: neither the request nor the erasure is allowed before closure.
  CHECK(Name(driver.Send(ev::PersonalDataErasureRequested{ErasureGround::kDataSubjectRequest}).verdict) == "not_allowed");
  REQUIRE(driver.Send(ev::ConsentWithdrawn{}).Applied());
  CHECK(driver.Send(approval, "admin-1").reason == "erasure_not_requested");
  REQUIRE(driver.Send(ev::PersonalDataErasureRequested{ErasureGround::kDataSubjectRequest}, "caseworker-1").Applied());
  CHECK(driver.Get().Context().erasure_requested_by == "caseworker-1");
  CHECK(driver.Send(approval, "caseworker-1").reason == "erasure_needs_second_person");
  CHECK_FALSE(driver.Get().Context().personal_data_erased);
  const auto approved = driver.Send(approval, "admin-1");
  REQUIRE(approved.Applied());
  CHECK(Has(approved.changes, "personal_data_erased=request"));
  CHECK(driver.Get().Context().personal_data_erased);
  CHECK_FALSE(driver.Get().Context().erasure_requested_by);
  // Saved and restored as it is.
  CHECK(Case::Restore(driver.Get().Save()).Context() == driver.Get().Context());
}

}  // namespace returnflow::testing
