#pragma once
/// Group commit: events of different cases committed together in one transaction.
///
/// Events queue here. A worker takes every queued event (up to `max_group`) whose case is not already
/// being committed by another group and hands them to CaseRepository::ApplyGroup; when that group has
/// committed it takes the next. One group is in flight at a time unless more than `max_group` events
/// are waiting (then up to `max_in_flight`). Under light load a group is one event (no added latency);
/// under heavy load events accumulate while a group commits, and the next group takes them all. Each
/// waiting request is resumed only after the transaction holding its event has committed; a failed
/// event does not fail its batch-mates; events of one lane and one case keep their arrival order.
///
/// Two lanes, each with its own queue and its own groups: events from callers (partners, caseworkers),
/// and the clock's firings (events carrying `fired_timer`). A drain of thousands of due timers queues in
/// its own lane, committed by at most `max_clock_groups` groups at a time, so an event from a caller
/// never waits behind it: it waits at most for its own lane's group, as when nothing is due.
#include <list>
#include <mutex>
#include <set>
#include <string>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "persistence/repository.hpp"

namespace returnflow::engine {

class EngineObserver;

class GroupCommitter {
 public:
  using Signature = void(persistence::GroupItemResult);

  GroupCommitter(persistence::CaseRepository& repository, boost::asio::thread_pool& workers, int max_groups_in_flight,
                 std::size_t max_group, EngineObserver* observer, int max_clock_groups,
                 std::size_t max_clock_group);

  /// Queues one event; completes with its result once its group has committed (or failed).
  template <typename CompletionToken>
  auto AsyncApply(persistence::GroupItem&& item, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, Signature>(
        [this](auto handler, persistence::GroupItem queued) {
          auto executor = boost::asio::get_associated_executor(handler, workers_.get_executor());
          Waiter waiter{std::move(queued),
                          boost::asio::any_io_executor(boost::asio::prefer(
                              executor, boost::asio::execution::outstanding_work.tracked)),
                          boost::asio::any_completion_handler<Signature>(std::move(handler))};
          Enqueue(std::move(waiter));
        },
        token, std::move(item));
  }

  /// Events queued or being committed (for tests and metrics).
  std::size_t PendingCount() const;

 private:
  struct Waiter {
    persistence::GroupItem item;
    boost::asio::any_io_executor work;  ///< keeps the waiter's executor alive until completion
    boost::asio::any_completion_handler<Signature> handler;
  };
  struct Lane {
    Lane(int groups, std::size_t events) : max_groups_in_flight(groups), max_group(events) {}
    /// A list, moved between by splice only: Boost 1.81's any_completion_handler move-assignment
    /// recurses without end (it re-wraps its lvalue operand), and erasing from the middle of a deque or
    /// vector move-assigns the elements behind it. Waiters are never assigned, only constructed.
    std::list<Waiter> queue;
    const int max_groups_in_flight;
    const std::size_t max_group;  ///< events in one transaction
    int groups_in_flight = 0;
  };
  void Enqueue(Waiter waiter);
  void RunGroups(Lane& lane);
  static void Complete(Waiter& waiter, persistence::GroupItemResult result);

  persistence::CaseRepository& repository_;
  boost::asio::thread_pool& workers_;
  EngineObserver* observer_;
  mutable std::mutex mutex_;
  Lane callers_;  ///< partners' and caseworkers' events
  Lane clock_;    ///< the clock's firings
  std::set<std::string, std::less<>> cases_in_flight_;
  std::size_t in_flight_events_ = 0;
};

}  // namespace returnflow::engine
