#pragma once
/// Test support: an engine started in-process on an ephemeral loopback port, a real HTTP/1.1 client
/// (Beast, keep-alive), and helpers that give each test its own tokens and offices.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "cli/service.hpp"
#include "config/settings.hpp"
#include "persistence/repository.hpp"

namespace returnflow::test {

/// One HTTP response as the client saw it.
struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
  boost::json::value Json() const;
  std::string Header(const std::string& name) const;
  /// The `type` of a problem document, without the URN prefix ("not-found"), or "".
  std::string ProblemType() const;
};

/// A blocking HTTP/1.1 client on one keep-alive connection (reconnects when the server closed it).
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, std::string token = {});
  ~HttpClient();

  HttpResult Request(boost::beast::http::verb method, const std::string& target, const std::string& body = {},
                     const std::string& content_type = {},
                     const std::vector<std::pair<std::string, std::string>>& headers = {});
  HttpResult Get(const std::string& target) { return Request(boost::beast::http::verb::get, target); }
  HttpResult PostJson(const std::string& target, const boost::json::value& body) {
    return Request(boost::beast::http::verb::post, target, boost::json::serialize(body), "application/json");
  }
  HttpResult PostEvent(const std::string& case_id, const boost::json::value& event,
                       const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return Request(boost::beast::http::verb::post, "/cases/" + case_id + "/events", boost::json::serialize(event),
                   "application/cloudevents+json", headers);
  }
  void SetToken(std::string token) { token_ = std::move(token); }
  /// Closes the connection (the next request opens a new one).
  void Close();

 private:
  void Connect();
  std::uint16_t port_;
  std::string token_;
  boost::asio::io_context context_;
  std::unique_ptr<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
};

enum class Backend { kSqlite, kPostgresql };
const char* Name(Backend backend);

/// The tests' shared PostgreSQL database (RETURNFLOW_TEST_PG_URL); throws when it is not set.
std::string SharedPostgresUrl();

/// An empty PostgreSQL database of its own on the tests' cluster, dropped on destruction. An engine that
/// moves its clock gets one: on the shared database a testing clock days ahead would fire every other
/// test's timers, and rows leased on a real clock would stay leased for engines whose clocks stand still.
class PostgresDatabase {
 public:
  PostgresDatabase();
  ~PostgresDatabase();
  PostgresDatabase(const PostgresDatabase&) = delete;
  PostgresDatabase& operator=(const PostgresDatabase&) = delete;
  const std::string& Url() const { return url_; }

 private:
  std::string cluster_url_, name_, url_;
};

/// A running engine on a fresh database (SQLite temp file, or the PostgreSQL test server), listening on
/// 127.0.0.1 on a free port. Stopped gracefully on destruction. On PostgreSQL, an engine with the testing
/// clock runs on a database of its own (PostgresDatabase) unless `adjust` names one.
class TestServer {
 public:
  explicit TestServer(Backend backend, std::function<void(config::Settings&)> adjust = {});
  ~TestServer();
  std::uint16_t Port() const { return service_->Port(); }
  cli::Service& Service() { return *service_; }
  /// Stops gracefully and waits; idempotent.
  void Stop();

  /// Creates a token directly in the database and returns its secret. Names get a per-test suffix; a
  /// scope without `sources` gets the source CloudEvent() uses by default ("test/system").
  std::string Token(const std::string& role, const boost::json::object& scope, const std::string& name = {});
  HttpClient Client(const std::string& token) { return HttpClient(Port(), token); }
  /// The database URL the engine runs on (for a second engine on the same one).
  const std::string& DatabaseUrl() const { return database_url_; }

 private:
  std::string sqlite_path_, database_url_;
  std::unique_ptr<PostgresDatabase> own_database_;  // outlives the service
  std::unique_ptr<cli::Service> service_;
  bool stopped_ = false;
};

/// The checkpoint signing key every PostgreSQL TestServer uses (one per test process, removed at exit).
std::string TestSigningKeyPath();
/// The master key file of this test process (PostgreSQL servers and child processes share it; SQLite
/// test servers make their own beside the database).
std::string TestMasterKeyPath();

/// Engine logs at warning level, or at info with RETURNFLOW_TEST_LOG set; decided once per process.
void ConfigureTestLogging();

/// A name unique to this process and call, for offices, organisations and token names.
std::string Unique(const std::string& prefix);

/// A CloudEvent with a fresh id.
boost::json::object CloudEvent(const std::string& type, const std::string& subject, boost::json::object data = {},
                               const std::string& time = "2026-11-20T10:00:00Z", const std::string& source = "test/system");

/// The backends every HTTP test runs on; PostgreSQL needs RETURNFLOW_TEST_PG_URL (the test fails
/// clearly when it is unset).
std::vector<Backend> Backends();

/// A case's whole history, oldest first, read page by page.
std::vector<persistence::HistoryEntry> FullHistory(persistence::CaseRepository& repository, const std::string& case_id);

/// The event ids recorded in a case's history.
std::set<std::string> RecordedEventIds(persistence::CaseRepository& repository, const std::string& case_id);

}  // namespace returnflow::test
