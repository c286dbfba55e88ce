#include "api/problem.hpp"

#include <vector>

#include <boost/json/array.hpp>

#include "engine/failure.hpp"

namespace returnflow::api {

namespace http = boost::beast::http;

const std::vector<ProblemInfo>& ProblemCatalogue() {
  // clang-format off
  static const std::vector<ProblemInfo> kCatalogue = {
    //  kind                                  slug                      status                                   title
    {ProblemKind::kMalformedJson,        "malformed-json",         http::status::bad_request,                     "The request body is not valid JSON"},
    {ProblemKind::kInvalidRequest,       "invalid-request",        http::status::bad_request,                     "The request is not valid"},
    {ProblemKind::kInvalidCloudEvent,    "invalid-cloudevent",     http::status::bad_request,                     "The CloudEvent is missing or has invalid attributes"},
    {ProblemKind::kUnknownEventType,     "unknown-event-type",     http::status::bad_request,                     "The event type is not one the workflow knows"},
    {ProblemKind::kInvalidEventData,     "invalid-event-data",     http::status::bad_request,                     "The event data does not fit the event type"},
    {ProblemKind::kUnauthenticated,      "unauthenticated",        http::status::unauthorized,                    "A valid bearer token is required"},
    {ProblemKind::kForbidden,            "forbidden",              http::status::forbidden,                       "The token's role does not permit this"},
    {ProblemKind::kNotFound,             "not-found",              http::status::not_found,                       "No such resource"},
    {ProblemKind::kMethodNotAllowed,     "method-not-allowed",     http::status::method_not_allowed,              "The method is not supported on this resource"},
    {ProblemKind::kNotAllowedInState,    "event-not-allowed",      http::status::conflict,                        "The event is not allowed in the case's current state"},
    {ProblemKind::kCaseSuspended,        "case-suspended",         http::status::conflict,                        "The case is suspended"},
    {ProblemKind::kCaseClosed,           "case-closed",            http::status::conflict,                        "The case is closed"},
    {ProblemKind::kVersionConflict,      "version-conflict",       http::status::conflict,                        "The case has changed since the version given in If-Match"},
    {ProblemKind::kIdempotencyConflict,  "idempotency-conflict",   http::status::conflict,                        "An event with this source and id was already recorded with different content"},
    {ProblemKind::kConflict,             "conflict",               http::status::conflict,                        "The request conflicts with the current state of the resource"},
    {ProblemKind::kGuardRefused,         "guard-refused",          http::status::unprocessable_entity,            "A workflow rule refused the event"},
    {ProblemKind::kPayloadTooLarge,      "payload-too-large",      http::status::payload_too_large,               "The request body is larger than the server accepts"},
    {ProblemKind::kHeadersTooLarge,      "headers-too-large",      http::status::request_header_fields_too_large, "The request headers are larger than the server accepts"},
    {ProblemKind::kUnsupportedMediaType, "unsupported-media-type", http::status::unsupported_media_type,          "The request content type is not accepted here"},
    {ProblemKind::kTooManyConnections,   "too-many-connections",   http::status::service_unavailable,             "The server is at its connection limit"},
    {ProblemKind::kUnavailable,          "unavailable",            http::status::service_unavailable,             "The database is not reachable"},
    {ProblemKind::kOutcomeUnknown,       "outcome-unknown",        http::status::service_unavailable,             "The event's outcome is unknown: re-send it with the same source and id"},
    {ProblemKind::kShuttingDown,         "shutting-down",          http::status::service_unavailable,             "The server is shutting down"},
    {ProblemKind::kCaseUnreadable,       "case-unreadable",        http::status::internal_server_error,           "The stored case cannot be read by this version of the engine"},
    {ProblemKind::kUnknownProgramme,     "unknown-programme",      http::status::unprocessable_entity,            "The programme named is not one this server has"},
    {ProblemKind::kInvalidDefinition,    "invalid-programme",      http::status::unprocessable_entity,            "The programme definition has errors"},
    {ProblemKind::kConditionHolds,       "condition-holds",        http::status::conflict,                        "What the incident reports is still the case"},
    {ProblemKind::kNotConfigured,        "not-configured",         http::status::service_unavailable,             "The server is not configured for this"},
    {ProblemKind::kInternal,             "internal",               http::status::internal_server_error,           "Internal error"},
  };
  // clang-format on
  return kCatalogue;
}

const ProblemInfo& Info(ProblemKind kind) { return ProblemCatalogue()[static_cast<std::size_t>(kind)]; }

std::string TypeUri(ProblemKind kind) { return "urn:returnflow:problem:" + std::string(Info(kind).slug); }

boost::json::object Problem::ToJson(std::string_view instance) const {
  const auto& info = Info(kind);
  boost::json::object body;
  body["type"] = TypeUri(kind);
  body["title"] = info.title;
  body["status"] = static_cast<int>(info.status);
  if (!detail.empty()) body["detail"] = detail;
  if (!instance.empty()) body["instance"] = instance;
  // Extensions never override the standard members.
  for (const auto& [key, value] : extensions) body.emplace(key, value);
  return body;
}

}  // namespace returnflow::api

namespace returnflow::api {

Problem ProblemFor(const engine::Failure& failure) {
  using engine::FailureKind;
  // clang-format off
  static constexpr std::pair<FailureKind, ProblemKind> kTable[] = {
      {FailureKind::kUnauthenticated,     ProblemKind::kUnauthenticated},
      {FailureKind::kForbidden,           ProblemKind::kForbidden},
      {FailureKind::kNotFound,            ProblemKind::kNotFound},
      {FailureKind::kInvalidRequest,      ProblemKind::kInvalidRequest},
      {FailureKind::kUnknownEventType,    ProblemKind::kUnknownEventType},
      {FailureKind::kInvalidEventData,    ProblemKind::kInvalidEventData},
      {FailureKind::kVersionConflict,     ProblemKind::kVersionConflict},
      {FailureKind::kIdempotencyConflict, ProblemKind::kIdempotencyConflict},
      {FailureKind::kConflict,            ProblemKind::kConflict},
      {FailureKind::kUnavailable,         ProblemKind::kUnavailable},
      {FailureKind::kOutcomeUnknown,      ProblemKind::kOutcomeUnknown},
      {FailureKind::kCorruptCase,         ProblemKind::kCaseUnreadable},
      {FailureKind::kUnknownProgramme,    ProblemKind::kUnknownProgramme},
      {FailureKind::kInvalidDefinition,   ProblemKind::kInvalidDefinition},
      {FailureKind::kConditionHolds,      ProblemKind::kConditionHolds},
      {FailureKind::kNotConfigured,       ProblemKind::kNotConfigured},
      {FailureKind::kInternal,            ProblemKind::kInternal},
  };
  // clang-format on
  ProblemKind kind = ProblemKind::kInternal;
  for (const auto& [from, to] : kTable) {
    if (from == failure.Kind()) kind = to;
  }
  boost::json::object extensions;
  if (!failure.Pointer().empty()) extensions["pointer"] = failure.Pointer();
  if (!failure.Reason().empty()) extensions["reason"] = failure.Reason();
  if (!failure.Errors().empty()) {
    boost::json::array errors;
    for (const auto& error : failure.Errors()) {
      errors.push_back(boost::json::object{{"pointer", error.pointer}, {"detail", error.detail}});
    }
    extensions["errors"] = std::move(errors);
  }
  return Problem(kind, failure.Detail(), std::move(extensions));
}

}  // namespace returnflow::api
