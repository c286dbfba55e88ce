#pragma once
/// When a case next becomes overdue: pure rules over the case's stage and context (no clock, no I/O).
///
/// The service levels of the domain notes, as named constants until programmes configure their own:
/// eligibility decided within 7 days of referral, counselling concluded within 21 days, documentation
/// complete within 45 days, booking within 14 days of entering travel, departure on the booked date
/// (and before the travel document or fitness certificate expires), a reintegration plan within 30 days
/// of arrival, monitoring visits every 90 days after the plan. Suspended and closed cases have none.
#include <chrono>
#include <optional>
#include <string_view>

#include "workflow/context.hpp"
#include "workflow/dates.hpp"

namespace returnflow::workflow {

inline constexpr std::chrono::days kEligibilityWithin{7};
inline constexpr std::chrono::days kCounsellingWithin{21};
inline constexpr std::chrono::days kDocumentationWithin{45};
inline constexpr std::chrono::days kBookingWithin{14};
inline constexpr std::chrono::days kPlanWithinAfterArrival{30};
inline constexpr std::chrono::days kMonitoringEvery{90};

/// The next deadline of a case in `stage` with `context`, having entered the stage at `stage_entered_at`.
std::optional<Instant> NextDeadline(std::string_view stage, const CaseContext& context, Instant stage_entered_at);

}  // namespace returnflow::workflow
