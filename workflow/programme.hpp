#pragma once
/// A programme's rules: defined by its managers as server-side, versioned data (never by the caller of a
/// referral), read by the machine's guards and by the pure deadline and timer rules. A case is pinned to
/// the version it was created under; the unsafe-destination list is the one exception: an eligibility
/// decision reads the programme's current list, so a change to it protects every case from then on.
#include <array>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "workflow/vocabulary.hpp"

namespace returnflow::workflow {

using Days = std::chrono::days;

/// One monitoring visit of the schedule: due `after` arrival, missed when not done `grace` later.
struct MonitoringVisit {
  Days after{90};
  Days grace{14};
  friend bool operator==(const MonitoringVisit&, const MonitoringVisit&) = default;
};

/// Service levels: how long each step may take.
struct ServiceLevels {
  Days eligibility{7};         ///< from referral to the eligibility decision
  Days counselling{21};        ///< from entering counselling to consent
  Days documentation{45};      ///< from entering documentation to every strand done
  Days booking{14};            ///< from entering travel to a booking
  Days plan_after_arrival{30};  ///< from arrival to an approved reintegration plan
  std::chrono::hours briefing_before_departure{24};  ///< the briefing must be held by then
  friend bool operator==(const ServiceLevels&, const ServiceLevels&) = default;
};

/// How a programme's published aggregates protect small counts (engine/reports_suppression.hpp).
enum class SmallCells {
  kSuppress,  ///< counts from 1 to suppress_below - 1 withheld, plus the cells that would give them away
  kRound5,    ///< every count and total rounded to the nearest multiple of 5
};
inline constexpr std::array<std::string_view, 2> kSmallCellsNames = {"suppress", "round5"};
inline std::string_view Name(SmallCells value) { return NameOf(value, kSmallCellsNames); }

/// What the programme's reports may publish.
struct ReportPolicy {
  SmallCells small_cells = SmallCells::kSuppress;
  int suppress_below = 5;  ///< with kSuppress: counts from 1 to this - 1 are withheld
  friend bool operator==(const ReportPolicy&, const ReportPolicy&) = default;
};

struct Programme {
  std::string code;   ///< e.g. "avrr-id"
  int version = 1;    ///< 1, 2, ...: every change of the definition is a new version
  std::string name;   ///< for people, e.g. "AVRR Indonesia"
  std::set<std::string> unsafe_destinations;  ///< ISO 3166-1 alpha-2 codes
  int no_show_limit = 3;                      ///< the Nth no-show closes the case as absconded
  ServiceLevels service_levels;
  std::vector<MonitoringVisit> monitoring{{Days{90}, Days{14}}, {Days{180}, Days{14}}, {Days{365}, Days{30}}};
  /// How long an event the case cannot take yet may wait for it, and which event types may wait.
  Days early_event_wait{30};
  std::set<std::string> deferrable_events;
  /// How long before a deadline of an open step the clock announces it (deadline.approaching); 0: never.
  Days deadline_warning{2};
  /// A suspension is reviewed this long after it began.
  Days suspension_review{30};
  /// How long a closed case's personal data is kept before the clock erases it; 0: until an approved request.
  Days personal_data_retention{0};
  /// Closures a caseworker records with case.closed alone. Every other closure by case.closed is a
  /// request by a caseworker that a supervisor approves (ClosureNeedsApproval). Replaces the earlier
  /// closures_needing_supervisor, which is still read (see ExemptFromNeedingSupervisor). By default only
  /// reintegrated, whose conditions (approved plan, every monitoring visit done) the machine checks.
  std::set<Outcome> closures_exempt_from_approval{Outcome::kReintegrated};
  /// Small-cell protection of the programme's reports.
  ReportPolicy reports;

  friend bool operator==(const Programme&, const Programme&) = default;
};

/// Whether closing with `outcome` through case.closed needs a supervisor's approval: every outcome but
/// withdrawn, deceased and the programme's closures_exempt_from_approval.
bool ClosureNeedsApproval(const Programme& programme, Outcome outcome);

/// The exemptions an old `closures_needing_supervisor` list stands for: every outcome it does not name.
/// An empty old list (its default; the key was never enforced) stands for the default exemptions.
std::set<Outcome> ExemptFromNeedingSupervisor(const std::set<Outcome>& needing_supervisor);

/// Which programme version a case runs under (kept in its context).
struct ProgrammeRef {
  std::string code;
  int version = 0;  ///< 0: a case saved before programmes were versioned; the latest version applies
  friend bool operator==(const ProgrammeRef&, const ProgrammeRef&) = default;
};

/// The event types that may wait by default: those partners send, never consent, withdrawal or closure.
const std::set<std::string>& DefaultDeferrableEvents();

/// The canonical JSON of a programme (what is stored per version and compared to detect a change).
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& json, const Programme& programme);
Programme tag_invoke(const boost::json::value_to_tag<Programme>&, const boost::json::value& json);

/// True for an ISO 3166-1 alpha-2 code currently assigned to a country or territory.
bool IsCountryCode(std::string_view code);

}  // namespace returnflow::workflow
