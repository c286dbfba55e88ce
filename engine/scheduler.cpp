#include "engine/scheduler.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/log_text.hpp"
#include "engine/observer.hpp"
#include "workflow/incidents.hpp"
#include "workflow/timers.hpp"

namespace returnflow::engine {

namespace net = boost::asio;

namespace {

/// How often the loop refreshes the clock's gauges (timers due, overdue cases, waiting events, incidents).
constexpr auto kStatsInterval = std::chrono::seconds(5);
/// A case that cannot be read is tried again this much later (someone has to fix it first).
constexpr auto kUnreadableRetry = std::chrono::hours(1);

long long Micros(persistence::Timestamp timestamp) { return timestamp.time_since_epoch().count(); }

/// The family of a timer kind, for metric labels: "deadline", "expiry", "monitoring", "review", "inbox".
std::string_view Family(std::string_view kind) { return kind.substr(0, kind.find(':')); }

/// Retry delay after `attempts` failed firings: 2, 4, 8, ... seconds, at most an hour.
std::chrono::seconds Backoff(int attempts) {
  return std::chrono::seconds(1LL << std::clamp(attempts, 1, 12));
}

}  // namespace

persistence::IncomingEvent ClockEvent(const persistence::DueTimer& timer) {
  persistence::IncomingEvent incoming;
  incoming.source = std::string(kClockSource);
  incoming.event_id = fmt::format("{}:{}:{}", timer.case_id, timer.kind, Micros(timer.due));
  const auto due = std::chrono::floor<std::chrono::seconds>(timer.due);
  if (auto event = workflow::EventForTimer(timer.kind)) {
    incoming.type = std::string(workflow::EventName(*event));
    incoming.event = std::move(*event);
    incoming.data_json = workflow::EventDataForTimer(timer.kind);
  } else {
    // An early event's expiry ("inbox:<sequence>") is the engine's own record, not the machine's event.
    incoming.type = "early_event.expired";
  }
  incoming.meta.actor = std::string(kClockSource);
  incoming.meta.occurred_at = due;
  incoming.fired_timer = workflow::Timer{timer.kind, due};
  return incoming;
}

Scheduler::Scheduler(persistence::CaseRepository& cases, persistence::Database& database, net::thread_pool& workers,
                     const config::SchedulerSettings& settings, EngineObserver* observer, Apply apply)
    : cases_(cases),
      database_(database),
      workers_(workers),
      settings_(settings),
      observer_(observer),
      apply_(std::move(apply)),
      strand_(net::make_strand(workers.get_executor())),
      wake_(strand_),
      stopped_future_(stopped_.get_future()) {}

Scheduler::~Scheduler() { Stop(); }

template <typename Function>
net::awaitable<std::invoke_result_t<std::decay_t<Function>&>> Scheduler::Blocking(Function&& function) {
  using Result = std::invoke_result_t<std::decay_t<Function>&>;
  return net::co_spawn(
      workers_.get_executor(),
      [work = std::forward<Function>(function)]() mutable -> net::awaitable<Result> { co_return work(); },
      net::use_awaitable);
}

void Scheduler::Start() {
  if (started_) return;
  started_ = true;
  net::co_spawn(strand_, Loop(), net::detached);
  spdlog::info("event=clock_started poll_interval_ms={} batch={} lease_ms={}", settings_.poll_interval.count(),
               settings_.batch, settings_.lease.count());
}

void Scheduler::Stop() {
  if (!started_) return;
  started_ = false;
  net::post(strand_, [this] {
    stopping_ = true;
    wake_.cancel();
    for (auto& waiter : drain_waiters_) waiter->cancel();
    drain_waiters_.clear();
  });
  stopped_future_.wait();
}

void Scheduler::Poke() {
  net::post(strand_, [this] {
    poked_ = true;
    wake_.cancel();
  });
}

net::awaitable<std::size_t> Scheduler::Drain() {
  const std::size_t before = fired_.load();
  if (!started_) {
    // No loop to ask: fire here until nothing more is due, on the clock's strand (a round's firings and
    // its count of them are the strand's alone).
    co_await net::dispatch(strand_, net::use_awaitable);
    for (int round = 0; round < 10'000; ++round) {
      const std::size_t claimed = co_await Round();
      if (claimed == 0) break;
    }
    co_return fired_.load() - before;
  }
  co_await net::dispatch(strand_, net::use_awaitable);
  const std::uint64_t request = ++drain_requested_;
  auto waiter = std::make_shared<net::steady_timer>(strand_, std::chrono::steady_clock::time_point::max());
  waiter_ids_.push_back(request);
  drain_waiters_.push_back(waiter);
  poked_ = true;
  wake_.cancel();
  co_await waiter->async_wait(net::as_tuple(net::use_awaitable));
  co_return fired_.load() - before;
}

net::awaitable<void> Scheduler::Loop() {
  auto last_stats = std::chrono::steady_clock::time_point{};
  while (!stopping_) {
    const std::uint64_t requested = drain_requested_;
    std::size_t claimed = 0;
    try {
      claimed = co_await Round();
    } catch (const std::exception& error) {
      spdlog::warn("event=clock_round_failed error=\"{}\"", error.what());
    }
    if (claimed == 0) {
      // Every drain asked for before this round began is complete: nothing more was due.
      for (std::size_t index = 0; index < drain_waiters_.size();) {
        if (waiter_ids_[index] <= requested) {
          drain_waiters_[index]->cancel();
          drain_waiters_.erase(drain_waiters_.begin() + static_cast<std::ptrdiff_t>(index));
          waiter_ids_.erase(waiter_ids_.begin() + static_cast<std::ptrdiff_t>(index));
        } else {
          ++index;
        }
      }
    }
    if (observer_ && std::chrono::steady_clock::now() - last_stats >= kStatsInterval) {
      last_stats = std::chrono::steady_clock::now();
      try {
        auto read_stats = [this] {
          ClockStats stats;
          stats.timers_due = cases_.CountDue(database_.Now());
          stats.overdue_by_kind = cases_.OverdueByKind();
          stats.open_incidents_by_kind = cases_.OpenIncidentsByKind();
          stats.waiting_events = cases_.WaitingEvents();
          return stats;
        };
        auto stats = co_await Blocking(std::move(read_stats));
        observer_->ClockState(stats);
      } catch (const std::exception& error) {
        spdlog::debug("event=clock_stats_failed error=\"{}\"", error.what());
      }
    }
    if (stopping_) break;
    // Something fired: its case may have a timer due already (a chain of passed dates): look again.
    if (claimed > 0 || poked_ || drain_waiters_.size() > 0) {
      poked_ = false;
      continue;
    }
    wake_.expires_after(settings_.poll_interval);
    co_await wake_.async_wait(net::as_tuple(net::use_awaitable));
  }
  for (auto& waiter : drain_waiters_) waiter->cancel();
  drain_waiters_.clear();
  waiter_ids_.clear();
  stopped_.set_value();
}

namespace {

/// The firings of one round: the round waits until every one has finished.
struct RoundState {
  RoundState(net::any_io_executor executor, std::size_t firings)
      : remaining(firings), done(executor, std::chrono::steady_clock::time_point::max()) {}
  std::size_t remaining;
  net::steady_timer done;
};

}  // namespace

void Scheduler::Every(std::chrono::microseconds interval,
                      std::function<std::optional<persistence::Timestamp>()> last_run, std::function<void()> run) {
  periodic_interval_ = interval;
  periodic_last_run_ = std::move(last_run);
  periodic_run_ = std::move(run);
}

net::awaitable<void> Scheduler::RunPeriodic(persistence::Timestamp now) {
  if (!periodic_run_ || periodic_interval_.count() <= 0) co_return;
  try {
    if (!periodic_due_) {
      auto read = [this] { return periodic_last_run_(); };
      const auto last = co_await Blocking(std::move(read));
      periodic_due_ = (last ? *last : now) + periodic_interval_;
    }
    if (now < *periodic_due_) co_return;
    auto run = [this] { periodic_run_(); };
    co_await Blocking(std::move(run));
    periodic_due_ = now + periodic_interval_;
  } catch (const std::exception& error) {
    spdlog::warn("event=clock_task_failed error=\"{}\"", EscapeForLog(error.what()));
    periodic_due_ = now + std::min<std::chrono::microseconds>(periodic_interval_, std::chrono::minutes(1));
  }
}

net::awaitable<std::size_t> Scheduler::Round() {
  const auto now = database_.Now();
  {
    auto periodic = RunPeriodic(now);
    co_await std::move(periodic);
  }
  const auto lease_until = now + std::chrono::duration_cast<std::chrono::microseconds>(settings_.lease);
  const auto limit = static_cast<std::size_t>(settings_.batch);
  auto claim = [this, now, limit, lease_until] { return cases_.ClaimDueTimers(now, limit, lease_until); };
  auto due = co_await Blocking(std::move(claim));
  if (due.empty()) co_return 0;
  // The firings, their count and the round's wait all live on the clock's strand: the firings start only
  // once this coroutine waits, and count down one at a time.
  co_await net::dispatch(strand_, net::use_awaitable);
  net::any_io_executor executor = strand_;
  auto state = std::make_shared<RoundState>(executor, due.size());
  for (auto& timer : due) {
    auto fire = [this, state, timer = std::move(timer)]() mutable -> net::awaitable<void> {
      auto firing = Fire(std::move(timer));
      co_await std::move(firing);
      if (--state->remaining == 0) state->done.cancel();
    };
    net::co_spawn(executor, std::move(fire), net::detached);
  }
  co_await state->done.async_wait(net::as_tuple(net::use_awaitable));
  co_return due.size();
}

net::awaitable<void> Scheduler::Fire(persistence::DueTimer timer) {
  std::optional<persistence::ErrorKind> failure;
  std::string detail;  // the store's own text: operation, case id and kind, never values
  try {
    auto pending = apply_(timer.case_id, ClockEvent(timer));
    auto outcome = co_await std::move(pending);
    if (outcome.superseded) {
      // The case no longer has this timer (it moved or was cancelled meanwhile): nothing fires.
      auto drop = [this, timer] { cases_.DropTimer(timer); };
      co_await Blocking(std::move(drop));
      co_return;
    }
    ++fired_;
    if (observer_) {
      const auto lateness = std::chrono::duration<double>(database_.Now() - timer.due).count();
      observer_->TimerFired(Family(timer.kind), workflow::Name(outcome.result.verdict), outcome.replayed,
                            std::max(lateness, 0.0));
    }
    co_return;
  } catch (const persistence::PersistenceError& error) {
    failure = error.Kind();
    detail = error.what();
  } catch (const std::exception&) {
    failure = persistence::ErrorKind::kInternal;
  }
  // The firing failed: the timer is given back to be tried again later, with a growing back-off; a case
  // that cannot be read, and a timer that keeps failing, open an incident for a person to look at.
  const bool unreadable = *failure == persistence::ErrorKind::kCorruptData;
  const auto now = database_.Now();
  const auto retry_at = now + (unreadable ? std::chrono::duration_cast<std::chrono::microseconds>(kUnreadableRetry)
                                          : std::chrono::duration_cast<std::chrono::microseconds>(Backoff(timer.attempts)));
  spdlog::warn("event=timer_failed case={} timer={} attempts={} error={} detail=\"{}\"", timer.case_id, timer.kind,
               timer.attempts, persistence::Name(*failure), EscapeForLog(detail));
  if (observer_) observer_->TimerFailed(Family(timer.kind));
  try {
    auto record = [this, timer, retry_at, unreadable] {
      if (unreadable) {
        cases_.OpenIncident(timer.case_id, workflow::incident::kCaseUnreadable, "");
      } else if (timer.attempts >= settings_.max_attempts) {
        cases_.OpenIncident(timer.case_id, workflow::incident::kTimerFailing, timer.kind);
      }
      cases_.ReleaseTimer(timer, retry_at);
    };
    co_await Blocking(std::move(record));
  } catch (const std::exception& error) {
    // The lease runs out by itself: the timer is claimed again then.
    spdlog::warn("event=timer_release_failed case={} timer={} error=\"{}\"", timer.case_id, timer.kind, error.what());
  }
}

}  // namespace returnflow::engine
