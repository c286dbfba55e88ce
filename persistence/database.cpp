#include "persistence/database.hpp"

#include <fmt/format.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>

#include "persistence/internal.hpp"
#include "persistence/migrations/migrations.hpp"
#include "persistence/personal_data_crypto.hpp"
#include "persistence/pg_statements.hpp"
#include "workflow/case.hpp"

namespace returnflow::persistence {

Timestamp Now() { return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()); }

std::string_view Name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNotFound: return "not_found";
    case ErrorKind::kVersionConflict: return "version_conflict";
    case ErrorKind::kIdempotencyConflict: return "idempotency_conflict";
    case ErrorKind::kConflict: return "conflict";
    case ErrorKind::kUnavailable: return "unavailable";
    case ErrorKind::kInvalidInput: return "invalid_input";
    case ErrorKind::kCorruptData: return "corrupt_data";
    case ErrorKind::kLimitReached: return "limit_reached";
    case ErrorKind::kInternal: return "internal";
  }
  return "internal";
}

std::string NormaliseDatabaseUrl(std::string_view url) {
  constexpr std::string_view kShortScheme = "postgres://";
  if (url.starts_with(kShortScheme)) return "postgresql://" + std::string(url.substr(kShortScheme.size()));
  // Anything with a scheme is left as it is (an unknown one is refused, never opened as a file).
  if (url.starts_with("sqlite:") || url.empty() || url.find("://") != std::string_view::npos) return std::string(url);
  return "sqlite:" + std::string(url);
}

namespace {

constexpr std::string_view kSqlitePrefix = "sqlite:";

bool StartsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

std::string_view SynchronousPragma(SqliteSynchronous mode) {
  switch (mode) {
    case SqliteSynchronous::kOff:
      return "OFF";
    case SqliteSynchronous::kNormal:
      return "NORMAL";
    case SqliteSynchronous::kFull:
      return "FULL";
    case SqliteSynchronous::kExtra:
      return "EXTRA";
  }
  return "FULL";
}

std::string Describe(std::string_view operation, std::string_view case_id, ErrorKind kind, std::string_view code) {
  std::string message(operation);
  if (!case_id.empty()) message += fmt::format(" case={}", case_id);
  message += fmt::format(": {}", Name(kind));
  if (!code.empty()) message += fmt::format(" ({})", code);
  return message;
}

ErrorKind KindOfSqlstate(std::string_view sqlstate) {
  if (StartsWith(sqlstate, "23") || StartsWith(sqlstate, "40")) return ErrorKind::kConflict;
  // Data exceptions and syntax or schema errors come from the engine's own statements: a defect.
  if (StartsWith(sqlstate, "22") || StartsWith(sqlstate, "42")) return ErrorKind::kInternal;
  return ErrorKind::kUnavailable;  // 08 connection, 53 resources, 57 operator intervention, ...
}

ErrorKind KindOfSqliteResult(int result) {
  switch (result & 0xff) {
    case SQLITE_CONSTRAINT:
      return ErrorKind::kConflict;
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_ERROR:
      return ErrorKind::kInternal;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorKind::kCorruptData;
    default:
      return ErrorKind::kUnavailable;  // BUSY, LOCKED, IOERR, FULL, CANTOPEN, ...
  }
}

/// True for failures that mean "run the transaction again": PostgreSQL deadlock or serialization failure.
bool IsRetryable() {
  try {
    throw;
  } catch (const internal::RetryTransaction&) {
    return true;
  } catch (const soci::postgresql_soci_error& error) {
    const auto state = error.sqlstate();
    return state == "40P01" || state == "40001";
  } catch (...) {
    return false;
  }
}

/// libpq keyword/value form of a postgresql:// URL. SOCI 4.0's PostgreSQL backend scans the connect
/// string for its own options and mangles URIs, so the URL is taken apart here (Boost.URL) instead.
}  // namespace

namespace internal {

bool IsConnectionFailure() {
  try {
    throw;
  } catch (const soci::postgresql_soci_error& error) {
    const auto state = error.sqlstate();
    return error.get_error_category() == soci::soci_error::connection_error || StartsWith(state, "08") ||
           StartsWith(state, "57") || state.find_first_not_of(" 0") == std::string::npos;
  } catch (const soci::soci_error& error) {
    return error.get_error_category() == soci::soci_error::connection_error;
  } catch (...) {
    return false;
  }
}

}  // namespace internal

std::string LibpqConnectString(const std::string& url) {
  const auto parsed = boost::urls::parse_uri(url);
  if (!parsed) throw PersistenceError(ErrorKind::kInvalidInput, "database: malformed postgresql URL");
  const auto quote = [](std::string_view value) {
    std::string quoted = "'";
    for (const char character : value) {
      if (character == '\\' || character == '\'') quoted += '\\';
      quoted += character;
    }
    return quoted + "'";
  };
  std::string connect;
  const auto add = [&](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    if (!connect.empty()) connect += ' ';
    connect.append(key).append("=").append(quote(value));
  };
  add("host", parsed->host_address());
  add("port", parsed->port());
  add("user", parsed->user());
  add("password", parsed->password());
  std::string path = parsed->path();
  if (!path.empty() && path.front() == '/') path.erase(0, 1);
  add("dbname", path);
  for (const auto param : parsed->params()) add(param.key, param.value);
  return connect;
}

namespace {}  // namespace

// --- SessionLease ------------------------------------------------------------------------------------

SessionLease::SessionLease(Database* database, std::size_t position) : database_(database), position_(position) {}
SessionLease::SessionLease(SessionLease&& other) noexcept
    : database_(std::exchange(other.database_, nullptr)), position_(other.position_) {}
SessionLease::~SessionLease() {
  if (database_ != nullptr) database_->Release(position_);
}
soci::session& SessionLease::Session() const { return database_->pool_->at(position_); }
void SessionLease::MarkBroken() { database_->broken_[position_].store(true); }

// --- Database ----------------------------------------------------------------------------------------

Database::Database(DatabaseOptions options) : options_(std::move(options)) {
  options_.url = NormaliseDatabaseUrl(options_.url);
  if (options_.pool_size == 0)
    throw PersistenceError(ErrorKind::kInvalidInput, "database: pool size must be at least 1");
  if (StartsWith(options_.url, kSqlitePrefix)) {
    backend_ = Backend::kSqlite;
    const auto path = std::string_view(options_.url).substr(kSqlitePrefix.size());
    // SOCI's SQLite connect string is "key=value" pairs separated by spaces, so keep paths simple.
    if (path.empty() || path == ":memory:" || std::any_of(path.begin(), path.end(), [](char c) {
          return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'';
        })) {
      throw PersistenceError(ErrorKind::kInvalidInput,
                             "database: sqlite URL needs a file path without spaces or quotes (sqlite:path)");
    }
  } else if (StartsWith(options_.url, "postgresql://")) {
    backend_ = Backend::kPostgresql;
  } else {
    // The URL is not echoed: it may carry a password.
    throw PersistenceError(ErrorKind::kInvalidInput, "database: URL must start with sqlite: or postgresql://");
  }
  pool_ = std::make_unique<soci::connection_pool>(options_.pool_size);
  broken_ = std::make_unique<std::atomic<bool>[]>(options_.pool_size);
  prepared_ = std::make_unique<std::atomic<bool>[]>(options_.pool_size);
  for (std::size_t position = 0; position < options_.pool_size; ++position) {
    broken_[position].store(false);
    prepared_[position].store(false);
    try {
      Connect(pool_->at(position));
    } catch (const soci::soci_error&) {
      // Whatever the driver says (it may quote the connection string), the database cannot be used.
      throw PersistenceError(ErrorKind::kUnavailable, "database: connect: unavailable (cannot open a session)");
    }
  }
  spdlog::info("database: {} pool of {} sessions ready", backend_ == Backend::kSqlite ? "sqlite" : "postgresql",
               options_.pool_size);
}

Database::~Database() = default;

void Database::Connect(soci::session& sql) {
  if (backend_ == Backend::kSqlite) {
    const auto path = options_.url.substr(kSqlitePrefix.size());
    sql.open(soci::connection_parameters(*soci::factory_sqlite3(), "db=" + path));
    sql << fmt::format("PRAGMA busy_timeout = {}", options_.busy_timeout.count());
    if (options_.sqlite_wal) {
      std::string mode;
      sql << "PRAGMA journal_mode = WAL", soci::into(mode);
    }
    sql << fmt::format("PRAGMA synchronous = {}", SynchronousPragma(options_.sqlite_synchronous));
    sql << "PRAGMA foreign_keys = ON";
  } else {
    sql.open(soci::connection_parameters(*soci::factory_postgresql(), LibpqConnectString(options_.url)));
    // Acknowledged means flushed, whatever the server default says.
    sql << "SET synchronous_commit TO on";
  }
}

void Database::Reconnect(std::size_t position) {
  auto& sql = pool_->at(position);
  try {
    sql.close();
  } catch (...) {
    // The old connection is being thrown away; a failure to close it cleanly changes nothing.
  }
  prepared_[position].store(false);
  Connect(sql);
  broken_[position].store(false);
  spdlog::warn("database: session {} reconnected", position);
}

SessionLease Database::Lease() {
  std::size_t position = 0;
  const auto timeout_ms = static_cast<int>(std::max<long long>(1, options_.lease_timeout.count()));
  if (!pool_->try_lease(position, timeout_ms)) {
    throw PersistenceError(ErrorKind::kUnavailable, "database: no free session in the pool");
  }
  in_use_.fetch_add(1, std::memory_order_relaxed);
  SessionLease lease(this, position);
  if (broken_[position].load()) {
    try {
      Reconnect(position);
    } catch (const soci::soci_error&) {
      throw PersistenceError(ErrorKind::kUnavailable, "database: reconnect: unavailable (cannot open a session)");
    }
  }
  return lease;
}

void Database::Release(std::size_t position) {
  in_use_.fetch_sub(1, std::memory_order_relaxed);
  pool_->give_back(position);
}

void Database::WriteTransaction(std::string_view operation, const std::function<void(soci::session&)>& work) {
  constexpr int kMaxAttempts = 8;
  auto lease = Lease();
  std::unique_lock<std::mutex> writer_lock;
  if (backend_ == Backend::kSqlite) writer_lock = std::unique_lock<std::mutex>(sqlite_writer_);
  const char* begin = backend_ == Backend::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN";

  for (int attempt = 1;; ++attempt) {
    auto& sql = lease.Session();
    try {
      sql << begin;
    } catch (...) {
      // A pooled connection that died while idle shows up here, before anything was written: reconnect
      // and start again once. SQLite's "busy beyond busy_timeout" is reported as unavailable.
      if (backend_ == Backend::kSqlite || attempt > 1) {
        if (internal::IsConnectionFailure()) lease.MarkBroken();
        Rethrow(operation);
      }
      try {
        Reconnect(lease.position_);
      } catch (...) {
        lease.MarkBroken();
        throw PersistenceError(ErrorKind::kUnavailable,
                               Describe(operation, {}, ErrorKind::kUnavailable, "connection lost, reconnect failed"));
      }
      continue;
    }
    try {
      work(sql);
      sql << "COMMIT";
      return;
    } catch (...) {
      const bool retry = IsRetryable();
      const bool connection_lost = internal::IsConnectionFailure();
      try {
        sql << "ROLLBACK";
      } catch (...) {
        lease.MarkBroken();
      }
      if (connection_lost) lease.MarkBroken();
      if (retry && !connection_lost && attempt < kMaxAttempts) continue;
      Rethrow(operation);
    }
  }
}

void Database::Read(std::string_view operation, const std::function<void(soci::session&)>& work) {
  auto lease = Lease();
  for (int attempt = 1;; ++attempt) {
    try {
      work(lease.Session());
      return;
    } catch (...) {
      if (internal::IsConnectionFailure()) {
        lease.MarkBroken();
        if (attempt == 1) {
          // Reads have no effect to lose: reconnect and read again once.
          try {
            Reconnect(lease.position_);
            continue;
          } catch (...) {
          }
        }
      }
      Rethrow(operation);
    }
  }
}

void Database::Rethrow(std::string_view operation, std::string_view case_id) {
  try {
    throw;
  } catch (const PersistenceError&) {
    throw;
  } catch (const internal::RetryTransaction&) {
    throw PersistenceError(ErrorKind::kConflict,
                           Describe(operation, case_id, ErrorKind::kConflict, "retries exhausted"));
  } catch (const soci::postgresql_soci_error& error) {
    const auto state = error.sqlstate();
    const auto kind = KindOfSqlstate(state);
    // Driver text is not logged or passed on: it can quote the values that failed.
    spdlog::warn("database: {} failed with SQLSTATE {}", operation, state);
    throw PersistenceError(kind, Describe(operation, case_id, kind, "SQLSTATE " + state));
  } catch (const soci::sqlite3_soci_error& error) {
    const auto kind = KindOfSqliteResult(error.result());
    spdlog::warn("database: {} failed with sqlite result {}", operation, error.result());
    throw PersistenceError(kind, Describe(operation, case_id, kind, fmt::format("sqlite {}", error.result())));
  } catch (const soci::soci_error& error) {
    ErrorKind kind = ErrorKind::kUnavailable;
    switch (error.get_error_category()) {
      case soci::soci_error::constraint_violation:
        kind = ErrorKind::kConflict;
        break;
      case soci::soci_error::no_data:
        kind = ErrorKind::kNotFound;
        break;
      default:
        break;
    }
    spdlog::warn("database: {} failed ({})", operation, Name(kind));
    throw PersistenceError(kind, Describe(operation, case_id, kind, "driver"));
  } catch (const workflow::RestoreFailed&) {
    throw PersistenceError(ErrorKind::kCorruptData,
                           Describe(operation, case_id, ErrorKind::kCorruptData, "saved state cannot be restored"));
  } catch (const boost::system::system_error&) {
    // Boost.JSON reading a stored column: the stored text is not what this program wrote.
    throw PersistenceError(ErrorKind::kCorruptData, Describe(operation, case_id, ErrorKind::kCorruptData, "stored data"));
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception&) {
    throw PersistenceError(ErrorKind::kInternal, Describe(operation, case_id, ErrorKind::kInternal, "unexpected"));
  }
}

Timestamp Database::Now() const {
  return persistence::Now() + std::chrono::microseconds(clock_offset_us_.load(std::memory_order_relaxed));
}

void Database::AdvanceClock(std::chrono::microseconds by) {
  if (by.count() > 0) clock_offset_us_.fetch_add(by.count(), std::memory_order_relaxed);
}

void Database::EnsurePrepared(soci::session& sql, void (*prepare)(soci::session&)) {
  for (std::size_t position = 0; position < options_.pool_size; ++position) {
    if (&pool_->at(position) != &sql) continue;
    // The session is leased to the caller alone, so the flag needs no lock of its own.
    if (!prepared_[position].load()) {
      prepare(sql);
      prepared_[position].store(true);
    }
    return;
  }
}

// --- Schema ------------------------------------------------------------------------------------------

int Database::LatestSchemaVersion() { return migrations::All().back().version; }

int Database::Migrate() {
  int applied = 0;
  WriteTransaction("migrate", [&](soci::session& sql) {
    applied = 0;
    if (backend_ == Backend::kPostgresql) {
      // Two processes starting at once: the second waits here, then finds nothing left to do.
      int locked = 0;
      sql << "SELECT 1 FROM (SELECT pg_advisory_xact_lock(7281700301)) AS migration_lock", soci::into(locked);
    }
    sql << "CREATE TABLE IF NOT EXISTS schema_migrations ("
           "version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
    int current = 0;
    soci::indicator current_indicator = soci::i_null;
    sql << "SELECT MAX(version) FROM schema_migrations", soci::into(current, current_indicator);
    if (current_indicator != soci::i_ok) current = 0;
    if (current > LatestSchemaVersion()) {
      throw PersistenceError(ErrorKind::kUnavailable,
                             fmt::format("migrate: database schema version {} is newer than this program's {}; "
                                         "upgrade returnflow",
                                         current, LatestSchemaVersion()));
    }
    for (const auto& migration : migrations::All()) {
      if (migration.version <= current) continue;
      for (const auto statement : migration.statements) sql << std::string(statement);
      if (backend_ == Backend::kPostgresql) {
        for (const auto statement : migration.postgresql_statements) sql << std::string(statement);
      }
      if (migration.backfill) migration.backfill(sql, options_.master_keys.get());
      const long long applied_at = internal::ToMicros(Now());
      const std::string name(migration.name);
      sql << "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, :applied_at)",
          soci::use(migration.version), soci::use(name), soci::use(applied_at);
      spdlog::info("database: migration {} ({}) applied", migration.version, migration.name);
      ++applied;
    }
  });
  return applied;
}

const MasterKeyring& Database::MasterKeys() const {
  if (!options_.master_keys) {
    throw PersistenceError(ErrorKind::kUnavailable, "personal data: unavailable (no master key is configured: "
                                                    "privacy.master_key_file or RETURNFLOW_MASTER_KEY)");
  }
  return *options_.master_keys;
}

int Database::SchemaVersion() {
  int version = 0;
  Read("schema version", [&](soci::session& sql) {
    int tables = 0;
    if (backend_ == Backend::kSqlite) {
      sql << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
          soci::into(tables);
    } else {
      sql << "SELECT COUNT(*) FROM information_schema.tables "
             "WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
          soci::into(tables);
    }
    if (tables == 0) {
      version = 0;
      return;
    }
    soci::indicator indicator = soci::i_null;
    sql << "SELECT MAX(version) FROM schema_migrations", soci::into(version, indicator);
    if (indicator != soci::i_ok) version = 0;
  });
  return version;
}

bool Database::Ping() {
  try {
    Read("ping", [](soci::session& sql) {
      int one = 0;
      sql << "SELECT 1", soci::into(one);
    });
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace returnflow::persistence
