#pragma once
/// One voluntary-return case: its state machine and context behind a small class with verbs.
///
/// The Boost.MSM machine lives in one translation unit (machine.cpp); this header is what the rest of
/// the engine sees. Cases are opened, restored from their saved form, given events, and saved.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/fwd.hpp>

#include "workflow/context.hpp"
#include "workflow/events.hpp"
#include "workflow/programme.hpp"

namespace returnflow::workflow {

/// Who sent an event and when it happened (both come from outside; the machine reads no clock).
struct EventMeta {
  std::string actor;  ///< pseudonymous actor id (token name or partner organisation), never a person's name
  Instant occurred_at{};
  /// The rules of the programme version the case runs under (unset: the defaults of Programme{}).
  const Programme* programme = nullptr;
  /// The programme's latest version, whose unsafe-destination list eligibility decisions read (unset:
  /// the pinned version's).
  const Programme* current_programme = nullptr;
};

/// What applying one event did.
enum class Verdict {
  kApplied,        ///< the case moved (or an internal transition updated its context)
  kNotAllowed,     ///< no transition for this event in the current state
  kGuardRefused,   ///< a transition exists but a guard refused it; `reason` is the stable code
  kSuspended,      ///< the case is on hold; only resume, withdrawal and closure are accepted
  kClosed,         ///< the case is closed; only reopening is accepted
};
std::string_view Name(Verdict verdict);

struct ApplyResult {
  Verdict verdict = Verdict::kNotAllowed;
  std::vector<std::string> from;  ///< active leaf states before
  std::vector<std::string> to;    ///< active leaf states after (equal to `from` unless applied)
  std::string reason;             ///< a registered reason code (workflow/reasons.hpp); empty when applied
  std::vector<std::string> changes;                ///< what changed in the context, e.g. "no_shows=2"
  std::vector<std::string_view> allowed_events;    ///< events the case accepts now
  bool Applied() const { return verdict == Verdict::kApplied; }
};

/// Why a saved case could not be restored.
struct RestoreError {
  std::string detail;  ///< never contains personal data (saved states hold none)
};

class Case {
 public:
  /// A new case at `referral.received`, entry actions run.
  static Case Open(CaseContext context);
  /// Restores a saved case into a fresh machine: no history replay, no entry actions. Refuses a saved
  /// state naming states this definition does not have.
  static Case Restore(const boost::json::value& saved);
  /// As above, from the JSON text `Save` produced; throws RestoreFailed on bad input.
  static Case Restore(std::string_view saved_json);

  Case(Case&&) noexcept;
  Case& operator=(Case&&) noexcept;
  ~Case();

  ApplyResult Apply(const Event& event, const EventMeta& meta);

  /// The complete state as JSON: the active state names of every machine not in its initial
  /// configuration (each machine's history equals them; see Restore) and the context.
  /// `storage` lets hot paths build the document in an arena (see Save).
  boost::json::value SaveJson(boost::json::storage_ptr storage = {}) const;
  std::string Save() const;

  /// Active leaf states, outermost region first, e.g. {"documentation.travel_document.requested", ...}.
  std::vector<std::string> ActiveStates() const;
  /// The stage: referral, counselling, documentation, travel, reintegration, suspended or closed.
  std::string_view Stage() const;
  /// The stage the case is in or, when suspended or closed, the stage it last was in (a suspended case
  /// resumes there).
  std::string_view HeldStage() const;
  /// Events that have a transition from the current state (guards not evaluated).
  std::vector<std::string_view> AllowedEvents() const;
  const CaseContext& Context() const;

 private:
  struct Impl;
  explicit Case(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Thrown by Case::Restore for a saved state that does not fit the current definition.
class RestoreFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Why event data could not be decoded.
struct DecodeError {
  enum class Kind { kUnknownType, kInvalidData } kind = Kind::kInvalidData;
  std::string detail;   ///< names the field and what was wrong, never echoes values
  std::string pointer;  ///< the member at fault as a JSON pointer relative to `data` ("/findings/0"), or empty
};

/// Decodes event data (the CloudEvents `data` member) for the event named `type`.
/// Returns the event, or sets `error` and returns nullopt.
std::optional<Event> DecodeEvent(std::string_view type, const boost::json::value& data, DecodeError& error);

}  // namespace returnflow::workflow
