#pragma once
/// Request and response bodies: JSON in, domain types out, and back. Pure; no I/O.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>

#include "api/auth.hpp"
#include "api/problem.hpp"
#include "persistence/repository.hpp"

namespace returnflow::api {

/// A referral as the caseworker's system posts it.
struct CreateCaseRequest {
  persistence::NewCase new_case;  ///< meta (actor, time) is filled in by the handler
};
/// Validates and converts the body of POST /cases. Errors name the field, never echo values.
std::variant<CreateCaseRequest, Problem> ParseCreateCase(const boost::json::value& body);

/// How much of a case a caller may see.
enum class CaseView {
  kFull,     ///< caseworkers and supervisors: household (pseudonymous) and every date
  kPartner,  ///< partners: the workflow position and dates, no household
};

/// GET /cases/{id} and the body of POST /cases.
boost::json::object CaseToJson(const persistence::CaseRecord& record, const workflow::Case& machine, CaseView view,
                               const Principal& principal);
/// One row of a search page (no machine restore: only what the record holds).
boost::json::object CaseSummaryToJson(const persistence::CaseRecord& record);
boost::json::array PeopleToJson(const std::vector<persistence::PersonalData>& people);

/// The body answering one event (success or rejection alike).
boost::json::object OutcomeToJson(const persistence::ApplyOutcome& outcome, std::string_view event_id,
                                  std::string_view source, std::string_view type);
boost::json::object HistoryEntryToJson(const persistence::HistoryEntry& entry);

/// POST /tokens.
struct CreateTokenRequest {
  std::string name;
  Principal principal;  ///< role and scope
};
std::variant<CreateTokenRequest, Problem> ParseCreateToken(const boost::json::value& body);
boost::json::object TokenToJson(const persistence::TokenRecord& record);

/// Role and scope conversions between the persistence record and the authorization principal.
Principal PrincipalFromToken(const persistence::TokenRecord& record);
persistence::TokenRole ToTokenRole(Role role);
persistence::TokenScope ToTokenScope(const Principal& principal);

std::string FormatTimestamp(persistence::Timestamp timestamp);
std::optional<persistence::Timestamp> ParseTimestamp(std::string_view text);

}  // namespace returnflow::api

namespace returnflow::persistence {
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& json, const StageCount& count);
}  // namespace returnflow::persistence
