#include "api/dto.hpp"

#include "api/json_reader.hpp"
#include "engine/programmes.hpp"

#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace returnflow::api {

namespace json = boost::json;
using workflow::FormatDate;
using workflow::FormatInstant;

namespace {

/// An object member at `pointer`, or a problem.
const json::object* ObjectAt(const json::value& value, const std::string& pointer, std::optional<Problem>& problem) {
  if (!value.is_object()) {
    problem = InvalidMember(pointer, "must be an object");
    return nullptr;
  }
  return &value.get_object();
}

std::optional<persistence::PersonalData> ParsePersonalData(const json::value& value, const std::string& at,
                                                           std::optional<Problem>& problem) {
  const auto* object = ObjectAt(value, at, problem);
  if (!object) return std::nullopt;
  Reader reader(*object, at, {"given_names", "family_name", "date_of_birth", "documents", "contacts"});
  persistence::PersonalData person;
  person.given_names = reader.String("given_names", false, 200).value_or("");
  person.family_name = reader.String("family_name", false, 200).value_or("");
  person.date_of_birth = reader.String("date_of_birth", false, 10).value_or("");
  if (!person.date_of_birth.empty() && !workflow::ParseDate(person.date_of_birth) &&
      !(person.date_of_birth.size() == 4 &&
        std::all_of(person.date_of_birth.begin(), person.date_of_birth.end(), ::isdigit))) {
    reader.Fail(InvalidMember(at + "/date_of_birth", "must be YYYY-MM-DD or a year"));
  }
  const auto pairs = [&](std::string_view key, std::size_t max_items, std::string_view first, std::size_t first_limit,
                         std::string_view second, std::size_t second_limit, auto& out) {
    const auto* array = reader.Array(key, max_items);
    if (!array) return;
    for (std::size_t index = 0; index < array->size(); ++index) {
      const std::string item_at = fmt::format("{}/{}", reader.Pointer(key), index);
      std::optional<Problem> item_problem;
      const auto* item = ObjectAt((*array)[index], item_at, item_problem);
      if (!item) return reader.Fail(*item_problem);
      Reader item_reader(*item, item_at, {first, second});
      auto a = item_reader.String(first, true, first_limit);
      auto b = item_reader.String(second, true, second_limit);
      if (item_reader.Result()) return reader.Fail(*item_reader.Result());
      out.push_back({*a, *b});
    }
  };
  pairs("documents", kMaxDocuments, "type", 50, "number", 100, person.documents);
  pairs("contacts", kMaxContacts, "kind", 50, "value", 500, person.contacts);
  if (reader.Result()) {
    problem = reader.Result();
    return std::nullopt;
  }
  return person;
}

}  // namespace

std::variant<std::pair<std::string, persistence::PersonalData>, Problem> ParseCorrection(const json::value& body) {
  if (!body.is_object() || body.get_object().size() != 1) {
    return InvalidMember("", "must be a JSON object with exactly one field to correct");
  }
  std::optional<Problem> problem;
  auto person = ParsePersonalData(body, "", problem);
  if (!person) return *problem;
  return std::make_pair(std::string(body.get_object().begin()->key()), std::move(*person));
}

std::variant<persistence::NewCase, Problem> ParseCreateCase(const json::value& body) {
  if (!body.is_object()) return InvalidMember("", "must be a JSON object (the referral)");
  Reader reader(body.get_object(), "",
                {"programme", "office", "host_country", "origin_country", "destination_country", "partners",
                 "programme_rules", "household", "received_at"});
  persistence::NewCase new_case;
  auto& context = new_case.context;
  new_case.programme = reader.String("programme", true, 64).value_or("");
  new_case.office = reader.String("office", true, 100).value_or("");
  context.host_country = reader.Country("host_country", true).value_or("");
  context.origin_country = reader.Country("origin_country", true).value_or("");
  context.destination_country = reader.Country("destination_country", false).value_or(context.origin_country);
  new_case.partners = reader.Strings("partners", kMaxPartners, workflow::kMaxOrganisationLength);
  for (std::size_t index = 0; index < new_case.partners.size(); ++index) {
    if (!workflow::ValidOrganisationId(new_case.partners[index])) {
      reader.Fail(InvalidMember(fmt::format("/partners/{}", index), kOrganisationIdRule));
    }
  }
  if (reader.Member("programme_rules")) {
    // Safeguards come from the programme registered on the server, never from the caller: a referral
    // that carries its own rules is refused rather than silently ignored.
    reader.Fail(InvalidMember("/programme_rules",
                              "is not accepted: programme rules are server-side data (GET /programmes/{code})"));
  }
  const auto* household = reader.Member("household");
  if (!household || !household->is_array() || household->get_array().empty()) {
    reader.Fail(InvalidMember("/household", "must be a non-empty array of members"));
  } else if (household->get_array().size() > kMaxHouseholdMembers) {
    reader.Fail(InvalidMember("/household", fmt::format("has more than {} members", kMaxHouseholdMembers)));
  } else {
    int principals = 0;
    std::set<std::string> member_ids;
    const auto& members = household->get_array();
    for (std::size_t position = 0; position < members.size() && !reader.Result(); ++position) {
      const std::string at = fmt::format("/household/{}", position);
      std::optional<Problem> problem;
      const auto* object = ObjectAt(members[position], at, problem);
      if (!object) {
        reader.Fail(*problem);
        break;
      }
      Reader member_reader(*object, at,
                           {"member_id", "relationship", "sex", "birth_year", "vulnerabilities", "personal_data"});
      workflow::HouseholdMember member;
      member.member_id = member_reader.String("member_id", false, 32).value_or(fmt::format("m{}", position + 1));
      // The saved case refuses an empty id (workflow/context.cpp): accepted here, the case would be unreadable.
      if (member.member_id.empty()) member_reader.Fail(InvalidMember(at + "/member_id", "must not be empty"));
      member.relationship = NamedEnum<workflow::Relationship>(member_reader, "relationship",
                                                              workflow::kRelationshipNames, false)
                                .value_or(position == 0 ? workflow::Relationship::kPrincipal
                                                        : workflow::Relationship::kDependant);
      member.sex = NamedEnum<workflow::Sex>(member_reader, "sex", workflow::kSexNames, false).value_or(workflow::Sex::kUnknown);
      const auto flags = member_reader.Strings("vulnerabilities", workflow::kVulnerabilityNames.size(), 64);
      for (std::size_t index = 0; index < flags.size(); ++index) {
        auto vulnerability = workflow::FromName<workflow::Vulnerability>(flags[index], workflow::kVulnerabilityNames);
        if (!vulnerability) {
          member_reader.Fail(InvalidMember(fmt::format("{}/vulnerabilities/{}", at, index), "is not a known vulnerability flag"));
          break;
        }
        member.vulnerabilities.insert(*vulnerability);
      }
      std::optional<persistence::PersonalData> person;
      if (const auto* personal = member_reader.Member("personal_data")) {
        std::optional<Problem> person_problem;
        person = ParsePersonalData(*personal, at + "/personal_data", person_problem);
        if (person_problem) member_reader.Fail(*person_problem);
      }
      if (auto year = member_reader.Integer("birth_year", 1900, 2100)) {
        member.birth_year = static_cast<int>(*year);
      } else if (person && person->date_of_birth.size() >= 4) {
        member.birth_year = std::stoi(person->date_of_birth.substr(0, 4));
      } else if (!member_reader.Result()) {
        member_reader.Fail(InvalidMember(at + "/birth_year", "is required (or personal_data/date_of_birth)"));
      }
      if (member_reader.Result()) {
        reader.Fail(*member_reader.Result());
        break;
      }
      if (!member_ids.insert(member.member_id).second) {
        reader.Fail(InvalidMember(at + "/member_id", "is not unique in the household"));
        break;
      }
      if (member.relationship == workflow::Relationship::kPrincipal) ++principals;
      if (person) {
        person->member_id = member.member_id;
        new_case.people.push_back(std::move(*person));
      }
      context.household.push_back(std::move(member));
    }
    if (!reader.Result() && principals != 1) reader.Fail(InvalidMember("/household", "must have exactly one principal"));
  }
  if (auto received = reader.String("received_at", false, 64)) {
    auto instant = workflow::ParseInstant(*received);
    if (!instant) reader.Fail(InvalidMember("/received_at", "must be an RFC 3339 timestamp"));
    else new_case.meta.occurred_at = *instant;
  }
  if (reader.Result()) return *reader.Result();
  return new_case;
}

namespace {

json::array StringArray(const auto& items) {
  json::array array;
  for (const auto& item : items) array.emplace_back(std::string_view(item));
  return array;
}

void PutDate(json::object& object, std::string_view key, const std::optional<workflow::Date>& date) {
  if (date) object[key] = FormatDate(*date);
}
void PutInstant(json::object& object, std::string_view key, const std::optional<workflow::Instant>& instant) {
  if (instant) object[key] = FormatInstant(*instant);
}

}  // namespace

std::string FormatTimestamp(persistence::Timestamp timestamp) {
  return FormatInstant(std::chrono::floor<std::chrono::seconds>(timestamp));
}

std::optional<persistence::Timestamp> ParseTimestamp(std::string_view text) {
  auto instant = workflow::ParseInstant(text);
  if (!instant) return std::nullopt;
  return std::chrono::time_point_cast<std::chrono::microseconds>(*instant);
}

json::object CaseViewToJson(const engine::CaseView& view) {
  json::object object;
  object["case_id"] = view.case_id;
  if (view.programme) object["programme"] = *view.programme;
  if (view.office) object["office"] = *view.office;
  object["host_country"] = view.host_country;
  object["origin_country"] = view.origin_country;
  object["stage"] = view.stage;
  object["active_states"] = StringArray(view.active_states);
  object["version"] = view.version;
  object["created_at"] = FormatTimestamp(view.created_at);
  object["updated_at"] = FormatTimestamp(view.updated_at);
  object["stage_entered_at"] = FormatTimestamp(view.stage_entered_at);
  object["next_deadline"] = view.next_deadline ? json::value(FormatTimestamp(*view.next_deadline)) : json::value(nullptr);
  if (view.vulnerabilities) object["vulnerabilities"] = StringArray(*view.vulnerabilities);
  if (view.overdue) object["overdue"] = StringArray(*view.overdue);
  if (view.partners) object["partners"] = StringArray(*view.partners);
  if (!view.detailed) return object;

  json::object dates;
  PutInstant(dates, "consent_at", view.key_dates.consent_at);
  PutDate(dates, "travel_document_expires_on", view.key_dates.travel_document_expires_on);
  PutDate(dates, "fitness_valid_until", view.key_dates.fitness_valid_until);
  PutDate(dates, "departure_date", view.key_dates.departure_date);
  PutInstant(dates, "departed_at", view.key_dates.departed_at);
  PutInstant(dates, "arrived_at", view.key_dates.arrived_at);
  object["key_dates"] = std::move(dates);
  if (view.destination_country) object["destination_country"] = *view.destination_country;
  if (view.office) {
    // Readers of the whole case (not partners) see the hold and the outcome, set or not.
    object["suspension"] = view.suspension ? json::value(*view.suspension) : json::value(nullptr);
    object["outcome"] = view.outcome ? json::value(*view.outcome) : json::value(nullptr);
    if (view.closure_request) {
      const auto& request = *view.closure_request;
      json::object pending{{"outcome", workflow::Name(request.outcome)},
                           {"requested_by", request.requested_by},
                           {"requested_at", workflow::FormatInstant(request.requested_at)}};
      if (!request.reason.empty()) pending["reason"] = request.reason;
      object["closure_request"] = std::move(pending);
    }
  }
  object["allowed_events"] = StringArray(view.allowed_events);
  if (view.progress) {
    const auto& progress = *view.progress;
    json::object counts;
    if (view.office) {
      counts["counselling_sessions"] = progress.counselling_sessions;
      counts["no_shows"] = progress.no_shows;
      counts["reopen_count"] = progress.reopen_count;
    }
    counts["monitoring_visits_required"] = progress.monitoring_visits_required;
    counts["monitoring_visits_done"] = progress.monitoring_visits_done;
    object["progress"] = std::move(counts);
  }
  if (view.household) {
    json::array household;
    for (const auto& member : *view.household) {
      json::object entry;
      entry["member_id"] = member.member_id;
      entry["relationship"] = workflow::Name(member.relationship);
      entry["sex"] = workflow::Name(member.sex);
      entry["birth_year"] = member.birth_year;
      json::array flags;
      for (auto flag : member.vulnerabilities) flags.emplace_back(workflow::Name(flag));
      entry["vulnerabilities"] = std::move(flags);
      household.push_back(std::move(entry));
    }
    object["household"] = std::move(household);
  }
  if (view.escorts_required) object["escorts_required"] = StringArray(*view.escorts_required);
  if (view.members_needing_caregiver) object["members_needing_caregiver"] = StringArray(*view.members_needing_caregiver);
  if (view.personal_data) object["personal_data"] = PeopleToJson(*view.personal_data);
  if (view.minimal_personal_data) object["personal_data"] = engine::MembersToJson(*view.minimal_personal_data);
  if (view.programme_version) {
    object["programme_version"] = view.programme_version->version;
  }
  if (view.deadlines) {
    json::array deadlines;
    for (const auto& deadline : *view.deadlines) {
      deadlines.push_back(json::object{{"kind", deadline.kind},
                                       {"due", FormatInstant(deadline.due)},
                                       {"status", deadline.overdue ? "overdue" : "pending"}});
    }
    object["deadlines"] = std::move(deadlines);
  }
  if (view.timers) {
    json::array timers;
    for (const auto& timer : *view.timers) {
      timers.push_back(json::object{{"kind", timer.kind}, {"due", FormatTimestamp(timer.due)}, {"attempts", timer.attempts}});
    }
    object["timers"] = std::move(timers);
  }
  if (view.inbox) {
    json::array inbox;
    for (const auto& waiting : *view.inbox) {
      inbox.push_back(json::object{{"sequence", waiting.sequence},
                                   {"type", waiting.type},
                                   {"source", waiting.source},
                                   {"received_at", FormatTimestamp(waiting.received_at)},
                                   {"expires_at", FormatTimestamp(waiting.expires_at)}});
    }
    object["inbox"] = std::move(inbox);
  }
  if (view.incidents) {
    json::array incidents;
    for (const auto& incident : *view.incidents) incidents.push_back(IncidentToJson(incident));
    object["incidents"] = std::move(incidents);
  }
  return object;
}

json::object IncidentToJson(const persistence::Incident& incident) {
  json::object object;
  object["incident_id"] = incident.incident_id;
  object["case_id"] = incident.case_id;
  object["kind"] = incident.kind;
  object["subject"] = incident.subject;
  object["opened_at"] = FormatTimestamp(incident.opened_at);
  object["office"] = incident.office;
  object["host_country"] = incident.host_country;
  object["origin_country"] = incident.origin_country;
  object["status"] = incident.resolved_at ? "resolved" : "open";
  object["resolved_at"] = incident.resolved_at ? json::value(FormatTimestamp(*incident.resolved_at)) : json::value(nullptr);
  object["resolved_by"] = incident.resolved_at ? json::value(incident.resolved_by) : json::value(nullptr);
  return object;
}

json::object ProgrammeToJson(const workflow::Programme& programme) {
  auto object = engine::DefinitionOf(programme).as_object();
  object["code"] = programme.code;
  object["version"] = programme.version;
  return object;
}

namespace {

json::array DocumentsToJson(const std::vector<persistence::IdentityDocument>& documents) {
  json::array array;
  for (const auto& document : documents) array.push_back(json::object{{"type", document.type}, {"number", document.number}});
  return array;
}

json::array ContactsToJson(const std::vector<persistence::Contact>& contacts) {
  json::array array;
  for (const auto& contact : contacts) array.push_back(json::object{{"kind", contact.kind}, {"value", contact.value}});
  return array;
}

}  // namespace

json::array PeopleToJson(const std::vector<persistence::PersonalData>& people) {
  json::array array;
  for (const auto& person : people) {
    json::object entry;
    entry["member_id"] = person.member_id;
    entry["given_names"] = person.given_names;
    entry["family_name"] = person.family_name;
    entry["date_of_birth"] = person.date_of_birth;
    entry["documents"] = DocumentsToJson(person.documents);
    json::array contacts = ContactsToJson(person.contacts);
    entry["contacts"] = std::move(contacts);
    array.push_back(std::move(entry));
  }
  return array;
}

json::object OutcomeToJson(const persistence::ApplyOutcome& outcome, const engine::EventEnvelope& event) {
  json::object object;
  object["case_id"] = outcome.case_id;
  object["event_id"] = event.id;
  object["source"] = event.source;
  object["type"] = event.type;
  // A deferred event is neither applied nor refused: it waits in the case's inbox (202).
  object["outcome"] = outcome.deferred ? std::string_view("deferred") : workflow::Name(outcome.result.verdict);
  object["replayed"] = outcome.replayed;
  object["sequence"] = outcome.sequence;
  object["version"] = outcome.version;
  object["from"] = StringArray(outcome.result.from);
  object["to"] = StringArray(outcome.result.to);
  if (!outcome.result.reason.empty()) object["reason"] = outcome.result.reason;
  object["changes"] = StringArray(outcome.result.changes);
  object["allowed_events"] = StringArray(outcome.result.allowed_events);
  return object;
}

json::object HistoryEntryToJson(const persistence::HistoryEntry& entry) {
  json::object object;
  object["sequence"] = entry.sequence;
  if (!entry.source.empty()) object["source"] = entry.source;
  object["event_id"] = entry.event_id;
  object["type"] = entry.type;
  if (!entry.actor.empty()) object["actor"] = entry.actor;
  object["occurred_at"] = FormatTimestamp(entry.occurred_at);
  object["recorded_at"] = FormatTimestamp(entry.recorded_at);
  object["outcome"] = entry.verdict;
  if (!entry.reason.empty()) object["reason"] = entry.reason;
  object["states_before"] = StringArray(entry.states_before);
  object["states_after"] = StringArray(entry.states_after);
  object["changes"] = StringArray(entry.changes);
  object["version_after"] = entry.version_after;
  return object;
}

std::variant<std::chrono::seconds, Problem> ParseClockAdvance(const json::value& body) {
  if (!body.is_object()) return InvalidMember("", "must be a JSON object, e.g. {\"advance\": \"30d\"}");
  Reader reader(body.get_object(), "", {"advance", "seconds"});
  const auto* advance = reader.Member("advance");
  const auto* seconds = reader.Member("seconds");
  if (reader.Result()) return *reader.Result();
  constexpr long long kMaxSeconds = 10LL * 366 * 24 * 3600;
  if ((advance != nullptr) == (seconds != nullptr)) {
    return InvalidMember("", "give exactly one of 'advance' (\"30d\", \"24h\") and 'seconds'");
  }
  if (advance) {
    const auto hours = advance->is_string() ? engine::ParseDurationHours(advance->get_string()) : std::nullopt;
    if (!hours || *hours * 3600 > kMaxSeconds) {
      return InvalidMember("/advance", "must be a duration of at most 10 years, e.g. \"30d\" or \"24h\"");
    }
    return std::chrono::seconds{*hours * 3600};
  }
  if (!seconds->is_int64() || seconds->get_int64() < 0 || seconds->get_int64() > kMaxSeconds) {
    return InvalidMember("/seconds", "must be an integer from 0 to 316224000 (10 years)");
  }
  return std::chrono::seconds{seconds->get_int64()};
}

std::variant<engine::NewToken, Problem> ParseCreateToken(const json::value& body) {
  if (!body.is_object()) return InvalidMember("", "must be a JSON object (the token request)");
  Reader reader(body.get_object(), "", {"name", "role", "scope"});
  engine::NewToken token;
  token.name = reader.String("name", true, 100).value_or("");
  auto role = NamedEnum<workflow::Role>(reader, "role", workflow::kRoleNames, true);
  if (reader.Result()) return *reader.Result();
  token.principal.role = *role;
  token.principal.actor = token.name;
  auto& principal = token.principal;
  if (const auto* scope = reader.Member("scope")) {
    std::optional<Problem> problem;
    const auto* object = ObjectAt(*scope, "/scope", problem);
    if (!object) return *problem;
    // Each role has its scope members; one from another role's scope is refused rather than ignored.
    std::vector<std::string_view> members;
    switch (principal.role) {
      case workflow::Role::kCaseworker: members = {"office", "sources"}; break;
      case workflow::Role::kPartner: members = {"organisation", "event_types", "sources"}; break;
      case workflow::Role::kSupervisor: members = {"countries", "sources"}; break;
      case workflow::Role::kAdmin: members = {}; break;
      case workflow::Role::kAuditor: members = {}; break;
    }
    Reader scope_reader(*object, "/scope", members);
    principal.office = scope_reader.String("office", principal.role == workflow::Role::kCaseworker, 100).value_or("");
    principal.organisation =
        scope_reader.String("organisation", principal.role == workflow::Role::kPartner, workflow::kMaxOrganisationLength)
            .value_or("");
    if (!principal.organisation.empty() && !workflow::ValidOrganisationId(principal.organisation)) {
      scope_reader.Fail(InvalidMember("/scope/organisation", kOrganisationIdRule));
    }
    for (auto& type : scope_reader.Strings("event_types", 64, 100)) principal.event_types.insert(std::move(type));
    for (auto& country : scope_reader.Strings("countries", 250, 2)) principal.countries.insert(std::move(country));
    for (auto& source : scope_reader.Strings("sources", 20, 500)) principal.sources.insert(std::move(source));
    if (scope_reader.Result()) return *scope_reader.Result();
  } else if (principal.role == workflow::Role::kCaseworker) {
    return InvalidMember("/scope/office", "is required");
  } else if (principal.role == workflow::Role::kPartner) {
    return InvalidMember("/scope/organisation", "is required");
  }
  return token;
}

namespace {

/// The filters of a subscription, each one this engine can match.
std::vector<std::string> NotificationFilters(Reader& reader, bool required) {
  if (required && !reader.Member("notifications")) {
    reader.Fail(InvalidMember(reader.Pointer("notifications"), "is required"));
    return {};
  }
  auto filters = reader.Strings("notifications", 50, 200);
  for (std::size_t index = 0; index < filters.size(); ++index) {
    if (!persistence::ValidNotificationFilter(filters[index])) {
      reader.Fail(InvalidMember(fmt::format("{}/{}", reader.Pointer("notifications"), index),
                                "must be a notification kind (case.opened, state.entered, stage.entered, event.applied, "
                                "event.refused, deadline.passed, deadline.approaching, incident.opened), optionally ':' and a name or a "
                                "prefix ending in '*'"));
    }
  }
  if (required && filters.empty() && !reader.Result()) {
    reader.Fail(InvalidMember(reader.Pointer("notifications"), "must list at least one notification"));
  }
  return filters;
}

std::optional<std::string> WebhookUrl(Reader& reader, bool required) {
  auto url = reader.String("url", required, 2000);
  if (url && !url->starts_with("https://") && !url->starts_with("http://")) {
    reader.Fail(InvalidMember(reader.Pointer("url"), "must be an http:// or https:// URL"));
  }
  return url;
}

}  // namespace

std::variant<persistence::Subscription, Problem> ParseCreateSubscription(const json::value& body) {
  if (!body.is_object()) return InvalidMember("", "must be a JSON object (the subscription)");
  Reader reader(body.get_object(), "", {"organisation", "office", "notifications", "delivery", "url"});
  persistence::Subscription subscription;
  subscription.organisation = reader.String("organisation", false, 100).value_or("");
  subscription.office = reader.String("office", false, 100).value_or("");
  if (!reader.Result() && subscription.organisation.empty() == subscription.office.empty()) {
    reader.Fail(InvalidMember("/organisation", "give exactly one of organisation (a partner) and office"));
  }
  subscription.notifications = NotificationFilters(reader, true);
  const auto delivery = reader.String("delivery", true, 20);
  if (delivery && !persistence::DeliveryFromName(*delivery)) {
    reader.Fail(InvalidMember("/delivery", "must be webhook or feed"));
  }
  if (reader.Result()) return *reader.Result();
  subscription.delivery = *persistence::DeliveryFromName(*delivery);
  const bool webhook = subscription.delivery == persistence::Delivery::kWebhook;
  if (!webhook && reader.Member("url")) return InvalidMember("/url", "a feed has no URL");
  subscription.url = WebhookUrl(reader, webhook).value_or("");
  if (reader.Result()) return *reader.Result();
  return subscription;
}

std::variant<engine::SubscriptionPatch, Problem> ParseSubscriptionPatch(const json::value& body) {
  if (!body.is_object()) return InvalidMember("", "must be a JSON object (the changes)");
  Reader reader(body.get_object(), "", {"notifications", "url", "enabled"});
  engine::SubscriptionPatch patch;
  if (reader.Member("notifications")) patch.notifications = NotificationFilters(reader, true);
  if (reader.Member("url")) patch.url = WebhookUrl(reader, true);
  if (const auto* enabled = reader.Member("enabled")) {
    if (!enabled->is_bool()) {
      reader.Fail(InvalidMember("/enabled", "must be true or false"));
    } else {
      patch.enabled = enabled->get_bool();
    }
  }
  if (reader.Result()) return *reader.Result();
  return patch;
}

json::object SubscriptionToJson(const persistence::Subscription& subscription, bool with_secret) {
  json::object object{{"subscription_id", subscription.subscription_id},
                      {"notifications", json::value_from(subscription.notifications)},
                      {"delivery", persistence::Name(subscription.delivery)},
                      {"enabled", subscription.Active()},
                      {"created_at", FormatTimestamp(subscription.created_at)},
                      {"updated_at", FormatTimestamp(subscription.updated_at)},
                      {"version", subscription.version}};
  if (!subscription.organisation.empty()) object["organisation"] = subscription.organisation;
  if (!subscription.office.empty()) object["office"] = subscription.office;
  if (subscription.delivery == persistence::Delivery::kWebhook) object["url"] = subscription.url;
  if (subscription.disabled_at) {
    object["disabled_at"] = FormatTimestamp(*subscription.disabled_at);
    object["disabled_reason"] = subscription.disabled_reason;
  }
  if (subscription.previous_secret_until) {
    object["previous_secret_until"] = FormatTimestamp(*subscription.previous_secret_until);
  }
  if (with_secret && !subscription.secret.empty()) object["secret"] = subscription.secret;
  return object;
}

json::object DeliveryAttemptToJson(const persistence::DeliveryAttempt& attempt) {
  json::object object{{"notification_id", attempt.notification_id},
                      {"attempt", attempt.attempt},
                      {"attempted_at", FormatTimestamp(attempt.attempted_at)},
                      {"duration_ms", static_cast<double>(attempt.duration_us) / 1000.0}};
  object["status"] = attempt.status > 0 ? json::value(attempt.status) : json::value(nullptr);
  object["error"] = attempt.error.empty() ? json::value(nullptr) : json::value(attempt.error);
  return object;
}

json::object NotificationToJson(const persistence::OutboxNotification& notification) {
  json::object object{{"notification_id", notification.notification_id},
                      {"case_id", notification.case_id},
                      {"kind", notification.kind},
                      {"subject", notification.subject},
                      {"status", notification.status},
                      {"attempts", notification.attempts},
                      {"created_at", FormatTimestamp(notification.created_at)},
                      {"next_attempt_at", FormatTimestamp(notification.next_attempt_at)}};
  object["delivered_at"] = notification.delivered_at ? json::value(FormatTimestamp(*notification.delivered_at)) : json::value(nullptr);
  object["last_status"] = notification.last_status ? json::value(*notification.last_status) : json::value(nullptr);
  object["last_error"] = notification.last_error.empty() ? json::value(nullptr) : json::value(notification.last_error);
  return object;
}

json::object ReplayToJson(const persistence::ReplayRecord& replay) {
  return {{"replay_id", replay.replay_id},       {"subscription_id", replay.subscription_id},
          {"actor", replay.actor},               {"replayed_at", FormatTimestamp(replay.replayed_at)},
          {"from", FormatTimestamp(replay.from)}, {"to", FormatTimestamp(replay.to)},
          {"notifications", replay.notifications}};
}

json::value ScopeToJson(const persistence::TokenRecord& record) {
  json::object scope;
  switch (record.role) {
    case workflow::Role::kCaseworker:
      scope["office"] = record.scope.office;
      break;
    case workflow::Role::kPartner:
      scope["organisation"] = record.scope.organisation;
      scope["event_types"] = StringArray(record.scope.event_types);
      break;
    case workflow::Role::kSupervisor:
      scope["countries"] = StringArray(record.scope.countries);
      break;
    case workflow::Role::kAdmin:
    case workflow::Role::kAuditor:
      break;
  }
  if (record.role != workflow::Role::kAdmin && record.role != workflow::Role::kAuditor) scope["sources"] = StringArray(record.scope.sources);
  return scope;
}

json::object TokenToJson(const persistence::TokenRecord& record) {
  json::object object;
  object["token_id"] = record.token_id;
  object["name"] = record.name;
  object["role"] = workflow::Name(record.role);
  object["scope"] = ScopeToJson(record);
  object["created_at"] = FormatTimestamp(record.created_at);
  object["revoked_at"] = record.revoked_at ? json::value(FormatTimestamp(*record.revoked_at)) : json::value(nullptr);
  return object;
}

}  // namespace returnflow::api

namespace returnflow::persistence {
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& json, const StageCount& count) {
  json = {{"stage", count.stage}, {"count", count.count}};
}
}  // namespace returnflow::persistence

namespace returnflow::api {

json::object CheckpointToJson(const persistence::Checkpoint& checkpoint, std::string_view public_key_pem) {
  return json::object{{"checkpoint_id", checkpoint.id},
                      {"created_at", FormatTimestamp(checkpoint.created_at)},
                      {"case_count", checkpoint.case_count},
                      {"digest", checkpoint.digest},
                      {"previous_digest", checkpoint.previous_digest},
                      {"signature", checkpoint.signature},
                      {"key_id", checkpoint.key_id},
                      {"public_key", checkpoint.public_key},
                      {"public_key_pem", public_key_pem}};
}

}  // namespace returnflow::api
