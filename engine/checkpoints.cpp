#include "engine/checkpoints.hpp"

#include <spdlog/spdlog.h>

namespace returnflow::engine {

namespace {
/// A file beside the SQLite database: "<database file><suffix>".
std::string BesideDatabase(std::string_view sqlite_url, std::string_view suffix) {
  constexpr std::string_view kPrefix = "sqlite:";
  if (sqlite_url.starts_with(kPrefix)) sqlite_url.remove_prefix(kPrefix.size());
  return std::string(sqlite_url) + std::string(suffix);
}
}  // namespace

std::string DefaultSigningKeyPath(std::string_view sqlite_url) { return BesideDatabase(sqlite_url, ".signing-key.pem"); }

std::string DefaultMasterKeyPath(std::string_view sqlite_url) { return BesideDatabase(sqlite_url, ".master-key"); }

std::shared_ptr<const persistence::MasterKeyring> LoadMasterKeys(const config::PrivacySettings& privacy,
                                                                 const persistence::DatabaseOptions& database) {
  using persistence::MasterKeyring;
  std::shared_ptr<const MasterKeyring> keys;
  if (!privacy.master_key.empty()) {
    keys = std::make_shared<const MasterKeyring>(MasterKeyring::Parse(privacy.master_key, "RETURNFLOW_MASTER_KEY"));
  } else if (!privacy.master_key_file.empty()) {
    keys = std::make_shared<const MasterKeyring>(MasterKeyring::Load(privacy.master_key_file));
  } else {
    const auto url = persistence::NormaliseDatabaseUrl(database.url);
    if (!url.starts_with("sqlite:")) {
      throw persistence::PersistenceError(
          persistence::ErrorKind::kInvalidInput,
          "master key: invalid_input (PostgreSQL needs a configured master key for personal data: set "
          "privacy.master_key_file (RETURNFLOW_MASTER_KEY_FILE) or RETURNFLOW_MASTER_KEY; see the README, "
          "\"Encryption at rest\")");
    }
    const auto path = DefaultMasterKeyPath(url);
    bool created = false;
    keys = std::make_shared<const MasterKeyring>(MasterKeyring::LoadOrCreate(path, &created));
    if (created) spdlog::info("event=master_key_created path={} key_id={}", path, keys->Current().id);
  }
  spdlog::info("event=master_keys_loaded current_key_id={} keys={}", keys->Current().id, keys->Keys().size());
  return keys;
}

std::optional<persistence::SigningKey> LoadSigningKey(const config::HistorySettings& history,
                                                      const persistence::DatabaseOptions& database) {
  if (!history.signing_key.empty()) {
    auto key = persistence::SigningKey::Load(history.signing_key);
    spdlog::info("event=signing_key_loaded key_id={}", key.KeyId());
    return key;
  }
  const auto url = persistence::NormaliseDatabaseUrl(database.url);
  if (!url.starts_with("sqlite:")) {
    spdlog::warn("event=checkpoints_disabled reason=no_signing_key detail=\"PostgreSQL without history.signing_key "
                 "(RETURNFLOW_SIGNING_KEY): the history is chained but no checkpoint is signed\"");
    return std::nullopt;
  }
  const auto path = DefaultSigningKeyPath(url);
  bool created = false;
  auto key = persistence::SigningKey::LoadOrCreate(path, &created);
  if (created) spdlog::info("event=signing_key_created path={} key_id={}", path, key.KeyId());
  return key;
}

}  // namespace returnflow::engine
