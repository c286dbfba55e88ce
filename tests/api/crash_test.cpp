// Crash safety of the real program: `returnflow serve` as a child process, clients posting single events
// and CloudEvents batches over a shared set of cases, SIGKILL of the server while they post, restart on
// the same database; several kill/restart rounds, on SQLite and on PostgreSQL.
//
// After every kill, once the killed server's PostgreSQL sessions have ended too (a pipelined COMMIT it
// sent can still commit after its death), the histories are read straight from the database and
// checked against what the clients saw:
//   - an acknowledged event (its answer carried a recorded outcome: 200 applied, or a refusal problem
//     with its outcome) is in the history exactly once, in its case, at the sequence its answer named;
//   - an event whose request failed (connection reset, no answer) is there once or not at all;
//   - nothing else is there, every history is gapless, and each case's version and last sequence agree
//     with its history (state change and history row are one transaction).
// After every restart the unanswered events are sent again with the same CloudEvents ids, batches as
// batches: each must answer applied, as a replay exactly when it had been recorded before the kill.
// The last restart ends with SIGTERM and a final check that every event is recorded exactly once.
//
// A killed process loses what it had not handed to the database, not what the kernel holds for it: this
// tests the order of commit and answer, idempotency and recovery, not fsync (that needs a power cut).
//
// RETURNFLOW_CRASH_ROUNDS=N runs N kill/restart rounds instead of 3 (e.g. 50 for a soak run); with
// RETURNFLOW_TEST_LOG set, one line per round says what happened at its kill.
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "tests/api/child_server.hpp"
#include "tests/api/support.hpp"

namespace returnflow {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::TimedClient;

constexpr int kCases = 10;
constexpr int kSingleEventClients = 2;
constexpr int kBatchClients = 2;
constexpr int kBatchSize = 5;
constexpr int kDefaultRounds = 3;
/// Acknowledged events a round needs before its kill, at the least; the kill point varies above it.
constexpr int kMinAcknowledgedBeforeKill = 50;
/// A bound on each client's requests per round; the kill comes long before it.
constexpr int kMaxRequestsPerClient = 100'000;
constexpr std::string_view kEventType = "counselling.session_held";

/// Kill/restart rounds: RETURNFLOW_CRASH_ROUNDS, or kDefaultRounds; nullopt for an unusable value.
std::optional<int> CrashRounds() {
  const char* text = std::getenv("RETURNFLOW_CRASH_ROUNDS");
  if (text == nullptr || *text == '\0') return kDefaultRounds;
  int rounds = 0;
  const char* end = text + std::strlen(text);
  auto [ptr, ec] = std::from_chars(text, end, rounds);
  if (ec != std::errc{} || ptr != end || rounds < 1) return std::nullopt;
  return rounds;
}

/// At most `count` lines of `lines`, for a failure message.
std::string FirstLines(const std::vector<std::string>& lines, std::size_t count = 20) {
  std::string text;
  for (std::size_t index = 0; index < lines.size() && index < count; ++index) text += lines[index] + "\n";
  return text;
}

/// One event's answer: its HTTP status (a batch item's own) and body (its outcome, or a problem).
struct EventAnswer {
  int status = 0;
  json::object body;
  /// A recorded outcome, applied or refused: the acknowledgement that the event is in the history.
  bool Recorded() const {
    const auto* outcome = body.if_contains("outcome");
    const auto* sequence = body.if_contains("sequence");
    return outcome && outcome->is_string() && sequence && sequence->is_int64();
  }
  bool Applied() const { return status == 200 && Recorded() && body.at("outcome") == "applied"; }
  bool Replayed() const { return body.contains("replayed") && body.at("replayed") == true; }
  std::string Text() const { return fmt::format("{} {}", status, json::serialize(body)); }
};

/// What the clients know about one event they sent.
struct SentEvent {
  std::string case_id;
  json::object cloud_event;   ///< exactly as sent, to send again after a restart
  bool acknowledged = false;  ///< an answer carrying its recorded outcome came back
  std::int64_t sequence = 0;  ///< the history sequence that answer named
};

/// A request that got no answer: its events may or may not be recorded.
struct UnansweredRequest {
  std::vector<std::string> event_ids;
  bool batch = false;
};

/// What the clients sent and what was acknowledged, across all rounds; shared by the client threads.
class Ledger {
 public:
  void Sending(const std::vector<json::object>& events) {
    std::lock_guard lock(mutex_);
    for (const auto& event : events) {
      events_.try_emplace(std::string(event.at("id").as_string()),
                          SentEvent{std::string(event.at("subject").as_string()), event});
    }
    ++in_flight_requests_;
  }

  void Answered(const std::vector<json::object>& events, const std::vector<EventAnswer>& answers) {
    {
      std::lock_guard lock(mutex_);
      --in_flight_requests_;
      for (std::size_t index = 0; index < events.size(); ++index) {
        const std::string id(events[index].at("id").as_string());
        const auto& answer = answers[index];
        // Every event of this workload is applicable: anything else is worth a look, even when it
        // acknowledges a recorded refusal.
        if (!answer.Applied()) unexpected_.push_back(id + ": " + answer.Text());
        if (!answer.Recorded()) {
          unanswered_.push_back({{id}, false});
          continue;
        }
        auto& sent = events_.at(id);
        sent.acknowledged = true;
        sent.sequence = answer.body.at("sequence").to_number<std::int64_t>();
        ++acknowledged_this_round_;
      }
    }
    progress_.notify_all();
  }

  void Failed(const std::vector<json::object>& events, bool batch, const std::string& error) {
    std::lock_guard lock(mutex_);
    --in_flight_requests_;
    failures_.push_back(fmt::format("{} of {} event(s): {}", batch ? "batch" : "single", events.size(), error));
    UnansweredRequest request{{}, batch};
    for (const auto& event : events) request.event_ids.emplace_back(event.at("id").as_string());
    unanswered_.push_back(std::move(request));
  }

  void StartRound(int clients) {
    std::lock_guard lock(mutex_);
    acknowledged_this_round_ = 0;
    running_clients_ = clients;
    failures_.clear();
  }
  void ClientStopped() {
    {
      std::lock_guard lock(mutex_);
      --running_clients_;
    }
    progress_.notify_all();
  }
  /// Waits (bounded) until `count` events were acknowledged this round; false when that took too
  /// long or every client stopped first.
  bool WaitForAcknowledged(int count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    progress_.wait_for(lock, timeout, [&] { return acknowledged_this_round_ >= count || running_clients_ == 0; });
    return acknowledged_this_round_ >= count;
  }

  int AcknowledgedThisRound() const { return Locked(acknowledged_this_round_); }
  int InFlightRequests() const { return Locked(in_flight_requests_); }
  int RunningClients() const { return Locked(running_clients_); }
  std::vector<UnansweredRequest> TakeUnanswered() {
    std::lock_guard lock(mutex_);
    return std::exchange(unanswered_, {});
  }
  /// Why requests failed this round (normally: the kill), in the order they failed.
  std::vector<std::string> TakeFailures() {
    std::lock_guard lock(mutex_);
    return std::exchange(failures_, {});
  }
  std::vector<std::string> TakeUnexpected() {
    std::lock_guard lock(mutex_);
    return std::exchange(unexpected_, {});
  }
  /// Read only while no client runs.
  const std::unordered_map<std::string, SentEvent>& Events() const { return events_; }
  /// Events sent and not (yet) acknowledged; only while no client runs.
  int Unacknowledged() const {
    int count = 0;
    for (const auto& [id, sent] : events_) count += sent.acknowledged ? 0 : 1;
    return count;
  }

 private:
  int Locked(const int& value) const {
    std::lock_guard lock(mutex_);
    return value;
  }

  mutable std::mutex mutex_;
  std::condition_variable progress_;
  std::unordered_map<std::string, SentEvent> events_;
  std::vector<UnansweredRequest> unanswered_;
  std::vector<std::string> unexpected_;
  std::vector<std::string> failures_;
  int acknowledged_this_round_ = 0;
  int in_flight_requests_ = 0;
  int running_clients_ = 0;
};

/// The answer of each event of a request: a batch's 200 carries one result per event; any other answer
/// (and the answer to a single event) is every event's.
std::vector<EventAnswer> EventAnswers(int status, const std::string& text, bool batch, std::size_t count) {
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  json::object body = !ec && parsed.is_object() ? parsed.as_object() : json::object{{"unparsed", text}};
  const auto* results = body.if_contains("results");
  if (!batch || status != 200 || !results || !results->is_array() || results->as_array().size() != count) {
    return std::vector<EventAnswer>(count, EventAnswer{status, body});
  }
  std::vector<EventAnswer> answers;
  for (const auto& result : results->as_array()) {
    // A malformed item is an answer without a recorded outcome, reported as unexpected by the ledger.
    const auto* item = result.if_object();
    const auto* item_status = item ? item->if_contains("status") : nullptr;
    const auto* answer = !item                         ? nullptr
                         : item->if_contains("outcome") ? item->if_contains("outcome")
                                                        : item->if_contains("problem");
    answers.push_back({item_status && item_status->is_int64() ? static_cast<int>(item_status->get_int64()) : 0,
                       answer && answer->is_object() ? answer->as_object() : json::object{{"item", result}}});
  }
  return answers;
}

/// Sends `events` (one event, or a batch) and records the answer in the ledger; nullopt when the request
/// failed (connection refused or reset, no answer in time).
std::optional<std::vector<EventAnswer>> Post(TimedClient& client, Ledger& ledger, const std::vector<json::object>& events,
                                             bool batch) {
  std::string target, body, content_type;
  if (batch) {
    json::array array(events.begin(), events.end());
    target = "/events";
    body = json::serialize(array);
    content_type = "application/cloudevents-batch+json";
  } else {
    target = "/cases/" + std::string(events.front().at("subject").as_string()) + "/events";
    body = json::serialize(events.front());
    content_type = "application/cloudevents+json";
  }
  ledger.Sending(events);
  std::pair<int, std::string> reply;
  try {
    reply = client.Request(http::verb::post, target, body, content_type);
  } catch (const boost::system::system_error& error) {
    ledger.Failed(events, batch, error.what());
    return std::nullopt;
  }
  auto answers = EventAnswers(reply.first, reply.second, batch, events.size());
  ledger.Answered(events, answers);
  return answers;
}

/// One client's stream: requests back to back on one keep-alive connection until the first that fails
/// (the server was killed), single events or batches of kBatchSize over four of the shared cases.
void PostUntilFailure(std::uint16_t port, const std::string& token, const std::vector<std::string>& cases, int client_index,
                      bool batch, Ledger& ledger, const std::atomic<bool>& stop) {
  TimedClient client(port, token);
  for (int request = 0; request < kMaxRequestsPerClient && !stop; ++request) {
    const int first_case = client_index * 3 + request;
    std::vector<json::object> events;
    for (int item = 0; item < (batch ? kBatchSize : 1); ++item) {
      // A batch of five over four cases names its first case twice: a batch applies one case's events
      // in their order, and its other cases alongside.
      const auto& case_id = cases[(first_case + item % 4) % kCases];
      events.push_back(test::CloudEvent(std::string(kEventType), case_id));
    }
    if (!Post(client, ledger, events, batch)) break;
  }
  ledger.ClientStopped();
}

/// The clients of one round; on destruction (also when a REQUIRE failed) they are told to stop and joined.
class Clients {
 public:
  Clients(std::uint16_t port, const std::string& token, const std::vector<std::string>& cases, Ledger& ledger) {
    ledger.StartRound(kSingleEventClients + kBatchClients);
    for (int index = 0; index < kSingleEventClients + kBatchClients; ++index) {
      threads_.emplace_back(PostUntilFailure, port, std::cref(token), std::cref(cases), index,
                            index >= kSingleEventClients, std::ref(ledger), std::cref(stop_));
    }
  }
  Clients(const Clients&) = delete;
  Clients& operator=(const Clients&) = delete;
  ~Clients() {
    stop_ = true;
    Join();
  }
  void Join() {
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

/// The database after a kill, checked against the ledger (CHECKs); returns the ids of the unanswered
/// events that were recorded all the same (committed, then the answer was lost with the server).
std::set<std::string> CheckHistories(const std::string& database, const std::vector<std::string>& cases,
                                     const std::map<std::string, std::size_t>& setup_rows, const Ledger& ledger) {
  test::OpenedDatabase reopened(database);
  auto& repository = reopened.cases;

  struct Recorded {
    int count = 0;
    std::string case_id;
    std::int64_t sequence = 0;
  };
  std::unordered_map<std::string, Recorded> recorded;
  std::set<std::string> clock_ids;
  std::vector<std::string> problems;
  for (const auto& case_id : cases) {
    const auto record = repository.Get(case_id);
    const auto history = test::FullHistory(repository, case_id);
    std::int64_t applied = 0, last_version_after = 0;
    for (std::size_t index = 0; index < history.size(); ++index) {
      const auto& entry = history[index];
      if (entry.sequence != static_cast<std::int64_t>(index + 1)) {
        problems.push_back(fmt::format("case {}: row {} has sequence {}", case_id, index + 1, entry.sequence));
      }
      if (entry.verdict == "applied") {
        ++applied;
        last_version_after = entry.version_after;
      }
      if (index < setup_rows.at(case_id)) continue;
      if (entry.source == "returnflow:clock") {
        // The engine's own clock may fire a passed deadline at any time; a timer is recorded once.
        if (!clock_ids.insert(entry.event_id).second) {
          problems.push_back(fmt::format("case {}: the clock's event {} is recorded twice", case_id, entry.event_id));
        }
        continue;
      }
      auto& found = recorded[entry.event_id];
      ++found.count;
      found.case_id = case_id;
      found.sequence = entry.sequence;
      if (!ledger.Events().contains(entry.event_id)) {
        problems.push_back(fmt::format("case {}: sequence {} is event {}, which no client sent", case_id, entry.sequence,
                                       entry.event_id));
      }
    }
    if (record.last_sequence != static_cast<std::int64_t>(history.size()) || record.version != applied ||
        record.version != last_version_after) {
      problems.push_back(fmt::format("case {}: version {} and last sequence {}, but the history has {} rows, {} applied, "
                                     "the last applied at version {}",
                                     case_id, record.version, record.last_sequence, history.size(), applied,
                                     last_version_after));
    }
  }

  std::set<std::string> recorded_unanswered;
  int acknowledged = 0;
  for (const auto& [id, sent] : ledger.Events()) {
    const auto found = recorded.find(id);
    const int count = found == recorded.end() ? 0 : found->second.count;
    if (sent.acknowledged) {
      ++acknowledged;
      if (count != 1 || found->second.case_id != sent.case_id || found->second.sequence != sent.sequence) {
        problems.push_back(fmt::format("acknowledged event {} (case {}, sequence {}) is recorded {} times{}", id,
                                       sent.case_id, sent.sequence, count,
                                       count == 0 ? "" : fmt::format(", last in case {} at sequence {}",
                                                                     found->second.case_id, found->second.sequence)));
      }
    } else if (count > 1 || (count == 1 && found->second.case_id != sent.case_id)) {
      problems.push_back(fmt::format("unanswered event {} (case {}) is recorded {} times, last in case {}", id,
                                     sent.case_id, count, found->second.case_id));
    } else if (count == 1) {
      recorded_unanswered.insert(id);
    }
  }
  INFO(problems.size() << " problems among " << ledger.Events().size() << " events sent, " << acknowledged
                       << " acknowledged:\n"
                       << FirstLines(problems));
  CHECK(problems.empty());
  return recorded_unanswered;
}

/// Sends every unanswered request again (same CloudEvents ids; batches as batches) to the restarted
/// server and CHECKs that each event is applied now, replayed exactly when it had been recorded already;
/// returns how many were replays.
int SendUnansweredAgain(std::uint16_t port, const std::string& token, Ledger& ledger,
                        const std::set<std::string>& recorded_unanswered) {
  TimedClient client(port, token);
  std::vector<std::string> problems;
  int replays = 0;
  for (const auto& request : ledger.TakeUnanswered()) {
    std::vector<json::object> events;
    for (const auto& id : request.event_ids) events.push_back(ledger.Events().at(id).cloud_event);
    auto answers = Post(client, ledger, events, request.batch);
    REQUIRE(answers.has_value());
    for (std::size_t index = 0; index < events.size(); ++index) {
      const auto& id = request.event_ids[index];
      const auto& answer = (*answers)[index];
      const bool was_recorded = recorded_unanswered.contains(id);
      if (!answer.Applied() || answer.Replayed() != was_recorded) {
        problems.push_back(fmt::format("event {} ({} before the restart) sent again: {}", id,
                                       was_recorded ? "recorded" : "absent", answer.Text()));
      }
      if (answer.Replayed()) ++replays;
    }
  }
  INFO(problems.size() << " wrong answers to events sent again:\n" << FirstLines(problems));
  CHECK(problems.empty());
  ledger.TakeUnexpected();  // the wrong answers among them are reported above
  return replays;
}

}  // namespace
}  // namespace returnflow

using namespace returnflow;

TEST_CASE("returnflow serve killed with SIGKILL mid-stream loses no acknowledged event and applies none twice",
          "[api][crash]") {
  auto backend = GENERATE(from_range(test::Backends()));
  SECTION(test::Name(backend)) {
    const auto rounds = CrashRounds();
    {
      INFO("RETURNFLOW_CRASH_ROUNDS must be a positive integer");
      REQUIRE(rounds.has_value());
    }
    const bool log = std::getenv("RETURNFLOW_TEST_LOG") != nullptr;

    const test::ScratchDirectory directory("returnflow-crash");
    std::string database;
    if (backend == test::Backend::kSqlite) {
      database = "sqlite:" + (directory.Path() / "returnflow.db").string();
    } else {
      const char* url = std::getenv("RETURNFLOW_TEST_PG_URL");
      INFO("RETURNFLOW_TEST_PG_URL is not set: run ./scripts/test.sh, or source scripts/pg-throwaway.sh, "
           "pg_throwaway_start and export RETURNFLOW_TEST_PG_URL=$PG_THROWAWAY_URL");
      REQUIRE((url != nullptr && *url != '\0'));
      database = url;
    }
    // The admin token `serve` prints on a first start is not needed (and not printed again on a
    // restart, nor on a PostgreSQL database other tests already gave tokens): a caseworker token is
    // created directly, and serves every round.
    const std::string office = test::Unique("office-crash");
    const std::string token =
        test::CreateCaseworkerToken(database, directory.Path(), test::Unique("caseworker-crash"), office);

    Ledger ledger;
    std::vector<std::string> cases;
    std::map<std::string, std::size_t> setup_rows;
    std::set<std::string> recorded_unanswered;
    int kills_with_requests_in_flight = 0;
    int unanswered_total = 0, recorded_unanswered_total = 0, replays_total = 0;
    for (int round = 0; round <= *rounds; ++round) {
      const auto round_start = Clock::now();
      test::ServeProcess serve(database, directory.Path(), fmt::format("serve-{}", round));
      INFO("round " << round << " of " << *rounds << " on " << test::Name(backend));
      if (round == 0) {
        TimedClient setup(serve.Port(), token);
        for (int index = 0; index < kCases; ++index) cases.push_back(test::CreateCaseInCounselling(setup, office));
        test::OpenedDatabase reader(database);
        for (const auto& case_id : cases) setup_rows[case_id] = test::FullHistory(reader.cases, case_id).size();
      } else {
        replays_total += SendUnansweredAgain(serve.Port(), token, ledger, recorded_unanswered);
      }
      if (round == *rounds) {
        // The last restart: a graceful stop, then every event sent is recorded exactly once.
        serve.Process().Signal(SIGTERM);
        const auto status = serve.Process().WaitExit(20s);
        INFO(serve.Output());
        REQUIRE(status == 0);
        serve.WaitForDatabaseSessionsToEnd(10s);
        CHECK(ledger.TakeUnexpected().empty());
        CHECK(ledger.Unacknowledged() == 0);
        CHECK(CheckHistories(database, cases, setup_rows, ledger).empty());
        break;
      }

      // The kill lands at a different point of the stream each round.
      const int kill_after = kMinAcknowledgedBeforeKill + (round * 37) % 100;
      int in_flight_at_kill = 0;
      {
        Clients clients(serve.Port(), token, cases, ledger);
        const bool posting = ledger.WaitForAcknowledged(kill_after, 60s);
        // Read just before the kill: what it interrupts.
        in_flight_at_kill = ledger.InFlightRequests();
        const int running_at_kill = ledger.RunningClients();
        const auto failures_before_kill = ledger.TakeFailures();
        serve.Process().Signal(SIGKILL);
        const auto status = serve.Process().WaitExit(10s);
        INFO(serve.Output());
        REQUIRE(posting);
        REQUIRE(status == -SIGKILL);
        serve.WaitForDatabaseSessionsToEnd(10s);
        // No client stopped before the kill: they were all still posting when it came.
        INFO("requests failed before the kill:\n" << FirstLines(failures_before_kill));
        REQUIRE(running_at_kill == kSingleEventClients + kBatchClients);
        clients.Join();
      }
      REQUIRE(ledger.AcknowledgedThisRound() >= kill_after);
      if (in_flight_at_kill > 0) ++kills_with_requests_in_flight;
      {
        const auto unexpected = ledger.TakeUnexpected();
        INFO(unexpected.size() << " unexpected answers, the first: " << (unexpected.empty() ? "" : unexpected.front()));
        CHECK(unexpected.empty());
      }
      recorded_unanswered = CheckHistories(database, cases, setup_rows, ledger);
      // Every client's last request is one the kill left without an answer.
      const int unanswered = ledger.Unacknowledged();
      CHECK(unanswered >= kSingleEventClients + kBatchClients * kBatchSize);
      unanswered_total += unanswered;
      recorded_unanswered_total += static_cast<int>(recorded_unanswered.size());
      if (log) {
        std::cout << fmt::format(
                         "crash {} round {}: killed after {} acknowledged, {} requests in flight; {} events "
                         "unanswered, {} of them recorded; {} ms\n",
                         test::Name(backend), round, ledger.AcknowledgedThisRound(), in_flight_at_kill, unanswered,
                         recorded_unanswered.size(),
                         std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - round_start).count())
                  << std::flush;
      }
    }
    // The kills interrupted the stream, not a pause in it (a round whose kill found every client
    // between two requests is possible, but not every round).
    CHECK(kills_with_requests_in_flight >= 1);
    if (log) {
      std::cout << fmt::format("crash {}: {} rounds, {} events sent, {} unanswered, {} of them recorded, {} replays\n",
                               test::Name(backend), *rounds, ledger.Events().size(), unanswered_total,
                               recorded_unanswered_total, replays_total)
                << std::flush;
    }
  }
}
