#pragma once
/// Partners hear from the engine: what a notification says to its recipient (CloudEvents 1.0,
/// structured JSON), how it is signed (Standard Webhooks), when a failed delivery is tried again, where a
/// webhook may go, and the worker that takes notifications from the outbox and sends them.
///
/// No HTTP here: the transport implements WebhookSender (api/webhook_client.cpp). The retry clock is the
/// engine's (Database::Now), so the testing clock drives retries.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/object.hpp>

#include "config/settings.hpp"
#include "engine/principal.hpp"
#include "engine/views.hpp"
#include "persistence/outbox.hpp"
#include "persistence/repository.hpp"

namespace returnflow::engine {

class EngineObserver;

/// The CloudEvents `source` of every notification.
inline constexpr std::string_view kNotificationSource = "urn:returnflow:engine";

// --- What a recipient is told ---------------------------------------------------------------------

/// Who receives a subscription's notifications, as authorization sees them: a partner organisation with
/// the event types its tokens may send, or a caseworker office.
Principal RecipientOf(const persistence::Subscription& subscription, const std::vector<persistence::TokenRecord>& tokens);

/// THE seam for what leaves the engine: the `data` of one notification for one recipient. Thin (case id,
/// kind, state and stage, the events this recipient may send next, deadline times), plus `personal_data`
/// when `personal_data` is not empty: what ConsentedPersonalData allowed, and nothing else.
boost::json::object NotificationData(const Principal& recipient, const persistence::OutboxNotification& notification,
                                     const std::vector<MemberData>& personal_data = {});

/// The notification as a CloudEvents 1.0 structured JSON event (`id` the notification id, `source`
/// kNotificationSource, `subject` the case id, `type` "org.returnflow.<kind>").
boost::json::object NotificationEvent(const Principal& recipient, const persistence::OutboxNotification& notification,
                                      const std::vector<MemberData>& personal_data = {});

/// The transfer purpose a notification serves for a partner: the purpose of a part the recipient serves
/// whose events it may send next (a travel agent told the case awaits its booking: ticketing). None for
/// offices, and when the recipient is not asked to act.
std::optional<workflow::TransferPurpose> TransferPurposeFor(const Principal& recipient,
                                                            const persistence::OutboxNotification& notification);

/// The personal data a notification carries to a partner, decided when it is sent (so a withdrawal
/// committed before stops it): for TransferPurposeFor's purpose, the categories that purpose needs and
/// the migrant's consent to this organisation allows now (PeopleRepository::ReadForTransfer, audited as a
/// transfer). Empty when nothing may go.
std::vector<MemberData> ConsentedPersonalData(persistence::Database& database, const Principal& recipient,
                                              const persistence::OutboxNotification& notification);

// --- Standard Webhooks ---------------------------------------------------------------------------

/// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)), the key being the base64 after
/// "whsec_"; nullopt for a secret that is not of that form.
std::optional<std::string> WebhookSignature(std::string_view secret, std::string_view id, std::int64_t timestamp,
                                            std::string_view body);
/// The webhook-signature header: one signature per secret, space-separated (rotation overlap).
std::string WebhookSignatureHeader(const std::vector<std::string>& secrets, std::string_view id, std::int64_t timestamp,
                                   std::string_view body);

/// The specification's retry schedule: the delay before attempt n+1 after n failed attempts (the first
/// attempt is immediate); nullopt once the schedule is exhausted (the notification is dead-lettered).
std::optional<std::chrono::seconds> RetryDelay(int failed_attempts);

// --- Where a webhook may go ----------------------------------------------------------------------

/// The allow-list of webhook destinations (server-side request forgery): host names, addresses and CIDR
/// blocks. An address is allowed when a listed block holds it; a listed host name is allowed to resolve
/// to public addresses only (loopback, private, link-local, unique-local and unspecified addresses need a
/// block of their own), so that no name can be made to point inside.
class DestinationPolicy {
 public:
  /// Throws std::invalid_argument naming an entry that is neither a host name nor an address or block.
  explicit DestinationPolicy(const std::vector<std::string>& allow);
  /// Whether a request to `host` may go to `address` (call for every address the host resolves to).
  bool Allows(std::string_view host, const boost::asio::ip::address& address) const;

 private:
  struct Block {
    boost::asio::ip::address network;
    int prefix = 0;
  };
  std::vector<Block> blocks_;
  std::vector<std::string> hosts_;
};

// --- Sending ---------------------------------------------------------------------------------------

struct WebhookRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct WebhookResponse {
  int status = 0;     ///< the HTTP status; 0 when there was no answer
  std::string error;  ///< why there was none: "bad_url", "refused_destination", "resolve", "connect", "tls", "timeout", "io"
  std::optional<std::chrono::seconds> retry_after;
};

/// Sends one webhook request (POST) and reads the answer: no redirects followed, timeouts on connect and
/// response, TLS verified. Implemented by the transport.
class WebhookSender {
 public:
  virtual ~WebhookSender() = default;
  virtual boost::asio::awaitable<WebhookResponse> Send(WebhookRequest request) = 0;
};

/// What a delivery attempt answered comes to: delivered (2xx), the subscription disabled (410), tried
/// again later (the schedule, a longer Retry-After honoured, plus up to a tenth of jitter), or dead.
persistence::AttemptResult DecideAttempt(const persistence::OutboxNotification& claimed, const WebhookResponse& response,
                                         persistence::Timestamp now, std::chrono::microseconds duration,
                                         double jitter_fraction);

/// Takes due notifications from the outbox and sends them: ordered per (subscription, case), at most
/// `per_subscription` in flight per subscription (a slow or dead endpoint holds up only its own), at most
/// `max_in_flight` in all. Engines sharing a database claim disjoint rows (SKIP LOCKED plus a lease).
class DeliveryWorker {
 public:
  DeliveryWorker(persistence::Database& database, persistence::SubscriptionRepository& subscriptions,
                 persistence::TokenRepository& tokens, boost::asio::thread_pool& workers,
                 const config::DeliverySettings& settings, EngineObserver* observer, WebhookSender& sender);
  ~DeliveryWorker();
  DeliveryWorker(const DeliveryWorker&) = delete;
  DeliveryWorker& operator=(const DeliveryWorker&) = delete;

  void Start();
  /// Stops claiming and waits for the deliveries in flight. Idempotent; not from a pool thread.
  void Stop();
  /// Looks again now (a commit wrote notifications, the clock moved).
  void Poke();
  /// Attempts finished since the start (tests, metrics).
  std::size_t Attempts() const { return attempts_.load(); }

 private:
  boost::asio::awaitable<void> Loop();
  boost::asio::awaitable<std::size_t> Round();
  boost::asio::awaitable<void> Deliver(persistence::OutboxNotification notification);
  /// Records the attempts finished so far in one transaction, then lets their places go; runs until no
  /// more are waiting (one at a time: `recording_`).
  boost::asio::awaitable<void> RecordFinished();
  /// A delivery's place in flight is free (strand only).
  void Done(const std::string& subscription_id);
  struct Finished {
    persistence::AttemptResult result;
    int claimed_attempts = 0;
    int status = 0;
    std::string error;
    double lag = 0;  ///< seconds from the notification's commit to this attempt's answer
  };
  /// The recipient of a subscription's notifications (tokens read at most once a second).
  std::optional<std::pair<persistence::Subscription, Principal>> Recipient(const std::string& subscription_id);
  template <typename Function>
  boost::asio::awaitable<std::invoke_result_t<std::decay_t<Function>&>> Blocking(Function&& function);

  persistence::Database& database_;
  persistence::SubscriptionRepository& subscriptions_;
  persistence::TokenRepository& tokens_;
  persistence::OutboxRepository outbox_;
  const config::DeliverySettings settings_;
  EngineObserver* observer_;
  WebhookSender& sender_;
  /// The worker's own threads, for its loop, its sockets and its database calls: a burst of partner
  /// events filling the engine's pool must not starve delivery (nor delivery the events).
  boost::asio::thread_pool own_{4};
  boost::asio::strand<boost::asio::thread_pool::executor_type> strand_;
  boost::asio::steady_timer wake_;
  bool started_ = false;
  bool stopping_ = false;                              // strand only
  bool poked_ = false;                                 // strand only
  std::map<std::string, int> in_flight_;               // strand only: per subscription
  int total_in_flight_ = 0;                            // strand only
  std::unique_ptr<boost::asio::steady_timer> drained_;  // strand only: signalled when the last one finishes
  std::mt19937 random_;                                // strand only
  std::vector<Finished> finished_;                     // strand only: attempts answered, not yet recorded
  bool recording_ = false;                             // strand only
  std::mutex tokens_mutex_;
  std::vector<persistence::TokenRecord> token_cache_;
  std::chrono::steady_clock::time_point tokens_read_at_{};
  std::atomic<std::size_t> attempts_{0};
  persistence::Timestamp last_purge_{};                // strand only: on the engine's clock
  std::promise<void> stopped_;
  std::future<void> stopped_future_;
};

}  // namespace returnflow::engine
