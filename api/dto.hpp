#pragma once
/// Request and response bodies: JSON in, engine types out, and back. Pure; no I/O.
///
/// Bodies are read strictly: a member the request does not define is refused (400, naming it as a JSON
/// pointer), every string and array has a limit, and problems name members without echoing values.
#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>

#include "api/problem.hpp"
#include "engine/engine.hpp"
#include "persistence/repository.hpp"
#include "workflow/consent.hpp"

namespace returnflow::api {

// Limits of a referral.
inline constexpr std::size_t kMaxHouseholdMembers = 50;
inline constexpr std::size_t kMaxPartners = workflow::kMaxPartnersPerCase;
inline constexpr std::size_t kMaxDocuments = 10;
inline constexpr std::size_t kMaxContacts = 10;

/// Validates and converts the body of POST /cases (meta's actor and time are the engine's to fill).
std::variant<persistence::NewCase, Problem> ParseCreateCase(const boost::json::value& body);

/// GET /cases/{id}, the body of POST /cases, and (summary views) search rows.
boost::json::object CaseViewToJson(const engine::CaseView& view);
boost::json::array PeopleToJson(const std::vector<persistence::PersonalData>& people);


/// The body answering one event (success or rejection alike).
boost::json::object OutcomeToJson(const persistence::ApplyOutcome& outcome, const engine::EventEnvelope& event);
boost::json::object HistoryEntryToJson(const persistence::HistoryEntry& entry);
boost::json::object IncidentToJson(const persistence::Incident& incident);
/// A programme's authoring shape with its code and version (GET /programmes, /programmes/{code}).
boost::json::object ProgrammeToJson(const workflow::Programme& programme);

/// POST /tokens.
/// The body of POST /testing/clock: {"advance": "30d"} or {"seconds": 3600}.
std::variant<std::chrono::seconds, Problem> ParseClockAdvance(const boost::json::value& body);
std::variant<engine::NewToken, Problem> ParseCreateToken(const boost::json::value& body);
/// PATCH /cases/{id}/people/{member}: a JSON object with exactly one of the personal-data fields,
/// validated as at referral. The field's name and the data carrying it.
std::variant<std::pair<std::string, persistence::PersonalData>, Problem> ParseCorrection(const boost::json::value& body);
boost::json::object TokenToJson(const persistence::TokenRecord& record);
/// A signed checkpoint (POST /admin/checkpoints, `returnflow checkpoint`), with its public key as PEM.
boost::json::object CheckpointToJson(const persistence::Checkpoint& checkpoint, std::string_view public_key_pem);
boost::json::value ScopeToJson(const persistence::TokenRecord& record);

/// The body of POST /cases/{id}/partners: {"organisation": "..."}; the organisation id.
std::variant<std::string, Problem> ParsePartnerAssignment(const boost::json::value& body);
/// What assigning or unassigning came to.
boost::json::object PartnerChangeToJson(std::string_view case_id, std::string_view organisation, bool assigned,
                                        const persistence::CaseChange& change);
/// The body of POST /cases/{id}/consents (the caller's fields only; the engine adds who and when).
std::variant<persistence::NewConsent, Problem> ParseNewConsent(const boost::json::value& body);
/// One consent record, as the reader may see it (`recorded_by` only when set), in effect at `now` or not.
boost::json::object ConsentToJson(const workflow::ConsentRecord& consent, workflow::Instant now);
boost::json::object ConsentListToJson(std::string_view case_id, const engine::ConsentList& list, workflow::Instant now);
/// POST /subscriptions (and `returnflow subscription add`): organisation or office, notifications,
/// delivery, url.
std::variant<persistence::Subscription, Problem> ParseCreateSubscription(const boost::json::value& body);
/// PATCH /subscriptions/{id}: notifications, url, enabled (each optional).
std::variant<engine::SubscriptionPatch, Problem> ParseSubscriptionPatch(const boost::json::value& body);
/// A subscription without its secrets (`with_secret`: the current secret, shown once at creation and
/// rotation).
boost::json::object SubscriptionToJson(const persistence::Subscription& subscription, bool with_secret = false);
boost::json::object DeliveryAttemptToJson(const persistence::DeliveryAttempt& attempt);
boost::json::object NotificationToJson(const persistence::OutboxNotification& notification);
boost::json::object ReplayToJson(const persistence::ReplayRecord& replay);

std::string FormatTimestamp(persistence::Timestamp timestamp);
std::optional<persistence::Timestamp> ParseTimestamp(std::string_view text);

}  // namespace returnflow::api

namespace returnflow::persistence {
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& json, const StageCount& count);
}  // namespace returnflow::persistence
