#pragma once
/// Partners hear from the engine: subscriptions (who hears what, how) and the transactional outbox (one
/// row per subscription and notification, written in the transaction of the change that causes it).
///
/// What a notification holds is facts of the workflow only (state and stage names, event types, verdicts,
/// reason codes, deadline times): never personal data. Every call blocks (call from a worker pool).
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/database.hpp"

namespace returnflow::persistence {

/// How a subscription's notifications leave the engine.
enum class Delivery { kWebhook, kFeed };
std::string_view Name(Delivery delivery);
std::optional<Delivery> DeliveryFromName(std::string_view name);

/// The kinds of notification, each with what its `subject` names (a filter "kind" or "kind:subject",
/// the subject ending in '*' for a prefix, e.g. "state.entered:travel.*").
namespace notification {
inline constexpr std::string_view kCaseOpened = "case.opened";          ///< subject: the stage
inline constexpr std::string_view kStateEntered = "state.entered";      ///< subject: the state entered
inline constexpr std::string_view kStageEntered = "stage.entered";      ///< subject: the stage entered
inline constexpr std::string_view kEventApplied = "event.applied";      ///< subject: the event type
inline constexpr std::string_view kEventRefused = "event.refused";      ///< subject: the event type
inline constexpr std::string_view kDeadlinePassed = "deadline.passed";  ///< subject: the deadline kind
inline constexpr std::string_view kDeadlineApproaching = "deadline.approaching";  ///< subject: the deadline kind
inline constexpr std::string_view kIncidentOpened = "incident.opened";  ///< subject: the incident kind
}  // namespace notification
/// Every kind above, in that order.
const std::vector<std::string_view>& NotificationKinds();
/// Whether `filter` is a kind, or a kind and a subject pattern, that this engine can match.
bool ValidNotificationFilter(std::string_view filter);
/// Whether a notification of `kind` about `subject` is one that `filter` asks for.
bool FilterMatches(std::string_view filter, std::string_view kind, std::string_view subject);

/// One subscription: exactly one of organisation (a partner) and office (a caseworker office) is set.
struct Subscription {
  std::string subscription_id;  ///< random UUID; pseudonymous (metric label)
  std::string organisation;
  std::string office;
  std::vector<std::string> notifications;  ///< filters, see notification::
  Delivery delivery = Delivery::kWebhook;
  std::string url;                          ///< webhook only
  std::string secret;                       ///< "whsec_" + base64 of the signing key (webhook only)
  std::string previous_secret;              ///< still signed with until previous_secret_until ("": none)
  std::optional<Timestamp> previous_secret_until;
  std::optional<Timestamp> disabled_at;     ///< a 410 from the endpoint, or an admin
  std::string disabled_reason;
  Timestamp created_at{};
  Timestamp updated_at{};
  std::int64_t version = 1;
  bool Active() const { return !disabled_at.has_value(); }
  /// Whether any of its filters asks for this notification.
  bool Wants(std::string_view kind, std::string_view subject) const;
};

/// The secrets a delivery at `now` is signed with: the current one, and the previous one while the
/// rotation overlaps.
std::vector<std::string> SigningSecrets(const Subscription& subscription, Timestamp now);

/// Subscriptions, with a snapshot of the active ones for the apply path (read again at most once a
/// second, or at once after a change made through this repository).
class SubscriptionRepository {
 public:
  /// `refresh`: how long the active subscriptions read are trusted (another process may change them).
  explicit SubscriptionRepository(Database& database, std::chrono::milliseconds refresh = std::chrono::seconds(1))
      : database_(database), refresh_(refresh) {}

  /// Stores a new subscription (its id, secret and times set here); kInvalidInput for a bad one.
  Subscription Create(Subscription subscription);
  std::optional<Subscription> Find(std::string_view subscription_id);
  std::vector<Subscription> List();
  /// Replaces filters, URL and enabled state, checked against `expected_version` (kVersionConflict).
  Subscription Update(const Subscription& subscription, std::int64_t expected_version);
  /// Removes the subscription and its undelivered notifications; false when there was none.
  bool Remove(std::string_view subscription_id);
  /// A new secret; the old one keeps signing (as a second signature) until `overlap_until`.
  Subscription RotateSecret(std::string_view subscription_id, Timestamp overlap_until);
  /// Disables (an endpoint answered 410 Gone); false when it was not active.
  bool Disable(std::string_view subscription_id, std::string_view reason);

  /// The active subscriptions as of at most a second ago. `within`: read on this session (the caller's
  /// transaction) rather than leasing one.
  std::shared_ptr<const std::vector<Subscription>> Active(soci::session* within = nullptr);
  /// Forgets the snapshot (a change here, or a test that changed the table behind its back).
  void Invalidate();

 private:
  Database& database_;
  std::chrono::milliseconds refresh_;
  std::mutex mutex_;
  std::shared_ptr<const std::vector<Subscription>> active_;
  std::chrono::steady_clock::time_point read_at_{};
  std::chrono::steady_clock::time_point invalidated_at_{};
};

/// One outbox row as delivery and the feed read it.
struct OutboxNotification {
  std::string notification_id;  ///< the webhook-id and the CloudEvent's id: stable across retries
  std::string subscription_id;
  std::string case_id;
  std::int64_t case_sequence = 0;
  int ordinal = 0;
  std::string kind, subject;
  std::string facts;  ///< JSON object of workflow facts (no personal data)
  Timestamp created_at{};
  std::string status;  ///< "pending", "delivered", "dead", "feed"
  int attempts = 0;
  Timestamp next_attempt_at{};
  std::optional<Timestamp> delivered_at;
  std::optional<int> last_status;
  std::string last_error;
  std::optional<std::int64_t> feed_position;
};

/// One attempt to deliver a notification.
struct DeliveryAttempt {
  std::string notification_id;
  int attempt = 0;
  std::string subscription_id;
  Timestamp attempted_at{};
  int status = 0;     ///< HTTP status, 0 when there was no answer
  std::string error;  ///< a failure kind ("timeout", "refused_destination", ...), "" for an answer
  std::int64_t duration_us = 0;
};

/// What one attempt came to, as the delivery worker decided.
struct AttemptResult {
  DeliveryAttempt attempt;
  enum class Next { kDelivered, kRetry, kDead, kDisable } next = Next::kRetry;
  Timestamp retry_at{};
};

struct FeedPage {
  std::vector<OutboxNotification> notifications;
  std::int64_t next_position = 0;  ///< the last position returned (or the one asked for when none)
};

struct ReplayRecord {
  std::string replay_id, subscription_id, actor;
  Timestamp replayed_at{}, from{}, to{};
  std::int64_t notifications = 0;
};

/// The outbox: claiming rows for delivery, recording attempts, the feed, dead letters and replays.
class OutboxRepository {
 public:
  explicit OutboxRepository(Database& database) : database_(database) {}

  /// Claims up to `limit` webhook notifications due at `now` that nobody holds, each the earliest of its
  /// (subscription, case) not yet delivered or dead-lettered, leased until `lease_until` (PostgreSQL
  /// FOR UPDATE SKIP LOCKED: engines sharing a database claim disjoint rows). `busy`: subscriptions
  /// whose deliveries this engine has as many in flight as it allows (not claimed for).
  std::vector<OutboxNotification> Claim(Timestamp now, std::size_t limit, Timestamp lease_until,
                                        const std::vector<std::string>& busy = {});
  /// Gives claimed notifications back unattempted (claimable again at once).
  void Release(const std::vector<OutboxNotification>& claimed);
  /// Records an attempt and what follows from it, if the row is still the one claimed (attempts as
  /// claimed); returns false when it was not (a replay or another engine moved it meanwhile).
  bool Record(const AttemptResult& result, int claimed_attempts);
  /// Several attempts' outcomes (each with its claim's attempt count) in one transaction.
  std::vector<bool> Record(const std::vector<std::pair<AttemptResult, int>>& results);
  /// Makes a feed subscription's new rows readable in commit order and returns the page after `after`.
  FeedPage Feed(std::string_view subscription_id, std::int64_t after, std::size_t limit);
  std::vector<DeliveryAttempt> Attempts(std::string_view subscription_id, std::size_t limit);
  std::vector<OutboxNotification> List(std::string_view subscription_id, std::string_view status, std::size_t limit);
  std::optional<OutboxNotification> Find(std::string_view notification_id);
  /// Sends again every notification of the subscription created in [from, to] (delivered or dead), as
  /// pending from `now`, recorded in the replay audit with `actor`.
  ReplayRecord Replay(std::string_view subscription_id, Timestamp from, Timestamp to, std::string_view actor, Timestamp now);
  std::vector<ReplayRecord> Replays(std::string_view subscription_id);
  /// Webhook notifications of enabled subscriptions not yet delivered nor dead (a metric), and when the
  /// next one is due.
  std::int64_t Depth();
  /// Deletes up to `limit` webhook notifications delivered before `before`, then the attempts of
  /// notifications no longer kept that were made before `before`; returns the notifications deleted.
  std::size_t PurgeDelivered(Timestamp before, std::size_t limit);
  std::optional<Timestamp> NextDue();

 private:
  Database& database_;
};

}  // namespace returnflow::persistence
