#include "workflow/timers.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "states/states.hpp"

namespace returnflow::workflow {
namespace {

constexpr std::string_view kDeadlinePrefix = "deadline:";
constexpr std::string_view kWarningPrefix = "warning:";

bool Has(const std::vector<std::string>& states, std::string_view state) {
  return std::find(states.begin(), states.end(), state) != states.end();
}

/// A calendar date's validity ends when the next day begins (UTC).
Instant EndOf(Date date) { return Instant{date + std::chrono::days{1}}; }

}  // namespace

const std::vector<std::string_view>& DeadlineKinds() {
  static const std::vector<std::string_view> kKinds = {deadline::kEligibility, deadline::kCounselling,
                                                      deadline::kDocumentation, deadline::kBooking,
                                                      deadline::kBriefing,      deadline::kDeparture,
                                                      deadline::kPlan};
  return kKinds;
}

std::set<std::string> OpenDeadlines(const Case& machine) {
  const auto stage = machine.Stage();
  const auto& context = machine.Context();
  const auto states = machine.ActiveStates();
  std::set<std::string> open;
  if (stage == "referral") open.emplace(deadline::kEligibility);
  if (stage == "counselling") open.emplace(deadline::kCounselling);
  if (stage == "documentation") open.emplace(deadline::kDocumentation);
  if (stage == "travel") {
    if (Has(states, states::travel::AwaitingBooking::kName)) open.emplace(deadline::kBooking);
    if (Has(states, states::travel::Booked::kName)) open.emplace(deadline::kBriefing);
    if (Has(states, states::travel::Booked::kName) || Has(states, states::travel::Briefed::kName)) {
      open.emplace(deadline::kDeparture);
    }
  }
  if (stage == "reintegration" && !context.plan_approved) open.emplace(deadline::kPlan);
  return open;
}

std::vector<Deadline> Deadlines(const Case& machine, const Programme& programme, Instant stage_entered_at) {
  const auto& context = machine.Context();
  const auto& levels = programme.service_levels;
  std::vector<Deadline> deadlines;
  const auto add = [&](std::string_view kind, Instant due) {
    deadlines.push_back({std::string(kind), due, context.overdue.contains(std::string(kind))});
  };
  const auto open = OpenDeadlines(machine);
  if (open.contains(std::string(deadline::kEligibility))) add(deadline::kEligibility, stage_entered_at + levels.eligibility);
  if (open.contains(std::string(deadline::kCounselling))) add(deadline::kCounselling, stage_entered_at + levels.counselling);
  if (open.contains(std::string(deadline::kDocumentation))) {
    add(deadline::kDocumentation, stage_entered_at + levels.documentation);
  }
  if (open.contains(std::string(deadline::kBooking))) add(deadline::kBooking, stage_entered_at + levels.booking);
  if (context.departure_date) {
    // Overdue from the day after the booked departure; the briefing is due the set time before it.
    if (open.contains(std::string(deadline::kDeparture))) add(deadline::kDeparture, EndOf(*context.departure_date));
    if (open.contains(std::string(deadline::kBriefing))) {
      add(deadline::kBriefing,
          Instant{*context.departure_date} - std::chrono::duration_cast<std::chrono::seconds>(levels.briefing_before_departure));
    }
  }
  if (open.contains(std::string(deadline::kPlan))) {
    add(deadline::kPlan, context.arrived_at.value_or(stage_entered_at) + levels.plan_after_arrival);
  }
  std::sort(deadlines.begin(), deadlines.end(),
            [](const Deadline& left, const Deadline& right) { return left.due < right.due; });
  return deadlines;
}

std::vector<Timer> DesiredTimers(const Case& machine, const Programme& programme, Instant stage_entered_at) {
  const auto stage = machine.Stage();
  const auto& context = machine.Context();
  std::vector<Timer> timers;
  for (const auto& deadline : Deadlines(machine, programme, stage_entered_at)) {
    if (deadline.overdue) continue;
    timers.push_back({std::string(kDeadlinePrefix) + deadline.kind, deadline.due});
    if (programme.deadline_warning.count() > 0 && !context.warned.contains(deadline.kind)) {
      timers.push_back({std::string(kWarningPrefix) + deadline.kind, deadline.due - programme.deadline_warning});
    }
  }
  // The documents needed on the day of departure expire as events: before departure only.
  if ((stage == "documentation" || stage == "travel") && !context.Departed()) {
    if (context.travel_document_expires_on) timers.push_back({"expiry:travel_document", EndOf(*context.travel_document_expires_on)});
    if (context.fitness_valid_until) timers.push_back({"expiry:fitness", EndOf(*context.fitness_valid_until)});
  }
  // Monitoring visits run from arrival, whatever the plan's progress.
  if (stage == "reintegration" && context.arrived_at) {
    const int required = context.monitoring_visits_required > 0 ? context.monitoring_visits_required
                                                                  : static_cast<int>(programme.monitoring.size());
    for (int visit = context.monitoring_visits_done + 1;
         visit <= required && visit <= static_cast<int>(programme.monitoring.size()); ++visit) {
      const auto& schedule = programme.monitoring[static_cast<std::size_t>(visit - 1)];
      const Instant due = *context.arrived_at + schedule.after;
      if (!context.monitoring_visits_announced.contains(visit)) timers.push_back({fmt::format("monitoring:{}:due", visit), due});
      if (!context.monitoring_visits_missed.contains(visit)) {
        timers.push_back({fmt::format("monitoring:{}:missed", visit), due + schedule.grace});
      }
    }
  }
  // Personal data is kept for the programme's retention after closure, then erased by the clock.
  if (stage == "closed" && !context.personal_data_erased && programme.personal_data_retention.count() > 0) {
    timers.push_back({std::string(kRetentionTimer), stage_entered_at + programme.personal_data_retention});
  }
  if (stage == "suspended" && context.suspended_at && !context.suspension_review_due) {
    timers.push_back({"review:suspension", *context.suspended_at + programme.suspension_review});
  }
  std::sort(timers.begin(), timers.end(), [](const Timer& left, const Timer& right) { return left.kind < right.kind; });
  return timers;
}

std::optional<Instant> NextDeadline(const std::vector<Timer>& timers) {
  std::optional<Instant> next;
  for (const auto& timer : timers) {
    if (!timer.kind.starts_with(kDeadlinePrefix)) continue;
    if (!next || timer.due < *next) next = timer.due;
  }
  return next;
}

std::optional<Event> EventForTimer(std::string_view kind) {
  if (kind.starts_with(kDeadlinePrefix)) return events::DeadlinePassed{std::string(kind.substr(kDeadlinePrefix.size()))};
  if (kind.starts_with(kWarningPrefix)) {
    return events::DeadlineApproaching{std::string(kind.substr(kWarningPrefix.size()))};
  }
  if (kind == "expiry:travel_document") return events::TravelDocumentExpired{};
  if (kind == "expiry:fitness") return events::FitnessExpired{};
  if (kind == "review:suspension") return events::SuspensionReviewDue{};
  if (kind == kRetentionTimer) return events::PersonalDataErased{ErasureBasis::kRetention};
  if (kind.starts_with("monitoring:")) {
    const auto rest = kind.substr(std::string_view("monitoring:").size());
    const auto colon = rest.find(':');
    int visit = 0;
    const auto [end, error] = std::from_chars(rest.data(), rest.data() + colon, visit);
    if (colon == std::string_view::npos || error != std::errc{} || end != rest.data() + colon) return std::nullopt;
    if (rest.substr(colon + 1) == "due") return events::MonitoringVisitDue{visit};
    if (rest.substr(colon + 1) == "missed") return events::MonitoringVisitMissed{visit};
  }
  return std::nullopt;
}

std::string EventDataForTimer(std::string_view kind) {
  const auto event = EventForTimer(kind);
  if (!event) return {};
  if (const auto* passed = std::get_if<events::DeadlinePassed>(&*event)) {
    return fmt::format(R"({{"deadline":"{}"}})", passed->deadline);
  }
  if (const auto* near = std::get_if<events::DeadlineApproaching>(&*event)) {
    return fmt::format(R"({{"deadline":"{}"}})", near->deadline);
  }
  if (const auto* due = std::get_if<events::MonitoringVisitDue>(&*event)) return fmt::format(R"({{"visit":{}}})", due->visit);
  if (const auto* erased = std::get_if<events::PersonalDataErased>(&*event)) {
    return fmt::format(R"({{"basis":"{}"}})", Name(erased->basis));
  }
  if (const auto* missed = std::get_if<events::MonitoringVisitMissed>(&*event)) {
    return fmt::format(R"({{"visit":{}}})", missed->visit);
  }
  return {};
}

}  // namespace returnflow::workflow
