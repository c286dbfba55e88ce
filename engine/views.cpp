#include "engine/views.hpp"

#include <algorithm>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "engine/authorization.hpp"
#include "workflow/definition.hpp"
#include "workflow/disclosure.hpp"

namespace returnflow::engine {
namespace {

/// The region of a leaf state: its name without the last component ("documentation.travel_document" of
/// "documentation.travel_document.requested", "travel" of "travel.booked"); empty for the case-level
/// states (suspended, closed), which every reader of the case sees.
std::string RegionOf(std::string_view state) {
  const auto dot = state.rfind('.');
  return dot == std::string_view::npos ? std::string() : std::string(state.substr(0, dot));
}

/// For each event type, the regions its rows leave from or lead to: the parts of the case an
/// organisation sending that type plays. Read from the transition tables once.
const std::map<std::string, std::set<std::string>, std::less<>>& RegionsByEventType() {
  static const auto regions = [] {
    std::map<std::string, std::set<std::string>, std::less<>> by_type;
    std::set<std::string> machine_names;
    for (const auto& machine : workflow::GetDefinition().machines) machine_names.insert(machine.name);
    for (const auto& machine : workflow::GetDefinition().machines) {
      for (const auto& transition : machine.transitions) {
        if (transition.event.empty()) continue;
        auto& set = by_type[transition.event];
        for (const auto* state : {&transition.from, &transition.to}) {
          if (state->empty() || machine_names.contains(*state)) continue;
          if (auto region = RegionOf(*state); !region.empty()) set.insert(std::move(region));
        }
      }
    }
    return by_type;
  }();
  return regions;
}

bool SendsAny(const Principal& reader, std::initializer_list<std::string_view> prefixes) {
  for (const auto& type : reader.event_types) {
    for (const auto prefix : prefixes) {
      if (std::string_view(type).starts_with(prefix)) return true;
    }
  }
  return false;
}

/// The active states a partner sees: those of the regions its event types play, and the case-level ones.
std::vector<std::string> PartnerStates(const Principal& reader, const std::vector<std::string>& states) {
  std::set<std::string> regions;
  for (const auto& type : reader.event_types) {
    const auto found = RegionsByEventType().find(type);
    if (found != RegionsByEventType().end()) regions.insert(found->second.begin(), found->second.end());
  }
  std::vector<std::string> visible;
  for (const auto& state : states) {
    const auto region = RegionOf(state);
    if (region.empty() || regions.contains(region)) visible.push_back(state);
  }
  return visible;
}

std::vector<std::string> States(const Principal& reader, const std::vector<std::string>& states) {
  return reader.role == Role::kPartner ? PartnerStates(reader, states) : states;
}

std::vector<std::string_view> Allowed(const Principal& reader, const std::vector<std::string_view>& allowed) {
  std::vector<std::string_view> sendable;
  for (const auto event : allowed) {
    if (CanSendEvent(reader, event)) sendable.push_back(event);
  }
  return sendable;
}

std::vector<std::string> Changes(const Principal& reader, const std::vector<std::string>& changes) {
  if (CanReadFreeText(reader)) return changes;
  std::vector<std::string> visible;
  for (const auto& change : changes) {
    if (workflow::DisclosureOf(change) != workflow::Disclosure::kFreeText) visible.push_back(change);
  }
  return visible;
}

}  // namespace

std::vector<std::string> StatesView(const Principal& reader, const std::vector<std::string>& states) {
  return States(reader, states);
}

CaseView SummaryView(const Principal& reader, const persistence::CaseRecord& record) {
  CaseView view;
  view.case_id = record.case_id;
  view.stage = record.stage;
  view.active_states = States(reader, record.active_states);
  view.version = record.version;
  view.created_at = record.created_at;
  view.updated_at = record.updated_at;
  view.stage_entered_at = record.stage_entered_at;
  view.next_deadline = record.next_deadline;
  view.host_country = record.host_country;
  view.origin_country = record.origin_country;
  if (reader.role != Role::kPartner) {
    view.programme = record.programme;
    view.office = record.office;
    view.partners = record.partners;
    std::vector<std::string> flags;
    for (const auto flag : record.vulnerabilities) flags.emplace_back(workflow::Name(flag));
    view.vulnerabilities = std::move(flags);
    view.overdue = record.overdue;
  }
  return view;
}

void AddClockView(const Principal& reader, const workflow::Case& machine, ClockView clock, CaseView& view) {
  if (reader.role == Role::kPartner) return;
  view.programme_version = machine.Context().programme;
  view.deadlines = std::move(clock.deadlines);
  view.timers = std::move(clock.timers);
  view.inbox = std::move(clock.inbox);
  view.incidents = std::move(clock.incidents);
}

CaseView DetailView(const Principal& reader, const persistence::CaseRecord& record, const workflow::Case& machine) {
  CaseView view = SummaryView(reader, record);
  view.detailed = true;
  const auto& context = machine.Context();
  view.allowed_events = Allowed(reader, machine.AllowedEvents());
  if (reader.role != Role::kPartner) {
    view.key_dates = {context.consent_at,       context.travel_document_expires_on, context.fitness_valid_until,
                      context.departure_date,   context.departed_at,                context.arrived_at};
    view.destination_country = context.destination_country;
    if (context.suspension) view.suspension = std::string(workflow::Name(*context.suspension));
    if (context.outcome) view.outcome = std::string(workflow::Name(*context.outcome));
    if (context.closure_request) {
      view.closure_request = *context.closure_request;
      if (!CanReadFreeText(reader)) view.closure_request->reason.clear();
    }
    view.progress = Progress{context.counselling_sessions, context.no_shows, context.monitoring_visits_required,
                             context.monitoring_visits_done, context.reopen_count};
    view.household = context.household;
    return view;
  }
  // A partner reads the dates and facts of the parts its event types play, nothing else.
  if (SendsAny(reader, {"travel_document."})) view.key_dates.travel_document_expires_on = context.travel_document_expires_on;
  if (SendsAny(reader, {"fitness."})) view.key_dates.fitness_valid_until = context.fitness_valid_until;
  if (SendsAny(reader, {"travel.", "escort.", "caregiver.", "exit_clearance."})) {
    view.key_dates.departure_date = context.departure_date;
    view.destination_country = context.destination_country;
  }
  if (SendsAny(reader, {"travel.", "caregiver."})) view.key_dates.departed_at = context.departed_at;
  if (SendsAny(reader, {"travel.arrived", "caregiver.", "reintegration.", "assistance.", "monitoring."})) {
    view.key_dates.arrived_at = context.arrived_at;
  }
  if (SendsAny(reader, {"reintegration.", "monitoring.", "assistance."})) {
    view.progress = Progress{0, 0, context.monitoring_visits_required, context.monitoring_visits_done, 0};
  }
  if (SendsAny(reader, {"escort."})) {
    std::vector<std::string> escorts;
    if (context.HasUnaccompaniedOrSeparatedChild()) escorts.emplace_back("child");
    if (context.medical_escort_required) escorts.emplace_back("medical");
    view.escorts_required = std::move(escorts);
  }
  if (SendsAny(reader, {"caregiver."})) {
    std::vector<std::string> children;
    for (const auto& member : context.household) {
      if (member.IsUnaccompaniedOrSeparatedChild()) children.push_back(member.member_id);
    }
    view.members_needing_caregiver = std::move(children);
  }
  return view;
}

bool ServesPurpose(const Principal& reader, workflow::TransferPurpose purpose) {
  if (reader.role != Role::kPartner) return false;
  for (const auto& type : reader.event_types) {
    for (const auto part : workflow::PartOfPurpose(purpose)) {
      if (std::string_view(type).starts_with(part)) return true;
    }
  }
  return false;
}

std::vector<MemberData> MinimalPersonalData(const std::vector<persistence::PersonalData>& people,
                                            const std::vector<workflow::HouseholdMember>& household,
                                            const std::map<std::string, std::set<workflow::DataCategory>>& allowed) {
  using workflow::DataCategory;
  using workflow::Vulnerability;
  std::vector<MemberData> members;
  for (const auto& member : household) {
    const auto found = allowed.find(member.member_id);
    if (found == allowed.end() || found->second.empty()) continue;
    const auto& categories = found->second;
    MemberData data;
    data.member_id = member.member_id;
    data.categories = categories;
    const auto person = std::find_if(people.begin(), people.end(),
                                     [&](const persistence::PersonalData& row) { return row.member_id == member.member_id; });
    const auto flags = [&](std::initializer_list<Vulnerability> kinds) {
      std::vector<std::string> names;
      for (const auto kind : kinds) {
        if (member.vulnerabilities.contains(kind)) names.emplace_back(workflow::Name(kind));
      }
      return names;
    };
    if (categories.contains(DataCategory::kIdentity) && person != people.end()) {
      data.given_names = person->given_names;
      data.family_name = person->family_name;
      data.date_of_birth = person->date_of_birth;
    }
    if (categories.contains(DataCategory::kTravelDocument) && person != people.end()) data.documents = person->documents;
    if (categories.contains(DataCategory::kContact) && person != people.end()) data.contacts = person->contacts;
    if (categories.contains(DataCategory::kHealth)) {
      data.sex = std::string(workflow::Name(member.sex));
      if (member.birth_year > 0) data.birth_year = member.birth_year;
      data.health = flags({Vulnerability::kHealthNeeds, Vulnerability::kDisability, Vulnerability::kPregnant,
                           Vulnerability::kElderly});
    }
    if (categories.contains(DataCategory::kProtection)) {
      data.protection = flags({Vulnerability::kVictimOfTrafficking, Vulnerability::kUnaccompaniedChild,
                               Vulnerability::kSeparatedChild, Vulnerability::kSingleParent});
    }
    members.push_back(std::move(data));
  }
  return members;
}

boost::json::array MembersToJson(const std::vector<MemberData>& members) {
  namespace json = boost::json;
  json::array array;
  for (const auto& member : members) {
    json::object entry;
    entry["member_id"] = member.member_id;
    json::array categories;
    for (const auto category : member.categories) categories.emplace_back(workflow::Name(category));
    entry["categories"] = std::move(categories);
    if (member.given_names) entry["given_names"] = *member.given_names;
    if (member.family_name) entry["family_name"] = *member.family_name;
    if (member.date_of_birth) entry["date_of_birth"] = *member.date_of_birth;
    if (member.documents) {
      json::array documents;
      for (const auto& document : *member.documents) documents.push_back(json::object{{"type", document.type}, {"number", document.number}});
      entry["documents"] = std::move(documents);
    }
    if (member.contacts) {
      json::array contacts;
      for (const auto& contact : *member.contacts) contacts.push_back(json::object{{"kind", contact.kind}, {"value", contact.value}});
      entry["contacts"] = std::move(contacts);
    }
    if (member.sex) entry["sex"] = *member.sex;
    if (member.birth_year) entry["birth_year"] = *member.birth_year;
    if (member.health) entry["health"] = json::value_from(*member.health);
    if (member.protection) entry["protection"] = json::value_from(*member.protection);
    array.push_back(std::move(entry));
  }
  return array;
}

std::optional<persistence::HistoryEntry> EntryView(const Principal& reader, persistence::HistoryEntry entry) {
  entry.changes = Changes(reader, entry.changes);
  if (reader.role != Role::kPartner) return entry;
  // A partner reads the entries of its own part only, without who else was involved.
  if (!reader.event_types.contains(entry.type)) return std::nullopt;
  entry.actor.clear();
  if (!reader.sources.contains(entry.source)) entry.source.clear();
  entry.states_before = PartnerStates(reader, entry.states_before);
  entry.states_after = PartnerStates(reader, entry.states_after);
  return entry;
}

ConsentList ConsentsView(const Principal& reader, const persistence::CaseScope& scope,
                         std::vector<workflow::ConsentRecord> consents, workflow::Instant now) {
  ConsentList list;
  const auto reading = ConsentReadingFor(reader, scope);
  for (auto& consent : consents) {
    if (reading == ConsentReading::kNone) break;
    if (reading == ConsentReading::kOwnOrganisation && consent.recipient != reader.organisation) continue;
    if (consent.InEffectAt(now)) ++list.in_effect;
    if (consent.withdrawn_at) ++list.withdrawn;
    if (reading == ConsentReading::kCountsOnly) continue;
    if (reading == ConsentReading::kOwnOrganisation) {
      // Who in the office recorded it is not the partner's business.
      consent.recorded_by.clear();
      consent.withdrawn_by.clear();
    }
    list.consents.push_back(std::move(consent));
  }
  list.counts_only = reading == ConsentReading::kCountsOnly;
  return list;
}

persistence::ApplyOutcome OutcomeView(const Principal& reader, persistence::ApplyOutcome outcome) {
  outcome.result.allowed_events = Allowed(reader, outcome.result.allowed_events);
  outcome.result.changes = Changes(reader, outcome.result.changes);
  outcome.result.from = States(reader, outcome.result.from);
  outcome.result.to = States(reader, outcome.result.to);
  return outcome;
}

}  // namespace returnflow::engine
