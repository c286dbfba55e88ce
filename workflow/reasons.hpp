#pragma once
/// Every reason code the workflow can answer with, each declared once with its meaning.
///
/// A refused event carries one of these as its `reason`: guards name the codes they can emit (see the
/// `kReasons` of each guard in machine_def.hpp), and the verdicts that are not a guard's refusal (not
/// allowed in the state, closed, suspended) have codes of their own. The registry is what GET /workflow,
/// OpenAPI's enum on `reason` and docs/workflow.md list; a test fails when a guard can emit a code that
/// is not here, or when a code here is never emitted.
#include <span>
#include <string_view>

namespace returnflow::workflow {

/// A stable reason code and what it means (for people reading problem documents and docs).
struct ReasonCode {
  std::string_view code;
  std::string_view meaning;
  friend constexpr bool operator==(const ReasonCode& left, const ReasonCode& right) { return left.code == right.code; }
};

namespace reasons {

// clang-format off
// Referral.
inline constexpr ReasonCode kDestinationUnsafe{"destination_unsafe",
    "the destination country is on the programme's unsafe-destination list"};
// Counselling and consent.
inline constexpr ReasonCode kCounsellingSessionRequired{"counselling_session_required",
    "consent can be recorded only after at least one counselling session"};
inline constexpr ReasonCode kCapacityAssessmentRequired{"capacity_assessment_required",
    "proxy consent needs a capacity assessment on file"};
inline constexpr ReasonCode kProxyConsentWithCapacity{"proxy_consent_with_capacity",
    "proxy consent is refused for a migrant assessed as having capacity"};
inline constexpr ReasonCode kBestInterestsDeterminationRequired{"best_interests_determination_required",
    "an unaccompanied or separated child needs a best-interests determination first"};
inline constexpr ReasonCode kReturnNotInChildInterest{"return_not_in_child_interest",
    "the best-interests determination found return not in the child's interest"};
inline constexpr ReasonCode kBestInterestsApprovalRequired{"best_interests_approval_required",
    "the best-interests determination needs a supervisor's approval"};
inline constexpr ReasonCode kGuardianRequired{"guardian_required",
    "an unaccompanied or separated child needs a guardian identified"};
inline constexpr ReasonCode kNotAnUnaccompaniedOrSeparatedChild{"not_an_unaccompanied_or_separated_child",
    "the member named is not screened as an unaccompanied or separated child"};
inline constexpr ReasonCode kUnknownHouseholdMember{"unknown_household_member",
    "a member id named is not in the household"};
// Travel.
inline constexpr ReasonCode kTravelDocumentExpiresBeforeDeparture{"travel_document_expires_before_departure",
    "no travel document valid on the departure date is on file"};
inline constexpr ReasonCode kFitnessCertificateExpiresBeforeDeparture{"fitness_certificate_expires_before_departure",
    "no fitness-to-travel certificate valid on the departure date is on file"};
inline constexpr ReasonCode kVoluntarinessNotReconfirmed{"voluntariness_not_reconfirmed",
    "the pre-departure briefing did not reconfirm that the return is voluntary"};
inline constexpr ReasonCode kChildEscortRequired{"child_escort_required",
    "an unaccompanied or separated child travels only with an escort assigned"};
inline constexpr ReasonCode kMedicalEscortRequired{"medical_escort_required",
    "the fitness certificate requires a medical escort, and none is assigned"};
inline constexpr ReasonCode kCaregiverNotConfirmed{"caregiver_not_confirmed",
    "every unaccompanied or separated child must be handed over to a confirmed caregiver"};
// Reintegration.
inline constexpr ReasonCode kReintegrationPlanMissing{"reintegration_plan_missing",
    "a reintegration plan must be submitted before it is approved"};
inline constexpr ReasonCode kReintegrationPlanNotApproved{"reintegration_plan_not_approved",
    "assistance is recorded against an approved reintegration plan only"};
// Withdrawal, closure, reopening.
inline constexpr ReasonCode kWithdrawalAfterDeparture{"withdrawal_after_departure",
    "consent can be withdrawn up to departure only"};
inline constexpr ReasonCode kWithdrawalRequiresConsentWithdrawnEvent{"withdrawal_requires_consent_withdrawn_event",
    "a case closes as withdrawn through consent.withdrawn, which also cancels any booking"};
inline constexpr ReasonCode kIneligibilityRequiresEligibilityDecision{"ineligibility_requires_eligibility_decision",
    "a case closes as ineligible through eligibility.refused in the eligibility review"};
inline constexpr ReasonCode kAbscondedRequiresNoShows{"absconded_requires_no_shows",
    "a case closes as absconded when the programme's no-show limit is reached"};
inline constexpr ReasonCode kMonitoringIncomplete{"monitoring_incomplete",
    "closing as reintegrated needs an approved plan and every monitoring visit done"};
inline constexpr ReasonCode kNotYetReturned{"not_yet_returned",
    "this outcome applies only after arrival at the destination"};
inline constexpr ReasonCode kClosureRequiresApproval{"closure_requires_approval",
    "this outcome needs a supervisor: the caseworker sends case.closure_requested, another person approves it"};
inline constexpr ReasonCode kClosureApprovalNotRequired{"closure_approval_not_required",
    "this outcome needs no supervisor's approval: the caseworker closes the case with case.closed"};
inline constexpr ReasonCode kClosureAlreadyRequested{"closure_already_requested",
    "a closure request is pending: a supervisor approves or rejects it first"};
inline constexpr ReasonCode kClosureNotRequested{"closure_not_requested",
    "no closure request is pending (a caseworker sends case.closure_requested)"};
inline constexpr ReasonCode kClosureApproverIsRequester{"closure_approver_is_requester",
    "a closure is approved by a person other than the one who requested it"};
inline constexpr ReasonCode kReopenReasonRequired{"reopen_reason_required",
    "reopening a closed case needs a reason"};
inline constexpr ReasonCode kPersonalDataErased{"personal_data_erased",
    "the case's personal data has been erased: it cannot be reopened or erased again"};
inline constexpr ReasonCode kErasureNotRequested{"erasure_not_requested",
    "erasure before the retention time needs a caseworker's request first"};
inline constexpr ReasonCode kErasureNeedsSecondPerson{"erasure_needs_second_person",
    "the erasure must be approved by someone other than who requested it"};

// Verdicts that are not a guard's refusal.
inline constexpr ReasonCode kNotAllowedInCurrentState{"not_allowed_in_current_state",
    "the event has no transition from the case's current state"};
inline constexpr ReasonCode kCaseClosed{"case_closed",
    "the case is closed; only case.reopened is accepted"};
// A suspended case answers with its suspension reason.
inline constexpr ReasonCode kSuspendedMedical{"medical",
    "the case is on hold for medical stabilisation"};
inline constexpr ReasonCode kSuspendedDocumentRefused{"document_refused",
    "the case is on hold: the emergency travel document was refused"};
inline constexpr ReasonCode kSuspendedLegalImpediment{"legal_impediment",
    "the case is on hold for a legal impediment"};
inline constexpr ReasonCode kSuspendedSecurityAtDestination{"security_at_destination",
    "the case is on hold for the security situation at the destination"};

// The engine's own answers, not the machine's (its clock and its programmes): listed by
// EngineReasonCodes() and emitted by the persistence and engine layers.
inline constexpr ReasonCode kWaitingForCase{"waiting_for_case",
    "the case cannot take the event yet but will in its normal course: it waits in the case's inbox"};
inline constexpr ReasonCode kEarlyEventExpired{"early_event_expired",
    "an early event waited longer than the programme's early_event_wait and was dropped (an incident is open)"};
inline constexpr ReasonCode kUnknownProgramme{"unknown_programme",
    "the referral names a programme this server has not registered"};
inline constexpr ReasonCode kUnknownProgrammeVersion{"unknown_programme_version",
    "programme.changed names a version the case's programme does not have"};
inline constexpr ReasonCode kIncidentConditionHolds{"incident_condition_holds",
    "the incident cannot be resolved while what it reports is still so"};
// clang-format on

}  // namespace reasons

/// Every registered code, guard codes first, in declaration order.
std::span<const ReasonCode> AllReasonCodes();
/// The engine's codes (clock and programmes), which the machine never emits.
std::span<const ReasonCode> EngineReasonCodes();
/// The registered code with this text (the machine's or the engine's), or nullptr.
const ReasonCode* FindReasonCode(std::string_view code);

}  // namespace returnflow::workflow
