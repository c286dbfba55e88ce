// The specification table: for every stable state and every event, the expected target or refusal.
//
// Written from DOMAIN.md, not from the machine's tables: each state is reached by a recipe of events
// from a fresh single-adult case, then every event (with valid, canonical data) is applied to a copy.
// Anything a row below does not list must be refused: "not allowed" in an open state, "suspended" while
// on hold, "closed" once closed.
#include <map>

#include <catch2/catch.hpp>

#include "tests/workflow/case_fixtures.hpp"

namespace returnflow::testing {
namespace {

/// One valid instance of every event, keyed by its stable name.
const std::map<std::string, Event>& CanonicalEvents() {
  static const std::map<std::string, Event> events = [] {
    std::vector<Event> list = {
        ev::EligibilityReviewStarted{},
        ev::EligibilityConfirmed{"BD"},
        ev::EligibilityRefused{"excluded"},
        ev::CounsellingSessionHeld{},
        ev::VulnerabilityScreened{{{"m1", {Vulnerability::kHealthNeeds}}}},
        ev::CapacityAssessed{true},
        ev::BestInterestsDetermined{"m1", true},
        ev::BestInterestsApproved{"m1"},
        ev::GuardianRecorded{"m1"},
        ev::ConsentRecorded{ConsentKind::kExplicit},
        ev::PassportVerified{Day("2030-01-01")},
        ev::TravelDocumentRequested{},
        ev::TravelDocumentIssued{Day("2030-01-01")},
        ev::TravelDocumentRefused{},
        ev::ExitClearanceRequested{},
        ev::ExitClearanceGranted{},
        ev::ExitClearanceNotRequired{},
        ev::FitnessCertified{Day("2026-12-31"), false},
        ev::FitnessUnfit{},
        ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"},
        ev::EscortAssigned{EscortKind::kChild},
        ev::CaregiverConfirmed{"m1"},
        ev::BriefingHeld{true},
        ev::Departed{},
        ev::NoShow{},
        ev::Arrived{},
        ev::PlanSubmitted{3},
        ev::PlanApproved{},
        ev::AssistanceDelivered{AssistanceKind::kCashOnArrival},
        ev::MonitoringVisitCompleted{0.5, 0.5, 0.5},
        ev::CaseSuspended{SuspensionReason::kLegalImpediment},
        ev::CaseResumed{},
        ev::ConsentWithdrawn{},
        ev::CaseClosed{Outcome::kLostContact},
        ev::ClosureRequested{Outcome::kLostContact, "no contact for sixty days"},
        ev::ClosureApproved{},
        ev::ClosureRejected{"contact restored"},
        ev::CaseReopened{"re-application"},
        ev::PersonalDataErasureRequested{ErasureGround::kDataSubjectRequest},
        ev::PersonalDataErased{ErasureBasis::kRetention},
        ev::ProgrammeChanged{2},
        ev::DeadlinePassed{"counselling"},
        ev::DeadlineApproaching{"counselling"},
        ev::FitnessExpired{},
        ev::TravelDocumentExpired{},
        ev::MonitoringVisitDue{1},
        ev::MonitoringVisitMissed{1},
        ev::SuspensionReviewDue{},
    };
    std::map<std::string, Event> by_name;
    for (auto& event : list) by_name.emplace(std::string(EventName(event)), std::move(event));
    return by_name;
  }();
  return events;
}

// event -> expected state, "=" for an internal transition (the states stay), or "refused:<reason>".
using Expectations = std::map<std::string, std::string>;

// A lost-contact closure needs a supervisor: requested by a caseworker (the case keeps its state, the
// request pending), approved or rejected by another person; no request is pending in a plain state.
const Expectations kNoClosureRequested = {{"case.closed", "refused:closure_requires_approval"},
                                          {"case.closure_requested", "="},
                                          {"case.closure_approved", "refused:closure_not_requested"},
                                          {"case.closure_rejected", "refused:closure_not_requested"}};
// Requested by caseworker-2; the table's events come from caseworker-1, another person.
const Expectations kClosureRequested = {{"case.closed", "refused:closure_requires_approval"},
                                        {"case.closure_requested", "refused:closure_already_requested"},
                                        {"case.closure_approved", "closed"},
                                        {"case.closure_rejected", "="}};

// What every open stage accepts, before and after departure.
Expectations OpenCase(bool departed) {
  return {{"case.suspended", "suspended"},
          {"case.closed", "refused:closure_requires_approval"},
          {"case.closure_requested", "="},
          {"case.closure_approved", "refused:closure_not_requested"},
          {"case.closure_rejected", "refused:closure_not_requested"},
          {"consent.withdrawn", departed ? "refused:withdrawal_after_departure" : "closed"},
          {"deadline.passed", "="},     // the engine's clock marks a step overdue
          {"deadline.approaching", "="},  // ... and records that it announced a deadline
          {"programme.changed", "="}};  // a caseworker moves the case to another programme version
}
// Before departure the travel document and the fitness certificate expire as events.
const Expectations kExpiriesInTravel = {{"fitness.expired", "="}, {"travel_document.expired", "="}};
// After arrival the monitoring schedule's visits come due and may be missed.
const Expectations kMonitoringSchedule = {{"monitoring.visit_due", "="}, {"monitoring.visit_missed", "="}};

Expectations Merge(Expectations base, const Expectations& more) {
  for (const auto& [event, expected] : more) base[event] = expected;
  return base;
}

// Documentation: each strand contributes what its current sub-state accepts.
Expectations TravelDocumentStrand(const std::string& state) {
  if (state == "pending") {
    return {{"travel_document.passport_verified", "documentation.travel_document.passport_on_file"},
            {"travel_document.requested", "documentation.travel_document.requested"}};
  }
  if (state == "requested") {
    return {{"travel_document.issued", "documentation.travel_document.issued"},
            {"travel_document.requested", "documentation.travel_document.requested"},  // asked again
            {"travel_document.passport_verified", "documentation.travel_document.passport_on_file"},
            {"travel_document.refused", "suspended"}};  // a refused document puts the case on hold
  }
  // Passport on file, issued: finished, until the document expires.
  return {{"travel_document.expired", "documentation.travel_document.pending"}};
}
Expectations ExitClearanceStrand(const std::string& state) {
  if (state == "pending") {
    return {{"exit_clearance.requested", "documentation.exit_clearance.requested"},
            {"exit_clearance.not_required", "documentation.exit_clearance.not_required"}};
  }
  if (state == "requested") return {{"exit_clearance.granted", "documentation.exit_clearance.granted"}};
  return {};
}
Expectations MedicalStrand(const std::string& state) {
  // Unfit puts the case on hold for stabilisation, before or after a certificate (which it withdraws);
  // when fit, a renewed certificate is recorded, and an expired one leaves the strand unfinished.
  Expectations expectations{{"fitness.certified", "documentation.medical.fit"}, {"fitness.unfit", "suspended"}};
  if (state == "fit") expectations["fitness.expired"] = "documentation.medical.pending";
  return expectations;
}
Expectations Documentation(const std::string& travel_document, const std::string& exit_clearance,
                           const std::string& medical) {
  return Merge(Merge(Merge(OpenCase(false), TravelDocumentStrand(travel_document)),
                     ExitClearanceStrand(exit_clearance)),
               MedicalStrand(medical));
}

struct StateSpec {
  std::string state;                 // a leaf that is active after the recipe
  std::function<void(Driver&)> recipe;
  Expectations expectations;
};

std::vector<StateSpec> Specification() {
  const auto send = [](std::vector<Event> events) {
    return [events](Driver& driver) {
      for (const auto& event : events) REQUIRE(driver.Send(event).Applied());
    };
  };
  const auto then = [](std::function<void(Driver&)> first, std::vector<Event> events) {
    return [first, events](Driver& driver) {
      first(driver);
      for (const auto& event : events) REQUIRE(driver.Send(event).Applied());
    };
  };
  const std::function<void(Driver&)> to_counselling = [](Driver& d) { d.ToCounselling(); };
  const std::function<void(Driver&)> to_documentation = [](Driver& d) { d.ToDocumentation(); };
  const std::function<void(Driver&)> to_travel = [](Driver& d) { d.ToTravel(); };
  const std::function<void(Driver&)> to_booked = [](Driver& d) { d.ToBooked(); };
  const std::function<void(Driver&)> to_departed = [](Driver& d) { d.ToDeparted(); };
  const std::function<void(Driver&)> to_reintegration = [](Driver& d) { d.ToReintegration(); };
  const std::string not_a_child = "refused:not_an_unaccompanied_or_separated_child";

  return {
      {"referral.received", send({}),
       Merge(OpenCase(false), {{"eligibility.review_started", "referral.eligibility_review"}})},
      {"referral.eligibility_review", send({ev::EligibilityReviewStarted{}}),
       Merge(OpenCase(false), {{"eligibility.confirmed", "counselling.awaiting_session"},
                               {"eligibility.refused", "closed"}})},
      {"counselling.awaiting_session", to_counselling,
       Merge(OpenCase(false), {{"counselling.session_held", "counselling.in_progress"},
                               {"vulnerability.screened", "counselling.awaiting_session"},
                               {"consent.recorded", "refused:counselling_session_required"}})},
      {"counselling.in_progress", then(to_counselling, {ev::CounsellingSessionHeld{}}),
       Merge(OpenCase(false), {{"counselling.session_held", "counselling.in_progress"},
                               {"vulnerability.screened", "counselling.in_progress"},
                               {"capacity.assessed", "counselling.in_progress"},
                               {"best_interests.determined", not_a_child},
                               {"best_interests.approved", "refused:best_interests_determination_required"},
                               {"guardian.recorded", not_a_child},
                               {"consent.recorded", "documentation.travel_document.pending"}})},
      {"documentation.travel_document.pending", to_documentation, Documentation("pending", "pending", "pending")},
      {"documentation.travel_document.passport_on_file",
       then(to_documentation, {ev::PassportVerified{Day("2030-01-01")}}),
       Documentation("passport_on_file", "pending", "pending")},
      {"documentation.travel_document.requested", then(to_documentation, {ev::TravelDocumentRequested{}}),
       Documentation("requested", "pending", "pending")},
      {"documentation.travel_document.issued",
       then(to_documentation, {ev::TravelDocumentRequested{}, ev::TravelDocumentIssued{Day("2030-01-01")}}),
       Documentation("issued", "pending", "pending")},
      // A refused document: on hold, and resumed where it stopped (the embassy may be asked again).
      {"documentation.travel_document.requested",
       then(to_documentation, {ev::TravelDocumentRequested{}, ev::TravelDocumentRefused{}, ev::CaseResumed{}}),
       Documentation("requested", "pending", "pending")},
      {"documentation.exit_clearance.requested", then(to_documentation, {ev::ExitClearanceRequested{}}),
       Documentation("pending", "requested", "pending")},
      {"documentation.exit_clearance.granted",
       then(to_documentation, {ev::ExitClearanceRequested{}, ev::ExitClearanceGranted{}}),
       Documentation("pending", "granted", "pending")},
      {"documentation.exit_clearance.not_required", then(to_documentation, {ev::ExitClearanceNotRequired{}}),
       Documentation("pending", "not_required", "pending")},
      {"documentation.medical.fit", then(to_documentation, {ev::FitnessCertified{Day("2026-12-31"), false}}),
       Documentation("pending", "pending", "fit")},
      // Unfit, then resumed after stabilisation: a new assessment is awaited.
      {"documentation.medical.pending", then(to_documentation, {ev::FitnessUnfit{}, ev::CaseResumed{}}),
       Documentation("pending", "pending", "pending")},
      {"travel.awaiting_booking", to_travel,
       Merge(Merge(OpenCase(false), kExpiriesInTravel), {{"travel.booked", "travel.booked"},
                               {"travel_document.passport_verified", "travel.awaiting_booking"},
                               {"travel_document.issued", "travel.awaiting_booking"},
                               {"fitness.certified", "travel.awaiting_booking"},
                               {"escort.assigned", "travel.awaiting_booking"}})},
      {"travel.booked", to_booked,
       Merge(Merge(OpenCase(false), kExpiriesInTravel), {{"escort.assigned", "travel.booked"},
                               {"caregiver.confirmed", not_a_child},
                               {"travel.briefing_held", "travel.briefed"},
                               {"travel.no_show", "travel.awaiting_booking"}})},
      // The third no-show (the programme's limit) closes the case as absconded.
      {"travel.booked",
       then(to_booked, {ev::NoShow{}, ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"}, ev::NoShow{},
                        ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"}}),
       Merge(Merge(OpenCase(false), kExpiriesInTravel), {{"escort.assigned", "travel.booked"},
                               {"caregiver.confirmed", not_a_child},
                               {"travel.briefing_held", "travel.briefed"},
                               {"travel.no_show", "closed"}})},
      {"travel.briefed", then(to_booked, {ev::BriefingHeld{true}}),
       Merge(Merge(OpenCase(false), kExpiriesInTravel), {{"escort.assigned", "travel.briefed"},
                               {"caregiver.confirmed", not_a_child},
                               {"travel.departed", "travel.departed"},
                               {"travel.no_show", "travel.awaiting_booking"}})},
      {"travel.departed", to_departed,
       Merge(OpenCase(true), {{"caregiver.confirmed", not_a_child}, {"travel.arrived", "reintegration.plan_pending"}})},
      {"reintegration.plan_pending", to_reintegration,
       Merge(Merge(OpenCase(true), kMonitoringSchedule), {{"reintegration.plan_submitted", "reintegration.plan_pending"},
                              {"reintegration.plan_approved", "refused:reintegration_plan_missing"},
                              {"assistance.delivered", "refused:reintegration_plan_not_approved"}})},
      {"reintegration.assisting", then(to_reintegration, {ev::PlanSubmitted{3}, ev::PlanApproved{}}),
       Merge(Merge(OpenCase(true), kMonitoringSchedule), {{"assistance.delivered", "reintegration.assisting"},
                              {"monitoring.visit_completed", "reintegration.monitoring"}})},
      {"reintegration.monitoring",
       then(to_reintegration, {ev::PlanSubmitted{3}, ev::PlanApproved{}, ev::MonitoringVisitCompleted{}}),
       Merge(Merge(OpenCase(true), kMonitoringSchedule), {{"assistance.delivered", "reintegration.monitoring"},
                              {"monitoring.visit_completed", "reintegration.monitoring"}})},
      // A closure pending a supervisor's approval: the case keeps its stage and takes its events.
      {"counselling.in_progress",
       [](Driver& d) {
         d.ToCounselling();
         REQUIRE(d.Send(ev::CounsellingSessionHeld{}).Applied());
         REQUIRE(d.Send(ev::ClosureRequested{Outcome::kLostContact, "no contact"}, "caseworker-2").Applied());
       },
       Merge(Merge(OpenCase(false), kClosureRequested),
             {{"counselling.session_held", "counselling.in_progress"},
              {"vulnerability.screened", "counselling.in_progress"},
              {"capacity.assessed", "counselling.in_progress"},
              {"best_interests.determined", not_a_child},
              {"best_interests.approved", "refused:best_interests_determination_required"},
              {"guardian.recorded", not_a_child},
              {"consent.recorded", "documentation.travel_document.pending"}})},
      {"suspended", then(to_counselling, {ev::CaseSuspended{SuspensionReason::kLegalImpediment}}),
       Merge({{"case.resumed", "counselling.awaiting_session"}, {"consent.withdrawn", "closed"},
              {"suspension.review_due", "="}, {"programme.changed", "="}},
             kNoClosureRequested)},
      {"suspended", [](Driver& d) {
         d.ToCounselling();
         REQUIRE(d.Send(ev::CaseSuspended{SuspensionReason::kLegalImpediment}).Applied());
         REQUIRE(d.Send(ev::ClosureRequested{Outcome::kLostContact, "no contact"}, "caseworker-2").Applied());
       },
       Merge({{"case.resumed", "counselling.awaiting_session"}, {"consent.withdrawn", "closed"},
              {"suspension.review_due", "="}, {"programme.changed", "="}},
             kClosureRequested)},
      {"closed", then(to_counselling, {ev::ConsentWithdrawn{}}),
       {{"case.reopened", "referral.received"},
        {"personal_data.erasure_requested", "="},  // a caseworker asks; an admin approves
        {"personal_data.erased", "="}}},          // the clock's, once the retention has passed
      // Erased: nothing more, not even reopening (the people it was about are gone from the engine).
      {"closed", then(to_counselling, {ev::ConsentWithdrawn{}, ev::PersonalDataErased{ErasureBasis::kRetention}}),
       {{"case.reopened", "refused:personal_data_erased"},
        {"personal_data.erasure_requested", "refused:personal_data_erased"},
        {"personal_data.erased", "refused:personal_data_erased"}}},
  };
}

}  // namespace

TEST_CASE("every event in every stable state has the specified outcome", "[workflow][specification]") {
  std::size_t pairs = 0;
  for (const auto& spec : Specification()) {
    Driver reached(AdultContext());
    spec.recipe(reached);
    const auto states = reached.Get().ActiveStates();
    INFO("state " << spec.state);
    REQUIRE(std::find(states.begin(), states.end(), spec.state) != states.end());
    const auto saved = reached.Get().Save();

    for (const auto& [name, event] : CanonicalEvents()) {
      INFO("event " << name);
      Driver driver(Case::Restore(saved));
      const auto result = driver.Send(event);
      const auto expected = spec.expectations.find(name);
      ++pairs;
      if (expected == spec.expectations.end()) {
        const auto refusal = spec.state == "suspended" ? Verdict::kSuspended
                             : spec.state == "closed"  ? Verdict::kClosed
                                                       : Verdict::kNotAllowed;
        CHECK(Name(result.verdict) == Name(refusal));
        CHECK(driver.Get().Save() == saved);  // a refused event changes nothing
      } else if (expected->second.starts_with("refused:")) {
        CHECK(Name(result.verdict) == "guard_refused");
        CHECK(result.reason == expected->second.substr(8));
        CHECK(driver.Get().Save() == saved);
      } else if (expected->second == "=") {
        REQUIRE(Name(result.verdict) == "applied");
        CHECK(result.to == result.from);
      } else {
        REQUIRE(Name(result.verdict) == "applied");
        const auto& to = result.to;
        CHECK(std::find(to.begin(), to.end(), expected->second) != to.end());
      }
    }
  }
  CHECK(pairs == Specification().size() * CanonicalEvents().size());
}

TEST_CASE("the specification covers every event the machine knows", "[workflow][specification]") {
  for (const auto name : AllEventNames()) {
    INFO(name);
    CHECK(CanonicalEvents().contains(std::string(name)));
  }
  CHECK(CanonicalEvents().size() == AllEventNames().size());
}

TEST_CASE("allowed events are exactly those the specification accepts or guards", "[workflow][specification]") {
  for (const auto& spec : Specification()) {
    Driver reached(AdultContext());
    spec.recipe(reached);
    INFO("state " << spec.state);
    std::vector<std::string> expected;
    for (const auto& [event, outcome] : spec.expectations) expected.push_back(event);
    std::vector<std::string> allowed;
    for (const auto event : reached.Get().AllowedEvents()) allowed.emplace_back(event);
    std::sort(allowed.begin(), allowed.end());
    CHECK(allowed == expected);
  }
}

}  // namespace returnflow::testing
