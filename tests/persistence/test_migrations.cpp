#include <soci/soci.h>

#include <catch2/catch.hpp>

#include "persistence/migrations/migrations.hpp"

#include "tests/persistence/support.hpp"

using namespace returnflow::persistence;
using returnflow::persistence::testing::BackendName;
using returnflow::persistence::testing::TestDatabase;

TEST_CASE("migrations create the schema from empty and a re-run is a no-op", "[persistence][migrations]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend, 2, /*migrate=*/false);
  REQUIRE(test.Db().SchemaVersion() == 0);

  // Counted, not read off the latest number: branches number their migrations apart until merged.
  const auto migration_count = static_cast<int>(migrations::All().size());
  CHECK(test.Db().Migrate() == migration_count);
  CHECK(test.Db().SchemaVersion() == Database::LatestSchemaVersion());
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM cases") == 0);

  CHECK(test.Db().Migrate() == 0);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM schema_migrations") == migration_count);

  // Another process starting against the same database finds nothing to do either.
  auto another = test.OpenAnother();
  CHECK(another->Migrate() == 0);
}

TEST_CASE("a database newer than the program is refused", "[persistence][migrations]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  const int future = Database::LatestSchemaVersion() + 1;
  test.Execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (" + std::to_string(future) +
               ", 'from the future', 0)");
  try {
    test.Db().Migrate();
    FAIL("Migrate accepted a newer schema");
  } catch (const PersistenceError& error) {
    CHECK(error.Kind() == ErrorKind::kUnavailable);
    CHECK_THAT(error.what(), Catch::Contains("newer than this program"));
  }
  CHECK(test.Db().SchemaVersion() == future);
}

TEST_CASE("a URL with an unknown scheme is refused without echoing it", "[persistence][migrations]") {
  DatabaseOptions options;
  options.url = "mysql://user:secret@host/db";
  try {
    Database database(options);
    FAIL("accepted an unsupported URL");
  } catch (const PersistenceError& error) {
    CHECK(error.Kind() == ErrorKind::kInvalidInput);
    CHECK_THAT(error.what(), !Catch::Contains("secret"));
  }
}

TEST_CASE("an unreachable PostgreSQL server is reported as unavailable", "[persistence][errors]") {
  DatabaseOptions options;
  options.url = "postgresql://returnflow:secret-password@127.0.0.1:1/returnflow_test?connect_timeout=2";
  try {
    Database database(options);
    FAIL("connected to a closed port");
  } catch (const PersistenceError& error) {
    CHECK(error.Kind() == ErrorKind::kUnavailable);
    CHECK_THAT(error.what(), !Catch::Contains("secret-password"));
  }
}

TEST_CASE("a SQLite writer busy beyond the busy timeout is unavailable and nothing is written",
          "[persistence][errors]") {
  TestDatabase test(Backend::kSqlite);
  returnflow::persistence::CaseRepository cases(test.Db());
  const auto created = cases.Create(returnflow::persistence::testing::SyntheticCase());

  // Another process's connection holds the write lock.
  auto options = test.Options();
  options.pool_size = 1;
  Database other(options);
  auto holder = other.Lease();
  holder.Session() << "BEGIN IMMEDIATE";

  options.busy_timeout = std::chrono::milliseconds(200);
  Database impatient(options);
  returnflow::persistence::CaseRepository impatient_cases(impatient);
  try {
    impatient_cases.Apply(created.case_id,
                          returnflow::persistence::testing::MakeEvent("eligibility.review_started", "{}", "busy-1"));
    FAIL("applied while another writer held the lock");
  } catch (const PersistenceError& error) {
    CHECK(error.Kind() == ErrorKind::kUnavailable);
  }
  holder.Session() << "ROLLBACK";
  CHECK(cases.Get(created.case_id).last_sequence == 1);
  // Once the lock is free the same event goes through.
  CHECK(impatient_cases
            .Apply(created.case_id,
                   returnflow::persistence::testing::MakeEvent("eligibility.review_started", "{}", "busy-1"))
            .result.Applied());
}
