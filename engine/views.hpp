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
#include <map>

#include <boost/json/array.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/principal.hpp"
#include "persistence/repository.hpp"
#include "workflow/case.hpp"
#include "workflow/consent.hpp"
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

/// One household member's personal data as a partner receives it: only the categories both its job for
/// the purpose asked and the migrant's consent allow (workflow::CategoriesNeeded and
/// TransferableCategories); unset fields are categories not sent.
struct MemberData {
  std::string member_id;
  std::set<workflow::DataCategory> categories;
  // identity
  std::optional<std::string> given_names, family_name, date_of_birth;
  // travel_document
  std::optional<std::vector<persistence::IdentityDocument>> documents;
  // contact
  std::optional<std::vector<persistence::Contact>> contacts;
  // health (with age and sex: what a medical assessment needs of a person)
  std::optional<std::string> sex;
  std::optional<int> birth_year;
  std::optional<std::vector<std::string>> health;      ///< health-related vulnerabilities
  std::optional<std::vector<std::string>> protection;  ///< protection flags (trafficking, unaccompanied)
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
  /// A closure waiting for a supervisor (its reason only for readers of free text).
  std::optional<workflow::ClosureRequest> closure_request;
  std::vector<std::string_view> allowed_events;  ///< what this reader may send now
  std::optional<Progress> progress;
  std::optional<std::vector<workflow::HouseholdMember>> household;
  std::optional<std::vector<std::string>> escorts_required;           ///< escort providers: "child", "medical"
  std::optional<std::vector<std::string>> members_needing_caregiver;  ///< reception: children to hand over
  std::optional<std::vector<persistence::PersonalData>> personal_data;  ///< a caseworker's, in full
  std::optional<std::vector<MemberData>> minimal_personal_data;         ///< a partner's, cut to consent

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

/// A partner's personal data as JSON: per member, the categories received and only their fields.
boost::json::array MembersToJson(const std::vector<MemberData>& members);

/// Whether a partner serves the part `purpose` is for (its token sends events of workflow::PartOfPurpose).
bool ServesPurpose(const Principal& reader, workflow::TransferPurpose purpose);

/// The members' personal data cut to `allowed` (member id to categories; members absent get nothing).
std::vector<MemberData> MinimalPersonalData(const std::vector<persistence::PersonalData>& people,
                                            const std::vector<workflow::HouseholdMember>& household,
                                            const std::map<std::string, std::set<workflow::DataCategory>>& allowed);
/// A history entry as the reader may see it; nullopt when the entry is not the reader's to see.
std::optional<persistence::HistoryEntry> EntryView(const Principal& reader, persistence::HistoryEntry entry);
/// A case's consent records as one reader may see them.
struct ConsentList {
  std::vector<workflow::ConsentRecord> consents;  ///< empty for readers who see counts only
  std::int64_t in_effect = 0;                     ///< of the records the reader may see, in effect now
  std::int64_t withdrawn = 0;
  bool counts_only = false;                       ///< supervisors: numbers, never recipients or categories
};

/// A case's consent records as the reader may see them at `now`: every record (caseworkers of the
/// office); the records naming the partner's own organisation, without who recorded them; or counts
/// only (supervisors: how many are in effect and withdrawn, never to whom, for what or about whom).
ConsentList ConsentsView(const Principal& reader, const persistence::CaseScope& scope,
                         std::vector<workflow::ConsentRecord> consents, workflow::Instant now);

/// The active states a reader may see (a partner: those of its parts).
std::vector<std::string> StatesView(const Principal& reader, const std::vector<std::string>& states);
/// An event's outcome as its sender may see it.
persistence::ApplyOutcome OutcomeView(const Principal& reader, persistence::ApplyOutcome outcome);

}  // namespace returnflow::engine
