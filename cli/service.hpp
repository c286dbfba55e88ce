#pragma once
/// The composition root: database (migrated), worker pool, engine, API and HTTP server wired together.
/// Used by `returnflow serve` and by the tests, which start it in-process on an ephemeral port.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/thread_pool.hpp>

#include "config/settings.hpp"
#include "persistence/database.hpp"

namespace returnflow::api {
class Application;
class HttpServer;
class Metrics;
class WebhookClient;
}  // namespace returnflow::api
namespace returnflow::engine {
class Engine;
}

namespace returnflow::cli {

/// The persistence options for a configuration.
persistence::DatabaseOptions ToDatabaseOptions(const config::Settings& settings);

class Service {
 public:
  /// Opens the database and applies pending migrations; throws PersistenceError when it cannot.
  explicit Service(config::Settings settings);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  /// Creates an admin token named "admin" when the database holds no token at all; returns its secret
  /// (to be shown once) or nullopt. Call after Start, so the secret is shown only by a server that is up.
  std::optional<std::string> BootstrapAdminToken();

  /// Binds and starts serving (listen port 0 picks a free one).
  void Start();
  std::uint16_t Port() const;
  void StopOnSignals();
  /// Graceful stop from any thread; Wait() returns once in-flight requests are answered.
  void Stop();
  void Wait();

  persistence::Database& Database() { return *database_; }
  engine::Engine& Engine() { return *engine_; }
  const config::Settings& Settings() const { return settings_; }

 private:
  config::Settings settings_;
  std::unique_ptr<persistence::Database> database_;
  std::unique_ptr<boost::asio::thread_pool> workers_;
  std::unique_ptr<api::Metrics> metrics_;
  std::unique_ptr<api::WebhookClient> webhooks_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<api::Application> application_;
  std::unique_ptr<api::HttpServer> server_;
  bool waited_ = false;
};

}  // namespace returnflow::cli
