#include "api/http_server.hpp"

#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/problem.hpp"

namespace returnflow::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

/// One connection. Lives on its own strand; `busy` is only touched there.
struct HttpServer::Session {
  explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  bool busy = false;  ///< between the first byte of a request and the end of writing its response
};

namespace {

Response ProblemResponse(const Problem& problem, unsigned version, std::string_view request_id) {
  Response response{problem.Status(), version};
  response.set(http::field::content_type, kProblemContentType);
  response.set(http::field::cache_control, "no-store");
  if (!request_id.empty()) response.set("X-Request-Id", request_id);
  response.body() = boost::json::serialize(problem.ToJson({}));
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

std::string RandomPrefix() {
  std::random_device device;
  return fmt::format("{:08x}", device());
}

bool UsableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace

HttpServer::HttpServer(const config::ServerSettings& settings, RequestHandler handler, ServerObservers observers)
    : settings_(settings),
      handler_(std::move(handler)),
      observers_(std::move(observers)),
      context_(settings.io_threads),
      acceptor_(context_),
      signals_(context_),
      grace_timer_(context_),
      request_id_prefix_(RandomPrefix()) {}

HttpServer::~HttpServer() {
  if (!threads_.empty()) {
    Stop();
    Wait();
  }
}

void HttpServer::StopOnSignals() {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.async_wait([this](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    spdlog::info("event=shutdown_requested signal={}", signal_number);
    Stop();
  });
}

void HttpServer::Start() {
  auto address = net::ip::make_address(settings_.listen_address);
  tcp::endpoint endpoint{address, settings_.listen_port};
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
  net::co_spawn(context_, AcceptLoop(), net::detached);
  for (int index = 0; index < settings_.io_threads; ++index) {
    threads_.emplace_back([this] { context_.run(); });
  }
}

void HttpServer::Wait() {
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

void HttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  net::post(context_, [this] { DoStop(); });
}

void HttpServer::DoStop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  signals_.cancel(ignored);
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lock(sessions_mutex_);
    sessions.assign(sessions_.begin(), sessions_.end());
  }
  // Idle keep-alive connections are closed now; busy ones finish their request and then close.
  for (auto& session : sessions) {
    net::post(session->stream.get_executor(), [session] {
      if (!session->busy) session->stream.cancel();
    });
  }
  if (sessions.empty()) return;
  grace_timer_.expires_after(settings_.shutdown_grace);
  grace_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    std::lock_guard lock(sessions_mutex_);
    spdlog::warn("event=shutdown_grace_expired open_connections={}", sessions_.size());
    for (auto& session : sessions_) {
      net::post(session->stream.get_executor(), [session] { session->stream.close(); });
    }
  });
}

void HttpServer::SessionEnded(const std::shared_ptr<Session>& session) {
  std::size_t remaining = 0;
  {
    std::lock_guard lock(sessions_mutex_);
    sessions_.erase(session);
    remaining = sessions_.size();
  }
  int open = --open_connections_;
  if (observers_.connections_changed) observers_.connections_changed(open);
  if (stopping_ && remaining == 0) {
    net::post(context_, [this] { grace_timer_.cancel(); });
  }
}

net::awaitable<void> HttpServer::AcceptLoop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(net::make_strand(context_), kTuple);
    if (ec) {
      if (ec == net::error::operation_aborted || stopping_) break;
      // Out of file descriptors and the like: log and keep serving the connections we have.
      spdlog::warn("event=accept_failed error=\"{}\"", ec.message());
      continue;
    }
    if (stopping_) break;
    if (open_connections_.load() >= settings_.max_connections) {
      if (observers_.connection_refused) observers_.connection_refused("max_connections");
      auto executor = socket.get_executor();
      net::co_spawn(executor, RefuseConnection(std::move(socket)), net::detached);
      continue;
    }
    int open = ++open_connections_;
    if (observers_.connections_changed) observers_.connections_changed(open);
    auto session = std::make_shared<Session>(std::move(socket));
    {
      std::lock_guard lock(sessions_mutex_);
      sessions_.insert(session);
    }
    net::co_spawn(session->stream.get_executor(), RunSession(session), [this, session](std::exception_ptr error) {
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& exception) {
          spdlog::error("event=session_failed error=\"{}\"", exception.what());
        }
      }
      SessionEnded(session);
    });
  }
}

net::awaitable<void> HttpServer::RefuseConnection(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(2));
  auto response = ProblemResponse(
      Problem(ProblemKind::kTooManyConnections,
              fmt::format("the server holds its maximum of {} connections; retry later", settings_.max_connections)),
      11, {});
  response.set(http::field::retry_after, "1");
  co_await http::async_write(stream, response, kTuple);
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

net::awaitable<void> HttpServer::RunSession(std::shared_ptr<Session> session) {
  auto& stream = session->stream;
  beast::flat_buffer buffer;
  RequestInfo info;
  {
    boost::system::error_code ec;
    auto remote = stream.socket().remote_endpoint(ec);
    if (!ec) info.remote = fmt::format("{}:{}", remote.address().to_string(), remote.port());
  }
  for (;;) {
    session->busy = false;
    if (stopping_) break;
    if (buffer.size() == 0) {
      // Waiting for the next request on a keep-alive connection: the idle timeout applies.
      stream.expires_after(settings_.idle_timeout);
      auto [ec, bytes] = co_await stream.async_read_some(buffer.prepare(8192), kTuple);
      if (ec) break;
      buffer.commit(bytes);
    }
    session->busy = true;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(settings_.header_limit));
    parser.body_limit(settings_.body_limit);
    // From the first byte to the last the read timeout applies: a slow client cannot hold the connection.
    stream.expires_after(settings_.read_timeout);
    auto [read_ec, read_bytes] = co_await http::async_read(stream, buffer, parser, kTuple);
    info.request_id = fmt::format("{}-{}", request_id_prefix_, ++request_counter_);
    if (read_ec) {
      std::optional<Problem> problem;
      if (read_ec == http::error::body_limit) {
        problem = Problem(ProblemKind::kPayloadTooLarge,
                          fmt::format("the body limit is {} bytes", settings_.body_limit));
      } else if (read_ec == http::error::header_limit) {
        problem = Problem(ProblemKind::kHeadersTooLarge,
                          fmt::format("the header limit is {} bytes", settings_.header_limit));
      } else if (read_ec == beast::error::timeout) {
        spdlog::info("request_id={} event=read_timeout remote={}", info.request_id, info.remote);
      } else if (read_ec != http::error::end_of_stream && read_ec != net::error::eof &&
                 read_ec != net::error::operation_aborted && read_ec != net::error::connection_reset) {
        problem = Problem(ProblemKind::kInvalidRequest, "the request is not well-formed HTTP/1.1");
      }
      if (problem) {
        if (observers_.connection_refused) observers_.connection_refused(Info(problem->kind).slug);
        spdlog::info("request_id={} status={} problem={} remote={}", info.request_id,
                     static_cast<int>(problem->Status()), Info(problem->kind).slug, info.remote);
        auto response = ProblemResponse(*problem, 11, info.request_id);
        stream.expires_after(settings_.read_timeout);
        co_await http::async_write(stream, response, kTuple);
        // Let the client read the answer before the socket closes: stop sending, then discard what
        // it is still uploading for a short, bounded while.
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.expires_after(std::chrono::milliseconds(500));
        std::size_t drained = 0;
        while (drained < (8u << 20)) {
          buffer.clear();
          auto [drain_ec, drain_bytes] = co_await stream.async_read_some(buffer.prepare(65536), kTuple);
          if (drain_ec) break;
          drained += drain_bytes;
        }
      }
      break;
    }
    Request request = parser.release();
    if (auto id = request["X-Request-Id"]; UsableRequestId(id)) info.request_id = std::string(id);
    Response response;
    try {
      response = co_await handler_(request, info);
    } catch (const std::exception& error) {
      spdlog::error("request_id={} event=handler_failed error=\"{}\"", info.request_id, error.what());
      response = ProblemResponse(Problem(ProblemKind::kInternal, ""), request.version(), info.request_id);
    }
    const bool keep_alive = request.keep_alive() && response.keep_alive() && !stopping_;
    response.version(request.version());
    response.keep_alive(keep_alive);
    response.set("X-Request-Id", info.request_id);
    response.prepare_payload();
    stream.expires_after(settings_.read_timeout);
    auto [write_ec, write_bytes] = co_await http::async_write(stream, response, kTuple);
    if (write_ec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace returnflow::api
