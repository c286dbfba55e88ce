#include "api/http_server.hpp"

#include <chrono>
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

namespace {
std::int64_t SteadyTicks() { return std::chrono::steady_clock::now().time_since_epoch().count(); }
}  // namespace

/// One connection. Its I/O lives on its own strand. Its phase is atomic because the accept loop reads
/// it from another thread to choose an idle connection to evict, and claims that connection with a
/// compare-and-swap to kEvicted; the session moves itself from idle to busy with a compare-and-swap too,
/// so of a request arriving and an eviction exactly one wins, and a busy connection is never evicted.
struct HttpServer::Session {
  enum class Phase : std::uint8_t {
    kAwaitingFirstRequest,  ///< accepted, not a byte received yet
    kIdle,                  ///< keep-alive, between two requests
    kBusy,                  ///< between the first byte of a request and the end of writing its response
    kEvicted,               ///< claimed by the accept loop, its slot given to a newcomer; closing
  };
  Session(tcp::socket socket, net::ip::address address, Slot held_slot)
      : stream(std::move(socket)), remote_address(std::move(address)), slot(held_slot) {}

  /// Back to idle after a response (only the session leaves kBusy, and nobody claims a busy session,
  /// so a plain store cannot overwrite an eviction). `since` first: the accept loop reads the phase,
  /// then `since`, to find the longest idle.
  void BecomeIdle() {
    since.store(SteadyTicks());
    phase.store(Phase::kIdle);
  }
  /// False when the accept loop evicted this connection first: the bytes that just arrived are dropped
  /// with it.
  bool TryBecomeBusy() {
    auto current = phase.load();
    while (current != Phase::kBusy) {
      if (current == Phase::kEvicted) return false;
      if (phase.compare_exchange_weak(current, Phase::kBusy)) return true;
    }
    return true;
  }

  beast::tcp_stream stream;
  const net::ip::address remote_address;
  const Slot slot;
  std::atomic<Phase> phase{Phase::kAwaitingFirstRequest};
  std::atomic<std::int64_t> since{SteadyTicks()};  ///< steady-clock ticks when the current phase began
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

/// The only requests a connection from the health reserve may make.
bool IsHealthCheck(const Request& request) {
  if (request.method() != http::verb::get) return false;
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  return path == "/healthz" || path == "/readyz";
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
      if (session->phase.load() != Session::Phase::kBusy) session->stream.cancel();
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
    // Eviction happens under this mutex, so the phase read here is final: an evicted session's slot
    // already belongs to the newcomer that evicted it.
    if (session->phase.load() != Session::Phase::kEvicted) ReleaseSlotLocked(session->slot, session->remote_address);
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
    boost::system::error_code endpoint_ec;
    const auto remote = socket.remote_endpoint(endpoint_ec);
    if (endpoint_ec) continue;  // the peer is already gone; the socket closes here
    Admission admission;
    std::shared_ptr<Session> session;
    {
      std::lock_guard lock(sessions_mutex_);
      admission = AdmitLocked(remote.address());
      if (admission.slot) {
        session = std::make_shared<Session>(std::move(socket), remote.address(), *admission.slot);
        sessions_.insert(session);
      }
    }
    if (admission.evicted) {
      if (observers_.connection_refused) observers_.connection_refused("evicted_idle");
      // Debug only, and without the address: under a flood this is one line per connection.
      spdlog::debug("event=connection_evicted idle_ms={}",
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::duration(SteadyTicks() - admission.evicted->since.load()))
                        .count());
      // On the victim's strand, like DoStop: its pending read ends with operation_aborted. If the
      // session has not reached that read yet, it sees kEvicted before starting it.
      net::post(admission.evicted->stream.get_executor(), [victim = admission.evicted] { victim->stream.cancel(); });
    }
    if (!session) {
      if (observers_.connection_refused) observers_.connection_refused(admission.refusal);
      std::string detail =
          admission.refusal == "max_connections_per_address"
              ? fmt::format("this address holds its maximum of {} connections, all busy; retry later",
                            settings_.max_connections_per_address)
              : fmt::format("the server holds its maximum of {} connections, all busy; retry later",
                            settings_.max_connections);
      auto executor = socket.get_executor();
      net::co_spawn(executor, RefuseConnection(std::move(socket), std::move(detail)), net::detached);
      continue;
    }
    int open = ++open_connections_;
    if (observers_.connections_changed) observers_.connections_changed(open);
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

HttpServer::Admission HttpServer::AdmitLocked(const net::ip::address& address) {
  auto held_by_address = slots_per_address_.find(address);
  if (held_by_address != slots_per_address_.end() &&
      held_by_address->second >= settings_.max_connections_per_address) {
    // The newcomer takes the evicted connection's place in the address's count, and its slot; a
    // reserved one is traded for a normal one if there is a free normal slot.
    auto victim = ClaimIdleLocked([&](const Session& session) { return session.remote_address == address; });
    if (!victim) return {.refusal = "max_connections_per_address"};
    ReleaseSlotLocked(victim->slot, address);
    Slot slot = victim->slot;
    if (slot == Slot::kHealthReserve && normal_slots_held_ < settings_.max_connections) slot = Slot::kNormal;
    HoldSlotLocked(slot, address);
    return {.slot = slot, .evicted = std::move(victim)};
  }
  auto admit_in = [&](Slot slot) -> std::optional<Admission> {
    const int held = slot == Slot::kNormal ? normal_slots_held_ : reserve_slots_held_;
    const int limit = slot == Slot::kNormal ? settings_.max_connections : settings_.health_reserve;
    if (held < limit) {
      HoldSlotLocked(slot, address);
      return Admission{.slot = slot};
    }
    auto victim = ClaimIdleLocked([&](const Session& session) { return session.slot == slot; });
    if (!victim) return std::nullopt;
    ReleaseSlotLocked(slot, victim->remote_address);
    HoldSlotLocked(slot, address);
    return Admission{.slot = slot, .evicted = std::move(victim)};
  };
  // The reserve is used only when every normal connection is busy: while any is idle, evicting it
  // serves the newcomer whatever it asks for.
  if (auto admission = admit_in(Slot::kNormal)) return std::move(*admission);
  if (auto admission = admit_in(Slot::kHealthReserve)) return std::move(*admission);
  return {.refusal = "max_connections"};
}

std::shared_ptr<HttpServer::Session> HttpServer::ClaimIdleLocked(const std::function<bool(const Session&)>& eligible) {
  using Phase = Session::Phase;
  // A linear scan, only when the limit is reached: keeping sessions in idle order instead would put a
  // mutex on every request's idle/busy transition. A connection that has not sent its first request
  // goes first (oldest first: the cheapest way to hold a slot is to connect and say nothing), then the
  // one idle longest between keep-alive requests.
  for (;;) {
    std::shared_ptr<Session> best;
    Phase best_phase = Phase::kBusy;
    std::int64_t best_since = 0;
    for (const auto& session : sessions_) {
      const Phase phase = session->phase.load();
      if (phase != Phase::kAwaitingFirstRequest && phase != Phase::kIdle) continue;
      if (!eligible(*session)) continue;
      const std::int64_t since = session->since.load();
      const bool better = !best || (phase == Phase::kAwaitingFirstRequest && best_phase == Phase::kIdle) ||
                          (phase == best_phase && since < best_since);
      if (better) {
        best = session;
        best_phase = phase;
        best_since = since;
      }
    }
    if (!best) return nullptr;
    // Fails only if the session became busy since it was read (a request arrived): look again.
    if (best->phase.compare_exchange_strong(best_phase, Phase::kEvicted)) return best;
  }
}

void HttpServer::HoldSlotLocked(Slot slot, const net::ip::address& address) {
  ++(slot == Slot::kNormal ? normal_slots_held_ : reserve_slots_held_);
  ++slots_per_address_[address];
}

void HttpServer::ReleaseSlotLocked(Slot slot, const net::ip::address& address) {
  --(slot == Slot::kNormal ? normal_slots_held_ : reserve_slots_held_);
  auto held = slots_per_address_.find(address);
  if (held != slots_per_address_.end() && --held->second <= 0) slots_per_address_.erase(held);
}

net::awaitable<void> HttpServer::RefuseConnection(tcp::socket socket, std::string detail) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(2));
  auto response = ProblemResponse(Problem(ProblemKind::kTooManyConnections, std::move(detail)), 11, {});
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
  bool first_request = true;
  for (;;) {
    if (stopping_) break;
    if (buffer.size() == 0) {
      if (!first_request) session->BecomeIdle();
      // The accept loop may have evicted this session before the strand got here, when there was no
      // read yet for its cancel to end.
      if (session->phase.load() == Session::Phase::kEvicted) break;
      // A new connection gets a short deadline for its first request, so that sockets which never
      // send anything cannot hold slots; between keep-alive requests the idle timeout applies.
      stream.expires_after(first_request ? settings_.first_request_timeout : settings_.idle_timeout);
      auto [ec, bytes] = co_await stream.async_read_some(buffer.prepare(8192), kTuple);
      if (ec) {
        if (ec == beast::error::timeout && first_request) {
          if (observers_.connection_refused) observers_.connection_refused("first_request_timeout");
          spdlog::debug("event=first_request_timeout");
        }
        break;
      }
      buffer.commit(bytes);
    }
    // A pipelined request already in the buffer keeps the session busy without passing through idle.
    if (!session->TryBecomeBusy()) break;
    first_request = false;
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
    const bool reserved = session->slot == Slot::kHealthReserve;
    Response response;
    if (reserved && !IsHealthCheck(request)) {
      // Admitted only because every normal connection was busy: this is the 503 it would have had at
      // accept, had the server been able to tell what it would ask for.
      if (observers_.connection_refused) observers_.connection_refused("max_connections");
      response = ProblemResponse(
          Problem(ProblemKind::kTooManyConnections,
                  fmt::format("the server holds its maximum of {} connections, all busy, and serves only "
                              "GET /healthz and GET /readyz beyond them; retry later",
                              settings_.max_connections)),
          request.version(), info.request_id);
      response.set(http::field::retry_after, "1");
    } else {
      try {
        response = co_await handler_(request, info);
      } catch (const std::exception& error) {
        spdlog::error("request_id={} event=handler_failed error=\"{}\"", info.request_id, error.what());
        response = ProblemResponse(Problem(ProblemKind::kInternal, ""), request.version(), info.request_id);
      }
    }
    // A reserved slot is closed after one answer, so the few there are stay free for the next probe.
    const bool keep_alive = !reserved && request.keep_alive() && response.keep_alive() && !stopping_;
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
