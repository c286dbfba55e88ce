#include "workflow/reasons.hpp"

#include <array>

namespace returnflow::workflow {
namespace {

using namespace reasons;
constexpr std::array kAll = {
    kDestinationUnsafe,
    kCounsellingSessionRequired,
    kCapacityAssessmentRequired,
    kProxyConsentWithCapacity,
    kBestInterestsDeterminationRequired,
    kReturnNotInChildInterest,
    kBestInterestsApprovalRequired,
    kGuardianRequired,
    kNotAnUnaccompaniedOrSeparatedChild,
    kUnknownHouseholdMember,
    kTravelDocumentExpiresBeforeDeparture,
    kFitnessCertificateExpiresBeforeDeparture,
    kVoluntarinessNotReconfirmed,
    kChildEscortRequired,
    kMedicalEscortRequired,
    kCaregiverNotConfirmed,
    kReintegrationPlanMissing,
    kReintegrationPlanNotApproved,
    kWithdrawalAfterDeparture,
    kWithdrawalRequiresConsentWithdrawnEvent,
    kIneligibilityRequiresEligibilityDecision,
    kAbscondedRequiresNoShows,
    kMonitoringIncomplete,
    kNotYetReturned,
    kClosureRequiresApproval,
    kClosureApprovalNotRequired,
    kClosureAlreadyRequested,
    kClosureNotRequested,
    kClosureApproverIsRequester,
    kReopenReasonRequired,
    kPersonalDataErased,
    kErasureNotRequested,
    kErasureNeedsSecondPerson,
    kNotAllowedInCurrentState,
    kCaseClosed,
    kSuspendedMedical,
    kSuspendedDocumentRefused,
    kSuspendedLegalImpediment,
    kSuspendedSecurityAtDestination,
};

constexpr std::array kEngine = {
    kWaitingForCase, kEarlyEventExpired, kUnknownProgramme, kUnknownProgrammeVersion, kIncidentConditionHolds,
};

}  // namespace

std::span<const ReasonCode> EngineReasonCodes() { return kEngine; }

std::span<const ReasonCode> AllReasonCodes() { return kAll; }

const ReasonCode* FindReasonCode(std::string_view code) {
  for (const auto& reason : kAll) {
    if (reason.code == code) return &reason;
  }
  for (const auto& reason : kEngine) {
    if (reason.code == code) return &reason;
  }
  return nullptr;
}

}  // namespace returnflow::workflow
