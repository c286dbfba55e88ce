#pragma once
// What the handler files share (application.cpp, outbox_routes.cpp): one request being handled and the
// helpers that answer it. Not public.
#include <optional>
#include <string>

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/application.hpp"
#include "api/cloudevents.hpp"
#include "api/problem.hpp"
#include "api/router.hpp"

namespace returnflow::api {

namespace http = boost::beast::http;
namespace json = boost::json;

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

inline Response JsonResponse(http::status status, const json::value& body, unsigned version) {
  Response response{status, version};
  response.set(http::field::content_type, kJson);
  response.set(http::field::cache_control, "no-store");
  response.body() = json::serialize(body);
  return response;
}

inline Response ProblemResponse(const Problem& problem, std::string_view instance, unsigned version) {
  Response response{problem.Status(), version};
  response.set(http::field::content_type, kProblemContentType);
  response.set(http::field::cache_control, "no-store");
  response.body() = json::serialize(problem.ToJson(instance));
  return response;
}

inline std::string ETag(std::int64_t version) { return fmt::format("\"{}\"", version); }

[[noreturn]] inline void Throw(Problem problem) { throw ProblemException(std::move(problem)); }

inline void RequireMediaType(const Request& request, std::string_view accepted) {
  if (MediaType(request[http::field::content_type]) == accepted) {
    const auto charset = Charset(request[http::field::content_type]);
    if (charset.empty() || charset == "utf-8") return;
  }
  Throw(Problem(ProblemKind::kUnsupportedMediaType, "send " + std::string(accepted) + " (UTF-8)",
                {{"accepted", json::array{accepted}}}));
}

inline json::value ParseJsonBody(const Request& request) {
  boost::system::error_code ec;
  json::value body = json::parse(request.body(), ec);
  if (ec) Throw(Problem(ProblemKind::kMalformedJson, "the body is not valid JSON"));
  return body;
}

[[noreturn]] inline void Forbid(std::string detail) { Throw(Problem(ProblemKind::kForbidden, std::move(detail))); }

}  // namespace returnflow::api
