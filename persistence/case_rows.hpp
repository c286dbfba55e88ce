#pragma once
// Row mapping for the `cases` and `case_events` tables: each row type is mapped from columns once, here,
// whichever way the row arrives (SOCI `values` through type_conversion, a SOCI dynamic `row`, or a libpq
// result of the PostgreSQL hot path). Not public.
#include <soci/soci.h>

#include <string>
#include <vector>

#include "persistence/checkpoints.hpp"
#include "persistence/pg_statements.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence::internal {

/// A statement of the engine, named (for logs and errors) and kept beside the layout it reads and binds.
struct Query {
  const char* name;
  const char* text;
};

/// The columns of `cases` that every statement reading a case selects.
#define RETURNFLOW_CASE_COLUMNS                                                                              \
  "case_id, programme, host_country, origin_country, office, partners, stage, active_states, saved_state, " \
  "vulnerability_flags, version, last_sequence, created_at, updated_at, stage_entered_at, next_deadline, "  \
  "overdue, inbox, head_hash"
inline constexpr const char* kCaseColumns = RETURNFLOW_CASE_COLUMNS;

/// One `cases` row (RETURNFLOW_CASE_COLUMNS).
struct CaseRow {
  std::string case_id, programme, host_country, origin_country, office, partners, stage, active_states, saved_state;
  int vulnerability_flags = 0;
  long long version = 0, last_sequence = 0, created_at = 0, updated_at = 0, stage_entered_at = 0, next_deadline = 0;
  bool has_next_deadline = false;
  std::string overdue = "|", inbox = "[]";
  std::string head_hash;  ///< the hash of the case's newest history row (history_chain.hpp)

  CaseRecord ToRecord() const;
  CaseScope Scope() const;
};

/// The columns of `case_events` that every statement reading history rows selects.
#define RETURNFLOW_HISTORY_COLUMNS                                                                             \
  "case_id, sequence, source, event_id, type, actor, occurred_at, recorded_at, payload, request_hash, verdict, " \
  "reason, states_before, states_after, changes, allowed_events, version_after, hash, prev_hash"
inline constexpr const char* kHistoryColumns = RETURNFLOW_HISTORY_COLUMNS;

/// One `case_events` row (RETURNFLOW_HISTORY_COLUMNS); also what an event's write inserts.
struct HistoryRow {
  std::string case_id;
  long long sequence = 0;
  std::string source, event_id, type, actor;
  long long occurred_at = 0, recorded_at = 0;
  std::string payload, request_hash, verdict, reason, states_before, states_after, changes, allowed_events;
  long long version_after = 0;
  std::string hash, prev_hash;  ///< this row's hash and the case's previous row's (history_chain.hpp)

  HistoryEntry ToEntry() const;
};

/// A libpq result row read by column name, like SOCI's row (for the PostgreSQL hot path).
struct PgColumns {
  const PgRows& rows;
  int row;
};

// Column access for each way a row arrives; the mappings below are written once against these.
std::string Text(const soci::values& columns, const char* name);
std::string Text(const soci::row& columns, const char* name);
std::string Text(const PgColumns& columns, const char* name);
long long Integer(const soci::values& columns, const char* name);
long long Integer(const soci::row& columns, const char* name);
long long Integer(const PgColumns& columns, const char* name);
bool IsNull(const soci::values& columns, const char* name);
bool IsNull(const soci::row& columns, const char* name);
bool IsNull(const PgColumns& columns, const char* name);

template <typename Columns>
void ReadCaseRow(const Columns& columns, CaseRow& row) {
  row.case_id = Text(columns, "case_id");
  row.programme = Text(columns, "programme");
  row.host_country = Text(columns, "host_country");
  row.origin_country = Text(columns, "origin_country");
  row.office = Text(columns, "office");
  row.partners = Text(columns, "partners");
  row.stage = Text(columns, "stage");
  row.active_states = Text(columns, "active_states");
  row.saved_state = Text(columns, "saved_state");
  row.vulnerability_flags = static_cast<int>(Integer(columns, "vulnerability_flags"));
  row.version = Integer(columns, "version");
  row.last_sequence = Integer(columns, "last_sequence");
  row.created_at = Integer(columns, "created_at");
  row.updated_at = Integer(columns, "updated_at");
  row.stage_entered_at = Integer(columns, "stage_entered_at");
  row.has_next_deadline = !IsNull(columns, "next_deadline");
  row.next_deadline = row.has_next_deadline ? Integer(columns, "next_deadline") : 0;
  row.overdue = Text(columns, "overdue");
  row.inbox = Text(columns, "inbox");
  row.head_hash = Text(columns, "head_hash");
}

template <typename Columns>
void ReadHistoryRow(const Columns& columns, HistoryRow& row) {
  row.case_id = Text(columns, "case_id");
  row.sequence = Integer(columns, "sequence");
  row.source = Text(columns, "source");
  row.event_id = Text(columns, "event_id");
  row.type = Text(columns, "type");
  row.actor = Text(columns, "actor");
  row.occurred_at = Integer(columns, "occurred_at");
  row.recorded_at = Integer(columns, "recorded_at");
  row.payload = Text(columns, "payload");
  row.request_hash = Text(columns, "request_hash");
  row.verdict = Text(columns, "verdict");
  row.reason = Text(columns, "reason");
  row.states_before = Text(columns, "states_before");
  row.states_after = Text(columns, "states_after");
  row.changes = Text(columns, "changes");
  row.allowed_events = Text(columns, "allowed_events");
  row.version_after = Integer(columns, "version_after");
  row.hash = Text(columns, "hash");
  row.prev_hash = Text(columns, "prev_hash");
}

/// Runs `query` (bound with `uses`) as a one-time statement and calls `each` with every result row.
/// One-time statements need no DEALLOCATE (see PrepareOnce in internal.hpp).
template <typename Each, typename... Uses>
void ForEachRow(soci::session& sql, const Query& query, Each&& each, Uses&&... uses);

/// Loads one case, locking its row when `for_update` on PostgreSQL (SQLite holds the database write lock
/// already). Returns false when there is no such case.
bool LoadCase(soci::session& sql, Backend backend, const std::string& case_id, bool for_update, CaseRow& row);

/// The source of the history rows the engine writes itself (case.opened, partner and consent changes).
inline constexpr std::string_view kEngineSource = "returnflow";

// :case_id, :organisation: the indexed form of a case's partner list.
inline constexpr Query kInsertCasePartner{"insert case partner",
                                          "INSERT INTO case_partners (case_id, organisation) VALUES (:case_id, :organisation)"};

/// A case's partner list sorted and distinct; kInvalidInput for an organisation id that is not
/// workflow::ValidOrganisationId, kLimitReached for more than workflow::kMaxPartnersPerCase.
std::vector<std::string> PartnerList(std::vector<std::string> partners, std::string_view operation);

/// Inserts one history row (the statement every soci write path uses).
void InsertHistory(soci::session& sql, const HistoryRow& row);

/// One `checkpoints` row (checkpoints.cpp maps it; verify_chain.cpp reads it too).
Checkpoint ReadCheckpoint(const soci::row& columns);

}  // namespace returnflow::persistence::internal

namespace soci {
template <>
struct type_conversion<returnflow::persistence::internal::CaseRow> {
  using base_type = values;
  static void from_base(const values& columns, indicator, returnflow::persistence::internal::CaseRow& row) {
    returnflow::persistence::internal::ReadCaseRow(columns, row);
  }
  static void to_base(const returnflow::persistence::internal::CaseRow&, values&, indicator&) {}
};
template <>
struct type_conversion<returnflow::persistence::internal::HistoryRow> {
  using base_type = values;
  static void from_base(const values& columns, indicator, returnflow::persistence::internal::HistoryRow& row) {
    returnflow::persistence::internal::ReadHistoryRow(columns, row);
  }
  static void to_base(const returnflow::persistence::internal::HistoryRow&, values&, indicator&) {}
};
}  // namespace soci

namespace returnflow::persistence::internal {

template <typename Each, typename... Uses>
void ForEachRow(soci::session& sql, const Query& query, Each&& each, Uses&&... uses) {
  soci::row columns;
  soci::statement statement(sql);
  (statement.exchange(std::forward<Uses>(uses)), ...);
  statement.exchange(soci::into(columns));
  statement.alloc();
  statement.prepare(query.text, soci::details::st_one_time_query);
  statement.define_and_bind();
  if (!statement.execute(true)) return;
  do {
    each(static_cast<const soci::row&>(columns));
  } while (statement.fetch());
}

}  // namespace returnflow::persistence::internal
