#include "workflow/events.hpp"

#include "workflow/case.hpp"

namespace returnflow::workflow {

std::string_view EventName(const Event& event) {
  return std::visit([](const auto& typed) { return std::decay_t<decltype(typed)>::kName; }, event);
}

const std::vector<std::string_view>& AllEventNames() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> all;
    [&]<std::size_t... Index>(std::index_sequence<Index...>) {
      (all.push_back(std::variant_alternative_t<Index, Event>::kName), ...);
    }(std::make_index_sequence<std::variant_size_v<Event>>{});
    return all;
  }();
  return names;
}

bool IsClockEvent(std::string_view type) {
  return type == events::DeadlinePassed::kName || type == events::DeadlineApproaching::kName ||
         type == events::FitnessExpired::kName ||
         type == events::TravelDocumentExpired::kName || type == events::MonitoringVisitDue::kName ||
         type == events::MonitoringVisitMissed::kName || type == events::SuspensionReviewDue::kName;
}

std::string_view Name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kApplied: return "applied";
    case Verdict::kNotAllowed: return "not_allowed";
    case Verdict::kGuardRefused: return "guard_refused";
    case Verdict::kSuspended: return "suspended";
    case Verdict::kClosed: return "closed";
  }
  return "unknown";
}

}  // namespace returnflow::workflow
