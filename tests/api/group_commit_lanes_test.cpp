// The group committer's two lanes on a real PostgreSQL database: a caller's event never waits behind
// the clock's firings, and a lane that stopped because the other lane held its case starts again when
// that case commits. A row lock taken by the test holds a group in flight for as long as it needs.
#include <chrono>
#include <future>
#include <thread>

#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <soci/soci.h>

#include "engine/group_commit.hpp"
#include "engine/scheduler.hpp"
#include "persistence/repository.hpp"
#include "tests/api/support.hpp"

using namespace returnflow;
namespace net = boost::asio;

namespace {

constexpr auto kPatience = std::chrono::seconds(30);

struct LaneFixture {
  LaneFixture() {
    const char* url = std::getenv("RETURNFLOW_TEST_PG_URL");
    if (!url || !*url) FAIL("RETURNFLOW_TEST_PG_URL is not set (./scripts/test.sh starts a throwaway PostgreSQL)");
    persistence::DatabaseOptions options;
    options.url = persistence::NormaliseDatabaseUrl(url);
    options.pool_size = 4;
    database = std::make_unique<persistence::Database>(options);
    database->Migrate();
    options.pool_size = 1;
    locker = std::make_unique<persistence::Database>(options);
    workflow::Programme programme;
    programme.code = test::Unique("lanes");
    programme.name = "group commit lanes test";
    persistence::ProgrammeRepository(*database).Register(programme);
    programme_code = programme.code;
    cases = std::make_unique<persistence::CaseRepository>(*database);
    // Small clock groups, one at a time; callers' groups as the engine's defaults allow.
    committer = std::make_unique<engine::GroupCommitter>(*cases, workers, 4, 64, nullptr, 1, 8);
  }
  ~LaneFixture() { workers.join(); }

  std::string NewCase() {
    persistence::NewCase new_case;
    new_case.programme = programme_code;
    new_case.office = test::Unique("office-lanes");
    new_case.context.host_country = "ID";
    new_case.context.origin_country = "BD";
    new_case.context.opened_at = std::chrono::floor<std::chrono::seconds>(database->Now());
    new_case.context.household.push_back({"m1", workflow::Relationship::kPrincipal, workflow::Sex::kFemale, 1991, {}});
    new_case.meta = {"lanes-test", new_case.context.opened_at};
    return cases->Create(new_case).case_id;
  }

  std::future<persistence::GroupItemResult> CallerEvent(const std::string& case_id) {
    persistence::IncomingEvent incoming;
    incoming.source = "urn:lanes-test";
    incoming.event_id = test::Unique("review");
    incoming.type = "eligibility.review_started";
    incoming.data_json = "{}";
    workflow::DecodeError error;
    auto event = workflow::DecodeEvent(incoming.type, boost::json::object{}, error);
    REQUIRE(event);
    incoming.event = std::move(*event);
    incoming.meta = {"lanes-test", std::chrono::floor<std::chrono::seconds>(database->Now())};
    return committer->AsyncApply(persistence::GroupItem{case_id, std::move(incoming)}, net::use_future);
  }

  /// The clock's firing of the case's eligibility deadline (it goes to the clock's lane).
  std::future<persistence::GroupItemResult> ClockEvent(const std::string& case_id) {
    const auto timers = cases->Timers(case_id);
    REQUIRE_FALSE(timers.empty());
    persistence::DueTimer timer{case_id, timers.front().kind, timers.front().due, 1};
    auto incoming = engine::ClockEvent(timer);
    REQUIRE(incoming.fired_timer);
    return committer->AsyncApply(persistence::GroupItem{case_id, std::move(incoming)}, net::use_future);
  }

  /// Holds the case's row locked until Release(): a group writing that case waits, in flight.
  void Lock(const std::string& case_id) {
    lock = std::make_unique<persistence::SessionLease>(locker->Lease());
    lock->Session().begin();
    int one = 0;
    lock->Session() << "SELECT 1 FROM cases WHERE case_id = :id FOR UPDATE", soci::use(case_id), soci::into(one);
    REQUIRE(one == 1);
  }
  void Release() {
    lock->Session().rollback();
    lock.reset();
  }

  /// Waits (bounded) until a writer of the case's row is waiting for the test's lock.
  void WaitForBlockedWriter() {
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    for (;;) {
      int waiting = 0;
      // Only sessions blocked by this one: other tests' lock waits on the shared database do not count.
      lock->Session() << "SELECT COUNT(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))",
          soci::into(waiting);
      if (waiting > 0) return;
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::yield();
    }
  }

  net::thread_pool workers{4};
  std::unique_ptr<persistence::Database> database;
  std::unique_ptr<persistence::Database> locker;
  std::unique_ptr<persistence::CaseRepository> cases;
  std::unique_ptr<engine::GroupCommitter> committer;
  std::unique_ptr<persistence::SessionLease> lock;
  std::string programme_code;
};

bool Committed(std::future<persistence::GroupItemResult>& result) {
  if (result.wait_for(kPatience) != std::future_status::ready) return false;
  const auto item = result.get();
  INFO(item.error_message);
  return item.outcome.has_value();
}

}  // namespace

TEST_CASE("a caller's event commits while the clock's group is held in flight", "[api][group_commit][pg]") {
  LaneFixture fixture;
  const auto held = fixture.NewCase();
  const auto other = fixture.NewCase();
  fixture.Lock(held);
  auto firing = fixture.ClockEvent(held);
  fixture.WaitForBlockedWriter();
  // One lane would put this event in the held group's queue, behind it, until the lock goes.
  auto event = fixture.CallerEvent(other);
  CHECK(Committed(event));
  CHECK(firing.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
  fixture.Release();
  CHECK(Committed(firing));
}

TEST_CASE("a lane that stopped for a case the other lane held starts again when it commits",
          "[api][group_commit][pg]") {
  LaneFixture fixture;
  const auto held = fixture.NewCase();
  const auto other = fixture.NewCase();
  fixture.Lock(held);
  auto event = fixture.CallerEvent(held);
  fixture.WaitForBlockedWriter();
  // The clock's lane takes `other`, skips `held` (in flight in the callers' lane) and stops, with the
  // firing of `held` still queued.
  auto waiting = fixture.ClockEvent(held);
  auto passing = fixture.ClockEvent(other);
  CHECK(Committed(passing));
  CHECK(waiting.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
  fixture.Release();
  CHECK(Committed(event));
  CHECK(Committed(waiting));
}
