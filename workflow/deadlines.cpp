#include "workflow/deadlines.hpp"

#include <algorithm>

namespace returnflow::workflow {

std::optional<Instant> NextDeadline(std::string_view stage, const CaseContext& context, Instant stage_entered_at) {
  if (stage == "referral") return stage_entered_at + kEligibilityWithin;
  if (stage == "counselling") return stage_entered_at + kCounsellingWithin;
  if (stage == "documentation") return stage_entered_at + kDocumentationWithin;
  if (stage == "travel") {
    if (!context.departure_date) return stage_entered_at + kBookingWithin;
    // Overdue from the day after the booked departure, or as soon as a document needed on the
    // departure date expires before it.
    Instant deadline{*context.departure_date + std::chrono::days{1}};
    if (context.travel_document_expires_on && *context.travel_document_expires_on < *context.departure_date) {
      deadline = std::min(deadline, Instant{*context.travel_document_expires_on});
    }
    if (context.fitness_valid_until && *context.fitness_valid_until < *context.departure_date) {
      deadline = std::min(deadline, Instant{*context.fitness_valid_until});
    }
    return deadline;
  }
  if (stage == "reintegration") {
    const Instant arrived = context.arrived_at.value_or(stage_entered_at);
    if (!context.plan_submitted || !context.plan_approved) return arrived + kPlanWithinAfterArrival;
    if (context.monitoring_visits_required > 0 &&
        context.monitoring_visits_done >= context.monitoring_visits_required) {
      return std::nullopt;  // everything done; closing the case is the next step, on no clock
    }
    return arrived + kMonitoringEvery * (context.monitoring_visits_done + 1);
  }
  return std::nullopt;  // suspended, closed
}

}  // namespace returnflow::workflow
