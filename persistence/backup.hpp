#pragma once
/// `returnflow backup`: a consistent copy of a live embedded (SQLite) database, taken with SQLite's online
/// backup interface while the server keeps writing. PostgreSQL deployments back up with the server's own
/// tools instead (pg_dump, or pg_basebackup with WAL archiving).
#include <cstdint>
#include <functional>
#include <string>

namespace returnflow::persistence {

struct BackupOptions {
  std::string database_url;  ///< sqlite:PATH (a PostgreSQL URL is refused with kInvalidInput)
  std::string to;            ///< the copy's path
  bool force = false;        ///< replace an existing file at `to` (otherwise kConflict)
  int pages_per_step = 256;  ///< pages copied per step; the source's writers are never blocked (WAL)
  /// Called after each step with the pages left and the total.
  std::function<void(std::int64_t remaining, std::int64_t total)> progress;
};

struct BackupResult {
  std::int64_t pages = 0;
  std::int64_t steps = 0;
};

/// Copies the database as of one instant: the source is read inside one read transaction (in WAL mode a
/// snapshot, which the server's commits do not disturb), so the copy holds every transaction committed
/// before the copy began and none that began after it. Writes `to` + ".partial", flushes it and renames it
/// over `to`, so `to` is either the old file or the complete copy. Throws PersistenceError: kInvalidInput
/// (not SQLite), kConflict (`to` exists and not `force`), kUnavailable (cannot read or write).
BackupResult BackupSqlite(const BackupOptions& options);

}  // namespace returnflow::persistence
