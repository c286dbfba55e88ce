// Connection exhaustion over real sockets (SQLite only: this is the transport, not the database):
// silent sockets are evicted rather than obeyed, a connection that says nothing is closed after the
// first-request deadline, health checks get through when every slot is busy, and an address at its
// cap makes room from its own connections.
//
// Nothing here sleeps to let time pass: timeouts are made small or large in the settings, and every
// wait is a socket operation under a deadline that ends as soon as the awaited event happens.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include "config/settings.hpp"
#include "tests/api/support.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using namespace returnflow;
using namespace returnflow::test;

namespace {

constexpr std::string_view kHealthCheck = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

/// A client socket driven byte by byte, which HttpClient (whole requests only) cannot do. Each wait is
/// an asynchronous operation under a deadline, run to completion on the test's context, because
/// Asio's blocking reads ignore SO_RCVTIMEO. A deadline that expires closes the socket (Beast's
/// tcp_stream), so a wait that times out is the end of the connection.
class RawConnection {
 public:
  RawConnection(net::io_context& context, std::uint16_t port, const std::string& local_address = "127.0.0.1")
      : context_(context), stream_(context) {
    auto& socket = stream_.socket();
    socket.open(tcp::v4());
    // All of 127.0.0.0/8 is loopback on Linux: binding to 127.0.0.2 makes a second client address.
    socket.bind(tcp::endpoint(net::ip::make_address(local_address), 0));
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    socket.set_option(tcp::no_delay(true));
  }

  /// One write: on loopback the bytes arrive, and are read by the server, together.
  void Send(std::string_view bytes) {
    boost::system::error_code error;
    stream_.expires_after(10s);
    net::async_write(stream_, net::buffer(bytes), [&](boost::system::error_code ec, std::size_t) { error = ec; });
    Run();
    if (error) throw boost::system::system_error(error, "sending to the test server");
  }

  /// The next response, or nullopt when the connection closed first or nothing came within `within`.
  std::optional<http::response<http::string_body>> ReadResponse(Clock::duration within = 10s) {
    http::response<http::string_body> response;
    boost::system::error_code error;
    stream_.expires_after(within);
    http::async_read(stream_, buffer_, response, [&](boost::system::error_code ec, std::size_t) { error = ec; });
    Run();
    if (error) return std::nullopt;
    return response;
  }

  /// True when the server closes the connection (end of stream or reset) within `within`; any bytes
  /// it sends first are kept in Received().
  bool ClosedWithin(Clock::duration within) {
    stream_.expires_after(within);
    bool closed = false;
    std::function<void()> read_more = [&] {
      stream_.async_read_some(buffer_.prepare(4096), [&](boost::system::error_code ec, std::size_t bytes) {
        if (!ec) {
          buffer_.commit(bytes);
          read_more();
          return;
        }
        closed = ec == net::error::eof || ec == net::error::connection_reset;
      });
    };
    read_more();
    Run();
    return closed;
  }
  std::string Received() const { return beast::buffers_to_string(buffer_.data()); }

 private:
  void Run() {
    context_.restart();
    context_.run();
  }
  net::io_context& context_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

/// A connection the server is in the middle of reading: a health check answered proves the server
/// has read the bytes sent with it, and those include a POST whose body never comes, which the server
/// starts on at once without the connection passing through idle (read_timeout must be large).
std::unique_ptr<RawConnection> BusyConnection(net::io_context& context, std::uint16_t port,
                                              const std::string& local_address = "127.0.0.1") {
  auto connection = std::make_unique<RawConnection>(context, port, local_address);
  connection->Send(std::string(kHealthCheck) +
                   "POST /cases HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                   "Content-Length: 1000\r\n\r\n{");
  auto answer = connection->ReadResponse();
  REQUIRE(answer);
  REQUIRE(answer->result_int() == 200);
  return connection;
}

/// The value of returnflow_http_refused_total for `reason` in a /metrics exposition (0 when absent).
double RefusedTotal(const std::string& exposition, const std::string& reason) {
  const std::string prefix = "returnflow_http_refused_total{reason=\"" + reason + "\"} ";
  auto at = exposition.find(prefix);
  if (at == std::string::npos) return 0;
  return std::stod(exposition.substr(at + prefix.size()));
}

}  // namespace

TEST_CASE("connection limit settings have defaults, TOML keys and environment overrides", "[config]") {
  auto no_environment = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto defaults = config::LoadSettings(std::nullopt, no_environment);
  CHECK(defaults.server.first_request_timeout == 5000ms);
  CHECK(defaults.server.max_connections_per_address == 256);
  CHECK(defaults.server.health_reserve == 8);

  auto from_file = config::LoadSettingsFromString(
      "[server]\nfirst_request_timeout_ms = 250\nmax_connections_per_address = 16\nhealth_reserve = 0\n", "test.toml",
      no_environment);
  CHECK(from_file.server.first_request_timeout == 250ms);
  CHECK(from_file.server.max_connections_per_address == 16);
  CHECK(from_file.server.health_reserve == 0);

  auto environment = [](const std::string& name) -> std::optional<std::string> {
    if (name == "RETURNFLOW_FIRST_REQUEST_TIMEOUT_MS") return "1500";
    if (name == "RETURNFLOW_MAX_CONNECTIONS_PER_ADDRESS") return "32";
    if (name == "RETURNFLOW_HEALTH_RESERVE") return "2";
    return std::nullopt;
  };
  auto overridden = config::LoadSettingsFromString("[server]\nfirst_request_timeout_ms = 250\n", "test.toml", environment);
  CHECK(overridden.server.first_request_timeout == 1500ms);
  CHECK(overridden.server.max_connections_per_address == 32);
  CHECK(overridden.server.health_reserve == 2);

  CHECK_THROWS_WITH(config::LoadSettingsFromString("[server]\nmax_connections_per_address = 0\n", "bad.toml", no_environment),
                    Catch::Contains("server.max_connections_per_address"));
  CHECK_THROWS_WITH(config::LoadSettingsFromString("[server]\nhealth_reserve = -1\n", "bad.toml", no_environment),
                    Catch::Contains("server.health_reserve"));
  std::set<std::string> documented;
  for (const auto& [name, meaning] : config::EnvironmentVariables()) documented.insert(name);
  for (const char* name :
       {"RETURNFLOW_FIRST_REQUEST_TIMEOUT_MS", "RETURNFLOW_MAX_CONNECTIONS_PER_ADDRESS", "RETURNFLOW_HEALTH_RESERVE"}) {
    CHECK(documented.contains(name));
  }
}

TEST_CASE("idle sockets from one client cannot keep others out", "[api][http][connections]") {
  // The first-request deadline is far beyond the test's bound, so only eviction can make room.
  TestServer server(Backend::kSqlite, [](config::Settings& settings) {
    settings.server.max_connections = 64;
    settings.server.first_request_timeout = 60s;
    settings.server.idle_timeout = 60s;
  });
  const auto admin = server.Token("admin", {});
  net::io_context context;
  std::vector<std::unique_ptr<RawConnection>> silent;
  for (int index = 0; index < 100; ++index) silent.push_back(std::make_unique<RawConnection>(context, server.Port()));

  const auto started = Clock::now();
  HttpClient anonymous(server.Port());
  CHECK(anonymous.Get("/healthz").status == 200);
  CHECK(HttpClient(server.Port()).Get("/cases").status == 401);
  auto metrics = HttpClient(server.Port(), admin).Get("/metrics");
  CHECK(metrics.status == 200);
  CHECK(Clock::now() - started < 10s);
  // 100 silent sockets for 64 slots: at least 36 were evicted, and nobody was refused.
  CHECK(RefusedTotal(metrics.body, "evicted_idle") >= 36);
  CHECK(RefusedTotal(metrics.body, "max_connections") == 0);
  // Oldest first: the first silent socket was the first to go.
  CHECK(silent.front()->ClosedWithin(10s));
  CHECK(silent.front()->Received().empty());
}

TEST_CASE("a connection that sends nothing is closed after the first-request deadline", "[api][http][connections]") {
  TestServer server(Backend::kSqlite, [](config::Settings& settings) {
    settings.server.first_request_timeout = 200ms;
    settings.server.idle_timeout = 60s;
  });
  const auto admin = server.Token("admin", {});
  HttpClient keep_alive(server.Port());
  REQUIRE(keep_alive.Get("/healthz").status == 200);

  net::io_context context;
  const auto opened = Clock::now();
  RawConnection silent(context, server.Port());
  CHECK(silent.ClosedWithin(10s));
  CHECK(Clock::now() - opened >= 200ms);
  CHECK(silent.Received().empty());  // closed without an answer: there was no request to answer

  // After its first request a connection waits under the idle timeout: the keep-alive connection, idle
  // since before the silent one opened, is still open (HttpClient throws if the server closed it).
  CHECK(keep_alive.Get("/healthz").status == 200);
  // The stream's timer closes the socket before the session's read completes and counts it: the client
  // can see the close first, so the count is read until it shows (at most a few hundred reads).
  double refused = 0;
  for (int read = 0; read < 400 && refused < 1; ++read) {
    auto metrics = HttpClient(server.Port(), admin).Get("/metrics");
    REQUIRE(metrics.status == 200);
    refused = RefusedTotal(metrics.body, "first_request_timeout");
  }
  CHECK(refused >= 1);
}

TEST_CASE("health checks have reserved slots when every slot is busy", "[api][http][connections]") {
  TestServer server(Backend::kSqlite, [](config::Settings& settings) {
    settings.server.max_connections = 4;
    // More than the two probes below: a reserved connection the client has seen closed may not have
    // given its slot back yet.
    settings.server.health_reserve = 4;
    settings.server.read_timeout = 60s;
    settings.server.first_request_timeout = 60s;
  });
  net::io_context context;
  std::vector<std::unique_ptr<RawConnection>> busy;
  for (int index = 0; index < 4; ++index) busy.push_back(BusyConnection(context, server.Port()));

  auto health = HttpClient(server.Port()).Get("/healthz");
  CHECK(health.status == 200);
  CHECK(health.Header("connection") == "close");  // a reserved slot is given back after one answer
  CHECK(HttpClient(server.Port()).Get("/readyz").status == 200);

  auto refused = HttpClient(server.Port()).Get("/cases");
  CHECK(refused.status == 503);
  CHECK(refused.ProblemType() == "too-many-connections");
  CHECK(!refused.Header("retry-after").empty());
  CHECK(!refused.Header("x-request-id").empty());  // read and answered on a reserved slot, not refused at accept

  // Busy connections were never evicted: each finishes its request and is answered.
  for (auto& connection : busy) {
    connection->Send(std::string(999, ' '));
    auto answer = connection->ReadResponse();
    REQUIRE(answer);
    CHECK(answer->result_int() == 401);
  }
  // Now idle, they make room for any request again (bounded: a connection may still be between writing
  // its answer and going idle).
  int status = 0;
  for (const auto deadline = Clock::now() + 10s; Clock::now() < deadline;) {
    status = HttpClient(server.Port()).Get("/cases").status;
    if (status != 503) break;
  }
  CHECK(status == 401);
}

TEST_CASE("one address at its cap evicts its own oldest idle connection", "[api][http][connections]") {
  TestServer server(Backend::kSqlite, [](config::Settings& settings) {
    settings.server.max_connections = 64;
    settings.server.max_connections_per_address = 3;
    settings.server.first_request_timeout = 60s;
    settings.server.idle_timeout = 60s;
  });
  net::io_context context;
  // Older than all the others, but another address's: not a candidate.
  RawConnection other_address(context, server.Port(), "127.0.0.2");
  RawConnection oldest(context, server.Port());
  RawConnection second(context, server.Port());
  RawConnection third(context, server.Port());
  RawConnection newcomer(context, server.Port());

  CHECK(oldest.ClosedWithin(10s));
  CHECK(oldest.Received().empty());
  for (auto* survivor : {&other_address, &second, &third, &newcomer}) {
    survivor->Send(kHealthCheck);
    auto answer = survivor->ReadResponse();
    REQUIRE(answer);
    CHECK(answer->result_int() == 200);
  }
}

TEST_CASE("an address at its cap with every connection busy is refused, and other addresses are not",
          "[api][http][connections]") {
  TestServer server(Backend::kSqlite, [](config::Settings& settings) {
    settings.server.max_connections = 64;
    settings.server.max_connections_per_address = 2;
    settings.server.read_timeout = 60s;
    settings.server.first_request_timeout = 60s;
  });
  net::io_context context;
  auto first = BusyConnection(context, server.Port());
  auto second = BusyConnection(context, server.Port());

  RawConnection refused(context, server.Port());
  auto answer = refused.ReadResponse();
  REQUIRE(answer);
  CHECK(answer->result_int() == 503);
  CHECK(answer->at(http::field::content_type) == "application/problem+json");
  CHECK(answer->body().find("too-many-connections") != std::string::npos);

  RawConnection elsewhere(context, server.Port(), "127.0.0.2");
  elsewhere.Send(kHealthCheck);
  auto health = elsewhere.ReadResponse();
  REQUIRE(health);
  CHECK(health->result_int() == 200);
}
