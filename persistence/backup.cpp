#include "persistence/backup.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>

#include "persistence/database.hpp"

namespace returnflow::persistence {
namespace {

using Connection = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;

[[noreturn]] void Unavailable(std::string_view what, int code) {
  throw PersistenceError(ErrorKind::kUnavailable, fmt::format("backup: unavailable ({}, sqlite {})", what, code));
}

Connection Open(const std::string& path, int flags, std::string_view what) {
  sqlite3* handle = nullptr;
  const int code = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  Connection connection(handle, &sqlite3_close);
  if (code != SQLITE_OK) Unavailable(what, code);
  sqlite3_busy_timeout(handle, 5'000);
  return connection;
}

void Execute(sqlite3* connection, const char* sql, std::string_view what) {
  const int code = sqlite3_exec(connection, sql, nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) Unavailable(what, code);
}

/// Flushes a file (or a directory's entries) to disk.
bool Sync(const std::string& path, bool directory) {
  const int descriptor = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
  if (descriptor < 0) return false;
  const bool synced = ::fsync(descriptor) == 0;
  ::close(descriptor);
  return synced;
}

}  // namespace

BackupResult BackupSqlite(const BackupOptions& options) {
  const auto url = NormaliseDatabaseUrl(options.database_url);
  if (!url.starts_with("sqlite:")) {
    throw PersistenceError(ErrorKind::kInvalidInput,
                           "backup: invalid_input (only the embedded SQLite database is copied here; back up "
                           "PostgreSQL with pg_dump, or pg_basebackup with WAL archiving)");
  }
  const std::string source_path = url.substr(std::string_view("sqlite:").size());
  if (options.to.empty()) throw PersistenceError(ErrorKind::kInvalidInput, "backup: invalid_input (no target file)");
  std::error_code error;
  if (std::filesystem::equivalent(source_path, options.to, error)) {
    throw PersistenceError(ErrorKind::kInvalidInput, "backup: invalid_input (the target is the database itself)");
  }
  struct stat status {};
  if (::stat(options.to.c_str(), &status) == 0 && !options.force) {
    throw PersistenceError(ErrorKind::kConflict, "backup: conflict (the target file exists; --force replaces it)");
  }
  if (::stat(source_path.c_str(), &status) != 0) Unavailable("no database file", SQLITE_CANTOPEN);

  // Read-write without create: a WAL database's reader needs its shared-memory file, and a missing
  // database must not be created empty.
  auto source = Open(source_path, SQLITE_OPEN_READWRITE, "open the database");
  // One read transaction for the whole copy: in WAL mode a snapshot that the server's commits do not
  // change (so the copy never restarts) and that blocks none of them.
  Execute(source.get(), "BEGIN", "begin");
  Execute(source.get(), "SELECT COUNT(*) FROM sqlite_master", "read");

  const std::string partial = options.to + ".partial";
  std::filesystem::remove(partial, error);
  BackupResult result;
  {
    auto target = Open(partial, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "create the copy");
    sqlite3_backup* backup = sqlite3_backup_init(target.get(), "main", source.get(), "main");
    if (backup == nullptr) Unavailable("start", sqlite3_errcode(target.get()));
    int code = SQLITE_OK;
    for (;;) {
      code = sqlite3_backup_step(backup, std::max(1, options.pages_per_step));
      ++result.steps;
      if (options.progress) options.progress(sqlite3_backup_remaining(backup), sqlite3_backup_pagecount(backup));
      if (code == SQLITE_DONE) break;
      if (code == SQLITE_OK) continue;
      if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
        sqlite3_sleep(10);
        continue;
      }
      break;
    }
    result.pages = sqlite3_backup_pagecount(backup);
    const int finished = sqlite3_backup_finish(backup);
    if (code != SQLITE_DONE || finished != SQLITE_OK) {
      target.reset();
      std::filesystem::remove(partial, error);
      Unavailable("copy", code != SQLITE_DONE ? code : finished);
    }
  }
  Execute(source.get(), "COMMIT", "end");
  source.reset();

  const auto directory = std::filesystem::absolute(options.to).parent_path().string();
  if (!Sync(partial, false) || std::rename(partial.c_str(), options.to.c_str()) != 0 || !Sync(directory, true)) {
    std::filesystem::remove(partial, error);
    Unavailable("write the copy", SQLITE_IOERR);
  }
  spdlog::info("backup: {} pages copied in {} steps", result.pages, result.steps);
  return result;
}

}  // namespace returnflow::persistence
