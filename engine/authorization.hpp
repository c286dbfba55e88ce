#pragma once
/// Who may do what: pure decisions over a principal and a case's scope, tested without a server. The
/// engine's use cases ask; nothing else decides.
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/principal.hpp"
#include "persistence/outbox.hpp"
#include "persistence/repository.hpp"

namespace returnflow::engine {

using persistence::CaseScope;

/// Whether the caller may see the case at all. A case it may not see is answered as unknown (404).
bool CanSeeCase(const Principal& principal, const CaseScope& scope);
/// Whether the caller's role and scope let it send `event_type` (to a case it can see). False answers 403.
bool CanSendEvent(const Principal& principal, std::string_view event_type);
/// Whether an event may carry `source`: each token lists the sources it may use, so one organisation
/// can neither block nor probe another's event ids (idempotency is per source).
bool CanUseSource(const Principal& principal, std::string_view source);
/// Personal data: caseworkers of the case's office only.
bool CanReadPersonalData(const Principal& principal, const CaseScope& scope);
/// Assigning and unassigning partners: caseworkers of the case's office, and admins (who run the
/// partner directory). `scope` is the case as stored.
bool MayAssignPartners(const Principal& principal);
bool CanAssignPartners(const Principal& principal, const CaseScope& scope);
/// Recording and withdrawing consent: caseworkers of the case's office only (they hold the signed form).
bool CanRecordConsent(const Principal& principal, const CaseScope& scope);
/// Which consent records of a case the caller reads: all of them (caseworkers of the office), those
/// naming its organisation (partners of the case), counts only (supervisors of its countries).
enum class ConsentReading { kNone, kAll, kOwnOrganisation, kCountsOnly };
ConsentReading ConsentReadingFor(const Principal& principal, const CaseScope& scope);
bool CanCreateCase(const Principal& principal, std::string_view office);
bool CanSearch(const Principal& principal);
bool CanReadWorkflow(const Principal& principal);
bool CanManageTokens(const Principal& principal);
/// Admins create history checkpoints on demand.
bool CanCreateCheckpoints(const Principal& principal);
/// Subscriptions, their delivery attempts, dead letters and replays: admins only.
bool CanManageSubscriptions(const Principal& principal);
/// Whether a subscription's feed is the principal's own: a partner of its organisation, a caseworker of
/// its office.
bool OwnsFeed(const Principal& principal, const persistence::Subscription& subscription);
/// Prometheus metrics: operators (admin) and supervisors; they count routes, outcomes and reasons
/// across every office and partner, which caseworkers and partners have no business seeing.
bool CanReadMetrics(const Principal& principal);
/// Programmes: caseworkers, supervisors and admins read them (partners need only what the case shows
/// them); admins define them.
bool CanReadProgrammes(const Principal& principal);
bool CanManageProgrammes(const Principal& principal);
/// Incidents: caseworkers (their office's) and supervisors (their countries') list and resolve them.
bool CanHandleIncidents(const Principal& principal);
/// The testing clock (a server started with --testing-clock): admins only.
bool CanMoveTestingClock(const Principal& principal);
/// Free-text reasons written by caseworkers: the case's office and supervisors only.
bool CanReadFreeText(const Principal& principal);

/// The personal-data audit (GET /audit): auditors and admins.
bool CanReadAudit(const Principal& principal);
/// An auditor's token reads the audit and nothing else: every other authenticated route answers 403
/// before it looks at anything (a case an auditor asks for is refused, not reported unknown).
bool ReadsOnlyTheAudit(const Principal& principal);

/// The countries a supervisor's search is limited to: nullopt for every country ("*"), else the list
/// (empty: none).
std::optional<std::vector<std::string>> SearchCountries(const Principal& principal);

/// The events about a case's personal data (an erasure request, the erasure): the office's, never a partner's.
bool IsPersonalDataEvent(std::string_view event_type);
/// Approving a caseworker's request to erase a closed case's personal data: admins (the second person).
bool CanApproveErasure(const Principal& principal);

/// Events only a supervisor sends: the second-person approvals.
const std::set<std::string, std::less<>>& SupervisorEvents();

}  // namespace returnflow::engine
