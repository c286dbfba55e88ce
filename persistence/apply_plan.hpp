#pragma once
// How one event is decided and what it writes, shared by CaseRepository::Apply (case_repository.cpp) and
// the group paths (group_apply.cpp). Not public.
#include <soci/soci.h>

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "persistence/case_rows.hpp"
#include "persistence/pg_statements.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence::internal {

/// What deciding an event needs of its case: the saved machine, who may see it, and the numbers its
/// write is checked against (a write applies only while the case still has this version and last
/// sequence, so a state remembered from before a partner was unassigned never authorizes a write after).
struct CaseState {
  std::string saved_state;
  long long version = 0, last_sequence = 0, stage_entered_at = 0;
  CaseScope scope;

  static CaseState Of(const CaseRow& row) {
    return {row.saved_state, row.version, row.last_sequence, row.stage_entered_at, row.Scope()};
  }
};

/// What applying one event writes: its history row and, when applied, the case's new values. The
/// update is checked against the version and last sequence the decision was made on.
struct PlannedWrite {
  HistoryRow history;
  bool applied = false;
  long long expected_version = 0, expected_last_sequence = 0;
  std::string stage, saved, active_states, host_country, origin_country;
  long long now = 0, stage_entered_at = 0, next_deadline = 0;
  bool has_deadline = false;
  int flags = 0;
};

/// kInvalidInput / kNotFound for an event that cannot be applied whatever the database holds.
void CheckIncoming(std::string_view case_id, const IncomingEvent& incoming);

/// The idempotency fingerprint of an event: SHA-256 of type, subject and canonical data.
std::string RequestHash(std::string_view type, std::string_view subject, std::string_view canonical_data);

/// The decision of Apply on a case's state, shared by the one-event path and the group paths: check
/// that the sender may see the case (kNotFound otherwise, as for a case that does not exist), deduplicate
/// on (source, event_id) when `seen` (a replay returns the stored outcome; the same key with another
/// request is a kIdempotencyConflict), check If-Match (kVersionConflict), then restore the machine and
/// apply the event. Returns false when `outcome` is a replay (nothing to write); true when `plan` must be
/// written, and `outcome` is what the event's result will be once it is.
bool PlanApply(soci::session& sql, const std::string& case_id, const IncomingEvent& incoming,
               const std::string& payload, const std::string& request_hash, const CaseState& state, bool seen,
               ApplyOutcome& outcome, PlannedWrite& plan);

/// One planned write as text, in the column order of the PostgreSQL event write (kPgApplyOne's parameters,
/// kPgApplyGroupWrite's arrays); only the deadline of an event that sets none is NULL.
std::vector<std::optional<std::string>> WriteValues(const PlannedWrite& plan);

/// The body of Apply (lock, decide, write one event), inside a transaction that the caller owns.
ApplyOutcome ApplyInTransaction(soci::session& sql, Database& database, const std::string& case_id,
                                const IncomingEvent& incoming, const std::string& payload,
                                const std::string& request_hash);

/// The last known state of recently written cases, so that a group of them can be decided without
/// reading them first (group_apply.cpp). Entries may be stale (another process, another path wrote
/// since): every write made from them is checked against the database's version and last sequence,
/// and a stale entry only costs the group a second try the careful way. Least recently used entries
/// go first. Thread-safe.
class CaseStateCache {
 public:
  explicit CaseStateCache(std::size_t capacity) : capacity_(capacity) {}
  std::optional<CaseState> Find(const std::string& case_id);
  void Remember(const std::string& case_id, CaseState state);
  void Forget(const std::string& case_id);

 private:
  using Order = std::list<std::string>;
  struct Entry {
    CaseState state;
    Order::iterator position;
  };
  const std::size_t capacity_;
  std::mutex mutex_;
  Order order_;  // most recently used first
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace returnflow::persistence::internal
