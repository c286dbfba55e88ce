#include "api/dto.hpp"

#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace returnflow::api {

namespace json = boost::json;
using workflow::FormatDate;
using workflow::FormatInstant;

namespace {

Problem InvalidField(std::string_view field, std::string_view why) {
  return Problem(ProblemKind::kInvalidRequest, fmt::format("'{}' {}", field, why), {{"field", field}});
}

/// Reads members of one JSON object, remembering the first problem; fields are named in the problem.
class Reader {
 public:
  Reader(const json::object& object, std::string prefix) : object_(object), prefix_(std::move(prefix)) {}

  std::string Field(std::string_view key) const { return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key); }

  std::optional<std::string> String(std::string_view key, bool required, std::size_t max_length = 200) {
    auto found = object_.find(key);
    if (found == object_.end() || found->value().is_null()) {
      if (required) Fail(InvalidField(Field(key), "is required"));
      return std::nullopt;
    }
    if (!found->value().is_string()) return Fail(InvalidField(Field(key), "must be a string")), std::nullopt;
    const auto& text = found->value().get_string();
    if (required && text.empty()) return Fail(InvalidField(Field(key), "must not be empty")), std::nullopt;
    if (text.size() > max_length) {
      return Fail(InvalidField(Field(key), fmt::format("is longer than {} characters", max_length))), std::nullopt;
    }
    return std::string(text);
  }

  std::optional<std::string> Country(std::string_view key, bool required) {
    auto text = String(key, required);
    if (!text) return std::nullopt;
    if (text->size() != 2 || !std::isupper(static_cast<unsigned char>((*text)[0])) ||
        !std::isupper(static_cast<unsigned char>((*text)[1]))) {
      Fail(InvalidField(Field(key), "must be an ISO 3166-1 alpha-2 code (two capital letters)"));
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::int64_t> Integer(std::string_view key, std::int64_t low, std::int64_t high) {
    auto found = object_.find(key);
    if (found == object_.end() || found->value().is_null()) return std::nullopt;
    auto number = found->value().if_int64();
    if (!number || *number < low || *number > high) {
      Fail(InvalidField(Field(key), fmt::format("must be an integer between {} and {}", low, high)));
      return std::nullopt;
    }
    return *number;
  }

  std::vector<std::string> Strings(std::string_view key) {
    std::vector<std::string> out;
    auto found = object_.find(key);
    if (found == object_.end() || found->value().is_null()) return out;
    if (!found->value().is_array()) return Fail(InvalidField(Field(key), "must be an array of strings")), out;
    for (const auto& item : found->value().get_array()) {
      if (!item.is_string() || item.get_string().empty() || item.get_string().size() > 200) {
        Fail(InvalidField(Field(key), "must be an array of non-empty strings"));
        return {};
      }
      out.emplace_back(item.get_string());
    }
    return out;
  }

  const json::value* Member(std::string_view key) const {
    auto found = object_.find(key);
    return found == object_.end() || found->value().is_null() ? nullptr : &found->value();
  }

  void Fail(Problem problem) {
    if (!problem_) problem_ = std::move(problem);
  }
  std::optional<Problem>& Result() { return problem_; }

 private:
  const json::object& object_;
  std::string prefix_;
  std::optional<Problem> problem_;
};

template <typename Enum, std::size_t N>
std::optional<Enum> NamedEnum(Reader& reader, std::string_view key, const std::array<std::string_view, N>& names,
                              bool required) {
  auto text = reader.String(key, required);
  if (!text) return std::nullopt;
  auto value = workflow::FromName<Enum>(*text, names);
  if (!value) {
    std::string allowed;
    for (auto name : names) allowed += (allowed.empty() ? "" : ", ") + std::string(name);
    reader.Fail(InvalidField(reader.Field(key), "must be one of " + allowed));
  }
  return value;
}

std::optional<persistence::PersonalData> ParsePersonalData(const json::value& value, const std::string& prefix,
                                                           std::optional<Problem>& problem) {
  if (!value.is_object()) {
    problem = InvalidField(prefix, "must be an object");
    return std::nullopt;
  }
  Reader reader(value.get_object(), prefix);
  persistence::PersonalData person;
  person.given_names = reader.String("given_names", false).value_or("");
  person.family_name = reader.String("family_name", false).value_or("");
  person.date_of_birth = reader.String("date_of_birth", false, 10).value_or("");
  if (!person.date_of_birth.empty() && !workflow::ParseDate(person.date_of_birth) &&
      !(person.date_of_birth.size() == 4 && std::all_of(person.date_of_birth.begin(), person.date_of_birth.end(), ::isdigit))) {
    reader.Fail(InvalidField(prefix + ".date_of_birth", "must be YYYY-MM-DD or a year"));
  }
  auto list = [&](std::string_view key, std::string_view first, std::string_view second, auto& out) {
    const auto* member = reader.Member(key);
    if (!member) return;
    if (!member->is_array()) return reader.Fail(InvalidField(reader.Field(key), "must be an array"));
    for (const auto& item : member->get_array()) {
      if (!item.is_object()) return reader.Fail(InvalidField(reader.Field(key), "must hold objects"));
      Reader item_reader(item.get_object(), reader.Field(key) + "[]");
      auto a = item_reader.String(first, true);
      auto b = item_reader.String(second, true, 500);
      if (item_reader.Result()) return reader.Fail(*item_reader.Result());
      out.push_back({*a, *b});
    }
  };
  list("documents", "type", "number", person.documents);
  list("contacts", "kind", "value", person.contacts);
  if (reader.Result()) {
    problem = reader.Result();
    return std::nullopt;
  }
  return person;
}

}  // namespace

std::variant<CreateCaseRequest, Problem> ParseCreateCase(const json::value& body) {
  if (!body.is_object()) return Problem(ProblemKind::kInvalidRequest, "the referral must be a JSON object");
  Reader reader(body.get_object(), "");
  CreateCaseRequest request;
  auto& new_case = request.new_case;
  auto& context = new_case.context;
  new_case.programme = reader.String("programme", true).value_or("");
  new_case.office = reader.String("office", true).value_or("");
  context.host_country = reader.Country("host_country", true).value_or("");
  context.origin_country = reader.Country("origin_country", true).value_or("");
  context.destination_country = reader.Country("destination_country", false).value_or(context.origin_country);
  new_case.partners = reader.Strings("partners");
  if (const auto* rules = reader.Member("programme_rules")) {
    if (!rules->is_object()) {
      reader.Fail(InvalidField("programme_rules", "must be an object"));
    } else {
      Reader rules_reader(rules->get_object(), "programme_rules");
      for (const auto& code : rules_reader.Strings("unsafe_destinations")) context.programme.unsafe_destinations.insert(code);
      if (auto limit = rules_reader.Integer("no_show_limit", 1, 100)) context.programme.no_show_limit = static_cast<int>(*limit);
      if (auto visits = rules_reader.Integer("monitoring_visits", 0, 100)) {
        context.programme.default_monitoring_visits = static_cast<int>(*visits);
      }
      if (rules_reader.Result()) reader.Fail(*rules_reader.Result());
    }
  }
  const auto* household = reader.Member("household");
  if (!household || !household->is_array() || household->get_array().empty()) {
    reader.Fail(InvalidField("household", "must be a non-empty array of members"));
  } else if (household->get_array().size() > 50) {
    reader.Fail(InvalidField("household", "has more than 50 members"));
  } else {
    int principals = 0;
    std::set<std::string> member_ids;
    std::size_t position = 0;
    for (const auto& item : household->get_array()) {
      ++position;
      std::string prefix = fmt::format("household[{}]", position - 1);
      if (!item.is_object()) {
        reader.Fail(InvalidField(prefix, "must be an object"));
        break;
      }
      Reader member_reader(item.get_object(), prefix);
      workflow::HouseholdMember member;
      member.member_id = member_reader.String("member_id", false, 32).value_or(fmt::format("m{}", position));
      member.relationship = NamedEnum<workflow::Relationship>(member_reader, "relationship",
                                                              workflow::kRelationshipNames, false)
                                .value_or(position == 1 ? workflow::Relationship::kPrincipal
                                                        : workflow::Relationship::kDependant);
      member.sex = NamedEnum<workflow::Sex>(member_reader, "sex", workflow::kSexNames, false).value_or(workflow::Sex::kUnknown);
      for (const auto& flag : member_reader.Strings("vulnerabilities")) {
        auto vulnerability = workflow::FromName<workflow::Vulnerability>(flag, workflow::kVulnerabilityNames);
        if (!vulnerability) {
          member_reader.Fail(InvalidField(prefix + ".vulnerabilities", "names an unknown vulnerability flag"));
          break;
        }
        member.vulnerabilities.insert(*vulnerability);
      }
      std::optional<persistence::PersonalData> person;
      if (const auto* personal = member_reader.Member("personal_data")) {
        std::optional<Problem> problem;
        person = ParsePersonalData(*personal, prefix + ".personal_data", problem);
        if (problem) member_reader.Fail(*problem);
      }
      if (auto year = member_reader.Integer("birth_year", 1900, 2100)) {
        member.birth_year = static_cast<int>(*year);
      } else if (person && person->date_of_birth.size() >= 4) {
        member.birth_year = std::stoi(person->date_of_birth.substr(0, 4));
      } else if (!member_reader.Result()) {
        member_reader.Fail(InvalidField(prefix + ".birth_year", "is required (or personal_data.date_of_birth)"));
      }
      if (member_reader.Result()) {
        reader.Fail(*member_reader.Result());
        break;
      }
      if (!member_ids.insert(member.member_id).second) {
        reader.Fail(InvalidField(prefix + ".member_id", "is not unique in the household"));
        break;
      }
      if (member.relationship == workflow::Relationship::kPrincipal) ++principals;
      if (person) {
        person->member_id = member.member_id;
        new_case.people.push_back(std::move(*person));
      }
      context.household.push_back(std::move(member));
    }
    if (!reader.Result() && principals != 1) {
      reader.Fail(InvalidField("household", "must have exactly one principal"));
    }
  }
  if (auto received = reader.String("received_at", false)) {
    auto instant = workflow::ParseInstant(*received);
    if (!instant) reader.Fail(InvalidField("received_at", "must be an RFC 3339 timestamp"));
    else new_case.meta.occurred_at = *instant;
  }
  if (reader.Result()) return *reader.Result();
  return request;
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

json::object CaseSummaryToJson(const persistence::CaseRecord& record) {
  json::object object;
  object["case_id"] = record.case_id;
  object["programme"] = record.programme;
  object["office"] = record.office;
  object["host_country"] = record.host_country;
  object["origin_country"] = record.origin_country;
  object["stage"] = record.stage;
  object["active_states"] = StringArray(record.active_states);
  object["version"] = record.version;
  object["created_at"] = FormatTimestamp(record.created_at);
  object["updated_at"] = FormatTimestamp(record.updated_at);
  object["stage_entered_at"] = FormatTimestamp(record.stage_entered_at);
  if (record.next_deadline) object["next_deadline"] = FormatTimestamp(*record.next_deadline);
  else object["next_deadline"] = nullptr;
  json::array flags;
  for (auto flag : record.vulnerabilities) flags.emplace_back(workflow::Name(flag));
  object["vulnerabilities"] = std::move(flags);
  object["partners"] = StringArray(record.partners);
  return object;
}

json::object CaseToJson(const persistence::CaseRecord& record, const workflow::Case& machine, CaseView view,
                        const Principal& principal) {
  json::object object = CaseSummaryToJson(record);
  const auto& context = machine.Context();
  json::object dates;
  PutInstant(dates, "consent_at", context.consent_at);
  PutDate(dates, "travel_document_expires_on", context.travel_document_expires_on);
  PutDate(dates, "fitness_valid_until", context.fitness_valid_until);
  PutDate(dates, "departure_date", context.departure_date);
  PutInstant(dates, "departed_at", context.departed_at);
  PutInstant(dates, "arrived_at", context.arrived_at);
  object["key_dates"] = std::move(dates);
  object["suspension"] = context.suspension ? json::value(workflow::Name(*context.suspension)) : json::value(nullptr);
  object["outcome"] = context.outcome ? json::value(workflow::Name(*context.outcome)) : json::value(nullptr);
  json::array allowed;
  for (auto event : machine.AllowedEvents()) {
    if (view == CaseView::kPartner && !CanSendEvent(principal, event)) continue;
    allowed.emplace_back(event);
  }
  object["allowed_events"] = std::move(allowed);
  if (view == CaseView::kPartner) {
    // A partner needs the workflow position of the cases it serves, not the household profile.
    object.erase("vulnerabilities");
    object.erase("programme");
    object.erase("office");
    return object;
  }
  object["destination_country"] = context.destination_country;
  json::object progress;
  progress["counselling_sessions"] = context.counselling_sessions;
  progress["no_shows"] = context.no_shows;
  progress["monitoring_visits_required"] = context.monitoring_visits_required;
  progress["monitoring_visits_done"] = context.monitoring_visits_done;
  progress["reopen_count"] = context.reopen_count;
  object["progress"] = std::move(progress);
  json::array household;
  for (const auto& member : context.household) {
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
  return object;
}

json::array PeopleToJson(const std::vector<persistence::PersonalData>& people) {
  json::array array;
  for (const auto& person : people) {
    json::object entry;
    entry["member_id"] = person.member_id;
    entry["given_names"] = person.given_names;
    entry["family_name"] = person.family_name;
    entry["date_of_birth"] = person.date_of_birth;
    json::array documents;
    for (const auto& document : person.documents) documents.push_back(json::object{{"type", document.type}, {"number", document.number}});
    entry["documents"] = std::move(documents);
    json::array contacts;
    for (const auto& contact : person.contacts) contacts.push_back(json::object{{"kind", contact.kind}, {"value", contact.value}});
    entry["contacts"] = std::move(contacts);
    array.push_back(std::move(entry));
  }
  return array;
}

json::object OutcomeToJson(const persistence::ApplyOutcome& outcome, std::string_view event_id,
                           std::string_view source, std::string_view type) {
  json::object object;
  object["case_id"] = outcome.case_id;
  object["event_id"] = event_id;
  object["source"] = source;
  object["type"] = type;
  object["outcome"] = workflow::Name(outcome.result.verdict);
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
  object["source"] = entry.source;
  object["event_id"] = entry.event_id;
  object["type"] = entry.type;
  object["actor"] = entry.actor;
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

std::variant<CreateTokenRequest, Problem> ParseCreateToken(const json::value& body) {
  if (!body.is_object()) return Problem(ProblemKind::kInvalidRequest, "the token request must be a JSON object");
  Reader reader(body.get_object(), "");
  CreateTokenRequest request;
  request.name = reader.String("name", true, 100).value_or("");
  auto role_name = reader.String("role", true).value_or("");
  if (reader.Result()) return *reader.Result();
  for (char c : request.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return InvalidField("name", "may hold only letters, digits, '-', '_' and '.' (it is the pseudonymous actor id)");
    }
  }
  auto role = RoleFromName(role_name);
  if (!role) return InvalidField("role", "must be one of caseworker, partner, supervisor, admin");
  request.principal.role = *role;
  request.principal.actor = request.name;
  std::string error;
  const auto* scope = reader.Member("scope");
  if (!ScopeFromJson(scope ? *scope : json::value(nullptr), request.principal, error)) {
    return Problem(ProblemKind::kInvalidRequest, error, {{"field", "scope"}});
  }
  return request;
}

persistence::TokenRole ToTokenRole(Role role) { return static_cast<persistence::TokenRole>(role); }

persistence::TokenScope ToTokenScope(const Principal& principal) {
  persistence::TokenScope scope;
  scope.office = principal.office;
  scope.organisation = principal.organisation;
  scope.event_types.assign(principal.event_types.begin(), principal.event_types.end());
  scope.countries.assign(principal.countries.begin(), principal.countries.end());
  return scope;
}

Principal PrincipalFromToken(const persistence::TokenRecord& record) {
  Principal principal;
  principal.token_id = record.token_id;
  principal.actor = record.name;
  principal.role = static_cast<Role>(record.role);
  principal.office = record.scope.office;
  principal.organisation = record.scope.organisation;
  principal.event_types.insert(record.scope.event_types.begin(), record.scope.event_types.end());
  principal.countries.insert(record.scope.countries.begin(), record.scope.countries.end());
  return principal;
}

json::object TokenToJson(const persistence::TokenRecord& record) {
  json::object object;
  object["token_id"] = record.token_id;
  object["name"] = record.name;
  object["role"] = persistence::Name(record.role);
  object["scope"] = ScopeToJson(PrincipalFromToken(record));
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
