// Subscriptions: who hears what, and how. The signing secret is stored as given out (a webhook's HMAC
// needs the key itself, unlike a token's digest); it is shown once, at creation and rotation.
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <soci/soci.h>

#include <algorithm>

#include "persistence/case_rows.hpp"
#include "persistence/internal.hpp"
#include "persistence/outbox.hpp"

namespace returnflow::persistence {

namespace {

using internal::Query;


#define RF_SUBSCRIPTION_COLUMNS                                                                            \
  "subscription_id, organisation, office, notifications, delivery, url, secret, previous_secret, "         \
  "previous_secret_until, disabled_at, disabled_reason, created_at, updated_at, version"
constexpr Query kSelectSubscriptions{"select subscriptions",
                                     "SELECT " RF_SUBSCRIPTION_COLUMNS " FROM subscriptions ORDER BY created_at, subscription_id"};
constexpr Query kSelectActive{"select active subscriptions",
                              "SELECT " RF_SUBSCRIPTION_COLUMNS " FROM subscriptions WHERE disabled_at IS NULL"};
constexpr Query kSelectSubscription{"select subscription",
                                    "SELECT " RF_SUBSCRIPTION_COLUMNS " FROM subscriptions WHERE subscription_id = :id"};
constexpr Query kInsertSubscription{
    "insert subscription",
    "INSERT INTO subscriptions (" RF_SUBSCRIPTION_COLUMNS ") VALUES (:subscription_id, :organisation, :office, "
    ":notifications, :delivery, :url, :secret, :previous_secret, NULL, NULL, '', :created_at, :updated_at, 1)"};
constexpr Query kUpdateSubscription{
    "update subscription",
    "UPDATE subscriptions SET notifications = :notifications, url = :url, disabled_at = :disabled_at, "
    "disabled_reason = :disabled_reason, updated_at = :now, version = version + 1 "
    "WHERE subscription_id = :id AND version = :expected_version"};
constexpr Query kRotateSecret{
    "rotate subscription secret",
    "UPDATE subscriptions SET previous_secret = secret, previous_secret_until = :until, secret = :secret, "
    "updated_at = :now, version = version + 1 WHERE subscription_id = :id"};
constexpr Query kDisableSubscription{
    "disable subscription",
    "UPDATE subscriptions SET disabled_at = :now, disabled_reason = :reason, updated_at = :now2, "
    "version = version + 1 WHERE subscription_id = :id AND disabled_at IS NULL"};
constexpr Query kDeleteSubscription{"delete subscription", "DELETE FROM subscriptions WHERE subscription_id = :id"};
constexpr Query kDeleteUndelivered{"delete undelivered",
                                   "DELETE FROM outbox WHERE subscription_id = :id AND status IN ('pending', 'feed')"};
#undef RF_SUBSCRIPTION_COLUMNS

Subscription ReadSubscription(const soci::row& columns) {
  Subscription subscription;
  subscription.subscription_id = internal::Text(columns, "subscription_id");
  subscription.organisation = internal::Text(columns, "organisation");
  subscription.office = internal::Text(columns, "office");
  subscription.notifications = internal::SplitList(internal::Text(columns, "notifications"));
  const auto delivery = DeliveryFromName(internal::Text(columns, "delivery"));
  if (!delivery) throw PersistenceError(ErrorKind::kCorruptData, "subscriptions: corrupt_data (delivery)");
  subscription.delivery = *delivery;
  subscription.url = internal::Text(columns, "url");
  subscription.secret = internal::Text(columns, "secret");
  subscription.previous_secret = internal::Text(columns, "previous_secret");
  if (!internal::IsNull(columns, "previous_secret_until")) {
    subscription.previous_secret_until = internal::FromMicros(internal::Integer(columns, "previous_secret_until"));
  }
  if (!internal::IsNull(columns, "disabled_at")) {
    subscription.disabled_at = internal::FromMicros(internal::Integer(columns, "disabled_at"));
  }
  subscription.disabled_reason = internal::Text(columns, "disabled_reason");
  subscription.created_at = internal::FromMicros(internal::Integer(columns, "created_at"));
  subscription.updated_at = internal::FromMicros(internal::Integer(columns, "updated_at"));
  subscription.version = internal::Integer(columns, "version");
  return subscription;
}

/// "whsec_" + base64 of 32 random bytes (the Standard Webhooks secret format).
std::string NewSecret() {
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) != 1) throw PersistenceError(ErrorKind::kInternal, "subscriptions: no randomness");
  unsigned char encoded[4 * ((sizeof key + 2) / 3) + 1];
  const int length = EVP_EncodeBlock(encoded, key, sizeof key);
  return "whsec_" + std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
}

void Validate(const Subscription& subscription) {
  const auto invalid = [](std::string_view why) {
    throw PersistenceError(ErrorKind::kInvalidInput, fmt::format("subscriptions: invalid_input ({})", why));
  };
  if (subscription.organisation.empty() == subscription.office.empty()) invalid("exactly one of organisation and office");
  for (const auto* name : {&subscription.organisation, &subscription.office}) {
    if (name->size() > 100 || name->find('|') != std::string::npos) invalid("organisation or office name");
  }
  if (subscription.notifications.empty() || subscription.notifications.size() > 50) invalid("1 to 50 notifications");
  for (const auto& filter : subscription.notifications) {
    if (!ValidNotificationFilter(filter)) invalid("notification filter");
  }
  if (subscription.delivery == Delivery::kWebhook) {
    if (subscription.url.empty() || subscription.url.size() > 2000) invalid("a webhook needs a URL");
  } else if (!subscription.url.empty()) {
    invalid("a feed has no URL");
  }
}

}  // namespace

Subscription SubscriptionRepository::Create(Subscription subscription) {
  Validate(subscription);
  subscription.subscription_id = internal::NewUuid();
  subscription.secret = subscription.delivery == Delivery::kWebhook ? NewSecret() : std::string();
  subscription.previous_secret.clear();
  subscription.previous_secret_until.reset();
  subscription.disabled_at.reset();
  subscription.disabled_reason.clear();
  subscription.version = 1;
  const long long now = internal::ToMicros(database_.Now());
  subscription.created_at = subscription.updated_at = internal::FromMicros(now);
  const std::string notifications = internal::JoinList(subscription.notifications);
  const std::string delivery(Name(subscription.delivery));
  database_.WriteTransaction("create subscription", [&](soci::session& sql) {
    sql << kInsertSubscription.text, soci::use(subscription.subscription_id, "subscription_id"),
        soci::use(subscription.organisation, "organisation"), soci::use(subscription.office, "office"),
        soci::use(notifications, "notifications"), soci::use(delivery, "delivery"), soci::use(subscription.url, "url"),
        soci::use(subscription.secret, "secret"), soci::use(subscription.previous_secret, "previous_secret"),
        soci::use(now, "created_at"), soci::use(now, "updated_at");
  });
  Invalidate();
  return subscription;
}

std::optional<Subscription> SubscriptionRepository::Find(std::string_view subscription_id) {
  if (!LooksLikeCaseId(subscription_id)) return std::nullopt;  // a UUID, like case ids
  const std::string id(subscription_id);
  std::optional<Subscription> found;
  database_.Read(kSelectSubscription.name, [&](soci::session& sql) {
    found.reset();
    internal::ForEachRow(sql, kSelectSubscription, [&](const soci::row& columns) { found = ReadSubscription(columns); },
                         soci::use(id, "id"));
  });
  return found;
}

std::vector<Subscription> SubscriptionRepository::List() {
  std::vector<Subscription> all;
  database_.Read(kSelectSubscriptions.name, [&](soci::session& sql) {
    all.clear();
    internal::ForEachRow(sql, kSelectSubscriptions, [&](const soci::row& columns) { all.push_back(ReadSubscription(columns)); });
  });
  return all;
}

Subscription SubscriptionRepository::Update(const Subscription& subscription, std::int64_t expected_version) {
  Validate(subscription);
  const long long now = internal::ToMicros(database_.Now());
  const std::string notifications = internal::JoinList(subscription.notifications);
  long long disabled_at = subscription.disabled_at ? internal::ToMicros(*subscription.disabled_at) : 0;
  soci::indicator disabled_indicator = subscription.disabled_at ? soci::i_ok : soci::i_null;
  long long expected = expected_version;
  bool updated = false;
  database_.WriteTransaction("update subscription", [&](soci::session& sql) {
    soci::statement statement(sql);
    internal::PrepareOnce(statement, kUpdateSubscription.text, soci::use(notifications, "notifications"),
                          soci::use(subscription.url, "url"), soci::use(disabled_at, disabled_indicator, "disabled_at"),
                          soci::use(subscription.disabled_reason, "disabled_reason"), soci::use(now, "now"),
                          soci::use(subscription.subscription_id, "id"), soci::use(expected, "expected_version"));
    statement.execute(true);
    updated = statement.get_affected_rows() == 1;
  });
  Invalidate();
  if (!updated) {
    if (!Find(subscription.subscription_id)) {
      throw PersistenceError(ErrorKind::kNotFound, "update subscription: not_found");
    }
    throw PersistenceError(ErrorKind::kVersionConflict, "update subscription: version_conflict");
  }
  return *Find(subscription.subscription_id);
}

bool SubscriptionRepository::Remove(std::string_view subscription_id) {
  if (!LooksLikeCaseId(subscription_id)) return false;
  const std::string id(subscription_id);
  bool removed = false;
  database_.WriteTransaction("remove subscription", [&](soci::session& sql) {
    soci::statement statement(sql);
    internal::PrepareOnce(statement, kDeleteSubscription.text, soci::use(id, "id"));
    statement.execute(true);
    removed = statement.get_affected_rows() == 1;
    if (removed) sql << kDeleteUndelivered.text, soci::use(id, "id");
  });
  Invalidate();
  return removed;
}

Subscription SubscriptionRepository::RotateSecret(std::string_view subscription_id, Timestamp overlap_until) {
  auto found = Find(subscription_id);
  if (!found) throw PersistenceError(ErrorKind::kNotFound, "rotate subscription secret: not_found");
  if (found->delivery != Delivery::kWebhook) {
    throw PersistenceError(ErrorKind::kInvalidInput, "rotate subscription secret: invalid_input (a feed has no secret)");
  }
  const std::string secret = NewSecret();
  const long long until = internal::ToMicros(overlap_until);
  const long long now = internal::ToMicros(database_.Now());
  database_.WriteTransaction("rotate subscription secret", [&](soci::session& sql) {
    sql << kRotateSecret.text, soci::use(until, "until"), soci::use(secret, "secret"), soci::use(now, "now"),
        soci::use(found->subscription_id, "id");
  });
  Invalidate();
  return *Find(subscription_id);
}

bool SubscriptionRepository::Disable(std::string_view subscription_id, std::string_view reason_view) {
  const std::string id(subscription_id), reason(reason_view);
  const long long now = internal::ToMicros(database_.Now());
  bool disabled = false;
  database_.WriteTransaction("disable subscription", [&](soci::session& sql) {
    soci::statement statement(sql);
    internal::PrepareOnce(statement, kDisableSubscription.text, soci::use(now, "now"), soci::use(reason, "reason"),
                          soci::use(now, "now2"), soci::use(id, "id"));
    statement.execute(true);
    disabled = statement.get_affected_rows() == 1;
  });
  Invalidate();
  return disabled;
}

std::shared_ptr<const std::vector<Subscription>> SubscriptionRepository::Active(soci::session* within) {
  {
    std::lock_guard lock(mutex_);
    if (active_ && std::chrono::steady_clock::now() - read_at_ < refresh_) return active_;
  }
  auto read = std::make_shared<std::vector<Subscription>>();
  const auto started = std::chrono::steady_clock::now();
  const auto each = [&](const soci::row& columns) { read->push_back(ReadSubscription(columns)); };
  if (within) {
    internal::ForEachRow(*within, kSelectActive, each);
  } else {
    database_.Read(kSelectActive.name, [&](soci::session& sql) {
      read->clear();
      internal::ForEachRow(sql, kSelectActive, each);
    });
  }
  std::lock_guard lock(mutex_);
  // A change that invalidated the snapshot while this read ran leaves it stale: keep it unremembered.
  if (invalidated_at_ <= started) {
    active_ = read;
    read_at_ = started;
  }
  return read;
}

void SubscriptionRepository::Invalidate() {
  std::lock_guard lock(mutex_);
  active_.reset();
  invalidated_at_ = std::chrono::steady_clock::now();
}

}  // namespace returnflow::persistence
