#pragma once
/// Incidents: what the engine raises for a person to look at. Pure rules: which events raise one, and
/// whether the condition an incident reports still holds (resolving it is refused while it does).
#include <string>
#include <string_view>
#include <vector>

#include "workflow/case.hpp"

namespace returnflow::workflow {

namespace incident {
inline constexpr std::string_view kDeadlinePassed = "deadline_passed";              ///< subject: the deadline
inline constexpr std::string_view kMonitoringVisitMissed = "monitoring_visit_missed";  ///< subject: the visit
inline constexpr std::string_view kEarlyEventExpired = "early_event_expired";        ///< subject: the event type
inline constexpr std::string_view kTimerFailing = "timer_failing";                    ///< subject: the timer kind
inline constexpr std::string_view kCaseUnreadable = "case_unreadable";                ///< subject: empty
}  // namespace incident

/// Every incident kind, for vocabularies (filters, metrics, the API's enum).
const std::vector<std::string_view>& IncidentKinds();

struct IncidentSpec {
  std::string kind;
  std::string subject;
};

/// The incidents an applied event raises (a passed deadline, a missed visit).
std::vector<IncidentSpec> IncidentsFor(const Event& event, const ApplyResult& result);

/// Whether the case still shows what a deadline_passed or monitoring_visit_missed incident reports (the
/// other kinds are the engine's to check: it alone knows its timers and whether a case can be read).
bool IncidentStillHolds(std::string_view kind, std::string_view subject, const Case& machine);

}  // namespace returnflow::workflow
