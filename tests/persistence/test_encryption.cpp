// Encryption at rest (persistence/personal_data_crypto.hpp) on both backends: the raw tables hold no
// personal data, the right master key reads it back, a wrong one fails clearly, rotation moves every data
// key to the new master key, erasure destroys the keys.
#include <soci/soci.h>

#include <catch2/catch.hpp>

#include "persistence/personal_data_crypto.hpp"
#include "tests/persistence/support.hpp"

using namespace returnflow::persistence;
using returnflow::persistence::testing::BackendName;
using returnflow::persistence::testing::SyntheticCase;
using returnflow::persistence::testing::TestDatabase;
using returnflow::persistence::testing::TestMasterKeys;

namespace {

constexpr const char* kName = "Zyxwvutsrq";
constexpr const char* kDocument = "QX7319468205";

NewCase CaseWithSyntheticPerson() {
  auto new_case = SyntheticCase();
  new_case.people = {{"m1", kName, "Synthetic-Family", "1987-06-05", {{"passport", kDocument}}, {{"phone", "+00 555 0199"}}}};
  return new_case;
}

/// Every column of every row of `table`, as text.
std::vector<std::string> RawCells(Database& database, const std::string& table) {
  std::vector<std::string> cells;
  auto lease = database.Lease();
  soci::rowset<soci::row> rows = (lease.Session().prepare << "SELECT * FROM " + table);
  for (const auto& row : rows) {
    for (std::size_t index = 0; index < row.size(); ++index) {
      if (row.get_indicator(index) == soci::i_null) continue;
      switch (row.get_properties(index).get_data_type()) {
        case soci::dt_string: cells.push_back(row.get<std::string>(index)); break;
        case soci::dt_integer: cells.push_back(std::to_string(row.get<int>(index))); break;
        case soci::dt_long_long: cells.push_back(std::to_string(row.get<long long>(index))); break;
        default: cells.push_back("?"); break;
      }
    }
  }
  return cells;
}

std::shared_ptr<const MasterKeyring> KeyringOf(std::vector<MasterKeyring::Key> keys) {
  return std::make_shared<const MasterKeyring>(MasterKeyring::FromKeys(std::move(keys)));
}

std::unique_ptr<Database> OpenWith(const TestDatabase& test, std::shared_ptr<const MasterKeyring> keys) {
  auto options = test.Options();
  options.master_keys = std::move(keys);
  return std::make_unique<Database>(options);
}

}  // namespace

TEST_CASE("personal data is sealed at rest: the raw tables hold none of it", "[persistence][people][crypto]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  PeopleRepository people(test.Db());
  const auto created = cases.Create(CaseWithSyntheticPerson());

  for (const auto* table : {"people", "data_keys", "cases", "case_events", "personal_data_access"}) {
    const auto cells = RawCells(test.Db(), table);
    CHECK_FALSE(cells.empty());
    for (const auto& cell : cells) {
      INFO(table);
      CHECK(cell.find(kName) == std::string::npos);
      CHECK(cell.find(kDocument) == std::string::npos);
      CHECK(cell.find("Synthetic-Family") == std::string::npos);
    }
  }
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM data_keys WHERE case_id = '" + created.case_id + "'") == 1);

  // With the master key the data reads back whole.
  const auto read = people.Read(created.case_id, {"caseworker-1", "caseworker_view"});
  REQUIRE(read.size() == 1);
  CHECK(read[0] == CaseWithSyntheticPerson().people[0]);
}

TEST_CASE("a wrong or missing master key fails clearly, never with garbage", "[persistence][people][crypto]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  const auto created = cases.Create(CaseWithSyntheticPerson());
  const PersonalDataAccess access{"caseworker-1", "caseworker_view"};

  SECTION("the same key id with other bytes") {
    auto impostor = MasterKeyring::GenerateKey();
    impostor.id = TestMasterKeys()->Current().id;
    auto database = OpenWith(test, KeyringOf({impostor}));
    PeopleRepository people(*database);
    try {
      people.Read(created.case_id, access);
      FAIL("a wrong master key read personal data");
    } catch (const PersistenceError& error) {
      CHECK(error.Kind() == ErrorKind::kCorruptData);
      CHECK_THAT(error.what(), Catch::Contains("does not open"));
    }
  }
  SECTION("a keyring without the key id") {
    auto database = OpenWith(test, KeyringOf({MasterKeyring::GenerateKey()}));
    PeopleRepository people(*database);
    try {
      people.Read(created.case_id, access);
      FAIL("an unknown master key id read personal data");
    } catch (const PersistenceError& error) {
      CHECK(error.Kind() == ErrorKind::kCorruptData);
      CHECK_THAT(error.what(), Catch::Contains("not configured"));
    }
  }
  SECTION("no master key at all") {
    auto database = OpenWith(test, nullptr);
    PeopleRepository people(*database);
    try {
      people.Read(created.case_id, access);
      FAIL("read personal data without a master key");
    } catch (const PersistenceError& error) {
      CHECK(error.Kind() == ErrorKind::kUnavailable);
      CHECK_THAT(error.what(), Catch::Contains("no master key"));
    }
  }
  SECTION("a people row moved to another member does not open") {
    PeopleRepository people(test.Db());
    people.Upsert(created.case_id, {"m2", "Other", "Synthetic", "2001", {}, {}}, {"caseworker-1", "correction"});
    // m1's ciphertext under m2's name (with m2's data key): the associated data no longer matches.
    test.Execute("UPDATE people SET sealed = (SELECT sealed FROM people WHERE case_id = '" + created.case_id +
                 "' AND member_id = 'm1') WHERE case_id = '" + created.case_id + "' AND member_id = 'm2'");
    CHECK_THROWS_AS(people.Read(created.case_id, access), PersistenceError);
  }
}

TEST_CASE("rotation rewraps every data key under the new master key", "[persistence][people][crypto]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  std::vector<std::string> case_ids;
  for (int index = 0; index < 5; ++index) case_ids.push_back(cases.Create(CaseWithSyntheticPerson()).case_id);
  const auto old_id = TestMasterKeys()->Current().id;

  std::vector<MasterKeyring::Key> keys{MasterKeyring::GenerateKey()};
  for (const auto& key : TestMasterKeys()->Keys()) keys.push_back(key);
  auto rotated = OpenWith(test, KeyringOf(keys));
  PeopleRepository people(*rotated);
  CHECK(people.DataKeysByMasterKey().at(old_id) == 5);
  CHECK(people.RotateDataKeys(2) == 5);
  const auto counts = people.DataKeysByMasterKey();
  CHECK(counts.size() == 1);
  CHECK(counts.at(keys.front().id) == 5);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM data_keys WHERE key_id = '" + old_id + "'") == 0);
  CHECK(people.RotateDataKeys(2) == 0);

  // The new keyring reads everything; the old one no longer can.
  for (const auto& case_id : case_ids) {
    CHECK(people.Read(case_id, {"caseworker-1", "caseworker_view"}) == CaseWithSyntheticPerson().people);
  }
  PeopleRepository old_people(test.Db());
  CHECK_THROWS_AS(old_people.Read(case_ids.front(), {"caseworker-1", "caseworker_view"}), PersistenceError);
}

TEST_CASE("erasure destroys the members' data keys", "[persistence][people][crypto]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  PeopleRepository people(test.Db());
  const auto kept = cases.Create(CaseWithSyntheticPerson());
  const auto erased = cases.Create(CaseWithSyntheticPerson());
  people.Upsert(erased.case_id, {"m2", "Other", "Synthetic", "2001", {}, {}}, {"caseworker-1", "correction"});
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM data_keys WHERE case_id = '" + erased.case_id + "'") == 2);

  CHECK(people.Erase(erased.case_id, {"caseworker-1", "erasure"}) == 2);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM data_keys WHERE case_id = '" + erased.case_id + "'") == 0);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM people WHERE case_id = '" + erased.case_id + "'") == 0);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM data_keys WHERE case_id = '" + kept.case_id + "'") == 1);
  CHECK(people.Read(kept.case_id, {"caseworker-1", "caseworker_view"}).size() == 1);
}
