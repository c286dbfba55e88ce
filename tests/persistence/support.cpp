#include "tests/persistence/support.hpp"

#include <fmt/format.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace returnflow::persistence::testing {
namespace {
// The repositories log every case opened; keep test output to what matters.
const bool kQuietLogs = [] {
  spdlog::set_level(spdlog::level::warn);
  return true;
}();

std::string RandomSuffix() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  return fmt::format("{:016x}", generator());
}

std::string PostgresBaseUrl() {
  const char* url = std::getenv("RETURNFLOW_TEST_PG_URL");
  if (url == nullptr || std::string(url).empty()) {
    FAIL(
        "RETURNFLOW_TEST_PG_URL is not set: run ./scripts/test.sh, or start a server with "
        "`source scripts/pg-throwaway.sh; pg_throwaway_start` and export RETURNFLOW_TEST_PG_URL=$PG_THROWAWAY_URL");
  }
  return url;
}

soci::session AdminSession(const std::string& url) {
  return soci::session(soci::connection_parameters(*soci::factory_postgresql(), LibpqConnectString(url)));
}
}  // namespace

std::string BackendName(Backend backend) { return backend == Backend::kSqlite ? "sqlite" : "postgresql"; }

TestDatabase::TestDatabase(Backend backend, std::size_t pool_size, bool migrate) : backend_(backend) {
  if (backend == Backend::kSqlite) {
    directory_ = (std::filesystem::temp_directory_path() / ("returnflow-test-" + RandomSuffix())).string();
    std::filesystem::create_directories(directory_);
    url_ = "sqlite:" + directory_ + "/cases.db";
  } else {
    const auto base = PostgresBaseUrl();
    schema_ = "test_" + RandomSuffix();
    auto admin = AdminSession(base);
    admin << "SET client_min_messages TO warning";
    admin << "CREATE SCHEMA " + schema_;
    url_ = base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema_;
  }
  auto options = Options();
  options.pool_size = pool_size;
  database_ = std::make_unique<Database>(options);
  if (migrate) {
    database_->Migrate();
    // The programme SyntheticCase names, with an unsafe destination the tests refuse.
    ProgrammeRepository programmes(*database_);
    programmes.Register(TestProgramme());
  }
}

workflow::Programme TestProgramme() {
  workflow::Programme programme;
  programme.code = "avrr-test";
  programme.name = "AVRR test programme";
  programme.unsafe_destinations = {"XX"};
  programme.deferrable_events = workflow::DefaultDeferrableEvents();
  return programme;
}

TestDatabase::~TestDatabase() {
  database_.reset();
  try {
    if (backend_ == Backend::kSqlite) {
      std::filesystem::remove_all(directory_);
    } else {
      auto admin = AdminSession(PostgresBaseUrl());
      admin << "SET client_min_messages TO warning";
      admin << "DROP SCHEMA " + schema_ + " CASCADE";
    }
  } catch (...) {
    // Leftovers of a failed test are removed with the throwaway cluster.
  }
}

std::shared_ptr<const MasterKeyring> TestMasterKeys() {
  static const auto keys = std::make_shared<const MasterKeyring>(
      MasterKeyring::FromKeys({MasterKeyring::GenerateKey(), MasterKeyring::GenerateKey()}));
  return keys;
}

DatabaseOptions TestDatabase::Options() const {
  DatabaseOptions options;
  options.master_keys = TestMasterKeys();
  options.url = url_;
  options.pool_size = 4;
  options.busy_timeout = std::chrono::milliseconds(60000);
  return options;
}

std::unique_ptr<Database> TestDatabase::OpenAnother(std::size_t pool_size) const {
  auto options = Options();
  options.pool_size = pool_size;
  return std::make_unique<Database>(options);
}

void TestDatabase::Execute(const std::string& sql) {
  auto lease = database_->Lease();
  lease.Session() << sql;
}

long long TestDatabase::QueryNumber(const std::string& sql) {
  auto lease = database_->Lease();
  long long number = 0;
  lease.Session() << sql, soci::into(number);
  return number;
}

NewCase SyntheticCase(std::string office, std::vector<std::string> partners) {
  NewCase new_case;
  new_case.programme = "avrr-test";
  new_case.office = std::move(office);
  new_case.partners = std::move(partners);
  new_case.context.host_country = "ID";
  new_case.context.origin_country = "BD";
  new_case.context.opened_at = *workflow::ParseInstant("2026-01-05T09:00:00Z");
  new_case.context.household.push_back({"m1", workflow::Relationship::kPrincipal, workflow::Sex::kMale, 1990, {}});
  new_case.people.push_back(
      {"m1", "Test Person", "1", "1990-01-01", {{"passport", "TEST0000001"}}, {{"phone", "+00 000 0001"}}});
  new_case.meta = {"caseworker-1", *workflow::ParseInstant("2026-01-05T09:00:00Z")};
  return new_case;
}

IncomingEvent MakeEvent(const std::string& type, const std::string& data_json, const std::string& event_id,
                        const std::string& source, int hour) {
  workflow::DecodeError error;
  auto event = workflow::DecodeEvent(type, boost::json::parse(data_json), error);
  if (!event) FAIL("test event does not decode: " << type << ": " << error.detail);
  IncomingEvent incoming{source, event_id, type, data_json, std::move(*event), {}, std::nullopt, {}, std::nullopt, false};
  incoming.meta.actor = "caseworker-1";
  incoming.meta.occurred_at = *workflow::ParseInstant("2026-01-05T09:00:00Z") + std::chrono::hours(hour);
  return incoming;
}

std::vector<IncomingEvent> ToCounsellingEvents(const std::string& prefix) {
  return {MakeEvent("eligibility.review_started", "{}", prefix + "-1", "caseworker-system", 1),
          MakeEvent("eligibility.confirmed", R"({"destination_country":"BD"})", prefix + "-2", "caseworker-system", 2),
          MakeEvent("counselling.session_held", "{}", prefix + "-3", "caseworker-system", 3)};
}

}  // namespace returnflow::persistence::testing
