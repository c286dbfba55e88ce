#include "workflow/context.hpp"

#include <unordered_map>

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
const json::object& AsObject(const json::value& value, std::string_view what) {
  if (!value.is_object()) throw FieldError(fmt::format("'{}' must be an object", what));
  return value.get_object();
}

}  // namespace

std::set<Vulnerability> CaseContext::HouseholdVulnerabilities() const {
  std::set<Vulnerability> flags;
  for (const auto& member : household) flags.insert(member.vulnerabilities.begin(), member.vulnerabilities.end());
  return flags;
}

bool CaseContext::HasUnaccompaniedOrSeparatedChild() const {
  for (const auto& member : household) {
    if (member.IsUnaccompaniedOrSeparatedChild()) return true;
  }
  return false;
}

// A member is saved as a compact array, [member_id, relationship, sex, birth_year, [vulnerabilities...]]:
// households are read and written on every event, and an array needs no key lookups. An object with
// those keys (as the API and older saved forms use) is read too.
void tag_invoke(const json::value_from_tag&, json::value& json, const HouseholdMember& member) {
  json::array array(json.storage());
  array.reserve(5);
  array.emplace_back(member.member_id);
  array.emplace_back(Name(member.relationship));
  array.emplace_back(Name(member.sex));
  array.emplace_back(member.birth_year);
  array.emplace_back(EnumArray(member.vulnerabilities, kVulnerabilityNames, json.storage()));
  json = std::move(array);
}

namespace {

std::string MemberId(const json::value& value) {
  auto member_id = String(value, "member_id");
  if (member_id.empty() || member_id.size() > 64) throw FieldError("'member_id' must be 1 to 64 characters");
  return member_id;
}

}  // namespace

HouseholdMember tag_invoke(const json::value_to_tag<HouseholdMember>&, const json::value& json) {
  HouseholdMember member;
  if (const auto* array = json.if_array()) {
    if (array->size() != 5) throw FieldError("a household member must have 5 fields");
    member.member_id = MemberId((*array)[0]);
    member.relationship = EnumField<Relationship>((*array)[1], "relationship", kRelationshipNames);
    member.sex = EnumField<Sex>((*array)[2], "sex", kSexNames);
    member.birth_year = static_cast<int>(Integer((*array)[3], "birth_year"));
    member.vulnerabilities = EnumSet<Vulnerability>((*array)[4], "vulnerabilities", kVulnerabilityNames);
    return member;
  }
  const auto& object = AsObject(json, "household member");
  member.member_id = MemberId(Require(object, "member_id"));
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
  programme["code"] = context.programme.code;
  programme["version"] = context.programme.version;
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

  if (context.travel_document_requests) object["travel_document_requests"] = context.travel_document_requests;
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
  if (!context.monitoring_visits_announced.empty()) {
    object["monitoring_visits_announced"] = json::value_from(context.monitoring_visits_announced, storage);
  }
  if (!context.monitoring_visits_missed.empty()) {
    object["monitoring_visits_missed"] = json::value_from(context.monitoring_visits_missed, storage);
  }
  if (!context.warned.empty()) object["warned"] = json::value_from(context.warned, storage);
  if (!context.overdue.empty()) object["overdue"] = json::value_from(context.overdue, storage);
  PutInstant(object, "suspended_at", context.suspended_at);
  if (context.suspension_review_due) object["suspension_review_due"] = true;

  PutEnum(object, "suspension", context.suspension, kSuspensionReasonNames);
  PutEnum(object, "outcome", context.outcome, kOutcomeNames);
  if (context.closure_request) {
    const auto& request = *context.closure_request;
    object["closure_request"] = json::object{{"outcome", Name(request.outcome)},
                                             {"reason", request.reason},
                                             {"requested_by", request.requested_by},
                                             {"requested_at", FormatInstant(request.requested_at)}};
  }
  if (context.reopen_count) object["reopen_count"] = context.reopen_count;
  if (context.erasure_requested_by) object["erasure_requested_by"] = *context.erasure_requested_by;
  if (context.personal_data_erased) object["personal_data_erased"] = true;
  json = std::move(object);
}

namespace {

/// Every key of the saved context. Restoring is on the hot path of every event, so the object is read
/// in one pass, dispatching on each key present, rather than looking up every possible key in turn.
enum class ContextKey {
  kProgramme, kHostCountry, kOriginCountry, kDestinationCountry, kHousehold, kOpenedAt,
  kCounsellingSessions, kHasCapacity, kConsent, kConsentAt, kBestInterests,
  kTravelDocumentRequests, kTravelDocumentExpiresOn, kFitnessValidUntil, kMedicalEscortRequired,
  kDepartureDate, kRoute, kChildEscortAssigned, kMedicalEscortAssigned, kVoluntarinessReconfirmed, kNoShows,
  kCaregiversConfirmed, kDepartedAt, kArrivedAt,
  kPlanSubmitted, kPlanApproved, kMonitoringVisitsRequired, kMonitoringVisitsDone, kAssistanceDelivered,
  kSuspension, kOutcome, kClosureRequest, kReopenCount,
  kMonitoringVisitsAnnounced, kMonitoringVisitsMissed, kWarned, kOverdue, kSuspendedAt, kSuspensionReviewDue,
  kErasureRequestedBy, kPersonalDataErased,
};

const std::unordered_map<std::string_view, ContextKey>& ContextKeys() {
  static const std::unordered_map<std::string_view, ContextKey> keys = {
      {"programme", ContextKey::kProgramme}, {"host_country", ContextKey::kHostCountry},
      {"origin_country", ContextKey::kOriginCountry}, {"destination_country", ContextKey::kDestinationCountry},
      {"household", ContextKey::kHousehold}, {"opened_at", ContextKey::kOpenedAt},
      {"counselling_sessions", ContextKey::kCounsellingSessions}, {"has_capacity", ContextKey::kHasCapacity},
      {"consent", ContextKey::kConsent}, {"consent_at", ContextKey::kConsentAt},
      {"best_interests", ContextKey::kBestInterests},
      {"travel_document_requests", ContextKey::kTravelDocumentRequests},
      {"travel_document_expires_on", ContextKey::kTravelDocumentExpiresOn},
      {"fitness_valid_until", ContextKey::kFitnessValidUntil},
      {"medical_escort_required", ContextKey::kMedicalEscortRequired},
      {"departure_date", ContextKey::kDepartureDate}, {"route", ContextKey::kRoute},
      {"child_escort_assigned", ContextKey::kChildEscortAssigned},
      {"medical_escort_assigned", ContextKey::kMedicalEscortAssigned},
      {"voluntariness_reconfirmed", ContextKey::kVoluntarinessReconfirmed}, {"no_shows", ContextKey::kNoShows},
      {"caregivers_confirmed", ContextKey::kCaregiversConfirmed}, {"departed_at", ContextKey::kDepartedAt},
      {"arrived_at", ContextKey::kArrivedAt}, {"plan_submitted", ContextKey::kPlanSubmitted},
      {"plan_approved", ContextKey::kPlanApproved},
      {"monitoring_visits_required", ContextKey::kMonitoringVisitsRequired},
      {"monitoring_visits_done", ContextKey::kMonitoringVisitsDone},
      {"assistance_delivered", ContextKey::kAssistanceDelivered}, {"suspension", ContextKey::kSuspension},
      {"outcome", ContextKey::kOutcome}, {"closure_request", ContextKey::kClosureRequest},
      {"reopen_count", ContextKey::kReopenCount},
      {"monitoring_visits_announced", ContextKey::kMonitoringVisitsAnnounced},
      {"monitoring_visits_missed", ContextKey::kMonitoringVisitsMissed}, {"warned", ContextKey::kWarned},
      {"overdue", ContextKey::kOverdue},
      {"suspended_at", ContextKey::kSuspendedAt}, {"suspension_review_due", ContextKey::kSuspensionReviewDue},
      {"erasure_requested_by", ContextKey::kErasureRequestedBy}, {"personal_data_erased", ContextKey::kPersonalDataErased},
  };
  return keys;
}

const json::array& AsArray(const json::value& value, std::string_view key) {
  if (!value.is_array()) throw FieldError(fmt::format("'{}' must be an array", key));
  return value.get_array();
}

/// {"code", "version"}; a context saved before programmes were versioned held the rules themselves
/// (unsafe_destinations, no_show_limit, default_monitoring_visits): such a case runs under the latest
/// version of its programme (version 0, the code from its row).
ProgrammeRef ReadProgramme(const json::value& value) {
  const auto& programme = AsObject(value, "programme");
  ProgrammeRef reference;
  if (const auto* code = Find(programme, "code")) reference.code = String(*code, "programme.code");
  reference.version = GetInt(programme, "version", 0);
  return reference;
}

std::set<int> IntegerSet(const json::value& value, std::string_view key) {
  std::set<int> numbers;
  for (const auto& item : AsArray(value, key)) numbers.insert(static_cast<int>(Integer(item, key)));
  return numbers;
}

std::map<std::string, BestInterests> ReadBestInterests(const json::value& value) {
  std::map<std::string, BestInterests> determinations;
  for (const auto& [member_id, entry_value] : AsObject(value, "best_interests")) {
    const auto& entry = AsObject(entry_value, "best_interests");
    BestInterests bid;
    bid.in_child_interest = GetBool(entry, "in_child_interest");
    if (const auto* approver = Find(entry, "approved_by")) bid.approved_by = String(*approver, "approved_by");
    bid.guardian_recorded = GetBool(entry, "guardian_recorded");
    determinations.emplace(std::string(member_id), std::move(bid));
  }
  return determinations;
}

std::map<AssistanceKind, int> ReadAssistance(const json::value& value) {
  std::map<AssistanceKind, int> delivered;
  for (const auto& [kind, count] : AsObject(value, "assistance_delivered")) {
    const auto parsed = FromName<AssistanceKind>(kind, kAssistanceKindNames);
    if (!parsed) throw FieldError("'assistance_delivered' names an unknown assistance kind");
    delivered[*parsed] = static_cast<int>(Integer(count, "assistance_delivered"));
  }
  return delivered;
}

ClosureRequest ReadClosureRequest(const json::value& value) {
  const auto& entry = AsObject(value, "closure_request");
  ClosureRequest request;
  request.outcome = EnumField<Outcome>(Require(entry, "outcome"), "closure_request.outcome", kOutcomeNames);
  request.reason = String(Require(entry, "reason"), "closure_request.reason");
  request.requested_by = String(Require(entry, "requested_by"), "closure_request.requested_by");
  request.requested_at = InstantField(Require(entry, "requested_at"), "closure_request.requested_at");
  return request;
}

}  // namespace

CaseContext tag_invoke(const json::value_to_tag<CaseContext>&, const json::value& json) {
  const auto& object = AsObject(json, "context");
  CaseContext context;
  const auto& keys = ContextKeys();
  for (const auto& [key, value] : object) {
    const auto known = keys.find(key);
    if (known == keys.end()) throw FieldError(fmt::format("'{}' is not a context field", std::string_view(key)));
    if (value.is_null()) continue;
    const std::string_view name = key;
    switch (known->second) {
      case ContextKey::kProgramme: context.programme = ReadProgramme(value); break;
      case ContextKey::kHostCountry: context.host_country = String(value, name); break;
      case ContextKey::kOriginCountry: context.origin_country = String(value, name); break;
      case ContextKey::kDestinationCountry: context.destination_country = String(value, name); break;
      case ContextKey::kHousehold:
        for (const auto& member : AsArray(value, name)) context.household.push_back(json::value_to<HouseholdMember>(member));
        break;
      case ContextKey::kOpenedAt: context.opened_at = InstantField(value, name); break;
      case ContextKey::kCounsellingSessions: context.counselling_sessions = static_cast<int>(Integer(value, name)); break;
      case ContextKey::kHasCapacity: context.has_capacity = Bool(value, name); break;
      case ContextKey::kConsent: context.consent = EnumField<ConsentKind>(value, name, kConsentKindNames); break;
      case ContextKey::kConsentAt: context.consent_at = InstantField(value, name); break;
      case ContextKey::kBestInterests: context.best_interests = ReadBestInterests(value); break;
      case ContextKey::kTravelDocumentRequests:
        context.travel_document_requests = static_cast<int>(Integer(value, name));
        break;
      case ContextKey::kTravelDocumentExpiresOn: context.travel_document_expires_on = DateField(value, name); break;
      case ContextKey::kFitnessValidUntil: context.fitness_valid_until = DateField(value, name); break;
      case ContextKey::kMedicalEscortRequired: context.medical_escort_required = Bool(value, name); break;
      case ContextKey::kDepartureDate: context.departure_date = DateField(value, name); break;
      case ContextKey::kRoute: context.route = String(value, name); break;
      case ContextKey::kChildEscortAssigned: context.child_escort_assigned = Bool(value, name); break;
      case ContextKey::kMedicalEscortAssigned: context.medical_escort_assigned = Bool(value, name); break;
      case ContextKey::kVoluntarinessReconfirmed: context.voluntariness_reconfirmed = Bool(value, name); break;
      case ContextKey::kNoShows: context.no_shows = static_cast<int>(Integer(value, name)); break;
      case ContextKey::kCaregiversConfirmed:
        for (const auto& member_id : AsArray(value, name)) context.caregivers_confirmed.insert(String(member_id, name));
        break;
      case ContextKey::kDepartedAt: context.departed_at = InstantField(value, name); break;
      case ContextKey::kArrivedAt: context.arrived_at = InstantField(value, name); break;
      case ContextKey::kPlanSubmitted: context.plan_submitted = Bool(value, name); break;
      case ContextKey::kPlanApproved: context.plan_approved = Bool(value, name); break;
      case ContextKey::kMonitoringVisitsRequired:
        context.monitoring_visits_required = static_cast<int>(Integer(value, name));
        break;
      case ContextKey::kMonitoringVisitsDone: context.monitoring_visits_done = static_cast<int>(Integer(value, name)); break;
      case ContextKey::kAssistanceDelivered: context.assistance_delivered = ReadAssistance(value); break;
      case ContextKey::kSuspension: context.suspension = EnumField<SuspensionReason>(value, name, kSuspensionReasonNames); break;
      case ContextKey::kOutcome: context.outcome = EnumField<Outcome>(value, name, kOutcomeNames); break;
      case ContextKey::kClosureRequest: context.closure_request = ReadClosureRequest(value); break;
      case ContextKey::kReopenCount: context.reopen_count = static_cast<int>(Integer(value, name)); break;
      case ContextKey::kMonitoringVisitsAnnounced: context.monitoring_visits_announced = IntegerSet(value, name); break;
      case ContextKey::kMonitoringVisitsMissed: context.monitoring_visits_missed = IntegerSet(value, name); break;
      case ContextKey::kWarned:
        for (const auto& kind : AsArray(value, name)) context.warned.insert(String(kind, name));
        break;
      case ContextKey::kOverdue:
        for (const auto& kind : AsArray(value, name)) context.overdue.insert(String(kind, name));
        break;
      case ContextKey::kSuspendedAt: context.suspended_at = InstantField(value, name); break;
      case ContextKey::kSuspensionReviewDue: context.suspension_review_due = Bool(value, name); break;
      case ContextKey::kErasureRequestedBy: context.erasure_requested_by = String(value, name); break;
      case ContextKey::kPersonalDataErased: context.personal_data_erased = Bool(value, name); break;
    }
  }
  return context;
}

}  // namespace returnflow::workflow
