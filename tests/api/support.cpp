#include "tests/api/support.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <random>

#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <soci/soci.h>

#include "api/dto.hpp"
#include "engine/tokens.hpp"
#include "persistence/personal_data_crypto.hpp"
#include "persistence/repository.hpp"

namespace returnflow::test {

namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = boost::asio::ip::tcp;

json::value HttpResult::Json() const {
  boost::system::error_code ec;
  auto value = json::parse(body, ec);
  if (ec) throw std::runtime_error("response body is not JSON: " + body.substr(0, 200));
  return value;
}

std::string HttpResult::Header(const std::string& name) const {
  auto found = headers.find(name);
  return found == headers.end() ? std::string() : found->second;
}

std::string HttpResult::ProblemType() const {
  if (Header("content-type") != "application/problem+json") return {};
  auto value = Json();
  std::string type(value.at("type").as_string());
  constexpr std::string_view kPrefix = "urn:returnflow:problem:";
  return type.starts_with(kPrefix) ? type.substr(kPrefix.size()) : type;
}

HttpClient::HttpClient(std::uint16_t port, std::string token) : port_(port), token_(std::move(token)) {}

HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  if (stream_) {
    boost::system::error_code ignored;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_->socket().close(ignored);
    stream_.reset();
  }
  buffer_.clear();
}

void HttpClient::Connect() {
  stream_ = std::make_unique<boost::beast::tcp_stream>(context_);
  stream_->connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
  stream_->socket().set_option(tcp::no_delay(true));
}

HttpResult HttpClient::Request(http::verb method, const std::string& target, const std::string& body,
                               const std::string& content_type,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
  if (!stream_) Connect();
  http::request<http::string_body> request{method, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.keep_alive(true);
  if (!token_.empty()) request.set(http::field::authorization, "Bearer " + token_);
  if (!content_type.empty()) request.set(http::field::content_type, content_type);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  // Asynchronous operations under a deadline, run to completion here: a hung server fails the test
  // after 60 s instead of blocking it (Asio's blocking reads ignore SO_RCVTIMEO and wait again).
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  boost::system::error_code error;
  stream_->expires_after(std::chrono::seconds(60));
  http::async_write(*stream_, request, [&](boost::system::error_code write_error, std::size_t) {
    if (write_error) {
      error = write_error;
      return;
    }
    http::async_read(*stream_, buffer_, parser,
                     [&](boost::system::error_code read_error, std::size_t) { error = read_error; });
  });
  context_.restart();
  context_.run();
  if (error) {
    Close();
    throw boost::system::system_error(error, "HTTP exchange with the test server");
  }
  stream_->expires_never();
  auto response = parser.release();
  HttpResult result;
  result.status = static_cast<int>(response.result_int());
  for (const auto& field : response) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    result.headers[name] = std::string(field.value());
  }
  result.body = std::move(response.body());
  if (!response.keep_alive()) Close();
  return result;
}

const char* Name(Backend backend) { return backend == Backend::kSqlite ? "sqlite" : "postgresql"; }

std::vector<Backend> Backends() { return {Backend::kSqlite, Backend::kPostgresql}; }

std::string Unique(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}();
  return fmt::format("{}-{:x}-{}-{}", prefix, salt, ::getpid(), ++counter);
}

void ConfigureTestLogging() {
  static bool configured = [] {
    spdlog::set_level(std::getenv("RETURNFLOW_TEST_LOG") ? spdlog::level::info : spdlog::level::warn);
    return true;
  }();
  (void)configured;
}

namespace {
/// A key file for this test process, made by `create` (path), removed when it exits.
struct ProcessKeyFile {
  std::string path;
  ProcessKeyFile(std::string_view name, void (*create)(const std::string&))
      : path((std::filesystem::temp_directory_path() / Unique(std::string(name))).string()) {
    create(path);
  }
  ~ProcessKeyFile() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
};
}  // namespace

std::string TestSigningKeyPath() {
  static const ProcessKeyFile key("returnflow-api-test-key", [](const std::string& path) {
    persistence::SigningKey::LoadOrCreate(path);
  });
  return key.path;
}

std::string TestMasterKeyPath() {
  static const ProcessKeyFile key("returnflow-api-test-master-key", [](const std::string& path) {
    persistence::MasterKeyring::LoadOrCreate(path);
  });
  return key.path;
}

std::string SharedPostgresUrl() {
  const char* url = std::getenv("RETURNFLOW_TEST_PG_URL");
  if (!url || !*url) {
    throw std::runtime_error(
        "RETURNFLOW_TEST_PG_URL is not set: the API tests run on PostgreSQL too. Run ./scripts/test.sh, or "
        "`source scripts/pg-throwaway.sh; pg_throwaway_start; export RETURNFLOW_TEST_PG_URL=$PG_THROWAWAY_URL`");
  }
  return url;
}

namespace {

/// Runs one statement on the cluster (CREATE/DROP DATABASE), connected to the shared database.
void OnCluster(const std::string& cluster_url, const std::string& statement) {
  ConfigureTestLogging();
  persistence::DatabaseOptions options;
  options.url = cluster_url;
  options.pool_size = 1;
  persistence::Database cluster(options);
  auto lease = cluster.Lease();
  lease.Session() << statement;
}

}  // namespace

PostgresDatabase::PostgresDatabase() : cluster_url_(SharedPostgresUrl()), name_(Unique("returnflow_own")) {
  std::replace_if(name_.begin(), name_.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  const auto path = cluster_url_.find('/', cluster_url_.find("://") + 3);
  if (path == std::string::npos) throw std::runtime_error("RETURNFLOW_TEST_PG_URL names no database");
  const auto query = cluster_url_.find('?', path);
  url_ = cluster_url_.substr(0, path + 1) + name_ + (query == std::string::npos ? "" : cluster_url_.substr(query));
  OnCluster(cluster_url_, "CREATE DATABASE " + name_);
}

PostgresDatabase::~PostgresDatabase() {
  try {
    OnCluster(cluster_url_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The throwaway cluster goes at the end of the run anyway.
  }
}

TestServer::TestServer(Backend backend, std::function<void(config::Settings&)> adjust) {
  ConfigureTestLogging();
  config::Settings settings;
  settings.server.listen_address = "127.0.0.1";
  settings.server.listen_port = 0;
  settings.server.io_threads = 2;
  settings.database.pool_size = 4;
  settings.log.access_log = std::getenv("RETURNFLOW_TEST_LOG") != nullptr;
  if (backend == Backend::kSqlite) {
    sqlite_path_ = (std::filesystem::temp_directory_path() / (Unique("returnflow-api-test") + ".db")).string();
    settings.database.url = "sqlite:" + sqlite_path_;
  } else {
    settings.database.url = SharedPostgresUrl();
    // SQLite servers make their own key beside the database; PostgreSQL ones share one of this process.
    settings.history.signing_key = TestSigningKeyPath();
    settings.privacy.master_key_file = TestMasterKeyPath();
  }
  // The tests' programmes (avrr-test), not the example folder; the watcher looks at a file it never changes.
  settings.programmes.directory = RETURNFLOW_SOURCE_DIR "/tests/api/programmes";
  // No timer fires by itself: a test that wants the clock moves it (testing_clock) or enables the loop.
  settings.scheduler.enabled = false;
  // Every test engine shares the PostgreSQL database: one may fire another test's case moments after that
  // test subscribed, so each reads the subscriptions in every transaction.
  settings.delivery.subscriptions_refresh = std::chrono::milliseconds(0);
  // Nor are delivered notifications deleted by a clock another test moved by days (the test of the
  // retention sets it).
  settings.delivery.delivered_retention = std::chrono::milliseconds(0);
  // Nor does any webhook go out: the tests share one PostgreSQL database, and another test's engine (its
  // testing clock elsewhere) would deliver this one's notifications. The outbox tests enable it.
  settings.delivery.enabled = false;
  if (adjust) adjust(settings);
  if (backend == Backend::kPostgresql && settings.testing_clock && settings.database.url == SharedPostgresUrl()) {
    own_database_ = std::make_unique<PostgresDatabase>();
    settings.database.url = own_database_->Url();
  }
  database_url_ = settings.database.url;
  service_ = std::make_unique<cli::Service>(settings);
  service_->Start();
}

TestServer::~TestServer() {
  Stop();
  if (!sqlite_path_.empty()) {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-journal", ".signing-key.pem", ".master-key"}) {
      std::filesystem::remove(sqlite_path_ + suffix, ignored);
    }
  }
}

void TestServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  service_->Stop();
  service_->Wait();
}

std::string TestServer::Token(const std::string& role, const json::object& scope, const std::string& name) {
  json::object with_sources = scope;
  if (role != "admin" && role != "auditor" && !with_sources.contains("sources")) with_sources["sources"] = json::array{"test/system"};
  json::object request{{"name", Unique(name.empty() ? role : name)}, {"role", role}};
  if (!with_sources.empty()) request["scope"] = with_sources;
  auto parsed = api::ParseCreateToken(request);
  if (auto* problem = std::get_if<api::Problem>(&parsed)) throw std::runtime_error("bad test token: " + problem->detail);
  persistence::TokenRepository tokens(service_->Database());
  return engine::IssueToken(tokens, std::move(std::get<engine::NewToken>(parsed))).secret;
}

json::object CloudEvent(const std::string& type, const std::string& subject, json::object data, const std::string& time,
                        const std::string& source) {
  static std::atomic<int> counter{0};
  return json::object{{"specversion", "1.0"},
                      {"id", Unique("evt") + "-" + std::to_string(++counter)},
                      {"source", source},
                      {"type", type},
                      {"subject", subject},
                      {"time", time},
                      {"datacontenttype", "application/json"},
                      {"data", std::move(data)}};
}

std::vector<persistence::HistoryEntry> FullHistory(persistence::CaseRepository& repository, const std::string& case_id) {
  std::vector<persistence::HistoryEntry> history;
  std::int64_t after = 0;
  for (;;) {
    auto page = repository.History(case_id, after, persistence::kMaxPageSize);
    history.insert(history.end(), std::make_move_iterator(page.begin()), std::make_move_iterator(page.end()));
    if (page.size() < persistence::kMaxPageSize) break;
    after = history.back().sequence;
  }
  return history;
}

std::set<std::string> RecordedEventIds(persistence::CaseRepository& repository, const std::string& case_id) {
  std::set<std::string> recorded;
  for (const auto& entry : FullHistory(repository, case_id)) recorded.insert(entry.event_id);
  return recorded;
}

}  // namespace returnflow::test
