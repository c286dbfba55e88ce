#pragma once
/// What each role reads of a case: the one place that cuts case content to a reader's job. Every route
/// that answers with case content (the case, search rows, history, event outcomes) goes through here.
///
///   caseworkers of the office  everything, personal data on request (audited)
///   supervisors                everything but personal data (free-text reasons included)
///   partners                   their slice: the case's position in the parts their event types play
///                              (states of those regions, the dates those parts need), allowed events they
///                              may send, and history entries of their own event types; never the
///                              household, vulnerabilities, other organisations, actors or free text
#include <optional>
#include <string>
#include <vector>

#include "engine/principal.hpp"
#include "persistence/repository.hpp"
#include "workflow/case.hpp"
#include "workflow/timers.hpp"

namespace returnflow::engine {

struct KeyDates {
  std::optional<workflow::Instant> consent_at;
  std::optional<workflow::Date> travel_document_expires_on;
  std::optional<workflow::Date> fitness_valid_until;
  std::optional<workflow::Date> departure_date;
  std::optional<workflow::Instant> departed_at;
  std::optional<workflow::Instant> arrived_at;
};

struct Progress {
  int counselling_sessions = 0;
  int no_shows = 0;
  int monitoring_visits_required = 0;
  int monitoring_visits_done = 0;
  int reopen_count = 0;
};

/// A case as one reader may see it. Unset optionals are not the reader's to see.
struct CaseView {
  std::string case_id;
  std::string stage;
  std::vector<std::string> active_states;
  std::int64_t version = 0;
  persistence::Timestamp created_at{}, updated_at{}, stage_entered_at{};
  std::optional<persistence::Timestamp> next_deadline;
  std::string host_country, origin_country;
  std::optional<std::string> programme, office;
  std::optional<std::vector<std::string>> partners;
  std::optional<std::vector<std::string>> vulnerabilities;  ///< union over the household

  // The detailed view (one case) only.
  bool detailed = false;
  KeyDates key_dates;
  std::optional<std::string> destination_country;
  std::optional<std::string> suspension;  ///< the hold's reason (a medical hold says the migrant is unfit)
  std::optional<std::string> outcome;
  std::vector<std::string_view> allowed_events;  ///< what this reader may send now
  std::optional<Progress> progress;
  std::optional<std::vector<workflow::HouseholdMember>> household;
  std::optional<std::vector<std::string>> escorts_required;           ///< escort providers: "child", "medical"
  std::optional<std::vector<std::string>> members_needing_caregiver;  ///< reception: children to hand over
  std::optional<std::vector<persistence::PersonalData>> personal_data;

  // The engine's clock over the case (caseworkers and supervisors; the detailed view but `overdue`).
  std::optional<std::vector<std::string>> overdue;  ///< deadlines passed while their step is open
  std::optional<workflow::ProgrammeRef> programme_version;
  std::optional<std::vector<workflow::Deadline>> deadlines;
  std::optional<std::vector<persistence::CaseTimer>> timers;
  std::optional<std::vector<persistence::WaitingEvent>> inbox;
  std::optional<std::vector<persistence::Incident>> incidents;  ///< open ones
};

/// What the clock knows of one case, for DetailView's reader.
struct ClockView {
  std::vector<workflow::Deadline> deadlines;
  std::vector<persistence::CaseTimer> timers;
  std::vector<persistence::WaitingEvent> inbox;
  std::vector<persistence::Incident> incidents;
};
/// Adds the clock's view to a detailed view when the reader's job needs it (not a partner's).
void AddClockView(const Principal& reader, const workflow::Case& machine, ClockView clock, CaseView& view);

/// A search row.
CaseView SummaryView(const Principal& reader, const persistence::CaseRecord& record);
/// One case, read from its restored machine.
CaseView DetailView(const Principal& reader, const persistence::CaseRecord& record, const workflow::Case& machine);
/// A history entry as the reader may see it; nullopt when the entry is not the reader's to see.
std::optional<persistence::HistoryEntry> EntryView(const Principal& reader, persistence::HistoryEntry entry);
/// The active states a reader may see (a partner: those of its parts).
std::vector<std::string> StatesView(const Principal& reader, const std::vector<std::string>& states);
/// An event's outcome as its sender may see it.
persistence::ApplyOutcome OutcomeView(const Principal& reader, persistence::ApplyOutcome outcome);

}  // namespace returnflow::engine
