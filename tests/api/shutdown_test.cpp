// Graceful shutdown: SIGTERM with requests in flight. The server stops accepting, answers what it has
// started, and every acknowledged event is durable.
#include <csignal>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "persistence/repository.hpp"
#include "tests/api/fixture.hpp"

namespace json = boost::json;
using namespace returnflow;
using namespace returnflow::test;

TEST_CASE("SIGTERM with requests in flight: nothing acknowledged is lost and the server exits", "[api][http][shutdown]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    constexpr int kClients = 8;
    std::vector<std::string> cases;
    for (int index = 0; index < kClients; ++index) {
      auto id = cast.CreateCase();
      Apply(server, cast.caseworker, id, "eligibility.review_started");
      Apply(server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}});
      cases.push_back(id);
    }
    server.Service().StopOnSignals();

    std::mutex mutex;
    std::condition_variable progress;
    int acknowledged_total = 0;
    std::vector<std::vector<std::string>> acknowledged(kClients);
    std::vector<int> errors(kClients, 0);
    std::vector<std::thread> clients;
    for (int index = 0; index < kClients; ++index) {
      clients.emplace_back([&, index] {
        HttpClient client(server.Port(), cast.caseworker);
        // Bounded: a client stops at its first failure (the server closed) or after 2,000 events.
        for (int sent = 0; sent < 2000; ++sent) {
          auto event = CloudEvent("counselling.session_held", cases[index]);
          try {
            auto result = client.PostEvent(cases[index], event);
            if (result.status != 200) {
              ++errors[index];
              break;
            }
            std::lock_guard lock(mutex);
            acknowledged[index].push_back(std::string(event.at("id").as_string()));
            ++acknowledged_total;
          } catch (const std::exception&) {
            break;  // connection closed by the stopping server: this event was never acknowledged
          }
          progress.notify_all();
        }
      });
    }
    {
      std::unique_lock lock(mutex);
      progress.wait(lock, [&] { return acknowledged_total >= 4 * kClients; });
    }
    std::raise(SIGTERM);  // the same path `returnflow serve` takes
    server.Stop();        // waits for the graceful stop the signal started
    for (auto& thread : clients) thread.join();

    CHECK_THROWS(HttpClient(server.Port(), cast.caseworker).Get("/healthz"));
    persistence::CaseRepository repository(server.Service().Database());
    int checked = 0;
    for (int index = 0; index < kClients; ++index) {
      CHECK(errors[index] == 0);
      const auto durable = RecordedEventIds(repository, cases[index]);
      for (const auto& id : acknowledged[index]) {
        CHECK(durable.contains(id));
        ++checked;
      }
      auto record = repository.Get(cases[index]);
      CHECK(record.version >= 3 + static_cast<std::int64_t>(acknowledged[index].size()));
    }
    CHECK(checked == acknowledged_total);
  }
}
