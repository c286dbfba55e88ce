#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <deque>
#include <numeric>

#include "persistence/apply_plan.hpp"
#include "persistence/case_rows.hpp"
#include "persistence/deadlines.hpp"
#include "persistence/internal.hpp"
#include "persistence/pg_statements.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {

using internal::ApplyInTransaction;
using internal::CaseRow;
using internal::CheckIncoming;
using internal::RequestHash;
using internal::FromMicros;
using internal::JoinList;
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

std::set<workflow::Vulnerability> HouseholdVulnerabilities(const workflow::CaseContext& context) {
  std::set<workflow::Vulnerability> flags;
  for (const auto& member : context.household)
    flags.insert(member.vulnerabilities.begin(), member.vulnerabilities.end());
  return flags;
}

}  // namespace

namespace internal {

std::string RequestHash(std::string_view type, std::string_view subject, std::string_view canonical_data) {
  std::string material;
  material.reserve(type.size() + subject.size() + canonical_data.size() + 2);
  material.append(type).append("\n").append(subject).append("\n").append(canonical_data);
  return Sha256Hex(material);
}

/// The idempotency record of (source, event_id), if the event was seen before.
struct StoredOutcome {
  std::string case_id;
  std::string request_hash;
  long long sequence = 0;
  long long version_after = 0;
  std::string verdict, reason, states_before, states_after, changes, allowed_events;
};

std::optional<StoredOutcome> FindByIdempotencyKey(soci::session& sql, const std::string& source,
                                                  const std::string& event_id) {
  StoredOutcome stored;
  sql << "SELECT case_id, request_hash, sequence, version_after, verdict, reason, states_before, states_after, "
         "changes, allowed_events FROM case_events WHERE source = :source AND event_id = :event_id",
      soci::use(source, "source"), soci::use(event_id, "event_id"), soci::into(stored.case_id),
      soci::into(stored.request_hash), soci::into(stored.sequence), soci::into(stored.version_after),
      soci::into(stored.verdict), soci::into(stored.reason), soci::into(stored.states_before),
      soci::into(stored.states_after), soci::into(stored.changes), soci::into(stored.allowed_events);
  if (!sql.got_data()) return std::nullopt;
  return stored;
}

ApplyOutcome ReplayedOutcome(const StoredOutcome& stored) {
  ApplyOutcome outcome;
  outcome.case_id = stored.case_id;
  outcome.sequence = stored.sequence;
  outcome.version = stored.version_after;
  outcome.replayed = true;
  const auto verdict = VerdictFromName(stored.verdict);
  if (!verdict) throw PersistenceError(ErrorKind::kInvalidData, "apply: stored verdict unknown");
  outcome.result.verdict = *verdict;
  outcome.result.reason = stored.reason;
  outcome.result.from = SplitList(stored.states_before);
  outcome.result.to = SplitList(stored.states_after);
  outcome.result.changes = SplitList(stored.changes);
  outcome.result.allowed_events = ToEventNameViews(SplitList(stored.allowed_events));
  return outcome;
}

constexpr const char* kInsertHistorySql =
    "INSERT INTO case_events (case_id, sequence, source, event_id, type, actor, occurred_at, recorded_at, payload, "
    "request_hash, verdict, reason, states_before, states_after, changes, allowed_events, version_after) VALUES "
    "(:h_case_id, :h_sequence, :h_source, :h_event_id, :h_type, :h_actor, :h_occurred_at, :h_recorded_at, :h_payload, "
    ":h_request_hash, :h_verdict, :h_reason, :h_states_before, :h_states_after, :h_changes, :h_allowed_events, "
    ":h_version_after)";

void BindHistory(soci::statement& statement, const HistoryRowInput& row) {
  statement.exchange(soci::use(row.case_id, "h_case_id"));
  statement.exchange(soci::use(row.sequence, "h_sequence"));
  statement.exchange(soci::use(row.source, "h_source"));
  statement.exchange(soci::use(row.event_id, "h_event_id"));
  statement.exchange(soci::use(row.type, "h_type"));
  statement.exchange(soci::use(row.actor, "h_actor"));
  statement.exchange(soci::use(row.occurred_at, "h_occurred_at"));
  statement.exchange(soci::use(row.recorded_at, "h_recorded_at"));
  statement.exchange(soci::use(row.payload, "h_payload"));
  statement.exchange(soci::use(row.request_hash, "h_request_hash"));
  statement.exchange(soci::use(row.verdict, "h_verdict"));
  statement.exchange(soci::use(row.reason, "h_reason"));
  statement.exchange(soci::use(row.states_before, "h_states_before"));
  statement.exchange(soci::use(row.states_after, "h_states_after"));
  statement.exchange(soci::use(row.changes, "h_changes"));
  statement.exchange(soci::use(row.allowed_events, "h_allowed_events"));
  statement.exchange(soci::use(row.version_after, "h_version_after"));
}

/// Executes a statement that inserts a history row; a constraint violation means the same (source,
/// event_id) is being recorded for another case at this very moment (the only constraint a correct
/// caller can hit): run the transaction again and find it.
void ExecuteHistoryInsert(soci::statement& statement) {
  try {
    statement.execute(true);
  } catch (...) {
    if (internal::IsConstraintViolation()) throw internal::RetryTransaction{};
    throw;
  }
}

void InsertHistoryRow(soci::session& sql, const HistoryRowInput& row) {
  soci::statement statement(sql);
  BindHistory(statement, row);
  internal::PrepareOnce(statement, kInsertHistorySql);
  ExecuteHistoryInsert(statement);
}

/// Columns offset..offset+15 of a lock statement's row (kCaseColumns, in that order) into a CaseRow.
void CaseRowFromPg(const internal::PgRows& rows, int at, int offset, CaseRow& row) {
  row.case_id = rows.Text(at, offset + 0);
  row.programme = rows.Text(at, offset + 1);
  row.host_country = rows.Text(at, offset + 2);
  row.origin_country = rows.Text(at, offset + 3);
  row.office = rows.Text(at, offset + 4);
  row.partners = rows.Text(at, offset + 5);
  row.stage = rows.Text(at, offset + 6);
  row.active_states = rows.Text(at, offset + 7);
  row.saved_state = rows.Text(at, offset + 8);
  row.vulnerability_flags = static_cast<int>(rows.Number(at, offset + 9));
  row.version = rows.Number(at, offset + 10);
  row.last_sequence = rows.Number(at, offset + 11);
  row.created_at = rows.Number(at, offset + 12);
  row.updated_at = rows.Number(at, offset + 13);
  row.stage_entered_at = rows.Number(at, offset + 14);
  row.next_deadline_indicator = rows.IsNull(at, offset + 15) ? soci::i_null : soci::i_ok;
  row.next_deadline = rows.IsNull(at, offset + 15) ? 0 : rows.Number(at, offset + 15);
}

// Documented in apply_plan.hpp.
bool PlanApply(soci::session& sql, const std::string& case_id, const IncomingEvent& incoming,
               const std::string& payload, const std::string& request_hash, const CaseState& state, bool seen,
               ApplyOutcome& outcome, PlannedWrite& plan) {
  if (!seen) {
    // Nothing seen; fall through to apply.
  } else if (auto stored = FindByIdempotencyKey(sql, incoming.source, incoming.event_id)) {
    if (stored->request_hash != request_hash) {
      throw PersistenceError(ErrorKind::kConflict,
                             fmt::format("apply case={}: conflict (event id reused with different content)", case_id));
    }
    outcome = ReplayedOutcome(*stored);
    return false;
  }
  if (incoming.expected_version && *incoming.expected_version != state.version) {
    throw PersistenceError(ErrorKind::kConflict, fmt::format("apply case={}: conflict (version is {}, expected {})",
                                                             case_id, state.version, *incoming.expected_version));
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
  HistoryRowInput& history = plan.history;
  history.case_id = case_id;
  history.sequence = outcome.sequence;
  history.source = incoming.source;
  history.event_id = incoming.event_id;
  history.type = incoming.type;
  history.actor = incoming.meta.actor;
  history.occurred_at = ToMicros(std::chrono::time_point_cast<std::chrono::microseconds>(incoming.meta.occurred_at));
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
    if (const auto deadline = NextDeadline(plan.stage, context, FromMicros(plan.stage_entered_at))) {
      plan.next_deadline = ToMicros(*deadline);
      plan.has_deadline = true;
    }
    plan.saved = machine.Save();
    plan.active_states = JoinList(machine.ActiveStates());
    plan.flags = internal::VulnerabilityBits(HouseholdVulnerabilities(context));
    plan.host_country = context.host_country;
    plan.origin_country = context.origin_country;
  }
  outcome.result = std::move(result);
  return true;
}

/// The body of Apply, inside a transaction that the caller owns.
ApplyOutcome ApplyInTransaction(soci::session& sql, Database& database, const std::string& case_id,
                                const IncomingEvent& incoming, const std::string& payload,
                                const std::string& request_hash) {
  // One round trip takes the case lock and looks up the idempotency key. A concurrent duplicate for this
  // case waits on the lock; if the join, evaluated from the statement's snapshot, missed the first
  // delivery's row, the unique key on (source, event_id) stops the insert and the retry finds it.
  const Backend backend = database.GetBackend();
  if (backend == Backend::kPostgresql) database.EnsurePrepared(sql, &internal::PreparePostgresStatements);
  CaseRow row;
  bool found = false;
  std::string seen_hash;
  soci::indicator seen_indicator = soci::i_null;
  if (backend == Backend::kPostgresql) {
    internal::PgRows rows(sql, internal::kPgApplyLock,
                          {incoming.source.c_str(), incoming.event_id.c_str(), case_id.c_str()});
    found = rows.Count() == 1;
    if (found) {
      CaseRowFromPg(rows, 0, 0, row);
      seen_indicator = rows.IsNull(0, 16) ? soci::i_null : soci::i_ok;
    }
  } else {
    sql << "SELECT c.case_id, c.programme, c.host_country, c.origin_country, c.office, c.partners, c.stage, "
           "c.active_states, c.saved_state, c.vulnerability_flags, c.version, c.last_sequence, c.created_at, "
           "c.updated_at, c.stage_entered_at, c.next_deadline, e.request_hash FROM cases c LEFT JOIN case_events e "
           "ON e.source = :source AND e.event_id = :event_id WHERE c.case_id = :case_id",
        soci::use(incoming.source, "source"), soci::use(incoming.event_id, "event_id"), soci::use(case_id, "case_id"),
        soci::into(row.case_id), soci::into(row.programme), soci::into(row.host_country),
        soci::into(row.origin_country), soci::into(row.office), soci::into(row.partners), soci::into(row.stage),
        soci::into(row.active_states), soci::into(row.saved_state), soci::into(row.vulnerability_flags),
        soci::into(row.version), soci::into(row.last_sequence), soci::into(row.created_at), soci::into(row.updated_at),
        soci::into(row.stage_entered_at), soci::into(row.next_deadline, row.next_deadline_indicator),
        soci::into(seen_hash, seen_indicator);
    found = sql.got_data();
  }
  if (!found) {
    throw PersistenceError(ErrorKind::kNotFound, fmt::format("apply case={}: not_found", case_id));
  }
  ApplyOutcome outcome;
  PlannedWrite plan;
  if (!PlanApply(sql, case_id, incoming, payload, request_hash, CaseState::Of(row), seen_indicator == soci::i_ok, outcome,
                 plan)) {
    return outcome;
  }
  const HistoryRowInput& history = plan.history;
  const bool applied = plan.applied;

  long long updated_version = 0;
  bool updated = false;
  if (backend == Backend::kPostgresql) {
    // The history insert rides in the same statement as the case update (a data-modifying CTE), one
    // plan prepared at connect time: one round trip, no parsing per event.
    const std::string sequence_text = std::to_string(history.sequence),
                      occurred_text = std::to_string(history.occurred_at),
                      recorded_text = std::to_string(history.recorded_at),
                      version_after_text = std::to_string(history.version_after),
                      version_text = std::to_string(plan.expected_version),
                      last_sequence_text = std::to_string(plan.expected_last_sequence);
    std::vector<const char*> parameters{history.case_id.c_str(),
                                        sequence_text.c_str(),
                                        history.source.c_str(),
                                        history.event_id.c_str(),
                                        history.type.c_str(),
                                        history.actor.c_str(),
                                        occurred_text.c_str(),
                                        recorded_text.c_str(),
                                        history.payload.c_str(),
                                        history.request_hash.c_str(),
                                        history.verdict.c_str(),
                                        history.reason.c_str(),
                                        history.states_before.c_str(),
                                        history.states_after.c_str(),
                                        history.changes.c_str(),
                                        history.allowed_events.c_str(),
                                        version_after_text.c_str(),
                                        sequence_text.c_str(),
                                        case_id.c_str(),
                                        version_text.c_str(),
                                        last_sequence_text.c_str()};
    const std::string flags_text = std::to_string(plan.flags), now_text = std::to_string(plan.now),
                      stage_entered_text = std::to_string(plan.stage_entered_at),
                      deadline_text = std::to_string(plan.next_deadline);
    if (applied) {
      for (const char* value : {plan.saved.c_str(), plan.stage.c_str(), plan.active_states.c_str(), flags_text.c_str(),
                                plan.host_country.c_str(), plan.origin_country.c_str(), now_text.c_str(),
                                stage_entered_text.c_str()}) {
        parameters.push_back(value);
      }
      parameters.push_back(plan.has_deadline ? deadline_text.c_str() : nullptr);
    }
    try {
      internal::PgRows rows(sql, applied ? internal::kPgApplyApplied : internal::kPgApplyRejected, parameters);
      updated = rows.Count() == 1;
      if (updated) updated_version = rows.Number(0, 0);
    } catch (...) {
      if (internal::IsConstraintViolation()) throw internal::RetryTransaction{};
      throw;
    }
  } else {
    InsertHistoryRow(sql, history);
    soci::statement statement(sql);
    std::string text;
    soci::indicator deadline_indicator = plan.has_deadline ? soci::i_ok : soci::i_null;
    if (applied) {
      text =
          "UPDATE cases SET version = version + 1, last_sequence = :sequence, saved_state = :saved, stage = :stage, "
          "active_states = :active_states, vulnerability_flags = :flags, host_country = :host, "
          "origin_country = :origin, updated_at = :now, stage_entered_at = :stage_entered_at, "
          "next_deadline = :deadline WHERE case_id = :case_id AND version = :version AND "
          "last_sequence = :last_sequence RETURNING version";
      statement.exchange(soci::use(outcome.sequence, "sequence"));
      statement.exchange(soci::use(plan.saved, "saved"));
      statement.exchange(soci::use(plan.stage, "stage"));
      statement.exchange(soci::use(plan.active_states, "active_states"));
      statement.exchange(soci::use(plan.flags, "flags"));
      statement.exchange(soci::use(plan.host_country, "host"));
      statement.exchange(soci::use(plan.origin_country, "origin"));
      statement.exchange(soci::use(plan.now, "now"));
      statement.exchange(soci::use(plan.stage_entered_at, "stage_entered_at"));
      statement.exchange(soci::use(plan.next_deadline, deadline_indicator, "deadline"));
    } else {
      // A rejection changes nothing about the case but the position of its history.
      text =
          "UPDATE cases SET last_sequence = :sequence WHERE case_id = :case_id AND version = :version AND "
          "last_sequence = :last_sequence RETURNING version";
      statement.exchange(soci::use(outcome.sequence, "sequence"));
    }
    statement.exchange(soci::use(case_id, "case_id"));
    statement.exchange(soci::use(plan.expected_version, "version"));
    statement.exchange(soci::use(plan.expected_last_sequence, "last_sequence"));
    statement.exchange(soci::into(updated_version));
    internal::PrepareOnce(statement, text);
    statement.execute(true);
    updated = statement.got_data();
  }
  if (!updated || updated_version != outcome.version) {
    // Cannot happen while the lock discipline holds; if it ever does, it is a lost race, never an overwrite.
    throw PersistenceError(ErrorKind::kConflict, fmt::format("apply case={}: conflict (concurrent update)", case_id));
  }
  return outcome;
}

void CheckIncoming(std::string_view case_id, const IncomingEvent& incoming) {
  if (!internal::LooksLikeCaseId(case_id)) {
    throw PersistenceError(ErrorKind::kNotFound, "apply: not_found (malformed case id)");
  }
  if (incoming.source.empty() || incoming.event_id.empty()) {
    throw PersistenceError(ErrorKind::kInvalidData, "apply: invalid_data (event source and id are required)");
  }
  if (incoming.type != workflow::EventName(incoming.event)) {
    throw PersistenceError(ErrorKind::kInvalidData, "apply: invalid_data (type does not match the decoded event)");
  }
}

}  // namespace internal

using internal::FindByIdempotencyKey;
using internal::HistoryRowInput;
using internal::InsertHistoryRow;

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
  void BindUses(soci::statement& statement) {
    for (const auto& entry : names_) {
      if (entry.integer) {
        statement.exchange(soci::use(integers_[entry.index], entry.name));
      } else {
        statement.exchange(soci::use(strings_[entry.index], entry.name));
      }
    }
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
  if (!query.countries_any.empty()) {
    std::string hosts, origins;
    for (const auto& country : query.countries_any) {
      if (!hosts.empty()) {
        hosts += ", ";
        origins += ", ";
      }
      hosts += filtered.Bind(country);
      origins += filtered.Bind(country);
    }
    filtered.Where("(host_country IN (" + hosts + ") OR origin_country IN (" + origins + "))");
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

// Cursor: hex of "<created_at micros>/<case id>". Opaque to clients, checked on the way in.
std::string EncodeCursor(const CaseRecord& last) {
  const auto plain = fmt::format("{}/{}", ToMicros(last.created_at), last.case_id);
  std::string hex;
  for (const unsigned char character : plain) hex += fmt::format("{:02x}", character);
  return hex;
}

bool DecodeCursor(std::string_view cursor, long long& created_at, std::string& case_id) {
  if (cursor.size() % 2 != 0 || cursor.size() > 200) return false;
  std::string plain;
  for (std::size_t index = 0; index < cursor.size(); index += 2) {
    unsigned value = 0;
    for (std::size_t offset = 0; offset < 2; ++offset) {
      const char digit = cursor[index + offset];
      value <<= 4;
      if (digit >= '0' && digit <= '9')
        value |= digit - '0';
      else if (digit >= 'a' && digit <= 'f')
        value |= digit - 'a' + 10;
      else
        return false;
    }
    plain += static_cast<char>(value);
  }
  const auto slash = plain.find('/');
  if (slash == std::string::npos || slash == 0) return false;
  try {
    std::size_t consumed = 0;
    created_at = std::stoll(plain.substr(0, slash), &consumed);
    if (consumed != slash) return false;
  } catch (const std::exception&) {
    return false;
  }
  case_id = plain.substr(slash + 1);
  return internal::LooksLikeCaseId(case_id);
}

}  // namespace

// --- Create ------------------------------------------------------------------------------------------

CaseRecord CaseRepository::Create(const NewCase& new_case) {
  if (new_case.programme.empty() || new_case.office.empty()) {
    throw PersistenceError(ErrorKind::kInvalidData, "create: invalid_data (programme and office are required)");
  }
  const bool deduplicated = !new_case.request_source.empty() && !new_case.request_id.empty();
  for (const auto& person : new_case.people) {
    if (person.member_id.empty()) throw PersistenceError(ErrorKind::kInvalidData, "create: invalid_data (member id)");
  }
  std::vector<std::string> partners = new_case.partners;
  std::sort(partners.begin(), partners.end());
  partners.erase(std::unique(partners.begin(), partners.end()), partners.end());
  for (const auto& partner : partners) {
    if (partner.empty() || partner.find('|') != std::string::npos) {
      throw PersistenceError(ErrorKind::kInvalidData, "create: invalid_data (partner organisation name)");
    }
  }

  // Everything that does not need the database is done before the transaction.
  const std::string context_json = boost::json::serialize(boost::json::value_from(new_case.context));
  auto machine = workflow::Case::Open(new_case.context);
  const std::string saved = machine.Save();
  const std::string stage(machine.Stage());
  const auto active_states = machine.ActiveStates();
  const auto allowed = ToStrings(machine.AllowedEvents());
  const int flags = internal::VulnerabilityBits(HouseholdVulnerabilities(machine.Context()));
  const std::string partners_joined = JoinList(partners);
  // The request hash covers the workflow data of the request, never the personal data.
  const std::string request_hash = RequestHash(kOpenedType, "",
                                               internal::CanonicalJson(context_json) + "\n" + new_case.programme +
                                                   "\n" + new_case.office + "\n" + partners_joined);
  const long long occurred_at =
      ToMicros(std::chrono::time_point_cast<std::chrono::microseconds>(new_case.meta.occurred_at));

  std::string case_id;
  database_.WriteTransaction("create", [&](soci::session& sql) {
    const std::string source = deduplicated ? new_case.request_source : std::string(kEngineSource);
    if (deduplicated) {
      if (auto stored = FindByIdempotencyKey(sql, source, new_case.request_id)) {
        if (stored->request_hash != request_hash) {
          throw PersistenceError(ErrorKind::kConflict, "create: conflict (request id reused with different content)");
        }
        case_id = stored->case_id;
        return;
      }
    }
    case_id = internal::NewUuid();
    const long long now = ToMicros(Now());
    const auto deadline = NextDeadline(stage, machine.Context(), FromMicros(occurred_at));
    long long next_deadline = deadline ? ToMicros(*deadline) : 0;
    soci::indicator deadline_indicator = deadline ? soci::i_ok : soci::i_null;
    const std::string active_joined = JoinList(active_states);
    const long long version = 1;
    sql << "INSERT INTO cases (case_id, programme, host_country, origin_country, office, partners, stage, "
           "active_states, saved_state, vulnerability_flags, version, last_sequence, created_at, updated_at, "
           "stage_entered_at, next_deadline) VALUES (:case_id, :programme, :host, :origin, :office, :partners, "
           ":stage, :active_states, :saved, :flags, :version, :last_sequence, :created_at, :updated_at, "
           ":stage_entered_at, :deadline)",
        soci::use(case_id, "case_id"), soci::use(new_case.programme, "programme"),
        soci::use(new_case.context.host_country, "host"), soci::use(new_case.context.origin_country, "origin"),
        soci::use(new_case.office, "office"), soci::use(partners_joined, "partners"), soci::use(stage, "stage"),
        soci::use(active_joined, "active_states"), soci::use(saved, "saved"), soci::use(flags, "flags"),
        soci::use(version, "version"), soci::use(version, "last_sequence"), soci::use(now, "created_at"),
        soci::use(now, "updated_at"), soci::use(occurred_at, "stage_entered_at"),
        soci::use(next_deadline, deadline_indicator, "deadline");
    for (const auto& partner : partners) {
      sql << "INSERT INTO case_partners (case_id, organisation) VALUES (:case_id, :organisation)",
          soci::use(case_id, "case_id"), soci::use(partner, "organisation");
    }
    for (const auto& person : new_case.people) internal::InsertPerson(sql, case_id, person, now);
    if (!new_case.people.empty()) {
      const std::string access_id = internal::NewUuid();
      const std::string purpose = "referral";
      const std::string action = "create";
      sql << "INSERT INTO personal_data_access (access_id, case_id, actor, purpose, action, accessed_at) VALUES "
             "(:access_id, :case_id, :actor, :purpose, :action, :accessed_at)",
          soci::use(access_id, "access_id"), soci::use(case_id, "case_id"), soci::use(new_case.meta.actor, "actor"),
          soci::use(purpose, "purpose"), soci::use(action, "action"), soci::use(now, "accessed_at");
    }
    HistoryRowInput history;
    history.case_id = case_id;
    history.sequence = 1;
    history.source = source;
    history.event_id = deduplicated ? new_case.request_id : case_id;
    history.type = std::string(kOpenedType);
    history.actor = new_case.meta.actor;
    history.occurred_at = occurred_at;
    history.recorded_at = now;
    history.payload = context_json;
    history.request_hash = request_hash;
    history.verdict = std::string(workflow::Name(workflow::Verdict::kApplied));
    history.states_before = JoinList({});
    history.states_after = active_joined;
    history.changes = JoinList({});
    history.allowed_events = JoinList(allowed);
    history.version_after = 1;
    InsertHistoryRow(sql, history);
  });
  spdlog::info("case={} opened stage={}", case_id, stage);
  return Get(case_id);
}

// --- Read --------------------------------------------------------------------------------------------

std::optional<CaseRecord> CaseRepository::Find(std::string_view case_id) {
  if (!internal::LooksLikeCaseId(case_id)) return std::nullopt;
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
  if (!internal::LooksLikeCaseId(case_id_view)) {
    throw PersistenceError(ErrorKind::kNotFound, "history: not_found (malformed case id)");
  }
  const std::string case_id(case_id_view);
  limit = std::clamp<std::size_t>(limit, 1, kMaxPageSize);
  std::vector<HistoryEntry> entries;
  database_.Read("history", [&](soci::session& sql) {
    entries.clear();
    int exists = 0;
    sql << "SELECT COUNT(*) FROM cases WHERE case_id = :case_id", soci::use(case_id, "case_id"), soci::into(exists);
    if (exists == 0) throw PersistenceError(ErrorKind::kNotFound, fmt::format("history case={}: not_found", case_id));
    // SOCI 4.0's SQLite backend fetches nothing into vectors of size 1, so never ask it for one row that
    // way; LIMIT keeps the count right.
    const std::size_t rows = std::max<std::size_t>(limit, 2);
    std::vector<long long> sequence(rows), occurred_at(rows), recorded_at(rows), version_after(rows);
    std::vector<std::string> source(rows), event_id(rows), type(rows), actor(rows), payload(rows), verdict(rows),
        reason(rows), states_before(rows), states_after(rows), changes(rows);
    long long after = after_sequence;
    long long row_limit = static_cast<long long>(limit);
    soci::statement statement(sql);
    internal::PrepareOnce(statement,
                          "SELECT sequence, source, event_id, type, actor, occurred_at, recorded_at, payload, verdict, "
                          "reason, states_before, states_after, changes, version_after FROM case_events "
                          "WHERE case_id = :case_id AND sequence > :after ORDER BY sequence LIMIT :row_limit",
                          soci::use(case_id, "case_id"), soci::use(after, "after"), soci::use(row_limit, "row_limit"),
                          soci::into(sequence), soci::into(source), soci::into(event_id), soci::into(type),
                          soci::into(actor), soci::into(occurred_at), soci::into(recorded_at), soci::into(payload),
                          soci::into(verdict), soci::into(reason), soci::into(states_before), soci::into(states_after),
                          soci::into(changes), soci::into(version_after));
    statement.execute(true);
    for (std::size_t row = 0; row < sequence.size(); ++row) {
      HistoryEntry entry;
      entry.sequence = sequence[row];
      entry.source = source[row];
      entry.event_id = event_id[row];
      entry.type = type[row];
      entry.actor = actor[row];
      entry.occurred_at = FromMicros(occurred_at[row]);
      entry.recorded_at = FromMicros(recorded_at[row]);
      entry.payload_json = payload[row];
      entry.verdict = verdict[row];
      entry.reason = reason[row];
      entry.states_before = SplitList(states_before[row]);
      entry.states_after = SplitList(states_after[row]);
      entry.changes = SplitList(changes[row]);
      entry.version_after = version_after[row];
      entries.push_back(std::move(entry));
    }
  });
  return entries;
}

// --- Search ------------------------------------------------------------------------------------------

CasePage CaseRepository::Search(const CaseQuery& query) {
  const std::size_t page_size = std::clamp<std::size_t>(query.page_size, 1, kMaxPageSize);
  FilteredQuery filtered;
  AddFilters(query, filtered);
  if (!query.cursor.empty()) {
    long long created_at = 0;
    std::string case_id;
    if (!DecodeCursor(query.cursor, created_at, case_id)) {
      throw PersistenceError(ErrorKind::kInvalidData, "search: invalid_data (malformed cursor)");
    }
    const auto created = filtered.Bind(created_at);
    const auto created_again = filtered.Bind(created_at);
    filtered.Where("(created_at > " + created + " OR (created_at = " + created_again + " AND case_id > " +
                   filtered.Bind(case_id) + "))");
  }
  const auto limit = filtered.Bind(static_cast<long long>(page_size + 1));
  const std::string text = std::string("SELECT ") + internal::kCaseColumns + " FROM cases" + filtered.WhereClause() +
                           " ORDER BY created_at, case_id LIMIT " + limit;
  CasePage page;
  database_.Read("search", [&](soci::session& sql) {
    page.cases.clear();
    internal::CaseRows rows(page_size + 1);
    soci::statement statement(sql);
    filtered.BindUses(statement);
    rows.BindInto(statement);
    internal::PrepareOnce(statement, text);
    statement.execute(true);
    for (std::size_t row = 0; row < rows.Size() && row < page_size; ++row) page.cases.push_back(rows.ToRecord(row));
    if (rows.Size() > page_size) page.next_cursor = EncodeCursor(page.cases.back());
  });
  return page;
}

std::vector<StageCount> CaseRepository::CountByStage(const CaseQuery& query) {
  FilteredQuery filtered;
  AddFilters(query, filtered);
  const std::string text =
      "SELECT stage, COUNT(*) FROM cases" + filtered.WhereClause() + " GROUP BY stage ORDER BY stage";
  std::vector<StageCount> counts;
  database_.Read("count by stage", [&](soci::session& sql) {
    counts.clear();
    constexpr std::size_t kMaxStages = 64;
    std::vector<std::string> stages(kMaxStages);
    std::vector<long long> numbers(kMaxStages);
    soci::statement statement(sql);
    filtered.BindUses(statement);
    statement.exchange(soci::into(stages));
    statement.exchange(soci::into(numbers));
    internal::PrepareOnce(statement, text);
    statement.execute(true);
    for (std::size_t row = 0; row < stages.size(); ++row) counts.push_back({stages[row], numbers[row]});
  });
  return counts;
}

// --- Partners ----------------------------------------------------------------------------------------

namespace {
void ChangePartner(Database& database, std::string_view case_id_view, std::string_view organisation_view, bool assign) {
  if (!internal::LooksLikeCaseId(case_id_view)) throw PersistenceError(ErrorKind::kNotFound, "partners: not_found");
  if (organisation_view.empty() || organisation_view.find('|') != std::string_view::npos) {
    throw PersistenceError(ErrorKind::kInvalidData, "partners: invalid_data (organisation name)");
  }
  const std::string case_id(case_id_view);
  const std::string organisation(organisation_view);
  database.WriteTransaction("partners", [&](soci::session& sql) {
    CaseRow row;
    if (!internal::LoadCase(sql, database.GetBackend(), case_id, /*for_update=*/true, row)) {
      throw PersistenceError(ErrorKind::kNotFound, fmt::format("partners case={}: not_found", case_id));
    }
    auto partners = SplitList(row.partners);
    const bool present = std::find(partners.begin(), partners.end(), organisation) != partners.end();
    if (assign == present) return;
    if (assign) {
      partners.push_back(organisation);
      std::sort(partners.begin(), partners.end());
      sql << "INSERT INTO case_partners (case_id, organisation) VALUES (:case_id, :organisation)",
          soci::use(case_id, "case_id"), soci::use(organisation, "organisation");
    } else {
      partners.erase(std::remove(partners.begin(), partners.end(), organisation), partners.end());
      sql << "DELETE FROM case_partners WHERE case_id = :case_id AND organisation = :organisation",
          soci::use(case_id, "case_id"), soci::use(organisation, "organisation");
    }
    const std::string joined = JoinList(partners);
    sql << "UPDATE cases SET partners = :partners WHERE case_id = :case_id", soci::use(joined, "partners"),
        soci::use(case_id, "case_id");
  });
}
}  // namespace

void CaseRepository::AssignPartner(std::string_view case_id, std::string_view organisation) {
  ChangePartner(database_, case_id, organisation, true);
}
void CaseRepository::UnassignPartner(std::string_view case_id, std::string_view organisation) {
  ChangePartner(database_, case_id, organisation, false);
}

}  // namespace returnflow::persistence
