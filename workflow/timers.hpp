#pragma once
/// The engine's clock over a case: which timers a case in its state should have, when each is due, and
/// which event each fires. Pure (no clock, no I/O): the engine keeps the timer table equal to these,
/// written in the transaction of every event that changes them, and fires what is due through the same
/// apply path as partner events. The machine learns that time passed only from those events.
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "workflow/case.hpp"
#include "workflow/programme.hpp"

namespace returnflow::workflow {

/// A timer of one case: `kind` is stable and unique per case (the timer table's key), `due` when it fires.
struct Timer {
  std::string kind;
  Instant due{};
  friend bool operator==(const Timer&, const Timer&) = default;
};

/// The deadlines a step can miss, by kind ("deadline:<kind>" timers fire deadline.passed{<kind>}, and
/// "warning:<kind>" the programme's deadline_warning before it fires deadline.approaching{<kind>}).
namespace deadline {
inline constexpr std::string_view kEligibility = "eligibility";
inline constexpr std::string_view kCounselling = "counselling";
inline constexpr std::string_view kDocumentation = "documentation";
inline constexpr std::string_view kBooking = "booking";
inline constexpr std::string_view kBriefing = "briefing";
inline constexpr std::string_view kDeparture = "departure";
inline constexpr std::string_view kPlan = "plan";
}  // namespace deadline
/// The timer that erases a closed case's personal data when the programme's retention has passed.
inline constexpr std::string_view kRetentionTimer = "retention:personal_data";
/// Every deadline kind, for vocabularies (search filters, metrics, the API's enum).
const std::vector<std::string_view>& DeadlineKinds();

/// A deadline of the case's open steps: when it is due, and whether the clock has marked it passed.
struct Deadline {
  std::string kind;
  Instant due{};
  bool overdue = false;
  friend bool operator==(const Deadline&, const Deadline&) = default;
};
/// The deadlines of the steps open in the case's state, earliest first.
std::vector<Deadline> Deadlines(const Case& machine, const Programme& programme, Instant stage_entered_at);

/// Every timer the case should have now, sorted by kind. `stage_entered_at` is when the case entered its
/// current stage (the deadlines of a stage run from there).
std::vector<Timer> DesiredTimers(const Case& machine, const Programme& programme, Instant stage_entered_at);
/// The deadline kinds whose step is still open in the case's state (an overdue flag outside them is
/// stale: the step was done, late).
std::set<std::string> OpenDeadlines(const Case& machine);
/// The next deadline (the earliest "deadline:*" timer), for the supervisors' overdue filter.
std::optional<Instant> NextDeadline(const std::vector<Timer>& timers);
/// The event a due timer of `kind` fires; nullopt for kinds that are not the machine's (the engine's
/// early-event expiries, "inbox:*").
std::optional<Event> EventForTimer(std::string_view kind);
/// The CloudEvents `data` of that event as JSON text ("" for an event without data), as it is stored.
std::string EventDataForTimer(std::string_view kind);

}  // namespace returnflow::workflow
