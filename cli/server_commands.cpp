// `returnflow serve` runs the event API; `returnflow token create|list|revoke` manages API tokens;
// `returnflow openapi` prints the document the API serves at GET /openapi.json (for linters and clients).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "api/dto.hpp"
#include "api/openapi.hpp"
#include "cli/commands.hpp"
#include "cli/service.hpp"
#include "engine/programmes.hpp"
#include "engine/tokens.hpp"
#include "config/settings.hpp"
#include "persistence/outbox.hpp"
#include "persistence/repository.hpp"

namespace returnflow::cli {
namespace {

struct CommonOptions {
  std::string config_file;
  std::string database;
};

config::Settings LoadSettings(const CommonOptions& options) {
  std::optional<std::string> path;
  if (!options.config_file.empty()) path = options.config_file;
  auto settings = config::LoadSettings(path);
  if (!options.database.empty()) settings.database.url = options.database;
  return settings;
}

void ConfigureLogging(const config::Settings& settings) {
  spdlog::set_level(spdlog::level::from_str(settings.log.level));
  // key=value fields after the level: structured enough for log shippers, readable on a terminal.
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ level=%l %v", spdlog::pattern_time_type::utc);
}

void AddConfigOptions(CLI::App& command, CommonOptions& options) {
  command.add_option("--config", options.config_file, "TOML settings file (see config/returnflow.toml)")
      ->check(CLI::ExistingFile);
  command.add_option("--database", options.database,
                     "database URL (sqlite:FILE or postgresql://...); overrides the file and RETURNFLOW_DATABASE");
}

void Serve(const CommonOptions& options, const std::string& listen, bool testing_clock) {
  auto settings = LoadSettings(options);
  if (!listen.empty()) config::ParseListen(listen, settings.server, "--listen");
  if (testing_clock) settings.testing_clock = true;
  ConfigureLogging(settings);
  if (settings.testing_clock) {
    spdlog::warn("event=testing_clock_enabled detail=\"admins may move this server's time forward (POST /testing/clock); never in production\"");
  }
  Service service(settings);
  service.StopOnSignals();
  service.Start();
  // The secret is shown only once the port is bound: a server that cannot listen creates no token.
  if (auto secret = service.BootstrapAdminToken()) {
    std::cout << "No API token existed, so an admin token was created. It is shown only this once:\n\n    "
              << *secret
              << "\n\nCreate caseworker, partner and supervisor tokens with it (POST /tokens) or with "
                 "`returnflow token create`.\n"
              << std::flush;
  }
  std::cout << fmt::format("returnflow listening on http://{}:{} (Ctrl-C stops)\n", settings.server.listen_address,
                           service.Port())
            << std::flush;
  service.Wait();
}

std::unique_ptr<persistence::Database> OpenDatabase(const config::Settings& settings) {
  auto options = ToDatabaseOptions(settings);
  options.pool_size = 1;
  auto database = std::make_unique<persistence::Database>(options);
  database->Migrate();
  return database;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

struct TokenOptions {
  std::string name, role, office, organisation, event_types, countries, sources;
};

void CreateToken(const CommonOptions& options, const TokenOptions& token) {
  auto settings = LoadSettings(options);
  spdlog::set_level(spdlog::level::warn);
  boost::json::object request{{"name", token.name}, {"role", token.role}};
  boost::json::object scope;
  if (!token.office.empty()) scope["office"] = token.office;
  if (!token.organisation.empty()) scope["organisation"] = token.organisation;
  if (!token.event_types.empty()) scope["event_types"] = boost::json::value_from(SplitList(token.event_types));
  if (!token.countries.empty()) scope["countries"] = boost::json::value_from(SplitList(token.countries));
  if (!token.sources.empty()) scope["sources"] = boost::json::value_from(SplitList(token.sources));
  request["scope"] = std::move(scope);
  auto parsed = api::ParseCreateToken(request);
  if (auto* problem = std::get_if<api::Problem>(&parsed)) throw std::runtime_error(problem->detail);
  auto database = OpenDatabase(settings);
  persistence::TokenRepository tokens(*database);
  const auto created = engine::IssueToken(tokens, std::move(std::get<engine::NewToken>(parsed)));
  std::cout << created.secret << "\n";
  std::cerr << fmt::format("token '{}' ({}) created; the secret above is shown only once\n", created.record.name,
                           token.role);
}

void ListTokens(const CommonOptions& options) {
  auto settings = LoadSettings(options);
  spdlog::set_level(spdlog::level::warn);
  auto database = OpenDatabase(settings);
  persistence::TokenRepository tokens(*database);
  std::cout << fmt::format("{:<24} {:<11} {:<8} {}\n", "NAME", "ROLE", "STATUS", "SCOPE");
  for (const auto& record : tokens.List()) {
    std::cout << fmt::format("{:<24} {:<11} {:<8} {}\n", record.name, workflow::Name(record.role),
                             record.Active() ? "active" : "revoked", boost::json::serialize(api::ScopeToJson(record)));
  }
}

void RevokeToken(const CommonOptions& options, const std::string& name) {
  auto settings = LoadSettings(options);
  spdlog::set_level(spdlog::level::warn);
  auto database = OpenDatabase(settings);
  persistence::TokenRepository tokens(*database);
  if (!tokens.Revoke(name)) throw std::runtime_error(fmt::format("no active token named '{}'", name));
  std::cerr << fmt::format("token '{}' revoked (running servers stop accepting it within auth.token_cache_ttl_ms)\n", name);
}

struct SubscriptionOptions {
  std::string organisation, office, notifications, delivery = "webhook", url;
};

void AddSubscription(const CommonOptions& options, const SubscriptionOptions& added) {
  auto settings = LoadSettings(options);
  spdlog::set_level(spdlog::level::warn);
  boost::json::object request{{"notifications", boost::json::value_from(SplitList(added.notifications))},
                              {"delivery", added.delivery}};
  if (!added.organisation.empty()) request["organisation"] = added.organisation;
  if (!added.office.empty()) request["office"] = added.office;
  if (!added.url.empty()) request["url"] = added.url;
  auto parsed = api::ParseCreateSubscription(request);
  if (auto* problem = std::get_if<api::Problem>(&parsed)) {
    const auto pointer = problem->extensions.if_contains("pointer");
    throw std::runtime_error(pointer ? fmt::format("{}: {}", boost::json::serialize(*pointer), problem->detail) : problem->detail);
  }
  auto database = OpenDatabase(settings);
  persistence::SubscriptionRepository subscriptions(*database);
  const auto created = subscriptions.Create(std::move(std::get<persistence::Subscription>(parsed)));
  if (!created.secret.empty()) std::cout << created.secret << "\n";
  std::cerr << fmt::format("subscription {} ({}) created{}\n", created.subscription_id, persistence::Name(created.delivery),
                           created.secret.empty() ? "" : "; its signing secret above is shown only once");
}

void ListSubscriptions(const CommonOptions& options) {
  auto settings = LoadSettings(options);
  spdlog::set_level(spdlog::level::warn);
  auto database = OpenDatabase(settings);
  persistence::SubscriptionRepository subscriptions(*database);
  std::cout << fmt::format("{:<36} {:<24} {:<8} {:<9} {}\n", "ID", "RECIPIENT", "DELIVERY", "STATUS", "NOTIFICATIONS");
  for (const auto& subscription : subscriptions.List()) {
    const auto recipient = subscription.organisation.empty() ? "office:" + subscription.office : subscription.organisation;
    std::cout << fmt::format("{:<36} {:<24} {:<8} {:<9} {}\n", subscription.subscription_id, recipient,
                             persistence::Name(subscription.delivery), subscription.Active() ? "active" : "disabled",
                             fmt::join(subscription.notifications, ","));
  }
}

void RemoveSubscription(const CommonOptions& options, const std::string& id) {
  auto settings = LoadSettings(options);
  spdlog::set_level(spdlog::level::warn);
  auto database = OpenDatabase(settings);
  persistence::SubscriptionRepository subscriptions(*database);
  if (!subscriptions.Remove(id)) throw std::runtime_error(fmt::format("no subscription {}", id));
  std::cerr << fmt::format("subscription {} removed with its undelivered notifications\n", id);
}

void RotateSubscriptionSecret(const CommonOptions& options, const std::string& id) {
  auto settings = LoadSettings(options);
  spdlog::set_level(spdlog::level::warn);
  auto database = OpenDatabase(settings);
  persistence::SubscriptionRepository subscriptions(*database);
  const auto until = database->Now() + std::chrono::duration_cast<std::chrono::microseconds>(settings.delivery.secret_overlap);
  const auto rotated = subscriptions.RotateSecret(id, until);
  std::cout << rotated.secret << "\n";
  std::cerr << fmt::format("subscription {}: new secret above (shown only once); the previous one keeps signing until {}\n",
                           id, api::FormatTimestamp(until));
}

void ExportOpenApi(const std::string& output) {
  const auto document = boost::json::serialize(api::OpenApiDocument()) + "\n";
  if (output.empty() || output == "-") {
    std::cout << document;
    return;
  }
  std::ofstream file(output, std::ios::binary | std::ios::trunc);
  file << document;
  file.close();
  if (!file) throw std::runtime_error(fmt::format("cannot write the OpenAPI document to '{}'", output));
}

/// Validates programme definition files (without a database): every error with its file and line.
int CheckProgrammes(const std::vector<std::string>& paths) {
  int invalid = 0;
  for (const auto& path : paths) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::directory_iterator(path)) {
        if (entry.path().extension() == ".toml") files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
    } else {
      files.emplace_back(path);
    }
    for (const auto& file : files) {
      const auto parsed = engine::ProgrammeFromTomlFile(file);
      if (parsed.programme) {
        std::cout << fmt::format("{}: ok (programme '{}', {})\n", file.string(), parsed.programme->code,
                                 parsed.programme->name);
        continue;
      }
      ++invalid;
      for (const auto& error : parsed.errors) {
        std::cout << (error.pointer.empty() ? error.message : fmt::format("{}: {}", error.pointer, error.message))
                  << "\n";
      }
    }
  }
  return invalid == 0 ? 0 : 1;
}

}  // namespace

void AddServerCommands(CLI::App& app) {
  auto options = std::make_shared<CommonOptions>();
  auto listen = std::make_shared<std::string>();
  std::string environment_help = "Environment overrides:\n";
  for (const auto& [name, meaning] : config::EnvironmentVariables()) {
    environment_help += fmt::format("  {:<30} {}\n", name, meaning);
  }
  auto* serve = app.add_subcommand("serve", "Run the event API (default: SQLite returnflow.db, 127.0.0.1:8080)");
  serve->footer(environment_help);
  AddConfigOptions(*serve, *options);
  serve->add_option("--listen", *listen, "host:port to listen on (overrides the file and RETURNFLOW_LISTEN)");
  auto testing_clock = std::make_shared<bool>(false);
  serve->add_flag("--testing-clock", *testing_clock,
                  "let admins move the server's time forward (POST /testing/clock): for tests and rehearsals only");
  serve->callback([options, listen, testing_clock] { Serve(*options, *listen, *testing_clock); });

  auto* programmes = app.add_subcommand("programmes", "Programme definitions (config/programmes/*.toml)");
  programmes->require_subcommand(1);
  auto check_paths = std::make_shared<std::vector<std::string>>();
  auto* check = programmes->add_subcommand("check", "Validate definition files or folders; exit 1 if any is invalid");
  check->add_option("paths", *check_paths, "files or folders")->required()->check(CLI::ExistingPath);
  check->callback([check_paths] {
    if (const int status = CheckProgrammes(*check_paths); status != 0) throw CLI::RuntimeError(status);
  });

  auto* token = app.add_subcommand("token", "Manage API tokens (stored as SHA-256 hashes only)");
  token->require_subcommand(1);
  auto token_options = std::make_shared<TokenOptions>();
  auto* create = token->add_subcommand("create", "Create a token and print its secret once");
  AddConfigOptions(*create, *options);
  create->add_option("--name", token_options->name, "unique name; the pseudonymous actor id")->required();
  create->add_option("--role", token_options->role, "caseworker, partner, supervisor, admin or auditor")
      ->required()
      ->check(CLI::IsMember({"caseworker", "partner", "supervisor", "admin"}));
  create->add_option("--office", token_options->office, "caseworker: the office");
  create->add_option("--organisation", token_options->organisation, "partner: the organisation");
  create->add_option("--event-types", token_options->event_types, "partner: comma-separated event types");
  create->add_option("--countries", token_options->countries, "supervisor: comma-separated ISO codes, or * for all");
  create->add_option("--sources", token_options->sources,
                     "comma-separated CloudEvents sources the token's events carry (default urn:returnflow:token:NAME)");
  create->callback([options, token_options] { CreateToken(*options, *token_options); });

  auto* list = token->add_subcommand("list", "List tokens (never their secrets)");
  AddConfigOptions(*list, *options);
  list->callback([options] { ListTokens(*options); });

  auto revoke_name = std::make_shared<std::string>();
  auto* revoke = token->add_subcommand("revoke", "Revoke a token by name");
  AddConfigOptions(*revoke, *options);
  revoke->add_option("name", *revoke_name, "the token's name")->required();
  revoke->callback([options, revoke_name] { RevokeToken(*options, *revoke_name); });

  auto* subscription = app.add_subcommand("subscription", "Manage who hears what from the engine (webhooks, feeds)");
  subscription->require_subcommand(1);
  auto subscription_options = std::make_shared<SubscriptionOptions>();
  auto* add = subscription->add_subcommand("add", "Create a subscription; a webhook's signing secret is printed once");
  AddConfigOptions(*add, *options);
  auto* recipient = add->add_option_group("recipient", "exactly one");
  recipient->add_option("--organisation", subscription_options->organisation, "a partner organisation");
  recipient->add_option("--office", subscription_options->office, "a caseworker office");
  recipient->require_option(1);
  add->add_option("--notifications", subscription_options->notifications,
                  "comma-separated: case.opened, state.entered[:NAME|PREFIX*], stage.entered[:...], event.applied[:...], "
                  "event.refused[:...], deadline.passed[:...], deadline.approaching[:...], incident.opened[:...]")
      ->required();
  add->add_option("--delivery", subscription_options->delivery, "webhook (default) or feed")
      ->check(CLI::IsMember({"webhook", "feed"}));
  add->add_option("--url", subscription_options->url, "webhook: the endpoint (http:// or https://, in delivery.allow)");
  add->callback([options, subscription_options] { AddSubscription(*options, *subscription_options); });

  auto* list_subscriptions = subscription->add_subcommand("list", "List subscriptions (never their secrets)");
  AddConfigOptions(*list_subscriptions, *options);
  list_subscriptions->callback([options] { ListSubscriptions(*options); });

  auto subscription_id = std::make_shared<std::string>();
  auto* remove = subscription->add_subcommand("remove", "Remove a subscription and its undelivered notifications");
  AddConfigOptions(*remove, *options);
  remove->add_option("id", *subscription_id, "the subscription id")->required();
  remove->callback([options, subscription_id] { RemoveSubscription(*options, *subscription_id); });

  auto* rotate = subscription->add_subcommand(
      "rotate-secret", "Give a webhook subscription a new secret; the old one keeps signing for delivery.secret_overlap_ms");
  AddConfigOptions(*rotate, *options);
  rotate->add_option("id", *subscription_id, "the subscription id")->required();
  rotate->callback([options, subscription_id] { RotateSubscriptionSecret(*options, *subscription_id); });

  auto openapi_output = std::make_shared<std::string>();
  auto* openapi = app.add_subcommand("openapi", "Print the OpenAPI document that GET /openapi.json serves");
  openapi->add_option("--output,-o", *openapi_output, "write it to this file instead of standard output");
  openapi->callback([openapi_output] { ExportOpenApi(*openapi_output); });
}

}  // namespace returnflow::cli
