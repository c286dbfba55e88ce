#include "cli/service.hpp"

#include <spdlog/spdlog.h>

#include "api/application.hpp"
#include "api/http_server.hpp"
#include "api/metrics.hpp"
#include "api/webhook_client.hpp"
#include "engine/checkpoints.hpp"
#include "engine/engine.hpp"
#include "persistence/repository.hpp"

namespace returnflow::cli {

persistence::DatabaseOptions ToDatabaseOptions(const config::Settings& settings) {
  persistence::DatabaseOptions options;
  options.url = persistence::NormaliseDatabaseUrl(settings.database.url);
  options.pool_size = static_cast<std::size_t>(settings.database.pool_size);
  options.busy_timeout = settings.database.busy_timeout;
  options.sqlite_synchronous = settings.database.sqlite_synchronous == "normal" ? persistence::SqliteSynchronous::kNormal
                                                                                 : persistence::SqliteSynchronous::kFull;
  options.history_hash_chain = settings.history.hash_chain;
  return options;
}

Service::Service(config::Settings settings) : settings_(std::move(settings)) {
  auto database_options = ToDatabaseOptions(settings_);
  database_options.master_keys = engine::LoadMasterKeys(settings_.privacy, database_options);
  database_ = std::make_unique<persistence::Database>(std::move(database_options));
  const int schema_before = database_->SchemaVersion();
  int applied = database_->Migrate();
  spdlog::info("event=database_ready backend={} schema_version={} migrations_applied={} pool_size={}",
               database_->GetBackend() == persistence::Backend::kSqlite ? "sqlite" : "postgresql",
               database_->SchemaVersion(), applied, database_->PoolSize());
  workers_ = std::make_unique<boost::asio::thread_pool>(static_cast<std::size_t>(settings_.EffectiveWorkerThreads()));
  metrics_ = std::make_unique<api::Metrics>();
  engine_ = std::make_unique<engine::Engine>(*database_, settings_, *workers_, metrics_.get());
  engine_->Prepare(schema_before);
  // Partners hear from the engine: the outbox's notifications go out through the transport's client.
  webhooks_ = std::make_unique<api::WebhookClient>(settings_.delivery);
  engine_->UseWebhookSender(webhooks_.get());
  application_ = std::make_unique<api::Application>(*engine_, settings_, *metrics_);
  api::ServerObservers observers;
  observers.connections_changed = [metrics = metrics_.get()](int open) { metrics->ConnectionsChanged(open); };
  observers.connection_refused = [metrics = metrics_.get()](std::string_view reason) { metrics->ConnectionRefused(reason); };
  server_ = std::make_unique<api::HttpServer>(
      settings_.server,
      [application = application_.get()](api::Request& request, api::RequestInfo& info) {
        return application->Handle(request, info);
      },
      std::move(observers));
}

Service::~Service() {
  if (!waited_) {
    Stop();
    Wait();
  }
}

std::optional<std::string> Service::BootstrapAdminToken() { return engine_->BootstrapAdminToken(); }

void Service::Start() {
  server_->Start();
  engine_->StartClock();
  spdlog::info("event=listening address={} port={} io_threads={} worker_threads={} group_commit={}",
               settings_.server.listen_address, server_->Port(), settings_.server.io_threads,
               settings_.EffectiveWorkerThreads(), settings_.group_commit.enabled);
}

std::uint16_t Service::Port() const { return server_->Port(); }
void Service::StopOnSignals() { server_->StopOnSignals(); }
void Service::Stop() { server_->Stop(); }

void Service::Wait() {
  server_->Wait();
  // No timer fires once the transport has stopped; the clock's rounds finish before the workers go.
  engine_->StopClock();
  // Every request has been answered, so no work is left queued for the workers.
  workers_->join();
  waited_ = true;
  spdlog::info("event=stopped");
}

}  // namespace returnflow::cli
