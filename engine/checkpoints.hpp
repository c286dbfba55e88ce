#pragma once
/// Which key signs the history's checkpoints (persistence/checkpoints.hpp), per the settings.
#include <optional>
#include <string>
#include <string_view>

#include "config/settings.hpp"
#include "persistence/database.hpp"
#include "persistence/history_chain.hpp"

namespace returnflow::engine {

/// Where the embedded default keeps its signing key: "<database file>.signing-key.pem".
std::string DefaultSigningKeyPath(std::string_view sqlite_url);

/// The checkpoint signing key: `history.signing_key` when set (read; a file that is missing or not an
/// Ed25519 key is a kInvalidInput error, never silently replaced); else, on SQLite, the key beside the
/// database, created with owner-only permissions (0600) the first time, which is logged once with its
/// path; else (PostgreSQL without a key) none: checkpoints are disabled, with a warning.
std::optional<persistence::SigningKey> LoadSigningKey(const config::HistorySettings& history,
                                                      const persistence::DatabaseOptions& database);

}  // namespace returnflow::engine
