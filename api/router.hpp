#pragma once
/// The route table and request-target matching; pure, so the OpenAPI honesty test and the server read
/// the same table.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>

namespace returnflow::api {

enum class RouteId {
  kCreateCase,
  kSearchCases,
  kGetCase,
  kPostCaseEvent,
  kCaseHistory,
  kPostEvents,
  kWorkflow,
  kCreateToken,
  kListTokens,
  kRevokeToken,
  kHealthz,
  kReadyz,
  kMetrics,
  kOpenApi,
  kListProgrammes,
  kGetProgramme,
  kPutProgramme,
  kListIncidents,
  kResolveIncident,
  kTestingClock,
  kAssignPartner,
  kUnassignPartner,
  kRecordConsent,
  kListConsents,
  kWithdrawConsent,
  kApproveErasure,
  kCreateCheckpoint,
  kCreateSubscription,
  kListSubscriptions,
  kGetSubscription,
  kUpdateSubscription,
  kDeleteSubscription,
  kRotateSubscriptionSecret,
  kListDeliveryAttempts,
  kListNotifications,
  kReplayNotifications,
  kListReplays,
  kFeed,
  kAudit,
  kExportPeople,
  kCorrectPerson,
};

struct Route {
  RouteId id;
  boost::beast::http::verb method;
  std::string_view pattern;  ///< OpenAPI path template, e.g. "/cases/{case_id}/events"
  std::string_view name;     ///< metric label and log field, e.g. "post_case_event"
  bool authenticated;        ///< false only for /healthz and /readyz (the house rule)
};

const std::vector<Route>& Routes();
const Route& RouteFor(RouteId id);

/// The outcome of matching a request target.
struct RouteMatch {
  const Route* route = nullptr;           ///< set when method and path match
  std::map<std::string, std::string> params;  ///< path parameters, percent-decoded
  bool path_known = false;                 ///< the path matched some route (405 rather than 404)
  std::string allow;                       ///< for 405: the methods that path accepts
};

RouteMatch MatchRoute(boost::beast::http::verb method, std::string_view path);

/// A request target split into its path and decoded query parameters.
struct Target {
  std::string path;
  std::multimap<std::string, std::string> query;
  std::optional<std::string> Query(const std::string& key) const;
};
/// nullopt for a target that is not origin-form or has bad percent-encoding.
std::optional<Target> ParseTarget(std::string_view target);

}  // namespace returnflow::api
