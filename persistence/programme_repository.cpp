// ProgrammeRepository: every version of every programme, immutable once stored, read through a cache.
#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <mutex>

#include "persistence/case_rows.hpp"
#include "persistence/internal.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {

namespace {

using internal::Query;

// :code -> every version of the programme, oldest first.
constexpr Query kSelectVersions{
    "select programme versions",
    "SELECT code, version, definition, registered_at FROM programme_versions WHERE code = :code ORDER BY version"};
// :code -> its latest version.
constexpr Query kSelectLatest{
    "select latest programme",
    "SELECT code, version, definition FROM programme_versions WHERE code = :code ORDER BY version DESC LIMIT 1"};
// The latest version of every programme.
constexpr Query kSelectAllLatest{
    "select programmes",
    "SELECT p.code, p.version, p.definition FROM programme_versions p WHERE p.version = "
    "(SELECT MAX(q.version) FROM programme_versions q WHERE q.code = p.code) ORDER BY p.code"};
constexpr Query kInsertVersion{
    "insert programme version",
    "INSERT INTO programme_versions (code, version, definition, registered_at) VALUES (:code, :version, "
    ":definition, :registered_at)"};

/// How long this process trusts its idea of a code's latest version (another process may register one).
constexpr auto kLatestTtl = std::chrono::seconds(1);

/// The stored definition: the programme's canonical JSON without its version (so two definitions are
/// the same rules exactly when their texts are equal).
std::string DefinitionText(workflow::Programme programme) {
  programme.version = 0;
  return boost::json::serialize(boost::json::value_from(programme));
}

workflow::Programme ReadProgramme(const soci::row& columns) {
  boost::system::error_code error;
  const auto json = boost::json::parse(internal::Text(columns, "definition"), error);
  if (error) throw PersistenceError(ErrorKind::kCorruptData, "programmes: corrupt_data (stored definition)");
  workflow::Programme programme;
  try {
    programme = boost::json::value_to<workflow::Programme>(json);
  } catch (const std::exception&) {
    throw PersistenceError(ErrorKind::kCorruptData, "programmes: corrupt_data (stored definition)");
  }
  programme.code = internal::Text(columns, "code");
  programme.version = static_cast<int>(internal::Integer(columns, "version"));
  return programme;
}

std::vector<workflow::Programme> ReadAll(soci::session& sql, const Query& query, const std::string* code) {
  std::vector<workflow::Programme> programmes;
  const auto each = [&](const soci::row& columns) { programmes.push_back(ReadProgramme(columns)); };
  if (code) {
    internal::ForEachRow(sql, query, each, soci::use(*code, "code"));
  } else {
    internal::ForEachRow(sql, query, each);
  }
  return programmes;
}

}  // namespace

struct ProgrammeRepository::Cache {
  struct Latest {
    std::shared_ptr<const workflow::Programme> programme;  // null: no such programme (as of `read_at`)
    std::chrono::steady_clock::time_point read_at;
  };
  std::mutex mutex;
  std::map<std::pair<std::string, int>, std::shared_ptr<const workflow::Programme>, std::less<>> versions;
  std::map<std::string, Latest, std::less<>> latest;

  std::shared_ptr<const workflow::Programme> Keep(workflow::Programme programme) {
    auto shared = std::make_shared<const workflow::Programme>(std::move(programme));
    std::lock_guard lock(mutex);
    auto [position, inserted] = versions.try_emplace({shared->code, shared->version}, shared);
    return position->second;
  }
  void SetLatest(const std::string& code, std::shared_ptr<const workflow::Programme> programme) {
    std::lock_guard lock(mutex);
    latest[code] = {std::move(programme), std::chrono::steady_clock::now()};
  }
};

ProgrammeRepository::ProgrammeRepository(Database& database)
    : database_(database), cache_(std::make_unique<Cache>()) {}
ProgrammeRepository::~ProgrammeRepository() = default;

workflow::Programme ProgrammeRepository::Register(workflow::Programme programme) {
  if (programme.code.empty() || programme.code.size() > 64) {
    throw PersistenceError(ErrorKind::kInvalidInput, "programmes: invalid_input (code)");
  }
  const std::string definition = DefinitionText(programme);
  workflow::Programme stored;
  bool created = false;
  database_.WriteTransaction("register programme", [&](soci::session& sql) {
    created = false;
    const auto latest = ReadAll(sql, kSelectLatest, &programme.code);
    if (!latest.empty() && DefinitionText(latest.front()) == definition) {
      stored = latest.front();
      return;
    }
    stored = programme;
    stored.version = latest.empty() ? 1 : latest.front().version + 1;
    const long long registered_at = internal::ToMicros(database_.Now());
    try {
      sql << kInsertVersion.text, soci::use(stored.code, "code"), soci::use(stored.version, "version"),
          soci::use(definition, "definition"), soci::use(registered_at, "registered_at");
    } catch (...) {
      // Another process registered a version of this code at the same moment: decide again.
      if (internal::IsConstraintViolation()) throw internal::RetryTransaction{};
      throw;
    }
    created = true;
  });
  cache_->SetLatest(stored.code, cache_->Keep(stored));
  if (created) spdlog::info("programme={} version={} registered", stored.code, stored.version);
  return stored;
}

std::shared_ptr<const workflow::Programme> ProgrammeRepository::Find(std::string_view code, int version,
                                                                     soci::session* within) {
  if (version <= 0) return Latest(code, within);
  {
    std::lock_guard lock(cache_->mutex);
    const auto found = cache_->versions.find(std::pair<std::string, int>(std::string(code), version));
    if (found != cache_->versions.end()) return found->second;
  }
  const std::string key(code);
  std::vector<workflow::Programme> all;
  if (within) {
    all = ReadAll(*within, kSelectVersions, &key);
  } else {
    database_.Read("programme versions", [&](soci::session& sql) { all = ReadAll(sql, kSelectVersions, &key); });
  }
  std::shared_ptr<const workflow::Programme> wanted;
  for (auto& programme : all) {
    const int number = programme.version;
    auto kept = cache_->Keep(std::move(programme));
    if (number == version) wanted = kept;
  }
  return wanted;
}

std::shared_ptr<const workflow::Programme> ProgrammeRepository::Latest(std::string_view code, soci::session* within) {
  {
    std::lock_guard lock(cache_->mutex);
    const auto found = cache_->latest.find(code);
    if (found != cache_->latest.end() && std::chrono::steady_clock::now() - found->second.read_at < kLatestTtl) {
      return found->second.programme;
    }
  }
  const std::string key(code);
  std::vector<workflow::Programme> latest;
  if (within) {
    latest = ReadAll(*within, kSelectLatest, &key);
  } else {
    database_.Read("latest programme", [&](soci::session& sql) { latest = ReadAll(sql, kSelectLatest, &key); });
  }
  std::shared_ptr<const workflow::Programme> programme;
  if (!latest.empty()) programme = cache_->Keep(std::move(latest.front()));
  cache_->SetLatest(key, programme);
  return programme;
}

std::vector<workflow::Programme> ProgrammeRepository::List() {
  std::vector<workflow::Programme> all;
  database_.Read("programmes", [&](soci::session& sql) { all = ReadAll(sql, kSelectAllLatest, nullptr); });
  return all;
}

std::vector<ProgrammeVersion> ProgrammeRepository::Versions(std::string_view code) {
  const std::string key(code);
  std::vector<ProgrammeVersion> all;
  database_.Read("programme versions", [&](soci::session& sql) {
    all.clear();
    internal::ForEachRow(sql, kSelectVersions, [&](const soci::row& columns) {
      all.push_back({ReadProgramme(columns), internal::FromMicros(internal::Integer(columns, "registered_at"))});
    }, soci::use(key, "code"));
  });
  return all;
}

}  // namespace returnflow::persistence
