#pragma once
// Row mapping for the cases table, shared by the case repository and verify. Not public.
#include <soci/soci.h>

#include <string>
#include <vector>

#include "persistence/repository.hpp"

namespace returnflow::persistence::internal {

inline constexpr const char* kCaseColumns =
    "case_id, programme, host_country, origin_country, office, partners, stage, active_states, saved_state, "
    "vulnerability_flags, version, last_sequence, created_at, updated_at, stage_entered_at, next_deadline";

/// One cases row as SOCI exchanges it.
struct CaseRow {
  std::string case_id, programme, host_country, origin_country, office, partners, stage, active_states, saved_state;
  int vulnerability_flags = 0;
  long long version = 0, last_sequence = 0, created_at = 0, updated_at = 0, stage_entered_at = 0, next_deadline = 0;
  soci::indicator next_deadline_indicator = soci::i_null;

  CaseRecord ToRecord() const;
};

/// The same columns for a page of rows (bulk fetch).
struct CaseRows {
  std::vector<std::string> case_id, programme, host_country, origin_country, office, partners, stage, active_states,
      saved_state;
  std::vector<int> vulnerability_flags;
  std::vector<long long> version, last_sequence, created_at, updated_at, stage_entered_at, next_deadline;
  std::vector<soci::indicator> next_deadline_indicator;

  explicit CaseRows(std::size_t capacity);
  void BindInto(soci::statement& statement);
  std::size_t Size() const { return case_id.size(); }
  CaseRecord ToRecord(std::size_t row) const;
};

/// Loads one case, locking its row when `for_update` on PostgreSQL (SQLite holds the database write lock
/// already). Returns false when there is no such case.
bool LoadCase(soci::session& sql, Backend backend, const std::string& case_id, bool for_update, CaseRow& row);

}  // namespace returnflow::persistence::internal
