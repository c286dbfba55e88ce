#pragma once
/// The HTTP/1.1 server: Boost.Beast on Asio with C++20 coroutines. It owns sockets, limits, timeouts,
/// keep-alive and graceful shutdown; what a request means is the handler's business.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "config/settings.hpp"

namespace returnflow::api {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

/// Per-request facts the server knows and the handler may use.
struct RequestInfo {
  std::string request_id;
  std::string remote;  ///< peer address, for logs
};

/// Produces the response to one request. Must not throw (the server answers 500 if it does).
using RequestHandler = std::function<boost::asio::awaitable<Response>(Request&, RequestInfo&)>;

/// Observers the server reports to (metrics); all optional.
struct ServerObservers {
  std::function<void(int open_connections)> connections_changed;
  std::function<void(std::string_view reason)> connection_refused;  ///< "max_connections", "header_limit", ...
};

class HttpServer {
 public:
  HttpServer(const config::ServerSettings& settings, RequestHandler handler, ServerObservers observers = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and listens (port 0 picks a free port), then runs the I/O threads. Throws on bind failure.
  void Start();
  /// The bound port (after Start).
  std::uint16_t Port() const { return port_; }
  /// Stops gracefully on SIGINT/SIGTERM (call before Start).
  void StopOnSignals();
  /// Graceful stop, callable from any thread: stop accepting, close idle keep-alive connections, let
  /// requests in flight finish and be answered (with Connection: close), force-close whatever is
  /// still open after the shutdown grace period.
  void Stop();
  /// Blocks until every I/O thread has returned (after Stop).
  void Wait();
  /// Runs `work` on the I/O context (for handlers that need the executor, e.g. the group committer).
  boost::asio::io_context& Context() { return context_; }
  int OpenConnections() const { return open_connections_.load(); }

 private:
  struct Session;
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> RunSession(std::shared_ptr<Session> session);
  boost::asio::awaitable<void> RefuseConnection(boost::asio::ip::tcp::socket socket);
  void SessionEnded(const std::shared_ptr<Session>& session);
  void DoStop();

  config::ServerSettings settings_;
  RequestHandler handler_;
  ServerObservers observers_;
  boost::asio::io_context context_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer grace_timer_;
  std::uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_connections_{0};
  std::atomic<std::uint64_t> request_counter_{0};
  std::string request_id_prefix_;
  std::mutex sessions_mutex_;
  std::unordered_set<std::shared_ptr<Session>> sessions_;
};

}  // namespace returnflow::api
