#pragma once
/// What the engine reports as it works (for metrics); implemented by the transport's metrics registry.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace returnflow::engine {

/// The clock's gauges, refreshed every few seconds by the scheduler.
struct ClockStats {
  std::int64_t timers_due = 0;  ///< due and not yet fired
  std::vector<std::pair<std::string, std::int64_t>> overdue_by_kind;
  std::vector<std::pair<std::string, std::int64_t>> open_incidents_by_kind;
  std::int64_t waiting_events = 0;  ///< events in cases' inboxes
};

class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  /// An event's durable outcome: "applied", "not_allowed", ..., with its reason code (or "").
  virtual void EventOutcome(std::string_view type, std::string_view verdict, std::string_view reason, bool replayed) = 0;
  /// A group-commit transaction of `size` events, written by `path` (persistence::Name(GroupPath)).
  virtual void GroupCommitted(std::size_t size, std::string_view path) = 0;
  /// A timer fired and its event was recorded (`verdict` as above), `lateness` seconds after it was due.
  virtual void TimerFired(std::string_view family, std::string_view verdict, bool replayed, double lateness) {}
  /// A timer's firing failed (it is retried).
  virtual void TimerFailed(std::string_view family) {}
  virtual void ClockState(const ClockStats& stats) {}
  /// A webhook attempt for subscription `subscription_id` (pseudonymous) came to `outcome` ("delivered",
  /// "retry", "dead", "disabled"); `lag` seconds from the notification's commit to its 2xx, when delivered.
  virtual void DeliveryAttempted(std::string_view subscription_id, std::string_view outcome, double lag) {}
  /// The outbox's gauges: notifications not yet delivered nor dead, subscriptions disabled.
  virtual void OutboxState(std::int64_t depth, std::int64_t disabled_subscriptions) {}
};

}  // namespace returnflow::engine
