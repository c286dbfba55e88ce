// Partners syncing at once: concurrent batches and single events over the same cases, over real
// sockets, on SQLite and PostgreSQL. Nothing crashes, every request is answered, every event is
// recorded exactly once. (The suite also runs under ASan+UBSan in CI: scripts/sanitize.sh.)
#include <atomic>
#include <map>
#include <random>
#include <thread>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "persistence/repository.hpp"
#include "tests/api/fixture.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

namespace {

/// `count` cases in counselling.in_progress, where counselling.session_held is accepted again and again.
std::vector<std::string> CasesInCounselling(Cast& cast, int count) {
  std::vector<std::string> ids;
  for (int index = 0; index < count; ++index) {
    auto id = cast.CreateCase();
    Apply(cast.server, cast.caseworker, id, "eligibility.review_started");
    Apply(cast.server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}});
    Apply(cast.server, cast.caseworker, id, "counselling.session_held");
    ids.push_back(std::move(id));
  }
  return ids;
}

HttpResult PostBatch(HttpClient& client, const json::array& events) {
  return client.Request(http::verb::post, "/events", json::serialize(events), "application/cloudevents-batch+json");
}

std::int64_t SessionsOf(TestServer& server, const std::string& token, const std::string& case_id) {
  auto client = server.Client(token);
  auto result = client.Get("/cases/" + case_id);
  REQUIRE(result.status == 200);
  return result.Json().at("progress").at("counselling_sessions").as_int64();
}

}  // namespace

TEST_CASE("two concurrent batches of 100 events over the same 50 cases are both answered in full", "[api][http][concurrency]") {
  // The reproduction of a crash: the group committer's waiters were move-assigned when a case skipped
  // because another group held it, and Boost 1.81's any_completion_handler recursed on move-assignment.
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    const auto cases = CasesInCounselling(cast, 50);
    for (int round = 0; round < 3; ++round) {
      std::vector<HttpResult> results(2);
      std::vector<std::thread> threads;
      for (int sender = 0; sender < 2; ++sender) {
        threads.emplace_back([&, sender] {
          json::array batch;
          for (int index = 0; index < 100; ++index) {
            batch.push_back(CloudEvent("counselling.session_held", cases[static_cast<std::size_t>(index) % cases.size()]));
          }
          auto client = cast.server.Client(cast.caseworker);
          results[static_cast<std::size_t>(sender)] = PostBatch(client, batch);
        });
      }
      for (auto& thread : threads) thread.join();
      for (const auto& result : results) {
        INFO(result.body.substr(0, 300));
        REQUIRE(result.status == 200);
        CHECK(result.Json().at("applied") == 100);
      }
    }
    // Every case took 2 events from each batch in each round, on top of its first session.
    for (const auto& id : cases) CHECK(SessionsOf(cast.server, cast.caseworker, id) == 1 + 3 * 4);
  }
}

TEST_CASE("many clients sending batches and single events over shared cases lose nothing and apply nothing twice",
          "[api][http][concurrency]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, [](config::Settings& settings) { settings.server.io_threads = 2; });
    const auto cases = CasesInCounselling(cast, 30);
    constexpr int kClients = 8;
    constexpr int kRequests = 25;
    std::mutex mutex;
    std::map<std::string, std::string> sent;  // event id -> case id, every event any client sent
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int client_index = 0; client_index < kClients; ++client_index) {
      threads.emplace_back([&, client_index] {
        std::mt19937 random(static_cast<unsigned>(client_index) * 7919u + 17u);
        auto client = cast.server.Client(cast.caseworker);
        json::array previous;  // re-sent now and then: redeliveries must be replays
        for (int request = 0; request < kRequests; ++request) {
          const bool batch = client_index % 2 == 0;
          json::array events;
          const int count = batch ? 1 + static_cast<int>(random() % 40) : 1;
          for (int index = 0; index < count; ++index) {
            const auto& id = cases[random() % cases.size()];
            events.push_back(CloudEvent("counselling.session_held", id));
          }
          if (!previous.empty() && random() % 4 == 0) events = previous;  // a partner retrying
          HttpResult result;
          try {
            result = batch ? PostBatch(client, events) : client.PostEvent(std::string(events[0].at("subject").as_string()), events[0]);
          } catch (const std::exception&) {
            ++failures;  // a dropped connection is a failure of the engine here
            continue;
          }
          if (result.status != 200) {
            ++failures;
            continue;
          }
          {
            std::lock_guard lock(mutex);
            for (const auto& event : events) {
              sent[std::string(event.at("id").as_string())] = std::string(event.at("subject").as_string());
            }
          }
          if (batch && result.Json().at("applied") != static_cast<std::int64_t>(events.size())) ++failures;
          previous = events;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    CHECK(failures == 0);
    REQUIRE(sent.size() > 300);  // the run was large enough to mean something
    // Each event id is recorded once, in the case it named; each case counts exactly its events.
    persistence::CaseRepository repository(cast.server.Service().Database());
    std::map<std::string, int> per_case;
    for (const auto& [event_id, case_id] : sent) ++per_case[case_id];
    for (const auto& id : cases) {
      const auto history = FullHistory(repository, id);
      std::map<std::string, int> recorded;
      for (const auto& entry : history) {
        if (entry.type == "counselling.session_held") ++recorded[entry.event_id];
      }
      int from_clients = 0;
      for (const auto& [event_id, times] : recorded) {
        INFO("event " << event_id);
        CHECK(times == 1);
        if (sent.contains(event_id)) ++from_clients;
      }
      CHECK(from_clients == per_case[id]);
      CHECK(SessionsOf(cast.server, cast.caseworker, id) == 1 + per_case[id]);
    }
  }
}
