#pragma once
/// Prometheus metrics of the API, served at /metrics from the engine's own HTTP server.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

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
};

}  // namespace returnflow::api
