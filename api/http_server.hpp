#pragma once
/// The HTTP/1.1 server: Boost.Beast on Asio with C++20 coroutines. It owns sockets, limits, timeouts,
/// keep-alive and graceful shutdown; what a request means is the handler's business.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
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
  /// A connection or request refused or closed before routing: "max_connections",
  /// "max_connections_per_address", "evicted_idle", "first_request_timeout", or the problem type of a
  /// request refused while being read ("headers-too-large", "payload-too-large", "invalid-request").
  std::function<void(std::string_view reason)> connection_refused;
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
  /// Which pool a connection's slot comes from: the max_connections ones, or the health_reserve kept
  /// for health checks when every normal slot is busy.
  enum class Slot { kNormal, kHealthReserve };
  /// The accept loop's decision for a newcomer: a slot (perhaps taken from an evicted idle connection)
  /// or the reason it is refused.
  struct Admission {
    std::optional<Slot> slot{};
    std::shared_ptr<Session> evicted{};
    std::string_view refusal{};
  };
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> RunSession(std::shared_ptr<Session> session);
  boost::asio::awaitable<void> RefuseConnection(boost::asio::ip::tcp::socket socket, std::string detail);
  void SessionEnded(const std::shared_ptr<Session>& session);
  void DoStop();
  // The *Locked functions need sessions_mutex_ held.
  Admission AdmitLocked(const boost::asio::ip::address& address);
  std::shared_ptr<Session> ClaimIdleLocked(const std::function<bool(const Session&)>& eligible);
  void HoldSlotLocked(Slot slot, const boost::asio::ip::address& address);
  void ReleaseSlotLocked(Slot slot, const boost::asio::ip::address& address);

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
  /// Every connection with a session, evicted ones included until their coroutine has ended.
  std::unordered_set<std::shared_ptr<Session>> sessions_;
  /// Slots held, by pool and by peer address. An evicted session's slot passes to the newcomer at the
  /// moment of eviction, so these count the connections that are not being closed.
  int normal_slots_held_ = 0;
  int reserve_slots_held_ = 0;
  std::unordered_map<boost::asio::ip::address, int> slots_per_address_;
};

}  // namespace returnflow::api
