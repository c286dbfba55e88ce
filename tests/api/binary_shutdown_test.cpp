// Graceful shutdown of the real program: `returnflow serve` as a child process, SIGTERM while clients
// post events over keep-alive, then the exit status and the durability of every acknowledged event.
//
// Everything here is bounded: each HTTP exchange has a deadline, every wait for the child polls against
// a deadline, and a child still running when the test ends (pass or fail) is killed and reaped.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/api/child_server.hpp"
#include "tests/api/support.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using namespace returnflow;
using test::TimedClient;

TEST_CASE("returnflow serve on SIGTERM with clients posting: exits 0 and every acknowledged event is durable",
          "[api][shutdown][binary]") {
  const test::ScratchDirectory directory("returnflow-binary-shutdown");
  const std::string database = "sqlite:" + (directory.Path() / "returnflow.db").string();

  test::ServeProcess serve(database, directory.Path(), "serve");
  auto& server = serve.Process();
  const std::uint16_t port = serve.Port();

  const std::string office = "office-shutdown";
  const std::string token = test::CreateCaseworkerToken(database, directory.Path(), "caseworker-shutdown", office);

  constexpr int kClients = 6;
  std::vector<std::string> cases;
  {
    TimedClient setup(port, token);
    for (int index = 0; index < kClients; ++index) cases.push_back(test::CreateCaseInCounselling(setup, office));
  }

  std::mutex mutex;
  std::condition_variable progress;
  int acknowledged_total = 0;
  std::vector<std::vector<std::string>> acknowledged(kClients);
  std::vector<std::string> unexpected(kClients);
  std::vector<std::thread> clients;
  for (int index = 0; index < kClients; ++index) {
    clients.emplace_back([&, index] {
      TimedClient client(port, token);
      // Bounded: a client stops at its first failure (the stopping server closed or refused the
      // connection) or after 5,000 events, and every exchange has a 10 s deadline.
      for (int sent = 0; sent < 5000; ++sent) {
        auto event = test::CloudEvent("counselling.session_held", cases[index]);
        try {
          auto [status, body] = client.Request(http::verb::post, "/cases/" + cases[index] + "/events",
                                               json::serialize(event), "application/cloudevents+json");
          if (status != 200) {
            // Anything but 200 is not an acknowledgement; a 503 while stopping would be acceptable,
            // other answers are reported.
            if (status != 503) unexpected[index] = std::to_string(status) + " " + body;
            break;
          }
          std::lock_guard lock(mutex);
          acknowledged[index].push_back(std::string(event.at("id").as_string()));
          ++acknowledged_total;
        } catch (const boost::system::system_error&) {
          break;  // connection closed or refused: this event was never acknowledged
        }
        progress.notify_all();
      }
      progress.notify_all();
    });
  }
  struct JoinClients {
    std::vector<std::thread>& threads;
    ~JoinClients() {
      for (auto& thread : threads) {
        if (thread.joinable()) thread.join();
      }
    }
  } join_clients{clients};

  bool posting = false;
  {
    std::unique_lock lock(mutex);
    posting = progress.wait_for(lock, 60s, [&] { return acknowledged_total >= 10 * kClients; });
  }
  INFO(serve.Output());
  REQUIRE(posting);
  const auto signalled = Clock::now();
  server.Signal(SIGTERM);
  // The default shutdown grace is 30 s; a graceful stop with only short requests in flight takes far
  // less, so 20 s is generous and still bounded.
  const auto status = server.WaitExit(20s);
  const auto stop_time = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled);
  INFO("exit after " << stop_time.count() << " ms; " << serve.Output());
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  // It stopped because of the signal, through the graceful path, not by failing.
  const std::string log = server.Stdout();
  CHECK(log.find("event=shutdown_requested signal=15") != std::string::npos);
  CHECK(log.find("event=stopped") != std::string::npos);
  for (auto& thread : clients) thread.join();
  for (const auto& text : unexpected) CHECK(text.empty());

  // Read the histories back through the persistence API, with the server gone.
  test::OpenedDatabase reopened(database);
  int checked = 0;
  for (int index = 0; index < kClients; ++index) {
    const auto durable = test::RecordedEventIds(reopened.cases, cases[index]);
    for (const auto& id : acknowledged[index]) {
      CHECK(durable.contains(id));
      ++checked;
    }
  }
  CHECK(checked == acknowledged_total);
  CHECK(checked >= 10 * kClients);
}
