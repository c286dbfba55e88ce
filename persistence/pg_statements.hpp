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
