#pragma once
// The PostgreSQL hot path of CaseRepository::Apply as statements prepared once per connection and run
// through libpq directly. SOCI 4.0 offers plan reuse only through statement objects that DEALLOCATE in
// their destructor (and throw from it when the connection has died); statements prepared with SQL
// PREPARE at connect time die with their connection and need no cleanup. Not public.
#include <soci/soci.h>

#include <string>
#include <vector>

namespace returnflow::persistence::internal {

/// Locks one case and looks up one idempotency key ($1 source, $2 event id, $3 case id): the case's
/// columns and `request_hash` (NULL: not seen).
inline constexpr const char* kPgApplyLock = "rf_apply_lock";
/// Group commit: locks a group's cases (distinct ids, in case-id order) and looks up each item's
/// idempotency key. $1 case ids, $2 sources, $3 event ids (text arrays, one element per item). Columns:
/// the case's, `request_hash` (NULL: not seen), `position` (the item's 1-based index).
inline constexpr const char* kPgApplyGroupLock = "rf_apply_group_lock";
/// Group commit: makes the two group statements plan as index lookups in nested loops for the rest of
/// the transaction (see pg_statements.cpp for why). No parameters.
inline constexpr const char* kPgNestedLoops = "rf_nested_loops";
/// The write of events (pg_statements.cpp spells it once): every item's history row and case update in
/// one statement, 32 arrays and the item count. Fails as a whole unless every case was updated and every
/// history row inserted: SQLSTATE 22P02 when a case moved since the decision (a lost race, a stale
/// cached state), 23505 when an idempotency key or history position is taken.
inline constexpr const char* kPgApplyGroupWrite = "rf_apply_group_write";
/// The same write for one item: its 32 values as scalars (no item count), same checks.
inline constexpr const char* kPgApplyOne = "rf_apply_one";
/// The timer changes of a group's events, sent in the same transaction (4 arrays; a NULL due removes).
inline constexpr const char* kPgTimersWrite = "rf_timers_write";
/// The incidents a group's events open, in the same transaction (8 arrays).
inline constexpr const char* kPgIncidentsOpen = "rf_incidents_open";

/// The outbox rows of a group's events, in the same transaction (11 arrays: id, subscription, case,
/// case sequence, ordinal, kind, subject, facts, created at, status, next attempt at).
inline constexpr const char* kPgOutboxWrite = "rf_outbox_write";

/// Prepares the statements above on a freshly opened PostgreSQL session.
void PreparePostgresStatements(soci::session& sql);

/// The rows of one prepared-statement execution, as text.
class PgRows {
 public:
  /// Executes `statement` (a name prepared above) and waits for its rows: one round trip. Throws
  /// soci::postgresql_soci_error with the server's SQLSTATE (never its message) when it fails.
  PgRows(soci::session& sql, const char* statement, const std::vector<const char*>& parameters);
  ~PgRows();
  PgRows(PgRows&& other) noexcept;
  PgRows& operator=(PgRows&&) = delete;
  PgRows(const PgRows&) = delete;
  PgRows& operator=(const PgRows&) = delete;
  int Count() const;
  bool IsNull(int row, int column) const;
  std::string Text(int row, int column) const;
  long long Number(int row, int column) const;
  /// By column name (the statement's layout, as SOCI's row reads it).
  int Column(const char* name) const;
  bool IsNull(int row, const char* name) const;
  std::string Text(int row, const char* name) const;
  long long Number(int row, const char* name) const;

 private:
  friend class PgPipeline;
  explicit PgRows(void* result) : result_(result) {}
  void* result_;  // PGresult*, kept out of this header
};

/// Statements sent together and answered together: one round trip for all of them (libpq pipeline
/// mode). Inside an explicit transaction (a "BEGIN" sent first) the transaction outlives `Run`; a
/// failing statement makes the server skip the rest of the batch, and the transaction must then be
/// rolled back.
class PgPipeline {
 public:
  explicit PgPipeline(soci::session& sql) : sql_(sql) {}
  /// Queues a statement without parameters ("BEGIN", "COMMIT").
  void Add(const char* text);
  /// Queues the execution of a statement prepared by PreparePostgresStatements.
  void AddPrepared(const char* statement, std::vector<const char*> parameters);
  /// Sends everything queued, waits for every answer and returns one result per statement, in order.
  /// When a statement fails, throws soci::postgresql_soci_error with its SQLSTATE (never the server's
  /// message, which can quote values) after reading the whole batch, so the session stays usable.
  std::vector<PgRows> Run();

 private:
  struct Queued {
    const char* text;  // SQL text, or the prepared statement's name
    bool prepared;
    std::vector<const char*> parameters;
  };
  soci::session& sql_;
  std::vector<Queued> queued_;
};

}  // namespace returnflow::persistence::internal
