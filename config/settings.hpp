#pragma once
/// Runtime settings of the engine: a TOML file plus RETURNFLOW_* environment overrides, over defaults
/// that work with no configuration at all (embedded SQLite in the working directory, 127.0.0.1:8080).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace returnflow::config {

/// The defaults of settings that other layers also need (the persistence options, page sizes): each
/// default lives here once.
namespace defaults {
inline constexpr const char* kDatabaseUrl = "sqlite:returnflow.db";
inline constexpr int kPoolSize = 4;
inline constexpr std::chrono::milliseconds kBusyTimeout{5'000};
inline constexpr std::chrono::milliseconds kLeaseTimeout{10'000};
inline constexpr int kMaxPageSize = 200;
inline constexpr int kDefaultPageSize = 50;
/// A revoked token keeps working in another process for at most this long.
inline constexpr std::chrono::milliseconds kTokenCacheTtl{1'000};
/// PostgreSQL group commit: cases whose last written state is kept in memory (about 2 KB each).
inline constexpr int kCachedCases = 10'000;
}  // namespace defaults

/// The HTTP server's limits and threading.
struct ServerSettings {
  std::string listen_address = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  int io_threads = 1;                 ///< threads running the Asio I/O context
  int worker_threads = 0;             ///< blocking database work; 0 = the database pool size
  std::size_t body_limit = 1 << 20;   ///< bytes; larger bodies are refused with 413
  std::size_t header_limit = 16 << 10;
  std::chrono::milliseconds read_timeout{10'000};  ///< from the first byte of a request to its last
  /// A new connection waiting for the first byte of its first request: short, so that sockets which
  /// never send anything cannot hold connection slots for the whole idle timeout.
  std::chrono::milliseconds first_request_timeout{5'000};
  std::chrono::milliseconds idle_timeout{60'000};  ///< a keep-alive connection waiting for its next request
  std::chrono::milliseconds shutdown_grace{30'000};  ///< in-flight requests get this long on SIGTERM
  /// Connections served at once. A newcomer beyond it evicts an idle connection; only when all are busy
  /// is it refused (or given a health_reserve slot).
  int max_connections = 1024;
  /// Connections one peer address may hold; a newcomer beyond it evicts that address's oldest idle one.
  /// Behind a reverse proxy every client shares the proxy's address: raise it to max_connections there.
  int max_connections_per_address = 256;
  /// Connections above max_connections, used only when every normal one is busy and serving only
  /// GET /healthz and GET /readyz, so that an overloaded server still answers its health checks.
  int health_reserve = 8;
  int max_page_size = defaults::kMaxPageSize;
  int default_page_size = defaults::kDefaultPageSize;
  int max_batch_events = 500;  ///< events in one CloudEvents batch request
};

/// Group commit: events of different cases committed together in one transaction.
struct GroupCommitSettings {
  bool enabled = true;
  int max_group = 64;  ///< events in one transaction
  /// Group transactions committing at once when more than `max_group` events are waiting (otherwise one
  /// at a time, which makes each group as large as the load allows); 0 = the database pool size.
  int max_in_flight = 0;
  /// PostgreSQL: cases whose last written state is kept in memory (about 2 KB each), so that a group of
  /// them is written in one round trip without reading them first; 0 turns the cache off.
  int cached_cases = defaults::kCachedCases;
  int EffectiveMaxInFlight(int pool_size) const { return max_in_flight > 0 ? std::min(max_in_flight, pool_size) : pool_size; }
};

struct DatabaseSettings {
  /// "sqlite:returnflow.db" / "sqlite:/abs/path.db" / a plain path ending in .db / "postgresql://...".
  std::string url = defaults::kDatabaseUrl;
  int pool_size = defaults::kPoolSize;
  std::string sqlite_synchronous = "full";  ///< full or normal
  std::chrono::milliseconds busy_timeout = defaults::kBusyTimeout;
};

struct AuthSettings {
  /// How long a verified token is trusted without asking the database again: the longest a token
  /// revoked by another process keeps working here. At most one second; revocation in this process is
  /// immediate.
  std::chrono::milliseconds token_cache_ttl = defaults::kTokenCacheTtl;
};

/// Programmes: server-side definitions, one TOML file per programme (see docs and config/programmes/).
struct ProgrammeSettings {
  /// Read at start and whenever a file changes; a relative path is taken from the working directory.
  /// When the folder does not exist and the database holds no programme, the built-in example programme
  /// (the README walkthrough's `avrr-id`) is registered, so that a server with no configuration works.
  std::string directory = "config/programmes";
  std::chrono::milliseconds rescan_interval{5'000};  ///< how often the folder is checked for changes
};

/// The engine's clock: the scheduler that fires due timers.
struct SchedulerSettings {
  bool enabled = true;
  /// How long the scheduler waits, when nothing was due, before it looks again.
  std::chrono::milliseconds poll_interval{100};
  int batch = 512;  ///< timers claimed at once
  /// How long a claimed timer is held by this engine before another may claim it (a crash's cost).
  std::chrono::milliseconds lease{30'000};
  /// Failed firings of one timer before it opens a timer_failing incident (it keeps being retried,
  /// with a growing back-off).
  int max_attempts = 5;
  /// Group-commit transactions of the clock's firings at once (their own lane: an event from a caller
  /// never queues behind a drain of due timers); at most group_commit's in-flight limit.
  int max_groups_in_flight = 1;
  int group_size = 128;  ///< the clock's firings in one group-commit transaction
};

/// The tamper-evident history (persistence/history_chain.hpp): row hashes and signed checkpoints.
struct HistorySettings {
  /// Every history row is hashed into its case's chain. Off only to measure what chaining costs: rows
  /// written so are reported by `returnflow verify`.
  bool hash_chain = true;
  /// How often the engine signs a checkpoint over every case's head (the engine's clock); 0 = only on
  /// demand (POST /admin/checkpoints, `returnflow checkpoint`).
  std::chrono::milliseconds checkpoint_interval{3'600'000};
  /// The Ed25519 private key (PEM) that signs checkpoints. Empty: on SQLite, "<database>.signing-key.pem"
  /// beside the database, created with owner-only permissions when missing; on PostgreSQL, checkpoints
  /// are disabled (a warning at start) until one is configured.
  std::string signing_key;
};

/// Personal data at rest (persistence/personal_data_crypto.hpp).
struct PrivacySettings {
  /// The master key file (lines `id:base64`, current first; see the README). Empty: on SQLite,
  /// "<database>.master-key" beside the database, created with owner-only permissions when missing; on
  /// PostgreSQL, `returnflow serve` refuses to start.
  std::string master_key_file;
  /// The master key(s) themselves, from RETURNFLOW_MASTER_KEY only (never the settings file): one
  /// `id:KEY` or bare KEY (base64 or hex), several ';'-separated. Takes precedence over the file.
  std::string master_key;
};

/// Partners hear from the engine: webhook delivery from the outbox and the pull feed.
struct DeliverySettings {
  bool enabled = true;
  /// How long the delivery worker waits, when nothing was due, before it looks again (a commit in this
  /// process wakes it at once).
  std::chrono::milliseconds poll_interval{250};
  int batch = 64;  ///< notifications claimed at once
  /// How long a claimed notification is held before another engine may claim it (a crash's cost).
  std::chrono::milliseconds lease{60'000};
  int per_subscription = 4;  ///< deliveries in flight per subscription (one per case at a time)
  int max_in_flight = 64;    ///< deliveries in flight in this engine
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds response_timeout{10'000};
  /// Where webhooks may go: host names, addresses or CIDR blocks ("10.1.0.0/16"); every address a host
  /// name resolves to must be allowed. The default allows loopback only.
  std::vector<std::string> allow{"127.0.0.0/8", "::1/128"};
  std::string ca_file;  ///< PEM CA bundle for https endpoints ("": the system's)
  std::chrono::milliseconds secret_overlap{86'400'000};  ///< a rotated secret keeps signing this long
  std::chrono::milliseconds feed_max_wait{30'000};       ///< the longest long-poll of GET /feed
  /// How long the apply path trusts its snapshot of the subscriptions, which another engine on the same
  /// database may change (a change through this engine is seen at once); 0: read in every transaction.
  std::chrono::milliseconds subscriptions_refresh{1'000};
  /// How long a delivered webhook notification and its attempts are kept (for listing and replay) before
  /// they are deleted; 0: kept for ever. Feed notifications and dead letters are kept.
  std::chrono::milliseconds delivered_retention{30LL * 86'400'000};
  /// How often the outbox's depth and the disabled subscriptions are counted for the metrics.
  std::chrono::milliseconds stats_interval{5'000};
};

struct LogSettings {
  std::string level = "info";  ///< trace, debug, info, warn, error, off
  bool access_log = true;      ///< one structured line per request
};

struct Settings {
  ServerSettings server;
  DatabaseSettings database;
  GroupCommitSettings group_commit;
  AuthSettings auth;
  PrivacySettings privacy;
  LogSettings log;
  ProgrammeSettings programmes;
  SchedulerSettings scheduler;
  HistorySettings history;
  DeliverySettings delivery;
  /// `returnflow serve --testing-clock`: an admin may move the engine's clock forward (POST
  /// /testing/clock). Never read from a file or the environment.
  bool testing_clock = false;

  /// Worker threads after the "0 = pool size" default is resolved.
  int EffectiveWorkerThreads() const {
    return server.worker_threads > 0 ? server.worker_threads : database.pool_size;
  }
};

/// A setting that could not be used; the message names the setting, where it came from and why.
class SettingsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Looks up an environment variable; injectable so tests do not touch the process environment.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvironmentLookup ProcessEnvironment();

/// Defaults, then the TOML file (when given), then the environment. Throws SettingsError.
Settings LoadSettings(const std::optional<std::string>& toml_path,
                      const EnvironmentLookup& environment = ProcessEnvironment());
/// As above from TOML text (`origin` names it in error messages).
Settings LoadSettingsFromString(std::string_view toml_text, std::string_view origin,
                                const EnvironmentLookup& environment);

/// The environment variables LoadSettings reads, for `--help` and docs.
const std::vector<std::pair<std::string, std::string>>& EnvironmentVariables();

/// Parses "host:port" or ":port" or "port" into the server's listen address and port.
void ParseListen(std::string_view text, ServerSettings& server, std::string_view origin);

}  // namespace returnflow::config
