#pragma once
/// Which key signs the history's checkpoints (persistence/checkpoints.hpp), per the settings.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/settings.hpp"
#include "persistence/database.hpp"
#include "persistence/history_chain.hpp"
#include "persistence/personal_data_crypto.hpp"

namespace returnflow::engine {

/// Where the embedded default keeps its signing key: "<database file>.signing-key.pem".
std::string DefaultSigningKeyPath(std::string_view sqlite_url);

/// The checkpoint signing key: `history.signing_key` when set (read; a file that is missing or not an
/// Ed25519 key is a kInvalidInput error, never silently replaced); else, on SQLite, the key beside the
/// database, created with owner-only permissions (0600) the first time, which is logged once with its
/// path; else (PostgreSQL without a key) none: checkpoints are disabled, with a warning.
std::optional<persistence::SigningKey> LoadSigningKey(const config::HistorySettings& history,
                                                      const persistence::DatabaseOptions& database);

/// Where the embedded default keeps its master keys: "<database file>.master-key".
std::string DefaultMasterKeyPath(std::string_view sqlite_url);

/// The master keys of personal data: RETURNFLOW_MASTER_KEY when set, else `privacy.master_key_file`
/// (read; missing or malformed is a kInvalidInput error), else, on SQLite, the key file beside the
/// database, created with owner-only permissions (0600) the first time, which is logged once with its
/// path and key id (never the key); else (PostgreSQL) kInvalidInput: a deployment must configure one.
std::shared_ptr<const persistence::MasterKeyring> LoadMasterKeys(const config::PrivacySettings& privacy,
                                                                 const persistence::DatabaseOptions& database);

}  // namespace returnflow::engine
