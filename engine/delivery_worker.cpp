// The delivery worker: one loop on a strand of the worker pool claims due notifications and starts a
// delivery coroutine for each; the counts of deliveries in flight (per subscription and in all) are the
// strand's alone.
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/delivery.hpp"
#include "engine/observer.hpp"

namespace returnflow::engine {

namespace net = boost::asio;

namespace {

/// How often the loop refreshes the outbox's gauges.
/// How often, on the engine's clock, delivered notifications past their retention are deleted, and how
/// many at most in one transaction and in one go (the rest wait for the next time).
constexpr auto kPurgeInterval = std::chrono::hours(1);
constexpr std::size_t kPurgeBatch = 1'000;
constexpr int kPurgeBatchesPerGo = 20;
/// How long the organisations' event types (from their tokens) are trusted.
constexpr auto kTokensTtl = std::chrono::seconds(1);

std::string_view OutcomeName(persistence::AttemptResult::Next next) {
  switch (next) {
    case persistence::AttemptResult::Next::kDelivered: return "delivered";
    case persistence::AttemptResult::Next::kRetry: return "retry";
    case persistence::AttemptResult::Next::kDead: return "dead";
    case persistence::AttemptResult::Next::kDisable: return "disabled";
  }
  return "unknown";
}

}  // namespace

DeliveryWorker::DeliveryWorker(persistence::Database& database, persistence::SubscriptionRepository& subscriptions,
                               persistence::TokenRepository& tokens, net::thread_pool& /*workers: the worker runs on threads of its own*/,
                               const config::DeliverySettings& settings, EngineObserver* observer, WebhookSender& sender)
    : database_(database),
      subscriptions_(subscriptions),
      tokens_(tokens),
      outbox_(database),
      settings_(settings),
      observer_(observer),
      sender_(sender),
      strand_(net::make_strand(own_.get_executor())),
      wake_(strand_),
      random_(std::random_device{}()),
      stopped_future_(stopped_.get_future()) {}

DeliveryWorker::~DeliveryWorker() { Stop(); }

template <typename Function>
net::awaitable<std::invoke_result_t<std::decay_t<Function>&>> DeliveryWorker::Blocking(Function&& function) {
  using Result = std::invoke_result_t<std::decay_t<Function>&>;
  return net::co_spawn(
      own_.get_executor(),
      [work = std::forward<Function>(function)]() mutable -> net::awaitable<Result> { co_return work(); },
      net::use_awaitable);
}

void DeliveryWorker::Start() {
  if (started_) return;
  started_ = true;
  net::co_spawn(strand_, Loop(), net::detached);
  spdlog::info("event=delivery_started poll_interval_ms={} batch={} per_subscription={} max_in_flight={}",
               settings_.poll_interval.count(), settings_.batch, settings_.per_subscription, settings_.max_in_flight);
}

void DeliveryWorker::Stop() {
  if (!started_) return;
  started_ = false;
  net::post(strand_, [this] {
    stopping_ = true;
    wake_.cancel();
  });
  stopped_future_.wait();
}

void DeliveryWorker::Poke() {
  net::post(strand_, [this] {
    poked_ = true;
    wake_.cancel();
  });
}

net::awaitable<void> DeliveryWorker::Loop() {
  auto last_stats = std::chrono::steady_clock::time_point{};
  while (!stopping_) {
    std::size_t claimed = 0;
    poked_ = false;
    try {
      claimed = co_await Round();
    } catch (const std::exception& error) {
      spdlog::warn("event=delivery_round_failed error=\"{}\"", error.what());
    }
    if (observer_ && std::chrono::steady_clock::now() - last_stats >= settings_.stats_interval) {
      last_stats = std::chrono::steady_clock::now();
      try {
        auto read_stats = [this] {
          std::int64_t disabled = 0;
          for (const auto& subscription : subscriptions_.List()) disabled += subscription.Active() ? 0 : 1;
          return std::pair{outbox_.Depth(), disabled};
        };
        const auto stats = co_await Blocking(std::move(read_stats));
        observer_->OutboxState(stats.first, stats.second);
      } catch (const std::exception& error) {
        spdlog::debug("event=outbox_stats_failed error=\"{}\"", error.what());
      }
    }
    if (settings_.delivered_retention.count() > 0 && database_.Now() - last_purge_ >= kPurgeInterval) {
      last_purge_ = database_.Now();
      const auto before = last_purge_ - std::chrono::duration_cast<std::chrono::microseconds>(settings_.delivered_retention);
      try {
        auto purge = [this, before] {
          std::size_t deleted = 0;
          for (int batch = 0; batch < kPurgeBatchesPerGo; ++batch) {
            const auto count = outbox_.PurgeDelivered(before, kPurgeBatch);
            deleted += count;
            if (count < kPurgeBatch) break;
          }
          return deleted;
        };
        const auto deleted = co_await Blocking(std::move(purge));
        if (deleted > 0) spdlog::info("event=delivered_notifications_purged count={}", deleted);
      } catch (const std::exception& error) {
        spdlog::warn("event=delivered_purge_failed error=\"{}\"", error.what());
      }
    }
    if (stopping_) break;
    const bool room = total_in_flight_ < settings_.max_in_flight;
    if (poked_ || (claimed > 0 && room)) continue;
    wake_.expires_after(settings_.poll_interval);
    co_await wake_.async_wait(net::as_tuple(net::use_awaitable));
  }
  // Deliveries in flight finish (their attempts are recorded) before the worker reports it stopped.
  while (total_in_flight_ > 0) {
    drained_ = std::make_unique<net::steady_timer>(strand_, std::chrono::steady_clock::time_point::max());
    co_await drained_->async_wait(net::as_tuple(net::use_awaitable));
  }
  drained_.reset();
  stopped_.set_value();
}

net::awaitable<std::size_t> DeliveryWorker::Round() {
  const int capacity = settings_.max_in_flight - total_in_flight_;
  if (capacity <= 0) co_return 0;
  std::vector<std::string> busy;
  for (const auto& [subscription_id, count] : in_flight_) {
    if (count >= settings_.per_subscription) busy.push_back(subscription_id);
  }
  const auto now = database_.Now();
  const auto lease_until = now + std::chrono::duration_cast<std::chrono::microseconds>(settings_.lease);
  const auto limit = static_cast<std::size_t>(std::min(settings_.batch, capacity));
  auto claim = [this, now, limit, lease_until, busy] { return outbox_.Claim(now, limit, lease_until, busy); };
  auto claimed = co_await Blocking(std::move(claim));
  co_await net::dispatch(strand_, net::use_awaitable);
  // More of one subscription than it may have in flight go back at once: another subscription's
  // notifications take their places in the next round, so one endpoint cannot fill the worker.
  std::vector<persistence::OutboxNotification> over;
  std::size_t started = 0;
  for (auto& notification : claimed) {
    auto& count = in_flight_[notification.subscription_id];
    if (count >= settings_.per_subscription) {
      over.push_back(std::move(notification));
      continue;
    }
    ++count;
    ++total_in_flight_;
    ++started;
    auto deliver = [this, notification = std::move(notification)]() mutable -> net::awaitable<void> {
      auto delivery = Deliver(std::move(notification));
      co_await std::move(delivery);
    };
    net::co_spawn(strand_, std::move(deliver), net::detached);
  }
  if (!over.empty()) {
    auto release = [this, over] { outbox_.Release(over); };
    co_await Blocking(std::move(release));
    co_await net::dispatch(strand_, net::use_awaitable);
  }
  co_return started;
}

std::vector<MemberData> ConsentedPersonalData(persistence::Database& database, const Principal& recipient,
                                              const persistence::OutboxNotification& notification) {
  const auto purpose = TransferPurposeFor(recipient, notification);
  if (!purpose || recipient.organisation.empty()) return {};
  auto sent = persistence::PeopleRepository(database).ReadForTransfer(notification.case_id, "returnflow:outbox",
                                                                      recipient.organisation, *purpose);
  if (sent.categories.empty()) return {};
  const auto record = persistence::CaseRepository(database).Get(notification.case_id);
  const auto machine = workflow::Case::Restore(record.saved_state);
  return MinimalPersonalData(sent.people, machine.Context().household, sent.categories);
}

std::optional<std::pair<persistence::Subscription, Principal>> DeliveryWorker::Recipient(const std::string& subscription_id) {
  const auto active = subscriptions_.Active();
  const auto found = std::find_if(active->begin(), active->end(), [&](const persistence::Subscription& subscription) {
    return subscription.subscription_id == subscription_id;
  });
  if (found == active->end()) return std::nullopt;
  std::vector<persistence::TokenRecord> tokens;
  {
    std::lock_guard lock(tokens_mutex_);
    if (std::chrono::steady_clock::now() - tokens_read_at_ < kTokensTtl) tokens = token_cache_;
  }
  // An organisation the cached tokens do not know yet (its tokens are newer than the cache) is read anew.
  const bool known = found->organisation.empty() ||
                     std::any_of(tokens.begin(), tokens.end(), [&](const persistence::TokenRecord& token) {
                       return token.scope.organisation == found->organisation;
                     });
  if (tokens.empty() || !known) {
    tokens = tokens_.List();
    std::lock_guard lock(tokens_mutex_);
    token_cache_ = tokens;
    tokens_read_at_ = std::chrono::steady_clock::now();
  }
  return std::pair{*found, RecipientOf(*found, tokens)};
}

net::awaitable<void> DeliveryWorker::Deliver(persistence::OutboxNotification notification) {
  const std::string subscription_id = notification.subscription_id;
  try {
    // The recipient, and the personal data its consent lets this notification carry, decided now.
    auto find = [this, subscription_id, notification] {
      auto found = Recipient(subscription_id);
      std::vector<MemberData> personal_data;
      if (found) personal_data = ConsentedPersonalData(database_, found->second, notification);
      return std::pair{std::move(found), std::move(personal_data)};
    };
    auto found = co_await Blocking(std::move(find));
    auto& recipient = found.first;
    const auto& personal_data = found.second;
    if (!recipient) {
      // Disabled or removed since the claim: the notification waits (or went with its subscription).
      auto release = [this, notification] { outbox_.Release({notification}); };
      co_await Blocking(std::move(release));
    } else {
      const auto& [subscription, principal] = *recipient;
      WebhookRequest request;
      request.url = subscription.url;
      request.body = boost::json::serialize(NotificationEvent(principal, notification, personal_data));
      // The attempt's own time (the receiver checks it against its clock); retries run on the engine's.
      const auto timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
      request.headers = {
          {"content-type", "application/cloudevents+json; charset=utf-8"},
          {"webhook-id", notification.notification_id},
          {"webhook-timestamp", std::to_string(timestamp)},
          {"webhook-signature", WebhookSignatureHeader(persistence::SigningSecrets(subscription, database_.Now()),
                                                       notification.notification_id, timestamp, request.body)}};
      const auto started = std::chrono::steady_clock::now();
      WebhookResponse response;
      try {
        auto sending = sender_.Send(std::move(request));
        response = co_await std::move(sending);
      } catch (const std::exception&) {
        response = WebhookResponse{0, "io", std::nullopt};
      }
      co_await net::dispatch(strand_, net::use_awaitable);
      const auto duration = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
      const double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
      const auto now = database_.Now();
      Finished finished{DecideAttempt(notification, response, now, duration, jitter), notification.attempts,
                        response.status, response.error,
                        std::max(std::chrono::duration<double>(now - notification.created_at).count(), 0.0)};
      // Recorded with the other attempts that finish meanwhile, in one transaction; the recorder then
      // lets this delivery's place go.
      finished_.push_back(std::move(finished));
      if (!recording_) {
        recording_ = true;
        net::co_spawn(strand_, RecordFinished(), net::detached);
      }
      co_return;
    }
  } catch (const std::exception& error) {
    // Nothing recorded: the lease runs out and the notification is claimed again.
    spdlog::warn("event=delivery_failed subscription={} notification={} error=\"{}\"", subscription_id,
                 notification.notification_id, error.what());
  }
  co_await net::dispatch(strand_, net::use_awaitable);
  Done(subscription_id);
}

net::awaitable<void> DeliveryWorker::RecordFinished() {
  while (!finished_.empty()) {
    auto batch = std::move(finished_);
    finished_.clear();
    std::vector<bool> recorded;
    try {
      auto record = [this, &batch] {
        std::vector<std::pair<persistence::AttemptResult, int>> results;
        results.reserve(batch.size());
        for (const auto& finished : batch) {
          if (finished.result.next == persistence::AttemptResult::Next::kDisable) {
            subscriptions_.Disable(finished.result.attempt.subscription_id, "the endpoint answered 410 Gone");
          }
          results.emplace_back(finished.result, finished.claimed_attempts);
        }
        return outbox_.Record(results);
      };
      recorded = co_await Blocking(std::move(record));
    } catch (const std::exception& error) {
      // Nothing recorded: the leases run out and the notifications are claimed again.
      spdlog::warn("event=delivery_record_failed attempts={} error=\"{}\"", batch.size(), error.what());
    }
    co_await net::dispatch(strand_, net::use_awaitable);
    for (std::size_t index = 0; index < batch.size(); ++index) {
      const auto& finished = batch[index];
      const auto& attempt = finished.result.attempt;
      if (index < recorded.size()) {
        const auto outcome = OutcomeName(finished.result.next);
        if (finished.result.next != persistence::AttemptResult::Next::kDelivered) {
          spdlog::info("event=webhook_failed subscription={} notification={} attempt={} status={} error={} next={}",
                       attempt.subscription_id, attempt.notification_id, attempt.attempt, finished.status,
                       finished.error.empty() ? "-" : finished.error, outcome);
        }
        if (observer_) observer_->DeliveryAttempted(attempt.subscription_id, outcome, finished.lag);
      }
      Done(attempt.subscription_id);
    }
  }
  recording_ = false;
}

void DeliveryWorker::Done(const std::string& subscription_id) {
  if (--in_flight_[subscription_id] <= 0) in_flight_.erase(subscription_id);
  --total_in_flight_;
  ++attempts_;
  poked_ = true;  // a later notification of the case may be due now
  wake_.cancel();
  if (total_in_flight_ == 0 && drained_) drained_->cancel();
}

}  // namespace returnflow::engine
