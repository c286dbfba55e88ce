#pragma once
// How one event is decided and what it writes, shared by CaseRepository::Apply (case_repository.cpp) and
// the group paths (group_apply.cpp). Not public.
#include <soci/soci.h>

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "persistence/case_rows.hpp"
#include "persistence/outbox.hpp"
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
  std::string programme;  ///< the programme code of the case row
  std::string overdue;    ///< '|a|b|'
  std::string inbox;      ///< JSON array of waiting events
  std::string head_hash;  ///< the hash of the newest history row: the next row's prev_hash

  static CaseState Of(const CaseRow& row) {
    return {row.saved_state, row.version, row.last_sequence, row.stage_entered_at, row.Scope(),
            row.programme, row.overdue, row.inbox, row.head_hash};
  }
};

/// One change of a case's timers: set (due) or removed (no due). Written with the event.
struct TimerWrite {
  std::string case_id, kind;
  std::optional<long long> due;
  long long scheduled_version = 0;
};

/// An incident opened with the event.
struct IncidentWrite {
  std::string incident_id, case_id, kind, subject, office, host_country, origin_country;
  long long opened_at = 0;
};

/// One outbox row written with the event: a notification for one subscription (no personal data).
struct OutboxWrite {
  std::string notification_id, subscription_id, case_id;
  long long case_sequence = 0;
  int ordinal = 0;
  std::string kind, subject, facts;
  long long created_at = 0;
  bool feed = false;  ///< kept for the subscription's feed rather than sent
};

/// What applying one event writes: its history row (and, when it let waiting events apply, theirs) and,
/// when the case changed, its new values; the timers and incidents that change with it. The update is
/// checked against the version and last sequence the decision was made on.
struct PlannedWrite {
  HistoryRow history;
  std::vector<HistoryRow> extra_history;  ///< waiting events applied (or refused) after the event
  bool applied = false;                    ///< the case's values change (the event, or a waiting one, applied)
  long long expected_version = 0, expected_last_sequence = 0;
  std::string stage, saved, active_states, host_country, origin_country, overdue;
  long long now = 0, stage_entered_at = 0, next_deadline = 0;
  bool has_deadline = false;
  int flags = 0;
  std::optional<std::string> inbox;  ///< the case's new inbox when it changed
  std::vector<TimerWrite> timers;
  std::vector<IncidentWrite> incidents;
  /// The case's head after the write: the last history row's hash (history_chain.hpp), chained from the
  /// head of the state the decision was made on. Written with the checked update, so it moves with the
  /// version and last sequence and the chain cannot fork.
  std::string head;
  std::vector<OutboxWrite> outbox;
  /// The event erased the case's personal data: its people rows and data keys go in this transaction,
  /// audited with `erased_by` (the history row's actor).
  bool erase_personal_data = false;
  std::string erased_by;

  /// The last history row written (the case's new last sequence and version).
  const HistoryRow& Last() const { return extra_history.empty() ? history : extra_history.back(); }
  /// What a batched PostgreSQL write can carry: one history row and no inbox change.
  bool Batchable() const { return extra_history.empty() && !inbox && !erase_personal_data; }
};

/// What deciding needs beyond the case: the programme rules and the engine's clock.
struct PlanContext {
  ProgrammeRepository& programmes;
  long long now = 0;        ///< microseconds, Database::Now()
  bool hash_chain = true;   ///< history.hash_chain
  /// Who hears of what the event changes (null: nobody; tools and tests without subscriptions).
  SubscriptionRepository* subscriptions = nullptr;
};

/// The outbox rows of a plan: a notification for each subscription of the case's organisations and
/// office that asks for it (state and stage entered, event applied or refused, deadline passed, incident
/// opened), routed by the case's partners and office as `scope` holds them in this transaction.
void AddNotifications(const std::vector<Subscription>& subscriptions, const CaseScope& scope, PlannedWrite& plan);
/// The `case.opened` notifications of a new case.
std::vector<OutboxWrite> OpenedNotifications(const std::vector<Subscription>& subscriptions, const CaseScope& scope,
                                             const HistoryRow& opened, const std::string& stage, long long now,
                                             std::optional<long long> next_deadline);
/// The `incident.opened` notifications of an incident the engine opens outside an event (a case it cannot
/// read, a timer that keeps failing), after the case's newest history row in each stream.
std::vector<OutboxWrite> IncidentNotifications(const std::vector<Subscription>& subscriptions, const CaseRow& row,
                                               const std::string& kind, const std::string& subject, long long now);
/// Erases a case's people rows and their data keys within the caller's transaction, audited as "erase"
/// by `access`; returns how many people there were.
std::size_t ErasePeopleWithin(soci::session& sql, const std::string& case_id, const PersonalDataAccess& access,
                              long long now);
/// Writes outbox rows with portable SQL (the batched PostgreSQL paths send their own).
void WriteOutbox(soci::session& sql, const std::vector<OutboxWrite>& rows);

/// One event waiting in a case's inbox, as the inbox column holds it.
struct InboxEntry {
  long long sequence = 0;  ///< of its deferral row
  std::string source, event_id, type, actor, data;
  long long occurred_at = 0, received_at = 0, expires_at = 0;
};
/// The inbox column (a JSON array); kCorruptData when it cannot be read.
std::vector<InboxEntry> ParseInbox(const std::string& text);
std::string InboxJson(const std::vector<InboxEntry>& entries);
/// The engine's timer that expires the waiting event deferred at `sequence`.
std::string InboxTimerKind(long long sequence);
/// The timers the engine keeps for a case: the machine's (workflow::DesiredTimers), one per waiting event.
std::vector<workflow::Timer> AllTimers(const workflow::Case& machine, const workflow::Programme& programme,
                                       long long stage_entered_at, const std::vector<InboxEntry>& inbox);
/// The programme version a case runs under: its pinned version (version 0: the latest; an unknown
/// programme: the defaults, so that a case stored before programmes were data still runs).
/// `within`: the session the caller holds (reads no other from the pool).
std::shared_ptr<const workflow::Programme> PinnedProgramme(ProgrammeRepository& programmes, const std::string& code,
                                                           int version, soci::session* within = nullptr);

/// kInvalidInput / kNotFound for an event that cannot be applied whatever the database holds.
void CheckIncoming(std::string_view case_id, const IncomingEvent& incoming);

/// The idempotency fingerprint of an event: SHA-256 of type, subject and canonical data.
std::string RequestHash(std::string_view type, std::string_view subject, std::string_view canonical_data);
/// The history row recorded under (source, event_id), if any.
std::optional<HistoryRow> FindByIdempotencyKey(soci::session& sql, const std::string& source,
                                               const std::string& event_id);

/// The decision of Apply on a case's state, shared by the one-event path and the group paths: check
/// that the sender may see the case (kNotFound otherwise, as for a case that does not exist), deduplicate
/// on (source, event_id) when `seen` (a replay returns the stored outcome; the same key with another
/// request is a kIdempotencyConflict), check If-Match (kVersionConflict), then restore the machine and
/// apply the event. Returns false when `outcome` is a replay (nothing to write); true when `plan` must be
/// written, and `outcome` is what the event's result will be once it is.
bool PlanApply(soci::session& sql, const PlanContext& context, const std::string& case_id,
               const IncomingEvent& incoming, const std::string& payload, const std::string& request_hash,
               const CaseState& state, bool seen, ApplyOutcome& outcome, PlannedWrite& plan);

/// Writes a plan with portable SQL (SOCI, both backends): every history row, the case's update checked
/// against its version and last sequence, the timers and incidents. False when the case moved since.
bool WritePortable(soci::session& sql, const CaseRow& row, const PlannedWrite& plan);
/// The timer and incident writes of a plan, portable (the batched PostgreSQL paths send their own).
void WriteSideEffects(soci::session& sql, const PlannedWrite& plan);

/// One planned write as text, in the column order of the PostgreSQL event write (kPgApplyOne's parameters,
/// kPgApplyGroupWrite's arrays); only the deadline of an event that sets none is NULL.
std::vector<std::optional<std::string>> WriteValues(const PlannedWrite& plan);

/// The body of Apply (lock, decide, write one event), inside a transaction that the caller owns.
ApplyOutcome ApplyInTransaction(soci::session& sql, Database& database, ProgrammeRepository& programmes,
                                SubscriptionRepository* subscriptions, const std::string& case_id, const IncomingEvent& incoming,
                                const std::string& payload, const std::string& request_hash);

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
