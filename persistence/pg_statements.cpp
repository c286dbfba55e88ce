#include "persistence/pg_statements.hpp"

#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>

#include <cstdlib>
#include <utility>

namespace returnflow::persistence::internal {
namespace {

// Locks one case and looks up one idempotency key: $1 source, $2 event id, $3 case id. Columns:
// RETURNFLOW_CASE_COLUMNS, then `request_hash` (NULL: the key was not seen).
constexpr const char* kPrepareLock =
    "PREPARE rf_apply_lock (text, text, text) AS "
    "SELECT c.case_id, c.programme, c.host_country, c.origin_country, c.office, c.partners, c.stage, "
    "c.active_states, c.saved_state, c.vulnerability_flags, c.version, c.last_sequence, c.created_at, c.updated_at, "
    "c.stage_entered_at, c.next_deadline, c.overdue, c.inbox, c.head_hash, e.request_hash FROM cases c LEFT JOIN case_events e "
    "ON e.source = $1 AND e.event_id = $2 WHERE c.case_id = $3 FOR UPDATE OF c";

// Locks a group's cases (distinct ids, in case-id order) and looks up each item's idempotency key: $1 case
// ids, $2 sources, $3 event ids. Columns as kPrepareLock, then `position` (the item's 1-based index).
constexpr const char* kPrepareGroupLock =
    "PREPARE rf_apply_group_lock (text[], text[], text[]) AS "
    "SELECT c.case_id, c.programme, c.host_country, c.origin_country, c.office, c.partners, c.stage, "
    "c.active_states, c.saved_state, c.vulnerability_flags, c.version, c.last_sequence, c.created_at, c.updated_at, "
    "c.stage_entered_at, c.next_deadline, c.overdue, c.inbox, c.head_hash, e.request_hash, i.n AS position "
    "FROM unnest((SELECT $1), (SELECT $2), (SELECT $3)) WITH ORDINALITY AS i (case_id, source, event_id, n) "
    "JOIN cases c ON c.case_id = i.case_id "
    "LEFT JOIN case_events e ON e.source = i.source AND e.event_id = i.event_id "
    "ORDER BY c.case_id FOR UPDATE OF c";

// The group statements read their arrays through (SELECT $n): a custom plan would see each array's length,
// estimate better than the generic plan and so be chosen, and re-planned, on every execution (about a
// fifth of the statements' cost); hidden from the planner, the generic plan wins after five executions.

// Run at the start of every group transaction, before the statements below. Their generic plan is made
// once per connection and kept; made while the tables are small (a fresh database, the first minutes of a
// server), the planner prefers hash joins over sequential scans of `cases`, and that plan then stays while
// the table grows and fills with dead rows until autovacuum's next ANALYZE (seen: a third of the engine's
// throughput lost for minutes). Both statements touch a handful of rows by key, so index lookups in
// nested loops are right at every size; these settings last until the transaction ends.
constexpr const char* kPrepareNestedLoops =
    "PREPARE rf_nested_loops AS SELECT set_config('enable_seqscan', 'off', true), "
    "set_config('enable_bitmapscan', 'off', true), set_config('enable_hashjoin', 'off', true), "
    "set_config('enable_mergejoin', 'off', true)";

// The write of events, spelt once: given a relation `input` with one row per event (the 32 columns of
// RF_WRITE_COLUMNS: its history row with its hash, the case's new head, the case's version and last sequence the event was decided on,
// whether it was applied, and the case's new values when it was), it appends every history row and updates
// every case, checked against the version and last sequence each was decided on. A case that moved since
// is not updated; then the final cast fails, the whole statement with it (SQLSTATE 22P02, "write
// incomplete"), and so does a COMMIT sent behind it in the same pipeline: nothing is written and the caller
// takes the next, more careful path. A history row whose (source, event_id) or (case_id, sequence) is taken
// fails the statement the same way (unique violation). Checking inside the statement is what lets the
// commit travel in the same round trip. COUNT is the number of input rows.
#define RF_EVENT_WRITE(COUNT)                                                                                    \
  "updated AS (UPDATE cases c SET version = i.version_after, last_sequence = i.sequence, "                      \
  "saved_state = CASE WHEN i.applied THEN i.saved_state ELSE c.saved_state END, "                               \
  "stage = CASE WHEN i.applied THEN i.stage ELSE c.stage END, "                                                 \
  "active_states = CASE WHEN i.applied THEN i.active_states ELSE c.active_states END, "                         \
  "vulnerability_flags = CASE WHEN i.applied THEN i.flags ELSE c.vulnerability_flags END, "                     \
  "host_country = CASE WHEN i.applied THEN i.host_country ELSE c.host_country END, "                            \
  "origin_country = CASE WHEN i.applied THEN i.origin_country ELSE c.origin_country END, "                      \
  "updated_at = CASE WHEN i.applied THEN i.recorded_at ELSE c.updated_at END, "                                 \
  "stage_entered_at = CASE WHEN i.applied THEN i.stage_entered_at ELSE c.stage_entered_at END, "                \
  "next_deadline = CASE WHEN i.applied THEN i.next_deadline ELSE c.next_deadline END, "                         \
  "overdue = CASE WHEN i.applied THEN i.overdue ELSE c.overdue END, head_hash = i.head "                        \
  "FROM input i WHERE c.case_id = i.case_id AND c.version = i.expected_version "                                \
  "AND c.last_sequence = i.expected_last_sequence "                                                             \
  "AND i.version_after = c.version + CASE WHEN i.applied THEN 1 ELSE 0 END RETURNING c.case_id), "             \
  "history AS (INSERT INTO case_events (case_id, sequence, source, event_id, type, actor, occurred_at, "        \
  "recorded_at, payload, request_hash, verdict, reason, states_before, states_after, changes, allowed_events, " \
  "version_after, hash, prev_hash) SELECT i.case_id, i.sequence, i.source, i.event_id, i.type, i.actor, "       \
  "i.occurred_at, i.recorded_at, i.payload, i.request_hash, i.verdict, i.reason, i.states_before, "             \
  "i.states_after, i.changes, i.allowed_events, i.version_after, i.hash, i.prev_hash FROM input i "             \
  "RETURNING case_id) "                                                                                         \
  "SELECT (CASE WHEN (SELECT count(*) FROM updated) = " COUNT " AND (SELECT count(*) FROM history) = " COUNT    \
  " THEN '0' ELSE 'write incomplete' END)::integer"

#define RF_WRITE_COLUMNS                                                                                        \
  "case_id, sequence, source, event_id, type, actor, occurred_at, recorded_at, payload, request_hash, verdict, " \
  "reason, states_before, states_after, changes, allowed_events, version_after, hash, prev_hash, head, "       \
  "expected_version, "                                                                                          \
  "expected_last_sequence, applied, saved_state, stage, active_states, flags, host_country, origin_country, "   \
  "stage_entered_at, next_deadline, overdue"

// Many events: one array per column ($1-$32) and the number of events ($33).
constexpr const char* kPrepareGroupWrite =
    "PREPARE rf_apply_group_write (text[], bigint[], text[], text[], text[], text[], bigint[], bigint[], text[], "
    "text[], text[], text[], text[], text[], text[], text[], bigint[], text[], text[], text[], bigint[], bigint[], "
    "boolean[], text[], text[], text[], integer[], text[], text[], bigint[], bigint[], text[], bigint) AS "
    "WITH input AS (SELECT * FROM unnest((SELECT $1), (SELECT $2), (SELECT $3), (SELECT $4), (SELECT $5), "
    "(SELECT $6), (SELECT $7), (SELECT $8), (SELECT $9), (SELECT $10), (SELECT $11), (SELECT $12), (SELECT $13), "
    "(SELECT $14), (SELECT $15), (SELECT $16), (SELECT $17), (SELECT $18), (SELECT $19), (SELECT $20), (SELECT $21), "
    "(SELECT $22), (SELECT $23), (SELECT $24), (SELECT $25), (SELECT $26), (SELECT $27), (SELECT $28), (SELECT $29), "
    "(SELECT $30), (SELECT $31), (SELECT $32)) "
    "AS i (" RF_WRITE_COLUMNS ")), " RF_EVENT_WRITE("$33");

// One event: the same 32 columns as scalars, the same write. Planning and starting the array statement
// costs more than the whole write of one event, and a group of one is the common case at low load.
constexpr const char* kPrepareOne =
    "PREPARE rf_apply_one (text, bigint, text, text, text, text, bigint, bigint, text, text, text, text, text, text, "
    "text, text, bigint, text, text, text, bigint, bigint, boolean, text, text, text, integer, text, text, bigint, "
    "bigint, text) AS "
    "WITH input AS (SELECT $1 AS case_id, $2 AS sequence, $3 AS source, $4 AS event_id, $5 AS type, $6 AS actor, "
    "$7 AS occurred_at, $8 AS recorded_at, $9 AS payload, $10 AS request_hash, $11 AS verdict, $12 AS reason, "
    "$13 AS states_before, $14 AS states_after, $15 AS changes, $16 AS allowed_events, $17 AS version_after, "
    "$18 AS hash, $19 AS prev_hash, $20 AS head, "
    "$21 AS expected_version, $22 AS expected_last_sequence, $23 AS applied, $24 AS saved_state, $25 AS stage, "
    "$26 AS active_states, $27 AS flags, $28 AS host_country, $29 AS origin_country, $30 AS stage_entered_at, "
    "$31 AS next_deadline, $32 AS overdue), " RF_EVENT_WRITE("1");

// The timer changes of a group's events: $1 case ids, $2 kinds, $3 due times (NULL: remove the timer),
// $4 the case versions they were scheduled at. A case and kind appear at most once.
constexpr const char* kPrepareTimersWrite =
    "PREPARE rf_timers_write (text[], text[], bigint[], bigint[]) AS "
    "WITH input AS (SELECT * FROM unnest((SELECT $1), (SELECT $2), (SELECT $3), (SELECT $4)) "
    "AS i (case_id, kind, due_at, scheduled_version)), "
    "removed AS (DELETE FROM timers t USING input i WHERE i.due_at IS NULL AND t.case_id = i.case_id "
    "AND t.kind = i.kind RETURNING 1), "
    "upserted AS (INSERT INTO timers (case_id, kind, due_at, scheduled_version, attempts, claimed_until) "
    "SELECT case_id, kind, due_at, scheduled_version, 0, NULL FROM input WHERE due_at IS NOT NULL "
    "ON CONFLICT (case_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at, "
    "scheduled_version = EXCLUDED.scheduled_version, attempts = 0, claimed_until = NULL RETURNING 1) "
    "SELECT (SELECT count(*) FROM removed) + (SELECT count(*) FROM upserted)";

// The incidents a group's events open (one open incident per case, kind and subject): $1-$8 arrays of
// incident id, case id, kind, subject, opened at, office, host country, origin country.
constexpr const char* kPrepareIncidentsOpen =
    "PREPARE rf_incidents_open (text[], text[], text[], text[], bigint[], text[], text[], text[]) AS "
    "INSERT INTO incidents (incident_id, case_id, kind, subject, opened_at, office, host_country, origin_country) "
    "SELECT * FROM unnest((SELECT $1), (SELECT $2), (SELECT $3), (SELECT $4), (SELECT $5), (SELECT $6), "
    "(SELECT $7), (SELECT $8)) ON CONFLICT DO NOTHING";

// The outbox rows of a group's events (persistence/outbox.hpp), written with them.
constexpr const char* kPrepareOutboxWrite =
    "PREPARE rf_outbox_write (text[], text[], text[], bigint[], int[], text[], text[], text[], bigint[], text[], "
    "bigint[]) AS INSERT INTO outbox (notification_id, subscription_id, case_id, case_sequence, ordinal, kind, "
    "subject, facts, created_at, status, next_attempt_at) SELECT * FROM unnest((SELECT $1), (SELECT $2), "
    "(SELECT $3), (SELECT $4), (SELECT $5), (SELECT $6), (SELECT $7), (SELECT $8), (SELECT $9), (SELECT $10), "
    "(SELECT $11))";

#undef RF_EVENT_WRITE
#undef RF_WRITE_COLUMNS

PGconn* Connection(soci::session& sql) {
  return static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_;
}

}  // namespace

void PreparePostgresStatements(soci::session& sql) {
  sql << kPrepareLock;
  sql << kPrepareNestedLoops;
  sql << kPrepareGroupLock;
  sql << kPrepareGroupWrite;
  sql << kPrepareOne;
  sql << kPrepareTimersWrite;
  sql << kPrepareIncidentsOpen;
  sql << kPrepareOutboxWrite;
}

namespace {

/// The SQLSTATE of a failed result, or the connection-failure class when there is no usable answer.
std::string FailureState(PGconn* connection, const PGresult* result) {
  const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (PQstatus(connection) == CONNECTION_BAD || sqlstate == nullptr) return "08006";
  return sqlstate;
}

[[noreturn]] void ThrowFailure(const std::string& state) {
  // The same exception SOCI throws, so error mapping, retries and reconnection treat both alike. The
  // server's message is not carried: it can quote values.
  throw soci::postgresql_soci_error("prepared statement failed", state.c_str());
}

}  // namespace

PgRows::PgRows(soci::session& sql, const char* statement, const std::vector<const char*>& parameters) {
  PGresult* result = PQexecPrepared(Connection(sql), statement, static_cast<int>(parameters.size()), parameters.data(),
                                    nullptr, nullptr, 0);
  const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    const auto state = FailureState(Connection(sql), result);
    if (result) PQclear(result);
    ThrowFailure(state);
  }
  result_ = result;
}

PgRows::PgRows(PgRows&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}

void PgPipeline::Add(const char* text) { queued_.push_back({text, false, {}}); }

void PgPipeline::AddPrepared(const char* statement, std::vector<const char*> parameters) {
  queued_.push_back({statement, true, std::move(parameters)});
}

std::vector<PgRows> PgPipeline::Run() {
  PGconn* connection = Connection(sql_);
  if (PQenterPipelineMode(connection) != 1) ThrowFailure(FailureState(connection, nullptr));
  bool sent = true;
  for (const auto& queued : queued_) {
    const int count = static_cast<int>(queued.parameters.size());
    sent = queued.prepared ? PQsendQueryPrepared(connection, queued.text, count, queued.parameters.data(), nullptr,
                                                 nullptr, 0) == 1
                           : PQsendQueryParams(connection, queued.text, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
    if (!sent) break;
  }
  sent = sent && PQpipelineSync(connection) == 1;
  if (!sent) {
    // Nothing can be read back from a connection that refused to send: the caller reconnects it.
    PQexitPipelineMode(connection);
    ThrowFailure("08006");
  }

  // Each statement's answer is its result followed by a null; the batch ends with the sync's result.
  // A statement after a failed one answers PGRES_PIPELINE_ABORTED.
  std::vector<PgRows> rows;
  rows.reserve(queued_.size());
  std::string failure;
  std::size_t answered = 0;
  for (;;) {
    PGresult* result = PQgetResult(connection);
    if (result == nullptr) {
      // More ends than statements, or a dead connection, means the sync's answer will never come.
      if (++answered > queued_.size() || PQstatus(connection) == CONNECTION_BAD) {
        failure = "08006";
        break;
      }
      continue;
    }
    const auto status = PQresultStatus(result);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(result);
      break;
    }
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      rows.push_back(PgRows(result));
    } else {
      if (failure.empty() && status != PGRES_PIPELINE_ABORTED) failure = FailureState(connection, result);
      PQclear(result);
    }
  }
  PQexitPipelineMode(connection);
  queued_.clear();
  if (!failure.empty()) ThrowFailure(failure);
  if (rows.size() != answered) ThrowFailure("08006");  // a statement without an answer: the stream is out of step
  return rows;
}

PgRows::~PgRows() {
  if (result_) PQclear(static_cast<PGresult*>(result_));
}

int PgRows::Count() const { return PQntuples(static_cast<const PGresult*>(result_)); }

bool PgRows::IsNull(int row, int column) const {
  return PQgetisnull(static_cast<const PGresult*>(result_), row, column) != 0;
}

std::string PgRows::Text(int row, int column) const {
  const auto* result = static_cast<const PGresult*>(result_);
  return std::string(PQgetvalue(result, row, column), PQgetlength(result, row, column));
}

long long PgRows::Number(int row, int column) const {
  return std::strtoll(PQgetvalue(static_cast<const PGresult*>(result_), row, column), nullptr, 10);
}

int PgRows::Column(const char* name) const {
  const int column = PQfnumber(static_cast<const PGresult*>(result_), name);
  if (column < 0) ThrowFailure("42703");  // undefined column: a defect in the statement's layout
  return column;
}
bool PgRows::IsNull(int row, const char* name) const { return IsNull(row, Column(name)); }
std::string PgRows::Text(int row, const char* name) const { return Text(row, Column(name)); }
long long PgRows::Number(int row, const char* name) const { return Number(row, Column(name)); }

}  // namespace returnflow::persistence::internal
