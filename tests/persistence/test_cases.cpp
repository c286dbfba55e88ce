#include <soci/soci.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <thread>

#include "tests/persistence/support.hpp"

using namespace returnflow;
using namespace returnflow::persistence;
using persistence::testing::BackendName;
using persistence::testing::MakeEvent;
using persistence::testing::SyntheticCase;
using persistence::testing::TestDatabase;
using persistence::testing::ToCounsellingEvents;

namespace {
ErrorKind KindOf(const std::function<void()>& action) {
  try {
    action();
  } catch (const PersistenceError& error) {
    return error.Kind();
  }
  FAIL("expected a PersistenceError");
  return ErrorKind::kInternal;
}
}  // namespace

TEST_CASE("a created case can be read back with its workflow data and no personal data", "[persistence][cases]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());

  auto new_case = SyntheticCase("office-jakarta", {"embassy-bd", "iom-reception-dhaka"});
  new_case.context.household[0].vulnerabilities = {workflow::Vulnerability::kHealthNeeds};
  const auto created = cases.Create(new_case);

  CHECK(created.case_id.size() == 36);
  CHECK(created.version == 1);
  CHECK(created.last_sequence == 1);
  CHECK(created.stage == "referral");
  CHECK(created.active_states == std::vector<std::string>{"referral.received"});
  CHECK(created.host_country == "ID");
  CHECK(created.origin_country == "BD");
  CHECK(created.partners == std::vector<std::string>{"embassy-bd", "iom-reception-dhaka"});
  CHECK(created.vulnerabilities == std::set<workflow::Vulnerability>{workflow::Vulnerability::kHealthNeeds});
  REQUIRE(created.next_deadline.has_value());

  const auto fetched = cases.Get(created.case_id);
  CHECK(fetched.saved_state == created.saved_state);
  CHECK(workflow::Case::Restore(fetched.saved_state).ActiveStates() == created.active_states);
  // Personal data stays in `people`.
  CHECK(fetched.saved_state.find("Test Person") == std::string::npos);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM people") == 1);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM case_events WHERE payload LIKE '%Test Person%'") == 0);

  const auto history = cases.History(created.case_id);
  REQUIRE(history.size() == 1);
  CHECK(history[0].type == "case.opened");
  CHECK(history[0].sequence == 1);

  CHECK_FALSE(cases.Find("00000000-0000-4000-8000-000000000000").has_value());
  CHECK(KindOf([&] { cases.Get("00000000-0000-4000-8000-000000000000"); }) == ErrorKind::kNotFound);
  CHECK(KindOf([&] { cases.Get("not-a-case-id"); }) == ErrorKind::kNotFound);
}

TEST_CASE("a creation request delivered twice creates one case", "[persistence][cases][idempotency]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  auto new_case = SyntheticCase();
  new_case.request_source = "caseworker-tool";
  new_case.request_id = "referral-77";
  const auto first = cases.Create(new_case);
  const auto second = cases.Create(new_case);
  CHECK(first.case_id == second.case_id);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM cases") == 1);
  new_case.office = "office-other";
  CHECK(KindOf([&] { cases.Create(new_case); }) == ErrorKind::kIdempotencyConflict);
}

TEST_CASE("applying events records applied, not-allowed and guard-refused outcomes", "[persistence][apply]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto created = cases.Create(SyntheticCase());

  const auto applied = cases.Apply(created.case_id, MakeEvent("eligibility.review_started", "{}", "e1"));
  CHECK(applied.result.verdict == workflow::Verdict::kApplied);
  CHECK(applied.sequence == 2);
  CHECK(applied.version == 2);
  CHECK_FALSE(applied.replayed);
  CHECK(applied.result.to == std::vector<std::string>{"referral.eligibility_review"});

  // Departure from the referral stage: no such transition.
  const auto not_allowed = cases.Apply(created.case_id, MakeEvent("travel.departed", "{}", "e2"));
  CHECK(not_allowed.result.verdict == workflow::Verdict::kNotAllowed);
  CHECK(not_allowed.sequence == 3);
  CHECK(not_allowed.version == 2);

  // An unsafe destination is refused by the eligibility guard.
  const auto refused =
      cases.Apply(created.case_id, MakeEvent("eligibility.confirmed", R"({"destination_country":"XX"})", "e3"));
  CHECK(refused.result.verdict == workflow::Verdict::kGuardRefused);
  CHECK(refused.result.reason == "destination_unsafe");
  CHECK(refused.sequence == 4);
  CHECK(refused.version == 2);

  const auto after = cases.Get(created.case_id);
  CHECK(after.version == 2);
  CHECK(after.last_sequence == 4);
  CHECK(after.active_states == std::vector<std::string>{"referral.eligibility_review"});

  const auto history = cases.History(created.case_id);
  REQUIRE(history.size() == 4);
  CHECK(history[1].verdict == "applied");
  CHECK(history[2].verdict == "not_allowed");
  CHECK(history[3].verdict == "guard_refused");
  CHECK(history[3].reason == "destination_unsafe");
  CHECK(history[3].states_before == history[3].states_after);
  CHECK(history[3].payload_json == R"({"destination_country":"XX"})");

  // Paging through the history.
  const auto tail = cases.History(created.case_id, 2, 1);
  REQUIRE(tail.size() == 1);
  CHECK(tail[0].sequence == 3);

  CHECK(KindOf([&] {
          cases.Apply("00000000-0000-4000-8000-000000000000", MakeEvent("travel.departed", "{}", "e9"));
        }) == ErrorKind::kNotFound);
}

TEST_CASE("an If-Match version that is not current is a conflict and changes nothing", "[persistence][apply]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto created = cases.Create(SyntheticCase());

  auto event = MakeEvent("eligibility.review_started", "{}", "e1");
  event.expected_version = 7;
  CHECK(KindOf([&] { cases.Apply(created.case_id, event); }) == ErrorKind::kVersionConflict);
  CHECK(cases.Get(created.case_id).last_sequence == 1);

  event.expected_version = 1;
  const auto outcome = cases.Apply(created.case_id, event);
  CHECK(outcome.result.Applied());
  CHECK(outcome.version == 2);
}

TEST_CASE("a redelivered event returns the original outcome and is applied once", "[persistence][idempotency]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto created = cases.Create(SyntheticCase());

  const auto first = cases.Apply(created.case_id, MakeEvent("eligibility.review_started", "{}", "dup-1", "embassy"));
  auto again_event = MakeEvent("eligibility.review_started", "{ }", "dup-1", "embassy", 5);  // same data, other spacing
  again_event.expected_version = 1;  // a stale If-Match does not matter for a redelivery
  const auto again = cases.Apply(created.case_id, again_event);
  CHECK(again.replayed);
  CHECK(again.sequence == first.sequence);
  CHECK(again.version == first.version);
  CHECK(again.result.verdict == first.result.verdict);
  CHECK(again.result.to == first.result.to);
  CHECK(again.result.allowed_events == first.result.allowed_events);
  CHECK(cases.Get(created.case_id).version == 2);
  CHECK(cases.History(created.case_id).size() == 2);

  // A rejected event redelivered is a replay of the rejection.
  const auto rejected = cases.Apply(created.case_id, MakeEvent("travel.departed", "{}", "dup-2", "embassy"));
  const auto rejected_again = cases.Apply(created.case_id, MakeEvent("travel.departed", "{}", "dup-2", "embassy"));
  CHECK(rejected_again.replayed);
  CHECK(rejected_again.result.verdict == workflow::Verdict::kNotAllowed);
  CHECK(rejected_again.sequence == rejected.sequence);

  // Same (source, id) from another source is another event.
  const auto other_source = cases.Apply(created.case_id, MakeEvent("travel.departed", "{}", "dup-2", "airline"));
  CHECK_FALSE(other_source.replayed);
}

TEST_CASE("the same event id with another payload, type or case is a conflict", "[persistence][idempotency]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto first_case = cases.Create(SyntheticCase());
  const auto second_case = cases.Create(SyntheticCase());
  for (const auto& event : ToCounsellingEvents("c1")) cases.Apply(first_case.case_id, event);

  cases.Apply(first_case.case_id, MakeEvent("case.suspended", R"({"reason":"medical"})", "k-1"));
  CHECK(KindOf([&] {
          cases.Apply(first_case.case_id, MakeEvent("case.suspended", R"({"reason":"legal_impediment"})", "k-1"));
        }) == ErrorKind::kIdempotencyConflict);
  CHECK(KindOf([&] { cases.Apply(first_case.case_id, MakeEvent("case.resumed", "{}", "k-1")); }) ==
        ErrorKind::kIdempotencyConflict);
  CHECK(KindOf([&] {
          cases.Apply(second_case.case_id, MakeEvent("case.suspended", R"({"reason":"medical"})", "k-1"));
        }) == ErrorKind::kIdempotencyConflict);
  CHECK(cases.Get(second_case.case_id).last_sequence == 1);
}

TEST_CASE("concurrent deliveries of one event apply it once", "[persistence][idempotency][concurrency]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend, 8);
  CaseRepository cases(test.Db());
  const auto created = cases.Create(SyntheticCase());
  const auto other = cases.Create(SyntheticCase());
  for (const auto& event : ToCounsellingEvents("warmup")) cases.Apply(created.case_id, event);

  constexpr int kThreads = 8;
  constexpr int kRounds = 20;
  std::vector<std::vector<ApplyOutcome>> outcomes(kThreads);
  std::vector<int> conflicts(kThreads, 0);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int round = 0; round < kRounds; ++round) {
        const auto id = "concurrent-" + std::to_string(round);
        // Half the threads aim the duplicate at another case: the unique key has to catch those.
        const auto& target = (thread % 4 == 3) ? other.case_id : created.case_id;
        try {
          outcomes[thread].push_back(cases.Apply(target, MakeEvent("counselling.session_held", "{}", id)));
        } catch (const PersistenceError& error) {
          if (error.Kind() != ErrorKind::kIdempotencyConflict) throw;
          ++conflicts[thread];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  int fresh = 0;
  for (int thread = 0; thread < kThreads; ++thread) {
    for (const auto& outcome : outcomes[thread]) fresh += outcome.replayed ? 0 : 1;
  }
  CHECK(fresh == kRounds);
  const auto after = cases.Get(created.case_id);
  const auto other_after = cases.Get(other.case_id);
  CHECK(after.last_sequence + other_after.last_sequence == 4 + 1 + kRounds);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM case_events WHERE event_id LIKE 'concurrent-%'") == kRounds);
}

TEST_CASE("verify replays every case and reports a tampered saved state", "[persistence][verify]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto honest = cases.Create(SyntheticCase());
  const auto tampered = cases.Create(SyntheticCase());
  for (const auto& id : {honest.case_id, tampered.case_id}) {
    for (const auto& event : ToCounsellingEvents(id)) cases.Apply(id, event);
    cases.Apply(id, MakeEvent("travel.departed", "{}", id + "-rejected"));
  }
  const auto clean = VerifyAllCases(test.Db());
  CHECK(clean.cases_checked == 2);
  CHECK(clean.events_replayed == 8);
  CHECK(clean.Ok());

  // Someone edits the saved state behind the engine's back: three sessions become one.
  auto saved = cases.Get(tampered.case_id).saved_state;
  const auto where = saved.find("\"counselling_sessions\":1");
  REQUIRE(where != std::string::npos);
  saved.replace(where, std::string("\"counselling_sessions\":1").size(), "\"counselling_sessions\":3");
  test.Execute("UPDATE cases SET saved_state = '" + saved + "' WHERE case_id = '" + tampered.case_id + "'");

  const auto report = VerifyAllCases(test.Db());
  REQUIRE(report.mismatches.size() == 1);
  CHECK(report.mismatches[0].case_id == tampered.case_id);
  CHECK_FALSE(VerifyCase(test.Db(), honest.case_id).has_value());
}

TEST_CASE("a lost PostgreSQL connection is re-established on next use", "[persistence][reconnect]") {
  TestDatabase test(Backend::kPostgresql, 1);
  CaseRepository cases(test.Db());
  const auto created = cases.Create(SyntheticCase());
  auto admin = test.OpenAnother(1);
  long long pid = 0;
  {
    auto lease = test.Db().Lease();
    lease.Session() << "SELECT pg_backend_pid()", soci::into(pid);
  }
  {
    auto lease = admin->Lease();
    int terminated = 0;
    lease.Session() << "SELECT CASE WHEN pg_terminate_backend(" + std::to_string(pid) + ") THEN 1 ELSE 0 END",
        soci::into(terminated);
    REQUIRE(terminated == 1);
  }
  // The pooled session is dead; the next unit of work reconnects instead of failing.
  const auto outcome = cases.Apply(created.case_id, MakeEvent("eligibility.review_started", "{}", "after-loss"));
  CHECK(outcome.result.Applied());
  CHECK(cases.Get(created.case_id).version == 2);
}
