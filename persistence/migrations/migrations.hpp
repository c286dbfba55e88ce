#pragma once
/// The numbered schema migrations, oldest first. One logical schema for SQLite and PostgreSQL: the SQL
/// sticks to the common subset (TEXT, INTEGER, BIGINT; times as BIGINT microseconds since the epoch).
/// Never edit a released migration; add the next number.
#include <span>

namespace soci {
class session;
}  // namespace soci
namespace returnflow::persistence {
class MasterKeyring;
}  // namespace returnflow::persistence
#include <string_view>
#include <vector>

namespace returnflow::persistence::migrations {

struct Migration {
  int version;
  std::string_view name;
  std::vector<std::string_view> statements;
  /// Storage settings with no SQLite counterpart (never schema: tables, columns and indexes stay common).
  std::vector<std::string_view> postgresql_statements = {};
  /// Work that needs the program rather than SQL, run after the statements in the same transaction
  /// (e.g. hashing the rows that exist); none for most migrations.
  /// `master_keys` may be null (none configured).
  void (*backfill)(soci::session&, const MasterKeyring* master_keys) = nullptr;
};

/// Migration 11's backfill: seals every plaintext people row under a fresh data key (refused, with
/// kUnavailable, when there are such rows and no master key), then drops the plaintext columns.
void SealExistingPeople(soci::session& sql, const MasterKeyring* master_keys);

/// Migration 8's backfill: chains every existing history row, in sequence order per case, and sets each
/// case's head (history_chain.hpp), so that `verify` passes on an upgraded database.
void ChainExistingHistory(soci::session& sql);

/// All migrations, by ascending version (1, 2, ...; no gaps).
std::span<const Migration> All();

}  // namespace returnflow::persistence::migrations
