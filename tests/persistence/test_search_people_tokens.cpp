#include <catch2/catch.hpp>
#include <set>

#include "tests/persistence/support.hpp"

using namespace returnflow;
using namespace returnflow::persistence;
using persistence::testing::BackendName;
using persistence::testing::MakeEvent;
using persistence::testing::SyntheticCase;
using persistence::testing::TestDatabase;
using persistence::testing::ToCounsellingEvents;

namespace {
std::set<std::string> Ids(const CasePage& page) {
  std::set<std::string> ids;
  for (const auto& record : page.cases) ids.insert(record.case_id);
  return ids;
}
Timestamp At(const char* text) {
  return std::chrono::time_point_cast<std::chrono::microseconds>(*workflow::ParseInstant(text));
}
}  // namespace

TEST_CASE("search filters cases and pages through them with a stable cursor", "[persistence][search]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());

  auto jakarta = SyntheticCase("office-jakarta", {"embassy-bd"});
  auto bangkok = SyntheticCase("office-bangkok", {"embassy-mm"});
  bangkok.context.host_country = "TH";
  bangkok.context.origin_country = "MM";
  auto child = SyntheticCase("office-jakarta", {"embassy-bd", "reception-dhaka"});
  child.context.household[0].vulnerabilities = {workflow::Vulnerability::kUnaccompaniedChild};

  const auto a = cases.Create(jakarta);
  const auto b = cases.Create(bangkok);
  const auto c = cases.Create(child);
  for (const auto& event : ToCounsellingEvents("a")) cases.Apply(a.case_id, event);

  CaseQuery query;
  CHECK(cases.Search(query).cases.size() == 3);

  query = {};
  query.stage = "counselling";
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{a.case_id});
  query = {};
  query.state = "referral.received";
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{b.case_id, c.case_id});
  query = {};
  query.host_country = "TH";
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{b.case_id});
  query = {};
  query.origin_country = "BD";
  query.office = "office-jakarta";
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{a.case_id, c.case_id});
  query = {};
  query.countries_any = std::vector<std::string>{"MM", "XX"};
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{b.case_id});
  query = {};
  query.partner = "reception-dhaka";
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{c.case_id});
  query = {};
  query.vulnerability = workflow::Vulnerability::kUnaccompaniedChild;
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{c.case_id});
  query = {};
  query.updated_since = cases.Get(a.case_id).updated_at;
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{a.case_id});
  // A refused event is recorded in the history but does not update the case: "updated since" still
  // means the case's last change, not its last history row.
  const auto refused = cases.Apply(a.case_id, MakeEvent("travel.departed", "{}", "a-refused"));
  REQUIRE_FALSE(refused.result.Applied());
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{a.case_id});
  query.updated_since = cases.Get(a.case_id).updated_at + std::chrono::microseconds(1);
  CHECK(cases.Search(query).cases.empty());
  CHECK(cases.CountByStage(query).empty());

  // Referral deadlines run 7 days from the referral (2026-01-05); counselling 21 days from entering it.
  query = {};
  query.overdue_as_of = At("2026-01-20T00:00:00Z");
  CHECK(Ids(cases.Search(query)) == std::set<std::string>{b.case_id, c.case_id});
  query.overdue_as_of = At("2026-01-06T00:00:00Z");
  CHECK(cases.Search(query).cases.empty());

  const auto counts = cases.CountByStage({});
  REQUIRE(counts.size() == 2);
  CHECK(counts[0].stage == "counselling");
  CHECK(counts[0].count == 1);
  CHECK(counts[1].stage == "referral");
  CHECK(counts[1].count == 2);

  // Keyset pagination: 25 more cases, pages of 10, nothing lost or repeated even when a case is
  // updated between pages.
  for (int index = 0; index < 25; ++index) cases.Create(SyntheticCase("office-surabaya"));
  query = {};
  query.office = "office-surabaya";
  query.page_size = 10;
  std::vector<std::string> seen;
  int pages = 0;
  for (;;) {
    const auto page = cases.Search(query);
    ++pages;
    for (const auto& record : page.cases) seen.push_back(record.case_id);
    if (pages == 1) cases.Apply(page.cases.front().case_id, MakeEvent("eligibility.review_started", "{}", "mid-page"));
    if (page.next_cursor.empty()) break;
    query.cursor = page.next_cursor;
  }
  CHECK(pages == 3);
  CHECK(seen.size() == 25);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 25);

  query.page_size = 100000;
  query.cursor.clear();
  CHECK(cases.Search(query).cases.size() == 25);  // capped at kMaxPageSize, still all 25 here

  query.cursor = "not-a-cursor";
  try {
    cases.Search(query);
    FAIL("a malformed cursor was accepted");
  } catch (const PersistenceError& error) {
    CHECK(error.Kind() == ErrorKind::kInvalidInput);
  }
}

TEST_CASE("page size is capped", "[persistence][search]") {
  TestDatabase test(Backend::kSqlite);
  CaseRepository cases(test.Db());
  for (std::size_t index = 0; index < kMaxPageSize + 5; ++index) cases.Create(SyntheticCase());
  CaseQuery query;
  query.page_size = kMaxPageSize * 10;
  const auto page = cases.Search(query);
  CHECK(page.cases.size() == kMaxPageSize);
  CHECK_FALSE(page.next_cursor.empty());
}

TEST_CASE("personal data is read only with an audit row in the same transaction", "[persistence][people]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  CaseRepository cases(test.Db());
  PeopleRepository people(test.Db());
  const auto created = cases.Create(SyntheticCase());

  const auto read = people.Read(created.case_id, {"caseworker-1", "travel_document_request"});
  REQUIRE(read.size() == 1);
  CHECK(read[0].given_names == "Test Person");
  CHECK(read[0].documents == std::vector<IdentityDocument>{{"passport", "TEST0000001"}});

  people.Upsert(created.case_id, {"m2", "Test Person", "2", "2018", {}, {}}, {"caseworker-1", "correction"});
  CHECK(people.Read(created.case_id, {"supervisor-1", "caseworker_view"}).size() == 2);

  const auto trail = people.AuditTrail(created.case_id);
  REQUIRE(trail.size() == 4);  // create, read, write, read
  CHECK(trail[0].action == "create");
  CHECK(trail[1].action == "read");
  CHECK(trail[1].actor == "caseworker-1");
  CHECK(trail[1].purpose == "travel_document_request");
  CHECK(trail[3].actor == "supervisor-1");

  // No purpose from the closed list, no data (caller text never reaches the audit trail).
  CHECK_THROWS_AS(people.Read(created.case_id, {"caseworker-1", ""}), PersistenceError);
  CHECK_THROWS_AS(people.Read(created.case_id, {"caseworker-1", "because\nlevel=error"}), PersistenceError);
  CHECK(people.AuditTrail(created.case_id).size() == 4);

  CHECK(people.Erase(created.case_id, {"retention-job", "erasure"}) == 2);
  CHECK(people.Read(created.case_id, {"caseworker-1", "caseworker_view"}).empty());
  CHECK(cases.Get(created.case_id).version == 1);  // the case and its history remain
}

TEST_CASE("tokens are stored as SHA-256 hashes, found by hash, listed and revoked", "[persistence][tokens]") {
  const auto backend = GENERATE(Backend::kSqlite, Backend::kPostgresql);
  INFO(BackendName(backend));
  TestDatabase test(backend);
  TokenRepository tokens(test.Db());

  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  const std::string secret = "rf_partner_secret_0123456789abcdef";
  TokenScope scope;
  scope.organisation = "embassy-bd";
  scope.event_types = {"travel_document.requested", "travel_document.issued"};
  const auto created = tokens.Create("embassy-bd-1", workflow::Role::kPartner, scope, secret);
  CHECK(created.hash_hex == Sha256Hex(secret));
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM api_tokens WHERE token_hash = '" + Sha256Hex(secret) + "'") == 1);
  CHECK(test.QueryNumber("SELECT COUNT(*) FROM api_tokens WHERE token_hash LIKE '%secret%' OR name LIKE '%secret%'") ==
        0);

  const auto found = tokens.FindBySecret(secret);
  REQUIRE(found);
  CHECK(found->name == "embassy-bd-1");
  CHECK(found->role == workflow::Role::kPartner);
  CHECK(found->scope == scope);
  CHECK(found->Active());
  CHECK_FALSE(tokens.FindBySecret("rf_some_other_secret_000000000000"));

  TokenScope supervisor_scope;
  supervisor_scope.countries = {"ID", "TH"};
  tokens.Create("supervisor-1", workflow::Role::kSupervisor, supervisor_scope, "rf_supervisor_secret_0123456789ab");
  try {
    tokens.Create("embassy-bd-1", workflow::Role::kAdmin, {}, "rf_another_secret_0123456789abcdef");
    FAIL("duplicate token name accepted");
  } catch (const PersistenceError& error) {
    CHECK(error.Kind() == ErrorKind::kConflict);
  }

  const auto listed = tokens.List();
  REQUIRE(listed.size() == 2);
  CHECK(listed[1].scope.countries == std::vector<std::string>{"ID", "TH"});
  CHECK(tokens.Count() == 2);

  CHECK(tokens.Revoke("embassy-bd-1"));
  CHECK_FALSE(tokens.Revoke("embassy-bd-1"));
  const auto revoked = tokens.FindBySecret(secret);
  REQUIRE(revoked);
  CHECK_FALSE(revoked->Active());
}
