// Scenarios from the domain: whole cases driven event by event.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/workflow/case_fixtures.hpp"
#include "workflow/reasons.hpp"

namespace returnflow::testing {
namespace {

bool Has(const std::vector<std::string>& states, std::string_view state) {
  return std::find(states.begin(), states.end(), state) != states.end();
}

void RequireApplied(const ApplyResult& result) {
  INFO("verdict " << Name(result.verdict) << " reason " << result.reason);
  REQUIRE(result.Applied());
}

void RequireRefused(const ApplyResult& result, std::string_view reason) {
  CHECK(Name(result.verdict) == "guard_refused");
  CHECK(result.reason == reason);
}

}  // namespace

TEST_CASE("a single adult goes from referral to closure as reintegrated", "[workflow][scenario]") {
  Driver driver(AdultContext());
  CHECK(driver.Get().Stage() == "referral");
  driver.ToReintegration();
  CHECK(driver.Get().Stage() == "reintegration");
  RequireApplied(driver.Send(ev::PlanSubmitted{0}));
  CHECK(driver.Get().Context().monitoring_visits_required == 3);  // the programme default
  RequireApplied(driver.Send(ev::PlanApproved{}));
  RequireApplied(driver.Send(ev::AssistanceDelivered{AssistanceKind::kVocationalTraining}));
  for (int visit = 0; visit < 3; ++visit) RequireApplied(driver.Send(ev::MonitoringVisitCompleted{0.6, 0.7, 0.8}));
  RequireApplied(driver.Send(ev::CaseClosed{Outcome::kReintegrated}));
  CHECK(driver.Get().Stage() == "closed");
  CHECK(driver.Get().Context().outcome == Outcome::kReintegrated);
  // Closed: reopened, or its personal data erased (on request, or by the clock after the retention).
  CHECK(driver.Get().AllowedEvents() ==
        std::vector<std::string_view>{"case.reopened", "personal_data.erased", "personal_data.erasure_requested"});
}

TEST_CASE("closure as reintegrated waits for the monitoring schedule", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToReintegration();
  RequireApplied(driver.Send(ev::PlanSubmitted{2}));
  RequireApplied(driver.Send(ev::PlanApproved{}));
  RequireRefused(driver.Send(ev::CaseClosed{Outcome::kReintegrated}), "monitoring_incomplete");
  RequireApplied(driver.Send(ev::MonitoringVisitCompleted{}));
  RequireRefused(driver.Send(ev::CaseClosed{Outcome::kReintegrated}), "monitoring_incomplete");
  RequireApplied(driver.Send(ev::MonitoringVisitCompleted{}));
  RequireApplied(driver.Send(ev::CaseClosed{Outcome::kReintegrated}));
}

TEST_CASE("a household with an accompanied child needs no child safeguards", "[workflow][scenario]") {
  Driver driver(HouseholdContext());
  driver.ToReintegration();
  CHECK(driver.Get().Stage() == "reintegration");
  CHECK(driver.Get().Context().household.size() == 2);
}

TEST_CASE("an unaccompanied child is blocked at each safeguard until it is satisfied", "[workflow][scenario]") {
  Driver driver(UnaccompaniedChildContext());
  driver.ToCounselling();
  RequireApplied(driver.Send(ev::CounsellingSessionHeld{}));
  const ev::ConsentRecorded consent{ConsentKind::kProxy};

  RequireRefused(driver.Send(consent), "capacity_assessment_required");
  RequireApplied(driver.Send(ev::CapacityAssessed{false}));
  RequireRefused(driver.Send(consent), "best_interests_determination_required");
  RequireApplied(driver.Send(ev::BestInterestsDetermined{"m1", false}));
  RequireRefused(driver.Send(consent), "return_not_in_child_interest");
  RequireApplied(driver.Send(ev::BestInterestsDetermined{"m1", true}));
  RequireRefused(driver.Send(consent), "best_interests_approval_required");
  RequireApplied(driver.Send(ev::BestInterestsApproved{"m1"}, "supervisor-1"));
  CHECK(driver.Get().Context().best_interests.at("m1").approved_by == "supervisor-1");
  RequireRefused(driver.Send(consent), "guardian_required");
  RequireApplied(driver.Send(ev::GuardianRecorded{"m1"}));
  RequireApplied(driver.Send(consent));
  CHECK(driver.Get().Stage() == "documentation");

  RequireApplied(driver.Send(ev::PassportVerified{Day("2030-01-01")}));
  RequireApplied(driver.Send(ev::ExitClearanceNotRequired{}));
  RequireApplied(driver.Send(ev::FitnessCertified{Day("2026-06-30"), true}));
  RequireApplied(driver.Send(ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"}));
  RequireApplied(driver.Send(ev::BriefingHeld{true}));
  RequireRefused(driver.Send(ev::Departed{}), "child_escort_required");
  RequireApplied(driver.Send(ev::EscortAssigned{EscortKind::kChild}));
  RequireRefused(driver.Send(ev::Departed{}), "medical_escort_required");
  RequireApplied(driver.Send(ev::EscortAssigned{EscortKind::kMedical}));
  RequireApplied(driver.Send(ev::Departed{}));
  RequireRefused(driver.Send(ev::Arrived{}), "caregiver_not_confirmed");
  RequireRefused(driver.Send(ev::CaregiverConfirmed{"m9"}), "not_an_unaccompanied_or_separated_child");
  RequireApplied(driver.Send(ev::CaregiverConfirmed{"m1"}));
  RequireApplied(driver.Send(ev::Arrived{}));
  CHECK(driver.Get().Stage() == "reintegration");
}

TEST_CASE("a new best-interests determination needs a new approval", "[workflow][scenario]") {
  Driver driver(UnaccompaniedChildContext());
  driver.ToCounselling();
  RequireApplied(driver.Send(ev::CounsellingSessionHeld{}));
  RequireApplied(driver.Send(ev::BestInterestsDetermined{"m1", true}));
  RequireApplied(driver.Send(ev::BestInterestsApproved{"m1"}, "supervisor-1"));
  RequireApplied(driver.Send(ev::GuardianRecorded{"m1"}));
  RequireApplied(driver.Send(ev::BestInterestsDetermined{"m1", true}));
  RequireRefused(driver.Send(ev::ConsentRecorded{ConsentKind::kExplicit}), "best_interests_approval_required");
}

TEST_CASE("proxy consent needs an assessment finding capacity lacking", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToCounselling();
  RequireApplied(driver.Send(ev::CounsellingSessionHeld{}));
  RequireApplied(driver.Send(ev::CapacityAssessed{true}));
  RequireRefused(driver.Send(ev::ConsentRecorded{ConsentKind::kProxy}), "proxy_consent_with_capacity");
  RequireApplied(driver.Send(ev::ConsentRecorded{ConsentKind::kExplicit}));
}

TEST_CASE("a screening that makes the principal an unaccompanied child brings the safeguards in", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToCounselling();
  RequireRefused(driver.Send(ev::VulnerabilityScreened{{{"m7", {Vulnerability::kElderly}}}}), "unknown_household_member");
  RequireApplied(driver.Send(ev::VulnerabilityScreened{{{"m1", {Vulnerability::kSeparatedChild}}}}));
  RequireApplied(driver.Send(ev::CounsellingSessionHeld{}));
  RequireRefused(driver.Send(ev::ConsentRecorded{ConsentKind::kExplicit}), "best_interests_determination_required");
}

TEST_CASE("withdrawal closes the case from every stage before departure", "[workflow][scenario]") {
  const std::vector<std::pair<std::string, std::function<void(Driver&)>>> stages = {
      {"referral", [](Driver&) {}},
      {"counselling", [](Driver& d) { d.ToCounselling(); }},
      {"documentation", [](Driver& d) { d.ToDocumentation(); }},
      {"travel", [](Driver& d) { d.ToTravel(); }},
      {"travel", [](Driver& d) { d.ToBooked(); }},
      {"suspended", [](Driver& d) { d.ToBooked(); d.Send(ev::CaseSuspended{SuspensionReason::kSecurityAtDestination}); }},
  };
  for (const auto& [stage, reach] : stages) {
    Driver driver(AdultContext());
    reach(driver);
    INFO(stage);
    REQUIRE(driver.Get().Stage() == stage);
    const bool booked = driver.Get().Context().departure_date.has_value();
    const auto result = driver.Send(ev::ConsentWithdrawn{});
    RequireApplied(result);
    CHECK(driver.Get().Stage() == "closed");
    CHECK(driver.Get().Context().outcome == Outcome::kWithdrawn);
    CHECK(Has(result.changes, "booking_cancelled") == booked);
    CHECK_FALSE(driver.Get().Context().departure_date.has_value());
  }
}

TEST_CASE("withdrawal after departure is refused", "[workflow][scenario]") {
  Driver departed(AdultContext());
  departed.ToDeparted();
  RequireRefused(departed.Send(ev::ConsentWithdrawn{}), "withdrawal_after_departure");
  Driver returned(AdultContext());
  returned.ToReintegration();
  RequireRefused(returned.Send(ev::ConsentWithdrawn{}), "withdrawal_after_departure");
  RequireApplied(returned.Send(ev::CaseSuspended{SuspensionReason::kSecurityAtDestination}));
  RequireRefused(returned.Send(ev::ConsentWithdrawn{}), "withdrawal_after_departure");
}

TEST_CASE("suspension in each stage resumes to the same sub-states", "[workflow][scenario]") {
  const std::vector<std::function<void(Driver&)>> reach = {
      [](Driver& d) { d.Send(ev::EligibilityReviewStarted{}); },
      [](Driver& d) { d.ToCounselling(); d.Send(ev::CounsellingSessionHeld{}); },
      [](Driver& d) {
        d.ToDocumentation();
        d.Send(ev::TravelDocumentRequested{});
        d.Send(ev::ExitClearanceNotRequired{});
      },
      [](Driver& d) { d.ToBooked(); d.Send(ev::BriefingHeld{true}); },
      [](Driver& d) { d.ToReintegration(); d.Send(ev::PlanSubmitted{3}); d.Send(ev::PlanApproved{}); },
  };
  for (const auto& walk : reach) {
    Driver driver(AdultContext());
    walk(driver);
    const auto before = driver.Get().ActiveStates();
    INFO(before.front());
    RequireApplied(driver.Send(ev::CaseSuspended{SuspensionReason::kLegalImpediment}));
    CHECK(driver.Get().ActiveStates() == std::vector<std::string>{"suspended"});

    const auto refused = driver.Send(ev::CounsellingSessionHeld{});
    CHECK(Name(refused.verdict) == "suspended");
    CHECK(refused.reason == "legal_impediment");
    CHECK(driver.Send(ev::CaseSuspended{SuspensionReason::kMedical}).verdict == Verdict::kSuspended);

    // Resume in a fresh machine restored from the saved state, as the engine does.
    Driver restored(Case::Restore(driver.Get().Save()));
    RequireApplied(restored.Send(ev::CaseResumed{}));
    CHECK(restored.Get().ActiveStates() == before);
    CHECK_FALSE(restored.Get().Context().suspension.has_value());
  }
}

TEST_CASE("a refused travel document and an unfit migrant put the case on hold", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToDocumentation();
  RequireApplied(driver.Send(ev::TravelDocumentRequested{}));
  auto refused = driver.Send(ev::TravelDocumentRefused{});
  RequireApplied(refused);
  CHECK(refused.to == std::vector<std::string>{"suspended"});
  CHECK(driver.Get().Context().suspension == SuspensionReason::kDocumentRefused);
  RequireApplied(driver.Send(ev::CaseResumed{}));
  CHECK(Has(driver.Get().ActiveStates(), "documentation.travel_document.requested"));
  RequireApplied(driver.Send(ev::PassportVerified{Day("2030-01-01")}));
  RequireApplied(driver.Send(ev::ExitClearanceNotRequired{}));
  RequireApplied(driver.Send(ev::FitnessUnfit{}));
  CHECK(driver.Get().Context().suspension == SuspensionReason::kMedical);
  RequireApplied(driver.Send(ev::CaseResumed{}));
  RequireApplied(driver.Send(ev::FitnessCertified{Day("2026-06-30"), false}));
  CHECK(driver.Get().Stage() == "travel");
}

TEST_CASE("an unfit assessment after a fit one withdraws the certificate and holds documentation", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToDocumentation();
  RequireApplied(driver.Send(ev::FitnessCertified{Day("2026-06-30"), false}));
  const auto unfit = driver.Send(ev::FitnessUnfit{});
  RequireApplied(unfit);
  CHECK(unfit.to == std::vector<std::string>{"suspended"});
  CHECK(Has(unfit.changes, "fitness_certificate_withdrawn"));
  CHECK_FALSE(driver.Get().Context().fitness_valid_until.has_value());
  RequireApplied(driver.Send(ev::CaseResumed{}));
  RequireApplied(driver.Send(ev::PassportVerified{Day("2030-01-01")}));
  RequireApplied(driver.Send(ev::ExitClearanceNotRequired{}));
  // Every strand sits in its finished state, but without a certificate the case stays in documentation.
  CHECK(driver.Get().Stage() == "documentation");
  RequireApplied(driver.Send(ev::FitnessCertified{Day("2026-07-31"), false}));
  CHECK(driver.Get().Stage() == "travel");
}

TEST_CASE("an event a top-level row takes only in some sub-states is not allowed elsewhere", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToDocumentation();
  const auto refused = driver.Send(ev::TravelDocumentRefused{});  // nothing was requested
  CHECK(refused.verdict == Verdict::kNotAllowed);
  CHECK(refused.reason == "not_allowed_in_current_state");
  CHECK(driver.Send(ev::EligibilityRefused{"excluded"}).verdict == Verdict::kNotAllowed);
  CHECK(driver.Send(ev::NoShow{}).verdict == Verdict::kNotAllowed);
  const auto allowed = driver.Get().AllowedEvents();
  CHECK_FALSE(Has(std::vector<std::string>(allowed.begin(), allowed.end()), "travel_document.refused"));
  CHECK(Has(std::vector<std::string>(allowed.begin(), allowed.end()), "fitness.unfit"));
}

TEST_CASE("a no-show returns the case to booking and the Nth closes it as absconded", "[workflow][scenario]") {
  for (const int limit : {1, 3}) {
    Driver driver(AdultContext());
    driver.programme.no_show_limit = limit;
    driver.ToBooked();
    INFO("limit " << limit);
    for (int no_show = 1; no_show < limit; ++no_show) {
      const auto result = driver.Send(ev::NoShow{});
      RequireApplied(result);
      CHECK(result.to == std::vector<std::string>{"travel.awaiting_booking"});
      CHECK(driver.Get().Context().no_shows == no_show);
      CHECK_FALSE(driver.Get().Context().departure_date.has_value());
      RequireApplied(driver.Send(ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"}));
      if (no_show % 2 == 0) RequireApplied(driver.Send(ev::BriefingHeld{true}));
    }
    RequireApplied(driver.Send(ev::NoShow{}));
    CHECK(driver.Get().Stage() == "closed");
    CHECK(driver.Get().Context().outcome == Outcome::kAbsconded);
  }
}

TEST_CASE("voluntariness must be confirmed again at the pre-departure briefing", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToBooked();
  RequireRefused(driver.Send(ev::BriefingHeld{false}), "voluntariness_not_reconfirmed");
  CHECK(driver.Send(ev::Departed{}).verdict == Verdict::kNotAllowed);
}

TEST_CASE("a travel document or fitness certificate expiring before departure blocks the booking", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToDocumentation();
  RequireApplied(driver.Send(ev::PassportVerified{Day("2026-02-15")}));
  RequireApplied(driver.Send(ev::ExitClearanceNotRequired{}));
  RequireApplied(driver.Send(ev::FitnessCertified{Day("2026-02-20"), false}));
  RequireRefused(driver.Send(ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"}), "travel_document_expires_before_departure");
  RequireApplied(driver.Send(ev::PassportVerified{Day("2031-01-01")}));
  RequireRefused(driver.Send(ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"}), "fitness_certificate_expires_before_departure");
  RequireApplied(driver.Send(ev::FitnessCertified{Day("2026-03-01"), false}));
  RequireApplied(driver.Send(ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"}));  // valid on the day itself
}

TEST_CASE("an unsafe destination makes the referral ineligible to proceed", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.Send(ev::EligibilityReviewStarted{});
  RequireRefused(driver.Send(ev::EligibilityConfirmed{"XX"}), "destination_unsafe");
  RequireApplied(driver.Send(ev::EligibilityRefused{"destination_unsafe"}));
  CHECK(driver.Get().Stage() == "closed");
  CHECK(driver.Get().Context().outcome == Outcome::kIneligible);
}

TEST_CASE("reintegration assistance waits for an approved plan", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToReintegration();
  RequireRefused(driver.Send(ev::AssistanceDelivered{AssistanceKind::kHousing}), "reintegration_plan_not_approved");
  RequireRefused(driver.Send(ev::PlanApproved{}), "reintegration_plan_missing");
  RequireApplied(driver.Send(ev::PlanSubmitted{3}));
  RequireApplied(driver.Send(ev::PlanApproved{}));
  RequireApplied(driver.Send(ev::AssistanceDelivered{AssistanceKind::kHousing}));
  RequireApplied(driver.Send(ev::AssistanceDelivered{AssistanceKind::kHousing}));
  CHECK(driver.Get().Context().assistance_delivered.at(AssistanceKind::kHousing) == 2);
}

TEST_CASE("a closed case reopens at referral with its history and a reason", "[workflow][scenario]") {
  Driver driver(AdultContext());
  driver.ToBooked();
  driver.Send(ev::NoShow{});
  RequireApplied(driver.Send(ev::ConsentWithdrawn{}));
  CHECK(driver.Send(ev::CounsellingSessionHeld{}).verdict == Verdict::kClosed);
  RequireRefused(driver.Send(ev::CaseReopened{""}), "reopen_reason_required");
  RequireApplied(driver.Send(ev::CaseReopened{"re-application"}));
  CHECK(driver.Get().ActiveStates() == std::vector<std::string>{"referral.received"});
  CHECK(driver.Get().Context().reopen_count == 1);
  CHECK(driver.Get().Context().no_shows == 0);
  CHECK_FALSE(driver.Get().Context().outcome.has_value());
  CHECK(driver.Get().Context().counselling_sessions == 1);  // history kept
}

TEST_CASE("closing outcomes follow the domain rules", "[workflow][scenario]") {
  Driver early(AdultContext());
  early.ToCounselling();
  RequireRefused(early.Send(ev::CaseClosed{Outcome::kWithdrawn}), "withdrawal_requires_consent_withdrawn_event");
  RequireRefused(early.Send(ev::CaseClosed{Outcome::kReturnedWithoutReintegrationAssistance}), "not_yet_returned");
  RequireRefused(early.Send(ev::CaseClosed{Outcome::kReMigrated}), "not_yet_returned");
  RequireRefused(early.Send(ev::CaseClosed{Outcome::kIneligible}), "ineligibility_requires_eligibility_decision");
  RequireRefused(early.Send(ev::CaseClosed{Outcome::kAbsconded}), "absconded_requires_no_shows");
  RequireRefused(early.Send(ev::CaseClosed{Outcome::kTransferred}), "closure_requires_approval");
  early.programme.closures_exempt_from_approval.insert(Outcome::kTransferred);
  RequireApplied(early.Send(ev::CaseClosed{Outcome::kTransferred}));

  Driver returned(AdultContext());
  returned.ToReintegration();
  RequireApplied(returned.Send(ev::ClosureRequested{Outcome::kReturnedWithoutReintegrationAssistance, "declined"}));
  RequireApplied(returned.Send(ev::ClosureApproved{}, "supervisor-1"));
  CHECK(returned.Get().Context().outcome == Outcome::kReturnedWithoutReintegrationAssistance);
}

TEST_CASE("a closure that needs approval is requested by one person and approved by another", "[workflow][scenario][closure]") {
  Driver driver(AdultContext());
  driver.ToDocumentation();
  const auto stage_states = driver.Get().ActiveStates();

  // A caseworker's direct closure is refused, naming the request it needs.
  RequireRefused(driver.Send(ev::CaseClosed{Outcome::kLostContact}), "closure_requires_approval");
  CHECK(std::string(workflow::reasons::kClosureRequiresApproval.meaning).find("case.closure_requested") != std::string::npos);
  RequireRefused(driver.Send(ev::ClosureApproved{}, "supervisor-1"), "closure_not_requested");
  RequireRefused(driver.Send(ev::ClosureRejected{"no"}, "supervisor-1"), "closure_not_requested");

  // The request keeps the case where it is, pending; the outcome's own conditions apply to it.
  RequireRefused(driver.Send(ev::ClosureRequested{Outcome::kReMigrated, "left again"}), "not_yet_returned");
  RequireRefused(driver.Send(ev::ClosureRequested{Outcome::kWithdrawn, "changed mind"}),
                 "withdrawal_requires_consent_withdrawn_event");
  RequireRefused(driver.Send(ev::ClosureRequested{Outcome::kDeceased, "reported"}), "closure_approval_not_required");
  const auto requested = driver.Send(ev::ClosureRequested{Outcome::kLostContact, "no contact for sixty days"});
  RequireApplied(requested);
  CHECK(requested.to == stage_states);
  CHECK(requested.changes == std::vector<std::string>{"closure_requested=lost_contact",
                                                      "closure_reason=no contact for sixty days"});
  REQUIRE(driver.Get().Context().closure_request.has_value());
  CHECK(driver.Get().Context().closure_request->requested_by == "caseworker-1");
  CHECK_FALSE(driver.Get().Context().outcome.has_value());
  RequireRefused(driver.Send(ev::ClosureRequested{Outcome::kOptedOut, "again"}), "closure_already_requested");

  // The case goes on while the request waits, and it survives save and restore.
  RequireApplied(driver.Send(ev::ExitClearanceNotRequired{}));
  Driver restored(Case::Restore(driver.Get().Save()));
  CHECK(restored.Get().Context() == driver.Get().Context());

  // The requester cannot approve; another person can, and the case closes with the requested outcome.
  RequireRefused(restored.Send(ev::ClosureApproved{}, "caseworker-1"), "closure_approver_is_requester");
  const auto approved = restored.Send(ev::ClosureApproved{}, "supervisor-1");
  RequireApplied(approved);
  CHECK(approved.to == std::vector<std::string>{"closed"});
  CHECK(approved.changes == std::vector<std::string>{"closure_approved=lost_contact", "outcome=lost_contact"});
  CHECK(restored.Get().Context().outcome == Outcome::kLostContact);
  CHECK_FALSE(restored.Get().Context().closure_request.has_value());
}

TEST_CASE("a rejected closure request clears it, and exempt closures stay direct", "[workflow][scenario][closure]") {
  Driver driver(AdultContext());
  driver.ToCounselling();
  RequireApplied(driver.Send(ev::CaseSuspended{SuspensionReason::kSecurityAtDestination}));
  RequireApplied(driver.Send(ev::ClosureRequested{Outcome::kSecuritySituation, "conflict at destination"}));
  const auto rejected = driver.Send(ev::ClosureRejected{"situation reviewed monthly"}, "supervisor-1");
  RequireApplied(rejected);
  CHECK(rejected.to == std::vector<std::string>{"suspended"});
  CHECK(rejected.changes == std::vector<std::string>{"closure_rejected=security_situation",
                                                     "closure_rejection_reason=situation reviewed monthly"});
  CHECK_FALSE(driver.Get().Context().closure_request.has_value());
  RequireRefused(driver.Send(ev::ClosureApproved{}, "supervisor-1"), "closure_not_requested");

  // A new request may follow; withdrawal of consent closes the case at once and settles it.
  RequireApplied(driver.Send(ev::ClosureRequested{Outcome::kSecuritySituation, "still unsafe"}));
  RequireApplied(driver.Send(ev::ConsentWithdrawn{}));
  CHECK(driver.Get().Context().outcome == Outcome::kWithdrawn);
  CHECK_FALSE(driver.Get().Context().closure_request.has_value());

  // Deceased, and what the programme exempts, a caseworker closes alone.
  Driver deceased(AdultContext());
  deceased.ToTravel();
  RequireApplied(deceased.Send(ev::CaseClosed{Outcome::kDeceased}));
  Driver exempt(AdultContext());
  exempt.programme.closures_exempt_from_approval = {Outcome::kOptedOut};
  exempt.ToCounselling();
  RequireApplied(exempt.Send(ev::CaseClosed{Outcome::kOptedOut}));
  // Reintegrated is exempt by default only: a programme may ask for approval there too.
  Driver strict(AdultContext());
  strict.programme.closures_exempt_from_approval.clear();
  strict.ToCounselling();
  RequireRefused(strict.Send(ev::CaseClosed{Outcome::kOptedOut}), "closure_requires_approval");
  CHECK(ClosureNeedsApproval(strict.programme, Outcome::kReintegrated));
  CHECK_FALSE(ClosureNeedsApproval(Programme{}, Outcome::kReintegrated));
  CHECK_FALSE(ClosureNeedsApproval(strict.programme, Outcome::kWithdrawn));
}

TEST_CASE("an old closures_needing_supervisor list reads as the exemption of every other outcome", "[workflow][closure]") {
  const auto exempt = ExemptFromNeedingSupervisor({Outcome::kAbsconded, Outcome::kSecuritySituation});
  CHECK(exempt.size() == kOutcomeNames.size() - 2);
  CHECK_FALSE(exempt.contains(Outcome::kSecuritySituation));
  CHECK(exempt.contains(Outcome::kOptedOut));
  CHECK(ExemptFromNeedingSupervisor({}) == Programme{}.closures_exempt_from_approval);

  // A stored definition with the old key restores into the new field.
  auto stored = boost::json::value_from(TestProgramme()).as_object();
  stored.erase("closures_exempt_from_approval");
  stored["closures_needing_supervisor"] = boost::json::array{"security_situation"};
  const auto programme = boost::json::value_to<Programme>(boost::json::value(stored));
  CHECK(ClosureNeedsApproval(programme, Outcome::kSecuritySituation));
  CHECK_FALSE(ClosureNeedsApproval(programme, Outcome::kLostContact));
}

}  // namespace returnflow::testing
