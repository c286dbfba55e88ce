// The tamper-evident history: every path that appends history chains it, `VerifyChains` names what was
// altered, deleted or rewritten, checkpoints are signed and checked, and an upgraded database verifies.
#include <soci/soci.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "persistence/case_rows.hpp"
#include "persistence/checkpoints.hpp"
#include "persistence/history_chain.hpp"
#include "persistence/migrations/migrations.hpp"
#include "tests/persistence/support.hpp"

using namespace returnflow::persistence;
using returnflow::persistence::testing::BackendName;
using returnflow::persistence::testing::MakeEvent;
using returnflow::persistence::testing::SyntheticCase;
using returnflow::persistence::testing::TestDatabase;
using returnflow::persistence::testing::ToCounsellingEvents;

namespace {

/// A signing key in a directory of the test's own, removed afterwards.
struct TestKey {
  std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("returnflow-key-" + std::to_string(::getpid()) + "-" +
                                                std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  SigningKey key = [this] {
    std::filesystem::create_directories(directory);
    return SigningKey::LoadOrCreate((directory / "key.pem").string());
  }();
  ~TestKey() { std::filesystem::remove_all(directory); }
};

/// A case with a history of `events` rows after case.opened (eligibility to counselling, then refusals).
std::string CaseWithHistory(CaseRepository& cases, int extra_refusals = 1) {
  const auto created = cases.Create(SyntheticCase());
  for (const auto& event : ToCounsellingEvents(created.case_id)) cases.Apply(created.case_id, event);
  for (int index = 0; index < extra_refusals; ++index) {
    cases.Apply(created.case_id, MakeEvent("travel.departed", "{}", created.case_id + "-refused-" + std::to_string(index)));
  }
  return created.case_id;
}

std::vector<internal::HistoryRow> Rows(Database& database, const std::string& case_id) {
  std::vector<internal::HistoryRow> rows;
  database.Read("test", [&](soci::session& sql) {
    rows.clear();
    soci::rowset<soci::row> result = (sql.prepare << "SELECT " RETURNFLOW_HISTORY_COLUMNS
                                                     " FROM case_events WHERE case_id = :id ORDER BY sequence",
                                      soci::use(case_id, "id"));
    for (const auto& columns : result) {
      internal::HistoryRow row;
      internal::ReadHistoryRow(columns, row);
      rows.push_back(std::move(row));
    }
  });
  return rows;
}

std::string Quote(const std::string& text) {
  std::string quoted = "'";
  for (const char character : text) {
    quoted += character;
    if (character == '\'') quoted += '\'';
  }
  return quoted + "'";
}

const ChainProblem* ProblemOf(const ChainReport& report, const std::string& case_id) {
  for (const auto& problem : report.problems) {
    if (problem.case_id == case_id) return &problem;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("every path that appends history chains it, and a clean database verifies", "[persistence][chain]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());

  // One event at a time (and refusals, recorded too), a partner assigned, and groups of events of
  // several cases (on PostgreSQL the locked path, then the path from cached states).
  const auto single = CaseWithHistory(cases, 2);
  PartnerChange assign;
  assign.meta.actor = "caseworker-1";
  assign.organisation = "clinic-x";
  CHECK(cases.AssignPartner(single, assign).changed);
  // Consent records and their withdrawal append history rows of their own.
  NewConsent consent;
  consent.meta.actor = "caseworker-1";
  consent.member_id = "m1";
  consent.recipient = "clinic-x";
  consent.purpose = returnflow::workflow::TransferPurpose::kMedicalAssessment;
  consent.categories = {returnflow::workflow::DataCategory::kHealth};
  ConsentRepository consents(test.Db());
  const auto recorded = consents.Record(single, consent);
  RecordedChange withdrawal;
  withdrawal.meta.actor = "caseworker-1";
  CHECK(consents.Withdraw(single, recorded.consent.consent_id, withdrawal).change.changed);
  std::vector<std::string> grouped;
  for (int index = 0; index < 3; ++index) grouped.push_back(cases.Create(SyntheticCase()).case_id);
  std::vector<GroupPath> paths;
  for (int round = 0; round < 3; ++round) {
    std::vector<GroupItem> items;
    for (const auto& case_id : grouped) {
      items.push_back({case_id, ToCounsellingEvents(case_id + "-g")[static_cast<std::size_t>(round)]});
    }
    GroupPath path = GroupPath::kOneByOne;
    for (const auto& result : cases.ApplyGroup(items, &path)) REQUIRE(result.outcome);
    paths.push_back(path);
  }
  if (backend == Backend::kPostgresql) CHECK(paths.back() == GroupPath::kFromCache);

  // Every row is chained to the one before it and the case holds the newest hash.
  for (const auto& case_id : {single, grouped[0], grouped[2]}) {
    const auto rows = Rows(test.Db(), case_id);
    REQUIRE(rows.size() >= 4);
    std::string previous(kGenesisHash);
    for (const auto& row : rows) {
      CHECK(row.prev_hash == previous);
      CHECK(row.hash == HistoryRowHash(row));
      previous = row.hash;
    }
    CHECK(test.QueryNumber("SELECT COUNT(*) FROM cases WHERE case_id = '" + case_id + "' AND head_hash = '" +
                           previous + "'") == 1);
  }

  const auto report = VerifyChains(test.Db());
  CHECK(report.Ok());
  CHECK(report.cases_checked == 4);
  CHECK(report.rows_checked == test.QueryNumber("SELECT COUNT(*) FROM case_events"));
  CHECK(VerifyAllCases(test.Db()).Ok());
}

TEST_CASE("a history row edited in the database is caught and named by case and sequence", "[persistence][chain]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto honest = CaseWithHistory(cases);
  const auto edited = CaseWithHistory(cases);
  REQUIRE(VerifyChains(test.Db()).Ok());

  test.Execute("UPDATE case_events SET payload = '{\"destination_country\":\"NP\"}' WHERE case_id = '" + edited +
               "' AND sequence = 3");
  const auto report = VerifyChains(test.Db());
  REQUIRE(report.problems.size() == 1);
  CHECK(report.problems[0].case_id == edited);
  CHECK(report.problems[0].sequence == 3);
  CHECK_THAT(report.problems[0].detail, Catch::Contains("altered"));
  CHECK_THAT(report.problems[0].detail, !Catch::Contains("NP"));  // never the content
  CHECK(ProblemOf(report, honest) == nullptr);

  // Any column counts: the actor of another row.
  test.Execute("UPDATE case_events SET actor = 'someone-else' WHERE case_id = '" + honest + "' AND sequence = 1");
  const auto again = VerifyChains(test.Db());
  REQUIRE(ProblemOf(again, honest) != nullptr);
  CHECK(ProblemOf(again, honest)->sequence == 1);
}

TEST_CASE("a history row deleted from the database is caught", "[persistence][chain]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto middle = CaseWithHistory(cases);
  const auto tail = CaseWithHistory(cases);

  test.Execute("DELETE FROM case_events WHERE case_id = '" + middle + "' AND sequence = 2");
  test.Execute("DELETE FROM case_events WHERE case_id = '" + tail + "' AND sequence = 5");
  const auto report = VerifyChains(test.Db());
  REQUIRE(report.problems.size() == 2);
  REQUIRE(ProblemOf(report, middle) != nullptr);
  CHECK(ProblemOf(report, middle)->sequence == 2);
  CHECK_THAT(ProblemOf(report, middle)->detail, Catch::Contains("missing"));
  REQUIRE(ProblemOf(report, tail) != nullptr);
  CHECK(ProblemOf(report, tail)->sequence == 5);
  CHECK_THAT(ProblemOf(report, tail)->detail, Catch::Contains("missing"));

  // The case's head edited to what it was before the last row: a head mismatch.
  const auto rows = Rows(test.Db(), tail);
  test.Execute("UPDATE cases SET head_hash = '" + rows.front().hash + "' WHERE case_id = '" + tail + "'");
  test.Execute("DELETE FROM case_events WHERE case_id = '" + middle + "'");
  test.Execute("DELETE FROM timers WHERE case_id = '" + middle + "'");
  test.Execute("DELETE FROM people WHERE case_id = '" + middle + "'");
  test.Execute("DELETE FROM data_keys WHERE case_id = '" + middle + "'");
  test.Execute("DELETE FROM case_partners WHERE case_id = '" + middle + "'");
  test.Execute("DELETE FROM cases WHERE case_id = '" + middle + "'");
  const auto after = VerifyChains(test.Db());
  REQUIRE(after.problems.size() == 1);
  CHECK(after.problems[0].case_id == tail);
}

TEST_CASE("a tail rewritten consistently passes the chain and is caught by the checkpoint", "[persistence][chain]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  TestKey key;
  const auto honest = CaseWithHistory(cases);
  const auto rewritten = CaseWithHistory(cases);
  const auto checkpoint = CheckpointRepository(test.Db()).Create(key.key);
  CHECK(checkpoint.id == 1);
  CHECK(checkpoint.case_count == 2);
  CHECK(checkpoint.previous_digest == kGenesisHash);
  CHECK(VerifySignature(key.key.PublicKeyHex(), checkpoint.Statement(), checkpoint.signature));
  // Events after the checkpoint move the heads on; the checkpoint still holds.
  cases.Apply(honest, MakeEvent("travel.departed", "{}", honest + "-later"));
  REQUIRE(VerifyChains(test.Db(), {key.key.PublicKeyHex()}).Ok());

  // Rewrite row 3 onwards and recompute every hash and the head, as someone who knows the encoding would.
  auto rows = Rows(test.Db(), rewritten);
  std::string head = rows[1].hash;
  rows[2].payload = R"({"destination_country":"NP"})";
  for (std::size_t index = 2; index < rows.size(); ++index) {
    ChainRow(head, rows[index]);
    test.Execute("UPDATE case_events SET payload = " + Quote(rows[index].payload) + ", hash = '" + rows[index].hash +
                 "', prev_hash = '" + rows[index].prev_hash + "' WHERE case_id = '" + rewritten +
                 "' AND sequence = " + std::to_string(rows[index].sequence));
  }
  test.Execute("UPDATE cases SET head_hash = '" + head + "' WHERE case_id = '" + rewritten + "'");

  const auto report = VerifyChains(test.Db(), {key.key.PublicKeyHex()});
  REQUIRE(report.problems.size() == 1);
  CHECK(report.problems[0].case_id == rewritten);
  CHECK(report.problems[0].sequence == static_cast<long long>(rows.size()));
  CHECK_THAT(report.problems[0].detail, Catch::Contains("checkpoint 1"));

  // A second checkpoint, made after the rewrite, covers the new head; the first still shows the rewrite.
  const auto second = CheckpointRepository(test.Db()).Create(key.key);
  CHECK(second.previous_digest == checkpoint.digest);
  const auto later = VerifyChains(test.Db(), {key.key.PublicKeyHex()});
  REQUIRE(later.problems.size() == 1);
  CHECK(later.problems[0].case_id == rewritten);
}

TEST_CASE("a forged or altered checkpoint is caught", "[persistence][chain]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  TestKey key, forger;
  const auto covered = CaseWithHistory(cases);
  CheckpointRepository checkpoints(test.Db());
  const auto first = checkpoints.Create(key.key);
  cases.Apply(covered, MakeEvent("travel.departed", "{}", covered + "-later"));
  const auto second = checkpoints.Create(key.key);
  REQUIRE(VerifyChains(test.Db(), {key.key.PublicKeyHex()}).Ok());

  SECTION("a signature that is not the key's") {
    test.Execute("UPDATE checkpoints SET signature = '" + forger.key.Sign(second.Statement()) +
                 "' WHERE checkpoint_id = 2");
    const auto report = VerifyChains(test.Db());
    REQUIRE(report.problems.size() == 1);
    CHECK_THAT(report.problems[0].detail, Catch::Contains("checkpoint 2: the signature does not verify"));
  }
  SECTION("re-signed with another key: only the trusted public key shows it") {
    auto forged = second;
    forged.key_id = forger.key.KeyId();
    forged.public_key = forger.key.PublicKeyHex();
    test.Execute("UPDATE checkpoints SET key_id = '" + forged.key_id + "', public_key = '" + forged.public_key +
                 "', signature = '" + forger.key.Sign(forged.Statement()) + "' WHERE checkpoint_id = 2");
    CHECK(VerifyChains(test.Db()).Ok());  // the keys stored beside them prove nothing against this
    const auto report = VerifyChains(test.Db(), {key.key.PublicKeyHex()});
    REQUIRE(report.problems.size() == 1);
    CHECK(report.key_source == TrustedKeySource::kGiven);
    CHECK_THAT(report.problems[0].detail, Catch::Contains("checkpoint 2 names key"));
  }
  SECTION("an entry of what it covers altered") {
    test.Execute("UPDATE checkpoint_heads SET head = '" + std::string(kGenesisHash) + "' WHERE checkpoint_id = 2");
    const auto report = VerifyChains(test.Db(), {key.key.PublicKeyHex()});
    REQUIRE(report.problems.size() == 2);
    CHECK(ProblemOf(report, covered) != nullptr);
    CHECK_THAT(ProblemOf(report, "")->detail, Catch::Contains("no longer matches its digest"));
  }
  SECTION("an older checkpoint deleted") {
    test.Execute("DELETE FROM checkpoints WHERE checkpoint_id = " + std::to_string(first.id));
    const auto report = VerifyChains(test.Db(), {key.key.PublicKeyHex()});
    REQUIRE(report.problems.size() == 1);
    CHECK_THAT(report.problems[0].detail, Catch::Contains("a checkpoint is missing"));
  }
}

TEST_CASE("a database upgraded from schema 7 has its existing history chained", "[persistence][chain][migrations]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto first = CaseWithHistory(cases, 2);
  const auto second = CaseWithHistory(cases, 0);
  // Back to schema 7: what migration 8 added is gone, the rows are as an older engine wrote them.
  test.Execute("DROP TABLE checkpoint_heads");
  test.Execute("DROP TABLE checkpoints");
  test.Execute("ALTER TABLE case_events DROP COLUMN hash");
  test.Execute("ALTER TABLE case_events DROP COLUMN prev_hash");
  test.Execute("ALTER TABLE cases DROP COLUMN head_hash");
  // (and the migrations after it, which an engine of schema 7 had not seen either)
  for (const auto* table : {"outbox_replays", "delivery_attempts", "outbox", "subscriptions"}) {
    test.Execute(std::string("DROP TABLE ") + table);
  }
  // Migration 12's audit columns and index.
  test.Execute("DROP INDEX personal_data_access_by_time");
  for (const auto* column : {"member_id", "field", "token_name"}) {
    test.Execute(std::string("ALTER TABLE personal_data_access DROP COLUMN ") + column);
  }
  // Migration 11's people rows were plaintext: one such row, which the upgrade seals.
  test.Execute("DELETE FROM people");
  test.Execute("DROP TABLE data_keys");
  test.Execute("ALTER TABLE people DROP COLUMN sealed");
  for (const auto* column : {"given_names", "family_name", "date_of_birth", "documents", "contacts"}) {
    test.Execute(std::string("ALTER TABLE people ADD COLUMN ") + column + " TEXT NOT NULL DEFAULT ''");
  }
  test.Execute("INSERT INTO people (case_id, member_id, given_names, family_name, date_of_birth, documents, contacts, "
               "updated_at) VALUES ('" + first + "', 'm1', 'Plain', 'Synthetic', '1990', "
               "'[{\"type\":\"passport\",\"number\":\"PLAIN00001\"}]', '[]', 1)");
  test.Execute("DELETE FROM schema_migrations WHERE version >= 8");
  REQUIRE(test.Db().SchemaVersion() == 7);

  CHECK(test.Db().Migrate() == static_cast<int>(migrations::All().size()) - 7);
  // The plaintext row is sealed and reads back; its plaintext columns are gone.
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM people WHERE sealed <> ''") == 1);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM data_keys") == 1);
  PeopleRepository people(test.Db());
  const auto read = people.Read(first, {"caseworker-1", "caseworker_view"});
  REQUIRE(read.size() == 1);
  CHECK(read[0] == PersonalData{"m1", "Plain", "Synthetic", "1990", {{"passport", "PLAIN00001"}}, {}});
  CHECK_THROWS(test.QueryNumber("SELECT COUNT(*) FROM people WHERE given_names = 'Plain'"));
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM case_events WHERE hash = ''") == 0);
  const auto report = VerifyChains(test.Db());
  CHECK(report.Ok());
  CHECK(report.cases_checked == 2);
  CHECK(report.rows_checked == 6 + 4);
  // New events go on from the backfilled heads.
  cases.Apply(second, MakeEvent("travel.departed", "{}", second + "-after-upgrade"));
  cases.Apply(first, MakeEvent("travel.departed", "{}", first + "-after-upgrade"));
  CHECK(VerifyChains(test.Db()).Ok());
}

TEST_CASE("with history.hash_chain off rows are written unchained and verify says so", "[persistence][chain]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  auto options = test.Options();
  options.history_hash_chain = false;
  Database unchained(options);
  CaseRepository cases(unchained);
  const auto case_id = CaseWithHistory(cases);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM case_events WHERE hash <> ''") == 0);
  const auto report = VerifyChains(test.Db());
  REQUIRE(report.problems.size() == 1);
  CHECK(report.problems[0].sequence == 1);
  CHECK_THAT(report.problems[0].detail, Catch::Contains("not chained"));
}

TEST_CASE("a signing key is created once, owner-only, and read back", "[persistence][chain]") {
  TestKey directory;
  const auto path = (directory.directory / "created.pem").string();
  bool created = false;
  const auto key = SigningKey::LoadOrCreate(path, &created);
  CHECK(created);
  struct stat status {};
  REQUIRE(::stat(path.c_str(), &status) == 0);
  CHECK((status.st_mode & 0777) == 0600);
  const auto again = SigningKey::LoadOrCreate(path, &created);
  CHECK_FALSE(created);
  CHECK(again.KeyId() == key.KeyId());
  const auto public_path = (directory.directory / "public.pem").string();
  {
    std::ofstream out(public_path);
    out << key.PublicKeyPem();
  }
  CHECK(ReadPublicKeyFile(public_path) == key.PublicKeyHex());
  CHECK(VerifySignature(key.PublicKeyHex(), "statement", key.Sign("statement")));
  CHECK_FALSE(VerifySignature(key.PublicKeyHex(), "statement!", key.Sign("statement")));
  CHECK_THROWS_AS(SigningKey::Load(public_path), PersistenceError);
}

TEST_CASE("verify reads across its page boundaries without losing or repeating a row", "[persistence][chain]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  std::vector<std::string> ids;
  for (int index = 0; index < 5; ++index) ids.push_back(CaseWithHistory(cases, index % 3));
  TestKey key;
  CheckpointRepository(test.Db()).Create(key.key);
  // Ranges of 2 cases, pages of 3 rows: cases and pages split everywhere.
  SetVerifyPageSizesForTesting(2, 3);
  const auto clean = VerifyChains(test.Db());
  CHECK(clean.Ok());
  CHECK(clean.cases_checked == 5);
  CHECK(clean.rows_checked == test.QueryNumber("SELECT COUNT(*) FROM case_events"));
  test.Execute("UPDATE case_events SET reason = 'edited' WHERE case_id = '" + ids[3] + "' AND sequence = 4");
  const auto edited = VerifyChains(test.Db());
  SetVerifyPageSizesForTesting(1000, 5000);
  REQUIRE(edited.problems.size() == 1);
  CHECK(edited.problems[0].case_id == ids[3]);
  CHECK(edited.problems[0].sequence == 4);
}
