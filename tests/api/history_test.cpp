// The tamper-evident history over HTTP and the real program: checkpoints on demand and by the engine's
// clock, the chain through every path a server appends history by (the clock's firings included), and
// `returnflow backup` of a live SQLite server that keeps taking events.
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <soci/soci.h>

#include "persistence/checkpoints.hpp"
#include "tests/api/child_server.hpp"
#include "tests/api/fixture.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

TEST_CASE("an admin signs a checkpoint on demand and the engine's clock signs one every interval",
          "[api][http][chain]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, WithTestingClock);
    auto& server = cast.server;
    const auto case_id = CreateCaseNow(cast);
    Apply(server, cast.caseworker, case_id, "eligibility.review_started");
    Send(server, cast.caseworker, case_id, "travel.departed");  // refused, and recorded

    auto admin = server.Client(cast.admin);
    auto created = admin.Request(http::verb::post, "/admin/checkpoints");
    INFO(created.body);
    REQUIRE(created.status == 201);
    const auto body = created.Json().as_object();
    const auto checkpoint_id = body.at("checkpoint_id").as_int64();
    CHECK(body.at("case_count").as_int64() >= 1);
    CHECK(body.at("digest").as_string().size() == 64);
    CHECK(body.at("signature").as_string().size() == 128);
    CHECK_THAT(std::string(body.at("public_key_pem").as_string()), Catch::Contains("BEGIN PUBLIC KEY"));
    // The answer is the stored checkpoint, and its signature checks with the key it names.
    const auto stored = persistence::CheckpointRepository(server.Service().Database()).Latest();
    REQUIRE(stored);
    CHECK(stored->id >= checkpoint_id);
    if (stored->id == checkpoint_id) {
      CHECK(stored->digest == body.at("digest").as_string());
      CHECK(persistence::VerifySignature(std::string(body.at("public_key").as_string()), stored->Statement(),
                                         std::string(body.at("signature").as_string())));
    }

    // An empty JSON object is no body; anything else is refused.
    CHECK(admin.PostJson("/admin/checkpoints", json::object{}).status == 201);
    auto with_body = admin.PostJson("/admin/checkpoints", json::object{{"cases", "all"}});
    CHECK(with_body.status == 400);
    CHECK(with_body.ProblemType() == "invalid-request");

    // Two hours of the engine's time later the clock has signed one (with the engine's moved time).
    auto moved = admin.PostJson("/testing/clock", json::object{{"advance", "2h"}});
    REQUIRE(moved.status == 200);
    const auto latest = persistence::CheckpointRepository(server.Service().Database()).Latest();
    REQUIRE(latest);
    CHECK(latest->created_at > persistence::Now() + std::chrono::minutes(90));

    if (backend == Backend::kSqlite) {
      // The database of this server alone: every chain and checkpoint verifies.
      const auto report = persistence::VerifyChains(server.Service().Database());
      CHECK(report.Ok());
      CHECK(report.checkpoints_checked >= 3);
    }
  }
}

TEST_CASE("the clock's firings are chained like every other event", "[api][http][chain]") {
  Cast cast(Backend::kSqlite, WithTestingClock);
  const auto case_id = CreateCaseNow(cast);
  auto admin = cast.server.Client(cast.admin);
  auto moved = admin.PostJson("/testing/clock", json::object{{"advance", "60d"}});
  REQUIRE(moved.status == 200);
  REQUIRE(moved.Json().at("fired").as_int64() > 0);
  persistence::CaseRepository cases(cast.server.Service().Database());
  std::set<std::string> sources;
  for (const auto& entry : FullHistory(cases, case_id)) sources.insert(entry.source);
  CHECK(sources.contains("returnflow:clock"));
  const auto report = persistence::VerifyChains(cast.server.Service().Database());
  for (const auto& problem : report.problems) INFO(problem.case_id << " " << problem.sequence << " " << problem.detail);
  CHECK(report.Ok());
}

TEST_CASE("without a signing key a PostgreSQL server refuses checkpoints with not-configured", "[api][http][chain]") {
  Cast cast(Backend::kPostgresql, [](config::Settings& settings) { settings.history.signing_key.clear(); });
  auto result = cast.server.Client(cast.admin).Request(http::verb::post, "/admin/checkpoints");
  CHECK(result.status == 503);
  CHECK(result.ProblemType() == "not-configured");
}

TEST_CASE("returnflow backup copies a live SQLite server consistently while it takes events",
          "[api][http][backup]") {
  ScratchDirectory scratch("returnflow-backup");
  const auto database = (scratch.Path() / "live.db").string();
  Cast cast(Backend::kSqlite, [&](config::Settings& settings) { settings.database.url = "sqlite:" + database; });
  auto& server = cast.server;
  std::vector<std::string> case_ids;
  for (int index = 0; index < 4; ++index) case_ids.push_back(CreateCaseNow(cast));

  // Writers keep sending events (refusals are recorded like the rest) for as long as the backup runs.
  std::atomic<bool> stop{false};
  std::mutex acknowledged_mutex;
  std::vector<std::pair<std::string, std::string>> acknowledged;  // (case id, event id), in order
  std::atomic<int> sent{0};
  std::vector<std::thread> writers;
  for (int writer = 0; writer < 2; ++writer) {
    writers.emplace_back([&, writer] {
      auto client = server.Client(cast.caseworker);
      for (int round = 0; !stop.load() && round < 5'000; ++round) {
        const auto& case_id = case_ids[static_cast<std::size_t>((round + writer) % case_ids.size())];
        auto event = CloudEvent("counselling.session_held", case_id);
        const std::string event_id(event.at("id").as_string());
        auto result = client.PostEvent(case_id, event);
        if (result.status >= 200 && result.status < 500) {
          std::lock_guard lock(acknowledged_mutex);
          acknowledged.emplace_back(case_id, event_id);
        }
        ++sent;
      }
    });
  }
  while (sent.load() < 40) std::this_thread::yield();
  std::vector<std::pair<std::string, std::string>> before_backup;
  {
    std::lock_guard lock(acknowledged_mutex);
    before_backup = acknowledged;
  }
  const auto copy = scratch.Path() / "copy.db";
  ChildProcess backup({RETURNFLOW_BINARY, "backup", "--database", "sqlite:" + database, "--to", copy.string()},
                      scratch.Path(), scratch.Path() / "backup.out", scratch.Path() / "backup.err");
  const auto status = backup.WaitExit(std::chrono::seconds(60));
  stop = true;
  for (auto& writer : writers) writer.join();
  INFO(backup.Stdout() << backup.Stderr());
  REQUIRE(status == 0);
  CHECK(sent.load() > 40);

  // The copy holds every event acknowledged before the backup began, and verifies.
  {
    persistence::DatabaseOptions options;
    options.url = "sqlite:" + copy.string();
    options.pool_size = 1;
    persistence::Database copied(options);
    persistence::CaseRepository cases(copied);
    std::map<std::string, std::set<std::string>> recorded;
    for (const auto& case_id : case_ids) recorded[case_id] = RecordedEventIds(cases, case_id);
    for (const auto& [case_id, event_id] : before_backup) {
      INFO(case_id << " " << event_id);
      CHECK(recorded[case_id].contains(event_id));
    }
    CHECK(persistence::VerifyChains(copied).Ok());
    CHECK(persistence::VerifyAllCases(copied).Ok());
  }
  ChildProcess verify({RETURNFLOW_BINARY, "verify", "--database", "sqlite:" + copy.string()}, scratch.Path(),
                      scratch.Path() / "verify.out", scratch.Path() / "verify.err");
  CHECK(verify.WaitExit(std::chrono::seconds(60)) == 0);

  // An existing copy is kept unless --force; PostgreSQL is pointed at its own tools.
  ChildProcess again({RETURNFLOW_BINARY, "backup", "--database", "sqlite:" + database, "--to", copy.string()},
                     scratch.Path(), scratch.Path() / "again.out", scratch.Path() / "again.err");
  CHECK(again.WaitExit(std::chrono::seconds(60)) == 2);
  CHECK_THAT(again.Stderr(), Catch::Contains("--force"));
  ChildProcess forced(
      {RETURNFLOW_BINARY, "backup", "--database", "sqlite:" + database, "--to", copy.string(), "--force"},
      scratch.Path(), scratch.Path() / "forced.out", scratch.Path() / "forced.err");
  CHECK(forced.WaitExit(std::chrono::seconds(60)) == 0);
  ChildProcess postgres({RETURNFLOW_BINARY, "backup", "--database", "postgresql://nobody@127.0.0.1:1/none", "--to",
                         (scratch.Path() / "pg.db").string()},
                        scratch.Path(), scratch.Path() / "pg.out", scratch.Path() / "pg.err");
  CHECK(postgres.WaitExit(std::chrono::seconds(60)) == 2);
  CHECK_THAT(postgres.Stderr(), Catch::Contains("pg_dump"));
  CHECK_FALSE(std::filesystem::exists(scratch.Path() / "pg.db"));

  // `returnflow verify` on the copy once a row is edited: exit 3, naming the case and the row.
  {
    persistence::DatabaseOptions options;
    options.url = "sqlite:" + copy.string();
    options.pool_size = 1;
    persistence::Database copied(options);
    copied.Read("tamper", [&](soci::session& sql) {
      sql << "UPDATE case_events SET actor = 'someone-else' WHERE case_id = '" + case_ids[1] + "' AND sequence = 2";
    });
  }
  ChildProcess tampered({RETURNFLOW_BINARY, "verify", "--chains-only", "--database", "sqlite:" + copy.string()},
                        scratch.Path(), scratch.Path() / "tampered.out", scratch.Path() / "tampered.err");
  CHECK(tampered.WaitExit(std::chrono::seconds(60)) == 3);
  CHECK_THAT(tampered.Stdout(), Catch::Contains("TAMPERED case=" + case_ids[1] + " sequence=2"));
}
