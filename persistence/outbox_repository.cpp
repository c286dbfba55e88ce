// The outbox after the commit: claimed for delivery with a lease, attempts recorded, the pull feed,
// dead letters and audited replays.
#include <fmt/format.h>
#include <soci/soci.h>

#include <algorithm>
#include <map>

#include "persistence/case_rows.hpp"
#include "persistence/internal.hpp"
#include "persistence/outbox.hpp"

namespace returnflow::persistence {

namespace {

using internal::Query;

#define RF_OUTBOX_COLUMNS                                                                                  \
  "notification_id, subscription_id, case_id, case_sequence, ordinal, kind, subject, facts, created_at, " \
  "status, attempts, next_attempt_at, delivered_at, last_status, last_error, feed_position"

// Claims webhook notifications due at :now that nobody holds, each the earliest of its (subscription,
// case) still pending (a later one waits until it is delivered or dead-lettered), of an active
// subscription not in :busy ('|a|b|'), leasing them until :lease_until. PostgreSQL skips rows another
// engine is claiming; a row it skips still holds back the later rows of its case.
#define RF_CLAIM(LOCK)                                                                                            \
  "UPDATE outbox SET claimed_until = :lease_until, attempts = attempts + 1 WHERE notification_id IN ("            \
  "SELECT o.notification_id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= :now "              \
  "AND (o.claimed_until IS NULL OR o.claimed_until <= :now2) AND :busy NOT LIKE '%|' || o.subscription_id || '|%' " \
  "AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.subscription_id = o.subscription_id "                         \
  "AND s.disabled_at IS NULL) "                                                                                   \
  "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.subscription_id = o.subscription_id AND p.case_id = o.case_id " \
  "AND p.status = 'pending' AND (p.case_sequence, p.ordinal) < (o.case_sequence, o.ordinal)) "                   \
  "ORDER BY o.next_attempt_at, o.created_at LIMIT :row_limit" LOCK ") "                                            \
  "RETURNING " RF_OUTBOX_COLUMNS
constexpr Query kClaimPostgres{"claim notifications", RF_CLAIM(" FOR UPDATE OF o SKIP LOCKED")};
constexpr Query kClaimSqlite{"claim notifications", RF_CLAIM("")};
#undef RF_CLAIM

constexpr Query kRelease{
    "release notification",
    "UPDATE outbox SET claimed_until = NULL, attempts = attempts - 1 WHERE notification_id = :id "
    "AND status = 'pending' AND attempts = :attempts"};
constexpr Query kInsertAttempt{
    "insert delivery attempt",
    "INSERT INTO delivery_attempts (attempt_id, notification_id, attempt, subscription_id, attempted_at, status, "
    "error, duration_us) VALUES (:attempt_id, :notification_id, :attempt, :subscription_id, :attempted_at, :status, "
    ":error, :duration_us)"};
// :status ('pending' to retry, 'delivered', 'dead'); only the claim that took the row may record it.
constexpr Query kRecordOutcome{
    "record delivery",
    "UPDATE outbox SET status = :status, next_attempt_at = :next_attempt_at, claimed_until = NULL, "
    "delivered_at = :delivered_at, last_status = :last_status, last_error = :last_error "
    "WHERE notification_id = :id AND status = 'pending' AND attempts = :attempts"};
constexpr Query kSelectNotification{"select notification",
                                    "SELECT " RF_OUTBOX_COLUMNS " FROM outbox WHERE notification_id = :id"};
constexpr Query kSelectByStatus{
    "select notifications by status",
    "SELECT " RF_OUTBOX_COLUMNS " FROM outbox WHERE subscription_id = :id AND (status = :status OR :any = 1) "
    "ORDER BY created_at, case_id, case_sequence, ordinal LIMIT :row_limit"};
constexpr Query kSelectAttempts{
    "select delivery attempts",
    "SELECT notification_id, attempt, subscription_id, attempted_at, status, error, duration_us FROM "
    "delivery_attempts WHERE subscription_id = :id ORDER BY attempted_at DESC, attempt DESC LIMIT :row_limit"};
constexpr Query kLockSubscription{"lock subscription",
                                  "SELECT subscription_id FROM subscriptions WHERE subscription_id = :id FOR UPDATE"};
constexpr Query kFeedMax{"feed position",
                         "SELECT COALESCE(MAX(feed_position), 0) AS position FROM outbox WHERE subscription_id = :id"};
constexpr Query kFeedUnpublished{
    "feed unpublished",
    "SELECT notification_id, case_id, created_at FROM outbox WHERE subscription_id = :id AND status = 'feed' "
    "AND feed_position IS NULL ORDER BY case_id, case_sequence, ordinal"};
constexpr Query kFeedPublish{"feed publish",
                             "UPDATE outbox SET feed_position = :position WHERE notification_id = :notification_id"};
constexpr Query kFeedPage{
    "feed page",
    "SELECT " RF_OUTBOX_COLUMNS " FROM outbox WHERE subscription_id = :id AND feed_position > :after "
    "ORDER BY feed_position LIMIT :row_limit"};
constexpr Query kReplay{
    "replay notifications",
    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = :now, claimed_until = NULL, "
    "delivered_at = NULL WHERE subscription_id = :id AND created_at >= :from_time AND created_at <= :to_time "
    "AND status IN ('delivered', 'dead')"};
constexpr Query kInsertReplay{
    "insert replay",
    "INSERT INTO outbox_replays (replay_id, subscription_id, actor, replayed_at, from_time, to_time, notifications) "
    "VALUES (:replay_id, :subscription_id, :actor, :replayed_at, :from_time, :to_time, :notifications)"};
constexpr Query kSelectReplays{
    "select replays",
    "SELECT replay_id, subscription_id, actor, replayed_at, from_time, to_time, notifications FROM outbox_replays "
    "WHERE subscription_id = :id ORDER BY replayed_at, replay_id"};
constexpr Query kPurgeDelivered{
    "purge delivered notifications",
    "DELETE FROM outbox WHERE notification_id IN (SELECT notification_id FROM outbox WHERE status = 'delivered' "
    "AND delivered_at < :before ORDER BY delivered_at LIMIT :limit)"};
constexpr Query kPurgeAttempts{
    "purge attempts",
    "DELETE FROM delivery_attempts WHERE attempted_at < :before AND NOT EXISTS (SELECT 1 FROM outbox o WHERE "
    "o.notification_id = delivery_attempts.notification_id)"};
// A disabled subscription's notifications wait (sent if it is enabled again) but are not a backlog.
constexpr Query kDepth{"outbox depth",
                       "SELECT COUNT(*) AS depth FROM outbox o JOIN subscriptions s ON s.subscription_id = o.subscription_id "
                       "WHERE o.status = 'pending' AND s.disabled_at IS NULL"};
constexpr Query kNextDue{"outbox next due",
                         "SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > next_attempt_at "
                         "THEN claimed_until ELSE next_attempt_at END) AS next_due FROM outbox WHERE status = 'pending'"};
#undef RF_OUTBOX_COLUMNS

/// One outbox row; the one mapping of the table.
OutboxNotification ReadNotification(const soci::row& columns) {
  OutboxNotification row;
  row.notification_id = internal::Text(columns, "notification_id");
  row.subscription_id = internal::Text(columns, "subscription_id");
  row.case_id = internal::Text(columns, "case_id");
  row.case_sequence = internal::Integer(columns, "case_sequence");
  row.ordinal = static_cast<int>(internal::Integer(columns, "ordinal"));
  row.kind = internal::Text(columns, "kind");
  row.subject = internal::Text(columns, "subject");
  row.facts = internal::Text(columns, "facts");
  row.created_at = internal::FromMicros(internal::Integer(columns, "created_at"));
  row.status = internal::Text(columns, "status");
  row.attempts = static_cast<int>(internal::Integer(columns, "attempts"));
  row.next_attempt_at = internal::FromMicros(internal::Integer(columns, "next_attempt_at"));
  if (!internal::IsNull(columns, "delivered_at")) {
    row.delivered_at = internal::FromMicros(internal::Integer(columns, "delivered_at"));
  }
  if (!internal::IsNull(columns, "last_status")) row.last_status = static_cast<int>(internal::Integer(columns, "last_status"));
  row.last_error = internal::Text(columns, "last_error");
  if (!internal::IsNull(columns, "feed_position")) row.feed_position = internal::Integer(columns, "feed_position");
  return row;
}

long long RowLimit(std::size_t limit) { return static_cast<long long>(std::clamp<std::size_t>(limit, 1, 1000)); }

}  // namespace

std::vector<OutboxNotification> OutboxRepository::Claim(Timestamp now, std::size_t limit, Timestamp lease_until,
                                                        const std::vector<std::string>& busy) {
  const long long at = internal::ToMicros(now);
  const long long lease = internal::ToMicros(lease_until);
  const long long rows = RowLimit(limit);
  const std::string busy_joined = internal::JoinList(busy);
  const auto& query = database_.GetBackend() == Backend::kPostgresql ? kClaimPostgres : kClaimSqlite;
  std::vector<OutboxNotification> claimed;
  database_.WriteTransaction(query.name, [&](soci::session& sql) {
    claimed.clear();
    internal::ForEachRow(sql, query, [&](const soci::row& columns) { claimed.push_back(ReadNotification(columns)); },
                         soci::use(lease, "lease_until"), soci::use(at, "now"), soci::use(at, "now2"),
                         soci::use(busy_joined, "busy"), soci::use(rows, "row_limit"));
  });
  std::sort(claimed.begin(), claimed.end(), [](const OutboxNotification& left, const OutboxNotification& right) {
    return std::tie(left.next_attempt_at, left.created_at, left.notification_id) <
           std::tie(right.next_attempt_at, right.created_at, right.notification_id);
  });
  return claimed;
}

void OutboxRepository::Release(const std::vector<OutboxNotification>& claimed) {
  if (claimed.empty()) return;
  database_.WriteTransaction(kRelease.name, [&](soci::session& sql) {
    for (const auto& notification : claimed) {
      sql << kRelease.text, soci::use(notification.notification_id, "id"), soci::use(notification.attempts, "attempts");
    }
  });
}

bool OutboxRepository::Record(const AttemptResult& result, int claimed_attempts) {
  return Record({{result, claimed_attempts}}).front();
}

std::vector<bool> OutboxRepository::Record(const std::vector<std::pair<AttemptResult, int>>& results) {
  struct Row {
    std::string attempt_id = internal::NewUuid();
    long long attempted_at = 0;
    long long duration = 0;
    std::string status = "pending";
    long long next_attempt_at = 0;
    soci::indicator delivered_indicator = soci::i_null;
    long long delivered_at = 0;
    int last_status = 0;
    soci::indicator status_indicator = soci::i_null;
  };
  std::vector<Row> rows(results.size());
  for (std::size_t index = 0; index < results.size(); ++index) {
    const auto& [result, claimed_attempts] = results[index];
    auto& row = rows[index];
    const auto& attempt = result.attempt;
    row.attempted_at = internal::ToMicros(attempt.attempted_at);
    row.duration = attempt.duration_us;
    row.next_attempt_at = row.attempted_at;
    switch (result.next) {
      case AttemptResult::Next::kDelivered:
        row.status = "delivered";
        row.delivered_indicator = soci::i_ok;
        row.delivered_at = row.attempted_at;
        break;
      case AttemptResult::Next::kRetry:
        row.next_attempt_at = internal::ToMicros(result.retry_at);
        break;
      case AttemptResult::Next::kDead:
        row.status = "dead";
        break;
      case AttemptResult::Next::kDisable:
        // Stays pending: sent again, in order, if an admin enables the subscription again.
        break;
    }
    row.last_status = attempt.status;
    row.status_indicator = attempt.status > 0 ? soci::i_ok : soci::i_null;
  }
  std::vector<bool> recorded(results.size(), false);
  // Every outcome of a round of deliveries in one transaction: one commit, not one per webhook.
  database_.WriteTransaction(kRecordOutcome.name, [&](soci::session& sql) {
    std::fill(recorded.begin(), recorded.end(), false);
    for (std::size_t index = 0; index < results.size(); ++index) {
      const auto& [result, claimed_attempts] = results[index];
      const auto& attempt = result.attempt;
      auto& row = rows[index];
      soci::statement statement(sql);
      internal::PrepareOnce(statement, kRecordOutcome.text, soci::use(row.status, "status"),
                            soci::use(row.next_attempt_at, "next_attempt_at"),
                            soci::use(row.delivered_at, row.delivered_indicator, "delivered_at"),
                            soci::use(row.last_status, row.status_indicator, "last_status"),
                            soci::use(attempt.error, "last_error"), soci::use(attempt.notification_id, "id"),
                            soci::use(claimed_attempts, "attempts"));
      statement.execute(true);
      recorded[index] = statement.get_affected_rows() == 1;
      sql << kInsertAttempt.text, soci::use(row.attempt_id, "attempt_id"),
          soci::use(attempt.notification_id, "notification_id"), soci::use(attempt.attempt, "attempt"),
          soci::use(attempt.subscription_id, "subscription_id"), soci::use(row.attempted_at, "attempted_at"),
          soci::use(attempt.status, "status"), soci::use(attempt.error, "error"), soci::use(row.duration, "duration_us");
    }
  });
  return recorded;
}

FeedPage OutboxRepository::Feed(std::string_view subscription_id, std::int64_t after, std::size_t limit) {
  const std::string id(subscription_id);
  const long long rows = RowLimit(limit);
  const long long after_position = std::max<std::int64_t>(after, 0);
  const bool postgres = database_.GetBackend() == Backend::kPostgresql;
  FeedPage page;
  database_.WriteTransaction("feed", [&](soci::session& sql) {
    page = FeedPage{};
    page.next_position = after_position;
    // Positions are given in commit order: under the subscription's lock (SQLite: the write lock), to
    // the rows committed since the last reader, each case's in its own order.
    if (postgres) internal::ForEachRow(sql, kLockSubscription, [](const soci::row&) {}, soci::use(id, "id"));
    long long position = 0;
    internal::ForEachRow(sql, kFeedMax, [&](const soci::row& columns) { position = internal::Integer(columns, "position"); },
                         soci::use(id, "id"));
    struct Unpublished {
      std::string notification_id, case_id;
      long long order_at = 0;
    };
    std::vector<Unpublished> unpublished;
    std::map<std::string, long long> case_clock;  // a case's rows never go back in time, whatever the clock did
    internal::ForEachRow(sql, kFeedUnpublished, [&](const soci::row& columns) {
      Unpublished row{internal::Text(columns, "notification_id"), internal::Text(columns, "case_id"),
                      internal::Integer(columns, "created_at")};
      auto& latest = case_clock[row.case_id];
      row.order_at = latest = std::max(latest, row.order_at);
      unpublished.push_back(std::move(row));
    }, soci::use(id, "id"));
    std::stable_sort(unpublished.begin(), unpublished.end(), [](const Unpublished& left, const Unpublished& right) {
      return std::tie(left.order_at, left.case_id) < std::tie(right.order_at, right.case_id);
    });
    for (const auto& row : unpublished) {
      ++position;
      sql << kFeedPublish.text, soci::use(position, "position"), soci::use(row.notification_id, "notification_id");
    }
    internal::ForEachRow(sql, kFeedPage, [&](const soci::row& columns) {
      page.notifications.push_back(ReadNotification(columns));
      page.next_position = *page.notifications.back().feed_position;
    }, soci::use(id, "id"), soci::use(after_position, "after"), soci::use(rows, "row_limit"));
  });
  return page;
}

std::vector<DeliveryAttempt> OutboxRepository::Attempts(std::string_view subscription_id, std::size_t limit) {
  const std::string id(subscription_id);
  const long long rows = RowLimit(limit);
  std::vector<DeliveryAttempt> attempts;
  database_.Read(kSelectAttempts.name, [&](soci::session& sql) {
    attempts.clear();
    internal::ForEachRow(sql, kSelectAttempts, [&](const soci::row& columns) {
      attempts.push_back({internal::Text(columns, "notification_id"), static_cast<int>(internal::Integer(columns, "attempt")),
                          internal::Text(columns, "subscription_id"),
                          internal::FromMicros(internal::Integer(columns, "attempted_at")),
                          static_cast<int>(internal::Integer(columns, "status")), internal::Text(columns, "error"),
                          internal::Integer(columns, "duration_us")});
    }, soci::use(id, "id"), soci::use(rows, "row_limit"));
  });
  return attempts;
}

std::vector<OutboxNotification> OutboxRepository::List(std::string_view subscription_id, std::string_view status_view,
                                                       std::size_t limit) {
  const std::string id(subscription_id), status(status_view);
  const int any = status.empty() ? 1 : 0;
  const long long rows = RowLimit(limit);
  std::vector<OutboxNotification> found;
  database_.Read(kSelectByStatus.name, [&](soci::session& sql) {
    found.clear();
    internal::ForEachRow(sql, kSelectByStatus, [&](const soci::row& columns) { found.push_back(ReadNotification(columns)); },
                         soci::use(id, "id"), soci::use(status, "status"), soci::use(any, "any"),
                         soci::use(rows, "row_limit"));
  });
  return found;
}

std::optional<OutboxNotification> OutboxRepository::Find(std::string_view notification_id) {
  const std::string id(notification_id);
  std::optional<OutboxNotification> found;
  database_.Read(kSelectNotification.name, [&](soci::session& sql) {
    found.reset();
    internal::ForEachRow(sql, kSelectNotification, [&](const soci::row& columns) { found = ReadNotification(columns); },
                         soci::use(id, "id"));
  });
  return found;
}

ReplayRecord OutboxRepository::Replay(std::string_view subscription_id, Timestamp from, Timestamp to,
                                      std::string_view actor, Timestamp now) {
  ReplayRecord record{internal::NewUuid(), std::string(subscription_id), std::string(actor), now, from, to, 0};
  const long long at = internal::ToMicros(now), from_time = internal::ToMicros(from), to_time = internal::ToMicros(to);
  database_.WriteTransaction(kReplay.name, [&](soci::session& sql) {
    soci::statement statement(sql);
    internal::PrepareOnce(statement, kReplay.text, soci::use(at, "now"), soci::use(record.subscription_id, "id"),
                          soci::use(from_time, "from_time"), soci::use(to_time, "to_time"));
    statement.execute(true);
    record.notifications = static_cast<std::int64_t>(statement.get_affected_rows());
    long long count = record.notifications;
    sql << kInsertReplay.text, soci::use(record.replay_id, "replay_id"),
        soci::use(record.subscription_id, "subscription_id"), soci::use(record.actor, "actor"),
        soci::use(at, "replayed_at"), soci::use(from_time, "from_time"), soci::use(to_time, "to_time"),
        soci::use(count, "notifications");
  });
  return record;
}

std::vector<ReplayRecord> OutboxRepository::Replays(std::string_view subscription_id) {
  const std::string id(subscription_id);
  std::vector<ReplayRecord> replays;
  database_.Read(kSelectReplays.name, [&](soci::session& sql) {
    replays.clear();
    internal::ForEachRow(sql, kSelectReplays, [&](const soci::row& columns) {
      replays.push_back({internal::Text(columns, "replay_id"), internal::Text(columns, "subscription_id"),
                         internal::Text(columns, "actor"), internal::FromMicros(internal::Integer(columns, "replayed_at")),
                         internal::FromMicros(internal::Integer(columns, "from_time")),
                         internal::FromMicros(internal::Integer(columns, "to_time")),
                         internal::Integer(columns, "notifications")});
    }, soci::use(id, "id"));
  });
  return replays;
}

std::int64_t OutboxRepository::Depth() {
  std::int64_t depth = 0;
  database_.Read(kDepth.name, [&](soci::session& sql) {
    internal::ForEachRow(sql, kDepth, [&](const soci::row& columns) { depth = internal::Integer(columns, "depth"); });
  });
  return depth;
}

std::size_t OutboxRepository::PurgeDelivered(Timestamp before, std::size_t limit) {
  const long long before_us = internal::ToMicros(before);
  const long long max_rows = static_cast<long long>(limit);
  std::size_t deleted = 0;
  database_.WriteTransaction(kPurgeDelivered.name, [&](soci::session& sql) {
    soci::statement purge = (sql.prepare << kPurgeDelivered.text, soci::use(before_us, "before"), soci::use(max_rows, "limit"));
    purge.execute(true);
    deleted = static_cast<std::size_t>(purge.get_affected_rows());
    sql << kPurgeAttempts.text, soci::use(before_us, "before");
  });
  return deleted;
}

std::optional<Timestamp> OutboxRepository::NextDue() {
  std::optional<Timestamp> next;
  database_.Read(kNextDue.name, [&](soci::session& sql) {
    next.reset();
    internal::ForEachRow(sql, kNextDue, [&](const soci::row& columns) {
      if (!internal::IsNull(columns, "next_due")) next = internal::FromMicros(internal::Integer(columns, "next_due"));
    });
  });
  return next;
}

}  // namespace returnflow::persistence
