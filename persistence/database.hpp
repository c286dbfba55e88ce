#pragma once
/// The database a returnflow process works against: a SOCI connection pool on embedded SQLite or
/// PostgreSQL, the schema migrations, and the error categories every persistence call reports.
///
/// Every call here blocks. Run them on a worker pool, never on I/O threads. A `Database` is
/// thread-safe; the SOCI sessions it leases are not, so each unit of work leases its own.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/settings.hpp"

namespace soci {
class session;
class connection_pool;
}  // namespace soci

namespace returnflow::persistence {

class MasterKeyring;

/// Microsecond UTC timestamps, as stored (BIGINT microseconds since the Unix epoch on both backends).
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;
Timestamp Now();

/// What went wrong, as callers need to tell it apart. Callers branch on the kind, never on the text.
enum class ErrorKind {
  kNotFound,             ///< the case (or token) does not exist, or is not visible to the caller
  kVersionConflict,      ///< If-Match names a version the case no longer has
  kIdempotencyConflict,  ///< the idempotency key was recorded before with different content
  kConflict,             ///< a unique name is taken, or a race was lost beyond the retries
  kUnavailable,          ///< the database cannot be reached, the pool is exhausted or busy; for a write
                         ///< whose connection failed, the outcome is unknown (re-send with the same key)
  kInvalidInput,         ///< the caller's data does not fit (a malformed cursor, an organisation name)
  kCorruptData,          ///< stored data cannot be read back (a saved case this definition cannot restore)
  kLimitReached,         ///< a case holds as many of something (partners, consent records) as it may
  kInternal,             ///< anything else: a defect, never the caller's fault
};
std::string_view Name(ErrorKind kind);

/// A persistence failure. `what()` names the operation, the pseudonymous case id where there is one,
/// and the kind; it never carries personal data nor raw driver text that could echo values.
class PersistenceError : public std::runtime_error {
 public:
  PersistenceError(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind Kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

enum class Backend { kSqlite, kPostgresql };

/// SQLite `PRAGMA synchronous`; FULL (the default) makes every acknowledged commit durable.
enum class SqliteSynchronous { kOff, kNormal, kFull, kExtra };

/// How to reach the database. The URL scheme picks the backend (see NormaliseDatabaseUrl):
///   `sqlite:returnflow.db` (a file path; `sqlite::memory:` is refused, the pool needs a shared file)
///   `postgresql://user@host:port/dbname?options` (a libpq connection URI)
/// The defaults are the settings' defaults (config/settings.hpp), which `returnflow serve` uses.
struct DatabaseOptions {
  std::string url = config::defaults::kDatabaseUrl;
  std::size_t pool_size = config::defaults::kPoolSize;
  /// How long a unit of work waits for a free pooled session before failing with kUnavailable.
  std::chrono::milliseconds lease_timeout = config::defaults::kLeaseTimeout;
  /// SQLite: how long a writer waits for another process's write lock (PRAGMA busy_timeout).
  std::chrono::milliseconds busy_timeout = config::defaults::kBusyTimeout;
  SqliteSynchronous sqlite_synchronous = SqliteSynchronous::kFull;
  bool sqlite_wal = true;
  /// history.hash_chain: every history row written is chained (history_chain.hpp). Off only to measure
  /// what chaining costs; rows written so are reported by `verify`.
  bool history_hash_chain = true;
  /// The master keys that wrap personal data's keys (personal_data_crypto.hpp); never from the database.
  /// Null: personal data can be neither written nor read (kUnavailable), and migration 11 refuses a
  /// database holding plaintext people rows.
  std::shared_ptr<const MasterKeyring> master_keys;
};

/// The one normal form of a database URL: "postgres://" becomes "postgresql://", a bare path becomes
/// "sqlite:PATH"; anything else is returned as given (the Database constructor refuses what it cannot use).
std::string NormaliseDatabaseUrl(std::string_view url);

class Database;

/// The libpq keyword/value form ("host='..' port='..' dbname='..'") of a postgresql:// URL, which is what
/// SOCI 4.0's PostgreSQL backend needs (it mangles URIs). Query parameters become keywords, so
/// `?options=-csearch_path%3Dx` works. kInvalidData for a malformed URL.
std::string LibpqConnectString(const std::string& url);

/// A session leased from the pool for one unit of work; returned to the pool on destruction.
/// Reconnects first if the session lost its connection.
class SessionLease {
 public:
  SessionLease(SessionLease&& other) noexcept;
  SessionLease& operator=(SessionLease&&) = delete;
  SessionLease(const SessionLease&) = delete;
  ~SessionLease();
  soci::session& Session() const;
  soci::session* operator->() const { return &Session(); }
  /// Marks the connection as suspect: it is reconnected before its next use.
  void MarkBroken();

 private:
  friend class Database;

  SessionLease(Database* database, std::size_t position);
  Database* database_;
  std::size_t position_;
};

/// The connection pool, schema migrations and backend specifics.
class Database {
 public:
  /// Opens `pool_size` sessions. Throws PersistenceError(kUnavailable) if the database is unreachable,
  /// (kInvalidData) for an unusable URL.
  explicit Database(DatabaseOptions options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// Applies every pending numbered migration in one transaction, serialised across processes
  /// (PostgreSQL advisory lock; SQLite BEGIN IMMEDIATE). Idempotent. Refuses (kUnavailable) a database whose schema is
  /// newer than this program. Returns the number of migrations applied now.
  int Migrate();
  /// The schema version recorded in the database (0 when empty).
  int SchemaVersion();
  /// The newest schema version this program knows.
  static int LatestSchemaVersion();

  /// True when a trivial query succeeds (for readiness checks). Never throws.
  bool Ping();

  Backend GetBackend() const { return backend_; }
  /// The configured master keys; kUnavailable when there are none (DatabaseOptions::master_keys).
  const MasterKeyring& MasterKeys() const;
  const DatabaseOptions& Options() const { return options_; }
  std::size_t PoolSize() const { return options_.pool_size; }
  /// Sessions currently leased (for the pool-usage metric).
  std::size_t SessionsInUse() const { return in_use_.load(std::memory_order_relaxed); }

  /// Leases a session for one unit of work (kUnavailable after `lease_timeout`).
  SessionLease Lease();

  /// Runs `work` inside one write transaction on a leased session, with the backend's write lock
  /// discipline (SQLite: BEGIN IMMEDIATE, serialised in-process; PostgreSQL: BEGIN, callers lock rows
  /// with FOR UPDATE). Commits when `work` returns, rolls back when it throws. Database errors are
  /// rethrown as PersistenceError with `operation` in the message. A connection found dead at BEGIN is
  /// re-established and the transaction started again.
  void WriteTransaction(std::string_view operation, const std::function<void(soci::session&)>& work);
  /// Runs `work` on a leased session without an explicit transaction (single-statement reads), with the
  /// same error mapping and reconnection.
  void Read(std::string_view operation, const std::function<void(soci::session&)>& work);

  /// Runs `prepare` on the leased session `sql` once per connection (again after a reconnect), for
  /// statements prepared server-side with SQL PREPARE, which live as long as the connection. Used by
  /// the repositories; callers hold the lease.
  void EnsurePrepared(soci::session& sql, void (*prepare)(soci::session&));

  /// Maps any exception from SOCI or the standard library to a PersistenceError; used by repositories.
  [[noreturn]] static void Rethrow(std::string_view operation, std::string_view case_id = {});

  /// The engine's clock: the wall clock, moved forward by what a testing clock advanced it. Every
  /// time this process records (history, timers, incidents) and every due timer it claims reads it.
  Timestamp Now() const;
  /// Moves this engine's clock forward (`returnflow serve --testing-clock` only); never backward.
  void AdvanceClock(std::chrono::microseconds by);

 private:
  friend class SessionLease;
  void Release(std::size_t position);
  void Connect(soci::session& sql);
  void Reconnect(std::size_t position);

  DatabaseOptions options_;
  Backend backend_;
  std::unique_ptr<soci::connection_pool> pool_;
  std::unique_ptr<std::atomic<bool>[]> broken_;
  std::unique_ptr<std::atomic<bool>[]> prepared_;
  std::atomic<std::size_t> in_use_{0};
  std::atomic<long long> clock_offset_us_{0};
  /// SQLite has one writer at a time; threads of this process queue here instead of spinning in
  /// SQLite's busy handler. Other processes are still kept out by BEGIN IMMEDIATE and busy_timeout.
  std::mutex sqlite_writer_;
};

}  // namespace returnflow::persistence
