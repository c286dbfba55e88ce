#pragma once
/// The events a return case reacts to, each with the stable name partners and caseworkers send as the
/// CloudEvents `type`. Event data is plain values; times arrive here, the machine reads no clock.
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "workflow/dates.hpp"
#include "workflow/vocabulary.hpp"

namespace returnflow::workflow::events {

// Referral.
struct EligibilityReviewStarted { static constexpr std::string_view kName = "eligibility.review_started"; };
struct EligibilityConfirmed {
  static constexpr std::string_view kName = "eligibility.confirmed";
  std::string destination_country;  ///< ISO 3166-1 alpha-2
};
struct EligibilityRefused {
  static constexpr std::string_view kName = "eligibility.refused";
  std::string reason;  ///< programme criterion code, e.g. "excluded"
};

// Counselling.
struct CounsellingSessionHeld { static constexpr std::string_view kName = "counselling.session_held"; };
struct VulnerabilityScreened {
  static constexpr std::string_view kName = "vulnerability.screened";
  struct Finding {
    std::string member_id;
    std::vector<Vulnerability> vulnerabilities;
  };
  std::vector<Finding> findings;  ///< replaces the flags of each member named
};
struct CapacityAssessed {
  static constexpr std::string_view kName = "capacity.assessed";
  bool has_capacity = true;
};
struct BestInterestsDetermined {
  static constexpr std::string_view kName = "best_interests.determined";
  std::string member_id;
  bool in_child_interest = false;
};
struct BestInterestsApproved {
  static constexpr std::string_view kName = "best_interests.approved";
  std::string member_id;
};
struct GuardianRecorded {
  static constexpr std::string_view kName = "guardian.recorded";
  std::string member_id;
};
struct ConsentRecorded {
  static constexpr std::string_view kName = "consent.recorded";
  ConsentKind kind = ConsentKind::kExplicit;
};

// Documentation: travel document strand.
struct PassportVerified {
  static constexpr std::string_view kName = "travel_document.passport_verified";
  Date expires_on;
};
struct TravelDocumentRequested { static constexpr std::string_view kName = "travel_document.requested"; };
struct TravelDocumentIssued {
  static constexpr std::string_view kName = "travel_document.issued";
  Date expires_on;
};
struct TravelDocumentRefused { static constexpr std::string_view kName = "travel_document.refused"; };

// Documentation: exit clearance strand.
struct ExitClearanceRequested { static constexpr std::string_view kName = "exit_clearance.requested"; };
struct ExitClearanceGranted { static constexpr std::string_view kName = "exit_clearance.granted"; };
struct ExitClearanceNotRequired { static constexpr std::string_view kName = "exit_clearance.not_required"; };

// Documentation: medical strand.
struct FitnessCertified {
  static constexpr std::string_view kName = "fitness.certified";
  Date valid_until;
  bool medical_escort_required = false;
};
struct FitnessUnfit { static constexpr std::string_view kName = "fitness.unfit"; };

// Travel.
struct TravelBooked {
  static constexpr std::string_view kName = "travel.booked";
  Date departure_date;
  std::string route;  ///< e.g. "DPS-SIN-DAC"; never a name or a document number
};
struct EscortAssigned {
  static constexpr std::string_view kName = "escort.assigned";
  EscortKind kind = EscortKind::kChild;
};
struct CaregiverConfirmed {
  static constexpr std::string_view kName = "caregiver.confirmed";
  std::string member_id;
};
struct BriefingHeld {
  static constexpr std::string_view kName = "travel.briefing_held";
  bool voluntariness_confirmed = false;
};
struct Departed { static constexpr std::string_view kName = "travel.departed"; };
struct NoShow { static constexpr std::string_view kName = "travel.no_show"; };
struct Arrived { static constexpr std::string_view kName = "travel.arrived"; };

// Reintegration.
struct PlanSubmitted {
  static constexpr std::string_view kName = "reintegration.plan_submitted";
  int monitoring_visits = 0;  ///< 0 takes the programme default
};
struct PlanApproved { static constexpr std::string_view kName = "reintegration.plan_approved"; };
struct AssistanceDelivered {
  static constexpr std::string_view kName = "assistance.delivered";
  AssistanceKind kind = AssistanceKind::kCashOnArrival;
};
struct MonitoringVisitCompleted {
  static constexpr std::string_view kName = "monitoring.visit_completed";
  /// Sustainability survey scores, 0..1 each.
  double economic = 0, social = 0, psychosocial = 0;
};

// Across stages.
struct CaseSuspended {
  static constexpr std::string_view kName = "case.suspended";
  SuspensionReason reason = SuspensionReason::kMedical;
};
struct CaseResumed { static constexpr std::string_view kName = "case.resumed"; };
struct ConsentWithdrawn { static constexpr std::string_view kName = "consent.withdrawn"; };
struct CaseClosed {
  static constexpr std::string_view kName = "case.closed";
  Outcome outcome = Outcome::kOptedOut;
};
/// A caseworker asks for a closure that needs a supervisor's approval (workflow::ClosureNeedsApproval):
/// the case keeps its stage, with the request pending, until a supervisor approves or rejects it.
struct ClosureRequested {
  static constexpr std::string_view kName = "case.closure_requested";
  Outcome outcome = Outcome::kOptedOut;
  std::string reason;  ///< the caseworker's free text (shown to the office and supervisors only)
};
/// A supervisor other than the requester approves the pending request: the case closes with its outcome.
struct ClosureApproved { static constexpr std::string_view kName = "case.closure_approved"; };
/// A supervisor rejects the pending request; the case goes on as it was.
struct ClosureRejected {
  static constexpr std::string_view kName = "case.closure_rejected";
  std::string reason;  ///< free text, like the request's
};
struct CaseReopened {
  static constexpr std::string_view kName = "case.reopened";
  std::string reason;
};
/// After closure, a caseworker of the office asks for the case's personal data to be erased before its
/// retention time (an admin approves: PersonalDataErased with basis "request").
struct PersonalDataErasureRequested {
  static constexpr std::string_view kName = "personal_data.erasure_requested";
  ErasureGround ground = ErasureGround::kDataSubjectRequest;
};
/// The case's personal data is erased: by the clock when the programme's retention after closure has
/// passed, or by an admin approving a caseworker's request. No caller sends it through the event API.
struct PersonalDataErased {
  static constexpr std::string_view kName = "personal_data.erased";
  ErasureBasis basis = ErasureBasis::kRetention;
};
/// A caseworker moves the case to another version of its programme (recorded; the rules change with it).
struct ProgrammeChanged {
  static constexpr std::string_view kName = "programme.changed";
  int version = 0;
};

// The engine's clock: timers fire these through the same apply path as partner events. No caller may
// send them (engine/authorization.hpp); each arrives at the time it was due.
struct DeadlinePassed {
  static constexpr std::string_view kName = "deadline.passed";
  std::string deadline;  ///< a deadline kind of workflow/timers.hpp, e.g. "counselling"
};
/// A deadline of an open step is near (the programme's `deadline_warning` before it): heard by partners and
/// offices subscribed to deadline.approaching; the case only records that it was warned.
struct DeadlineApproaching {
  static constexpr std::string_view kName = "deadline.approaching";
  std::string deadline;  ///< a deadline kind of workflow/timers.hpp
};
struct FitnessExpired { static constexpr std::string_view kName = "fitness.expired"; };
struct TravelDocumentExpired { static constexpr std::string_view kName = "travel_document.expired"; };
struct MonitoringVisitDue {
  static constexpr std::string_view kName = "monitoring.visit_due";
  int visit = 1;  ///< 1-based, in the programme's schedule
};
struct MonitoringVisitMissed {
  static constexpr std::string_view kName = "monitoring.visit_missed";
  int visit = 1;
};
struct SuspensionReviewDue { static constexpr std::string_view kName = "suspension.review_due"; };

}  // namespace returnflow::workflow::events

namespace returnflow::workflow {

/// Any event the machine accepts.
using Event = std::variant<
    events::EligibilityReviewStarted, events::EligibilityConfirmed, events::EligibilityRefused,
    events::CounsellingSessionHeld, events::VulnerabilityScreened, events::CapacityAssessed,
    events::BestInterestsDetermined, events::BestInterestsApproved, events::GuardianRecorded,
    events::ConsentRecorded, events::PassportVerified, events::TravelDocumentRequested,
    events::TravelDocumentIssued, events::TravelDocumentRefused, events::ExitClearanceRequested,
    events::ExitClearanceGranted, events::ExitClearanceNotRequired, events::FitnessCertified,
    events::FitnessUnfit, events::TravelBooked, events::EscortAssigned, events::CaregiverConfirmed,
    events::BriefingHeld, events::Departed, events::NoShow, events::Arrived, events::PlanSubmitted,
    events::PlanApproved, events::AssistanceDelivered, events::MonitoringVisitCompleted,
    events::CaseSuspended, events::CaseResumed, events::ConsentWithdrawn, events::CaseClosed,
    events::ClosureRequested, events::ClosureApproved, events::ClosureRejected, events::CaseReopened,
    events::PersonalDataErasureRequested, events::PersonalDataErased, events::ProgrammeChanged,
    events::DeadlinePassed, events::DeadlineApproaching, events::FitnessExpired,
    events::TravelDocumentExpired, events::MonitoringVisitDue, events::MonitoringVisitMissed,
    events::SuspensionReviewDue>;

/// The stable name of an event (its CloudEvents `type`).
std::string_view EventName(const Event& event);

/// Every event name the machine knows, in declaration order.
const std::vector<std::string_view>& AllEventNames();

/// True for the events only the engine's clock sends (deadline.passed, deadline.approaching, *.expired, monitoring.visit_due,
/// monitoring.visit_missed, suspension.review_due).
bool IsClockEvent(std::string_view type);

}  // namespace returnflow::workflow
