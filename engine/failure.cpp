#include "engine/failure.hpp"

namespace returnflow::engine {

Failure FromPersistence(const persistence::PersistenceError& error) {
  using persistence::ErrorKind;
  switch (error.Kind()) {
    case ErrorKind::kNotFound:
      return Failure(FailureKind::kNotFound, "no case with this id is visible to the caller");
    case ErrorKind::kVersionConflict:
      return Failure(FailureKind::kVersionConflict, "the case version differs from If-Match; read the case again");
    case ErrorKind::kIdempotencyConflict:
      return Failure(FailureKind::kIdempotencyConflict,
                     "this idempotency key was already used with different content");
    case ErrorKind::kConflict:
      return Failure(FailureKind::kConflict, "the request conflicts with a concurrent change; retry");
    case ErrorKind::kUnavailable:
      return Failure(FailureKind::kUnavailable, "the database is unavailable; retry later");
    case ErrorKind::kInvalidInput:
      return Failure(FailureKind::kInvalidRequest, "the request does not fit what the engine stores");
    case ErrorKind::kLimitReached:
      return Failure(FailureKind::kConflict, "the case holds as many of these as the engine allows");
    case ErrorKind::kCorruptData:
      return Failure(FailureKind::kCorruptCase, "the stored case cannot be read by this version of the engine");
    case ErrorKind::kInternal:
      return Failure(FailureKind::kInternal, "");
  }
  return Failure(FailureKind::kInternal, "");
}

Failure EventFailure(const persistence::PersistenceError& error) {
  if (error.Kind() == persistence::ErrorKind::kUnavailable) {
    return Failure(FailureKind::kOutcomeUnknown,
                   "the database did not confirm the event: its outcome is unknown; re-send it with the same "
                   "source and id (a duplicate is answered as a replay, never applied twice)");
  }
  return FromPersistence(error);
}

}  // namespace returnflow::engine
