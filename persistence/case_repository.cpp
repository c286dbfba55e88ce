// CaseRepository: case creation, reads, the one-event apply path (SQLite, and PostgreSQL's careful path),
// history, search and partner assignment. The group paths are in group_apply.cpp.
#include <fmt/format.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <deque>

#include "persistence/apply_plan.hpp"
#include "persistence/case_rows.hpp"
#include "persistence/cursor.hpp"
#include "persistence/internal.hpp"
#include "persistence/pg_statements.hpp"
#include "persistence/repository.hpp"
#include "workflow/deadlines.hpp"

namespace returnflow::persistence {

using internal::ApplyInTransaction;
using internal::CaseRow;
using internal::CheckIncoming;
using internal::FromMicros;
using internal::HistoryRow;
using internal::JoinList;
using internal::Query;
using internal::RequestHash;
using internal::SplitList;
using internal::ToMicros;

namespace {

constexpr std::string_view kOpenedType = "case.opened";
constexpr std::string_view kEngineSource = "returnflow";

std::vector<std::string> ToStrings(const std::vector<std::string_view>& views) { return {views.begin(), views.end()}; }

/// Maps stored event names back to the static names the workflow hands out (ApplyResult holds views).
std::vector<std::string_view> ToEventNameViews(const std::vector<std::string>& names) {
  std::vector<std::string_view> views;
  const auto& known = workflow::AllEventNames();
  for (const auto& name : names) {
    const auto found = std::find(known.begin(), known.end(), name);
    if (found != known.end()) views.push_back(*found);
  }
  return views;
}

std::optional<workflow::Verdict> VerdictFromName(std::string_view name) {
  for (const auto verdict :
       {workflow::Verdict::kApplied, workflow::Verdict::kNotAllowed, workflow::Verdict::kGuardRefused,
        workflow::Verdict::kSuspended, workflow::Verdict::kClosed}) {
    if (workflow::Name(verdict) == name) return verdict;
  }
  return std::nullopt;
}

long long MicrosOf(workflow::Instant instant) {
  return ToMicros(std::chrono::time_point_cast<std::chrono::microseconds>(instant));
}

// (source, event_id) -> the history row recorded under that key.
constexpr Query kSelectByIdempotencyKey{
    "select by idempotency key",
    "SELECT " RETURNFLOW_HISTORY_COLUMNS " FROM case_events WHERE source = :source AND event_id = :event_id"};

// SQLite: the case (RETURNFLOW_CASE_COLUMNS) and the request hash recorded under the event's key, if any
// (`request_hash`, NULL when not seen). The write lock is the transaction's (BEGIN IMMEDIATE).
constexpr Query kSelectCaseAndKey{
    "select case and idempotency key",
    "SELECT c.case_id, c.programme, c.host_country, c.origin_country, c.office, c.partners, c.stage, "
    "c.active_states, c.saved_state, c.vulnerability_flags, c.version, c.last_sequence, c.created_at, c.updated_at, "
    "c.stage_entered_at, c.next_deadline, e.request_hash FROM cases c LEFT JOIN case_events e "
    "ON e.source = :source AND e.event_id = :event_id WHERE c.case_id = :case_id"};

// SQLite: the case update of one event (applied or not: a refused event passes the values unchanged),
// checked against the version and last sequence it was decided on. With InsertHistory, the SQLite event
// write; PostgreSQL's is rf_apply_one / rf_apply_group_write (pg_statements.cpp).
constexpr Query kUpdateCaseAfterEvent{
    "update case after event",
    "UPDATE cases SET version = :version_after, last_sequence = :sequence, saved_state = :saved_state, "
    "stage = :stage, active_states = :active_states, vulnerability_flags = :flags, host_country = :host_country, "
    "origin_country = :origin_country, updated_at = :updated_at, stage_entered_at = :stage_entered_at, "
    "next_deadline = :next_deadline WHERE case_id = :case_id AND version = :expected_version "
    "AND last_sequence = :expected_last_sequence"};

}  // namespace

namespace internal {

std::string RequestHash(std::string_view type, std::string_view subject, std::string_view canonical_data) {
  std::string material;
  material.reserve(type.size() + subject.size() + canonical_data.size() + 2);
  material.append(type).append("\n").append(subject).append("\n").append(canonical_data);
  return Sha256Hex(material);
}

std::optional<HistoryRow> FindByIdempotencyKey(soci::session& sql, const std::string& source,
                                               const std::string& event_id) {
  std::optional<HistoryRow> stored;
  ForEachRow(sql, kSelectByIdempotencyKey, [&](const soci::row& columns) {
    stored.emplace();
    ReadHistoryRow(columns, *stored);
  }, soci::use(source, "source"), soci::use(event_id, "event_id"));
  return stored;
}

ApplyOutcome ReplayedOutcome(const HistoryRow& stored) {
  ApplyOutcome outcome;
  outcome.case_id = stored.case_id;
  outcome.sequence = stored.sequence;
  outcome.version = stored.version_after;
  outcome.replayed = true;
  const auto verdict = VerdictFromName(stored.verdict);
  if (!verdict) throw PersistenceError(ErrorKind::kCorruptData, "apply: corrupt_data (stored verdict unknown)");
  outcome.result.verdict = *verdict;
  outcome.result.reason = stored.reason;
  outcome.result.from = SplitList(stored.states_before);
  outcome.result.to = SplitList(stored.states_after);
  outcome.result.changes = SplitList(stored.changes);
  outcome.result.allowed_events = ToEventNameViews(SplitList(stored.allowed_events));
  return outcome;
}

// Documented in apply_plan.hpp.
bool PlanApply(soci::session& sql, const std::string& case_id, const IncomingEvent& incoming,
               const std::string& payload, const std::string& request_hash, const CaseState& state, bool seen,
               ApplyOutcome& outcome, PlannedWrite& plan) {
  if (incoming.visible_to && !incoming.visible_to(state.scope)) {
    throw PersistenceError(ErrorKind::kNotFound, fmt::format("apply case={}: not_found", case_id));
  }
  if (!seen) {
    // Nothing seen; fall through to apply.
  } else if (auto stored = FindByIdempotencyKey(sql, incoming.source, incoming.event_id)) {
    if (stored->request_hash != request_hash) {
      throw PersistenceError(ErrorKind::kIdempotencyConflict,
                             fmt::format("apply case={}: idempotency_conflict (event id reused with other content)",
                                         case_id));
    }
    outcome = ReplayedOutcome(*stored);
    return false;
  }
  if (incoming.expected_version && *incoming.expected_version != state.version) {
    throw PersistenceError(ErrorKind::kVersionConflict,
                           fmt::format("apply case={}: version_conflict (version is {}, expected {})", case_id,
                                       state.version, *incoming.expected_version));
  }

  auto machine = workflow::Case::Restore(state.saved_state);
  const std::string stage_before(machine.Stage());
  auto result = machine.Apply(incoming.event, incoming.meta);
  const bool applied = result.Applied();

  outcome = ApplyOutcome{};
  outcome.case_id = case_id;
  outcome.sequence = state.last_sequence + 1;
  outcome.version = applied ? state.version + 1 : state.version;
  const long long now = ToMicros(Now());

  plan = PlannedWrite{};
  HistoryRow& history = plan.history;
  history.case_id = case_id;
  history.sequence = outcome.sequence;
  history.source = incoming.source;
  history.event_id = incoming.event_id;
  history.type = incoming.type;
  history.actor = incoming.meta.actor;
  history.occurred_at = MicrosOf(incoming.meta.occurred_at);
  history.recorded_at = now;
  history.payload = payload;
  history.request_hash = request_hash;
  history.verdict = std::string(workflow::Name(result.verdict));
  history.reason = result.reason;
  history.states_before = JoinList(result.from);
  history.states_after = JoinList(result.to);
  history.changes = JoinList(result.changes);
  history.allowed_events = JoinList(ToStrings(result.allowed_events));
  history.version_after = outcome.version;
  plan.applied = applied;
  plan.expected_version = state.version;
  plan.expected_last_sequence = state.last_sequence;
  plan.now = now;
  if (applied) {
    const auto& context = machine.Context();
    plan.stage = std::string(machine.Stage());
    plan.stage_entered_at = plan.stage == stage_before ? state.stage_entered_at : history.occurred_at;
    const auto entered = std::chrono::floor<std::chrono::seconds>(FromMicros(plan.stage_entered_at));
    if (const auto deadline = workflow::NextDeadline(plan.stage, context, entered)) {
      plan.next_deadline = MicrosOf(*deadline);
      plan.has_deadline = true;
    }
    plan.saved = machine.Save();
    plan.active_states = JoinList(machine.ActiveStates());
    plan.flags = VulnerabilityBits(context.HouseholdVulnerabilities());
    plan.host_country = context.host_country;
    plan.origin_country = context.origin_country;
  }
  outcome.result = std::move(result);
  return true;
}

namespace {

/// SQLite: writes `plan` (InsertHistory + kUpdateCaseAfterEvent). A refused event leaves the case's
/// values as they are in `row`. False when the case moved since it was read (cannot happen under the
/// write lock; checked all the same: a lost race is never an overwrite).
bool WriteSqlite(soci::session& sql, const CaseRow& row, const PlannedWrite& plan) {
  InsertHistory(sql, plan.history);
  const bool applied = plan.applied;
  const std::string& saved_state = applied ? plan.saved : row.saved_state;
  const std::string& stage = applied ? plan.stage : row.stage;
  const std::string& active_states = applied ? plan.active_states : row.active_states;
  const int flags = applied ? plan.flags : row.vulnerability_flags;
  const std::string& host_country = applied ? plan.host_country : row.host_country;
  const std::string& origin_country = applied ? plan.origin_country : row.origin_country;
  const long long updated_at = applied ? plan.now : row.updated_at;
  const long long stage_entered_at = applied ? plan.stage_entered_at : row.stage_entered_at;
  const bool has_deadline = applied ? plan.has_deadline : row.has_next_deadline;
  const long long next_deadline = applied ? plan.next_deadline : row.next_deadline;
  soci::indicator deadline_indicator = has_deadline ? soci::i_ok : soci::i_null;
  soci::statement statement(sql);
  PrepareOnce(statement, kUpdateCaseAfterEvent.text, soci::use(plan.history.version_after, "version_after"),
              soci::use(plan.history.sequence, "sequence"), soci::use(saved_state, "saved_state"),
              soci::use(stage, "stage"), soci::use(active_states, "active_states"), soci::use(flags, "flags"),
              soci::use(host_country, "host_country"), soci::use(origin_country, "origin_country"),
              soci::use(updated_at, "updated_at"), soci::use(stage_entered_at, "stage_entered_at"),
              soci::use(next_deadline, deadline_indicator, "next_deadline"),
              soci::use(plan.history.case_id, "case_id"), soci::use(plan.expected_version, "expected_version"),
              soci::use(plan.expected_last_sequence, "expected_last_sequence"));
  statement.execute(true);
  return statement.get_affected_rows() == 1;
}

/// PostgreSQL's careful path: rf_apply_one, the same write the group paths send.
bool WritePostgres(soci::session& sql, const PlannedWrite& plan) {
  const auto values = WriteValues(plan);
  std::vector<const char*> parameters;
  for (const auto& value : values) parameters.push_back(value ? value->c_str() : nullptr);
  try {
    PgRows rows(sql, kPgApplyOne, parameters);
    return true;
  } catch (const soci::postgresql_soci_error& error) {
    if (IsConstraintViolation()) throw RetryTransaction{};
    if (error.sqlstate() == "22P02") return false;  // the write's own check: the case moved
    throw;
  }
}

}  // namespace

/// The body of Apply, inside a transaction that the caller owns.
ApplyOutcome ApplyInTransaction(soci::session& sql, Database& database, const std::string& case_id,
                                const IncomingEvent& incoming, const std::string& payload,
                                const std::string& request_hash) {
  // One round trip takes the case lock and looks up the idempotency key. A concurrent duplicate for this
  // case waits on the lock; if the join, evaluated from the statement's snapshot, missed the first
  // delivery's row, the unique key on (source, event_id) stops the insert and the retry finds it.
  const Backend backend = database.GetBackend();
  CaseRow row;
  bool found = false;
  bool seen = false;
  if (backend == Backend::kPostgresql) {
    database.EnsurePrepared(sql, &PreparePostgresStatements);
    PgRows rows(sql, kPgApplyLock, {incoming.source.c_str(), incoming.event_id.c_str(), case_id.c_str()});
    found = rows.Count() == 1;
    if (found) {
      ReadCaseRow(PgColumns{rows, 0}, row);
      seen = !rows.IsNull(0, "request_hash");
    }
  } else {
    ForEachRow(sql, kSelectCaseAndKey, [&](const soci::row& columns) {
      ReadCaseRow(columns, row);
      seen = !IsNull(columns, "request_hash");
      found = true;
    }, soci::use(incoming.source, "source"), soci::use(incoming.event_id, "event_id"), soci::use(case_id, "case_id"));
  }
  if (!found) throw PersistenceError(ErrorKind::kNotFound, fmt::format("apply case={}: not_found", case_id));
  ApplyOutcome outcome;
  PlannedWrite plan;
  if (!PlanApply(sql, case_id, incoming, payload, request_hash, CaseState::Of(row), seen, outcome, plan)) {
    return outcome;
  }
  const bool written = backend == Backend::kPostgresql ? WritePostgres(sql, plan) : WriteSqlite(sql, row, plan);
  if (!written) {
    // Cannot happen while the lock discipline holds; if it ever does, it is a lost race, never an overwrite.
    throw PersistenceError(ErrorKind::kConflict, fmt::format("apply case={}: conflict (concurrent update)", case_id));
  }
  return outcome;
}

void CheckIncoming(std::string_view case_id, const IncomingEvent& incoming) {
  if (!LooksLikeCaseId(case_id)) {
    throw PersistenceError(ErrorKind::kNotFound, "apply: not_found (malformed case id)");
  }
  if (incoming.source.empty() || incoming.event_id.empty()) {
    throw PersistenceError(ErrorKind::kInvalidInput, "apply: invalid_input (event source and id are required)");
  }
  if (incoming.type != workflow::EventName(incoming.event)) {
    throw PersistenceError(ErrorKind::kInvalidInput, "apply: invalid_input (type does not match the decoded event)");
  }
}

}  // namespace internal

namespace {

/// A query with a WHERE clause assembled from optional filters, its parameters bound by name.
class FilteredQuery {
 public:
  std::string Bind(std::string value) {
    const auto name = fmt::format("p{}", names_.size());
    strings_.push_back(std::move(value));
    names_.push_back({name, false, strings_.size() - 1});
    return ":" + name;
  }
  std::string Bind(long long value) {
    const auto name = fmt::format("p{}", names_.size());
    integers_.push_back(value);
    names_.push_back({name, true, integers_.size() - 1});
    return ":" + name;
  }
  void Where(std::string condition) { conditions_.push_back(std::move(condition)); }
  std::string WhereClause() const {
    if (conditions_.empty()) return {};
    std::string clause = " WHERE ";
    for (std::size_t index = 0; index < conditions_.size(); ++index) {
      if (index > 0) clause += " AND ";
      clause += conditions_[index];
    }
    return clause;
  }
  /// Runs `text` with the bound parameters, calling `each` with every row.
  template <typename Each>
  void ForEach(soci::session& sql, const std::string& text, Each&& each) {
    soci::row columns;
    soci::statement statement(sql);
    for (const auto& entry : names_) {
      if (entry.integer) {
        statement.exchange(soci::use(integers_[entry.index], entry.name));
      } else {
        statement.exchange(soci::use(strings_[entry.index], entry.name));
      }
    }
    statement.exchange(soci::into(columns));
    internal::PrepareOnce(statement, text);
    if (!statement.execute(true)) return;
    do {
      each(static_cast<const soci::row&>(columns));
    } while (statement.fetch());
  }

 private:
  struct Parameter {
    std::string name;
    bool integer;
    std::size_t index;
  };
  std::deque<std::string> strings_;  // deques: bound by reference, must not move
  std::deque<long long> integers_;
  std::vector<Parameter> names_;
  std::vector<std::string> conditions_;
};

void AddFilters(const CaseQuery& query, FilteredQuery& filtered) {
  if (query.stage) filtered.Where("stage = " + filtered.Bind(*query.stage));
  if (query.state) {
    // The stage is the state name's first component ("travel" of "travel.booked"), which lets the stage
    // index narrow the rows before the LIKE on the active-state list.
    const auto dot = query.state->find('.');
    if (dot != std::string::npos) filtered.Where("stage = " + filtered.Bind(query.state->substr(0, dot)));
    filtered.Where("active_states LIKE " + filtered.Bind("%|" + *query.state + "|%"));
  }
  if (query.host_country) filtered.Where("host_country = " + filtered.Bind(*query.host_country));
  if (query.origin_country) filtered.Where("origin_country = " + filtered.Bind(*query.origin_country));
  if (query.countries_any) {
    if (query.countries_any->empty()) {
      filtered.Where("1 = 0");  // a scope of no countries sees no case
    } else {
      std::string hosts, origins;
      for (const auto& country : *query.countries_any) {
        if (!hosts.empty()) {
          hosts += ", ";
          origins += ", ";
        }
        hosts += filtered.Bind(country);
        origins += filtered.Bind(country);
      }
      filtered.Where("(host_country IN (" + hosts + ") OR origin_country IN (" + origins + "))");
    }
  }
  if (query.office) filtered.Where("office = " + filtered.Bind(*query.office));
  if (query.partner) {
    filtered.Where(
        "case_id IN (SELECT case_id FROM case_partners WHERE organisation = " + filtered.Bind(*query.partner) + ")");
  }
  if (query.vulnerability) {
    const long long bit = 1LL << static_cast<int>(*query.vulnerability);
    filtered.Where("(vulnerability_flags & " + filtered.Bind(bit) + ") <> 0");
  }
  if (query.overdue_as_of) {
    filtered.Where("next_deadline IS NOT NULL AND next_deadline < " + filtered.Bind(ToMicros(*query.overdue_as_of)));
  }
  if (query.updated_since) {
    // updated_at is not indexed (an index on it would make every case update touch all of the table's
    // indexes). Every value it takes is the recorded_at of a history row of the case, so the cases with a
    // history row recorded since then, found through case_events_by_recorded, are a superset to filter.
    const long long since = ToMicros(*query.updated_since);
    filtered.Where("updated_at >= " + filtered.Bind(since));
    filtered.Where("case_id IN (SELECT case_id FROM case_events WHERE recorded_at >= " + filtered.Bind(since) + ")");
  }
}

// The cases row of a new case, named parameters as its columns.
constexpr Query kInsertCase{
    "insert case",
    "INSERT INTO cases (" RETURNFLOW_CASE_COLUMNS ") VALUES (:case_id, :programme, :host_country, :origin_country, "
    ":office, :partners, :stage, :active_states, :saved_state, :vulnerability_flags, :version, :last_sequence, "
    ":created_at, :updated_at, :stage_entered_at, :next_deadline)"};
// :case_id, :organisation.
constexpr Query kInsertCasePartner{"insert case partner",
                                   "INSERT INTO case_partners (case_id, organisation) VALUES (:case_id, :organisation)"};
constexpr Query kDeleteCasePartner{"delete case partner",
                                   "DELETE FROM case_partners WHERE case_id = :case_id AND organisation = :organisation"};
// A partner change: the new partner list, the case's new version and last sequence, checked as an event's.
constexpr Query kUpdateCasePartners{
    "update case partners",
    "UPDATE cases SET partners = :partners, version = :version_after, last_sequence = :sequence, "
    "updated_at = :updated_at WHERE case_id = :case_id AND version = :expected_version "
    "AND last_sequence = :expected_last_sequence"};
// :access_id, :case_id, :actor, :purpose, :action, :accessed_at.
constexpr Query kInsertAccess{
    "insert personal data access",
    "INSERT INTO personal_data_access (access_id, case_id, actor, purpose, action, accessed_at) VALUES "
    "(:access_id, :case_id, :actor, :purpose, :action, :accessed_at)"};
// :case_id -> 1 when the case exists.
constexpr Query kCaseExists{"case exists", "SELECT 1 AS found FROM cases WHERE case_id = :case_id"};
// :case_id, :after, :row_limit -> HistoryRow, oldest first.
constexpr Query kSelectHistory{"select history",
                               "SELECT " RETURNFLOW_HISTORY_COLUMNS " FROM case_events WHERE case_id = :case_id "
                               "AND sequence > :after ORDER BY sequence LIMIT :row_limit"};

bool CaseExists(soci::session& sql, const std::string& case_id) {
  bool found = false;
  internal::ForEachRow(sql, kCaseExists, [&](const soci::row&) { found = true; }, soci::use(case_id, "case_id"));
  return found;
}

/// The first history row of a case created with `request_id` (its idempotency record).
HistoryRow OpenedRow(const std::string& case_id, const std::string& source, const std::string& event_id,
                     const NewCase& new_case, const std::string& context_json, const std::string& request_hash,
                     const std::string& active_joined, const std::vector<std::string>& allowed, long long now) {
  HistoryRow history;
  history.case_id = case_id;
  history.sequence = 1;
  history.source = source;
  history.event_id = event_id;
  history.type = std::string(kOpenedType);
  history.actor = new_case.meta.actor;
  history.occurred_at = MicrosOf(new_case.meta.occurred_at);
  history.recorded_at = now;
  history.payload = context_json;
  history.request_hash = request_hash;
  history.verdict = std::string(workflow::Name(workflow::Verdict::kApplied));
  history.states_before = JoinList({});
  history.states_after = active_joined;
  history.changes = JoinList({});
  history.allowed_events = JoinList(allowed);
  history.version_after = 1;
  return history;
}

/// Sorted, distinct, each a usable list item; kInvalidInput otherwise.
std::vector<std::string> PartnerList(std::vector<std::string> partners, std::string_view operation) {
  std::sort(partners.begin(), partners.end());
  partners.erase(std::unique(partners.begin(), partners.end()), partners.end());
  for (const auto& partner : partners) {
    if (partner.empty() || partner.size() > 100 || partner.find('|') != std::string::npos) {
      throw PersistenceError(ErrorKind::kInvalidInput, fmt::format("{}: invalid_input (partner organisation name)", operation));
    }
  }
  return partners;
}

}  // namespace

// --- Create ------------------------------------------------------------------------------------------

CaseRecord CaseRepository::Create(const NewCase& new_case) {
  if (new_case.programme.empty() || new_case.office.empty()) {
    throw PersistenceError(ErrorKind::kInvalidInput, "create: invalid_input (programme and office are required)");
  }
  const bool deduplicated = !new_case.request_source.empty() && !new_case.request_id.empty();
  for (const auto& person : new_case.people) {
    if (person.member_id.empty()) throw PersistenceError(ErrorKind::kInvalidInput, "create: invalid_input (member id)");
  }
  const auto partners = PartnerList(new_case.partners, "create");

  // Everything that does not need the database is done before the transaction.
  const std::string context_json = boost::json::serialize(boost::json::value_from(new_case.context));
  auto machine = workflow::Case::Open(new_case.context);
  const std::string saved = machine.Save();
  const std::string stage(machine.Stage());
  const std::string active_joined = JoinList(machine.ActiveStates());
  const auto allowed = ToStrings(machine.AllowedEvents());
  const int flags = internal::VulnerabilityBits(machine.Context().HouseholdVulnerabilities());
  const std::string partners_joined = JoinList(partners);
  // The request hash covers the workflow data of the request; its personal data is compared with the
  // stored people rows instead (a digest of names and dates of birth would be a fingerprint of them).
  const std::string request_hash = RequestHash(kOpenedType, "",
                                               internal::CanonicalJson(context_json) + "\n" + new_case.programme +
                                                   "\n" + new_case.office + "\n" + partners_joined);
  const long long occurred_at = MicrosOf(new_case.meta.occurred_at);
  const auto deadline = workflow::NextDeadline(stage, machine.Context(), new_case.meta.occurred_at);

  std::string case_id;
  database_.WriteTransaction("create", [&](soci::session& sql) {
    const std::string source = deduplicated ? new_case.request_source : std::string(kEngineSource);
    if (deduplicated) {
      if (auto stored = internal::FindByIdempotencyKey(sql, source, new_case.request_id)) {
        if (stored->request_hash != request_hash || internal::ReadPeople(sql, stored->case_id) != [&] {
              auto people = new_case.people;
              std::sort(people.begin(), people.end(),
                        [](const auto& left, const auto& right) { return left.member_id < right.member_id; });
              return people;
            }()) {
          throw PersistenceError(ErrorKind::kIdempotencyConflict,
                                 "create: idempotency_conflict (request id reused with different content)");
        }
        case_id = stored->case_id;
        return;
      }
    }
    case_id = internal::NewUuid();
    const long long now = ToMicros(Now());
    CaseRow row;
    row.case_id = case_id;
    row.programme = new_case.programme;
    row.host_country = new_case.context.host_country;
    row.origin_country = new_case.context.origin_country;
    row.office = new_case.office;
    row.partners = partners_joined;
    row.stage = stage;
    row.active_states = active_joined;
    row.saved_state = saved;
    row.vulnerability_flags = flags;
    row.version = 1;
    row.last_sequence = 1;
    row.created_at = now;
    row.updated_at = now;
    row.stage_entered_at = occurred_at;
    row.has_next_deadline = deadline.has_value();
    row.next_deadline = deadline ? MicrosOf(*deadline) : 0;
    soci::indicator deadline_indicator = row.has_next_deadline ? soci::i_ok : soci::i_null;
    sql << kInsertCase.text, soci::use(row.case_id, "case_id"), soci::use(row.programme, "programme"),
        soci::use(row.host_country, "host_country"), soci::use(row.origin_country, "origin_country"),
        soci::use(row.office, "office"), soci::use(row.partners, "partners"), soci::use(row.stage, "stage"),
        soci::use(row.active_states, "active_states"), soci::use(row.saved_state, "saved_state"),
        soci::use(row.vulnerability_flags, "vulnerability_flags"), soci::use(row.version, "version"),
        soci::use(row.last_sequence, "last_sequence"), soci::use(row.created_at, "created_at"),
        soci::use(row.updated_at, "updated_at"), soci::use(row.stage_entered_at, "stage_entered_at"),
        soci::use(row.next_deadline, deadline_indicator, "next_deadline");
    for (const auto& partner : partners) {
      sql << kInsertCasePartner.text, soci::use(case_id, "case_id"), soci::use(partner, "organisation");
    }
    for (const auto& person : new_case.people) internal::InsertPerson(sql, case_id, person, now);
    if (!new_case.people.empty()) {
      const std::string access_id = internal::NewUuid();
      const std::string purpose = "referral";
      const std::string action = "create";
      sql << kInsertAccess.text, soci::use(access_id, "access_id"), soci::use(case_id, "case_id"),
          soci::use(new_case.meta.actor, "actor"), soci::use(purpose, "purpose"), soci::use(action, "action"),
          soci::use(now, "accessed_at");
    }
    internal::InsertHistory(sql, OpenedRow(case_id, source, deduplicated ? new_case.request_id : case_id, new_case,
                                           context_json, request_hash, active_joined, allowed, now));
  });
  spdlog::info("case={} opened stage={}", case_id, stage);
  return Get(case_id);
}

// --- Read --------------------------------------------------------------------------------------------

std::optional<CaseRecord> CaseRepository::Find(std::string_view case_id) {
  if (!LooksLikeCaseId(case_id)) return std::nullopt;
  std::optional<CaseRecord> record;
  const std::string id(case_id);
  database_.Read("get case", [&](soci::session& sql) {
    CaseRow row;
    record.reset();
    if (internal::LoadCase(sql, database_.GetBackend(), id, /*for_update=*/false, row)) record = row.ToRecord();
  });
  return record;
}

CaseRecord CaseRepository::Get(std::string_view case_id) {
  auto record = Find(case_id);
  if (!record) throw PersistenceError(ErrorKind::kNotFound, fmt::format("get case={}: not_found", case_id));
  return std::move(*record);
}

CaseRepository::CaseRepository(Database& database, std::size_t cached_cases)
    : database_(database), state_cache_(std::make_unique<internal::CaseStateCache>(cached_cases)) {}

CaseRepository::~CaseRepository() = default;

// --- Apply -------------------------------------------------------------------------------------------

ApplyOutcome CaseRepository::Apply(std::string_view case_id_view, const IncomingEvent& incoming) {
  if (database_.GetBackend() == Backend::kPostgresql) {
    // Still one transaction for the one event, with the group paths' round trips: one when the case's
    // state is cached, two under its row lock otherwise (instead of BEGIN, lock, write, COMMIT).
    auto results = ApplyGroup({GroupItem{std::string(case_id_view), incoming}});
    auto& result = results.front();
    if (!result.outcome) {
      throw PersistenceError(result.error.value_or(ErrorKind::kUnavailable), result.error_message);
    }
    return std::move(*result.outcome);
  }
  CheckIncoming(case_id_view, incoming);
  const std::string case_id(case_id_view);
  const std::string canonical = internal::CanonicalJson(incoming.data_json);
  const std::string request_hash = RequestHash(incoming.type, case_id, canonical);
  const std::string payload = incoming.data_json.empty() ? std::string("null") : incoming.data_json;

  ApplyOutcome outcome;
  try {
    database_.WriteTransaction("apply", [&](soci::session& sql) {
      outcome = ApplyInTransaction(sql, database_, case_id, incoming, payload, request_hash);
    });
  } catch (...) {
    Database::Rethrow("apply", case_id);
  }
  spdlog::debug("case={} event={} {} seq={} v={}{}", case_id, incoming.type, workflow::Name(outcome.result.verdict),
                outcome.sequence, outcome.version, outcome.replayed ? " replayed" : "");
  return outcome;
}

// --- History -----------------------------------------------------------------------------------------

std::vector<HistoryEntry> CaseRepository::History(std::string_view case_id_view, std::int64_t after_sequence,
                                                  std::size_t limit) {
  if (!LooksLikeCaseId(case_id_view)) {
    throw PersistenceError(ErrorKind::kNotFound, "history: not_found (malformed case id)");
  }
  const std::string case_id(case_id_view);
  const long long after = after_sequence;
  const long long row_limit = static_cast<long long>(std::clamp<std::size_t>(limit, 1, kMaxPageSize));
  std::vector<HistoryEntry> entries;
  database_.Read("history", [&](soci::session& sql) {
    entries.clear();
    if (!CaseExists(sql, case_id)) {
      throw PersistenceError(ErrorKind::kNotFound, fmt::format("history case={}: not_found", case_id));
    }
    internal::ForEachRow(sql, kSelectHistory, [&](const soci::row& columns) {
      HistoryRow row;
      internal::ReadHistoryRow(columns, row);
      entries.push_back(row.ToEntry());
    }, soci::use(case_id, "case_id"), soci::use(after, "after"), soci::use(row_limit, "row_limit"));
  });
  return entries;
}

// --- Search ------------------------------------------------------------------------------------------

CasePage CaseRepository::Search(const CaseQuery& query) {
  const std::size_t page_size = std::clamp<std::size_t>(query.page_size, 1, kMaxPageSize);
  FilteredQuery filtered;
  AddFilters(query, filtered);
  if (!query.cursor.empty()) {
    const auto position = DecodeCursor(query.cursor);
    if (!position) throw PersistenceError(ErrorKind::kInvalidInput, "search: invalid_input (malformed cursor)");
    const auto created = filtered.Bind(position->created_at);
    const auto created_again = filtered.Bind(position->created_at);
    filtered.Where("(created_at > " + created + " OR (created_at = " + created_again + " AND case_id > " +
                   filtered.Bind(position->case_id) + "))");
  }
  const auto limit = filtered.Bind(static_cast<long long>(page_size + 1));
  const std::string text = std::string("SELECT ") + internal::kCaseColumns + " FROM cases" + filtered.WhereClause() +
                           " ORDER BY created_at, case_id LIMIT " + limit;
  CasePage page;
  database_.Read("search", [&](soci::session& sql) {
    page.cases.clear();
    page.next_cursor.clear();
    bool more = false;
    filtered.ForEach(sql, text, [&](const soci::row& columns) {
      if (page.cases.size() == page_size) {
        more = true;
        return;
      }
      CaseRow row;
      internal::ReadCaseRow(columns, row);
      page.cases.push_back(row.ToRecord());
    });
    if (more) page.next_cursor = EncodeCursor({ToMicros(page.cases.back().created_at), page.cases.back().case_id});
  });
  return page;
}

std::vector<StageCount> CaseRepository::CountByStage(const CaseQuery& query) {
  FilteredQuery filtered;
  AddFilters(query, filtered);
  const std::string text =
      "SELECT stage, COUNT(*) AS cases FROM cases" + filtered.WhereClause() + " GROUP BY stage ORDER BY stage";
  std::vector<StageCount> counts;
  database_.Read("count by stage", [&](soci::session& sql) {
    counts.clear();
    filtered.ForEach(sql, text, [&](const soci::row& columns) {
      counts.push_back({internal::Text(columns, "stage"), internal::Integer(columns, "cases")});
    });
  });
  return counts;
}

// --- Partners ----------------------------------------------------------------------------------------

namespace {

/// Assigns or unassigns one partner as an applied history row (see AssignPartner).
bool ChangePartner(Database& database, internal::CaseStateCache& cache, std::string_view case_id_view,
                   std::string_view organisation_view, bool assign, const workflow::EventMeta& meta) {
  if (!LooksLikeCaseId(case_id_view)) throw PersistenceError(ErrorKind::kNotFound, "partners: not_found");
  const std::string organisation = PartnerList({std::string(organisation_view)}, "partners").front();
  const std::string case_id(case_id_view);
  const std::string type = assign ? "case.partner_assigned" : "case.partner_unassigned";
  bool changed = false;
  database.WriteTransaction("partners", [&](soci::session& sql) {
    CaseRow row;
    changed = false;
    if (!internal::LoadCase(sql, database.GetBackend(), case_id, /*for_update=*/true, row)) {
      throw PersistenceError(ErrorKind::kNotFound, fmt::format("partners case={}: not_found", case_id));
    }
    auto partners = SplitList(row.partners);
    const bool present = std::find(partners.begin(), partners.end(), organisation) != partners.end();
    if (assign == present) return;
    if (assign) {
      partners.push_back(organisation);
      std::sort(partners.begin(), partners.end());
      sql << kInsertCasePartner.text, soci::use(case_id, "case_id"), soci::use(organisation, "organisation");
    } else {
      partners.erase(std::remove(partners.begin(), partners.end(), organisation), partners.end());
      sql << kDeleteCasePartner.text, soci::use(case_id, "case_id"), soci::use(organisation, "organisation");
    }
    const long long now = ToMicros(Now());
    HistoryRow history;
    history.case_id = case_id;
    history.sequence = row.last_sequence + 1;
    history.source = std::string(kEngineSource);
    history.event_id = internal::NewUuid();
    history.type = type;
    history.actor = meta.actor;
    history.occurred_at = MicrosOf(meta.occurred_at);
    history.recorded_at = now;
    history.payload = boost::json::serialize(boost::json::object{{"organisation", organisation}});
    history.request_hash = RequestHash(type, case_id, history.payload);
    history.verdict = std::string(workflow::Name(workflow::Verdict::kApplied));
    history.states_before = row.active_states;
    history.states_after = row.active_states;
    history.changes = JoinList({fmt::format("{}={}", assign ? "partner_assigned" : "partner_unassigned", organisation)});
    history.allowed_events = JoinList(ToStrings(workflow::Case::Restore(row.saved_state).AllowedEvents()));
    history.version_after = row.version + 1;
    internal::InsertHistory(sql, history);
    const std::string joined = JoinList(partners);
    soci::statement statement(sql);
    internal::PrepareOnce(statement, kUpdateCasePartners.text, soci::use(joined, "partners"),
                          soci::use(history.version_after, "version_after"), soci::use(history.sequence, "sequence"),
                          soci::use(now, "updated_at"), soci::use(case_id, "case_id"),
                          soci::use(row.version, "expected_version"), soci::use(row.last_sequence, "expected_last_sequence"));
    statement.execute(true);
    if (statement.get_affected_rows() != 1) {
      throw PersistenceError(ErrorKind::kConflict, fmt::format("partners case={}: conflict", case_id));
    }
    changed = true;
  });
  // The version moved, so a remembered state would fail its write anyway; forgetting it spares that try.
  cache.Forget(case_id);
  if (changed) spdlog::info("case={} event={} actor={}", case_id, type, meta.actor);
  return changed;
}

}  // namespace

bool CaseRepository::AssignPartner(std::string_view case_id, std::string_view organisation,
                                   const workflow::EventMeta& meta) {
  return ChangePartner(database_, *state_cache_, case_id, organisation, true, meta);
}
bool CaseRepository::UnassignPartner(std::string_view case_id, std::string_view organisation,
                                     const workflow::EventMeta& meta) {
  return ChangePartner(database_, *state_cache_, case_id, organisation, false, meta);
}

}  // namespace returnflow::persistence
