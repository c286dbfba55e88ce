// `returnflow migrate`, `verify`, `checkpoint` and `backup`: the database, for operators;
// `returnflow case assign|unassign`: partner assignment from the operator's shell, recorded like the
// API's (a history entry by the actor given, a new case version; servers on the same database refuse an
// unassigned partner from its next request on, since they decide every event on the case as stored).
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.hpp"
#include "api/dto.hpp"
#include "config/settings.hpp"
#include "engine/checkpoints.hpp"
#include "persistence/backup.hpp"
#include "persistence/checkpoints.hpp"
#include "persistence/personal_data_crypto.hpp"
#include "persistence/repository.hpp"

namespace returnflow::cli {
namespace {

struct DatabaseCommandOptions {
  std::string config_file;
  std::string database_url;
  std::string public_key_file;  // verify
  bool chains_only = false;     // verify
  std::string backup_to;        // backup
  bool force = false;           // backup
  std::string key_file;         // keys add (default: the configured or default key file)
  std::string new_key_file;     // keys rotate
  std::size_t batch = 500;      // keys rotate
};

/// `verify` exit codes (README, "Verifying the history").
constexpr int kVerifyClean = 0;
constexpr int kVerifyReplayDiffers = 1;
constexpr int kVerifyCannot = 2;
constexpr int kVerifyTampered = 3;

config::Settings LoadCommandSettings(const DatabaseCommandOptions& options) {
  return config::LoadSettings(options.config_file.empty() ? std::nullopt
                                                          : std::optional<std::string>(options.config_file));
}

/// Settings file and environment first (as `serve` reads them), then --database on top.
persistence::DatabaseOptions ResolveDatabase(const DatabaseCommandOptions& options) {
  const auto settings = LoadCommandSettings(options);
  persistence::DatabaseOptions database;
  database.url = options.database_url.empty() ? settings.database.url : options.database_url;
  if (database.url.find(':') == std::string::npos) database.url = "sqlite:" + database.url;  // a plain file path
  database.pool_size = 1;  // one unit of work at a time here
  database.busy_timeout = settings.database.busy_timeout;
  database.sqlite_synchronous = settings.database.sqlite_synchronous == "normal"
                                    ? persistence::SqliteSynchronous::kNormal
                                    : persistence::SqliteSynchronous::kFull;
  database.history_hash_chain = settings.history.hash_chain;
  return database;
}

void AddDatabaseOptions(CLI::App& command, DatabaseCommandOptions& options) {
  command.add_option("--config", options.config_file, "TOML settings file (see config/returnflow.toml)");
  command.add_option("--database", options.database_url,
                     "database URL: sqlite:PATH or postgresql://USER@HOST:PORT/DB (default from settings)");
}

/// The master keys as `serve` loads them, except that PostgreSQL without one configured gets none (then
/// only what needs no personal data works: migration 11 refuses a database with plaintext people rows).
std::shared_ptr<const persistence::MasterKeyring> CommandMasterKeys(const DatabaseCommandOptions& options,
                                                                    const persistence::DatabaseOptions& database) {
  const auto settings = LoadCommandSettings(options);
  const bool configured = !settings.privacy.master_key.empty() || !settings.privacy.master_key_file.empty();
  if (!configured && !persistence::NormaliseDatabaseUrl(database.url).starts_with("sqlite:")) return nullptr;
  return engine::LoadMasterKeys(settings.privacy, database);
}

/// The key file `keys add` writes: --key-file, else privacy.master_key_file, else the SQLite default.
std::string KeyFileOf(const DatabaseCommandOptions& options) {
  if (!options.key_file.empty()) return options.key_file;
  const auto settings = LoadCommandSettings(options);
  if (!settings.privacy.master_key_file.empty()) return settings.privacy.master_key_file;
  const auto url = persistence::NormaliseDatabaseUrl(ResolveDatabase(options).url);
  if (!url.starts_with("sqlite:")) {
    throw persistence::PersistenceError(persistence::ErrorKind::kInvalidInput,
                                        "keys add: invalid_input (give --key-file or privacy.master_key_file)");
  }
  return engine::DefaultMasterKeyPath(url);
}

int RunKeysAdd(const DatabaseCommandOptions& options) {
  const auto path = KeyFileOf(options);
  const auto key = persistence::MasterKeyring::GenerateKey();
  struct stat status {};
  const bool exists = ::stat(path.c_str(), &status) == 0;
  const auto text = exists ? persistence::MasterKeyring::Load(path).WithNewCurrent(key)
                           : persistence::MasterKeyring::FromKeys({key}).Serialise();
  persistence::MasterKeyring::Store(path, text);
  std::printf("master key %s added to %s as the current key; restart the servers, then run `returnflow keys rotate`\n",
              key.id.c_str(), path.c_str());
  return 0;
}

int RunKeysRotate(const DatabaseCommandOptions& options) {
  auto database_options = ResolveDatabase(options);
  auto configured = CommandMasterKeys(options, database_options);
  std::vector<persistence::MasterKeyring::Key> keys;
  if (!options.new_key_file.empty()) {
    for (const auto& key : persistence::MasterKeyring::Load(options.new_key_file).Keys()) keys.push_back(key);
  }
  if (configured) {
    for (const auto& key : configured->Keys()) {
      if (std::none_of(keys.begin(), keys.end(), [&](const auto& known) { return known.id == key.id; })) keys.push_back(key);
    }
  }
  database_options.master_keys = std::make_shared<const persistence::MasterKeyring>(
      persistence::MasterKeyring::FromKeys(std::move(keys)));
  const auto& current = database_options.master_keys->Current().id;
  persistence::Database database(std::move(database_options));
  persistence::PeopleRepository people(database);
  const auto rewrapped = people.RotateDataKeys(options.batch);
  std::printf("%zu data keys rewrapped under master key %s\n", rewrapped, current.c_str());
  for (const auto& [key_id, count] : people.DataKeysByMasterKey()) {
    std::printf("  master key %s wraps %lld data keys\n", key_id.c_str(), count);
  }
  std::printf("master keys other than %s are no longer referenced and may be removed from the key file\n",
              current.c_str());
  return 0;
}

int RunMigrate(const DatabaseCommandOptions& options) {
  auto database_options = ResolveDatabase(options);
  database_options.master_keys = CommandMasterKeys(options, database_options);
  persistence::Database database(std::move(database_options));
  const int applied = database.Migrate();
  std::printf("schema version %d (%d migration%s applied)\n", database.SchemaVersion(), applied,
              applied == 1 ? "" : "s");
  return 0;
}

/// The key checkpoints are checked with: --public-key, else the configured signing key's, else none
/// (each checkpoint's stored key). Never creates a key.
std::optional<std::string> TrustedPublicKey(const DatabaseCommandOptions& options) {
  if (!options.public_key_file.empty()) return persistence::ReadPublicKeyFile(options.public_key_file);
  const auto settings = LoadCommandSettings(options);
  if (!settings.history.signing_key.empty()) return persistence::SigningKey::Load(settings.history.signing_key).PublicKeyHex();
  return std::nullopt;
}

int RunVerify(const DatabaseCommandOptions& options) {
  std::optional<std::string> public_key;
  try {
    public_key = TrustedPublicKey(options);
  } catch (const persistence::PersistenceError& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return kVerifyCannot;
  }
  persistence::Database database(ResolveDatabase(options));
  if (database.SchemaVersion() != persistence::Database::LatestSchemaVersion()) {
    std::fprintf(stderr, "schema version %d, this program expects %d: run `returnflow migrate` first\n",
                 database.SchemaVersion(), persistence::Database::LatestSchemaVersion());
    return kVerifyCannot;
  }
  int status = kVerifyClean;
  if (!options.chains_only) {
    const auto report = persistence::VerifyAllCases(database);
    for (const auto& mismatch : report.mismatches) {
      std::printf("MISMATCH case=%s: %s\n", mismatch.case_id.c_str(), mismatch.detail.c_str());
    }
    std::printf("%lld cases checked, %lld events replayed, %zu mismatch%s\n",
                static_cast<long long>(report.cases_checked), static_cast<long long>(report.events_replayed),
                report.mismatches.size(), report.mismatches.size() == 1 ? "" : "es");
    if (!report.Ok()) status = kVerifyReplayDiffers;
  }
  const auto chains = persistence::VerifyChains(database, {public_key});
  for (const auto& problem : chains.problems) {
    if (problem.case_id.empty()) {
      std::printf("TAMPERED %s\n", problem.detail.c_str());
    } else {
      std::printf("TAMPERED case=%s sequence=%lld: %s\n", problem.case_id.c_str(),
                  static_cast<long long>(problem.sequence), problem.detail.c_str());
    }
  }
  std::printf("%lld chains checked (%lld rows), %lld checkpoints checked%s, %zu problem%s\n",
              static_cast<long long>(chains.cases_checked), static_cast<long long>(chains.rows_checked),
              static_cast<long long>(chains.checkpoints_checked),
              chains.checkpoints_checked == 0                              ? ""
              : chains.key_source == persistence::TrustedKeySource::kGiven ? " with the given public key"
                                                                            : " with the keys stored beside them",
              chains.problems.size(), chains.problems.size() == 1 ? "" : "s");
  if (!chains.Ok()) status = kVerifyTampered;
  return status;
}

int RunCheckpoint(const DatabaseCommandOptions& options) {
  const auto settings = LoadCommandSettings(options);
  const auto database_options = ResolveDatabase(options);
  auto key = engine::LoadSigningKey(settings.history, database_options);
  if (!key) {
    std::fprintf(stderr, "checkpoints are disabled: no signing key is configured (history.signing_key, "
                         "RETURNFLOW_SIGNING_KEY)\n");
    return 2;
  }
  persistence::Database database(database_options);
  if (database.SchemaVersion() != persistence::Database::LatestSchemaVersion()) {
    std::fprintf(stderr, "schema version %d, this program expects %d: run `returnflow migrate` first\n",
                 database.SchemaVersion(), persistence::Database::LatestSchemaVersion());
    return 2;
  }
  const auto checkpoint = persistence::CheckpointRepository(database).Create(*key);
  std::printf("%s\n", boost::json::serialize(api::CheckpointToJson(checkpoint, key->PublicKeyPem())).c_str());
  return 0;
}

int RunBackup(const DatabaseCommandOptions& options) {
  persistence::BackupOptions backup;
  backup.database_url = ResolveDatabase(options).url;
  backup.to = options.backup_to;
  backup.force = options.force;
  try {
    const auto result = persistence::BackupSqlite(backup);
    std::printf("copied %lld pages to %s; check it with `returnflow verify --database sqlite:%s`\n",
                static_cast<long long>(result.pages), options.backup_to.c_str(), options.backup_to.c_str());
    return 0;
  } catch (const persistence::PersistenceError& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return error.Kind() == persistence::ErrorKind::kInvalidInput || error.Kind() == persistence::ErrorKind::kConflict
               ? 2
               : 1;
  }
}

struct PartnerCommandOptions {
  std::string case_id;
  std::string organisation;
  std::string actor = "returnflow-cli";
};

int RunChangePartner(const DatabaseCommandOptions& options, const PartnerCommandOptions& partner, bool assign) {
  spdlog::set_level(spdlog::level::warn);
  persistence::Database database(ResolveDatabase(options));
  if (database.SchemaVersion() != persistence::Database::LatestSchemaVersion()) {
    std::fprintf(stderr, "the database schema is not current: run `returnflow migrate` first\n");
    return 2;
  }
  persistence::CaseRepository cases(database);
  persistence::PartnerChange change;
  change.organisation = partner.organisation;
  change.meta.actor = partner.actor;
  change.meta.occurred_at = std::chrono::floor<std::chrono::seconds>(database.Now());
  try {
    const auto result = assign ? cases.AssignPartner(partner.case_id, change) : cases.UnassignPartner(partner.case_id, change);
    std::printf("case %s: %s %s%s (version %lld)\n", partner.case_id.c_str(), partner.organisation.c_str(),
                assign ? "assigned" : "unassigned", result.changed ? "" : " already", static_cast<long long>(result.version));
    return 0;
  } catch (const persistence::PersistenceError& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return error.Kind() == persistence::ErrorKind::kNotFound ? 3 : 1;
  }
}

}  // namespace

void AddDatabaseCommands(CLI::App& app) {
  auto options = std::make_shared<DatabaseCommandOptions>();

  auto* migrate = app.add_subcommand("migrate", "apply pending schema migrations (idempotent)");
  AddDatabaseOptions(*migrate, *options);
  migrate->callback([options] {
    const int status = RunMigrate(*options);
    if (status != 0) throw CLI::RuntimeError(status);
  });

  auto* cases = app.add_subcommand("case", "Change a case from the operator's shell");
  cases->require_subcommand(1);
  auto partner = std::make_shared<PartnerCommandOptions>();
  for (const bool assign : {true, false}) {
    auto* command = cases->add_subcommand(assign ? "assign" : "unassign",
                                          assign ? "assign a partner organisation to a case (recorded in its history)"
                                                 : "unassign a partner organisation (it loses access at once)");
    AddDatabaseOptions(*command, *options);
    command->add_option("--case", partner->case_id, "the case id")->required();
    command->add_option("--organisation", partner->organisation, "the partner organisation id")->required();
    command->add_option("--actor", partner->actor, "who is recorded as making the change (pseudonymous)");
    command->callback([options, partner, assign] {
      const int status = RunChangePartner(*options, *partner, assign);
      if (status != 0) throw CLI::RuntimeError(status);
    });
  }

  auto* verify = app.add_subcommand(
      "verify",
      "replay every case's history, check every hash chain and checkpoint (exit 0 clean, 1 a replayed state "
      "differs, 2 cannot verify, 3 the history or a checkpoint was altered)");
  AddDatabaseOptions(*verify, *options);
  verify->add_option("--public-key", options->public_key_file,
                     "Ed25519 public key (PEM) to check checkpoint signatures with (default: the configured "
                     "signing key's, else the key stored with each checkpoint)");
  verify->add_flag("--chains-only", options->chains_only, "check the hash chains and checkpoints, skip the replay");
  verify->callback([options] {
    const int status = RunVerify(*options);
    if (status != 0) throw CLI::RuntimeError(status);
  });

  auto* checkpoint = app.add_subcommand("checkpoint", "sign a checkpoint over every case's history head now");
  AddDatabaseOptions(*checkpoint, *options);
  checkpoint->callback([options] {
    const int status = RunCheckpoint(*options);
    if (status != 0) throw CLI::RuntimeError(status);
  });

  auto* keys = app.add_subcommand("keys", "Master keys of the personal data at rest (README, \"Encryption at rest\")");
  keys->require_subcommand(1);
  auto* add = keys->add_subcommand("add", "generate a master key and make it the current one of the key file");
  AddDatabaseOptions(*add, *options);
  add->add_option("--key-file", options->key_file, "the key file (default: privacy.master_key_file, else beside "
                                                   "the SQLite database)");
  add->callback([options] {
    const int status = RunKeysAdd(*options);
    if (status != 0) throw CLI::RuntimeError(status);
  });
  auto* rotate = keys->add_subcommand(
      "rotate", "rewrap every data key under the current master key, in batches, while servers run");
  AddDatabaseOptions(*rotate, *options);
  rotate->add_option("--new-key-file", options->new_key_file,
                     "a key file whose first key becomes the target (the configured keys stay readable)");
  rotate->add_option("--batch", options->batch, "data keys per transaction")->check(CLI::Range(1, 100000));
  rotate->callback([options] {
    const int status = RunKeysRotate(*options);
    if (status != 0) throw CLI::RuntimeError(status);
  });

  auto* backup = app.add_subcommand(
      "backup", "copy a live SQLite database consistently (PostgreSQL: use pg_dump or pg_basebackup)");
  AddDatabaseOptions(*backup, *options);
  backup->add_option("--to", options->backup_to, "the copy's file (refused if it exists, unless --force)")->required();
  backup->add_flag("--force", options->force, "replace an existing file");
  backup->callback([options] {
    const int status = RunBackup(*options);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace returnflow::cli
