#include <spawn.h>
#include <sys/wait.h>

#include <array>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <thread>

#include "tests/persistence/support.hpp"

using namespace returnflow;
using namespace returnflow::persistence;
using persistence::testing::BackendName;
using persistence::testing::MakeEvent;
using persistence::testing::SyntheticCase;
using persistence::testing::TestDatabase;
using persistence::testing::ToCounsellingEvents;

extern char** environ;

namespace {
/// The per-case sequence is 1..n with no gap or duplicate, and version counts the applied rows.
void CheckHistoryIsGapFree(CaseRepository& cases, const std::string& case_id) {
  const auto record = cases.Get(case_id);
  std::int64_t expected = 0;
  std::int64_t applied = 0;
  for (;;) {
    const auto page = cases.History(case_id, expected, kMaxPageSize);
    if (page.empty()) break;
    for (const auto& entry : page) {
      REQUIRE(entry.sequence == expected + 1);
      expected = entry.sequence;
      if (entry.verdict == "applied") ++applied;
    }
  }
  CHECK(expected == record.last_sequence);
  CHECK(applied == record.version);
}

int RunWorker(const std::string& url, const std::string& case_id, int threads, int events, const std::string& prefix,
              int& applied) {
  std::array<int, 2> pipe_ends{};
  REQUIRE(pipe(pipe_ends.data()) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_ends[0]);
  const std::string threads_text = std::to_string(threads);
  const std::string events_text = std::to_string(events);
  std::vector<char*> argv{const_cast<char*>(RETURNFLOW_APPLY_WORKER),
                          const_cast<char*>(url.c_str()),
                          const_cast<char*>(case_id.c_str()),
                          const_cast<char*>(threads_text.c_str()),
                          const_cast<char*>(events_text.c_str()),
                          const_cast<char*>(prefix.c_str()),
                          nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, RETURNFLOW_APPLY_WORKER, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_ends[1]);
  REQUIRE(spawned == 0);
  std::string output;
  std::array<char, 64> buffer{};
  ssize_t count = 0;
  while ((count = read(pipe_ends[0], buffer.data(), buffer.size())) > 0) output.append(buffer.data(), count);
  close(pipe_ends[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  applied = static_cast<int>(std::strtol(output.c_str(), nullptr, 10));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("8 threads x 500 events on one case serialize with no lost update", "[persistence][concurrency]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend, 8);
  CaseRepository cases(test.Db());
  const auto created = cases.Create(SyntheticCase());
  for (const auto& event : ToCounsellingEvents("warmup")) cases.Apply(created.case_id, event);
  const auto before = cases.Get(created.case_id);

  constexpr int kThreads = 8;
  constexpr int kEvents = 500;
  std::vector<int> applied(kThreads, 0);
  std::vector<int> failed(kThreads, 0);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int index = 0; index < kEvents; ++index) {
        auto event = MakeEvent("counselling.session_held", "{}",
                               "t" + std::to_string(thread) + "-" + std::to_string(index), "load", 4);
        try {
          if (cases.Apply(created.case_id, event).result.Applied()) ++applied[thread];
        } catch (const PersistenceError&) {
          ++failed[thread];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  int total_applied = 0;
  for (int thread = 0; thread < kThreads; ++thread) {
    total_applied += applied[thread];
    CHECK(failed[thread] == 0);
  }
  CHECK(total_applied == kThreads * kEvents);
  const auto after = cases.Get(created.case_id);
  CHECK(after.version == before.version + total_applied);
  CHECK(after.last_sequence == before.last_sequence + kThreads * kEvents);
  // The context saw every event: no update was lost in the saved state either.
  CHECK(workflow::Case::Restore(after.saved_state).Context().counselling_sessions == 1 + kThreads * kEvents);
  CheckHistoryIsGapFree(cases, created.case_id);
}

TEST_CASE("two processes applying events to one case serialize with no lost update",
          "[persistence][concurrency][two-process]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend, 2);
  CaseRepository cases(test.Db());
  const auto created = cases.Create(SyntheticCase());
  for (const auto& event : ToCounsellingEvents("warmup")) cases.Apply(created.case_id, event);
  const auto before = cases.Get(created.case_id);

  constexpr int kThreads = 4;
  constexpr int kEvents = 500;
  int applied_first = 0, applied_second = 0;
  int status_first = 0, status_second = 0;
  std::thread first(
      [&] { status_first = RunWorker(test.Url(), created.case_id, kThreads, kEvents, "p1", applied_first); });
  std::thread second(
      [&] { status_second = RunWorker(test.Url(), created.case_id, kThreads, kEvents, "p2", applied_second); });
  first.join();
  second.join();
  CHECK(status_first == 0);
  CHECK(status_second == 0);
  CHECK(applied_first == kThreads * kEvents);
  CHECK(applied_second == kThreads * kEvents);

  const auto after = cases.Get(created.case_id);
  CHECK(after.version == before.version + 2 * kThreads * kEvents);
  CHECK(after.last_sequence == before.last_sequence + 2 * kThreads * kEvents);
  CHECK(workflow::Case::Restore(after.saved_state).Context().counselling_sessions == 1 + 2 * kThreads * kEvents);
  CheckHistoryIsGapFree(cases, created.case_id);
}
