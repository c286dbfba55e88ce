#include "engine/authorization.hpp"

#include <algorithm>

#include "workflow/events.hpp"

namespace returnflow::engine {

const std::set<std::string, std::less<>>& SupervisorEvents() {
  // The decisions that need a second person: the best-interests determination of a child, and a
  // closure a caseworker requested (approved or rejected). Supervisors approve; they do not close alone.
  static const std::set<std::string, std::less<>> kEvents = {
      std::string(workflow::events::BestInterestsApproved::kName),
      std::string(workflow::events::ClosureApproved::kName),
      std::string(workflow::events::ClosureRejected::kName),
  };
  return kEvents;
}

bool IsPersonalDataEvent(std::string_view event_type) {
  return event_type == workflow::events::PersonalDataErasureRequested::kName ||
         event_type == workflow::events::PersonalDataErased::kName;
}

bool CanApproveErasure(const Principal& principal) { return principal.role == Role::kAdmin; }

bool CanSeeCase(const Principal& principal, const CaseScope& scope) {
  switch (principal.role) {
    case Role::kCaseworker:
      return !principal.office.empty() && principal.office == scope.office;
    case Role::kPartner:
      return !principal.organisation.empty() &&
             std::find(scope.partners.begin(), scope.partners.end(), principal.organisation) != scope.partners.end();
    case Role::kSupervisor:
      return principal.countries.contains(std::string(kAllCountries)) ||
             principal.countries.contains(scope.host_country) || principal.countries.contains(scope.origin_country);
    case Role::kAdmin:
      return false;  // admins manage tokens; they do not read cases
    case Role::kAuditor:
      return false;  // auditors read the audit of personal data, never the cases or their people
  }
  return false;
}

bool CanSendEvent(const Principal& principal, std::string_view event_type) {
  // Time passing is the engine's to say: its clock fires these, no caller does.
  if (workflow::IsClockEvent(event_type)) return false;
  // Erasure goes through its own path: the clock's retention, or an admin approving a request.
  if (event_type == workflow::events::PersonalDataErased::kName) return false;
  switch (principal.role) {
    case Role::kCaseworker:
      // A caseworker records every step of the case except the approvals a second person gives.
      return !SupervisorEvents().contains(event_type);
    case Role::kPartner:
      // A closure request is the caseworker's act (tokens.cpp refuses it in a partner's scope too).
      if (IsPersonalDataEvent(event_type) || event_type == workflow::events::ClosureRequested::kName) return false;
      return principal.event_types.contains(std::string(event_type));
    case Role::kSupervisor:
      return SupervisorEvents().contains(event_type);
    case Role::kAdmin:
    case Role::kAuditor:
      return false;
  }
  return false;
}

bool CanUseSource(const Principal& principal, std::string_view source) {
  return principal.sources.contains(std::string(source));
}

bool CanReadPersonalData(const Principal& principal, const CaseScope& scope) {
  return principal.role == Role::kCaseworker && !principal.office.empty() && principal.office == scope.office;
}

bool MayAssignPartners(const Principal& principal) {
  return principal.role == Role::kCaseworker || principal.role == Role::kAdmin;
}

bool CanAssignPartners(const Principal& principal, const CaseScope& scope) {
  if (principal.role == Role::kAdmin) return true;
  return principal.role == Role::kCaseworker && CanSeeCase(principal, scope);
}

bool CanRecordConsent(const Principal& principal, const CaseScope& scope) {
  return principal.role == Role::kCaseworker && CanSeeCase(principal, scope);
}

ConsentReading ConsentReadingFor(const Principal& principal, const CaseScope& scope) {
  if (!CanSeeCase(principal, scope)) return ConsentReading::kNone;
  switch (principal.role) {
    case Role::kCaseworker: return ConsentReading::kAll;
    case Role::kPartner: return ConsentReading::kOwnOrganisation;
    case Role::kSupervisor: return ConsentReading::kCountsOnly;
    case Role::kAdmin: return ConsentReading::kNone;
    case Role::kAuditor: return ConsentReading::kNone;
  }
  return ConsentReading::kNone;
}

bool CanCreateCase(const Principal& principal, std::string_view office) {
  return principal.role == Role::kCaseworker && principal.office == office;
}

bool CanSearch(const Principal& principal) {
  return principal.role == Role::kCaseworker || principal.role == Role::kSupervisor;
}

bool CanReadWorkflow(const Principal& principal) {
  return principal.role != Role::kAdmin && principal.role != Role::kAuditor;
}

bool CanManageTokens(const Principal& principal) { return principal.role == Role::kAdmin; }
bool CanCreateCheckpoints(const Principal& principal) { return principal.role == Role::kAdmin; }

bool CanManageSubscriptions(const Principal& principal) { return principal.role == Role::kAdmin; }

bool OwnsFeed(const Principal& principal, const persistence::Subscription& subscription) {
  if (subscription.delivery != persistence::Delivery::kFeed) return false;
  if (principal.role == Role::kPartner) {
    return !subscription.organisation.empty() && subscription.organisation == principal.organisation;
  }
  if (principal.role == Role::kCaseworker) return !subscription.office.empty() && subscription.office == principal.office;
  return false;
}

bool CanReadMetrics(const Principal& principal) {
  return principal.role == Role::kAdmin || principal.role == Role::kSupervisor;
}

bool CanReadProgrammes(const Principal& principal) {
  return principal.role != Role::kPartner && principal.role != Role::kAuditor;
}
bool CanManageProgrammes(const Principal& principal) { return principal.role == Role::kAdmin; }
bool CanHandleIncidents(const Principal& principal) {
  return principal.role == Role::kCaseworker || principal.role == Role::kSupervisor;
}
bool CanMoveTestingClock(const Principal& principal) { return principal.role == Role::kAdmin; }

bool CanReadFreeText(const Principal& principal) {
  return principal.role == Role::kCaseworker || principal.role == Role::kSupervisor;
}

bool CanReadAudit(const Principal& principal) {
  return principal.role == Role::kAuditor || principal.role == Role::kAdmin;
}
bool ReadsOnlyTheAudit(const Principal& principal) { return principal.role == Role::kAuditor; }

std::optional<std::vector<std::string>> SearchCountries(const Principal& principal) {
  if (principal.countries.contains(std::string(kAllCountries))) return std::nullopt;
  return std::vector<std::string>(principal.countries.begin(), principal.countries.end());
}

}  // namespace returnflow::engine
