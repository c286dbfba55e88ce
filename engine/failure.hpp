#pragma once
/// Why a use case did not do what it was asked: one kind per way it can fail, so that the transport
/// maps kinds (never texts) to its own answers in one table (api/problem.cpp).
#include <stdexcept>
#include <string>
#include <vector>

#include "persistence/database.hpp"

namespace returnflow::engine {

enum class FailureKind {
  kUnauthenticated,      ///< no token, or an unknown or revoked one
  kForbidden,            ///< the role or scope does not permit this
  kNotFound,             ///< no such case (or token) visible to the caller
  kInvalidRequest,       ///< a request field is missing, of the wrong shape, out of its limits, or unknown
  kUnknownEventType,     ///< the event type is not one the workflow knows
  kInvalidEventData,     ///< the event's data does not fit its type
  kVersionConflict,      ///< If-Match names a version the case no longer has
  kIdempotencyConflict,  ///< the idempotency key was used before with other content
  kConflict,             ///< a unique name is taken, or a race was lost
  kUnavailable,          ///< the database is unavailable (nothing was written)
  kOutcomeUnknown,       ///< an event's write was not confirmed: it may or may not have committed
  kCorruptCase,          ///< the stored case cannot be read back by this program
  kUnknownProgramme,     ///< a referral names a programme (or a version) this server does not have
  kInvalidDefinition,    ///< a programme definition has errors (listed in errors())
  kConditionHolds,       ///< an incident cannot be resolved: what it reports is still the case
  kNotConfigured,        ///< the server lacks what this needs (checkpoints without a signing key)
  kInternal,             ///< a defect
};

/// A failed use case. `detail` explains it without personal data or caller values; `pointer` names the
/// member at fault as a JSON pointer into the request body, when there is one.
class Failure : public std::runtime_error {
 public:
  /// One of several problems of a request (a programme definition's errors).
  struct FieldError {
    std::string pointer;
    std::string detail;
  };

  Failure(FailureKind kind, std::string detail, std::string pointer = {})
      : std::runtime_error(detail), kind_(kind), detail_(std::move(detail)), pointer_(std::move(pointer)) {}
  FailureKind Kind() const { return kind_; }
  const std::string& Detail() const { return detail_; }
  const std::string& Pointer() const { return pointer_; }
  /// A stable reason code clients may branch on (e.g. "unknown_programme"), or empty.
  const std::string& Reason() const { return reason_; }
  const std::vector<FieldError>& Errors() const { return errors_; }
  Failure& WithReason(std::string reason) {
    reason_ = std::move(reason);
    return *this;
  }
  Failure& WithErrors(std::vector<FieldError> errors) {
    errors_ = std::move(errors);
    return *this;
  }

 private:
  FailureKind kind_;
  std::string detail_;
  std::string pointer_;
  std::string reason_;
  std::vector<FieldError> errors_;
};

/// The use-case failure for a persistence error (the one translation from the store's kinds).
Failure FromPersistence(const persistence::PersistenceError& error);
/// A persistence error of an event as the sender needs to read it: a commit may have gone through
/// while the connection died before its answer, so "unavailable" is an unknown outcome.
Failure EventFailure(const persistence::PersistenceError& error);

}  // namespace returnflow::engine
