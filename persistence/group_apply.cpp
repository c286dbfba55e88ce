// CaseRepository::ApplyGroup: events of different cases committed together. Three paths, tried in order:
//
//   from the cache (PostgreSQL)  every case's state is cached: decide in C++, then one round trip writes
//                                the whole group and commits it (the write checks each case's version);
//   under row locks (PostgreSQL) one round trip locks and reads the group's cases with their
//                                idempotency matches, decide in C++, one round trip writes and commits;
//   one by one (both backends)   each event in its own savepoint, as Apply would apply it alone.
//
// A path that cannot finish cleanly leaves nothing written and hands the whole group to the next, so
// one bad event never fails its batch-mates and every event gets the answer Apply would give it.
#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "persistence/apply_plan.hpp"
#include "persistence/internal.hpp"
#include "persistence/pg_statements.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {

using internal::CaseRow;
using internal::CaseState;
using internal::CaseStateCache;
using internal::PlannedWrite;

namespace internal {

std::optional<CaseState> CaseStateCache::Find(const std::string& case_id) {
  std::lock_guard lock(mutex_);
  const auto found = entries_.find(case_id);
  if (found == entries_.end()) return std::nullopt;
  order_.splice(order_.begin(), order_, found->second.position);
  return found->second.state;
}

void CaseStateCache::Remember(const std::string& case_id, CaseState state) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mutex_);
  const auto found = entries_.find(case_id);
  if (found != entries_.end()) {
    found->second.state = std::move(state);
    order_.splice(order_.begin(), order_, found->second.position);
    return;
  }
  if (entries_.size() >= capacity_) {
    entries_.erase(order_.back());
    order_.pop_back();
  }
  order_.push_front(case_id);
  entries_.emplace(case_id, Entry{std::move(state), order_.begin()});
}

void CaseStateCache::Forget(const std::string& case_id) {
  std::lock_guard lock(mutex_);
  const auto found = entries_.find(case_id);
  if (found == entries_.end()) return;
  order_.erase(found->second.position);
  entries_.erase(found);
}

}  // namespace internal

namespace {

/// One item of a group after the checks that need no database.
struct PreparedItem {
  std::string request_hash;
  std::string payload;
  bool ready = false;
};

/// Records the current exception (inside a catch) as the item's error, mapped like Apply's errors.
void RecordItemError(GroupItemResult& result, const std::string& case_id) {
  try {
    Database::Rethrow("apply", case_id);
  } catch (const PersistenceError& error) {
    result.outcome.reset();
    result.error = error.Kind();
    result.error_message = error.what();
  }
}

/// A PostgreSQL array literal, built element by element (text elements quoted and escaped).
class PgArray {
 public:
  void AddText(std::string_view value) {
    Separate();
    text_ += '"';
    for (const char ch : value) {
      if (ch == '"' || ch == '\\') text_ += '\\';
      text_ += ch;
    }
    text_ += '"';
  }
  void AddNull() {
    Separate();
    text_ += "NULL";
  }
  const char* Finish() {
    text_ += '}';
    return text_.c_str();
  }

 private:
  void Separate() {
    if (!first_) text_ += ',';
    first_ = false;
  }
  std::string text_ = "{";
  bool first_ = true;
};

}  // namespace

/// One planned write as text, in the column order of kPgApplyGroupWrite (and parameter order of
/// kPgApplyOne); only the deadline of an event that sets none is NULL.
std::vector<std::optional<std::string>> internal::WriteValues(const PlannedWrite& plan) {
  const auto& history = plan.history;
  std::optional<std::string> deadline;
  if (plan.applied && plan.has_deadline) deadline = std::to_string(plan.next_deadline);
  return {history.case_id,
          std::to_string(history.sequence),
          history.source,
          history.event_id,
          history.type,
          history.actor,
          std::to_string(history.occurred_at),
          std::to_string(history.recorded_at),
          history.payload,
          history.request_hash,
          history.verdict,
          history.reason,
          history.states_before,
          history.states_after,
          history.changes,
          history.allowed_events,
          std::to_string(history.version_after),
          history.hash,
          history.prev_hash,
          plan.head,
          std::to_string(plan.expected_version),
          std::to_string(plan.expected_last_sequence),
          plan.applied ? "t" : "f",
          plan.saved,
          plan.stage,
          plan.active_states,
          std::to_string(plan.flags),
          plan.host_country,
          plan.origin_country,
          std::to_string(plan.stage_entered_at),
          std::move(deadline),
          plan.overdue};
}

namespace {

using internal::WriteValues;

/// The statement writing `plans` and its parameters: kPgApplyOne for one write, else kPgApplyGroupWrite
/// (one array per column, one element per write, and the number of writes). `parameters` points into
/// the other members.
struct GroupWrite {
  const char* statement;
  std::vector<std::optional<std::string>> values;
  std::vector<PgArray> columns;
  std::string count;
  std::vector<const char*> parameters;

  explicit GroupWrite(const std::vector<PlannedWrite>& plans) {
    if (plans.size() == 1) {
      statement = internal::kPgApplyOne;
      values = WriteValues(plans.front());
      for (const auto& value : values) parameters.push_back(value ? value->c_str() : nullptr);
      return;
    }
    statement = internal::kPgApplyGroupWrite;
    for (const auto& plan : plans) {
      auto row = WriteValues(plan);
      if (columns.empty()) columns.resize(row.size());
      for (std::size_t column = 0; column < row.size(); ++column) {
        if (row[column]) {
          columns[column].AddText(*row[column]);
        } else {
          columns[column].AddNull();
        }
      }
    }
    count = std::to_string(plans.size());
    for (auto& column : columns) parameters.push_back(column.Finish());
    parameters.push_back(count.c_str());
  }
};

/// The timer changes and incidents of a group's plans as the arrays of kPgTimersWrite and
/// kPgIncidentsOpen; queued into the pipeline that writes the group, so they commit with it.
struct SideEffectsWrite {
  std::vector<PgArray> timers = std::vector<PgArray>(4);
  std::vector<PgArray> incidents = std::vector<PgArray>(8);
  std::vector<PgArray> outbox = std::vector<PgArray>(11);
  bool has_timers = false, has_incidents = false, has_outbox = false;

  explicit SideEffectsWrite(const std::vector<PlannedWrite>& plans) {
    for (const auto& plan : plans) {
      for (const auto& timer : plan.timers) {
        has_timers = true;
        timers[0].AddText(timer.case_id);
        timers[1].AddText(timer.kind);
        if (timer.due) {
          timers[2].AddText(std::to_string(*timer.due));
        } else {
          timers[2].AddNull();
        }
        timers[3].AddText(std::to_string(timer.scheduled_version));
      }
      for (const auto& incident : plan.incidents) {
        has_incidents = true;
        incidents[0].AddText(incident.incident_id);
        incidents[1].AddText(incident.case_id);
        incidents[2].AddText(incident.kind);
        incidents[3].AddText(incident.subject);
        incidents[4].AddText(std::to_string(incident.opened_at));
        incidents[5].AddText(incident.office);
        incidents[6].AddText(incident.host_country);
        incidents[7].AddText(incident.origin_country);
      }
      for (const auto& row : plan.outbox) {
        has_outbox = true;
        outbox[0].AddText(row.notification_id);
        outbox[1].AddText(row.subscription_id);
        outbox[2].AddText(row.case_id);
        outbox[3].AddText(std::to_string(row.case_sequence));
        outbox[4].AddText(std::to_string(row.ordinal));
        outbox[5].AddText(row.kind);
        outbox[6].AddText(row.subject);
        outbox[7].AddText(row.facts);
        outbox[8].AddText(std::to_string(row.created_at));
        outbox[9].AddText(row.feed ? "feed" : "pending");
        outbox[10].AddText(std::to_string(row.created_at));
      }
    }
  }
  /// Queues the statements there is anything for; returns how many.
  int AddTo(internal::PgPipeline& pipeline) {
    int added = 0;
    if (has_timers) {
      std::vector<const char*> parameters;
      for (auto& column : timers) parameters.push_back(column.Finish());
      pipeline.AddPrepared(internal::kPgTimersWrite, std::move(parameters));
      ++added;
    }
    if (has_incidents) {
      std::vector<const char*> parameters;
      for (auto& column : incidents) parameters.push_back(column.Finish());
      pipeline.AddPrepared(internal::kPgIncidentsOpen, std::move(parameters));
      ++added;
    }
    if (has_outbox) {
      std::vector<const char*> parameters;
      for (auto& column : outbox) parameters.push_back(column.Finish());
      pipeline.AddPrepared(internal::kPgOutboxWrite, std::move(parameters));
      ++added;
    }
    return added;
  }
};

/// What a batched path learned about each case it wrote, for the cache once the commit is through.
struct CaseAfter {
  const std::string* case_id;
  CaseState state;
};

/// The case as `plan` leaves it, from the state it was decided on.
CaseState StateAfter(const CaseState& before, const PlannedWrite& plan) {
  const auto& last = plan.Last();
  const std::string& inbox = plan.inbox ? *plan.inbox : before.inbox;
  if (plan.applied) {
    return {plan.saved, last.version_after, last.sequence, plan.stage_entered_at, before.scope,
            before.programme, plan.overdue, inbox, plan.head};
  }
  return {before.saved_state, before.version, last.sequence, before.stage_entered_at, before.scope,
          before.programme, before.overdue, inbox, plan.head};
}

/// The explicit transaction of the locked path, which sends BEGIN and COMMIT inside pipelines of its
/// own rather than through Database::WriteTransaction. Rolls back unless told the transaction ended; a
/// session that cannot even roll back is reconnected before its next use.
class GroupTransaction {
 public:
  explicit GroupTransaction(SessionLease& lease) : lease_(lease) {}
  GroupTransaction(const GroupTransaction&) = delete;
  GroupTransaction& operator=(const GroupTransaction&) = delete;
  ~GroupTransaction() {
    if (!open_) return;
    try {
      lease_.Session() << "ROLLBACK";
    } catch (...) {
      lease_.MarkBroken();
    }
  }
  void Begun() { open_ = true; }
  void Ended() { open_ = false; }

 private:
  SessionLease& lease_;
  bool open_ = false;
};

/// The items a batched path may take: ready, in case-id order, with no case and no idempotency key twice
/// (those items depend on each other, which only the one-by-one path handles). Empty when there is none
/// or when the group repeats a case or a key.
std::vector<std::size_t> BatchableItems(const std::vector<GroupItem>& items, const std::vector<PreparedItem>& prepared,
                                        const std::vector<std::size_t>& order) {
  std::vector<std::size_t> ready;
  std::set<std::string_view> case_ids;
  std::set<std::pair<std::string_view, std::string_view>> keys;
  for (const auto index : order) {
    if (!prepared[index].ready) continue;
    const auto& item = items[index];
    if (!case_ids.insert(item.case_id).second || !keys.insert({item.event.source, item.event.event_id}).second) {
      return {};
    }
    ready.push_back(index);
  }
  return ready;
}

/// The path from the cache (see the top of this file): when every case of `ready` is cached, decides each
/// event on its cached state as if it had not been seen before, and sends the planner settings and the
/// group write in one pipeline, whose Sync commits them as one implicit transaction: one round trip.
/// Returns false, with nothing written, when a case is not cached, when deciding an event fails (an
/// If-Match the cached version contradicts, say), or when the write does not go through: an entry was
/// stale (another process or path wrote the case since) or an event is a redelivery (its key is in the
/// history already). A connection lost meanwhile leaves the outcome unknown; the locked path, run next,
/// finds whatever was committed as recorded events. Cache entries of a group that failed are forgotten.
bool ApplyGroupFromCache(Database& database, CaseStateCache& cache, ProgrammeRepository& programmes,
                         SubscriptionRepository* subscriptions,
                         const std::vector<GroupItem>& items,
                         const std::vector<PreparedItem>& prepared, const std::vector<std::size_t>& ready,
                         std::vector<GroupItemResult>& results) {
  std::vector<CaseState> states;
  states.reserve(ready.size());
  for (const auto index : ready) {
    auto state = cache.Find(items[index].case_id);
    if (!state) return false;
    states.push_back(std::move(*state));
  }
  const auto forget_all = [&] {
    for (const auto index : ready) cache.Forget(items[index].case_id);
  };

  auto lease = database.Lease();
  auto& sql = lease.Session();
  std::vector<GroupItemResult> batch_results = results;
  std::vector<PlannedWrite> plans;
  std::vector<CaseAfter> after;
  plans.reserve(ready.size());
  const internal::PlanContext context{programmes, internal::ToMicros(database.Now()),
                                      database.Options().history_hash_chain, subscriptions};
  for (std::size_t k = 0; k < ready.size(); ++k) {
    const auto index = ready[k];
    ApplyOutcome outcome;
    PlannedWrite plan;
    try {
      const bool write = internal::PlanApply(sql, context, items[index].case_id, items[index].event,
                                             prepared[index].payload, prepared[index].request_hash, states[k],
                                             /*seen=*/false, outcome, plan);
      // A superseded timer writes nothing, and a plan that changes an inbox needs the portable write.
      if (!write || !plan.Batchable()) {
        forget_all();
        return false;
      }
    } catch (...) {
      forget_all();
      return false;
    }
    after.push_back({&items[index].case_id, StateAfter(states[k], plan)});
    plans.push_back(std::move(plan));
    batch_results[index] = GroupItemResult{std::move(outcome), std::nullopt, {}};
  }

  GroupWrite write(plans);
  SideEffectsWrite side_effects(plans);
  try {
    database.EnsurePrepared(sql, &internal::PreparePostgresStatements);
    internal::PgPipeline pipeline(sql);
    pipeline.AddPrepared(internal::kPgNestedLoops, {});
    pipeline.AddPrepared(write.statement, std::move(write.parameters));
    side_effects.AddTo(pipeline);
    pipeline.Run();
  } catch (const soci::soci_error&) {
    if (internal::IsConnectionFailure()) lease.MarkBroken();
    spdlog::debug("apply group: the write from cached states did not go through; deciding {} events under locks",
                  ready.size());
    forget_all();
    return false;
  }
  for (auto& entry : after) cache.Remember(*entry.case_id, std::move(entry.state));
  results = std::move(batch_results);
  return true;
}

/// The locked path (see the top of this file), two round trips whatever the group's size: (BEGIN,
/// planner settings, one statement locking every case of `ready` in case-id order and reading the
/// idempotency matches), then PlanApply decides each item in C++ exactly as Apply does, then (one
/// statement writing all history rows and case updates, COMMIT); plus one look-up per redelivered event.
/// Returns false, with nothing written (or, after a lost connection, nothing known), when the caller must
/// use the one-by-one path instead: any failure of the batched statements (a lost race, an idempotency key
/// taken meanwhile, an error, a lost connection).
bool ApplyGroupLocked(Database& database, CaseStateCache& cache, ProgrammeRepository& programmes,
                      SubscriptionRepository* subscriptions,
                      const std::vector<GroupItem>& items,
                      const std::vector<PreparedItem>& prepared, const std::vector<std::size_t>& ready,
                      std::vector<GroupItemResult>& results) {
  PgArray lock_ids, lock_sources, lock_event_ids;
  for (const auto index : ready) {
    lock_ids.AddText(items[index].case_id);
    lock_sources.AddText(items[index].event.source);
    lock_event_ids.AddText(items[index].event.event_id);
  }
  const std::vector<const char*> lock_parameters{lock_ids.Finish(), lock_sources.Finish(), lock_event_ids.Finish()};

  for (int attempt = 1;; ++attempt) {
    auto lease = database.Lease();
    auto& sql = lease.Session();
    GroupTransaction transaction(lease);
    std::vector<GroupItemResult> batch_results = results;
    std::vector<PlannedWrite> plans;
    std::vector<CaseAfter> after;
    try {
      database.EnsurePrepared(sql, &internal::PreparePostgresStatements);
      internal::PgPipeline begin(sql);
      begin.Add("BEGIN");
      begin.AddPrepared(internal::kPgNestedLoops, {});
      begin.AddPrepared(internal::kPgApplyGroupLock, lock_parameters);
      transaction.Begun();
      auto answers = begin.Run();
      const auto& locked = answers.at(2);

      const internal::PlanContext context{programmes, internal::ToMicros(database.Now()),
                                          database.Options().history_hash_chain, subscriptions};
      std::vector<int> row_of(ready.size(), -1);
      for (int row = 0; row < locked.Count(); ++row) {
        const long long position = locked.Number(row, "position");
        if (position < 1 || position > static_cast<long long>(ready.size())) return false;
        row_of[static_cast<std::size_t>(position - 1)] = row;
      }
      for (std::size_t k = 0; k < ready.size(); ++k) {
        const auto index = ready[k];
        const auto& item = items[index];
        auto& result = batch_results[index];
        result = GroupItemResult{};
        try {
          if (row_of[k] < 0) {
            throw PersistenceError(ErrorKind::kNotFound, fmt::format("apply case={}: not_found", item.case_id));
          }
          CaseRow row;
          internal::ReadCaseRow(internal::PgColumns{locked, row_of[k]}, row);
          auto state = CaseState::Of(row);
          ApplyOutcome outcome;
          PlannedWrite plan;
          const bool seen = !locked.IsNull(row_of[k], "request_hash");
          if (internal::PlanApply(sql, context, item.case_id, item.event, prepared[index].payload,
                                  prepared[index].request_hash, state, seen, outcome, plan)) {
            if (!plan.Batchable()) return false;  // an inbox change: the portable write, one by one
            after.push_back({&item.case_id, StateAfter(state, plan)});
            plans.push_back(std::move(plan));
          } else {
            after.push_back({&item.case_id, std::move(state)});  // a replay: the case is as read
          }
          result.outcome = std::move(outcome);
        } catch (const soci::soci_error&) {
          throw;  // a failed statement aborts the transaction: give up on the batch
        } catch (...) {
          RecordItemError(result, item.case_id);
        }
      }
    } catch (const soci::soci_error&) {
      if (internal::IsConnectionFailure()) {
        lease.MarkBroken();
        transaction.Ended();
        // Nothing was written yet: once more on a fresh connection, then the one-by-one path decides.
        if (attempt == 1) continue;
      }
      spdlog::debug("apply group: locked path gave up before writing, applying {} events one by one", ready.size());
      return false;
    }

    if (!plans.empty()) {
      GroupWrite write(plans);
      SideEffectsWrite side_effects(plans);
      try {
        internal::PgPipeline commit(sql);
        commit.AddPrepared(write.statement, std::move(write.parameters));
        side_effects.AddTo(commit);
        commit.Add("COMMIT");
        commit.Run();
        transaction.Ended();
      } catch (const soci::soci_error&) {
        // The write refused (a case moved, a key was taken meanwhile) or failed, and the COMMIT behind it
        // was skipped: nothing of the group is durable, the guard rolls back. Or the connection went away
        // with the COMMIT possibly through: the one-by-one path finds whatever was committed as recorded
        // events (answered as replays) and applies the rest.
        if (internal::IsConnectionFailure()) {
          lease.MarkBroken();
          transaction.Ended();
        }
        spdlog::debug("apply group: locked write did not go through, applying {} events one by one", ready.size());
        return false;
      }
    }
    // With no plans (only replays and refusals) nothing was written and the guard rolls back.
    for (auto& entry : after) cache.Remember(*entry.case_id, std::move(entry.state));
    results = std::move(batch_results);
    return true;
  }
}

/// The portable group path: each event in its own savepoint (4 round trips per event on PostgreSQL).
void ApplyGroupOneByOne(Database& database, ProgrammeRepository& programmes, SubscriptionRepository* subscriptions,
                        const std::vector<GroupItem>& items,
                        const std::vector<PreparedItem>& prepared, const std::vector<std::size_t>& order,
                        std::vector<GroupItemResult>& results) {
  try {
    database.WriteTransaction("apply group", [&](soci::session& sql) {
      for (const auto index : order) {
        if (!prepared[index].ready) continue;
        results[index] = GroupItemResult{};
        for (int attempt = 1;; ++attempt) {
          sql << "SAVEPOINT group_item";
          try {
            results[index].outcome = internal::ApplyInTransaction(sql, database, programmes, subscriptions, items[index].case_id,
                                                                  items[index].event, prepared[index].payload,
                                                                  prepared[index].request_hash);
            sql << "RELEASE SAVEPOINT group_item";
            break;
          } catch (...) {
            sql << "ROLLBACK TO SAVEPOINT group_item";
            sql << "RELEASE SAVEPOINT group_item";
            bool retry = false;
            try {
              throw;
            } catch (const internal::RetryTransaction&) {
              // The same (source, id) was just committed for another case: look again, once.
              retry = attempt == 1;
              if (!retry) {
                results[index].error = ErrorKind::kConflict;
                results[index].error_message = fmt::format("apply case={}: conflict (retries exhausted)", items[index].case_id);
              }
            } catch (...) {
              RecordItemError(results[index], items[index].case_id);
            }
            if (!retry) break;
          }
        }
      }
    });
  } catch (const PersistenceError& error) {
    // The commit (or the transaction as a whole) failed: nothing of this group is durable.
    for (auto& result : results) {
      if (result.outcome) {
        result.outcome.reset();
        result.error = error.Kind();
        result.error_message = error.what();
      }
    }
  }
}

}  // namespace

std::string_view Name(GroupPath path) {
  switch (path) {
    case GroupPath::kFromCache:
      return "from_cache";
    case GroupPath::kLocked:
      return "locked";
    case GroupPath::kOneByOne:
      return "one_by_one";
  }
  return "unknown";
}

std::vector<GroupItemResult> CaseRepository::ApplyGroup(const std::vector<GroupItem>& items, GroupPath* path) {
  GroupPath ignored = GroupPath::kOneByOne;
  GroupPath& taken = path ? *path : ignored;
  taken = GroupPath::kOneByOne;
  std::vector<GroupItemResult> results(items.size());
  if (items.empty()) return results;

  std::vector<PreparedItem> prepared(items.size());
  for (std::size_t index = 0; index < items.size(); ++index) {
    try {
      internal::CheckIncoming(items[index].case_id, items[index].event);
      prepared[index].request_hash = internal::RequestHash(items[index].event.type, items[index].case_id,
                                                           internal::CanonicalJson(items[index].event.data_json));
      prepared[index].payload = items[index].event.data_json.empty() ? "null" : items[index].event.data_json;
      prepared[index].ready = true;
    } catch (const PersistenceError& error) {
      results[index].error = error.Kind();
      results[index].error_message = error.what();
    }
  }
  // Lock cases in one global order (case id) so two groups cannot deadlock; a stable sort keeps the
  // events of one case in the order given.
  std::vector<std::size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t left, std::size_t right) { return items[left].case_id < items[right].case_id; });

  if (database_.GetBackend() == Backend::kPostgresql) {
    const auto ready = BatchableItems(items, prepared, order);
    if (!ready.empty()) {
      try {
        taken = GroupPath::kFromCache;
        if (ApplyGroupFromCache(database_, *state_cache_, *programmes_, subscriptions_, items, prepared, ready, results)) return results;
        taken = GroupPath::kLocked;
        if (ApplyGroupLocked(database_, *state_cache_, *programmes_, subscriptions_, items, prepared, ready, results)) return results;
      } catch (const PersistenceError& error) {
        // No session to be had (the pool stayed exhausted past its lease timeout): nothing was written.
        for (const auto index : ready) {
          results[index] = GroupItemResult{std::nullopt, error.Kind(), error.what()};
        }
        return results;
      }
    }
  }
  taken = GroupPath::kOneByOne;
  for (const auto index : order) state_cache_->Forget(items[index].case_id);
  ApplyGroupOneByOne(database_, *programmes_, subscriptions_, items, prepared, order, results);
  return results;
}

}  // namespace returnflow::persistence
