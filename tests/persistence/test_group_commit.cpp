// Group commit (CaseRepository::ApplyGroup): every path ends exactly as applying the group's events one
// by one would; on PostgreSQL, groups of cached cases are written from the cache, and a stale entry, a
// redelivery, an If-Match or a lost connection sends the group down the careful path instead.
#include <soci/soci.h>

#include <catch2/catch.hpp>
#include <thread>

#include "persistence/apply_plan.hpp"
#include "tests/persistence/support.hpp"

using namespace returnflow;
using namespace returnflow::persistence;
using persistence::testing::BackendName;
using persistence::testing::MakeEvent;
using persistence::testing::SyntheticCase;
using persistence::testing::TestDatabase;

TEST_CASE("a group commit applies each event in its own savepoint", "[persistence][apply][group]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto first = cases.Create(SyntheticCase());
  const auto second = cases.Create(SyntheticCase());
  cases.Apply(first.case_id, MakeEvent("eligibility.review_started", "{}", "pre-1"));

  auto stale = MakeEvent("eligibility.review_started", "{}", "g2");
  stale.expected_version = 9;
  std::vector<GroupItem> items{
      {second.case_id, MakeEvent("eligibility.review_started", "{}", "g1")},
      {first.case_id, stale},
      {"00000000-0000-4000-8000-000000000000", MakeEvent("eligibility.review_started", "{}", "g3")},
      {first.case_id, MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", "g4")},
      {second.case_id, MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", "g5")},
      {first.case_id, MakeEvent("eligibility.review_started", "{}", "pre-1")},  // a replay inside a group
  };
  const auto results = cases.ApplyGroup(items);
  REQUIRE(results.size() == items.size());
  REQUIRE(results[0].outcome);
  CHECK(results[0].outcome->result.Applied());
  CHECK(results[1].error == ErrorKind::kVersionConflict);
  CHECK(results[2].error == ErrorKind::kNotFound);
  REQUIRE(results[3].outcome);
  CHECK(results[3].outcome->result.Applied());
  REQUIRE(results[4].outcome);
  CHECK(results[4].outcome->result.Applied());  // after g1: events of one case keep their order
  REQUIRE(results[5].outcome);
  CHECK(results[5].outcome->replayed);

  CHECK(cases.Get(first.case_id).stage == "counselling");
  CHECK(cases.Get(second.case_id).stage == "counselling");
  CHECK(cases.Get(first.case_id).last_sequence == 3);
  CHECK(cases.Get(second.case_id).last_sequence == 3);
}

namespace {
/// The cases of the group-semantics test, in one database: each gets one event of the group.
struct GroupScenario {
  std::vector<std::string> case_ids;  // one per item; the last is a case that does not exist
  std::vector<IncomingEvent> events;
};

GroupScenario SetUpGroupScenario(CaseRepository& cases) {
  GroupScenario scenario;
  auto add = [&](const std::string& case_id, IncomingEvent event) {
    scenario.case_ids.push_back(case_id);
    scenario.events.push_back(std::move(event));
  };
  const auto applied = cases.Create(SyntheticCase());
  add(applied.case_id, MakeEvent("eligibility.review_started", "{}", "g-applied"));
  const auto refused = cases.Create(SyntheticCase());
  cases.Apply(refused.case_id, MakeEvent("eligibility.review_started", "{}", "pre-refused"));
  add(refused.case_id, MakeEvent("eligibility.confirmed", R"({"destination_country":"XX"})", "g-refused"));
  const auto not_allowed = cases.Create(SyntheticCase());
  add(not_allowed.case_id, MakeEvent("travel.departed", "{}", "g-not-allowed"));
  const auto replayed = cases.Create(SyntheticCase());
  cases.Apply(replayed.case_id, MakeEvent("eligibility.review_started", "{}", "pre-replayed"));
  add(replayed.case_id, MakeEvent("eligibility.review_started", "{}", "pre-replayed"));
  const auto reused = cases.Create(SyntheticCase());
  cases.Apply(reused.case_id, MakeEvent("eligibility.review_started", "{}", "pre-reused"));
  add(reused.case_id, MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", "pre-reused"));
  const auto stale = cases.Create(SyntheticCase());
  auto stale_event = MakeEvent("eligibility.review_started", "{}", "g-stale");
  stale_event.expected_version = 9;
  add(stale.case_id, stale_event);
  const auto matching = cases.Create(SyntheticCase());
  cases.Apply(matching.case_id, MakeEvent("eligibility.review_started", "{}", "pre-matching"));
  auto matching_event = MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", "g-matching");
  matching_event.expected_version = 2;
  add(matching.case_id, matching_event);
  add("00000000-0000-4000-8000-000000000000", MakeEvent("eligibility.review_started", "{}", "g-missing"));
  return scenario;
}

void CheckSameOutcome(const GroupItemResult& group, const GroupItemResult& single) {
  CHECK(group.error == single.error);
  REQUIRE(group.outcome.has_value() == single.outcome.has_value());
  if (!group.outcome) return;
  const auto& left = *group.outcome;
  const auto& right = *single.outcome;
  CHECK(left.result.verdict == right.result.verdict);
  CHECK(left.result.reason == right.result.reason);
  CHECK(left.result.from == right.result.from);
  CHECK(left.result.to == right.result.to);
  CHECK(left.result.changes == right.result.changes);
  CHECK(left.result.allowed_events == right.result.allowed_events);
  CHECK(left.sequence == right.sequence);
  CHECK(left.version == right.version);
  CHECK(left.replayed == right.replayed);
}

void CheckSameCase(CaseRepository& group_cases, const std::string& group_id, CaseRepository& single_cases,
                   const std::string& single_id) {
  const auto left = group_cases.Get(group_id);
  const auto right = single_cases.Get(single_id);
  CHECK(left.stage == right.stage);
  CHECK(left.active_states == right.active_states);
  CHECK(left.saved_state == right.saved_state);
  CHECK(left.version == right.version);
  CHECK(left.last_sequence == right.last_sequence);
  CHECK(left.stage_entered_at == right.stage_entered_at);
  CHECK(left.next_deadline == right.next_deadline);
  CHECK(left.vulnerabilities == right.vulnerabilities);
  CHECK(left.host_country == right.host_country);
  CHECK(left.origin_country == right.origin_country);
  const auto left_history = group_cases.History(group_id);
  const auto right_history = single_cases.History(single_id);
  REQUIRE(left_history.size() == right_history.size());
  for (std::size_t row = 1; row < left_history.size(); ++row) {  // row 0: case.opened, its event id is the case id
    INFO("history row " << row);
    CHECK(left_history[row].sequence == right_history[row].sequence);
    CHECK(left_history[row].source == right_history[row].source);
    CHECK(left_history[row].event_id == right_history[row].event_id);
    CHECK(left_history[row].type == right_history[row].type);
    CHECK(left_history[row].actor == right_history[row].actor);
    CHECK(left_history[row].occurred_at == right_history[row].occurred_at);
    CHECK(left_history[row].payload_json == right_history[row].payload_json);
    CHECK(left_history[row].verdict == right_history[row].verdict);
    CHECK(left_history[row].reason == right_history[row].reason);
    CHECK(left_history[row].states_before == right_history[row].states_before);
    CHECK(left_history[row].states_after == right_history[row].states_after);
    CHECK(left_history[row].changes == right_history[row].changes);
    CHECK(left_history[row].version_after == right_history[row].version_after);
  }
}
}  // namespace

TEST_CASE("a group of different cases ends exactly as applying its events one by one",
          "[persistence][apply][group]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase group_test(backend);
  TestDatabase single_test(backend);
  CaseRepository group_cases(group_test.Db());
  CaseRepository single_cases(single_test.Db());
  const auto group_scenario = SetUpGroupScenario(group_cases);
  const auto single_scenario = SetUpGroupScenario(single_cases);
  const std::size_t count = group_scenario.events.size();

  // The group in an order that is not the case-id order.
  std::vector<GroupItem> items;
  for (std::size_t index = 0; index < count; ++index) {
    const std::size_t at = (index * 3 + 1) % count;
    items.push_back({group_scenario.case_ids[at], group_scenario.events[at]});
  }
  const auto results = group_cases.ApplyGroup(items);
  REQUIRE(results.size() == count);

  for (std::size_t index = 0; index < count; ++index) {
    const std::size_t at = (index * 3 + 1) % count;
    INFO("item " << at);
    GroupItemResult single;
    try {
      single.outcome = single_cases.Apply(single_scenario.case_ids[at], single_scenario.events[at]);
    } catch (const PersistenceError& error) {
      single.error = error.Kind();
    }
    CheckSameOutcome(results[index], single);
    if (results[index].outcome) CHECK(results[index].outcome->case_id == group_scenario.case_ids[at]);
    if (results[index].error) CHECK(results[index].error_message.find("Test Person") == std::string::npos);
    if (at + 1 < count) {
      CheckSameCase(group_cases, group_scenario.case_ids[at], single_cases, single_scenario.case_ids[at]);
    }
  }
  // Each item got its own verdict (the scenario order: applied, guard refused, not allowed, replayed,
  // key reused, If-Match stale, If-Match matching, no such case).
  auto result_of = [&](std::size_t at) -> const GroupItemResult& {
    for (std::size_t index = 0; index < count; ++index) {
      if ((index * 3 + 1) % count == at) return results[index];
    }
    FAIL("no result");
    return results[0];
  };
  REQUIRE(result_of(0).outcome);
  CHECK(result_of(0).outcome->result.verdict == workflow::Verdict::kApplied);
  REQUIRE(result_of(1).outcome);
  CHECK(result_of(1).outcome->result.verdict == workflow::Verdict::kGuardRefused);
  REQUIRE(result_of(2).outcome);
  CHECK(result_of(2).outcome->result.verdict == workflow::Verdict::kNotAllowed);
  REQUIRE(result_of(3).outcome);
  CHECK(result_of(3).outcome->replayed);
  CHECK(result_of(4).error == ErrorKind::kIdempotencyConflict);
  CHECK(result_of(5).error == ErrorKind::kVersionConflict);
  REQUIRE(result_of(6).outcome);
  CHECK(result_of(6).outcome->result.verdict == workflow::Verdict::kApplied);
  CHECK(result_of(7).error == ErrorKind::kNotFound);
  CHECK(group_test.QueryNumber("SELECT COUNT(*) FROM case_events") ==
        single_test.QueryNumber("SELECT COUNT(*) FROM case_events"));

  // The same group again: every event is now a redelivery (or the same error).
  const auto again = group_cases.ApplyGroup(items);
  REQUIRE(again.size() == count);
  for (std::size_t index = 0; index < count; ++index) {
    CHECK(again[index].error == results[index].error);
    if (results[index].outcome) {
      REQUIRE(again[index].outcome);
      CHECK(again[index].outcome->replayed);
      CHECK(again[index].outcome->sequence == results[index].outcome->sequence);
      CHECK(again[index].outcome->result.verdict == results[index].outcome->result.verdict);
    }
  }
}

TEST_CASE("a group item whose idempotency key another case holds is a conflict, its batch-mate applies",
          "[persistence][apply][group]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto first = cases.Create(SyntheticCase());
  const auto second = cases.Create(SyntheticCase());
  // A key already used by another case, inside a group of otherwise fresh events.
  cases.Apply(second.case_id, MakeEvent("eligibility.review_started", "{}", "taken"));
  const std::vector<GroupItem> items{
      {first.case_id, MakeEvent("eligibility.review_started", "{}", "taken")},
      {second.case_id, MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", "fresh")},
  };
  const auto results = cases.ApplyGroup(items);
  REQUIRE(results.size() == 2);
  CHECK(results[0].error == ErrorKind::kIdempotencyConflict);  // same key, other subject
  REQUIRE(results[1].outcome);
  CHECK(results[1].outcome->result.Applied());
  CHECK(cases.Get(first.case_id).last_sequence == 1);
  CHECK(cases.Get(second.case_id).version == 3);
  CHECK(cases.Get(second.case_id).last_sequence == 3);
}

TEST_CASE("concurrent groups racing for one idempotency key record it once and keep their batch-mates",
          "[persistence][apply][group][concurrency]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend, 8);
  CaseRepository cases(test.Db());
  constexpr int kThreads = 6;
  constexpr int kRounds = 15;
  std::vector<std::string> racing, own;
  for (int thread = 0; thread < kThreads; ++thread) {
    racing.push_back(cases.Create(SyntheticCase()).case_id);
    own.push_back(cases.Create(SyntheticCase()).case_id);
  }
  std::vector<int> fresh(kThreads, 0), conflicts(kThreads, 0), failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int round = 0; round < kRounds; ++round) {
        // The racing case's event is never applied (a new case cannot depart), so every round starts alike.
        const std::vector<GroupItem> items{
            {racing[thread], MakeEvent("travel.departed", "{}", "race-" + std::to_string(round))},
            {own[thread], MakeEvent("travel.departed", "{}", "own-" + std::to_string(thread) + "-" +
                                                                  std::to_string(round))},
        };
        const auto results = cases.ApplyGroup(items);
        if (results.size() != 2 || !results[1].outcome || results[1].outcome->replayed) ++failures[thread];
        if (results.size() == 2 && results[0].outcome && !results[0].outcome->replayed) ++fresh[thread];
        if (results.size() == 2 && results[0].error == ErrorKind::kIdempotencyConflict) ++conflicts[thread];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  int total_fresh = 0, total_conflicts = 0;
  for (int thread = 0; thread < kThreads; ++thread) {
    CHECK(failures[thread] == 0);
    total_fresh += fresh[thread];
    total_conflicts += conflicts[thread];
  }
  CHECK(total_fresh == kRounds);
  CHECK(total_conflicts == kRounds * (kThreads - 1));
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM case_events WHERE event_id LIKE 'race-%'") == kRounds);
  long long racing_sequences = 0;
  for (int thread = 0; thread < kThreads; ++thread) {
    racing_sequences += cases.Get(racing[thread]).last_sequence - 1;
    CHECK(cases.Get(own[thread]).last_sequence == 1 + kRounds);
    CHECK(cases.Get(own[thread]).version == 1);
  }
  CHECK(racing_sequences == kRounds);
}

namespace {
/// One group of one event per case, `events[k]` for `case_ids[k]`, in reverse case order (not the
/// case-id order a group is written in).
std::vector<GroupItem> GroupOf(const std::vector<std::string>& case_ids, const std::vector<IncomingEvent>& events) {
  std::vector<GroupItem> items;
  for (std::size_t index = case_ids.size(); index-- > 0;) items.push_back({case_ids[index], events[index]});
  return items;
}

GroupItemResult ApplyAlone(CaseRepository& cases, const std::string& case_id, const IncomingEvent& event) {
  GroupItemResult result;
  try {
    result.outcome = cases.Apply(case_id, event);
  } catch (const PersistenceError& error) {
    result.error = error.Kind();
  }
  return result;
}
}  // namespace

TEST_CASE("groups of cached cases are written from the cache and end as applying their events one by one",
          "[persistence][apply][group]") {
  TestDatabase group_test(Backend::kPostgresql);
  TestDatabase single_test(Backend::kPostgresql);
  CaseRepository group_cases(group_test.Db());
  CaseRepository single_cases(single_test.Db());
  std::vector<std::string> group_ids, single_ids;
  for (int index = 0; index < 4; ++index) {
    group_ids.push_back(group_cases.Create(SyntheticCase()).case_id);
    single_ids.push_back(single_cases.Create(SyntheticCase()).case_id);
  }
  auto confirmed = [](const std::string& id, const std::string& country = "BD") {
    return MakeEvent("eligibility.confirmed", R"({"destination_country":")" + country + R"("})", id, "caseworker-system", 2);
  };
  auto matching = confirmed("r2-matching");
  matching.expected_version = 2;
  // Round 1 reads the new cases under locks (nothing cached yet); rounds 2 and 3 decide on the states the
  // previous round left in the cache: applied, guard refused, not allowed, If-Match matching, then the
  // next event of each, which is right only if the refusals' cached states are.
  const std::vector<std::vector<IncomingEvent>> rounds{
      {MakeEvent("eligibility.review_started", "{}", "r1-0"), MakeEvent("eligibility.review_started", "{}", "r1-1"),
       MakeEvent("eligibility.review_started", "{}", "r1-2"), MakeEvent("eligibility.review_started", "{}", "r1-3")},
      {confirmed("r2-applied"), confirmed("r2-refused", "XX"), MakeEvent("travel.departed", "{}", "r2-not-allowed"),
       matching},
      {MakeEvent("counselling.session_held", "{}", "r3-0", "caseworker-system", 3), confirmed("r3-1"),
       confirmed("r3-2"), MakeEvent("counselling.session_held", "{}", "r3-3", "caseworker-system", 3)},
  };
  const std::vector<GroupPath> expected_paths{GroupPath::kLocked, GroupPath::kFromCache, GroupPath::kFromCache};
  for (std::size_t round = 0; round < rounds.size(); ++round) {
    INFO("round " << round + 1);
    auto path = GroupPath::kOneByOne;
    const auto results = group_cases.ApplyGroup(GroupOf(group_ids, rounds[round]), &path);
    CHECK(Name(path) == Name(expected_paths[round]));
    REQUIRE(results.size() == group_ids.size());
    for (std::size_t index = 0; index < group_ids.size(); ++index) {
      const std::size_t at = group_ids.size() - 1 - index;
      INFO("case " << at);
      CheckSameOutcome(results[index], ApplyAlone(single_cases, single_ids[at], rounds[round][at]));
      CheckSameCase(group_cases, group_ids[at], single_cases, single_ids[at]);
    }
  }
  CHECK(group_cases.Get(group_ids[1]).stage == "counselling");  // confirmed in round 3 after its refusal
}

TEST_CASE("a case another process changed since it was cached is decided again on its stored state",
          "[persistence][apply][group]") {
  TestDatabase test(Backend::kPostgresql);
  CaseRepository cases(test.Db());
  auto other_database = test.OpenAnother();
  CaseRepository other(*other_database);  // another process, with a cache of its own
  const auto created = cases.Create(SyntheticCase());
  const auto& id = created.case_id;
  auto path = GroupPath::kOneByOne;
  cases.ApplyGroup({{id, MakeEvent("eligibility.review_started", "{}", "s-1", "caseworker-system", 1)}}, &path);
  CHECK(Name(path) == "locked");  // and cached at version 2, under review

  other.Apply(id, MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", "s-2", "caseworker-system", 2));

  SECTION("the next event is decided on the case as the other process left it") {
    // On the cached state (still under review) a counselling session would be not allowed.
    const auto results =
        cases.ApplyGroup({{id, MakeEvent("counselling.session_held", "{}", "s-3", "caseworker-system", 3)}}, &path);
    CHECK(Name(path) == "locked");
    REQUIRE(results.size() == 1);
    REQUIRE(results[0].outcome);
    CHECK(results[0].outcome->result.verdict == workflow::Verdict::kApplied);
    CHECK(results[0].outcome->sequence == 4);
    CHECK(results[0].outcome->version == 4);
  }
  SECTION("an If-Match naming the version the other process made is not a conflict") {
    auto event = MakeEvent("counselling.session_held", "{}", "s-3", "caseworker-system", 3);
    event.expected_version = 3;
    const auto results = cases.ApplyGroup({{id, event}}, &path);
    CHECK(Name(path) == "locked");
    REQUIRE(results.size() == 1);
    REQUIRE(results[0].outcome);
    CHECK(results[0].outcome->result.Applied());
  }
  const auto record = cases.Get(id);
  CHECK(record.version == 4);
  CHECK(record.last_sequence == 4);
  CHECK(record.stage == "counselling");
  const auto history = cases.History(id);
  REQUIRE(history.size() == 4);
  for (std::size_t index = 0; index < history.size(); ++index) CHECK(history[index].sequence == static_cast<long long>(index + 1));

  // Written by this process, the case is cached again: the next group needs no read.
  cases.ApplyGroup({{id, MakeEvent("counselling.session_held", "{}", "s-4", "caseworker-system", 4)}}, &path);
  CHECK(Name(path) == "from_cache");
  CHECK(cases.Get(id).version == 5);
}

TEST_CASE("a cached write is checked against the stored version, not only the history position",
          "[persistence][apply][group]") {
  TestDatabase test(Backend::kPostgresql);
  CaseRepository cases(test.Db());
  const auto id = cases.Create(SyntheticCase()).case_id;
  auto path = GroupPath::kOneByOne;
  cases.ApplyGroup({{id, MakeEvent("eligibility.review_started", "{}", "v-1")}}, &path);
  // A change that leaves no history row (an operator's repair, say): only the version check notices it.
  test.Execute("UPDATE cases SET version = version + 10 WHERE case_id = '" + id + "'");
  const auto results = cases.ApplyGroup(
      {{id, MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", "v-2")}}, &path);
  CHECK(Name(path) == "locked");
  REQUIRE(results.size() == 1);
  REQUIRE(results[0].outcome);
  CHECK(results[0].outcome->version == 13);
  CHECK(cases.Get(id).version == 13);
}

TEST_CASE("a redelivered event of a cached case gets its recorded outcome and its batch-mate applies",
          "[persistence][apply][group][idempotency]") {
  TestDatabase test(Backend::kPostgresql);
  CaseRepository cases(test.Db());
  const auto first = cases.Create(SyntheticCase()).case_id;
  const auto second = cases.Create(SyntheticCase()).case_id;
  const auto review = MakeEvent("eligibility.review_started", "{}", "d-1");
  auto path = GroupPath::kOneByOne;
  const auto original = cases.ApplyGroup({{first, review}, {second, MakeEvent("eligibility.review_started", "{}", "d-2")}}, &path);
  REQUIRE(original[0].outcome);

  // Both cases are cached; the redelivery's key is already in the history, so the write from the cache
  // fails as a whole and the group is decided again under locks.
  const auto results = cases.ApplyGroup(
      {{first, review}, {second, MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", "d-3")}}, &path);
  CHECK(Name(path) == "locked");
  REQUIRE(results.size() == 2);
  REQUIRE(results[0].outcome);
  CHECK(results[0].outcome->replayed);
  CHECK(results[0].outcome->sequence == original[0].outcome->sequence);
  CHECK(results[0].outcome->result.verdict == original[0].outcome->result.verdict);
  REQUIRE(results[1].outcome);
  CHECK(results[1].outcome->result.Applied());
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM case_events WHERE event_id = 'd-1'") == 1);
  CHECK(cases.Get(first).last_sequence == 2);
  CHECK(cases.Get(second).last_sequence == 3);
}

TEST_CASE("a connection lost between groups costs no event of a cached case", "[persistence][apply][group][reconnect]") {
  TestDatabase test(Backend::kPostgresql, 1);
  CaseRepository cases(test.Db());
  const auto id = cases.Create(SyntheticCase()).case_id;
  auto path = GroupPath::kOneByOne;
  cases.ApplyGroup({{id, MakeEvent("eligibility.review_started", "{}", "c-1")}}, &path);
  long long pid = 0;
  {
    auto lease = test.Db().Lease();
    lease.Session() << "SELECT pg_backend_pid()", soci::into(pid);
  }
  {
    auto admin = test.OpenAnother(1);
    auto lease = admin->Lease();
    int terminated = 0;
    lease.Session() << "SELECT CASE WHEN pg_terminate_backend(" + std::to_string(pid) + ") THEN 1 ELSE 0 END",
        soci::into(terminated);
    REQUIRE(terminated == 1);
  }
  // The write from the cache meets the dead connection; the locked path reconnects and applies it once.
  const auto results = cases.ApplyGroup(
      {{id, MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", "c-2")}}, &path);
  CHECK(Name(path) == "locked");
  REQUIRE(results.size() == 1);
  REQUIRE(results[0].outcome);
  CHECK(results[0].outcome->result.Applied());
  CHECK_FALSE(results[0].outcome->replayed);
  CHECK(cases.Get(id).version == 3);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM case_events WHERE event_id = 'c-2'") == 1);
}

TEST_CASE("the case-state cache keeps the most recently used cases within its capacity", "[persistence][group]") {
  internal::CaseStateCache cache(2);
  cache.Remember("a", {"saved-a", 1, 1, 0, {}, {}, {}, {}});
  cache.Remember("b", {"saved-b", 2, 2, 0, {}, {}, {}, {}});
  REQUIRE(cache.Find("a"));  // a is now the most recently used
  cache.Remember("c", {"saved-c", 3, 3, 0, {}, {}, {}, {}});
  CHECK_FALSE(cache.Find("b"));
  REQUIRE(cache.Find("a"));
  CHECK(cache.Find("a")->saved_state == "saved-a");
  REQUIRE(cache.Find("c"));
  cache.Remember("c", {"saved-c2", 4, 5, 0, {}, {}, {}, {}});
  CHECK(cache.Find("c")->last_sequence == 5);
  cache.Forget("c");
  CHECK_FALSE(cache.Find("c"));
  internal::CaseStateCache disabled(0);
  disabled.Remember("a", {"saved-a", 1, 1, 0, {}, {}, {}, {}});
  CHECK_FALSE(disabled.Find("a"));
}
