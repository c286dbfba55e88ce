// The reason-code registry against the machine: every code a guard can emit is registered, and every
// registered code is emitted by some recipe below (so the registry lists nothing that cannot happen).
#include <functional>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "tests/workflow/case_fixtures.hpp"
#include "workflow/definition.hpp"
#include "workflow/reasons.hpp"

namespace returnflow::testing {
namespace {

/// Drives an unaccompanied child through its safeguards to documentation, then like an adult.
void ChildToDocumentation(Driver& driver) {
  driver.ToCounselling();
  driver.Send(ev::CounsellingSessionHeld{});
  driver.Send(ev::BestInterestsDetermined{"m1", true});
  driver.Send(ev::BestInterestsApproved{"m1"}, "supervisor-1");
  driver.Send(ev::GuardianRecorded{"m1"});
  REQUIRE(driver.Send(ev::ConsentRecorded{ConsentKind::kExplicit}).Applied());
}
void ChildToBriefed(Driver& driver) {
  ChildToDocumentation(driver);
  driver.Send(ev::PassportVerified{Day("2030-01-01")});
  driver.Send(ev::ExitClearanceNotRequired{});
  driver.Send(ev::FitnessCertified{Day("2026-06-30"), false});
  driver.Send(ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"});
  REQUIRE(driver.Send(ev::BriefingHeld{true}).Applied());
}

struct Recipe {
  std::function<CaseContext()> context;
  std::function<ApplyResult(Driver&)> run;  ///< returns the result that must carry the code
};

std::map<std::string, Recipe> Recipes() {
  const auto adult = [] { return AdultContext(); };
  const auto child = [] { return UnaccompaniedChildContext(); };
  const auto suspended_for = [](SuspensionReason reason) {
    return [reason](Driver& d) {
      d.ToCounselling();
      d.Send(ev::CaseSuspended{reason});
      return d.Send(ev::CounsellingSessionHeld{});
    };
  };
  const auto closed_with = [](Outcome outcome) {
    return [outcome](Driver& d) {
      d.ToCounselling();
      return d.Send(ev::CaseClosed{outcome});
    };
  };
  return {
      {"destination_unsafe", {adult, [](Driver& d) { d.Send(ev::EligibilityReviewStarted{}); return d.Send(ev::EligibilityConfirmed{"XX"}); }}},
      {"counselling_session_required", {adult, [](Driver& d) { d.ToCounselling(); return d.Send(ev::ConsentRecorded{ConsentKind::kExplicit}); }}},
      {"capacity_assessment_required", {adult, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::CounsellingSessionHeld{}); return d.Send(ev::ConsentRecorded{ConsentKind::kProxy}); }}},
      {"proxy_consent_with_capacity", {adult, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::CounsellingSessionHeld{}); d.Send(ev::CapacityAssessed{true});
         return d.Send(ev::ConsentRecorded{ConsentKind::kProxy}); }}},
      {"best_interests_determination_required", {child, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::CounsellingSessionHeld{}); return d.Send(ev::ConsentRecorded{ConsentKind::kExplicit}); }}},
      {"return_not_in_child_interest", {child, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::CounsellingSessionHeld{}); d.Send(ev::BestInterestsDetermined{"m1", false});
         return d.Send(ev::ConsentRecorded{ConsentKind::kExplicit}); }}},
      {"best_interests_approval_required", {child, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::CounsellingSessionHeld{}); d.Send(ev::BestInterestsDetermined{"m1", true});
         return d.Send(ev::ConsentRecorded{ConsentKind::kExplicit}); }}},
      {"guardian_required", {child, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::CounsellingSessionHeld{}); d.Send(ev::BestInterestsDetermined{"m1", true});
         d.Send(ev::BestInterestsApproved{"m1"}); return d.Send(ev::ConsentRecorded{ConsentKind::kExplicit}); }}},
      {"not_an_unaccompanied_or_separated_child", {adult, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::CounsellingSessionHeld{}); return d.Send(ev::BestInterestsDetermined{"m1", true}); }}},
      {"unknown_household_member", {adult, [](Driver& d) {
         d.ToCounselling(); return d.Send(ev::VulnerabilityScreened{{{"m9", {Vulnerability::kElderly}}}}); }}},
      {"travel_document_expires_before_departure", {adult, [](Driver& d) { d.ToTravel(); return d.Send(ev::TravelBooked{Day("2031-01-01"), ""}); }}},
      {"fitness_certificate_expires_before_departure", {adult, [](Driver& d) { d.ToTravel(); return d.Send(ev::TravelBooked{Day("2026-07-15"), ""}); }}},
      {"voluntariness_not_reconfirmed", {adult, [](Driver& d) { d.ToBooked(); return d.Send(ev::BriefingHeld{false}); }}},
      {"child_escort_required", {child, [](Driver& d) { ChildToBriefed(d); return d.Send(ev::Departed{}); }}},
      {"medical_escort_required", {adult, [](Driver& d) {
         d.ToTravel(); d.Send(ev::FitnessCertified{Day("2026-06-30"), true}); d.Send(ev::TravelBooked{Day("2026-03-01"), ""});
         d.Send(ev::BriefingHeld{true}); return d.Send(ev::Departed{}); }}},
      {"caregiver_not_confirmed", {child, [](Driver& d) {
         ChildToBriefed(d); d.Send(ev::EscortAssigned{EscortKind::kChild}); REQUIRE(d.Send(ev::Departed{}).Applied());
         return d.Send(ev::Arrived{}); }}},
      {"reintegration_plan_missing", {adult, [](Driver& d) { d.ToReintegration(); return d.Send(ev::PlanApproved{}); }}},
      {"reintegration_plan_not_approved", {adult, [](Driver& d) {
         d.ToReintegration(); return d.Send(ev::AssistanceDelivered{AssistanceKind::kHousing}); }}},
      {"withdrawal_after_departure", {adult, [](Driver& d) { d.ToDeparted(); return d.Send(ev::ConsentWithdrawn{}); }}},
      {"withdrawal_requires_consent_withdrawn_event", {adult, closed_with(Outcome::kWithdrawn)}},
      {"ineligibility_requires_eligibility_decision", {adult, closed_with(Outcome::kIneligible)}},
      {"absconded_requires_no_shows", {adult, closed_with(Outcome::kAbsconded)}},
      {"monitoring_incomplete", {adult, [](Driver& d) { d.ToReintegration(); return d.Send(ev::CaseClosed{Outcome::kReintegrated}); }}},
      {"not_yet_returned", {adult, closed_with(Outcome::kReturnedWithoutReintegrationAssistance)}},
      {"closure_requires_approval", {adult, closed_with(Outcome::kLostContact)}},
      {"closure_approval_not_required", {adult, [](Driver& d) {
         d.ToCounselling(); return d.Send(ev::ClosureRequested{Outcome::kDeceased, "reported"}); }}},
      {"closure_already_requested", {adult, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::ClosureRequested{Outcome::kOptedOut, "stays"});
         return d.Send(ev::ClosureRequested{Outcome::kOptedOut, "stays"}); }}},
      {"closure_not_requested", {adult, [](Driver& d) { d.ToCounselling(); return d.Send(ev::ClosureApproved{}, "supervisor-1"); }}},
      {"closure_approver_is_requester", {adult, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::ClosureRequested{Outcome::kOptedOut, "stays"}); return d.Send(ev::ClosureApproved{}); }}},
      {"reopen_reason_required", {adult, [](Driver& d) {
         d.ToCounselling(); d.Send(ev::ConsentWithdrawn{}); return d.Send(ev::CaseReopened{""}); }}},
      {"not_allowed_in_current_state", {adult, [](Driver& d) { return d.Send(ev::Departed{}); }}},
      {"personal_data_erased", {adult, [](Driver& d) {
         d.ToCounselling();
         d.Send(ev::ConsentWithdrawn{});
         d.Send(ev::PersonalDataErased{ErasureBasis::kRetention}, "returnflow:clock");
         return d.Send(ev::CaseReopened{"re-application"});
       }}},
      {"erasure_not_requested", {adult, [](Driver& d) {
         d.ToCounselling();
         d.Send(ev::ConsentWithdrawn{});
         return d.Send(ev::PersonalDataErased{ErasureBasis::kRequest}, "admin-1");
       }}},
      {"erasure_needs_second_person", {adult, [](Driver& d) {
         d.ToCounselling();
         d.Send(ev::ConsentWithdrawn{});
         d.Send(ev::PersonalDataErasureRequested{ErasureGround::kNoLongerNeeded}, "caseworker-1");
         return d.Send(ev::PersonalDataErased{ErasureBasis::kRequest}, "caseworker-1");
       }}},
      {"case_closed", {adult, [](Driver& d) { d.ToCounselling(); d.Send(ev::ConsentWithdrawn{}); return d.Send(ev::CounsellingSessionHeld{}); }}},
      {"medical", {adult, suspended_for(SuspensionReason::kMedical)}},
      {"document_refused", {adult, suspended_for(SuspensionReason::kDocumentRefused)}},
      {"legal_impediment", {adult, suspended_for(SuspensionReason::kLegalImpediment)}},
      {"security_at_destination", {adult, suspended_for(SuspensionReason::kSecurityAtDestination)}},
  };
}

}  // namespace

TEST_CASE("every reason code a guard declares is registered, with a meaning", "[workflow][reasons]") {
  const auto& definition = GetDefinition();
  REQUIRE_FALSE(definition.guards.empty());
  for (const auto& guard : definition.guards) {
    for (const auto& code : guard.reasons) {
      INFO(guard.name << " declares " << code);
      const auto* registered = FindReasonCode(code);
      REQUIRE(registered != nullptr);
      CHECK_FALSE(registered->meaning.empty());
    }
  }
  std::set<std::string_view> codes;
  for (const auto& reason : AllReasonCodes()) CHECK(codes.insert(reason.code).second);  // no code twice
  // A suspended case answers with its suspension reason, so those names are codes too.
  for (const auto name : kSuspensionReasonNames) CHECK(FindReasonCode(name) != nullptr);
}

TEST_CASE("every registered reason code is emitted by the machine", "[workflow][reasons]") {
  const auto recipes = Recipes();
  std::set<std::string> declared_by_guards;
  for (const auto& guard : GetDefinition().guards) declared_by_guards.insert(guard.reasons.begin(), guard.reasons.end());
  for (const auto& reason : AllReasonCodes()) {
    const std::string code(reason.code);
    INFO("code " << code);
    const auto recipe = recipes.find(code);
    REQUIRE(recipe != recipes.end());  // a registered code with no way to emit it is dead
    Driver driver(recipe->second.context());
    const auto result = recipe->second.run(driver);
    CHECK(result.reason == code);
    CHECK_FALSE(result.Applied());
    if (result.verdict == Verdict::kGuardRefused) CHECK(declared_by_guards.contains(code));
  }
  CHECK(recipes.size() == AllReasonCodes().size());
}

}  // namespace returnflow::testing
