#include "workflow/programme.hpp"

#include <algorithm>
#include <array>

#include <boost/json.hpp>

#include "workflow/json_util.hpp"

namespace returnflow::workflow {
namespace {

namespace json = boost::json;
using namespace json_util;

// ISO 3166-1 alpha-2: the codes officially assigned (249), sorted.
constexpr std::array<std::string_view, 249> kCountries = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW"};

json::array Strings(const auto& items) {
  json::array array;
  for (const auto& item : items) array.emplace_back(std::string_view(item));
  return array;
}

int DaysOf(const json::object& object, std::string_view key) {
  return static_cast<int>(Integer(Require(object, key), key));
}

}  // namespace

bool IsCountryCode(std::string_view code) { return std::binary_search(kCountries.begin(), kCountries.end(), code); }

const std::set<std::string>& DefaultDeferrableEvents() {
  static const std::set<std::string> kEvents = {
      "travel_document.passport_verified", "travel_document.requested", "travel_document.issued",
      "travel_document.refused",           "exit_clearance.requested",  "exit_clearance.granted",
      "exit_clearance.not_required",       "fitness.certified",         "fitness.unfit",
      "travel.booked",                     "escort.assigned",           "caregiver.confirmed",
      "travel.departed",                   "travel.arrived",            "assistance.delivered",
      "monitoring.visit_completed",
  };
  return kEvents;
}

void tag_invoke(const json::value_from_tag&, json::value& json, const Programme& programme) {
  json::object object;
  object["code"] = programme.code;
  object["version"] = programme.version;
  object["name"] = programme.name;
  object["unsafe_destinations"] = Strings(programme.unsafe_destinations);
  object["no_show_limit"] = programme.no_show_limit;
  const auto& levels = programme.service_levels;
  object["service_levels_days"] = json::object{{"eligibility", levels.eligibility.count()},
                                               {"counselling", levels.counselling.count()},
                                               {"documentation", levels.documentation.count()},
                                               {"booking", levels.booking.count()},
                                               {"plan_after_arrival", levels.plan_after_arrival.count()}};
  object["briefing_before_departure_hours"] = levels.briefing_before_departure.count();
  json::array visits;
  for (const auto& visit : programme.monitoring) {
    visits.push_back(json::object{{"after_days", visit.after.count()}, {"grace_days", visit.grace.count()}});
  }
  object["monitoring"] = std::move(visits);
  object["early_event_wait_days"] = programme.early_event_wait.count();
  object["deferrable_events"] = Strings(programme.deferrable_events);
  object["suspension_review_days"] = programme.suspension_review.count();
  object["deadline_warning_days"] = programme.deadline_warning.count();
  // Only when set: definitions stored before retention existed keep their canonical form.
  if (programme.personal_data_retention.count() > 0) {
    object["personal_data_retention_days"] = programme.personal_data_retention.count();
  }
  json::array closures;
  for (const auto outcome : programme.closures_exempt_from_approval) closures.emplace_back(Name(outcome));
  object["closures_exempt_from_approval"] = std::move(closures);
  object["reports"] = json::object{{"small_cells", Name(programme.reports.small_cells)},
                                   {"suppress_below", programme.reports.suppress_below}};
  json = std::move(object);
}

Programme tag_invoke(const json::value_to_tag<Programme>&, const json::value& json) {
  if (!json.is_object()) throw FieldError("a programme must be an object");
  const auto& object = json.get_object();
  Programme programme;
  programme.code = String(Require(object, "code"), "code");
  programme.version = static_cast<int>(Integer(Require(object, "version"), "version"));
  programme.name = String(Require(object, "name"), "name");
  for (const auto& code : Require(object, "unsafe_destinations").as_array()) {
    programme.unsafe_destinations.insert(String(code, "unsafe_destinations"));
  }
  programme.no_show_limit = static_cast<int>(Integer(Require(object, "no_show_limit"), "no_show_limit"));
  const auto& levels = Require(object, "service_levels_days").as_object();
  programme.service_levels.eligibility = Days{DaysOf(levels, "eligibility")};
  programme.service_levels.counselling = Days{DaysOf(levels, "counselling")};
  programme.service_levels.documentation = Days{DaysOf(levels, "documentation")};
  programme.service_levels.booking = Days{DaysOf(levels, "booking")};
  programme.service_levels.plan_after_arrival = Days{DaysOf(levels, "plan_after_arrival")};
  programme.service_levels.briefing_before_departure =
      std::chrono::hours{Integer(Require(object, "briefing_before_departure_hours"), "briefing_before_departure_hours")};
  programme.monitoring.clear();
  for (const auto& visit : Require(object, "monitoring").as_array()) {
    const auto& entry = visit.as_object();
    programme.monitoring.push_back({Days{DaysOf(entry, "after_days")}, Days{DaysOf(entry, "grace_days")}});
  }
  programme.early_event_wait = Days{DaysOf(object, "early_event_wait_days")};
  for (const auto& type : Require(object, "deferrable_events").as_array()) {
    programme.deferrable_events.insert(String(type, "deferrable_events"));
  }
  programme.suspension_review = Days{DaysOf(object, "suspension_review_days")};
  // Absent from definitions stored before the warning existed: those keep the default.
  if (object.contains("deadline_warning_days")) programme.deadline_warning = Days{DaysOf(object, "deadline_warning_days")};
  if (object.contains("personal_data_retention_days")) {
    programme.personal_data_retention = Days{DaysOf(object, "personal_data_retention_days")};
  }
  if (const auto* exempt = object.if_contains("closures_exempt_from_approval")) {
    for (const auto& outcome : exempt->as_array()) {
      programme.closures_exempt_from_approval.insert(
          EnumField<Outcome>(outcome, "closures_exempt_from_approval", kOutcomeNames));
    }
  } else {
    // Stored before closures needed approval: the old list of those needing a supervisor.
    std::set<Outcome> needing;
    for (const auto& outcome : Require(object, "closures_needing_supervisor").as_array()) {
      needing.insert(EnumField<Outcome>(outcome, "closures_needing_supervisor", kOutcomeNames));
    }
    programme.closures_exempt_from_approval = ExemptFromNeedingSupervisor(needing);
  }
  // Absent from definitions stored before reports existed: those keep the default policy.
  if (const auto* reports = object.if_contains("reports")) {
    const auto& policy = reports->as_object();
    programme.reports.small_cells = EnumField<SmallCells>(Require(policy, "small_cells"), "small_cells", kSmallCellsNames);
    programme.reports.suppress_below = static_cast<int>(Integer(Require(policy, "suppress_below"), "suppress_below"));
  }
  return programme;
}

bool ClosureNeedsApproval(const Programme& programme, Outcome outcome) {
  return outcome != Outcome::kWithdrawn && outcome != Outcome::kDeceased &&
         !programme.closures_exempt_from_approval.contains(outcome);
}

std::set<Outcome> ExemptFromNeedingSupervisor(const std::set<Outcome>& needing_supervisor) {
  if (needing_supervisor.empty()) return Programme{}.closures_exempt_from_approval;
  std::set<Outcome> exempt;
  for (std::size_t index = 0; index < kOutcomeNames.size(); ++index) {
    const auto outcome = static_cast<Outcome>(index);
    if (!needing_supervisor.contains(outcome)) exempt.insert(outcome);
  }
  return exempt;
}

}  // namespace returnflow::workflow
