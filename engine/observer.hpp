#pragma once
/// What the engine reports as it works (for metrics); implemented by the transport's metrics registry.
#include <cstddef>
#include <string_view>

namespace returnflow::engine {

class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  /// An event's durable outcome: "applied", "not_allowed", ..., with its reason code (or "").
  virtual void EventOutcome(std::string_view type, std::string_view verdict, std::string_view reason, bool replayed) = 0;
  /// A group-commit transaction of `size` events, written by `path` (persistence::Name(GroupPath)).
  virtual void GroupCommitted(std::size_t size, std::string_view path) = 0;
};

}  // namespace returnflow::engine
