#pragma once
// The PostgreSQL hot path of CaseRepository::Apply as statements prepared once per connection and run
// through libpq directly. SOCI 4.0 offers plan reuse only through statement objects that DEALLOCATE in
// their destructor (and throw from it when the connection has died); statements prepared with SQL
// PREPARE at connect time die with their connection and need no cleanup. Not public.
#include <soci/soci.h>

#include <string>
#include <vector>

namespace returnflow::persistence::internal {

inline constexpr const char* kPgApplyLock = "rf_apply_lock";
inline constexpr const char* kPgApplyApplied = "rf_apply_applied";
inline constexpr const char* kPgApplyRejected = "rf_apply_rejected";
/// Group commit: locks a group's cases (distinct ids, in case-id order) and looks up each item's
/// idempotency key. $1 case ids, $2 sources, $3 event ids (text arrays, one element per item). Columns
/// 0..15 as kCaseColumns, 16 the seen request hash (NULL: not seen), 17 the item's 1-based position.
inline constexpr const char* kPgApplyGroupLock = "rf_apply_group_lock";
/// Group commit: writes every item's history row and case update in one statement (28 arrays, see
/// pg_statements.cpp). Returns one row: (cases updated, history rows inserted); both equal the number
/// of items unless a case moved under the caller (lost race) or an idempotency key was taken meanwhile.
inline constexpr const char* kPgApplyGroupWrite = "rf_apply_group_write";

/// Prepares the statements above on a freshly opened PostgreSQL session.
void PreparePostgresStatements(soci::session& sql);

/// The rows of one prepared-statement execution, as text.
class PgRows {
 public:
  PgRows(soci::session& sql, const char* statement, const std::vector<const char*>& parameters);
  ~PgRows();
  PgRows(const PgRows&) = delete;
  PgRows& operator=(const PgRows&) = delete;
  int Count() const;
  bool IsNull(int row, int column) const;
  std::string Text(int row, int column) const;
  long long Number(int row, int column) const;

 private:
  void* result_;  // PGresult*, kept out of this header
};

}  // namespace returnflow::persistence::internal
