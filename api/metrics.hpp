#pragma once
/// Prometheus metrics of the API, served at /metrics from the engine's own HTTP server.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "engine/observer.hpp"

namespace returnflow::api {

/// The metrics registry; the engine reports to it through EngineObserver.
class Metrics final : public engine::EngineObserver {
 public:
  Metrics();

  void RequestFinished(std::string_view route, int status, std::chrono::steady_clock::duration latency);
  /// An event's outcome: "applied", "not_allowed", "guard_refused", ..., with the reason code (or "").
  void EventOutcome(std::string_view type, std::string_view outcome, std::string_view reason, bool replayed) override;
  /// A group-commit transaction of `size` events, written by `path` (persistence::Name(GroupPath)).
  void GroupCommitted(std::size_t size, std::string_view path) override;
  void ConnectionsChanged(int open);
  void ConnectionRefused(std::string_view reason);
  void PoolUsage(std::size_t in_use, std::size_t size);
  void TimerFired(std::string_view family, std::string_view verdict, bool replayed, double lateness) override;
  void TimerFailed(std::string_view family) override;
  void ClockState(const engine::ClockStats& stats) override;
  void DeliveryAttempted(std::string_view subscription_id, std::string_view outcome, double lag) override;
  void OutboxState(std::int64_t depth, std::int64_t disabled_subscriptions) override;

  /// The text exposition format (0.0.4).
  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Histogram>& group_size_;
  prometheus::Gauge& connections_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Gauge& pool_in_use_;
  prometheus::Gauge& pool_size_;
  prometheus::Family<prometheus::Counter>& timers_fired_;
  prometheus::Family<prometheus::Histogram>& timer_lateness_;
  prometheus::Family<prometheus::Counter>& timers_failed_;
  prometheus::Gauge& timers_due_;
  prometheus::Family<prometheus::Gauge>& overdue_;
  prometheus::Family<prometheus::Gauge>& incidents_open_;
  prometheus::Gauge& waiting_events_;
  prometheus::Family<prometheus::Counter>& delivery_attempts_;
  prometheus::Histogram& delivery_lag_;
  prometheus::Gauge& outbox_depth_;
  prometheus::Gauge& subscriptions_disabled_;
  std::mutex clock_mutex_;  ///< ClockState's labels seen, so a kind that went to none reads 0
  std::vector<std::string> overdue_kinds_seen_, incident_kinds_seen_;
};

}  // namespace returnflow::api
