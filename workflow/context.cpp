#include "workflow/context.hpp"

#include <boost/json.hpp>

#include "workflow/json_util.hpp"

namespace returnflow::workflow {
namespace {

namespace json = boost::json;
using namespace json_util;

template <typename Enum, std::size_t N>
json::array EnumArray(const std::set<Enum>& values, const std::array<std::string_view, N>& names,
                      const json::storage_ptr& storage) {
  json::array array(storage);
  for (const auto value : values) array.emplace_back(NameOf(value, names));
  return array;
}

template <typename Enum, std::size_t N>
std::set<Enum> EnumSet(const json::value& value, std::string_view key, const std::array<std::string_view, N>& names) {
  if (!value.is_array()) throw FieldError(fmt::format("'{}' must be an array", key));
  std::set<Enum> result;
  for (const auto& item : value.get_array()) result.insert(EnumField<Enum>(item, key, names));
  return result;
}

void PutDate(json::object& object, std::string_view key, const std::optional<Date>& date) {
  if (date) object[key] = FormatDate(*date);
}
void PutInstant(json::object& object, std::string_view key, const std::optional<Instant>& instant) {
  if (instant) object[key] = FormatInstant(*instant);
}
template <typename Enum, std::size_t N>
void PutEnum(json::object& object, std::string_view key, const std::optional<Enum>& value,
             const std::array<std::string_view, N>& names) {
  if (value) object[key] = NameOf(*value, names);
}

std::optional<Date> GetDate(const json::object& object, std::string_view key) {
  const auto* value = Find(object, key);
  return value ? std::optional(DateField(*value, key)) : std::nullopt;
}
std::optional<Instant> GetInstant(const json::object& object, std::string_view key) {
  const auto* value = Find(object, key);
  return value ? std::optional(InstantField(*value, key)) : std::nullopt;
}
template <typename Enum, std::size_t N>
std::optional<Enum> GetEnum(const json::object& object, std::string_view key,
                            const std::array<std::string_view, N>& names) {
  const auto* value = Find(object, key);
  return value ? std::optional(EnumField<Enum>(*value, key, names)) : std::nullopt;
}
int GetInt(const json::object& object, std::string_view key, int fallback = 0) {
  const auto* value = Find(object, key);
  return value ? static_cast<int>(Integer(*value, key)) : fallback;
}
bool GetBool(const json::object& object, std::string_view key) {
  const auto* value = Find(object, key);
  return value ? Bool(*value, key) : false;
}
std::string GetString(const json::object& object, std::string_view key) {
  const auto* value = Find(object, key);
  return value ? String(*value, key) : std::string();
}
const json::object& AsObject(const json::value& value, std::string_view what) {
  if (!value.is_object()) throw FieldError(fmt::format("'{}' must be an object", what));
  return value.get_object();
}

}  // namespace

bool CaseContext::HasUnaccompaniedOrSeparatedChild() const {
  for (const auto& member : household) {
    if (member.IsUnaccompaniedOrSeparatedChild()) return true;
  }
  return false;
}

void tag_invoke(const json::value_from_tag&, json::value& json, const HouseholdMember& member) {
  json::object object(json.storage());
  object["member_id"] = member.member_id;
  object["relationship"] = Name(member.relationship);
  object["sex"] = Name(member.sex);
  object["birth_year"] = member.birth_year;
  object["vulnerabilities"] = EnumArray(member.vulnerabilities, kVulnerabilityNames, json.storage());
  json = std::move(object);
}

HouseholdMember tag_invoke(const json::value_to_tag<HouseholdMember>&, const json::value& json) {
  const auto& object = AsObject(json, "household member");
  HouseholdMember member;
  member.member_id = String(Require(object, "member_id"), "member_id");
  if (member.member_id.empty() || member.member_id.size() > 64) {
    throw FieldError("'member_id' must be 1 to 64 characters");
  }
  member.relationship = GetEnum<Relationship>(object, "relationship", kRelationshipNames).value_or(Relationship::kPrincipal);
  member.sex = GetEnum<Sex>(object, "sex", kSexNames).value_or(Sex::kUnknown);
  member.birth_year = GetInt(object, "birth_year");
  if (const auto* flags = Find(object, "vulnerabilities")) {
    member.vulnerabilities = EnumSet<Vulnerability>(*flags, "vulnerabilities", kVulnerabilityNames);
  }
  return member;
}

void tag_invoke(const json::value_from_tag&, json::value& json, const CaseContext& context) {
  const auto& storage = json.storage();
  json::object object(32, storage);
  json::object programme(storage);
  json::array unsafe(storage);
  for (const auto& code : context.programme.unsafe_destinations) unsafe.emplace_back(code);
  programme["unsafe_destinations"] = std::move(unsafe);
  programme["no_show_limit"] = context.programme.no_show_limit;
  programme["default_monitoring_visits"] = context.programme.default_monitoring_visits;
  object["programme"] = std::move(programme);
  object["host_country"] = context.host_country;
  object["origin_country"] = context.origin_country;
  if (!context.destination_country.empty()) object["destination_country"] = context.destination_country;
  object["household"] = json::value_from(context.household, storage);
  object["opened_at"] = FormatInstant(context.opened_at);

  if (context.counselling_sessions) object["counselling_sessions"] = context.counselling_sessions;
  if (context.has_capacity) object["has_capacity"] = *context.has_capacity;
  PutEnum(object, "consent", context.consent, kConsentKindNames);
  PutInstant(object, "consent_at", context.consent_at);
  if (!context.best_interests.empty()) {
    json::object determinations(storage);
    for (const auto& [member_id, bid] : context.best_interests) {
      json::object entry(storage);
      entry["in_child_interest"] = bid.in_child_interest;
      if (bid.approved_by) entry["approved_by"] = *bid.approved_by;
      entry["guardian_recorded"] = bid.guardian_recorded;
      determinations[member_id] = std::move(entry);
    }
    object["best_interests"] = std::move(determinations);
  }

  PutDate(object, "travel_document_expires_on", context.travel_document_expires_on);
  PutDate(object, "fitness_valid_until", context.fitness_valid_until);
  if (context.medical_escort_required) object["medical_escort_required"] = true;

  PutDate(object, "departure_date", context.departure_date);
  if (!context.route.empty()) object["route"] = context.route;
  if (context.child_escort_assigned) object["child_escort_assigned"] = true;
  if (context.medical_escort_assigned) object["medical_escort_assigned"] = true;
  if (context.voluntariness_reconfirmed) object["voluntariness_reconfirmed"] = true;
  if (context.no_shows) object["no_shows"] = context.no_shows;
  if (!context.caregivers_confirmed.empty()) object["caregivers_confirmed"] = json::value_from(context.caregivers_confirmed, storage);
  PutInstant(object, "departed_at", context.departed_at);
  PutInstant(object, "arrived_at", context.arrived_at);

  if (context.plan_submitted) object["plan_submitted"] = true;
  if (context.plan_approved) object["plan_approved"] = true;
  if (context.monitoring_visits_required) object["monitoring_visits_required"] = context.monitoring_visits_required;
  if (context.monitoring_visits_done) object["monitoring_visits_done"] = context.monitoring_visits_done;
  if (!context.assistance_delivered.empty()) {
    json::object assistance(storage);
    for (const auto& [kind, count] : context.assistance_delivered) assistance[Name(kind)] = count;
    object["assistance_delivered"] = std::move(assistance);
  }

  PutEnum(object, "suspension", context.suspension, kSuspensionReasonNames);
  PutEnum(object, "pending_suspension", context.pending_suspension, kSuspensionReasonNames);
  PutEnum(object, "outcome", context.outcome, kOutcomeNames);
  PutEnum(object, "pending_outcome", context.pending_outcome, kOutcomeNames);
  if (context.reopen_count) object["reopen_count"] = context.reopen_count;
  json = std::move(object);
}

CaseContext tag_invoke(const json::value_to_tag<CaseContext>&, const json::value& json) {
  const auto& object = AsObject(json, "context");
  CaseContext context;
  if (const auto* programme_value = Find(object, "programme")) {
    const auto& programme = AsObject(*programme_value, "programme");
    if (const auto* unsafe = Find(programme, "unsafe_destinations")) {
      if (!unsafe->is_array()) throw FieldError("'unsafe_destinations' must be an array");
      for (const auto& code : unsafe->get_array()) {
        context.programme.unsafe_destinations.insert(String(code, "unsafe_destinations"));
      }
    }
    context.programme.no_show_limit = GetInt(programme, "no_show_limit", 3);
    context.programme.default_monitoring_visits = GetInt(programme, "default_monitoring_visits", 3);
  }
  context.host_country = GetString(object, "host_country");
  context.origin_country = GetString(object, "origin_country");
  context.destination_country = GetString(object, "destination_country");
  if (const auto* household = Find(object, "household")) {
    if (!household->is_array()) throw FieldError("'household' must be an array");
    for (const auto& member : household->get_array()) context.household.push_back(json::value_to<HouseholdMember>(member));
  }
  context.opened_at = GetInstant(object, "opened_at").value_or(Instant{});

  context.counselling_sessions = GetInt(object, "counselling_sessions");
  if (const auto* capacity = Find(object, "has_capacity")) context.has_capacity = Bool(*capacity, "has_capacity");
  context.consent = GetEnum<ConsentKind>(object, "consent", kConsentKindNames);
  context.consent_at = GetInstant(object, "consent_at");
  if (const auto* determinations = Find(object, "best_interests")) {
    for (const auto& [member_id, entry_value] : AsObject(*determinations, "best_interests")) {
      const auto& entry = AsObject(entry_value, "best_interests");
      BestInterests bid;
      bid.in_child_interest = GetBool(entry, "in_child_interest");
      if (const auto* approver = Find(entry, "approved_by")) bid.approved_by = String(*approver, "approved_by");
      bid.guardian_recorded = GetBool(entry, "guardian_recorded");
      context.best_interests.emplace(std::string(member_id), std::move(bid));
    }
  }

  context.travel_document_expires_on = GetDate(object, "travel_document_expires_on");
  context.fitness_valid_until = GetDate(object, "fitness_valid_until");
  context.medical_escort_required = GetBool(object, "medical_escort_required");

  context.departure_date = GetDate(object, "departure_date");
  context.route = GetString(object, "route");
  context.child_escort_assigned = GetBool(object, "child_escort_assigned");
  context.medical_escort_assigned = GetBool(object, "medical_escort_assigned");
  context.voluntariness_reconfirmed = GetBool(object, "voluntariness_reconfirmed");
  context.no_shows = GetInt(object, "no_shows");
  if (const auto* caregivers = Find(object, "caregivers_confirmed")) {
    if (!caregivers->is_array()) throw FieldError("'caregivers_confirmed' must be an array");
    for (const auto& member_id : caregivers->get_array()) {
      context.caregivers_confirmed.insert(String(member_id, "caregivers_confirmed"));
    }
  }
  context.departed_at = GetInstant(object, "departed_at");
  context.arrived_at = GetInstant(object, "arrived_at");

  context.plan_submitted = GetBool(object, "plan_submitted");
  context.plan_approved = GetBool(object, "plan_approved");
  context.monitoring_visits_required = GetInt(object, "monitoring_visits_required");
  context.monitoring_visits_done = GetInt(object, "monitoring_visits_done");
  if (const auto* assistance = Find(object, "assistance_delivered")) {
    for (const auto& [kind, count] : AsObject(*assistance, "assistance_delivered")) {
      const auto parsed = FromName<AssistanceKind>(kind, kAssistanceKindNames);
      if (!parsed) throw FieldError("'assistance_delivered' names an unknown assistance kind");
      context.assistance_delivered[*parsed] = static_cast<int>(Integer(count, "assistance_delivered"));
    }
  }

  context.suspension = GetEnum<SuspensionReason>(object, "suspension", kSuspensionReasonNames);
  context.pending_suspension = GetEnum<SuspensionReason>(object, "pending_suspension", kSuspensionReasonNames);
  context.outcome = GetEnum<Outcome>(object, "outcome", kOutcomeNames);
  context.pending_outcome = GetEnum<Outcome>(object, "pending_outcome", kOutcomeNames);
  context.reopen_count = GetInt(object, "reopen_count");
  return context;
}

}  // namespace returnflow::workflow
