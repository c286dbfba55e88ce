// api_loadgen: posts CloudEvents to many cases over keep-alive connections and reports events/s and
// latency percentiles. Sets itself up through the API: with an admin token it creates a caseworker
// token, opens the cases and brings each to counselling, where counselling.session_held applies
// again and again (a real state change: version + 1 and a history row per event).
//
//   api_loadgen --port P --admin-token T [--clients 32] [--cases 256] [--seconds 20] [--rate 0]
//
// --rate 0 is closed-loop (each client sends its next event when the last is answered); --rate R
// paces the clients to R events/s in total and measures latency from each event's scheduled time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::uint16_t port = 8080;
  std::string admin_token;
  int clients = 32;
  int cases = 256;
  double seconds = 20;
  double rate = 0;
  std::string label = "run";
};

class Connection {
 public:
  Connection(std::uint16_t port, std::string token) : socket_(context_), port_(port), token_(std::move(token)) { Open(); }

  std::pair<int, std::string> Send(http::verb method, const std::string& target, const std::string& body,
                                   const std::string& content_type) {
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + token_);
    if (!content_type.empty()) request.set(http::field::content_type, content_type);
    request.keep_alive(true);
    request.body() = body;
    request.prepare_payload();
    http::write(socket_, request);
    http::response<http::string_body> response;
    http::read(socket_, buffer_, response);
    if (!response.keep_alive()) Open();
    return {static_cast<int>(response.result_int()), std::move(response.body())};
  }

 private:
  void Open() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    buffer_.clear();
    socket_.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
    socket_.set_option(tcp::no_delay(true));
  }
  boost::asio::io_context context_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::uint16_t port_;
  std::string token_;
};

std::string Event(const std::string& id, const std::string& type, const std::string& case_id, json::object data) {
  return json::serialize(json::object{{"specversion", "1.0"},
                                      {"id", id},
                                      {"source", "bench/loadgen"},
                                      {"type", type},
                                      {"subject", case_id},
                                      {"time", "2026-11-20T10:00:00Z"},
                                      {"data", std::move(data)}});
}

Options Parse(int argc, char** argv) {
  Options options;
  for (int index = 1; index + 1 < argc; index += 2) {
    std::string key = argv[index], value = argv[index + 1];
    if (key == "--port") options.port = static_cast<std::uint16_t>(std::stoi(value));
    else if (key == "--admin-token") options.admin_token = value;
    else if (key == "--clients") options.clients = std::stoi(value);
    else if (key == "--cases") options.cases = std::stoi(value);
    else if (key == "--seconds") options.seconds = std::stod(value);
    else if (key == "--rate") options.rate = std::stod(value);
    else if (key == "--label") options.label = value;
    else throw std::runtime_error("unknown option " + key);
  }
  if (options.admin_token.empty()) throw std::runtime_error("--admin-token is required");
  options.cases = std::max(options.cases, options.clients);
  return options;
}

double Percentile(std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  auto index = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) try {
  auto options = Parse(argc, argv);
  const auto run_id = fmt::format("{:x}", std::chrono::system_clock::now().time_since_epoch().count());
  const std::string office = "bench-" + run_id;

  // Setup through the API: a caseworker token, then the cases, each brought to counselling.
  Connection admin(options.port, options.admin_token);
  auto [token_status, token_body] = admin.Send(
      http::verb::post, "/tokens",
      json::serialize(json::object{{"name", "bench-cw-" + run_id}, {"role", "caseworker"}, {"scope", {{"office", office}}}}),
      "application/json");
  if (token_status != 201) throw std::runtime_error("token creation failed: " + token_body);
  const std::string token(json::parse(token_body).at("token").as_string());

  std::vector<std::string> cases(static_cast<std::size_t>(options.cases));
  {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> setup;
    for (int worker = 0; worker < std::min(options.clients, 16); ++worker) {
      setup.emplace_back([&, worker] {
        Connection connection(options.port, token);
        for (std::size_t index = next++; index < cases.size(); index = next++) {
          json::object referral{{"programme", "bench"}, {"office", office}, {"host_country", "ID"},
                                {"origin_country", "BD"},
                                {"household", {{{"relationship", "principal"}, {"sex", "female"}, {"birth_year", 1990}}}}};
          auto [status, body] = connection.Send(http::verb::post, "/cases", json::serialize(referral), "application/json");
          if (status != 201) throw std::runtime_error("case creation failed: " + body);
          cases[index] = std::string(json::parse(body).at("case_id").as_string());
          for (auto [type, data] : {std::pair<const char*, json::object>{"eligibility.review_started", {}},
                                    std::pair<const char*, json::object>{"eligibility.confirmed", {{"destination_country", "BD"}}}}) {
            auto id = fmt::format("setup-{}-{}-{}", run_id, index, type);
            auto [event_status, event_body] = connection.Send(http::verb::post, "/cases/" + cases[index] + "/events",
                                                              Event(id, type, cases[index], data), "application/cloudevents+json");
            if (event_status != 200) throw std::runtime_error("setup event failed: " + event_body);
          }
        }
        (void)worker;
      });
    }
    for (auto& thread : setup) thread.join();
  }

  // The measured run.
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(options.clients));
  std::vector<std::size_t> failures(static_cast<std::size_t>(options.clients), 0);
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  std::vector<std::thread> clients;
  for (int client = 0; client < options.clients; ++client) {
    clients.emplace_back([&, client] {
      Connection connection(options.port, token);
      auto& samples = latencies[static_cast<std::size_t>(client)];
      samples.reserve(200'000);
      const auto interval = options.rate > 0
                                ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.clients / options.rate))
                                : Clock::duration::zero();
      auto scheduled = started + interval * client / std::max(1, options.clients);
      for (std::size_t sequence = 0;; ++sequence) {
        if (options.rate > 0) {
          if (scheduled >= deadline) break;
          std::this_thread::sleep_until(scheduled);  // pacing the load, not synchronising a test
        } else if (Clock::now() >= deadline) {
          break;
        }
        // Client c sends to its own slice of the cases, round robin.
        const auto& case_id = cases[(static_cast<std::size_t>(client) + sequence * options.clients) % cases.size()];
        auto id = fmt::format("{}-{}-{}", run_id, client, sequence);
        const auto sent = options.rate > 0 ? scheduled : Clock::now();
        auto [status, body] = connection.Send(http::verb::post, "/cases/" + case_id + "/events",
                                              Event(id, "counselling.session_held", case_id, {}),
                                              "application/cloudevents+json");
        samples.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
        if (status != 200) ++failures[static_cast<std::size_t>(client)];
        scheduled += interval;
      }
    });
  }
  for (auto& thread : clients) thread.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();

  std::vector<double> all;
  std::size_t failed = 0;
  for (std::size_t client = 0; client < latencies.size(); ++client) {
    all.insert(all.end(), latencies[client].begin(), latencies[client].end());
    failed += failures[client];
  }
  std::sort(all.begin(), all.end());
  const double rate = static_cast<double>(all.size()) / elapsed;
  // One machine-readable line (run.sh parses it) and one for people.
  std::cout << fmt::format("RESULT label={} clients={} cases={} events={} failed={} seconds={:.1f} events_per_s={:.0f} "
                           "p50_ms={:.2f} p99_ms={:.2f} p999_ms={:.2f} max_ms={:.2f}\n",
                           options.label, options.clients, options.cases, all.size(), failed, elapsed, rate,
                           Percentile(all, 0.50), Percentile(all, 0.99), Percentile(all, 0.999), all.empty() ? 0 : all.back());
  return failed == 0 ? 0 : 2;
} catch (const std::exception& error) {
  std::cerr << "api_loadgen: " << error.what() << "\n";
  return 1;
}
