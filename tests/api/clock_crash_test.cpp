// kill -9 of `returnflow serve` while its clock fires: after a restart every timer is applied exactly
// once (a firing is an event with a stable id, committed with its timer's removal), on SQLite and on
// PostgreSQL. Time is moved with the testing clock; the kill comes once firing has visibly begun.
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <soci/soci.h>

#include "tests/api/child_server.hpp"
#include "tests/api/support.hpp"

namespace returnflow {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// The clock's deadline.passed rows of the office's cases, read straight from the database.
long long ClockRows(const std::string& database, const std::string& office) {
  test::OpenedDatabase reader(database);
  long long rows = 0;
  reader.database.Read("count clock rows", [&](soci::session& sql) {
    sql << "SELECT COUNT(*) FROM case_events e JOIN cases c ON c.case_id = e.case_id WHERE c.office = :office AND "
           "e.source = 'returnflow:clock' AND e.type = 'deadline.passed'",
        soci::use(office, "office"), soci::into(rows);
  });
  return rows;
}

}  // namespace

TEST_CASE("returnflow serve killed with SIGKILL while its clock fires applies every timer exactly once after a restart",
          "[api][crash][clock]") {
  auto backend = GENERATE(from_range(test::Backends()));
  SECTION(test::Name(backend)) {
    const test::ScratchDirectory directory("returnflow-clock-crash");
    // On PostgreSQL a database of its own: this engine's clock moves by days (see PostgresDatabase).
    std::optional<test::OwnPostgresDatabase> own;
    if (backend == test::Backend::kPostgresql) own.emplace(directory.Path());
    const std::string database = own ? own->Url() : test::ChildDatabaseUrl(true, directory.Path());
    const std::string office = test::Unique("office-clock-crash");
    const std::string caseworker =
        test::CreateCaseworkerToken(database, directory.Path(), test::Unique("caseworker-clock"), office);
    std::string admin = test::RunReturnflow({"token", "create", "--database", database, "--name",
                                             test::Unique("admin-clock"), "--role", "admin"},
                                            directory.Path(), "token-create-admin");
    admin.erase(admin.find_last_not_of(" \r\n") + 1);
    constexpr int kCases = 300;
    std::vector<std::string> cases;
    {
      test::ServeProcess serve(database, directory.Path(), "serve-0", {"--testing-clock"});
      test::HttpClient client(serve.Port(), caseworker);
      for (int index = 0; index < kCases; ++index) {
        auto referral = test::Referral(office);
        referral.erase("received_at");  // received now: the eligibility deadline is 7 days away
        auto created = client.PostJson("/cases", referral);
        REQUIRE(created.status == 201);
        cases.emplace_back(created.Json().at("case_id").as_string());
      }
      REQUIRE(ClockRows(database, office) == 0);
      // Eight days pass; the kill comes as soon as the first firings are committed.
      std::thread mover([&] {
        test::HttpClient mover_client(serve.Port(), admin);
        try {
          mover_client.PostJson("/testing/clock", json::object{{"advance", "8d"}});
        } catch (...) {
          // The server is killed under it: no answer is expected.
        }
      });
      const auto deadline = Clock::now() + 60s;
      while (ClockRows(database, office) == 0 && Clock::now() < deadline) std::this_thread::yield();
      serve.Process().Signal(SIGKILL);
      mover.join();
      REQUIRE(serve.Process().WaitExit(10s).has_value());
      serve.WaitForDatabaseSessionsToEnd(10s);
    }
    const auto before_restart = ClockRows(database, office);
    CHECK(before_restart > 0);
    INFO("fired before the kill: " << before_restart << " of " << kCases);
    {
      // The testing clock lived in the killed process: the restarted one moves its own, a day further
      // than eight, past the lease (scheduler.lease, 30 s) the killed process held on what it had claimed.
      test::ServeProcess serve(database, directory.Path(), "serve-1", {"--testing-clock"});
      test::HttpClient mover(serve.Port(), admin);
      auto moved = mover.PostJson("/testing/clock", json::object{{"advance", "9d"}});
      INFO(moved.body);
      REQUIRE(moved.status == 200);
      // Everything is fired once; a timer fired before the kill is not fired again.
      CHECK(ClockRows(database, office) == kCases);
      test::OpenedDatabase reader(database);
      for (const auto& case_id : cases) {
        INFO(case_id);
        const auto history = test::FullHistory(reader.cases, case_id);
        int fired = 0, warned = 0;
        for (const auto& entry : history) {
          fired += entry.type == "deadline.passed";
          warned += entry.type == "deadline.approaching";
        }
        CHECK(fired == 1);
        CHECK(warned == 1);  // two days before the deadline
        CHECK(reader.cases.Get(case_id).version == 3);  // opened, warned, then overdue: nothing else
      }
    }
  }
}

}  // namespace returnflow
