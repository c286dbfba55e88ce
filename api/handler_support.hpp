#pragma once
// What the handlers of api/ share (not public): one request being handled, and the few ways they answer.
// Application's handlers live in application.cpp and, by subject, beside it (case_parties.cpp).
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "api/application.hpp"
#include "engine/principal.hpp"

namespace returnflow::api {

/// Fields of the structured access log line; pseudonymous ids and caller text escaped only.
struct LogFields {
  std::string case_id;
  std::string event_type;
  std::string outcome;
  std::string reason;
  std::string actor;
};

struct Application::Call {
  Request& request;
  RequestInfo& info;
  Target target;
  RouteMatch match;
  std::optional<engine::Principal> principal;
  LogFields log;

  const engine::Principal& Caller() const { return *principal; }
  const std::string& Param(const std::string& name) const { return match.params.at(name); }
};

inline constexpr std::string_view kJson = "application/json";

/// A JSON answer, never cached.
Response JsonResponse(boost::beast::http::status status, const boost::json::value& body, unsigned version);
/// A case version as an entity tag ("3").
std::string ETag(std::int64_t version);
[[noreturn]] void Throw(Problem problem);
[[noreturn]] void Forbid(std::string detail);
/// 415 unless the body is `accepted` in UTF-8.
void RequireMediaType(const Request& request, std::string_view accepted);
/// 400 malformed-json unless the body is JSON.
boost::json::value ParseJsonBody(const Request& request);
/// An Idempotency-Key header's value: at most 200 printable ASCII characters (empty: none).
bool UsableIdempotencyKey(std::string_view key);
/// The If-Match version, if sent (400 when it is not a version).
std::optional<std::int64_t> IfMatchOf(const Request& request);

}  // namespace returnflow::api
