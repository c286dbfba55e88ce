// Which categories of personal data may go to an organisation for a purpose at an instant: the pure
// rule the outbox asks before any transfer, tested without a database.
#include <catch2/catch.hpp>

#include "workflow/consent.hpp"

namespace returnflow::workflow {
namespace {

Instant At(const char* text) { return *ParseInstant(text); }

ConsentRecord Consent(std::string member, std::string recipient, TransferPurpose purpose,
                      std::set<DataCategory> categories, const char* given,
                      std::optional<const char*> withdrawn = std::nullopt) {
  ConsentRecord record;
  record.consent_id = "c-" + member + "-" + recipient;
  record.case_id = "case";
  record.member_id = std::move(member);
  record.recipient = std::move(recipient);
  record.purpose = purpose;
  record.categories = std::move(categories);
  record.given_at = At(given);
  if (withdrawn) record.withdrawn_at = At(*withdrawn);
  record.recorded_by = "caseworker-token";
  return record;
}

using Categories = std::set<DataCategory>;
constexpr auto kIdentity = DataCategory::kIdentity;
constexpr auto kDocument = DataCategory::kTravelDocument;
constexpr auto kContact = DataCategory::kContact;
constexpr auto kHealth = DataCategory::kHealth;
constexpr auto kTicketing = TransferPurpose::kTicketing;
constexpr auto kMedical = TransferPurpose::kMedicalAssessment;

}  // namespace

TEST_CASE("consent: exactly the categories given to this organisation for this purpose, while in effect",
          "[workflow][consent]") {
  const std::vector<ConsentRecord> consents = {
      Consent("m1", "travel-agent", kTicketing, {kIdentity, kDocument}, "2026-11-10T10:00:00Z"),
      Consent("m1", "travel-agent", kMedical, {kHealth}, "2026-11-10T10:00:00Z"),
      Consent("m1", "clinic", kMedical, {kHealth, kIdentity}, "2026-11-10T10:00:00Z", "2026-11-20T00:00:00Z"),
      Consent("m2", "travel-agent", kTicketing, {kIdentity}, "2026-11-15T00:00:00Z"),
      Consent("m2", "travel-agent", kTicketing, {kContact}, "2026-11-10T00:00:00Z", "2026-11-12T00:00:00Z"),
  };
  struct Row {
    const char* label;
    std::string member;
    std::string recipient;
    TransferPurpose purpose;
    const char* at;
    Categories expected;
  };
  // clang-format off
  const std::vector<Row> table = {
    // label                                   member recipient        purpose     at                      expected
    {"given: its categories",                  "m1", "travel-agent",  kTicketing, "2026-11-11T00:00:00Z", {kIdentity, kDocument}},
    {"at the instant given: in effect",        "m1", "travel-agent",  kTicketing, "2026-11-10T10:00:00Z", {kIdentity, kDocument}},
    {"a second before given: nothing",         "m1", "travel-agent",  kTicketing, "2026-11-10T09:59:59Z", {}},
    {"other purpose: only that purpose's",     "m1", "travel-agent",  kMedical,   "2026-11-11T00:00:00Z", {kHealth}},
    {"purpose never consented: nothing",       "m1", "travel-agent",  TransferPurpose::kReception, "2026-11-11T00:00:00Z", {}},
    {"other organisation: nothing",            "m1", "embassy",       kTicketing, "2026-11-11T00:00:00Z", {}},
    {"before withdrawal: in effect",           "m1", "clinic",        kMedical,   "2026-11-19T23:59:59Z", {kHealth, kIdentity}},
    {"at the withdrawal instant: nothing",     "m1", "clinic",        kMedical,   "2026-11-20T00:00:00Z", {}},
    {"after withdrawal: nothing",              "m1", "clinic",        kMedical,   "2026-12-01T00:00:00Z", {}},
    {"another member's consent: not this one's", "m1", "travel-agent", kTicketing, "2026-11-16T00:00:00Z", {kIdentity, kDocument}},
    {"member: withdrawn one gone, later one in", "m2", "travel-agent", kTicketing, "2026-11-16T00:00:00Z", {kIdentity}},
    {"member: both in effect, union",          "m2", "travel-agent",  kTicketing, "2026-11-11T00:00:00Z", {kContact}},
    {"unknown member: nothing",                "m9", "travel-agent",  kTicketing, "2026-11-16T00:00:00Z", {}},
  };
  // clang-format on
  for (const auto& row : table) {
    INFO(row.label);
    CHECK(TransferableCategories(consents, row.member, row.recipient, row.purpose, At(row.at)) == row.expected);
  }
  // Per member at once: members with nothing are absent.
  const auto all = TransferableCategories(consents, "travel-agent", kTicketing, At("2026-11-16T00:00:00Z"));
  CHECK(all.size() == 2);
  CHECK(all.at("m1") == Categories{kIdentity, kDocument});
  CHECK(all.at("m2") == Categories{kIdentity});
  CHECK(TransferableCategories(consents, "travel-agent", kTicketing, At("2026-11-01T00:00:00Z")).empty());
  CHECK(TransferableCategories({}, "travel-agent", kTicketing, At("2026-11-16T00:00:00Z")).empty());
}

TEST_CASE("consent: two records for the same recipient and purpose add up, each only from when it was given",
          "[workflow][consent]") {
  const std::vector<ConsentRecord> consents = {
      Consent("m1", "embassy", TransferPurpose::kTravelDocumentIssuance, {kIdentity}, "2026-11-10T00:00:00Z"),
      Consent("m1", "embassy", TransferPurpose::kTravelDocumentIssuance, {kDocument}, "2026-11-12T00:00:00Z"),
  };
  CHECK(TransferableCategories(consents, "m1", "embassy", TransferPurpose::kTravelDocumentIssuance,
                               At("2026-11-11T00:00:00Z")) == Categories{kIdentity});
  CHECK(TransferableCategories(consents, "m1", "embassy", TransferPurpose::kTravelDocumentIssuance,
                               At("2026-11-13T00:00:00Z")) == Categories{kIdentity, kDocument});
}

TEST_CASE("organisation ids: a short, plain word", "[workflow][consent]") {
  CHECK(ValidOrganisationId("embassy-bd"));
  CHECK(ValidOrganisationId("travel_agent.2"));
  CHECK(ValidOrganisationId(std::string(kMaxOrganisationLength, 'a')));
  CHECK_FALSE(ValidOrganisationId(std::string(kMaxOrganisationLength + 1, 'a')));
  CHECK_FALSE(ValidOrganisationId(""));
  CHECK_FALSE(ValidOrganisationId("-leading-dash"));
  CHECK_FALSE(ValidOrganisationId("a|b"));
  CHECK_FALSE(ValidOrganisationId("a b"));
  CHECK_FALSE(ValidOrganisationId("a/b"));
  CHECK_FALSE(ValidOrganisationId("caf\xc3\xa9"));
}

}  // namespace returnflow::workflow

namespace returnflow::workflow {

TEST_CASE("consent: a transfer sends only what the purpose's job needs of what is consented", "[workflow][consent]") {
  // What each job needs, from the domain: documents never go to a medical provider, health never to a
  // travel agent, protection flags only to reception (the caregiver hand-over).
  CHECK(CategoriesNeeded(kTicketing) == Categories{kIdentity, kDocument});
  CHECK(CategoriesNeeded(TransferPurpose::kTravelDocumentIssuance) == Categories{kIdentity, kDocument});
  CHECK(CategoriesNeeded(kMedical) == Categories{kHealth});
  CHECK(CategoriesNeeded(TransferPurpose::kReception) == Categories{kIdentity, kContact, DataCategory::kProtection});
  for (std::size_t index = 0; index < kTransferPurposeNames.size(); ++index) {
    const auto purpose = static_cast<TransferPurpose>(index);
    INFO(Name(purpose));
    CHECK_FALSE(CategoriesNeeded(purpose).empty());
    CHECK_FALSE(PartOfPurpose(purpose).empty());
  }

  const std::vector<ConsentRecord> consents = {
      Consent("m1", "travel-1", kTicketing, {kIdentity, kDocument, kContact, kHealth}, "2026-11-01T10:00:00Z"),
      Consent("m2", "travel-1", kTicketing, {kContact}, "2026-11-01T10:00:00Z"),
      Consent("m1", "clinic-1", kMedical, {kIdentity, kHealth}, "2026-11-01T10:00:00Z", "2026-11-03T10:00:00Z"),
  };
  const auto during = At("2026-11-02T10:00:00Z");
  // m2's consent holds nothing ticketing needs: m2 is absent rather than present with nothing.
  CHECK(CategoriesToTransfer(consents, "travel-1", kTicketing, during) ==
        std::map<std::string, Categories>{{"m1", {kIdentity, kDocument}}});
  CHECK(CategoriesToTransfer(consents, "clinic-1", kMedical, during) ==
        std::map<std::string, Categories>{{"m1", {kHealth}}});
  CHECK(CategoriesToTransfer(consents, "clinic-1", kMedical, At("2026-11-03T10:00:00Z")).empty());
  CHECK(CategoriesToTransfer(consents, "travel-1", kMedical, during).empty());
}

}  // namespace returnflow::workflow
