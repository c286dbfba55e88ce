#pragma once
/// RFC 9457 problem details: the one vocabulary every API error is answered in.
///
/// Each kind has a stable `type` URI (`urn:returnflow:problem:<slug>`) that clients may branch on; the
/// title is fixed per kind, the detail explains this occurrence and never carries personal data.
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/status.hpp>
#include <boost/json/object.hpp>

namespace returnflow::api {

enum class ProblemKind {
  kMalformedJson,
  kInvalidRequest,
  kInvalidCloudEvent,
  kUnknownEventType,
  kInvalidEventData,
  kUnauthenticated,
  kForbidden,
  kNotFound,
  kMethodNotAllowed,
  kNotAllowedInState,
  kCaseSuspended,
  kCaseClosed,
  kVersionConflict,
  kIdempotencyConflict,
  kConflict,
  kGuardRefused,
  kPayloadTooLarge,
  kHeadersTooLarge,
  kUnsupportedMediaType,
  kTooManyConnections,
  kUnavailable,
  kOutcomeUnknown,
  kShuttingDown,
  kCaseUnreadable,
  kUnknownProgramme,
  kInvalidDefinition,
  kConditionHolds,
  kNotConfigured,
  kInternal,
};

struct ProblemInfo {
  ProblemKind kind;
  std::string_view slug;  ///< the stable part of the type URI
  boost::beast::http::status status;
  std::string_view title;
};

/// Every kind, in enum order; the OpenAPI document and the tests read this table.
const std::vector<ProblemInfo>& ProblemCatalogue();
const ProblemInfo& Info(ProblemKind kind);
std::string TypeUri(ProblemKind kind);

/// One occurrence of a problem. Extension members (e.g. `allowed_events`, `reason`) go in `extensions`.
struct Problem {
  ProblemKind kind = ProblemKind::kInternal;
  std::string detail;
  boost::json::object extensions;

  Problem() = default;
  Problem(ProblemKind problem_kind, std::string problem_detail, boost::json::object extra = {})
      : kind(problem_kind), detail(std::move(problem_detail)), extensions(std::move(extra)) {}

  boost::beast::http::status Status() const { return Info(kind).status; }
  /// The application/problem+json body; `instance` is the request target (no query string).
  boost::json::object ToJson(std::string_view instance) const;
};

/// Thrown inside handlers to answer with a problem; caught in exactly one place (the dispatcher).
class ProblemException : public std::exception {
 public:
  explicit ProblemException(Problem problem) : problem_(std::move(problem)) {}
  const Problem& problem() const { return problem_; }
  const char* what() const noexcept override { return problem_.detail.c_str(); }

 private:
  Problem problem_;
};

inline constexpr std::string_view kProblemContentType = "application/problem+json";

}  // namespace returnflow::api

namespace returnflow::engine {
class Failure;
}

namespace returnflow::api {

/// The problem answering a use case's failure: the one table from failure kinds to problem types. The
/// failure's pointer, when it has one, travels as the `pointer` member (a JSON pointer into the body).
Problem ProblemFor(const engine::Failure& failure);

}  // namespace returnflow::api
