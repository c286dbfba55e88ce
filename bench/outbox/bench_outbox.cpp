// bench_outbox: partners hearing from the engine, measured end to end with the real server in-process,
// real sockets and real HTTP receivers on loopback.
//
//   1. peak: clients post events as fast as they are answered for --seconds; the event rate, and the outbox
//      depth sampled once a second (flat: delivery keeps up);
//   2. half: the same at half the peak rate; commit-to-receipt latency (the event's 200 to its webhook's
//      arrival) p50 and p99;
//   3. one dead endpoint among 16 (connection refused): the other 15's p99 at half load against step 2's.
//
// Prints figures; not a test. Bounded: every phase ends after --seconds, and the drain after it waits at
// most 5 s.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include "cli/service.hpp"
#include "persistence/personal_data_crypto.hpp"
#include "engine/engine.hpp"
#include "persistence/outbox.hpp"
#include "persistence/repository.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using net::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace returnflow;

namespace {

/// Commit acknowledgements and webhook receipts, keyed by (case id, sequence).
struct Ledger {
  std::mutex mutex;
  std::map<std::string, Clock::time_point> acked, received;
  std::map<std::string, int> endpoint_of;  // key -> endpoint index
  std::vector<double> Latencies(const std::function<bool(int)>& endpoint_filter) {
    std::lock_guard lock(mutex);
    std::vector<double> out;
    for (const auto& [key, at] : received) {
      auto ack = acked.find(key);
      if (ack == acked.end() || !endpoint_filter(endpoint_of[key])) continue;
      out.push_back(std::chrono::duration<double, std::milli>(at - ack->second).count());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  void Clear() {
    std::lock_guard lock(mutex);
    acked.clear();
    received.clear();
  }
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())))];
}

/// A webhook endpoint answering 200 at once, one connection at a time per acceptor thread.
class Receiver {
 public:
  Receiver(Ledger& ledger, int index) : ledger_(ledger), index_(index), acceptor_(io_) {
    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    for (int thread = 0; thread < 4; ++thread) threads_.emplace_back([this] { Serve(); });
  }
  ~Receiver() {
    stopping_ = true;
    // A blocking accept is not woken by closing its acceptor: each thread is woken by a connection.
    for (std::size_t thread = 0; thread < threads_.size(); ++thread) {
      try {
        net::io_context io;
        tcp::socket socket(io);
        socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
      } catch (...) {
      }
    }
    for (auto& thread : threads_) thread.join();
  }
  std::uint16_t Port() const { return port_; }

 private:
  void Serve() {
    while (!stopping_) {
      tcp::socket socket(io_);
      boost::system::error_code error;
      acceptor_.accept(socket, error);
      if (error) {
        if (stopping_) return;
        continue;
      }
      beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(socket, buffer, request, error);
      if (error) continue;
      const auto now = Clock::now();
      boost::system::error_code parse_error;
      const auto event = json::parse(request.body(), parse_error);
      if (!parse_error) {
        const auto& data = event.at("data");
        const auto key = fmt::format("{}/{}", std::string(data.at("case_id").as_string()), data.at("case_sequence").as_int64());
        std::lock_guard lock(ledger_.mutex);
        ledger_.received.emplace(key, now);
        ledger_.endpoint_of[key] = index_;
      }
      http::response<http::empty_body> response{http::status::no_content, 11};
      response.keep_alive(false);
      http::write(socket, response, error);
      socket.shutdown(tcp::socket::shutdown_both, error);
    }
  }
  Ledger& ledger_;
  int index_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

/// One keep-alive client posting events.
class Client {
 public:
  Client(std::uint16_t port, std::string token) : stream_(io_), token_(std::move(token)) {
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  std::pair<int, json::value> Post(const std::string& target, const json::value& body, const std::string& type) {
    http::request<http::string_body> request{http::verb::post, target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + token_);
    request.set(http::field::content_type, type);
    request.body() = json::serialize(body);
    request.prepare_payload();
    http::write(stream_, request);
    http::response<http::string_body> response;
    http::read(stream_, buffer_, response);
    boost::system::error_code error;
    return {static_cast<int>(response.result_int()), json::parse(response.body(), error)};
  }

 private:
  net::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string token_;
};

json::object Event(const std::string& type, const std::string& case_id, std::atomic<long>& counter) {
  return {{"specversion", "1.0"}, {"id", fmt::format("bench-{}-{}", ::getpid(), ++counter)}, {"source", "bench/outbox"},
          {"type", type},         {"subject", case_id},                       {"time", "2026-11-20T10:00:00Z"}};
}

struct Options {
  int seconds = 60;
  int cases = 256;
  int clients = 8;
  std::string database;
};

struct Phase {
  double rate = 0;  // events/s
  std::vector<long long> depth;
};

/// Posts counselling.session_held to the cases round-robin for `seconds`, at most `rate` per second (0:
/// as fast as answered), sampling the outbox depth every second.
Phase Drive(cli::Service& service, const Options& options, const std::vector<std::vector<std::string>>& office_cases,
            const std::vector<std::string>& tokens, double rate, Ledger& ledger, std::atomic<long>& counter) {
  std::atomic<long> sent{0};
  std::atomic<bool> stop{false};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int client_index = 0; client_index < options.clients; ++client_index) {
    threads.emplace_back([&, client_index] {
      const int office = client_index % static_cast<int>(office_cases.size());
      Client client(service.Port(), tokens[static_cast<std::size_t>(office)]);
      const auto& cases = office_cases[static_cast<std::size_t>(office)];
      std::size_t next = static_cast<std::size_t>(client_index);
      while (!stop) {
        if (rate > 0) {
          const double due = static_cast<double>(sent.load()) / rate;
          const auto wait = start + std::chrono::duration<double>(due) - Clock::now();
          if (wait > Clock::duration::zero()) std::this_thread::sleep_for(wait);  // pacing the load, not waiting on time
        }
        const auto& id = cases[next++ % cases.size()];
        auto [status, body] = client.Post("/cases/" + id + "/events", Event("counselling.session_held", id, counter),
                                          "application/cloudevents+json");
        if (status == 200) {
          const auto key = fmt::format("{}/{}", id, body.at("sequence").as_int64());
          std::lock_guard lock(ledger.mutex);
          ledger.acked.emplace(key, Clock::now());
        }
        ++sent;
      }
    });
  }
  Phase phase;
  persistence::OutboxRepository outbox(service.Database());
  for (int second = 0; second < options.seconds; ++second) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the phase's length, a sampling interval
    phase.depth.push_back(outbox.Depth());
  }
  stop = true;
  for (auto& thread : threads) thread.join();
  phase.rate = static_cast<double>(sent.load()) / std::chrono::duration<double>(Clock::now() - start).count();
  // Drain: bounded.
  const auto drain_until = Clock::now() + std::chrono::seconds(5);
  while (outbox.Depth() > 0 && Clock::now() < drain_until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return phase;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"bench_outbox: webhook latency at half of peak, backlog at peak, one dead endpoint among 16"};
  app.add_option("--seconds", options.seconds, "length of each phase")->check(CLI::Range(1, 600));
  app.add_option("--cases", options.cases, "cases (spread over 16 offices)")->check(CLI::Range(16, 100000));
  app.add_option("--clients", options.clients, "concurrent HTTP clients")->check(CLI::Range(1, 256));
  app.add_option("--database", options.database, "database URL (default: a fresh SQLite file)");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  spdlog::set_level(spdlog::level::warn);

  config::Settings settings;
  settings.server.listen_address = "127.0.0.1";
  settings.server.listen_port = 0;
  settings.log.access_log = false;
  const std::string sqlite = fmt::format("/tmp/bench-outbox-{}.db", ::getpid());
  settings.database.url = options.database.empty() ? "sqlite:" + sqlite : options.database;
  settings.programmes.directory = RETURNFLOW_SOURCE_DIR "/tests/api/programmes";
  settings.scheduler.enabled = false;
  settings.delivery.poll_interval = std::chrono::milliseconds(5);
  // A master key of this run only, held in memory (as RETURNFLOW_MASTER_KEY would give it).
  settings.privacy.master_key = persistence::MasterKeyring::FromKeys({persistence::MasterKeyring::GenerateKey()}).Serialise();
  cli::Service service(settings);
  service.Start();
  auto& database = service.Database();

  constexpr int kEndpoints = 16;
  Ledger ledger;
  std::vector<std::unique_ptr<Receiver>> receivers;
  for (int index = 0; index < kEndpoints; ++index) receivers.push_back(std::make_unique<Receiver>(ledger, index));

  // 16 offices, each with a caseworker token, its cases and a webhook subscription of its own.
  persistence::TokenRepository tokens_repository(database);
  persistence::SubscriptionRepository subscriptions(database);
  std::vector<std::string> tokens, subscription_ids;
  std::vector<std::vector<std::string>> office_cases(kEndpoints);
  std::atomic<long> counter{0};
  const auto run = std::to_string(::getpid());
  for (int index = 0; index < kEndpoints; ++index) {
    const std::string office = fmt::format("bench-office-{}-{}", run, index);
    persistence::TokenScope scope;
    scope.office = office;
    scope.sources = {"bench/outbox"};
    const std::string secret = fmt::format("bench-secret-{}-{}", run, index);
    tokens_repository.Create(fmt::format("bench-cw-{}-{}", run, index), workflow::Role::kCaseworker, scope, secret);
    tokens.push_back(secret);
    persistence::Subscription subscription;
    subscription.office = office;
    subscription.notifications = {"event.applied:counselling.session_held"};
    subscription.url = fmt::format("http://127.0.0.1:{}/hook", receivers[static_cast<std::size_t>(index)]->Port());
    subscription_ids.push_back(subscriptions.Create(subscription).subscription_id);
    Client client(service.Port(), secret);
    for (int number = 0; number < options.cases / kEndpoints; ++number) {
      json::object referral{{"programme", "avrr-test"}, {"office", office}, {"host_country", "ID"},
                            {"origin_country", "BD"}, {"partners", json::array()},
                            {"household", {{{"relationship", "principal"}, {"sex", "female"},
                                            {"birth_year", 1990}, {"vulnerabilities", json::array()}}}}};
      auto [status, body] = client.Post("/cases", referral, "application/json");
      if (status != 201) {
        std::fprintf(stderr, "referral refused: %d %s\n", status, json::serialize(body).c_str());
        return 1;
      }
      const std::string id(body.at("case_id").as_string());
      client.Post("/cases/" + id + "/events", Event("eligibility.review_started", id, counter), "application/cloudevents+json");
      client.Post("/cases/" + id + "/events",
                  [&] {
                    auto event = Event("eligibility.confirmed", id, counter);
                    event["data"] = {{"destination_country", "BD"}};
                    return event;
                  }(),
                  "application/cloudevents+json");
      office_cases[static_cast<std::size_t>(index)].push_back(id);
    }
  }
  // Drive only a client per office at most.
  options.clients = std::min(options.clients, kEndpoints);

  const auto peak = Drive(service, options, office_cases, tokens, 0, ledger, counter);
  std::printf("peak: %.0f events/s; outbox depth each second:", peak.rate);
  for (const auto depth : peak.depth) std::printf(" %lld", depth);
  std::printf("\n");
  {
    std::lock_guard lock(ledger.mutex);
    std::printf("peak: %.0f webhooks/s received (%zu in %d s and the drain)\n",
                static_cast<double>(ledger.received.size()) / options.seconds, ledger.received.size(), options.seconds);
  }
  // What the peak left undelivered is set aside (dead-lettered), so that the half load starts from an
  // empty outbox and measures its own latency, not the peak's backlog.
  {
    long long abandoned = 0;
    auto lease = database.Lease();
    for (const auto& subscription_id : subscription_ids) {
      soci::statement statement = (lease.Session().prepare << "UPDATE outbox SET status = 'dead' WHERE status = 'pending' "
                                                               "AND subscription_id = :id",
                                   soci::use(subscription_id, "id"));
      statement.execute(true);
      abandoned += statement.get_affected_rows();
    }
    std::printf("peak: %lld notifications left undelivered after the drain, set aside\n", abandoned);
  }

  ledger.Clear();
  const double half_rate = peak.rate / 2;
  Drive(service, options, office_cases, tokens, half_rate, ledger, counter);
  const auto all = ledger.Latencies([](int) { return true; });
  const auto others_alive = ledger.Latencies([](int endpoint) { return endpoint != 0; });
  std::printf("half load (%.0f events/s): commit-to-receipt p50 %.1f ms, p99 %.1f ms (%zu webhooks)\n", half_rate,
              Percentile(all, 0.5), Percentile(all, 0.99), all.size());

  // Endpoint 0 dies: its subscription now points at a port nobody listens on.
  auto dead = *subscriptions.Find(subscription_ids[0]);
  dead.url = "http://127.0.0.1:9/dead";
  subscriptions.Update(dead, dead.version);
  ledger.Clear();
  Drive(service, options, office_cases, tokens, half_rate, ledger, counter);
  const auto others_dead = ledger.Latencies([](int endpoint) { return endpoint != 0; });
  const double before = Percentile(others_alive, 0.99), after = Percentile(others_dead, 0.99);
  std::printf("one dead endpoint of %d: the others' p99 %.1f ms (was %.1f ms: %+.1f%%)\n", kEndpoints, after, before,
              before > 0 ? 100.0 * (after - before) / before : 0.0);

  service.Stop();
  service.Wait();
  if (options.database.empty()) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((sqlite + suffix).c_str());
  }
  return 0;
}
