// The changes the engine records on a case by itself, outside the machine: partner assignment and consent
// records. Each is one transaction that locks the case, checks who may change it and its version, writes
// what changed, appends one history row and moves the case to its next version (checked like an event's
// update), so that a state cached before the change (the group committer's CaseStateCache) can never be
// used to decide an event after it.
#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "persistence/apply_plan.hpp"
#include "persistence/case_rows.hpp"
#include "persistence/history_chain.hpp"
#include "persistence/internal.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {

using internal::CaseRow;
using internal::FromMicros;
using internal::HistoryRow;
using internal::JoinList;
using internal::Query;
using internal::SplitList;
using internal::ToMicros;

namespace {

constexpr Query kDeleteCasePartner{"delete case partner",
                                   "DELETE FROM case_partners WHERE case_id = :case_id AND organisation = :organisation"};
// A recorded change: the partner list (unchanged for consents), the case's new version and last sequence,
// checked as an event's update is.
constexpr Query kUpdateCaseForRecord{
    "update case for recorded change",
    "UPDATE cases SET partners = :partners, version = :version_after, last_sequence = :sequence, "
    "updated_at = :updated_at, head_hash = :head_hash WHERE case_id = :case_id AND version = :expected_version "
    "AND last_sequence = :expected_last_sequence"};

#define RETURNFLOW_CONSENT_COLUMNS                                                                       \
  "consent_id, case_id, member_id, recipient, purpose, categories, given_at, recorded_at, recorded_by, " \
  "withdrawn_at, withdrawn_by"
constexpr Query kInsertConsent{
    "insert consent",
    "INSERT INTO case_consents (" RETURNFLOW_CONSENT_COLUMNS ") VALUES (:consent_id, :case_id, :member_id, "
    ":recipient, :purpose, :categories, :given_at, :recorded_at, :recorded_by, NULL, NULL)"};
// :case_id -> every record of the case, oldest first.
constexpr Query kSelectConsents{"select consents",
                                "SELECT " RETURNFLOW_CONSENT_COLUMNS " FROM case_consents WHERE case_id = :case_id "
                                "ORDER BY recorded_at, consent_id"};
constexpr Query kWithdrawConsent{
    "withdraw consent",
    "UPDATE case_consents SET withdrawn_at = :withdrawn_at, withdrawn_by = :withdrawn_by WHERE consent_id = "
    ":consent_id AND case_id = :case_id AND withdrawn_at IS NULL"};

constexpr std::string_view kPartnerAssigned = "case.partner_assigned";
constexpr std::string_view kPartnerUnassigned = "case.partner_unassigned";
constexpr std::string_view kConsentRecorded = "case.consent_recorded";
constexpr std::string_view kConsentWithdrawn = "case.consent_withdrawn";

[[noreturn]] void Throw(ErrorKind kind, std::string_view operation, const std::string& case_id, std::string_view why) {
  throw PersistenceError(kind, fmt::format("{} case={}: {}{}", operation, case_id, Name(kind), why));
}

/// Locks the case and checks the caller (kNotFound) and, unless told not to (a repeat answers whatever the
/// version is now), the version (kVersionConflict).
CaseRow LockForChange(soci::session& sql, Database& database, const std::string& case_id, const RecordedChange& change,
                      std::string_view operation, bool check_version = true) {
  CaseRow row;
  if (!internal::LoadCase(sql, database.GetBackend(), case_id, /*for_update=*/true, row) ||
      (change.may_change && !change.may_change(row.Scope()))) {
    Throw(ErrorKind::kNotFound, operation, case_id, "");
  }
  if (check_version && change.expected_version && *change.expected_version != row.version) {
    Throw(ErrorKind::kVersionConflict, operation, case_id,
          fmt::format(" (version is {}, expected {})", row.version, *change.expected_version));
  }
  return row;
}

/// The history row of a recorded change and the case's next version, checked; returns the change.
struct HistoryRecord {
  std::string_view type;
  boost::json::object payload;
  std::vector<std::string> changes;
  std::string source = std::string(internal::kEngineSource);
  std::string event_id = internal::NewUuid();
  std::string request_hash;  ///< empty: the payload's
};

CaseChange AppendRecord(soci::session& sql, Database& database, const CaseRow& row, const RecordedChange& change,
                        HistoryRecord record, const std::string& partners) {
  const long long now = ToMicros(database.Now());
  HistoryRow history;
  history.case_id = row.case_id;
  history.sequence = row.last_sequence + 1;
  history.source = std::move(record.source);
  history.event_id = std::move(record.event_id);
  history.type = std::string(record.type);
  history.actor = change.meta.actor;
  history.occurred_at = ToMicros(std::chrono::time_point_cast<std::chrono::microseconds>(change.meta.occurred_at));
  history.recorded_at = now;
  history.payload = boost::json::serialize(record.payload);
  history.request_hash = record.request_hash.empty() ? internal::RequestHash(history.type, row.case_id, history.payload)
                                                     : std::move(record.request_hash);
  history.verdict = std::string(workflow::Name(workflow::Verdict::kApplied));
  history.states_before = row.active_states;
  history.states_after = row.active_states;
  history.changes = JoinList(record.changes);
  const auto allowed = workflow::Case::Restore(row.saved_state).AllowedEvents();
  history.allowed_events = JoinList({allowed.begin(), allowed.end()});
  history.version_after = row.version + 1;
  std::string head = row.head_hash;
  ChainRow(head, history, database.Options().history_hash_chain);
  internal::InsertHistory(sql, history);
  soci::statement statement(sql);
  internal::PrepareOnce(statement, kUpdateCaseForRecord.text, soci::use(partners, "partners"),
                        soci::use(history.version_after, "version_after"), soci::use(history.sequence, "sequence"),
                        soci::use(now, "updated_at"), soci::use(head, "head_hash"), soci::use(row.case_id, "case_id"),
                        soci::use(row.version, "expected_version"),
                        soci::use(row.last_sequence, "expected_last_sequence"));
  statement.execute(true);
  if (statement.get_affected_rows() != 1) Throw(ErrorKind::kConflict, history.type, row.case_id, "");
  return CaseChange{true, history.version_after, history.sequence, SplitList(partners)};
}

/// Assigns or unassigns one partner (see CaseRepository::AssignPartner).
CaseChange ChangePartner(Database& database, internal::CaseStateCache& cache, std::string_view case_id_view,
                         const PartnerChange& change, bool assign) {
  const std::string_view operation = assign ? "assign partner" : "unassign partner";
  if (!LooksLikeCaseId(case_id_view)) throw PersistenceError(ErrorKind::kNotFound, fmt::format("{}: not_found", operation));
  if (!workflow::ValidOrganisationId(change.organisation)) {
    throw PersistenceError(ErrorKind::kInvalidInput, fmt::format("{}: invalid_input (organisation id)", operation));
  }
  const std::string case_id(case_id_view);
  const std::string& organisation = change.organisation;
  CaseChange result;
  database.WriteTransaction(operation, [&](soci::session& sql) {
    const CaseRow row = LockForChange(sql, database, case_id, change, operation);
    auto partners = SplitList(row.partners);
    const bool present = std::find(partners.begin(), partners.end(), organisation) != partners.end();
    if (assign == present) {
      result = CaseChange{false, row.version, 0, std::move(partners)};
      return;
    }
    if (assign) {
      if (partners.size() >= workflow::kMaxPartnersPerCase) Throw(ErrorKind::kLimitReached, operation, case_id, " (partners)");
      partners.push_back(organisation);
      std::sort(partners.begin(), partners.end());
      sql << internal::kInsertCasePartner.text, soci::use(case_id, "case_id"), soci::use(organisation, "organisation");
    } else {
      partners.erase(std::remove(partners.begin(), partners.end(), organisation), partners.end());
      sql << kDeleteCasePartner.text, soci::use(case_id, "case_id"), soci::use(organisation, "organisation");
    }
    HistoryRecord record{assign ? kPartnerAssigned : kPartnerUnassigned,
                  {{"organisation", organisation}},
                  {fmt::format("{}={}", assign ? "partner_assigned" : "partner_unassigned", organisation)}};
    result = AppendRecord(sql, database, row, change, std::move(record), JoinList(partners));
  });
  // The version moved, so a remembered state would fail its write anyway; forgetting it spares that try.
  cache.Forget(case_id);
  if (result.changed) spdlog::info("case={} event={} actor={}", case_id, assign ? kPartnerAssigned : kPartnerUnassigned, change.meta.actor);
  return result;
}

// --- Consent rows ---------------------------------------------------------------------------------------

std::string CategoriesText(const std::set<workflow::DataCategory>& categories) {
  std::vector<std::string> names;
  for (const auto category : categories) names.emplace_back(workflow::Name(category));
  return JoinList(names);
}

boost::json::array CategoriesJson(const std::set<workflow::DataCategory>& categories) {
  boost::json::array names;
  for (const auto category : categories) names.emplace_back(workflow::Name(category));
  return names;
}

workflow::ConsentRecord ReadConsent(const soci::row& columns) {
  const auto corrupt = [] { return PersistenceError(ErrorKind::kCorruptData, "consents: corrupt_data"); };
  workflow::ConsentRecord consent;
  consent.consent_id = internal::Text(columns, "consent_id");
  consent.case_id = internal::Text(columns, "case_id");
  consent.member_id = internal::Text(columns, "member_id");
  consent.recipient = internal::Text(columns, "recipient");
  const auto purpose =
      workflow::FromName<workflow::TransferPurpose>(internal::Text(columns, "purpose"), workflow::kTransferPurposeNames);
  if (!purpose) throw corrupt();
  consent.purpose = *purpose;
  for (const auto& name : SplitList(internal::Text(columns, "categories"))) {
    const auto category = workflow::FromName<workflow::DataCategory>(name, workflow::kDataCategoryNames);
    if (!category) throw corrupt();
    consent.categories.insert(*category);
  }
  const auto seconds = [](long long micros) { return std::chrono::floor<std::chrono::seconds>(FromMicros(micros)); };
  consent.given_at = seconds(internal::Integer(columns, "given_at"));
  if (!internal::IsNull(columns, "withdrawn_at")) {
    consent.withdrawn_at = seconds(internal::Integer(columns, "withdrawn_at"));
    consent.withdrawn_by = internal::Text(columns, "withdrawn_by");
  }
  consent.recorded_by = internal::Text(columns, "recorded_by");
  return consent;
}

/// The idempotency fingerprint of a consent request: what the caller asked, not what the engine added.
std::string ConsentRequestHash(const std::string& case_id, const NewConsent& consent) {
  boost::json::object request{{"member_id", consent.member_id},
                              {"recipient", consent.recipient},
                              {"purpose", workflow::Name(consent.purpose)},
                              {"categories", CategoriesJson(consent.categories)}};
  if (consent.given_at) request["given_at"] = workflow::FormatInstant(*consent.given_at);
  return internal::RequestHash(kConsentRecorded, case_id, internal::CanonicalJson(boost::json::serialize(request)));
}

std::optional<workflow::ConsentRecord> FindConsent(soci::session& sql, const std::string& case_id,
                                                   std::string_view consent_id) {
  for (auto& consent : LoadConsents(sql, case_id)) {
    if (consent.consent_id == consent_id) return std::move(consent);
  }
  return std::nullopt;
}

}  // namespace

CaseChange CaseRepository::AssignPartner(std::string_view case_id, const PartnerChange& change) {
  return ChangePartner(database_, *state_cache_, case_id, change, true);
}
CaseChange CaseRepository::UnassignPartner(std::string_view case_id, const PartnerChange& change) {
  return ChangePartner(database_, *state_cache_, case_id, change, false);
}

std::vector<workflow::ConsentRecord> LoadConsents(soci::session& sql, std::string_view case_id) {
  const std::string id(case_id);
  std::vector<workflow::ConsentRecord> consents;
  internal::ForEachRow(sql, kSelectConsents, [&](const soci::row& columns) { consents.push_back(ReadConsent(columns)); },
                       soci::use(id, "case_id"));
  return consents;
}

std::vector<workflow::ConsentRecord> ConsentRepository::List(std::string_view case_id_view) {
  if (!LooksLikeCaseId(case_id_view)) throw PersistenceError(ErrorKind::kNotFound, "consents: not_found");
  const std::string case_id(case_id_view);
  std::vector<workflow::ConsentRecord> consents;
  database_.Read("consents", [&](soci::session& sql) {
    CaseRow row;
    if (!internal::LoadCase(sql, database_.GetBackend(), case_id, /*for_update=*/false, row)) {
      Throw(ErrorKind::kNotFound, "consents", case_id, "");
    }
    consents = LoadConsents(sql, case_id);
  });
  return consents;
}

ConsentChange ConsentRepository::Record(std::string_view case_id_view, const NewConsent& consent) {
  constexpr std::string_view kOperation = "record consent";
  if (!LooksLikeCaseId(case_id_view)) throw PersistenceError(ErrorKind::kNotFound, "record consent: not_found");
  const std::string case_id(case_id_view);
  const auto invalid = [&](std::string_view why) { Throw(ErrorKind::kInvalidInput, kOperation, case_id, why); };
  if (consent.member_id.empty()) invalid(" (member id)");
  if (!workflow::ValidOrganisationId(consent.recipient)) invalid(" (recipient organisation id)");
  if (consent.categories.empty()) invalid(" (no data category)");
  const auto now = std::chrono::floor<std::chrono::seconds>(database_.Now());
  const auto given_at = consent.given_at.value_or(now);
  if (given_at > now) invalid(" (given in the future)");
  const bool deduplicated = !consent.request_id.empty();
  const std::string source = "token:" + consent.meta.actor;
  const std::string request_hash = ConsentRequestHash(case_id, consent);
  ConsentChange result;
  database_.WriteTransaction(kOperation, [&](soci::session& sql) {
    const CaseRow row = LockForChange(sql, database_, case_id, consent, kOperation, /*check_version=*/false);
    if (deduplicated) {
      if (auto stored = internal::FindByIdempotencyKey(sql, source, consent.request_id)) {
        if (stored->case_id != case_id || stored->request_hash != request_hash) {
          Throw(ErrorKind::kIdempotencyConflict, kOperation, case_id, " (key reused with another request)");
        }
        boost::system::error_code error;
        const auto payload = boost::json::parse(stored->payload, error);
        const auto* consent_id = error || !payload.is_object() ? nullptr : payload.as_object().if_contains("consent_id");
        auto found = consent_id && consent_id->is_string() ? FindConsent(sql, case_id, consent_id->get_string())
                                                           : std::nullopt;
        if (!found) Throw(ErrorKind::kCorruptData, kOperation, case_id, "");
        result = ConsentChange{std::move(*found), CaseChange{false, row.version, stored->sequence, SplitList(row.partners)}};
        return;
      }
    }
    if (consent.expected_version && *consent.expected_version != row.version) {
      Throw(ErrorKind::kVersionConflict, kOperation, case_id,
            fmt::format(" (version is {}, expected {})", row.version, *consent.expected_version));
    }
    if (LoadConsents(sql, case_id).size() >= kMaxConsentsPerCase) {
      Throw(ErrorKind::kLimitReached, kOperation, case_id, " (consent records)");
    }
    workflow::ConsentRecord record;
    record.consent_id = internal::NewUuid();
    record.case_id = case_id;
    record.member_id = consent.member_id;
    record.recipient = consent.recipient;
    record.purpose = consent.purpose;
    record.categories = consent.categories;
    record.given_at = given_at;
    record.recorded_by = consent.meta.actor;
    const std::string purpose(workflow::Name(record.purpose));
    const std::string categories = CategoriesText(record.categories);
    const long long given_micros = ToMicros(std::chrono::time_point_cast<std::chrono::microseconds>(given_at));
    const long long recorded_micros = ToMicros(database_.Now());
    sql << kInsertConsent.text, soci::use(record.consent_id, "consent_id"), soci::use(case_id, "case_id"),
        soci::use(record.member_id, "member_id"), soci::use(record.recipient, "recipient"), soci::use(purpose, "purpose"),
        soci::use(categories, "categories"), soci::use(given_micros, "given_at"),
        soci::use(recorded_micros, "recorded_at"), soci::use(record.recorded_by, "recorded_by");
    HistoryRecord history{kConsentRecorded,
                   {{"consent_id", record.consent_id},
                    {"member_id", record.member_id},
                    {"recipient", record.recipient},
                    {"purpose", purpose},
                    {"categories", CategoriesJson(record.categories)},
                    {"given_at", workflow::FormatInstant(given_at)}},
                   {fmt::format("consent_recorded={}", record.consent_id)}};
    if (deduplicated) {
      history.source = source;
      history.event_id = consent.request_id;
      history.request_hash = request_hash;
    }
    auto change = AppendRecord(sql, database_, row, consent, std::move(history), row.partners);
    result = ConsentChange{std::move(record), std::move(change)};
  });
  if (result.change.changed) {
    spdlog::info("case={} event={} actor={} consent={} purpose={}", case_id, kConsentRecorded, consent.meta.actor,
                 result.consent.consent_id, workflow::Name(result.consent.purpose));
  }
  return result;
}

ConsentChange ConsentRepository::Withdraw(std::string_view case_id_view, std::string_view consent_id,
                                          const RecordedChange& change) {
  constexpr std::string_view kOperation = "withdraw consent";
  if (!LooksLikeCaseId(case_id_view)) throw PersistenceError(ErrorKind::kNotFound, "withdraw consent: not_found");
  const std::string case_id(case_id_view);
  const std::string id(consent_id);
  ConsentChange result;
  database_.WriteTransaction(kOperation, [&](soci::session& sql) {
    const CaseRow row = LockForChange(sql, database_, case_id, change, kOperation);
    auto found = FindConsent(sql, case_id, id);
    if (!found) Throw(ErrorKind::kNotFound, kOperation, case_id, " (consent)");
    if (found->withdrawn_at) {
      result = ConsentChange{std::move(*found), CaseChange{false, row.version, 0, SplitList(row.partners)}};
      return;
    }
    const auto now = database_.Now();
    const long long withdrawn_micros = ToMicros(now);
    soci::statement statement(sql);
    internal::PrepareOnce(statement, kWithdrawConsent.text, soci::use(withdrawn_micros, "withdrawn_at"),
                          soci::use(change.meta.actor, "withdrawn_by"), soci::use(id, "consent_id"),
                          soci::use(case_id, "case_id"));
    statement.execute(true);
    if (statement.get_affected_rows() != 1) Throw(ErrorKind::kConflict, kOperation, case_id, "");
    found->withdrawn_at = std::chrono::floor<std::chrono::seconds>(now);
    found->withdrawn_by = change.meta.actor;
    HistoryRecord history{kConsentWithdrawn, {{"consent_id", id}}, {fmt::format("consent_withdrawn={}", id)}};
    auto written = AppendRecord(sql, database_, row, change, std::move(history), row.partners);
    result = ConsentChange{std::move(*found), std::move(written)};
  });
  if (result.change.changed) {
    spdlog::info("case={} event={} actor={} consent={}", case_id, kConsentWithdrawn, change.meta.actor, id);
  }
  return result;
}

}  // namespace returnflow::persistence
