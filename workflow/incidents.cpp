#include "workflow/incidents.hpp"

#include <charconv>

namespace returnflow::workflow {

const std::vector<std::string_view>& IncidentKinds() {
  static const std::vector<std::string_view> kKinds = {incident::kDeadlinePassed, incident::kMonitoringVisitMissed,
                                                      incident::kEarlyEventExpired, incident::kTimerFailing,
                                                      incident::kCaseUnreadable};
  return kKinds;
}

std::vector<IncidentSpec> IncidentsFor(const Event& event, const ApplyResult& result) {
  if (!result.Applied()) return {};
  if (const auto* passed = std::get_if<events::DeadlinePassed>(&event)) {
    return {{std::string(incident::kDeadlinePassed), passed->deadline}};
  }
  if (const auto* missed = std::get_if<events::MonitoringVisitMissed>(&event)) {
    return {{std::string(incident::kMonitoringVisitMissed), std::to_string(missed->visit)}};
  }
  return {};
}

bool IncidentStillHolds(std::string_view kind, std::string_view subject, const Case& machine) {
  const auto& context = machine.Context();
  if (kind == incident::kDeadlinePassed) return context.overdue.contains(std::string(subject));
  if (kind == incident::kMonitoringVisitMissed) {
    int visit = 0;
    const auto [end, error] = std::from_chars(subject.data(), subject.data() + subject.size(), visit);
    if (error != std::errc{} || end != subject.data() + subject.size()) return false;
    return machine.Stage() == "reintegration" && context.monitoring_visits_done < visit;
  }
  return false;
}

}  // namespace returnflow::workflow
