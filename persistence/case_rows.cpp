#include "persistence/case_rows.hpp"

#include <charconv>

#include <fmt/format.h>

#include "persistence/internal.hpp"

namespace returnflow::persistence::internal {
namespace {

/// Integer columns arrive as int, long long or text, by backend and declared type.
template <typename Columns>
long long IntegerOf(const Columns& columns, const char* name) {
  switch (columns.get_properties(name).get_data_type()) {
    case soci::dt_integer: return columns.template get<int>(name);
    case soci::dt_long_long: return columns.template get<long long>(name);
    case soci::dt_unsigned_long_long: return static_cast<long long>(columns.template get<unsigned long long>(name));
    case soci::dt_double: return static_cast<long long>(columns.template get<double>(name));
    case soci::dt_string: {
      const auto text = columns.template get<std::string>(name);
      long long value = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc{} || end != text.data() + text.size()) {
        throw PersistenceError(ErrorKind::kCorruptData, fmt::format("read: corrupt_data (column {})", name));
      }
      return value;
    }
    default:
      throw PersistenceError(ErrorKind::kCorruptData, fmt::format("read: corrupt_data (column {})", name));
  }
}

}  // namespace

std::string Text(const soci::values& columns, const char* name) { return columns.get<std::string>(name); }
std::string Text(const soci::row& columns, const char* name) { return columns.get<std::string>(name); }
std::string Text(const PgColumns& columns, const char* name) { return columns.rows.Text(columns.row, name); }
long long Integer(const soci::values& columns, const char* name) { return IntegerOf(columns, name); }
long long Integer(const soci::row& columns, const char* name) { return IntegerOf(columns, name); }
long long Integer(const PgColumns& columns, const char* name) { return columns.rows.Number(columns.row, name); }
bool IsNull(const soci::values& columns, const char* name) { return columns.get_indicator(name) == soci::i_null; }
bool IsNull(const soci::row& columns, const char* name) { return columns.get_indicator(name) == soci::i_null; }
bool IsNull(const PgColumns& columns, const char* name) { return columns.rows.IsNull(columns.row, name); }

CaseRecord CaseRow::ToRecord() const {
  CaseRecord record;
  record.case_id = case_id;
  record.programme = programme;
  record.host_country = host_country;
  record.origin_country = origin_country;
  record.office = office;
  record.partners = SplitList(partners);
  record.stage = stage;
  record.active_states = SplitList(active_states);
  record.saved_state = saved_state;
  record.vulnerabilities = VulnerabilitiesFromBits(vulnerability_flags);
  record.version = version;
  record.last_sequence = last_sequence;
  record.created_at = FromMicros(created_at);
  record.updated_at = FromMicros(updated_at);
  record.stage_entered_at = FromMicros(stage_entered_at);
  if (has_next_deadline) record.next_deadline = FromMicros(next_deadline);
  record.overdue = SplitList(overdue);
  return record;
}

CaseScope CaseRow::Scope() const { return {office, host_country, origin_country, SplitList(partners)}; }

HistoryEntry HistoryRow::ToEntry() const {
  HistoryEntry entry;
  entry.sequence = sequence;
  entry.source = source;
  entry.event_id = event_id;
  entry.type = type;
  entry.actor = actor;
  entry.occurred_at = FromMicros(occurred_at);
  entry.recorded_at = FromMicros(recorded_at);
  entry.payload_json = payload;
  entry.verdict = verdict;
  entry.reason = reason;
  entry.states_before = SplitList(states_before);
  entry.states_after = SplitList(states_after);
  entry.changes = SplitList(changes);
  entry.version_after = version_after;
  return entry;
}

namespace {
// :case_id -> CaseRow.
constexpr Query kSelectCase{"select case", "SELECT " RETURNFLOW_CASE_COLUMNS " FROM cases WHERE case_id = :case_id"};
constexpr Query kSelectCaseForUpdate{"select case for update",
                                     "SELECT " RETURNFLOW_CASE_COLUMNS " FROM cases WHERE case_id = :case_id FOR UPDATE"};
// The HistoryRow as named parameters.
constexpr Query kInsertHistory{
    "insert history",
    "INSERT INTO case_events (" RETURNFLOW_HISTORY_COLUMNS ") VALUES (:case_id, :sequence, :source, :event_id, :type, "
    ":actor, :occurred_at, :recorded_at, :payload, :request_hash, :verdict, :reason, :states_before, :states_after, "
    ":changes, :allowed_events, :version_after, :hash, :prev_hash)"};
}  // namespace

bool LoadCase(soci::session& sql, Backend backend, const std::string& case_id, bool for_update, CaseRow& row) {
  const auto& query = for_update && backend == Backend::kPostgresql ? kSelectCaseForUpdate : kSelectCase;
  bool found = false;
  ForEachRow(sql, query, [&](const soci::row& columns) {
    ReadCaseRow(columns, row);
    found = true;
  }, soci::use(case_id, "case_id"));
  return found;
}

void InsertHistory(soci::session& sql, const HistoryRow& row) {
  soci::statement statement(sql);
  PrepareOnce(statement, kInsertHistory.text, soci::use(row.case_id, "case_id"), soci::use(row.sequence, "sequence"),
              soci::use(row.source, "source"), soci::use(row.event_id, "event_id"), soci::use(row.type, "type"),
              soci::use(row.actor, "actor"), soci::use(row.occurred_at, "occurred_at"),
              soci::use(row.recorded_at, "recorded_at"), soci::use(row.payload, "payload"),
              soci::use(row.request_hash, "request_hash"), soci::use(row.verdict, "verdict"),
              soci::use(row.reason, "reason"), soci::use(row.states_before, "states_before"),
              soci::use(row.states_after, "states_after"), soci::use(row.changes, "changes"),
              soci::use(row.allowed_events, "allowed_events"), soci::use(row.version_after, "version_after"),
              soci::use(row.hash, "hash"), soci::use(row.prev_hash, "prev_hash"));
  try {
    statement.execute(true);
  } catch (...) {
    // A constraint violation means the same (source, event_id) is being recorded for another case at
    // this very moment (the only constraint a correct caller can hit): run the transaction again.
    if (IsConstraintViolation()) throw RetryTransaction{};
    throw;
  }
}

}  // namespace returnflow::persistence::internal
