// The engine's use cases over who is party to a case: partner assignment and the migrant's consent
// records. Who may ask is decided before anything about the case is (a partner or a supervisor asking to
// change one is 403 whatever the case); whether the caller may change this case is decided on the case as
// stored, inside the transaction that changes it (a foreign case answers exactly like an unknown one).
#include <spdlog/spdlog.h>

#include "engine/authorization.hpp"
#include "engine/engine.hpp"
#include "engine/log_text.hpp"

namespace returnflow::engine {

namespace net = boost::asio;

namespace {

[[noreturn]] void Forbid(std::string detail) { throw Failure(FailureKind::kForbidden, std::move(detail)); }

/// A persistence failure of a recorded change, with the limits named.
Failure ChangeFailure(const persistence::PersistenceError& error, std::string_view limit) {
  if (error.Kind() == persistence::ErrorKind::kLimitReached) return Failure(FailureKind::kConflict, std::string(limit));
  return FromPersistence(error);
}

workflow::Instant NowSeconds(persistence::Database& database) {
  return std::chrono::floor<std::chrono::seconds>(database.Now());
}

}  // namespace

net::awaitable<persistence::CaseChange> Engine::ChangePartner(Principal principal, std::string case_id,
                                                              std::string organisation,
                                                              std::optional<std::int64_t> if_match, bool assign) {
  if (!MayAssignPartners(principal)) Forbid("partners are assigned by caseworkers of the case's office and by admins");
  if (!workflow::ValidOrganisationId(organisation)) {
    throw Failure(FailureKind::kInvalidRequest,
                  "an organisation id is 1 to 64 of a-z, A-Z, 0-9, '-', '_' and '.', starting with a letter or digit",
                  "/organisation");
  }
  persistence::PartnerChange change;
  change.organisation = organisation;
  change.meta.actor = principal.actor;
  change.meta.occurred_at = NowSeconds(database_);
  change.expected_version = if_match;
  change.may_change = [principal](const persistence::CaseScope& scope) { return CanAssignPartners(principal, scope); };
  auto write = [this, case_id, change = std::move(change), assign] {
    return assign ? cases_.AssignPartner(case_id, change) : cases_.UnassignPartner(case_id, change);
  };
  try {
    auto result = co_await Blocking(std::move(write));
    co_return result;
  } catch (const persistence::PersistenceError& error) {
    if (error.Kind() == persistence::ErrorKind::kNotFound) {
      spdlog::info("event=authorization_refused actor={} case={} reason=not_visible", principal.actor, Caller{case_id});
    }
    throw ChangeFailure(error, fmt::format("a case has at most {} partners", workflow::kMaxPartnersPerCase));
  }
}

net::awaitable<persistence::CaseChange> Engine::AssignPartner(Principal principal, std::string case_id,
                                                              std::string organisation,
                                                              std::optional<std::int64_t> if_match) {
  return ChangePartner(std::move(principal), std::move(case_id), std::move(organisation), if_match, true);
}

net::awaitable<persistence::CaseChange> Engine::UnassignPartner(Principal principal, std::string case_id,
                                                                std::string organisation,
                                                                std::optional<std::int64_t> if_match) {
  return ChangePartner(std::move(principal), std::move(case_id), std::move(organisation), if_match, false);
}

net::awaitable<persistence::ConsentChange> Engine::RecordConsent(Principal principal, std::string case_id,
                                                                 persistence::NewConsent consent) {
  if (principal.role != Role::kCaseworker) Forbid("consent is recorded by caseworkers of the case's office");
  // The data subject is one of the case's household: read the case (visible to the caller, or 404) first.
  auto record = co_await VisibleCase(principal, case_id);
  std::vector<std::string> members;
  try {
    const auto machine = workflow::Case::Restore(record.saved_state);  // named: the loop reads into it
    for (const auto& member : machine.Context().household) members.push_back(member.member_id);
  } catch (const workflow::RestoreFailed&) {
    throw Failure(FailureKind::kCorruptCase, "the stored case cannot be read by this version of the engine");
  }
  if (consent.member_id.empty()) {
    if (members.size() != 1) {
      throw Failure(FailureKind::kInvalidRequest, "the household has several members: name the data subject",
                    "/member_id");
    }
    consent.member_id = members.front();
  } else if (std::find(members.begin(), members.end(), consent.member_id) == members.end()) {
    throw Failure(FailureKind::kInvalidRequest, "'member_id' is not a member of the case's household", "/member_id");
  }
  if (consent.given_at && *consent.given_at > NowSeconds(database_)) {
    throw Failure(FailureKind::kInvalidRequest, "'given_at' must not be in the future", "/given_at");
  }
  consent.meta.actor = principal.actor;
  consent.meta.occurred_at = NowSeconds(database_);
  consent.may_change = [principal](const persistence::CaseScope& scope) { return CanRecordConsent(principal, scope); };
  auto write = [this, case_id, consent = std::move(consent)] { return consents_.Record(case_id, consent); };
  try {
    auto result = co_await Blocking(std::move(write));
    co_return result;
  } catch (const persistence::PersistenceError& error) {
    throw ChangeFailure(error, fmt::format("a case holds at most {} consent records (withdrawn ones included)",
                                           persistence::kMaxConsentsPerCase));
  }
}

net::awaitable<persistence::ConsentChange> Engine::WithdrawConsent(Principal principal, std::string case_id,
                                                                   std::string consent_id,
                                                                   std::optional<std::int64_t> if_match) {
  if (principal.role != Role::kCaseworker) Forbid("consent is withdrawn by caseworkers of the case's office");
  persistence::RecordedChange change;
  change.meta.actor = principal.actor;
  change.meta.occurred_at = NowSeconds(database_);
  change.expected_version = if_match;
  change.may_change = [principal](const persistence::CaseScope& scope) { return CanRecordConsent(principal, scope); };
  auto write = [this, case_id, consent_id, change = std::move(change)] {
    return consents_.Withdraw(case_id, consent_id, change);
  };
  try {
    auto result = co_await Blocking(std::move(write));
    co_return result;
  } catch (const persistence::PersistenceError& error) {
    if (error.Kind() == persistence::ErrorKind::kNotFound) {
      throw Failure(FailureKind::kNotFound, "no case with this id is visible to the caller, or it has no such consent");
    }
    throw FromPersistence(error);
  }
}

net::awaitable<ConsentList> Engine::ListConsents(Principal principal, std::string case_id) {
  if (principal.role == Role::kAdmin) Forbid("admin tokens manage tokens; they do not read cases");
  auto record = co_await VisibleCase(principal, case_id);
  auto read = [this, case_id] { return consents_.List(case_id); };
  std::vector<workflow::ConsentRecord> consents;
  try {
    consents = co_await Blocking(std::move(read));
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
  co_return ConsentsView(principal, record.Scope(), std::move(consents), NowSeconds(database_));
}

}  // namespace returnflow::engine
