#include "config/settings.hpp"

#include <charconv>
#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace returnflow::config {
namespace {

[[noreturn]] void Fail(std::string_view origin, std::string_view key, std::string_view why) {
  throw SettingsError(fmt::format("{}: setting '{}': {}", origin, key, why));
}

std::int64_t ParseInteger(std::string_view text, std::string_view origin, std::string_view key) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) Fail(origin, key, fmt::format("'{}' is not an integer", text));
  return value;
}

bool ParseBool(std::string_view text, std::string_view origin, std::string_view key) {
  if (text == "1" || text == "true" || text == "yes" || text == "on") return true;
  if (text == "0" || text == "false" || text == "no" || text == "off") return false;
  Fail(origin, key, fmt::format("'{}' is not a boolean (true/false)", text));
}

/// "0" (never), or a number and a unit: "90s", "30m", "1h", "2d"; at least a second, at most 30 days.
std::chrono::milliseconds ParseInterval(std::string_view text, std::string_view origin, std::string_view key) {
  if (text == "0") return std::chrono::milliseconds(0);
  const auto why = fmt::format("'{}' is not an interval (\"0\", or e.g. \"90s\", \"30m\", \"1h\", \"2d\")", text);
  if (text.size() < 2) Fail(origin, key, why);
  std::int64_t count = 0;
  const auto* end = text.data() + text.size() - 1;
  auto [ptr, ec] = std::from_chars(text.data(), end, count);
  if (ec != std::errc{} || ptr != end || count <= 0 || count > 30LL * 24 * 3600) Fail(origin, key, why);
  std::int64_t seconds = 0;
  switch (text.back()) {
    case 's': seconds = count; break;
    case 'm': seconds = count * 60; break;
    case 'h': seconds = count * 3600; break;
    case 'd': seconds = count * 86400; break;
    default: Fail(origin, key, why);
  }
  if (seconds > 30LL * 24 * 3600) Fail(origin, key, why);
  return std::chrono::milliseconds(seconds * 1000);
}

template <typename Integer>
void CheckRange(std::int64_t value, std::int64_t low, std::int64_t high, Integer& out, std::string_view origin,
                std::string_view key) {
  if (value < low || value > high) {
    Fail(origin, key, fmt::format("{} is out of range [{}, {}]", value, low, high));
  }
  out = static_cast<Integer>(value);
}

void CheckLevel(const std::string& level, std::string_view origin) {
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  for (auto known : kLevels) {
    if (level == known) return;
  }
  Fail(origin, "log.level", fmt::format("'{}' is not one of trace, debug, info, warn, error, critical, off", level));
}

void CheckDatabaseUrl(const std::string& url, std::string_view origin, std::string_view key) {
  if (url.empty()) Fail(origin, key, "is empty");
  if (url.starts_with("postgresql://") || url.starts_with("postgres://") || url.starts_with("sqlite:") ||
      url.ends_with(".db") || url.ends_with(".sqlite") || url.ends_with(".sqlite3")) {
    return;
  }
  Fail(origin, key, "expected postgresql://user@host:port/db, sqlite:FILE, or a path ending in .db");
}

/// A TOML table view that reports the file and the dotted key on type errors.
class TableReader {
 public:
  TableReader(const toml::table& root, std::string_view origin) : root_(root), origin_(origin) {}

  template <typename Number>
  void Integer(std::string_view path, Number& out, std::int64_t low, std::int64_t high) {
    auto node = root_.at_path(path);
    if (!node) return;
    auto value = node.value<std::int64_t>();
    if (!value || !node.is_integer()) Fail(origin_, path, "expected an integer");
    CheckRange(*value, low, high, out, origin_, path);
  }
  void Milliseconds(std::string_view path, std::chrono::milliseconds& out, std::int64_t low, std::int64_t high) {
    std::int64_t value = out.count();
    Integer(path, value, low, high);
    out = std::chrono::milliseconds(value);
  }
  void String(std::string_view path, std::string& out) {
    auto node = root_.at_path(path);
    if (!node) return;
    if (!node.is_string()) Fail(origin_, path, "expected a string");
    out = *node.value<std::string>();
  }
  void Strings(std::string_view path, std::vector<std::string>& out) {
    auto node = root_.at_path(path);
    if (!node) return;
    const auto* array = node.as_array();
    if (!array) Fail(origin_, path, "expected an array of strings");
    std::vector<std::string> values;
    for (const auto& item : *array) {
      if (!item.is_string()) Fail(origin_, path, "expected an array of strings");
      values.push_back(*item.value<std::string>());
    }
    out = std::move(values);
  }
  void Bool(std::string_view path, bool& out) {
    auto node = root_.at_path(path);
    if (!node) return;
    if (!node.is_boolean()) Fail(origin_, path, "expected true or false");
    out = *node.value<bool>();
  }

 private:
  const toml::table& root_;
  std::string_view origin_;
};

void CheckUnknownKeys(const toml::table& root, std::string_view origin) {
  static const std::map<std::string, std::vector<std::string>> kKnown = {
      {"server",
       {"listen", "io_threads", "worker_threads", "body_limit", "header_limit", "read_timeout_ms",
        "first_request_timeout_ms", "idle_timeout_ms", "shutdown_grace_ms", "max_connections",
        "max_connections_per_address", "health_reserve", "max_page_size", "default_page_size",
        "max_batch_events"}},
      {"database", {"url", "pool_size", "sqlite_synchronous", "busy_timeout_ms"}},
      {"group_commit", {"enabled", "max_group", "max_in_flight", "cached_cases"}},
      {"auth", {"token_cache_ttl_ms"}},
      {"log", {"level", "access_log"}},
      {"programmes", {"directory", "rescan_interval_ms"}},
      {"scheduler", {"enabled", "poll_interval_ms", "batch", "lease_ms", "max_attempts", "max_groups_in_flight", "group_size"}},
      {"history", {"hash_chain", "checkpoint_interval", "signing_key"}},
      {"privacy", {"master_key_file"}},
      {"delivery",
       {"enabled", "poll_interval_ms", "batch", "lease_ms", "per_subscription", "max_in_flight", "connect_timeout_ms",
        "response_timeout_ms", "allow", "ca_file", "secret_overlap_ms", "feed_max_wait_ms",
        "subscriptions_refresh_ms", "delivered_retention", "stats_interval_ms"}},
  };
  for (const auto& [section, node] : root) {
    auto known = kKnown.find(std::string(section.str()));
    if (known == kKnown.end()) Fail(origin, section.str(), "unknown section");
    const auto* table = node.as_table();
    if (!table) Fail(origin, section.str(), "expected a table ([section])");
    for (const auto& [key, value] : *table) {
      const auto& keys = known->second;
      if (std::find(keys.begin(), keys.end(), key.str()) == keys.end()) {
        Fail(origin, fmt::format("{}.{}", section.str(), key.str()), "unknown setting");
      }
    }
  }
}

void ApplyToml(const toml::table& root, std::string_view origin, Settings& settings) {
  CheckUnknownKeys(root, origin);
  TableReader reader(root, origin);
  std::string listen;
  reader.String("server.listen", listen);
  if (!listen.empty()) ParseListen(listen, settings.server, origin);
  reader.Integer("server.io_threads", settings.server.io_threads, 1, 256);
  reader.Integer("server.worker_threads", settings.server.worker_threads, 0, 1024);
  reader.Integer("server.body_limit", settings.server.body_limit, 1024, 1LL << 30);
  reader.Integer("server.header_limit", settings.server.header_limit, 1024, 1 << 20);
  reader.Milliseconds("server.read_timeout_ms", settings.server.read_timeout, 10, 3'600'000);
  reader.Milliseconds("server.first_request_timeout_ms", settings.server.first_request_timeout, 10, 3'600'000);
  reader.Milliseconds("server.idle_timeout_ms", settings.server.idle_timeout, 10, 3'600'000);
  reader.Milliseconds("server.shutdown_grace_ms", settings.server.shutdown_grace, 0, 3'600'000);
  reader.Integer("server.max_connections", settings.server.max_connections, 1, 1'000'000);
  reader.Integer("server.max_connections_per_address", settings.server.max_connections_per_address, 1, 1'000'000);
  reader.Integer("server.health_reserve", settings.server.health_reserve, 0, 10'000);
  reader.Integer("server.max_page_size", settings.server.max_page_size, 1, defaults::kMaxPageSize);
  reader.Integer("server.default_page_size", settings.server.default_page_size, 1, 10'000);
  reader.Integer("server.max_batch_events", settings.server.max_batch_events, 1, 100'000);
  reader.String("database.url", settings.database.url);
  reader.Integer("database.pool_size", settings.database.pool_size, 1, 512);
  reader.String("database.sqlite_synchronous", settings.database.sqlite_synchronous);
  reader.Milliseconds("database.busy_timeout_ms", settings.database.busy_timeout, 0, 600'000);
  reader.Bool("group_commit.enabled", settings.group_commit.enabled);
  reader.Integer("group_commit.max_group", settings.group_commit.max_group, 1, 10'000);
  reader.Integer("group_commit.max_in_flight", settings.group_commit.max_in_flight, 0, 512);
  reader.Integer("group_commit.cached_cases", settings.group_commit.cached_cases, 0, 10'000'000);
  reader.Milliseconds("auth.token_cache_ttl_ms", settings.auth.token_cache_ttl, 0, 1'000);
  reader.String("log.level", settings.log.level);
  reader.Bool("log.access_log", settings.log.access_log);
  reader.String("programmes.directory", settings.programmes.directory);
  reader.Milliseconds("programmes.rescan_interval_ms", settings.programmes.rescan_interval, 100, 3'600'000);
  reader.Bool("scheduler.enabled", settings.scheduler.enabled);
  reader.Milliseconds("scheduler.poll_interval_ms", settings.scheduler.poll_interval, 1, 60'000);
  reader.Integer("scheduler.batch", settings.scheduler.batch, 1, 10'000);
  reader.Milliseconds("scheduler.lease_ms", settings.scheduler.lease, 1'000, 3'600'000);
  reader.Integer("scheduler.max_attempts", settings.scheduler.max_attempts, 1, 1'000);
  reader.Integer("scheduler.max_groups_in_flight", settings.scheduler.max_groups_in_flight, 1, 64);
  reader.Integer("scheduler.group_size", settings.scheduler.group_size, 1, 10'000);
  reader.Bool("history.hash_chain", settings.history.hash_chain);
  std::string interval;
  reader.String("history.checkpoint_interval", interval);
  if (!interval.empty()) {
    settings.history.checkpoint_interval = ParseInterval(interval, origin, "history.checkpoint_interval");
  }
  reader.String("history.signing_key", settings.history.signing_key);
  reader.String("privacy.master_key_file", settings.privacy.master_key_file);
  auto& delivery = settings.delivery;
  reader.Bool("delivery.enabled", delivery.enabled);
  reader.Milliseconds("delivery.poll_interval_ms", delivery.poll_interval, 1, 60'000);
  reader.Integer("delivery.batch", delivery.batch, 1, 1'000);
  reader.Milliseconds("delivery.lease_ms", delivery.lease, 1'000, 3'600'000);
  reader.Integer("delivery.per_subscription", delivery.per_subscription, 1, 64);
  reader.Integer("delivery.max_in_flight", delivery.max_in_flight, 1, 4'096);
  reader.Milliseconds("delivery.connect_timeout_ms", delivery.connect_timeout, 10, 600'000);
  reader.Milliseconds("delivery.response_timeout_ms", delivery.response_timeout, 10, 600'000);
  reader.Strings("delivery.allow", delivery.allow);
  reader.String("delivery.ca_file", delivery.ca_file);
  reader.Milliseconds("delivery.secret_overlap_ms", delivery.secret_overlap, 0, 30LL * 86'400'000);
  reader.Milliseconds("delivery.feed_max_wait_ms", delivery.feed_max_wait, 0, 600'000);
  reader.Milliseconds("delivery.subscriptions_refresh_ms", delivery.subscriptions_refresh, 0, 600'000);
  reader.Milliseconds("delivery.stats_interval_ms", delivery.stats_interval, 0, 3'600'000);
  std::string retention;
  reader.String("delivery.delivered_retention", retention);
  if (!retention.empty()) {
    delivery.delivered_retention = ParseInterval(retention, origin, "delivery.delivered_retention");
  }
}

void ApplyEnvironment(const EnvironmentLookup& environment, Settings& settings) {
  auto integer = [&](const char* name, auto& out, std::int64_t low, std::int64_t high) {
    if (auto text = environment(name)) {
      CheckRange(ParseInteger(*text, "environment", name), low, high, out, "environment", name);
    }
  };
  auto milliseconds = [&](const char* name, std::chrono::milliseconds& out, std::int64_t low, std::int64_t high) {
    std::int64_t value = out.count();
    integer(name, value, low, high);
    out = std::chrono::milliseconds(value);
  };
  if (auto value = environment("RETURNFLOW_DATABASE")) settings.database.url = *value;
  if (auto value = environment("RETURNFLOW_LISTEN")) ParseListen(*value, settings.server, "environment");
  integer("RETURNFLOW_IO_THREADS", settings.server.io_threads, 1, 256);
  integer("RETURNFLOW_WORKER_THREADS", settings.server.worker_threads, 0, 1024);
  integer("RETURNFLOW_DB_POOL_SIZE", settings.database.pool_size, 1, 512);
  integer("RETURNFLOW_MAX_CONNECTIONS", settings.server.max_connections, 1, 1'000'000);
  integer("RETURNFLOW_MAX_CONNECTIONS_PER_ADDRESS", settings.server.max_connections_per_address, 1, 1'000'000);
  integer("RETURNFLOW_HEALTH_RESERVE", settings.server.health_reserve, 0, 10'000);
  milliseconds("RETURNFLOW_FIRST_REQUEST_TIMEOUT_MS", settings.server.first_request_timeout, 10, 3'600'000);
  integer("RETURNFLOW_BODY_LIMIT", settings.server.body_limit, 1024, 1LL << 30);
  integer("RETURNFLOW_GROUP_COMMIT_MAX", settings.group_commit.max_group, 1, 10'000);
  integer("RETURNFLOW_GROUP_COMMIT_IN_FLIGHT", settings.group_commit.max_in_flight, 0, 512);
  integer("RETURNFLOW_GROUP_COMMIT_CACHED_CASES", settings.group_commit.cached_cases, 0, 10'000'000);
  if (auto value = environment("RETURNFLOW_GROUP_COMMIT")) {
    settings.group_commit.enabled = ParseBool(*value, "environment", "RETURNFLOW_GROUP_COMMIT");
  }
  if (auto value = environment("RETURNFLOW_SQLITE_SYNCHRONOUS")) settings.database.sqlite_synchronous = *value;
  if (auto value = environment("RETURNFLOW_LOG_LEVEL")) settings.log.level = *value;
  if (auto value = environment("RETURNFLOW_PROGRAMMES")) settings.programmes.directory = *value;
  if (auto value = environment("RETURNFLOW_SCHEDULER")) {
    settings.scheduler.enabled = ParseBool(*value, "environment", "RETURNFLOW_SCHEDULER");
  }
  if (auto value = environment("RETURNFLOW_HISTORY_HASH_CHAIN")) {
    settings.history.hash_chain = ParseBool(*value, "environment", "RETURNFLOW_HISTORY_HASH_CHAIN");
  }
  if (auto value = environment("RETURNFLOW_CHECKPOINT_INTERVAL")) {
    settings.history.checkpoint_interval = ParseInterval(*value, "environment", "RETURNFLOW_CHECKPOINT_INTERVAL");
  }
  if (auto value = environment("RETURNFLOW_SIGNING_KEY")) settings.history.signing_key = *value;
  if (auto value = environment("RETURNFLOW_MASTER_KEY_FILE")) settings.privacy.master_key_file = *value;
  if (auto value = environment("RETURNFLOW_MASTER_KEY")) settings.privacy.master_key = *value;
  if (auto value = environment("RETURNFLOW_DELIVERY")) {
    settings.delivery.enabled = ParseBool(*value, "environment", "RETURNFLOW_DELIVERY");
  }
  if (auto value = environment("RETURNFLOW_DELIVERY_ALLOW")) {
    settings.delivery.allow.clear();
    std::string_view rest = *value;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (comma != 0) settings.delivery.allow.emplace_back(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (auto value = environment("RETURNFLOW_ACCESS_LOG")) {
    settings.log.access_log = ParseBool(*value, "environment", "RETURNFLOW_ACCESS_LOG");
  }
}

void Validate(const Settings& settings, std::string_view origin) {
  CheckDatabaseUrl(settings.database.url, origin, "database.url");
  CheckLevel(settings.log.level, origin);
  if (settings.database.sqlite_synchronous != "full" && settings.database.sqlite_synchronous != "normal") {
    Fail(origin, "database.sqlite_synchronous", "expected 'full' or 'normal'");
  }
  if (settings.server.default_page_size > settings.server.max_page_size) {
    Fail(origin, "server.default_page_size", "is larger than server.max_page_size");
  }
}

Settings Load(const toml::table* root, std::string_view origin, const EnvironmentLookup& environment) {
  Settings settings;
  if (root) ApplyToml(*root, origin, settings);
  ApplyEnvironment(environment, settings);
  Validate(settings, root ? origin : "settings");
  return settings;
}

}  // namespace

EnvironmentLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value || !*value) return std::nullopt;
    return std::string(value);
  };
}

void ParseListen(std::string_view text, ServerSettings& server, std::string_view origin) {
  auto colon = text.rfind(':');
  std::string_view host = colon == std::string_view::npos ? std::string_view{} : text.substr(0, colon);
  std::string_view port = colon == std::string_view::npos ? text : text.substr(colon + 1);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  std::int64_t number = ParseInteger(port, origin, "listen");
  if (number < 0 || number > 65535) Fail(origin, "listen", fmt::format("port {} is out of range", number));
  server.listen_port = static_cast<std::uint16_t>(number);
  if (!host.empty()) server.listen_address = std::string(host);
}

Settings LoadSettingsFromString(std::string_view toml_text, std::string_view origin,
                                const EnvironmentLookup& environment) {
  try {
    toml::table root = toml::parse(toml_text, origin);
    return Load(&root, origin, environment);
  } catch (const toml::parse_error& error) {
    const auto& where = error.source().begin;
    throw SettingsError(fmt::format("{}:{}:{}: {}", origin, where.line, where.column, error.description()));
  }
}

Settings LoadSettings(const std::optional<std::string>& toml_path, const EnvironmentLookup& environment) {
  if (!toml_path) return Load(nullptr, "settings", environment);
  std::ifstream file(*toml_path);
  if (!file) throw SettingsError(fmt::format("{}: cannot open the settings file", *toml_path));
  std::stringstream text;
  text << file.rdbuf();
  return LoadSettingsFromString(text.str(), *toml_path, environment);
}

const std::vector<std::pair<std::string, std::string>>& EnvironmentVariables() {
  static const std::vector<std::pair<std::string, std::string>> kVariables = {
      {"RETURNFLOW_DATABASE", "database.url (postgresql://... or sqlite:FILE)"},
      {"RETURNFLOW_LISTEN", "server.listen (host:port)"},
      {"RETURNFLOW_IO_THREADS", "server.io_threads"},
      {"RETURNFLOW_WORKER_THREADS", "server.worker_threads (0 = database pool size)"},
      {"RETURNFLOW_DB_POOL_SIZE", "database.pool_size"},
      {"RETURNFLOW_MAX_CONNECTIONS", "server.max_connections"},
      {"RETURNFLOW_MAX_CONNECTIONS_PER_ADDRESS", "server.max_connections_per_address"},
      {"RETURNFLOW_HEALTH_RESERVE", "server.health_reserve (connections for GET /healthz, /readyz only)"},
      {"RETURNFLOW_FIRST_REQUEST_TIMEOUT_MS", "server.first_request_timeout_ms"},
      {"RETURNFLOW_BODY_LIMIT", "server.body_limit (bytes)"},
      {"RETURNFLOW_GROUP_COMMIT", "group_commit.enabled (true/false)"},
      {"RETURNFLOW_GROUP_COMMIT_MAX", "group_commit.max_group"},
      {"RETURNFLOW_GROUP_COMMIT_IN_FLIGHT", "group_commit.max_in_flight (0 = database.pool_size)"},
      {"RETURNFLOW_GROUP_COMMIT_CACHED_CASES", "group_commit.cached_cases (0 = no cache)"},
      {"RETURNFLOW_SQLITE_SYNCHRONOUS", "database.sqlite_synchronous (full/normal)"},
      {"RETURNFLOW_LOG_LEVEL", "log.level"},
      {"RETURNFLOW_ACCESS_LOG", "log.access_log (true/false)"},
      {"RETURNFLOW_PROGRAMMES", "programmes.directory"},
      {"RETURNFLOW_SCHEDULER", "scheduler.enabled (true/false)"},
      {"RETURNFLOW_HISTORY_HASH_CHAIN", "history.hash_chain (true/false)"},
      {"RETURNFLOW_CHECKPOINT_INTERVAL", "history.checkpoint_interval (\"1h\", \"30m\", \"0\" = on demand only)"},
      {"RETURNFLOW_SIGNING_KEY", "history.signing_key (Ed25519 private key, PEM)"},
      {"RETURNFLOW_MASTER_KEY_FILE", "privacy.master_key_file (lines id:base64, current first)"},
      {"RETURNFLOW_MASTER_KEY", "the master key itself (id:KEY or KEY, base64 or hex; ';' between several)"},
      {"RETURNFLOW_DELIVERY", "delivery.enabled (true/false)"},
      {"RETURNFLOW_DELIVERY_ALLOW", "delivery.allow (comma-separated hosts, addresses, CIDR blocks)"},
  };
  return kVariables;
}

}  // namespace returnflow::config
