#pragma once
/// The engine's clock: claims due timers in bounded batches and fires each as an internal event through
/// the same apply path as partners' events (group commit included), with a stable event id
/// ("<case>:<kind>:<due in microseconds>", source "returnflow:clock"), so that a timer fired twice (a
/// crash between firing and commit, two engines) is applied once. The due time arrives in the event as
/// its occurred_at: the machine still reads no clock.
///
/// Runs on the worker pool (never on the HTTP I/O threads); blocking database work goes through the
/// pool like every other use case. One loop per process; engines sharing a PostgreSQL database claim
/// disjoint timers (FOR UPDATE SKIP LOCKED plus a lease).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <future>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "config/settings.hpp"
#include "persistence/repository.hpp"

namespace returnflow::engine {

class EngineObserver;

/// The source and actor of every event the clock fires.
inline constexpr std::string_view kClockSource = "returnflow:clock";

/// The event a claimed timer fires (persistence::IncomingEvent with `fired_timer` set).
persistence::IncomingEvent ClockEvent(const persistence::DueTimer& timer);

class Scheduler {
 public:
  /// How an event is applied (the engine's group committer, or the repository directly).
  using Apply =
      std::function<boost::asio::awaitable<persistence::ApplyOutcome>(std::string case_id, persistence::IncomingEvent)>;

  Scheduler(persistence::CaseRepository& cases, persistence::Database& database, boost::asio::thread_pool& workers,
            const config::SchedulerSettings& settings, EngineObserver* observer, Apply apply);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Starts the loop (once).
  void Start();
  /// Stops the loop and waits until the round in progress has finished. Idempotent; call from a thread
  /// that is not one of the pool's.
  void Stop();
  /// Wakes the loop now (the clock moved, a timer may be due).
  void Poke();
  /// Fires everything due at the engine's current time, round after round (a fired timer may make the
  /// next one due), and completes when a round found nothing more to claim. Used by the testing clock.
  /// Returns how many timers fired meanwhile.
  boost::asio::awaitable<std::size_t> Drain();

  /// A task the clock runs once every `interval` of the engine's time, at the start of a round (so the
  /// testing clock drives it like the timers): first `interval` after `last_run()` (when it ran before,
  /// in any process; now when never), then `interval` after each run; a failed run is tried again a
  /// minute later. Call before Start. Used for history checkpoints.
  void Every(std::chrono::microseconds interval, std::function<std::optional<persistence::Timestamp>()> last_run,
             std::function<void()> run);

  /// Timers this scheduler fired since it started (for tests and metrics).
  std::size_t Fired() const { return fired_.load(); }

 private:
  boost::asio::awaitable<void> Loop();
  /// One claim and the firing of everything claimed; returns how many were claimed.
  boost::asio::awaitable<std::size_t> Round();
  boost::asio::awaitable<void> Fire(persistence::DueTimer timer);
  boost::asio::awaitable<void> RunPeriodic(persistence::Timestamp now);
  template <typename Function>
  boost::asio::awaitable<std::invoke_result_t<std::decay_t<Function>&>> Blocking(Function&& function);

  persistence::CaseRepository& cases_;
  persistence::Database& database_;
  boost::asio::thread_pool& workers_;
  const config::SchedulerSettings settings_;
  EngineObserver* observer_;
  Apply apply_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> strand_;
  boost::asio::steady_timer wake_;
  bool started_ = false;
  bool stopping_ = false;              // strand only
  bool poked_ = false;                 // strand only: look again before waiting
  std::uint64_t drain_requested_ = 0;  // strand only
  /// Drains waiting for a round that began after their request and found nothing due (strand only).
  std::vector<std::shared_ptr<boost::asio::steady_timer>> drain_waiters_;
  std::vector<std::uint64_t> waiter_ids_;
  std::atomic<std::size_t> fired_{0};
  std::chrono::microseconds periodic_interval_{0};
  std::function<std::optional<persistence::Timestamp>()> periodic_last_run_;
  std::function<void()> periodic_run_;
  std::optional<persistence::Timestamp> periodic_due_;  // strand only
  std::promise<void> stopped_;
  std::future<void> stopped_future_;
};

}  // namespace returnflow::engine
