// Decoding event data (the CloudEvents `data` member) into typed events.
#include <unordered_map>

#include <boost/json.hpp>

#include "workflow/case.hpp"
#include "workflow/json_util.hpp"

namespace returnflow::workflow {
namespace {

namespace json = boost::json;
using namespace json_util;
namespace ev = events;

std::string MemberId(const json::object& data) {
  auto member_id = String(Require(data, "member_id"), "member_id");
  if (member_id.empty() || member_id.size() > 64) throw FieldError("'member_id' must be 1 to 64 characters");
  return member_id;
}

std::string CountryCode(const json::object& data, std::string_view key) {
  auto code = String(Require(data, key), key);
  if (code.size() != 2 || !std::isupper(static_cast<unsigned char>(code[0])) ||
      !std::isupper(static_cast<unsigned char>(code[1]))) {
    throw FieldError(fmt::format("'{}' must be an ISO 3166-1 alpha-2 code", key));
  }
  return code;
}

std::string ShortText(const json::object& data, std::string_view key, bool required, std::size_t limit = 200) {
  const auto* value = required ? &Require(data, key) : Find(data, key);
  if (value == nullptr) return {};
  auto text = String(*value, key);
  if (text.size() > limit) throw FieldError(fmt::format("'{}' must be at most {} characters", key, limit));
  return text;
}

template <typename E>
Event Empty(const json::object&) {
  return E{};
}

using Decoder = Event (*)(const json::object&);

const std::unordered_map<std::string_view, Decoder>& Decoders() {
  static const std::unordered_map<std::string_view, Decoder> decoders = {
      {ev::EligibilityReviewStarted::kName, &Empty<ev::EligibilityReviewStarted>},
      {ev::EligibilityConfirmed::kName,
       [](const json::object& d) -> Event { return ev::EligibilityConfirmed{CountryCode(d, "destination_country")}; }},
      {ev::EligibilityRefused::kName,
       [](const json::object& d) -> Event { return ev::EligibilityRefused{ShortText(d, "reason", true)}; }},
      {ev::CounsellingSessionHeld::kName, &Empty<ev::CounsellingSessionHeld>},
      {ev::VulnerabilityScreened::kName,
       [](const json::object& d) -> Event {
         ev::VulnerabilityScreened event;
         const auto& findings = Require(d, "findings");
         if (!findings.is_array() || findings.get_array().empty()) {
           throw FieldError("'findings' must be a non-empty array");
         }
         for (const auto& item : findings.get_array()) {
           if (!item.is_object()) throw FieldError("'findings' items must be objects");
           ev::VulnerabilityScreened::Finding finding{MemberId(item.get_object()), {}};
           const auto& flags = Require(item.get_object(), "vulnerabilities");
           if (!flags.is_array()) throw FieldError("'vulnerabilities' must be an array");
           for (const auto& flag : flags.get_array()) {
             finding.vulnerabilities.push_back(EnumField<Vulnerability>(flag, "vulnerabilities", kVulnerabilityNames));
           }
           event.findings.push_back(std::move(finding));
         }
         return event;
       }},
      {ev::CapacityAssessed::kName,
       [](const json::object& d) -> Event { return ev::CapacityAssessed{Bool(Require(d, "has_capacity"), "has_capacity")}; }},
      {ev::BestInterestsDetermined::kName,
       [](const json::object& d) -> Event {
         return ev::BestInterestsDetermined{MemberId(d), Bool(Require(d, "in_child_interest"), "in_child_interest")};
       }},
      {ev::BestInterestsApproved::kName,
       [](const json::object& d) -> Event { return ev::BestInterestsApproved{MemberId(d)}; }},
      {ev::GuardianRecorded::kName, [](const json::object& d) -> Event { return ev::GuardianRecorded{MemberId(d)}; }},
      {ev::ConsentRecorded::kName,
       [](const json::object& d) -> Event {
         return ev::ConsentRecorded{EnumField<ConsentKind>(Require(d, "kind"), "kind", kConsentKindNames)};
       }},
      {ev::PassportVerified::kName,
       [](const json::object& d) -> Event {
         return ev::PassportVerified{DateField(Require(d, "expires_on"), "expires_on")};
       }},
      {ev::TravelDocumentRequested::kName, &Empty<ev::TravelDocumentRequested>},
      {ev::TravelDocumentIssued::kName,
       [](const json::object& d) -> Event {
         return ev::TravelDocumentIssued{DateField(Require(d, "expires_on"), "expires_on")};
       }},
      {ev::TravelDocumentRefused::kName, &Empty<ev::TravelDocumentRefused>},
      {ev::ExitClearanceRequested::kName, &Empty<ev::ExitClearanceRequested>},
      {ev::ExitClearanceGranted::kName, &Empty<ev::ExitClearanceGranted>},
      {ev::ExitClearanceNotRequired::kName, &Empty<ev::ExitClearanceNotRequired>},
      {ev::FitnessCertified::kName,
       [](const json::object& d) -> Event {
         const auto* escort = Find(d, "medical_escort_required");
         return ev::FitnessCertified{DateField(Require(d, "valid_until"), "valid_until"),
                                     escort ? Bool(*escort, "medical_escort_required") : false};
       }},
      {ev::FitnessUnfit::kName, &Empty<ev::FitnessUnfit>},
      {ev::TravelBooked::kName,
       [](const json::object& d) -> Event {
         return ev::TravelBooked{DateField(Require(d, "departure_date"), "departure_date"),
                                 ShortText(d, "route", false, 64)};
       }},
      {ev::EscortAssigned::kName,
       [](const json::object& d) -> Event {
         return ev::EscortAssigned{EnumField<EscortKind>(Require(d, "kind"), "kind", kEscortKindNames)};
       }},
      {ev::CaregiverConfirmed::kName,
       [](const json::object& d) -> Event { return ev::CaregiverConfirmed{MemberId(d)}; }},
      {ev::BriefingHeld::kName,
       [](const json::object& d) -> Event {
         return ev::BriefingHeld{Bool(Require(d, "voluntariness_confirmed"), "voluntariness_confirmed")};
       }},
      {ev::Departed::kName, &Empty<ev::Departed>},
      {ev::NoShow::kName, &Empty<ev::NoShow>},
      {ev::Arrived::kName, &Empty<ev::Arrived>},
      {ev::PlanSubmitted::kName,
       [](const json::object& d) -> Event {
         const auto* visits = Find(d, "monitoring_visits");
         const auto count = visits ? Integer(*visits, "monitoring_visits") : 0;
         if (count < 0 || count > 24) throw FieldError("'monitoring_visits' must be between 0 and 24");
         return ev::PlanSubmitted{static_cast<int>(count)};
       }},
      {ev::PlanApproved::kName, &Empty<ev::PlanApproved>},
      {ev::AssistanceDelivered::kName,
       [](const json::object& d) -> Event {
         return ev::AssistanceDelivered{EnumField<AssistanceKind>(Require(d, "kind"), "kind", kAssistanceKindNames)};
       }},
      {ev::MonitoringVisitCompleted::kName,
       [](const json::object& d) -> Event {
         ev::MonitoringVisitCompleted event;
         const auto score = [&](std::string_view key) {
           const auto* value = Find(d, key);
           const double number = value ? Number(*value, key) : 0.0;
           if (number < 0.0 || number > 1.0) throw FieldError(fmt::format("'{}' must be between 0 and 1", key));
           return number;
         };
         event.economic = score("economic");
         event.social = score("social");
         event.psychosocial = score("psychosocial");
         return event;
       }},
      {ev::CaseSuspended::kName,
       [](const json::object& d) -> Event {
         return ev::CaseSuspended{
             EnumField<SuspensionReason>(Require(d, "reason"), "reason", kSuspensionReasonNames)};
       }},
      {ev::CaseResumed::kName, &Empty<ev::CaseResumed>},
      {ev::ConsentWithdrawn::kName, &Empty<ev::ConsentWithdrawn>},
      {ev::CaseClosed::kName,
       [](const json::object& d) -> Event {
         return ev::CaseClosed{EnumField<Outcome>(Require(d, "outcome"), "outcome", kOutcomeNames)};
       }},
      {ev::CaseReopened::kName,
       [](const json::object& d) -> Event { return ev::CaseReopened{ShortText(d, "reason", true, 500)}; }},
  };
  return decoders;
}

}  // namespace

std::optional<Event> DecodeEvent(std::string_view type, const json::value& data, DecodeError& error) {
  const auto& decoders = Decoders();
  const auto decoder = decoders.find(type);
  if (decoder == decoders.end()) {
    error = {DecodeError::Kind::kUnknownType, "unknown event type"};
    return std::nullopt;
  }
  static const json::object kNoData;
  if (!data.is_null() && !data.is_object()) {
    error = {DecodeError::Kind::kInvalidData, "'data' must be a JSON object"};
    return std::nullopt;
  }
  try {
    return decoder->second(data.is_null() ? kNoData : data.get_object());
  } catch (const FieldError& field_error) {
    error = {DecodeError::Kind::kInvalidData, field_error.what()};
    return std::nullopt;
  }
}

}  // namespace returnflow::workflow
