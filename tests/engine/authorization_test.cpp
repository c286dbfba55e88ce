// Who may do what, decided without a server: visibility, event permissions, sources, tokens.
#include <catch2/catch.hpp>

#include "engine/authorization.hpp"
#include "engine/failure.hpp"
#include "engine/log_text.hpp"
#include "engine/tokens.hpp"

using namespace returnflow;
using namespace returnflow::engine;

namespace {

Principal Make(Role role, std::string office = {}, std::string organisation = {}, std::set<std::string> types = {},
               std::set<std::string> countries = {}, std::set<std::string> sources = {"urn:test"}) {
  Principal principal;
  principal.token_id = "t";
  principal.actor = "a";
  principal.role = role;
  principal.office = std::move(office);
  principal.organisation = std::move(organisation);
  principal.event_types = std::move(types);
  principal.countries = std::move(countries);
  principal.sources = std::move(sources);
  return principal;
}

}  // namespace

TEST_CASE("case visibility follows office, assignment and supervisor countries, and admins see no case", "[engine][auth]") {
  const CaseScope scope{"jakarta", "ID", "BD", {"embassy-bd", "clinic-1"}};
  CHECK(CanSeeCase(Make(Role::kCaseworker, "jakarta"), scope));
  CHECK_FALSE(CanSeeCase(Make(Role::kCaseworker, "surabaya"), scope));
  CHECK_FALSE(CanSeeCase(Make(Role::kCaseworker, ""), CaseScope{"", "ID", "BD", {}}));
  CHECK(CanSeeCase(Make(Role::kPartner, "", "embassy-bd", {"travel_document.issued"}), scope));
  CHECK_FALSE(CanSeeCase(Make(Role::kPartner, "", "embassy-np", {"travel_document.issued"}), scope));
  CHECK(CanSeeCase(Make(Role::kSupervisor, "", "", {}, {"*"}), scope));
  CHECK(CanSeeCase(Make(Role::kSupervisor, "", "", {}, {"BD"}), scope));
  CHECK_FALSE(CanSeeCase(Make(Role::kSupervisor, "", "", {}, {"NP"}), scope));
  CHECK_FALSE(CanSeeCase(Make(Role::kAdmin), scope));
  CHECK(CanReadPersonalData(Make(Role::kCaseworker, "jakarta"), scope));
  CHECK_FALSE(CanReadPersonalData(Make(Role::kPartner, "", "embassy-bd"), scope));
  CHECK_FALSE(CanReadPersonalData(Make(Role::kSupervisor, "", "", {}, {"*"}), scope));
}

TEST_CASE("a supervisor with no country sees no case, and '*' is every country", "[engine][auth]") {
  const CaseScope scope{"jakarta", "ID", "BD", {}};
  const auto nothing = Make(Role::kSupervisor, "", "", {}, {});
  CHECK_FALSE(CanSeeCase(nothing, scope));
  REQUIRE(SearchCountries(nothing).has_value());
  CHECK(SearchCountries(nothing)->empty());
  CHECK_FALSE(SearchCountries(Make(Role::kSupervisor, "", "", {}, {"*"})).has_value());
  CHECK(SearchCountries(Make(Role::kSupervisor, "", "", {}, {"BD", "ID"})) == std::vector<std::string>{"BD", "ID"});
}

TEST_CASE("event permissions: partners their types, supervisors approvals only, caseworkers the rest", "[engine][auth]") {
  const auto caseworker = Make(Role::kCaseworker, "jakarta");
  const auto partner = Make(Role::kPartner, "", "embassy-bd", {"travel_document.issued"});
  const auto supervisor = Make(Role::kSupervisor, "", "", {}, {"*"});
  CHECK(CanSendEvent(caseworker, "consent.recorded"));
  CHECK_FALSE(CanSendEvent(caseworker, "best_interests.approved"));
  CHECK(CanSendEvent(partner, "travel_document.issued"));
  CHECK_FALSE(CanSendEvent(partner, "fitness.certified"));
  CHECK(CanSendEvent(supervisor, "best_interests.approved"));
  // Supervisors approve or reject a caseworker's closure request; they do not close or request alone.
  CHECK(CanSendEvent(supervisor, "case.closure_approved"));
  CHECK(CanSendEvent(supervisor, "case.closure_rejected"));
  CHECK_FALSE(CanSendEvent(supervisor, "case.closed"));
  CHECK_FALSE(CanSendEvent(supervisor, "case.closure_requested"));
  CHECK(CanSendEvent(caseworker, "case.closure_requested"));
  CHECK_FALSE(CanSendEvent(caseworker, "case.closure_approved"));
  CHECK_FALSE(CanSendEvent(caseworker, "case.closure_rejected"));
  CHECK_FALSE(CanSendEvent(Make(Role::kPartner, "", "ngo", {"case.closure_requested"}), "case.closure_requested"));
  CHECK_FALSE(CanSendEvent(supervisor, "consent.recorded"));
  CHECK_FALSE(CanSendEvent(Make(Role::kAdmin), "consent.recorded"));
}

TEST_CASE("an event's source must be one its token lists", "[engine][auth]") {
  const auto partner = Make(Role::kPartner, "", "embassy-bd", {"travel_document.issued"}, {}, {"urn:embassy-bd", "urn:x"});
  CHECK(CanUseSource(partner, "urn:embassy-bd"));
  CHECK_FALSE(CanUseSource(partner, "urn:embassy-np"));
  CHECK_FALSE(CanUseSource(partner, ""));
}

TEST_CASE("metrics are for admins and supervisors only, free text for caseworkers and supervisors", "[engine][auth]") {
  CHECK(CanReadMetrics(Make(Role::kAdmin)));
  CHECK(CanReadMetrics(Make(Role::kSupervisor, "", "", {}, {"NP"})));
  CHECK_FALSE(CanReadMetrics(Make(Role::kCaseworker, "jakarta")));
  CHECK_FALSE(CanReadMetrics(Make(Role::kPartner, "", "embassy-bd", {"travel_document.issued"})));
  CHECK(CanReadFreeText(Make(Role::kCaseworker, "jakarta")));
  CHECK(CanReadFreeText(Make(Role::kSupervisor)));
  CHECK_FALSE(CanReadFreeText(Make(Role::kPartner, "", "embassy-bd")));
}

TEST_CASE("tokens are random, hashed with SHA-256 and compared in constant time", "[engine][tokens]") {
  auto first = GenerateToken();
  auto second = GenerateToken();
  CHECK(first != second);
  CHECK(first.starts_with("rft_"));
  CHECK(first.size() == 4 + 43);
  CHECK(HashToken("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(DigestsEqual(HashToken(first), HashToken(first)));
  CHECK_FALSE(DigestsEqual(HashToken(first), HashToken(second)));
  CHECK_FALSE(DigestsEqual("ab", "abc"));
}

TEST_CASE("new tokens are validated per role, with a pointer to the member at fault", "[engine][tokens]") {
  const auto pointer_of = [](NewToken token) {
    try {
      ValidateNewToken(token);
    } catch (const Failure& failure) {
      CHECK(failure.Kind() == FailureKind::kInvalidRequest);
      return failure.Pointer();
    }
    return std::string("valid");
  };
  CHECK(pointer_of({"ok", Make(Role::kCaseworker, "jkt")}) == "valid");
  CHECK(pointer_of({"bad name", Make(Role::kAdmin)}) == "/name");
  CHECK(pointer_of({"x", Make(Role::kCaseworker, "")}) == "/scope/office");
  CHECK(pointer_of({"x", Make(Role::kPartner, "", "e", {"no.such"})}) == "/scope/event_types");
  CHECK(pointer_of({"x", Make(Role::kPartner, "", "e", {"best_interests.approved"})}) == "/scope/event_types");
  CHECK(pointer_of({"x", Make(Role::kPartner, "", "e", {})}) == "/scope/event_types");
  CHECK(pointer_of({"x", Make(Role::kSupervisor, "", "", {}, {"Indonesia"})}) == "/scope/countries");
  CHECK(pointer_of({"x", Make(Role::kSupervisor, "", "", {}, {"*", "ID"})}) == "valid");
  CHECK(pointer_of({"x", Make(Role::kCaseworker, "jkt", "", {}, {}, {"has space"})}) == "/scope/sources");
  CHECK(pointer_of({"x", Make(Role::kCaseworker, "jkt", "", {}, {}, {"a|b"})}) == "/scope/sources");
  CHECK(DefaultSource("embassy-bd") == "urn:returnflow:token:embassy-bd");
}

TEST_CASE("caller text in log lines is escaped and cut", "[engine][log]") {
  CHECK(EscapeForLog("travel.booked") == "travel.booked");
  CHECK(EscapeForLog("a\nlevel=error forged") == "a\\x0alevel=error forged");
  CHECK(EscapeForLog("q\"uote\\") == "q\\x22uote\\x5c");
  CHECK(EscapeForLog(std::string(900'000, 'x')).size() == 83);
  CHECK(fmt::format("{}", Caller{"\r\n"}) == "\\x0d\\x0a");
}

TEST_CASE("an auditor reads the audit and nothing else, and admins read the audit too", "[engine][auth]") {
  // A scope that every other role's own token would be inside of.
  const CaseScope scope{"jakarta", "ID", "BD", {"embassy-bd"}};
  auto auditor = Make(Role::kAuditor, "jakarta", "embassy-bd", {"travel_document.issued"}, {"*"});
  CHECK(CanReadAudit(auditor));
  CHECK(ReadsOnlyTheAudit(auditor));
  CHECK_FALSE(CanSeeCase(auditor, scope));
  CHECK_FALSE(CanReadPersonalData(auditor, scope));
  CHECK_FALSE(CanSendEvent(auditor, "travel_document.issued"));
  CHECK_FALSE(CanSendEvent(auditor, "case.closed"));
  CHECK_FALSE(CanCreateCase(auditor, "jakarta"));
  CHECK_FALSE(CanSearch(auditor));
  CHECK_FALSE(CanReadWorkflow(auditor));
  CHECK_FALSE(CanManageTokens(auditor));
  CHECK_FALSE(CanCreateCheckpoints(auditor));
  CHECK_FALSE(CanManageSubscriptions(auditor));
  CHECK_FALSE(CanReadMetrics(auditor));
  CHECK_FALSE(CanReadProgrammes(auditor));
  CHECK_FALSE(CanManageProgrammes(auditor));
  CHECK_FALSE(CanHandleIncidents(auditor));
  CHECK_FALSE(CanMoveTestingClock(auditor));
  CHECK_FALSE(CanReadFreeText(auditor));
  CHECK_FALSE(MayAssignPartners(auditor));
  CHECK_FALSE(CanAssignPartners(auditor, scope));
  CHECK_FALSE(CanRecordConsent(auditor, scope));
  CHECK(ConsentReadingFor(auditor, scope) == ConsentReading::kNone);

  CHECK(CanReadAudit(Make(Role::kAdmin)));
  CHECK_FALSE(ReadsOnlyTheAudit(Make(Role::kAdmin)));
  CHECK_FALSE(CanReadAudit(Make(Role::kCaseworker, "jakarta")));
  CHECK_FALSE(CanReadAudit(Make(Role::kPartner, "", "embassy-bd", {"travel_document.issued"})));
  CHECK_FALSE(CanReadAudit(Make(Role::kSupervisor, "", "", {}, {"*"})));
}
