// A second process for the two-process concurrency test: applies `threads x events` counselling
// sessions to one case and prints how many were applied. Usage:
//   persistence_apply_worker <database-url> <case-id> <threads> <events-per-thread> <event-id-prefix>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "persistence/repository.hpp"

using namespace returnflow;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s URL CASE THREADS EVENTS PREFIX\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);  // stdout carries the result
  persistence::DatabaseOptions options;
  options.url = argv[1];
  const std::string case_id = argv[2];
  const int threads = std::stoi(argv[3]);
  const int events = std::stoi(argv[4]);
  const std::string prefix = argv[5];
  options.pool_size = static_cast<std::size_t>(threads);
  options.busy_timeout = std::chrono::milliseconds(120000);
  try {
    persistence::Database database(options);
    persistence::CaseRepository cases(database);
    std::atomic<int> applied{0}, failed{0};
    std::vector<std::thread> workers;
    for (int thread = 0; thread < threads; ++thread) {
      workers.emplace_back([&, thread] {
        workflow::DecodeError error;
        for (int index = 0; index < events; ++index) {
          persistence::IncomingEvent incoming;
          incoming.source = "worker";
          incoming.event_id = prefix + "-" + std::to_string(thread) + "-" + std::to_string(index);
          incoming.type = "counselling.session_held";
          incoming.data_json = "{}";
          incoming.event = *workflow::DecodeEvent(incoming.type, boost::json::object{}, error);
          incoming.meta = {"worker", *workflow::ParseInstant("2026-02-01T00:00:00Z")};
          try {
            if (cases.Apply(case_id, incoming).result.Applied()) ++applied;
          } catch (const std::exception& failure) {
            std::fprintf(stderr, "apply failed: %s\n", failure.what());
            ++failed;
          }
        }
      });
    }
    for (auto& worker : workers) worker.join();
    std::printf("%d\n", applied.load());
    return failed == 0 ? 0 : 1;
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "worker failed: %s\n", failure.what());
    return 1;
  }
}
