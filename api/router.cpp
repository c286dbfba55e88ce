#include "api/router.hpp"

#include <boost/url/parse.hpp>

namespace returnflow::api {

namespace http = boost::beast::http;

const std::vector<Route>& Routes() {
  // clang-format off
  static const std::vector<Route> kRoutes = {
    // id                       method             pattern                         name               authenticated
    {RouteId::kCreateCase,    http::verb::post,   "/cases",                        "create_case",     true},
    {RouteId::kSearchCases,   http::verb::get,    "/cases",                        "search_cases",    true},
    {RouteId::kGetCase,       http::verb::get,    "/cases/{case_id}",              "get_case",        true},
    {RouteId::kPostCaseEvent, http::verb::post,   "/cases/{case_id}/events",       "post_case_event", true},
    {RouteId::kCaseHistory,   http::verb::get,    "/cases/{case_id}/history",      "case_history",    true},
    {RouteId::kPostEvents,    http::verb::post,   "/events",                       "post_events",     true},
    {RouteId::kWorkflow,      http::verb::get,    "/workflow",                     "workflow",        true},
    {RouteId::kCreateToken,   http::verb::post,   "/tokens",                       "create_token",    true},
    {RouteId::kListTokens,    http::verb::get,    "/tokens",                       "list_tokens",     true},
    {RouteId::kRevokeToken,   http::verb::delete_, "/tokens/{token_name}",         "revoke_token",    true},
    {RouteId::kHealthz,       http::verb::get,    "/healthz",                      "healthz",         false},
    {RouteId::kReadyz,        http::verb::get,    "/readyz",                       "readyz",          false},
    {RouteId::kMetrics,       http::verb::get,    "/metrics",                      "metrics",         true},
    {RouteId::kOpenApi,       http::verb::get,    "/openapi.json",                 "openapi",         true},
    {RouteId::kListProgrammes, http::verb::get,   "/programmes",                   "list_programmes", true},
    {RouteId::kGetProgramme,  http::verb::get,    "/programmes/{code}",            "get_programme",   true},
    {RouteId::kPutProgramme,  http::verb::put,    "/programmes/{code}",            "put_programme",   true},
    {RouteId::kListIncidents, http::verb::get,    "/incidents",                    "list_incidents",  true},
    {RouteId::kResolveIncident, http::verb::post, "/incidents/{incident_id}/resolve", "resolve_incident", true},
    {RouteId::kAssignPartner, http::verb::post,   "/cases/{case_id}/partners",     "assign_partner",  true},
    {RouteId::kUnassignPartner, http::verb::delete_, "/cases/{case_id}/partners/{organisation}", "unassign_partner", true},
    {RouteId::kRecordConsent, http::verb::post,   "/cases/{case_id}/consents",     "record_consent",  true},
    {RouteId::kListConsents,  http::verb::get,    "/cases/{case_id}/consents",     "list_consents",   true},
    {RouteId::kWithdrawConsent, http::verb::post, "/cases/{case_id}/consents/{consent_id}/withdrawal", "withdraw_consent", true},
    {RouteId::kApproveErasure, http::verb::post,  "/cases/{case_id}/erasure-approval", "approve_erasure", true},
    // Answers 404 unless the server runs with --testing-clock.
    {RouteId::kTestingClock,  http::verb::post,   "/testing/clock",                "testing_clock",   true},
    {RouteId::kCreateCheckpoint, http::verb::post, "/admin/checkpoints",           "create_checkpoint", true},
    // Partners hear from the engine: subscriptions and their deliveries (admins), the pull feed.
    {RouteId::kCreateSubscription, http::verb::post, "/subscriptions",                "create_subscription", true},
    {RouteId::kListSubscriptions, http::verb::get,   "/subscriptions",                "list_subscriptions",  true},
    {RouteId::kGetSubscription, http::verb::get,     "/subscriptions/{subscription_id}", "get_subscription", true},
    {RouteId::kUpdateSubscription, http::verb::patch, "/subscriptions/{subscription_id}", "update_subscription", true},
    {RouteId::kDeleteSubscription, http::verb::delete_, "/subscriptions/{subscription_id}", "delete_subscription", true},
    {RouteId::kRotateSubscriptionSecret, http::verb::post, "/subscriptions/{subscription_id}/rotate-secret", "rotate_subscription_secret", true},
    {RouteId::kListDeliveryAttempts, http::verb::get, "/subscriptions/{subscription_id}/attempts", "list_delivery_attempts", true},
    {RouteId::kListNotifications, http::verb::get,  "/subscriptions/{subscription_id}/notifications", "list_notifications", true},
    {RouteId::kReplayNotifications, http::verb::post, "/subscriptions/{subscription_id}/replays", "replay_notifications", true},
    {RouteId::kListReplays,   http::verb::get,    "/subscriptions/{subscription_id}/replays", "list_replays", true},
    {RouteId::kFeed,          http::verb::get,    "/feed",                         "feed",            true},
    // The personal-data audit: auditors and admins.
    {RouteId::kAudit,         http::verb::get,    "/audit",                        "audit",           true},
    // A caseworker of the office exports everything held about the case's people, or corrects a field.
    {RouteId::kExportPeople,  http::verb::get,    "/cases/{case_id}/people",       "export_people",   true},
    {RouteId::kCorrectPerson, http::verb::patch,  "/cases/{case_id}/people/{member_id}", "correct_person", true},
  };
  // clang-format on
  return kRoutes;
}

const Route& RouteFor(RouteId id) {
  for (const auto& route : Routes()) {
    if (route.id == id) return route;
  }
  throw std::logic_error("route missing from the table");
}

namespace {

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.starts_with('/')) path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

bool MatchPattern(std::string_view pattern, const std::vector<std::string_view>& path_segments,
                  std::map<std::string, std::string>& params) {
  auto pattern_segments = Segments(pattern);
  if (pattern_segments.size() != path_segments.size()) return false;
  std::map<std::string, std::string> found;
  for (std::size_t index = 0; index < pattern_segments.size(); ++index) {
    auto expected = pattern_segments[index];
    auto actual = path_segments[index];
    if (expected.starts_with('{') && expected.ends_with('}')) {
      if (actual.empty()) return false;
      found.emplace(std::string(expected.substr(1, expected.size() - 2)), std::string(actual));
    } else if (expected != actual) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

}  // namespace

RouteMatch MatchRoute(http::verb method, std::string_view path) {
  RouteMatch match;
  auto segments = Segments(path);
  for (const auto& route : Routes()) {
    std::map<std::string, std::string> params;
    if (!MatchPattern(route.pattern, segments, params)) continue;
    match.path_known = true;
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += std::string(http::to_string(route.method));
    if (route.method == method && !match.route) {
      match.route = &route;
      match.params = std::move(params);
    }
  }
  return match;
}

std::optional<std::string> Target::Query(const std::string& key) const {
  auto found = query.find(key);
  if (found == query.end()) return std::nullopt;
  return found->second;
}

std::optional<Target> ParseTarget(std::string_view text) {
  auto parsed = boost::urls::parse_origin_form(text);
  if (!parsed) return std::nullopt;
  Target target;
  // Path parameters are opaque ids; decode each segment so "%2F" cannot smuggle a slash into routing.
  for (auto segment : parsed->segments()) {
    if (segment.find('/') != std::string::npos) return std::nullopt;
    target.path += '/';
    target.path += segment;
  }
  if (target.path.empty()) target.path = "/";
  if (parsed->encoded_path().ends_with('/') && target.path != "/") target.path += '/';
  for (auto param : parsed->params()) {
    target.query.emplace(param.key, param.has_value ? param.value : std::string());
  }
  return target;
}

}  // namespace returnflow::api
