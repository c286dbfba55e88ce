// `returnflow migrate` and `returnflow verify`: schema migrations and history replay, for operators;
// `returnflow case assign|unassign`: partner assignment from the operator's shell, recorded like the
// API's (a history entry by the actor given, a new case version; servers on the same database refuse an
// unassigned partner from its next request on, since they decide every event on the case as stored).
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.hpp"
#include "config/settings.hpp"
#include "persistence/repository.hpp"

namespace returnflow::cli {
namespace {

struct DatabaseCommandOptions {
  std::string config_file;
  std::string database_url;
};

/// Settings file and environment first (as `serve` reads them), then --database on top.
persistence::DatabaseOptions ResolveDatabase(const DatabaseCommandOptions& options) {
  const auto settings = config::LoadSettings(
      options.config_file.empty() ? std::nullopt : std::optional<std::string>(options.config_file));
  persistence::DatabaseOptions database;
  database.url = options.database_url.empty() ? settings.database.url : options.database_url;
  if (database.url.find(':') == std::string::npos) database.url = "sqlite:" + database.url;  // a plain file path
  database.pool_size = 1;  // one unit of work at a time here
  database.busy_timeout = settings.database.busy_timeout;
  database.sqlite_synchronous = settings.database.sqlite_synchronous == "normal"
                                    ? persistence::SqliteSynchronous::kNormal
                                    : persistence::SqliteSynchronous::kFull;
  return database;
}

void AddDatabaseOptions(CLI::App& command, DatabaseCommandOptions& options) {
  command.add_option("--config", options.config_file, "TOML settings file (see config/returnflow.toml)");
  command.add_option("--database", options.database_url,
                     "database URL: sqlite:PATH or postgresql://USER@HOST:PORT/DB (default from settings)");
}

int RunMigrate(const DatabaseCommandOptions& options) {
  persistence::Database database(ResolveDatabase(options));
  const int applied = database.Migrate();
  std::printf("schema version %d (%d migration%s applied)\n", database.SchemaVersion(), applied,
              applied == 1 ? "" : "s");
  return 0;
}

int RunVerify(const DatabaseCommandOptions& options) {
  persistence::Database database(ResolveDatabase(options));
  if (database.SchemaVersion() != persistence::Database::LatestSchemaVersion()) {
    std::fprintf(stderr, "schema version %d, this program expects %d: run `returnflow migrate` first\n",
                 database.SchemaVersion(), persistence::Database::LatestSchemaVersion());
    return 2;
  }
  const auto report = persistence::VerifyAllCases(database);
  for (const auto& mismatch : report.mismatches) {
    std::printf("MISMATCH case=%s: %s\n", mismatch.case_id.c_str(), mismatch.detail.c_str());
  }
  std::printf("%lld cases checked, %lld events replayed, %zu mismatch%s\n",
              static_cast<long long>(report.cases_checked), static_cast<long long>(report.events_replayed),
              report.mismatches.size(), report.mismatches.size() == 1 ? "" : "es");
  return report.Ok() ? 0 : 1;
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

  auto* verify = app.add_subcommand("verify", "replay every case's history and report saved states that differ");
  AddDatabaseOptions(*verify, *options);
  verify->callback([options] {
    const int status = RunVerify(*options);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace returnflow::cli
