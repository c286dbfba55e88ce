// Checkpoints over every case's head, and migration 8's backfill of the chain over existing rows.
#include "persistence/checkpoints.hpp"

#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include "persistence/case_rows.hpp"
#include "persistence/internal.hpp"
#include "persistence/migrations/migrations.hpp"

namespace returnflow::persistence {

using internal::Query;

namespace {

constexpr long long kPage = 1000;

// :after, :limit -> the next case ids, in id order.
constexpr Query kCaseIdsAfter{"chain backfill case ids",
                              "SELECT case_id FROM cases WHERE case_id > :after ORDER BY case_id LIMIT :limit"};
// :case_id -> every history row of the case, in sequence order.
constexpr Query kCaseHistory{"chain backfill history",
                             "SELECT " RETURNFLOW_HISTORY_COLUMNS " FROM case_events WHERE case_id = :case_id "
                             "ORDER BY sequence"};
constexpr Query kSetRowHash{"chain backfill row",
                            "UPDATE case_events SET hash = :hash, prev_hash = :prev_hash "
                            "WHERE case_id = :case_id AND sequence = :sequence"};
constexpr Query kSetHead{"chain backfill head", "UPDATE cases SET head_hash = :head WHERE case_id = :case_id"};

// The newest checkpoint: its id and digest.
constexpr Query kSelectLatest{"latest checkpoint",
                              "SELECT checkpoint_id, created_at, case_count, digest, previous_digest, signature, "
                              "key_id, public_key FROM checkpoints ORDER BY checkpoint_id DESC LIMIT 1"};
// Covers every case whose head at its last sequence no checkpoint covers yet, for checkpoint :id.
constexpr Query kCoverHeads{
    "cover heads",
    "INSERT INTO checkpoint_heads (case_id, sequence, head, checkpoint_id) SELECT c.case_id, c.last_sequence, "
    "c.head_hash, :checkpoint_id FROM cases c WHERE NOT EXISTS (SELECT 1 FROM checkpoint_heads h "
    "WHERE h.case_id = c.case_id AND h.sequence = c.last_sequence)"};
constexpr Query kInsertCheckpoint{
    "insert checkpoint",
    "INSERT INTO checkpoints (checkpoint_id, created_at, case_count, digest, previous_digest, signature, key_id, "
    "public_key) VALUES (:checkpoint_id, :created_at, :case_count, :digest, :previous_digest, :signature, :key_id, "
    ":public_key)"};

std::optional<Checkpoint> LatestOn(soci::session& sql) {
  std::optional<Checkpoint> latest;
  internal::ForEachRow(sql, kSelectLatest, [&](const soci::row& columns) { latest = internal::ReadCheckpoint(columns); });
  return latest;
}

// What checkpoint :checkpoint_id covers, one page in case-id order after :after: per case, the entry of
// greatest sequence among those of checkpoints up to it.
constexpr Query kCoveredHeads{
    "covered heads",
    "SELECT h.case_id, h.sequence, h.head FROM checkpoint_heads h WHERE h.checkpoint_id <= :checkpoint_id "
    "AND h.case_id > :after AND NOT EXISTS (SELECT 1 FROM checkpoint_heads n WHERE n.case_id = h.case_id "
    "AND n.checkpoint_id <= :checkpoint_id AND n.sequence > h.sequence) ORDER BY h.case_id LIMIT :limit"};

}  // namespace

namespace internal {

Checkpoint ReadCheckpoint(const soci::row& columns) {
  Checkpoint checkpoint;
  checkpoint.id = Integer(columns, "checkpoint_id");
  checkpoint.created_at = FromMicros(Integer(columns, "created_at"));
  checkpoint.case_count = Integer(columns, "case_count");
  checkpoint.digest = Text(columns, "digest");
  checkpoint.previous_digest = Text(columns, "previous_digest");
  checkpoint.signature = Text(columns, "signature");
  checkpoint.key_id = Text(columns, "key_id");
  checkpoint.public_key = Text(columns, "public_key");
  return checkpoint;
}

}  // namespace internal

std::string Checkpoint::Statement() const {
  std::string statement;
  const auto add = [&](std::string_view bytes) {
    auto size = static_cast<std::uint64_t>(bytes.size());
    char length[8];
    for (int index = 7; index >= 0; --index) {
      length[index] = static_cast<char>(size & 0xff);
      size >>= 8;
    }
    statement.append(length, sizeof length).append(bytes);
  };
  statement = "returnflow.checkpoint.v1";
  add(std::to_string(id));
  add(std::to_string(internal::ToMicros(created_at)));
  add(std::to_string(case_count));
  add(digest);
  add(previous_digest);
  add(key_id);
  return statement;
}

Checkpoint CheckpointRepository::Create(const SigningKey& key) {
  // Another process taking the same id first loses this one the primary key: the next try follows it.
  constexpr int kAttempts = 5;
  for (int attempt = 1;; ++attempt) {
    try {
      return CreateOnce(key);
    } catch (const PersistenceError& error) {
      if (error.Kind() != ErrorKind::kConflict || attempt == kAttempts) throw;
    }
  }
}

Checkpoint CheckpointRepository::CreateOnce(const SigningKey& key) {
  Checkpoint checkpoint;
  database_.WriteTransaction("checkpoint", [&](soci::session& sql) {
    // Every head read below from one snapshot. A second process checkpointing at the same moment takes
    // the same id and loses on the primary key (kConflict).
    if (database_.GetBackend() == Backend::kPostgresql) sql << "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ";
    const auto previous = LatestOn(sql);
    checkpoint = Checkpoint{};
    checkpoint.id = previous ? previous->id + 1 : 1;
    checkpoint.previous_digest = previous ? previous->digest : std::string(kGenesisHash);
    checkpoint.created_at = database_.Now();
    sql << kCoverHeads.text, soci::use(checkpoint.id, "checkpoint_id");

    CanonicalHasher digest("returnflow.checkpoint-heads.v1");
    std::string after;
    for (;;) {
      long long rows = 0;
      internal::ForEachRow(sql, kCoveredHeads, [&](const soci::row& columns) {
        after = internal::Text(columns, "case_id");
        digest.Field(after).Field(internal::Integer(columns, "sequence")).Field(internal::Text(columns, "head"));
        ++rows;
      }, soci::use(checkpoint.id, "checkpoint_id"), soci::use(after, "after"), soci::use(kPage, "limit"));
      checkpoint.case_count += rows;
      if (rows < kPage) break;
    }
    checkpoint.digest = digest.HexDigest();
    checkpoint.key_id = key.KeyId();
    checkpoint.public_key = key.PublicKeyHex();
    checkpoint.signature = key.Sign(checkpoint.Statement());
    const long long created_at = internal::ToMicros(checkpoint.created_at);
    const long long case_count = checkpoint.case_count;
    sql << kInsertCheckpoint.text, soci::use(checkpoint.id, "checkpoint_id"), soci::use(created_at, "created_at"),
        soci::use(case_count, "case_count"), soci::use(checkpoint.digest, "digest"),
        soci::use(checkpoint.previous_digest, "previous_digest"), soci::use(checkpoint.signature, "signature"),
        soci::use(checkpoint.key_id, "key_id"), soci::use(checkpoint.public_key, "public_key");
  });
  spdlog::info("event=checkpoint_created checkpoint={} cases={} key={}", checkpoint.id, checkpoint.case_count,
               checkpoint.key_id);
  return checkpoint;
}

std::optional<Checkpoint> CheckpointRepository::Latest() {
  std::optional<Checkpoint> latest;
  database_.Read("latest checkpoint", [&](soci::session& sql) { latest = LatestOn(sql); });
  return latest;
}

namespace migrations {

void ChainExistingHistory(soci::session& sql) {
  std::string after;
  long long cases = 0;
  for (;;) {
    std::vector<std::string> ids;
    internal::ForEachRow(sql, kCaseIdsAfter, [&](const soci::row& columns) {
      ids.push_back(internal::Text(columns, "case_id"));
    }, soci::use(after, "after"), soci::use(kPage, "limit"));
    for (const auto& case_id : ids) {
      std::vector<internal::HistoryRow> rows;
      internal::ForEachRow(sql, kCaseHistory, [&](const soci::row& columns) {
        internal::HistoryRow row;
        internal::ReadHistoryRow(columns, row);
        rows.push_back(std::move(row));
      }, soci::use(case_id, "case_id"));
      std::string head;
      for (auto& row : rows) {
        ChainRow(head, row);
        sql << kSetRowHash.text, soci::use(row.hash, "hash"), soci::use(row.prev_hash, "prev_hash"),
            soci::use(row.case_id, "case_id"), soci::use(row.sequence, "sequence");
      }
      sql << kSetHead.text, soci::use(head, "head"), soci::use(case_id, "case_id");
      ++cases;
    }
    if (static_cast<long long>(ids.size()) < kPage) break;
    after = ids.back();
  }
  spdlog::info("database: history of {} existing cases chained", cases);
}

}  // namespace migrations

}  // namespace returnflow::persistence
