// The engine's use cases for partners hearing from it: subscriptions (admins), delivery attempts, dead
// letters and replays (admins), and the pull feed (each partner and office its own).
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "engine/authorization.hpp"
#include "engine/delivery.hpp"
#include "engine/engine.hpp"
#include "engine/feed_signal.hpp"
#include "persistence/cursor.hpp"

namespace returnflow::engine {

namespace net = boost::asio;

namespace {

/// How often a long poll reads the feed again for notifications committed by other engines.
constexpr auto kFeedPollInterval = std::chrono::milliseconds(500);

void RequireAdmin(const Principal& principal) {
  if (!CanManageSubscriptions(principal)) throw Failure(FailureKind::kForbidden, "only admin tokens manage subscriptions");
}

persistence::Subscription Found(std::optional<persistence::Subscription> found) {
  if (!found) throw Failure(FailureKind::kNotFound, "there is no such subscription");
  return std::move(*found);
}

/// The feed cursor: the search cursor's form, the subscription id in the place of a case id and the
/// feed position in the place of a time.
std::string FeedCursor(const std::string& subscription_id, std::int64_t position) {
  return persistence::EncodeCursor({position, subscription_id});
}

}  // namespace

void Engine::Notified() {
  if (delivery_) delivery_->Poke();
  feed_signal_->Notify();
}

net::awaitable<persistence::Subscription> Engine::CreateSubscription(Principal principal,
                                                                     persistence::Subscription subscription) {
  RequireAdmin(principal);
  auto create = [this, subscription = std::move(subscription)] { return subscriptions_.Create(subscription); };
  try {
    auto created = co_await Blocking(std::move(create));
    spdlog::info("event=subscription_created actor={} subscription={} delivery={}", principal.actor,
                 created.subscription_id, persistence::Name(created.delivery));
    co_return created;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
}

net::awaitable<std::vector<persistence::Subscription>> Engine::ListSubscriptions(Principal principal) {
  RequireAdmin(principal);
  auto list = [this] { return subscriptions_.List(); };
  auto all = co_await Blocking(std::move(list));
  co_return all;
}

net::awaitable<persistence::Subscription> Engine::GetSubscription(Principal principal, std::string subscription_id) {
  RequireAdmin(principal);
  auto find = [this, subscription_id] { return subscriptions_.Find(subscription_id); };
  auto found = co_await Blocking(std::move(find));
  co_return Found(std::move(found));
}

net::awaitable<persistence::Subscription> Engine::UpdateSubscription(Principal principal, std::string subscription_id,
                                                                     SubscriptionPatch patch,
                                                                     std::optional<std::int64_t> if_match) {
  RequireAdmin(principal);
  auto update = [this, subscription_id, patch = std::move(patch), if_match] {
    auto subscription = Found(subscriptions_.Find(subscription_id));
    const auto expected = if_match.value_or(subscription.version);
    if (patch.notifications) subscription.notifications = *patch.notifications;
    if (patch.url) subscription.url = *patch.url;
    if (patch.enabled) {
      if (*patch.enabled) {
        subscription.disabled_at.reset();
        subscription.disabled_reason.clear();
      } else if (!subscription.disabled_at) {
        subscription.disabled_at = database_.Now();
        subscription.disabled_reason = "disabled by an admin";
      }
    }
    return subscriptions_.Update(subscription, expected);
  };
  try {
    auto updated = co_await Blocking(std::move(update));
    spdlog::info("event=subscription_updated actor={} subscription={} version={}", principal.actor,
                 updated.subscription_id, updated.version);
    Notified();  // enabled again: what waited goes out
    co_return updated;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
}

net::awaitable<void> Engine::DeleteSubscription(Principal principal, std::string subscription_id) {
  RequireAdmin(principal);
  auto remove = [this, subscription_id] { return subscriptions_.Remove(subscription_id); };
  const bool removed = co_await Blocking(std::move(remove));
  if (!removed) throw Failure(FailureKind::kNotFound, "there is no such subscription");
  spdlog::info("event=subscription_removed actor={} subscription={}", principal.actor, subscription_id);
}

net::awaitable<persistence::Subscription> Engine::RotateSubscriptionSecret(Principal principal,
                                                                           std::string subscription_id) {
  RequireAdmin(principal);
  const auto until = database_.Now() + std::chrono::duration_cast<std::chrono::microseconds>(settings_.delivery.secret_overlap);
  auto rotate = [this, subscription_id, until] { return subscriptions_.RotateSecret(subscription_id, until); };
  try {
    auto rotated = co_await Blocking(std::move(rotate));
    spdlog::info("event=subscription_secret_rotated actor={} subscription={}", principal.actor, subscription_id);
    co_return rotated;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
}

net::awaitable<std::vector<persistence::DeliveryAttempt>> Engine::ListDeliveryAttempts(Principal principal,
                                                                                      std::string subscription_id,
                                                                                      std::size_t limit) {
  RequireAdmin(principal);
  auto list = [this, subscription_id, limit] {
    Found(subscriptions_.Find(subscription_id));
    return outbox_.Attempts(subscription_id, limit);
  };
  auto attempts = co_await Blocking(std::move(list));
  co_return attempts;
}

net::awaitable<std::vector<persistence::OutboxNotification>> Engine::ListNotifications(Principal principal,
                                                                                      std::string subscription_id,
                                                                                      std::string status,
                                                                                      std::size_t limit) {
  RequireAdmin(principal);
  auto list = [this, subscription_id, status, limit] {
    Found(subscriptions_.Find(subscription_id));
    return outbox_.List(subscription_id, status, limit);
  };
  auto notifications = co_await Blocking(std::move(list));
  co_return notifications;
}

net::awaitable<persistence::ReplayRecord> Engine::ReplayNotifications(Principal principal, std::string subscription_id,
                                                                      persistence::Timestamp from,
                                                                      persistence::Timestamp to) {
  RequireAdmin(principal);
  if (to < from) throw Failure(FailureKind::kInvalidRequest, "the range ends before it starts", "/to");
  auto replay = [this, subscription_id, from, to, actor = principal.actor] {
    const auto subscription = Found(subscriptions_.Find(subscription_id));
    if (subscription.delivery != persistence::Delivery::kWebhook) {
      throw Failure(FailureKind::kInvalidRequest, "a feed is read again from an earlier cursor, not replayed");
    }
    return outbox_.Replay(subscription_id, from, to, actor, database_.Now());
  };
  auto record = co_await Blocking(std::move(replay));
  spdlog::info("event=notifications_replayed actor={} subscription={} notifications={}", principal.actor,
               subscription_id, record.notifications);
  Notified();
  co_return record;
}

net::awaitable<std::vector<persistence::ReplayRecord>> Engine::ListReplays(Principal principal,
                                                                           std::string subscription_id) {
  RequireAdmin(principal);
  auto list = [this, subscription_id] {
    Found(subscriptions_.Find(subscription_id));
    return outbox_.Replays(subscription_id);
  };
  auto replays = co_await Blocking(std::move(list));
  co_return replays;
}

net::awaitable<FeedResult> Engine::ReadFeed(Principal principal, FeedRequest request) {
  if (principal.role != Role::kPartner && principal.role != Role::kCaseworker) {
    throw Failure(FailureKind::kForbidden, "the feed is for partners and caseworker offices");
  }
  std::optional<persistence::CursorPosition> start;
  if (!request.cursor.empty()) {
    start = persistence::DecodeCursor(request.cursor);
    if (!start) throw Failure(FailureKind::kInvalidRequest, "the cursor is not one this engine gave out", "cursor");
  }
  // The caller's feed: the one its cursor names, or its oldest feed subscription.
  auto find = [this, principal, start] {
    for (const auto& subscription : subscriptions_.List()) {
      if (!OwnsFeed(principal, subscription)) continue;
      if (!start || subscription.subscription_id == start->case_id) return std::optional(subscription);
    }
    return std::optional<persistence::Subscription>();
  };
  const auto subscription = co_await Blocking(std::move(find));
  if (!subscription) {
    if (start) throw Failure(FailureKind::kInvalidRequest, "the cursor is not one of your feed's", "cursor");
    throw Failure(FailureKind::kNotFound, "you have no feed subscription; an admin creates one (POST /subscriptions)");
  }
  const std::string subscription_id = subscription->subscription_id;
  const std::int64_t after = start ? start->created_at : 0;
  const auto wait = std::min(request.wait, std::chrono::duration_cast<std::chrono::milliseconds>(settings_.delivery.feed_max_wait));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const std::size_t limit = request.limit;
  auto executor = co_await net::this_coro::executor;
  while (true) {
    const auto generation = feed_signal_->Generation();
    auto read = [this, subscription_id, after, limit] { return outbox_.Feed(subscription_id, after, limit); };
    persistence::FeedPage page;
    try {
      page = co_await Blocking(std::move(read));
    } catch (const persistence::PersistenceError& error) {
      throw FromPersistence(error);
    }
    const auto now = std::chrono::steady_clock::now();
    if (!page.notifications.empty() || now >= deadline) {
      // The recipient, and what each notification may carry of personal data, decided at this read.
      auto render = [this, subscription = *subscription, notifications = page.notifications] {
        const auto recipient = RecipientOf(subscription, tokens_.List());
        std::vector<boost::json::object> events;
        for (const auto& notification : notifications) {
          events.push_back(NotificationEvent(recipient, notification, ConsentedPersonalData(database_, recipient, notification)));
        }
        return events;
      };
      FeedResult result;
      result.events = co_await Blocking(std::move(render));
      result.next_cursor = FeedCursor(subscription_id, page.next_position);
      co_return result;
    }
    auto timer = std::make_shared<net::steady_timer>(executor, std::min(deadline, now + kFeedPollInterval));
    if (feed_signal_->Wait(timer, generation)) {
      co_await timer->async_wait(net::as_tuple(net::use_awaitable));
      feed_signal_->Forget(timer);
    }
  }
}

}  // namespace returnflow::engine
