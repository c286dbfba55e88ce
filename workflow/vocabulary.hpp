#pragma once
/// The closed vocabularies of the domain (outcomes, reasons, flags), each value with a stable name.
#include <array>
#include <optional>
#include <string_view>

namespace returnflow::workflow {

/// How a closed case ended; the reporting categories of the AVRR key highlights.
enum class Outcome {
  kReintegrated,
  kReturnedWithoutReintegrationAssistance,
  kWithdrawn,
  kIneligible,
  kAbsconded,
  kOptedOut,
  kLostContact,
  kDeceased,
  kReMigrated,
  kFundingEnded,
  kSecuritySituation,
  kTransferred,
};
inline constexpr std::array<std::string_view, 12> kOutcomeNames = {
    "reintegrated", "returned_without_reintegration_assistance", "withdrawn", "ineligible",
    "absconded",    "opted_out",                                 "lost_contact", "deceased",
    "re_migrated",  "funding_ended",                             "security_situation", "transferred"};

/// Why a case is on hold.
enum class SuspensionReason { kMedical, kDocumentRefused, kLegalImpediment, kSecurityAtDestination };
inline constexpr std::array<std::string_view, 4> kSuspensionReasonNames = {
    "medical", "document_refused", "legal_impediment", "security_at_destination"};

/// Why a caseworker asks for a closed case's personal data to be erased before its retention time.
enum class ErasureGround { kDataSubjectRequest, kNoLongerNeeded, kConsentWithdrawn, kUnlawfulProcessing };
inline constexpr std::array<std::string_view, 4> kErasureGroundNames = {
    "data_subject_request", "no_longer_needed", "consent_withdrawn", "unlawful_processing"};
/// What erased a case's personal data: the programme's retention after closure, or an approved request.
enum class ErasureBasis { kRetention, kRequest };
inline constexpr std::array<std::string_view, 2> kErasureBasisNames = {"retention", "request"};

/// Vulnerability screening flags (per household member); used for safeguards and reporting, never names.
enum class Vulnerability {
  kUnaccompaniedChild,
  kSeparatedChild,
  kVictimOfTrafficking,
  kHealthNeeds,
  kDisability,
  kElderly,
  kPregnant,
  kSingleParent,
};
inline constexpr std::array<std::string_view, 8> kVulnerabilityNames = {
    "unaccompanied_child", "separated_child", "victim_of_trafficking", "health_needs",
    "disability",          "elderly",         "pregnant",              "single_parent"};

enum class ConsentKind { kExplicit, kProxy };
inline constexpr std::array<std::string_view, 2> kConsentKindNames = {"explicit", "proxy"};

enum class EscortKind { kChild, kMedical };
inline constexpr std::array<std::string_view, 2> kEscortKindNames = {"child", "medical"};

/// Reintegration assistance items, recorded against the plan.
enum class AssistanceKind {
  kCashOnArrival,
  kBusinessStartUp,
  kVocationalTraining,
  kHousing,
  kMedicalCare,
  kSchooling,
};
inline constexpr std::array<std::string_view, 6> kAssistanceKindNames = {
    "cash_on_arrival", "business_start_up", "vocational_training", "housing", "medical_care", "schooling"};

enum class Sex { kFemale, kMale, kOther, kUnknown };
inline constexpr std::array<std::string_view, 4> kSexNames = {"female", "male", "other", "unknown"};

enum class Relationship { kPrincipal, kDependant };
inline constexpr std::array<std::string_view, 2> kRelationshipNames = {"principal", "dependant"};

/// Who calls the engine: the one role vocabulary of tokens, authorization and the history's actors.
/// An auditor reads the personal-data audit (GET /audit) and nothing else.
enum class Role { kCaseworker, kPartner, kSupervisor, kAdmin, kAuditor };
inline constexpr std::array<std::string_view, 5> kRoleNames = {"caseworker", "partner", "supervisor", "admin", "auditor"};

/// Why personal data is read or written: a closed list, recorded in the audit trail (never caller text).
enum class AccessPurpose {
  kCaseworkerView,
  kReferral,
  kTravelDocumentRequest,
  kTravelBooking,
  kMedicalAssessment,
  kReception,
  kReintegrationPlanning,
  kCorrection,
  kExport,
  kErasure,
};
inline constexpr std::array<std::string_view, 10> kAccessPurposeNames = {
    "caseworker_view", "referral",  "travel_document_request", "travel_booking", "medical_assessment",
    "reception",       "reintegration_planning", "correction", "export",         "erasure"};

/// The stable name of an enumerator of one of the vocabularies above.
template <typename Enum, std::size_t N>
constexpr std::string_view NameOf(Enum value, const std::array<std::string_view, N>& names) {
  return names[static_cast<std::size_t>(value)];
}

/// The enumerator with the given stable name, if there is one.
template <typename Enum, std::size_t N>
constexpr std::optional<Enum> FromName(std::string_view name, const std::array<std::string_view, N>& names) {
  for (std::size_t index = 0; index < N; ++index) {
    if (names[index] == name) return static_cast<Enum>(index);
  }
  return std::nullopt;
}

inline std::string_view Name(Outcome value) { return NameOf(value, kOutcomeNames); }
inline std::string_view Name(SuspensionReason value) { return NameOf(value, kSuspensionReasonNames); }
inline std::string_view Name(ErasureGround value) { return NameOf(value, kErasureGroundNames); }
inline std::string_view Name(ErasureBasis value) { return NameOf(value, kErasureBasisNames); }
inline std::string_view Name(Vulnerability value) { return NameOf(value, kVulnerabilityNames); }
inline std::string_view Name(ConsentKind value) { return NameOf(value, kConsentKindNames); }
inline std::string_view Name(EscortKind value) { return NameOf(value, kEscortKindNames); }
inline std::string_view Name(AssistanceKind value) { return NameOf(value, kAssistanceKindNames); }
inline std::string_view Name(Sex value) { return NameOf(value, kSexNames); }
inline std::string_view Name(Relationship value) { return NameOf(value, kRelationshipNames); }
inline std::string_view Name(Role value) { return NameOf(value, kRoleNames); }
inline std::string_view Name(AccessPurpose value) { return NameOf(value, kAccessPurposeNames); }

}  // namespace returnflow::workflow
