#include "engine/checkpoints.hpp"

#include <spdlog/spdlog.h>

namespace returnflow::engine {

std::string DefaultSigningKeyPath(std::string_view sqlite_url) {
  constexpr std::string_view kPrefix = "sqlite:";
  if (sqlite_url.starts_with(kPrefix)) sqlite_url.remove_prefix(kPrefix.size());
  return std::string(sqlite_url) + ".signing-key.pem";
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
