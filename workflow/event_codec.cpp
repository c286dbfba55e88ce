// Decoding event data (the CloudEvents `data` member) into typed events. Strict: every member must be
// one the event defines, every string and array has a limit, and errors name the member as a JSON
// pointer relative to `data` without echoing its value.
#include <unordered_map>

#include <boost/json.hpp>

#include "workflow/case.hpp"
#include "workflow/json_util.hpp"

namespace returnflow::workflow {
namespace {

namespace json = boost::json;
using namespace json_util;
namespace ev = events;

/// Reads members of one object of the event data; `at` is the object's JSON pointer under `data`.
class DataReader {
 public:
  DataReader(const json::object& object, std::string at, std::initializer_list<std::string_view> fields)
      : object_(object), at_(std::move(at)) {
    OnlyFields(object_, fields, at_);
  }

  std::string Pointer(std::string_view key) const { return at_ + "/" + PointerToken(key); }
  /// How a message names the member: its pointer without the leading '/' ("findings/0/member_id").
  std::string Label(std::string_view key) const { return Pointer(key).substr(1); }

  const json::value* Find(std::string_view key) const { return json_util::Find(object_, key); }
  const json::value& Require(std::string_view key) const {
    const auto* value = Find(key);
    if (value == nullptr) throw FieldError(fmt::format("'{}' is required", Label(key)), Pointer(key));
    return *value;
  }

  std::string Text(std::string_view key, bool required, std::size_t limit) const {
    const auto* value = required ? &Require(key) : Find(key);
    if (value == nullptr) return {};
    if (!value->is_string()) throw Error(key, "must be a string");
    const auto& text = value->get_string();
    if (required && text.empty()) throw Error(key, "must not be empty");
    if (text.size() > limit) throw Error(key, fmt::format("must be at most {} characters", limit));
    return std::string(text);
  }
  std::string MemberId() const { return Text("member_id", true, 64); }
  std::string Country(std::string_view key) const {
    auto code = Text(key, true, 64);
    if (code.size() != 2 || !std::isupper(static_cast<unsigned char>(code[0])) ||
        !std::isupper(static_cast<unsigned char>(code[1]))) {
      throw Error(key, "must be an ISO 3166-1 alpha-2 code");
    }
    return code;
  }
  bool Flag(std::string_view key, bool required, bool fallback = false) const {
    const auto* value = required ? &Require(key) : Find(key);
    if (value == nullptr) return fallback;
    if (!value->is_bool()) throw Error(key, "must be a boolean");
    return value->get_bool();
  }
  Date Day(std::string_view key) const {
    const auto& value = Require(key);
    const auto parsed = value.is_string() ? ParseDate(value.get_string()) : std::nullopt;
    if (!parsed) throw Error(key, "must be a date (YYYY-MM-DD)");
    return *parsed;
  }
  template <typename Enum, std::size_t N>
  Enum Named(std::string_view key, const std::array<std::string_view, N>& names) const {
    const auto& value = Require(key);
    const auto parsed = value.is_string() ? FromName<Enum>(value.get_string(), names) : std::nullopt;
    if (!parsed) {
      std::string allowed;
      for (const auto name : names) allowed += fmt::format("{}{}", allowed.empty() ? "" : ", ", name);
      throw Error(key, "must be one of: " + allowed);
    }
    return *parsed;
  }
  std::int64_t Count(std::string_view key, std::int64_t low, std::int64_t high, std::int64_t fallback) const {
    const auto* value = Find(key);
    if (value == nullptr) return fallback;
    const auto number = value->is_int64() ? std::optional(value->get_int64()) : std::nullopt;
    if (!number || *number < low || *number > high) throw Error(key, fmt::format("must be an integer from {} to {}", low, high));
    return *number;
  }
  double Score(std::string_view key) const {
    const auto* value = Find(key);
    if (value == nullptr) return 0.0;
    if (!value->is_number()) throw Error(key, "must be a number");
    const double number = value->to_number<double>();
    if (!(number >= 0.0 && number <= 1.0)) throw Error(key, "must be between 0 and 1");
    return number;
  }
  /// A required non-empty array of at most `limit` items.
  const json::array& List(std::string_view key, std::size_t limit) const {
    const auto& value = Require(key);
    if (!value.is_array()) throw Error(key, "must be an array");
    if (value.get_array().empty()) throw Error(key, "must not be empty");
    if (value.get_array().size() > limit) throw Error(key, fmt::format("must have at most {} items", limit));
    return value.get_array();
  }

  FieldError Error(std::string_view key, std::string_view why) const {
    return FieldError(fmt::format("'{}' {}", Label(key), why), Pointer(key));
  }

 private:
  const json::object& object_;
  std::string at_;
};

template <typename E>
Event Empty(const json::object& data) {
  DataReader(data, "", {});
  return E{};
}

/// A household holds at most 50 members (the referral's limit); findings name each at most once.
constexpr std::size_t kMaxMembers = 50;

using Decoder = Event (*)(const json::object&);

const std::unordered_map<std::string_view, Decoder>& Decoders() {
  static const std::unordered_map<std::string_view, Decoder> decoders = {
      {ev::EligibilityReviewStarted::kName, &Empty<ev::EligibilityReviewStarted>},
      {ev::EligibilityConfirmed::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"destination_country"});
         return ev::EligibilityConfirmed{data.Country("destination_country")};
       }},
      {ev::EligibilityRefused::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"reason"});
         return ev::EligibilityRefused{data.Text("reason", true, 200)};
       }},
      {ev::CounsellingSessionHeld::kName, &Empty<ev::CounsellingSessionHeld>},
      {ev::VulnerabilityScreened::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"findings"});
         ev::VulnerabilityScreened event;
         const auto& findings = data.List("findings", kMaxMembers);
         for (std::size_t index = 0; index < findings.size(); ++index) {
           const std::string at = fmt::format("/findings/{}", index);
           if (!findings[index].is_object()) throw FieldError(fmt::format("'{}' must be an object", at.substr(1)), at);
           DataReader finding_reader(findings[index].get_object(), at, {"member_id", "vulnerabilities"});
           ev::VulnerabilityScreened::Finding finding{finding_reader.MemberId(), {}};
           const auto& flags = finding_reader.Require("vulnerabilities");
           if (!flags.is_array()) throw finding_reader.Error("vulnerabilities", "must be an array");
           if (flags.get_array().size() > kVulnerabilityNames.size()) {
             throw finding_reader.Error("vulnerabilities", fmt::format("must have at most {} items", kVulnerabilityNames.size()));
           }
           for (std::size_t flag = 0; flag < flags.get_array().size(); ++flag) {
             const std::string flag_at = fmt::format("{}/vulnerabilities/{}", at, flag);
             const auto& value = flags.get_array()[flag];
             const auto parsed = value.is_string() ? FromName<Vulnerability>(value.get_string(), kVulnerabilityNames)
                                                   : std::nullopt;
             if (!parsed) throw FieldError(fmt::format("'{}' is not a known vulnerability flag", flag_at.substr(1)), flag_at);
             finding.vulnerabilities.push_back(*parsed);
           }
           for (const auto& earlier : event.findings) {
             if (earlier.member_id == finding.member_id) {
               throw FieldError(fmt::format("'{}/member_id' names a member twice", at.substr(1)), at + "/member_id");
             }
           }
           event.findings.push_back(std::move(finding));
         }
         return event;
       }},
      {ev::CapacityAssessed::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"has_capacity"});
         return ev::CapacityAssessed{data.Flag("has_capacity", true)};
       }},
      {ev::BestInterestsDetermined::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"member_id", "in_child_interest"});
         return ev::BestInterestsDetermined{data.MemberId(), data.Flag("in_child_interest", true)};
       }},
      {ev::BestInterestsApproved::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"member_id"});
         return ev::BestInterestsApproved{data.MemberId()};
       }},
      {ev::GuardianRecorded::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"member_id"});
         return ev::GuardianRecorded{data.MemberId()};
       }},
      {ev::ConsentRecorded::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"kind"});
         return ev::ConsentRecorded{data.Named<ConsentKind>("kind", kConsentKindNames)};
       }},
      {ev::PassportVerified::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"expires_on"});
         return ev::PassportVerified{data.Day("expires_on")};
       }},
      {ev::TravelDocumentRequested::kName, &Empty<ev::TravelDocumentRequested>},
      {ev::TravelDocumentIssued::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"expires_on"});
         return ev::TravelDocumentIssued{data.Day("expires_on")};
       }},
      {ev::TravelDocumentRefused::kName, &Empty<ev::TravelDocumentRefused>},
      {ev::ExitClearanceRequested::kName, &Empty<ev::ExitClearanceRequested>},
      {ev::ExitClearanceGranted::kName, &Empty<ev::ExitClearanceGranted>},
      {ev::ExitClearanceNotRequired::kName, &Empty<ev::ExitClearanceNotRequired>},
      {ev::FitnessCertified::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"valid_until", "medical_escort_required"});
         return ev::FitnessCertified{data.Day("valid_until"), data.Flag("medical_escort_required", false)};
       }},
      {ev::FitnessUnfit::kName, &Empty<ev::FitnessUnfit>},
      {ev::TravelBooked::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"departure_date", "route"});
         return ev::TravelBooked{data.Day("departure_date"), data.Text("route", false, 64)};
       }},
      {ev::EscortAssigned::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"kind"});
         return ev::EscortAssigned{data.Named<EscortKind>("kind", kEscortKindNames)};
       }},
      {ev::CaregiverConfirmed::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"member_id"});
         return ev::CaregiverConfirmed{data.MemberId()};
       }},
      {ev::BriefingHeld::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"voluntariness_confirmed"});
         return ev::BriefingHeld{data.Flag("voluntariness_confirmed", true)};
       }},
      {ev::Departed::kName, &Empty<ev::Departed>},
      {ev::NoShow::kName, &Empty<ev::NoShow>},
      {ev::Arrived::kName, &Empty<ev::Arrived>},
      {ev::PlanSubmitted::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"monitoring_visits"});
         return ev::PlanSubmitted{static_cast<int>(data.Count("monitoring_visits", 0, 24, 0))};
       }},
      {ev::PlanApproved::kName, &Empty<ev::PlanApproved>},
      {ev::AssistanceDelivered::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"kind"});
         return ev::AssistanceDelivered{data.Named<AssistanceKind>("kind", kAssistanceKindNames)};
       }},
      {ev::MonitoringVisitCompleted::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"economic", "social", "psychosocial"});
         return ev::MonitoringVisitCompleted{data.Score("economic"), data.Score("social"), data.Score("psychosocial")};
       }},
      {ev::CaseSuspended::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"reason"});
         return ev::CaseSuspended{data.Named<SuspensionReason>("reason", kSuspensionReasonNames)};
       }},
      {ev::CaseResumed::kName, &Empty<ev::CaseResumed>},
      {ev::ConsentWithdrawn::kName, &Empty<ev::ConsentWithdrawn>},
      {ev::CaseClosed::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"outcome"});
         return ev::CaseClosed{data.Named<Outcome>("outcome", kOutcomeNames)};
       }},
      {ev::ClosureRequested::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"outcome", "reason"});
         auto outcome = data.Named<Outcome>("outcome", kOutcomeNames);
         return ev::ClosureRequested{outcome, data.Text("reason", true, 500)};
       }},
      {ev::ClosureApproved::kName, &Empty<ev::ClosureApproved>},
      {ev::ClosureRejected::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"reason"});
         return ev::ClosureRejected{data.Text("reason", true, 500)};
       }},
      {ev::CaseReopened::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"reason"});
         return ev::CaseReopened{data.Text("reason", true, 500)};
       }},
      {ev::PersonalDataErasureRequested::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"ground"});
         return ev::PersonalDataErasureRequested{data.Named<ErasureGround>("ground", kErasureGroundNames)};
       }},
      {ev::PersonalDataErased::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"basis"});
         return ev::PersonalDataErased{data.Named<ErasureBasis>("basis", kErasureBasisNames)};
       }},
      {ev::ProgrammeChanged::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"version"});
         if (!data.Find("version")) throw data.Error("version", "is required");
         return ev::ProgrammeChanged{static_cast<int>(data.Count("version", 1, 1'000'000, 0))};
       }},
      {ev::DeadlinePassed::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"deadline"});
         return ev::DeadlinePassed{data.Text("deadline", true, 64)};
       }},
      {ev::DeadlineApproaching::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"deadline"});
         return ev::DeadlineApproaching{data.Text("deadline", true, 64)};
       }},
      {ev::FitnessExpired::kName, &Empty<ev::FitnessExpired>},
      {ev::TravelDocumentExpired::kName, &Empty<ev::TravelDocumentExpired>},
      {ev::MonitoringVisitDue::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"visit"});
         if (!data.Find("visit")) throw data.Error("visit", "is required");
         return ev::MonitoringVisitDue{static_cast<int>(data.Count("visit", 1, 100, 1))};
       }},
      {ev::MonitoringVisitMissed::kName,
       [](const json::object& d) -> Event {
         DataReader data(d, "", {"visit"});
         if (!data.Find("visit")) throw data.Error("visit", "is required");
         return ev::MonitoringVisitMissed{static_cast<int>(data.Count("visit", 1, 100, 1))};
       }},
      {ev::SuspensionReviewDue::kName, &Empty<ev::SuspensionReviewDue>},
  };
  return decoders;
}

}  // namespace

std::optional<Event> DecodeEvent(std::string_view type, const json::value& data, DecodeError& error) {
  const auto& decoders = Decoders();
  const auto decoder = decoders.find(type);
  if (decoder == decoders.end()) {
    error = {DecodeError::Kind::kUnknownType, "unknown event type", {}};
    return std::nullopt;
  }
  static const json::object kNoData;
  if (!data.is_null() && !data.is_object()) {
    error = {DecodeError::Kind::kInvalidData, "'data' must be a JSON object", {}};
    return std::nullopt;
  }
  try {
    return decoder->second(data.is_null() ? kNoData : data.get_object());
  } catch (const FieldError& field_error) {
    error = {DecodeError::Kind::kInvalidData, field_error.what(), field_error.Pointer()};
    return std::nullopt;
  }
}

}  // namespace returnflow::workflow
