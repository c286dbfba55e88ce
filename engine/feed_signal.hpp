#pragma once
/// Wakes the feed's long polls when a commit in this process wrote notifications (other engines' commits
/// are seen by the poll's own short interval). Not public.
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace returnflow::engine {

class FeedSignal {
 public:
  /// The count of notifications so far; a poll that read the feed after taking it waits only while the
  /// count is unchanged.
  std::uint64_t Generation() {
    std::lock_guard lock(mutex_);
    return generation_;
  }
  /// Registers a waiter unless the generation moved past `seen` (then false: read again at once).
  bool Wait(const std::shared_ptr<boost::asio::steady_timer>& timer, std::uint64_t seen) {
    std::lock_guard lock(mutex_);
    if (generation_ != seen) return false;
    waiters_.push_back(timer);
    return true;
  }
  void Forget(const std::shared_ptr<boost::asio::steady_timer>& timer) {
    std::lock_guard lock(mutex_);
    waiters_.remove(timer);
  }
  void Notify() {
    std::list<std::shared_ptr<boost::asio::steady_timer>> woken;
    {
      std::lock_guard lock(mutex_);
      ++generation_;
      woken.swap(waiters_);
    }
    // Each timer is cancelled on its own executor (a timer is not safe to touch from two threads).
    for (auto& timer : woken) boost::asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  }

 private:
  std::mutex mutex_;
  std::uint64_t generation_ = 0;
  std::list<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace returnflow::engine
