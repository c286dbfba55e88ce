// CaseRepository: case creation, reads, the one-event apply path (SQLite, and PostgreSQL's careful path),
// history, search and partner assignment. The group paths are in group_apply.cpp.
#include <fmt/format.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <deque>
#include <map>
#include <set>

#include "persistence/apply_plan.hpp"
#include "persistence/case_rows.hpp"
#include "persistence/cursor.hpp"
#include "persistence/filtered_query.hpp"
#include "persistence/history_chain.hpp"
#include "persistence/internal.hpp"
#include "persistence/pg_statements.hpp"
#include "persistence/repository.hpp"
#include "workflow/definition.hpp"
#include "workflow/incidents.hpp"
#include "workflow/reasons.hpp"
#include "workflow/timers.hpp"

namespace returnflow::persistence {

using internal::ApplyInTransaction;
using internal::CaseRow;
using internal::CheckIncoming;
using internal::FromMicros;
using internal::HistoryRow;
using internal::JoinList;
using internal::Query;
using internal::RequestHash;
using internal::SplitList;
using internal::ToMicros;

namespace {

constexpr std::string_view kOpenedType = "case.opened";

std::vector<std::string> ToStrings(const std::vector<std::string_view>& views) { return {views.begin(), views.end()}; }

/// Maps stored event names back to the static names the workflow hands out (ApplyResult holds views).
std::vector<std::string_view> ToEventNameViews(const std::vector<std::string>& names) {
  std::vector<std::string_view> views;
  const auto& known = workflow::AllEventNames();
  for (const auto& name : names) {
    const auto found = std::find(known.begin(), known.end(), name);
    if (found != known.end()) views.push_back(*found);
  }
  return views;
}

std::optional<workflow::Verdict> VerdictFromName(std::string_view name) {
  for (const auto verdict :
       {workflow::Verdict::kApplied, workflow::Verdict::kNotAllowed, workflow::Verdict::kGuardRefused,
        workflow::Verdict::kSuspended, workflow::Verdict::kClosed}) {
    if (workflow::Name(verdict) == name) return verdict;
  }
  return std::nullopt;
}

long long MicrosOf(workflow::Instant instant) {
  return ToMicros(std::chrono::time_point_cast<std::chrono::microseconds>(instant));
}

// (source, event_id) -> the history row recorded under that key.
constexpr Query kSelectByIdempotencyKey{
    "select by idempotency key",
    "SELECT " RETURNFLOW_HISTORY_COLUMNS " FROM case_events WHERE source = :source AND event_id = :event_id"};

// SQLite: the case (RETURNFLOW_CASE_COLUMNS) and the request hash recorded under the event's key, if any
// (`request_hash`, NULL when not seen). The write lock is the transaction's (BEGIN IMMEDIATE).
constexpr Query kSelectCaseAndKey{
    "select case and idempotency key",
    "SELECT c.case_id, c.programme, c.host_country, c.origin_country, c.office, c.partners, c.stage, "
    "c.active_states, c.saved_state, c.vulnerability_flags, c.version, c.last_sequence, c.created_at, c.updated_at, "
    "c.stage_entered_at, c.next_deadline, c.overdue, c.inbox, c.head_hash, e.request_hash FROM cases c "
    "LEFT JOIN case_events e ON e.source = :source AND e.event_id = :event_id WHERE c.case_id = :case_id"};

// The case update of one plan (applied or not: a refused event passes the values unchanged), checked
// against the version and last sequence it was decided on. With InsertHistory, the portable write
// (SQLite, and PostgreSQL's plans the batched write cannot carry); PostgreSQL's batched write is
// rf_apply_one / rf_apply_group_write (pg_statements.cpp).
constexpr Query kUpdateCaseAfterEvent{
    "update case after event",
    "UPDATE cases SET version = :version_after, last_sequence = :sequence, saved_state = :saved_state, "
    "stage = :stage, active_states = :active_states, vulnerability_flags = :flags, host_country = :host_country, "
    "origin_country = :origin_country, updated_at = :updated_at, stage_entered_at = :stage_entered_at, "
    "next_deadline = :next_deadline, overdue = :overdue, inbox = :inbox, head_hash = :head_hash WHERE case_id = :case_id "
    "AND version = :expected_version AND last_sequence = :expected_last_sequence"};

// One timer of a case set (its due time, the case version it was scheduled at) or removed.
constexpr Query kUpsertTimer{
    "upsert timer",
    "INSERT INTO timers (case_id, kind, due_at, scheduled_version, attempts, claimed_until) VALUES (:case_id, "
    ":kind, :due_at, :scheduled_version, 0, NULL) ON CONFLICT (case_id, kind) DO UPDATE SET due_at = "
    "excluded.due_at, scheduled_version = excluded.scheduled_version, attempts = 0, claimed_until = NULL"};
constexpr Query kDeleteTimer{"delete timer", "DELETE FROM timers WHERE case_id = :case_id AND kind = :kind"};
// An incident, unless the same one (case, kind, subject) is open already.
constexpr Query kInsertIncident{
    "insert incident",
    "INSERT INTO incidents (incident_id, case_id, kind, subject, opened_at, office, host_country, origin_country) "
    "VALUES (:incident_id, :case_id, :kind, :subject, :opened_at, :office, :host_country, :origin_country) "
    "ON CONFLICT DO NOTHING"};

/// The reason a deferred event is recorded with, and an expired one.
constexpr std::string_view kWaitingForCase = workflow::reasons::kWaitingForCase.code;
constexpr std::string_view kEarlyEventExpired = workflow::reasons::kEarlyEventExpired.code;
constexpr std::string_view kInboxSource = "returnflow:inbox";

}  // namespace

namespace internal {

/// The programme version a case runs under (its pinned version; version 0 or an unknown programme: the
/// latest, or the defaults).
std::shared_ptr<const workflow::Programme> PinnedProgramme(ProgrammeRepository& programmes, const std::string& code,
                                                           int version, soci::session* within) {
  if (auto found = programmes.Find(code, version, within)) return found;
  if (auto latest = programmes.Latest(code, within)) return latest;
  auto defaults = std::make_shared<workflow::Programme>();
  defaults->code = code;
  defaults->version = 0;
  defaults->deferrable_events = workflow::DefaultDeferrableEvents();
  return defaults;
}

std::vector<InboxEntry> ParseInbox(const std::string& text) {
  std::vector<InboxEntry> entries;
  boost::system::error_code error;
  const auto parsed = boost::json::parse(text.empty() ? std::string_view("[]") : std::string_view(text), error);
  if (error || !parsed.is_array()) throw PersistenceError(ErrorKind::kCorruptData, "apply: corrupt_data (inbox)");
  try {
    for (const auto& item : parsed.get_array()) {
      const auto& object = item.as_object();
      InboxEntry entry;
      entry.sequence = object.at("sequence").as_int64();
      entry.source = std::string(object.at("source").as_string());
      entry.event_id = std::string(object.at("event_id").as_string());
      entry.type = std::string(object.at("type").as_string());
      entry.actor = std::string(object.at("actor").as_string());
      entry.data = std::string(object.at("data").as_string());
      entry.occurred_at = object.at("occurred_at").as_int64();
      entry.received_at = object.at("received_at").as_int64();
      entry.expires_at = object.at("expires_at").as_int64();
      entries.push_back(std::move(entry));
    }
  } catch (const std::exception&) {
    throw PersistenceError(ErrorKind::kCorruptData, "apply: corrupt_data (inbox entry)");
  }
  return entries;
}

std::string InboxJson(const std::vector<InboxEntry>& entries) {
  boost::json::array array;
  for (const auto& entry : entries) {
    array.push_back(boost::json::object{{"sequence", entry.sequence}, {"source", entry.source},
                                        {"event_id", entry.event_id}, {"type", entry.type},
                                        {"actor", entry.actor}, {"data", entry.data},
                                        {"occurred_at", entry.occurred_at}, {"received_at", entry.received_at},
                                        {"expires_at", entry.expires_at}});
  }
  return boost::json::serialize(array);
}

std::string InboxTimerKind(long long sequence) { return "inbox:" + std::to_string(sequence); }

/// The timers the engine keeps for a case: the machine's, and one per waiting event.
std::vector<workflow::Timer> AllTimers(const workflow::Case& machine, const workflow::Programme& programme,
                                       long long stage_entered_at, const std::vector<InboxEntry>& inbox) {
  auto timers = workflow::DesiredTimers(machine, programme,
                                        std::chrono::floor<std::chrono::seconds>(FromMicros(stage_entered_at)));
  for (const auto& entry : inbox) {
    timers.push_back({InboxTimerKind(entry.sequence), std::chrono::floor<std::chrono::seconds>(FromMicros(entry.expires_at))});
  }
  return timers;
}

std::string RequestHash(std::string_view type, std::string_view subject, std::string_view canonical_data) {
  std::string material;
  material.reserve(type.size() + subject.size() + canonical_data.size() + 2);
  material.append(type).append("\n").append(subject).append("\n").append(canonical_data);
  return Sha256Hex(material);
}

std::vector<std::string> PartnerList(std::vector<std::string> partners, std::string_view operation) {
  std::sort(partners.begin(), partners.end());
  partners.erase(std::unique(partners.begin(), partners.end()), partners.end());
  for (const auto& partner : partners) {
    if (!workflow::ValidOrganisationId(partner)) {
      throw PersistenceError(ErrorKind::kInvalidInput, fmt::format("{}: invalid_input (partner organisation id)", operation));
    }
  }
  if (partners.size() > workflow::kMaxPartnersPerCase) {
    throw PersistenceError(ErrorKind::kLimitReached, fmt::format("{}: limit_reached (partners)", operation));
  }
  return partners;
}

std::optional<HistoryRow> FindByIdempotencyKey(soci::session& sql, const std::string& source,
                                               const std::string& event_id) {
  std::optional<HistoryRow> stored;
  ForEachRow(sql, kSelectByIdempotencyKey, [&](const soci::row& columns) {
    stored.emplace();
    ReadHistoryRow(columns, *stored);
  }, soci::use(source, "source"), soci::use(event_id, "event_id"));
  return stored;
}

ApplyOutcome ReplayedOutcome(const HistoryRow& stored) {
  ApplyOutcome outcome;
  outcome.case_id = stored.case_id;
  outcome.sequence = stored.sequence;
  outcome.version = stored.version_after;
  outcome.replayed = true;
  // The engine's own verdicts: an event deferred to the case's inbox, an early event that expired there.
  const bool engine_verdict = stored.verdict == "deferred" || stored.verdict == "expired";
  const auto verdict = engine_verdict ? std::optional(workflow::Verdict::kNotAllowed) : VerdictFromName(stored.verdict);
  outcome.deferred = stored.verdict == "deferred";
  if (!verdict) throw PersistenceError(ErrorKind::kCorruptData, "apply: corrupt_data (stored verdict unknown)");
  outcome.result.verdict = *verdict;
  outcome.result.reason = stored.reason;
  outcome.result.from = SplitList(stored.states_before);
  outcome.result.to = SplitList(stored.states_after);
  outcome.result.changes = SplitList(stored.changes);
  outcome.result.allowed_events = ToEventNameViews(SplitList(stored.allowed_events));
  return outcome;
}

namespace {

/// A history row for `result` of an event, at `sequence`, leaving the case at `version_after`.
HistoryRow HistoryOf(const std::string& case_id, long long sequence, const std::string& source,
                     const std::string& event_id, const std::string& type, const std::string& actor,
                     long long occurred_at, long long now, const std::string& payload, const std::string& request_hash,
                     std::string_view verdict, const workflow::ApplyResult& result, long long version_after) {
  HistoryRow history;
  history.case_id = case_id;
  history.sequence = sequence;
  history.source = source;
  history.event_id = event_id;
  history.type = type;
  history.actor = actor;
  history.occurred_at = occurred_at;
  history.recorded_at = now;
  history.payload = payload;
  history.request_hash = request_hash;
  history.verdict = std::string(verdict);
  history.reason = result.reason;
  history.states_before = JoinList(result.from);
  history.states_after = JoinList(result.to);
  history.changes = JoinList(result.changes);
  history.allowed_events = JoinList(ToStrings(result.allowed_events));
  history.version_after = version_after;
  return history;
}

/// Sets `plan.timers` to what turns `before` into `after` (timers of one case, both sorted by kind).
void DiffTimers(const std::string& case_id, const std::vector<workflow::Timer>& before,
                const std::vector<workflow::Timer>& after, long long version, PlannedWrite& plan) {
  std::map<std::string, workflow::Instant> old_due;
  for (const auto& timer : before) old_due[timer.kind] = timer.due;
  std::set<std::string> kept;
  for (const auto& timer : after) {
    kept.insert(timer.kind);
    const auto found = old_due.find(timer.kind);
    if (found != old_due.end() && found->second == timer.due) continue;
    plan.timers.push_back({case_id, timer.kind, MicrosOf(timer.due), version});
  }
  for (const auto& [kind, due] : old_due) {
    if (!kept.contains(kind)) plan.timers.push_back({case_id, kind, std::nullopt, version});
  }
}

void AddIncidents(const std::vector<workflow::IncidentSpec>& specs, const std::string& case_id, const CaseState& state,
                  long long now, PlannedWrite& plan) {
  for (const auto& spec : specs) {
    plan.incidents.push_back({NewUuid(), case_id, spec.kind, spec.subject, state.scope.office, state.scope.host_country,
                              state.scope.origin_country, now});
  }
}

}  // namespace

namespace {
bool DecideApply(soci::session& sql, const PlanContext& context, const std::string& case_id,
                 const IncomingEvent& incoming, const std::string& payload, const std::string& request_hash,
                 const CaseState& state, bool seen, ApplyOutcome& outcome, PlannedWrite& plan) {
  if (incoming.visible_to && !incoming.visible_to(state.scope)) {
    throw PersistenceError(ErrorKind::kNotFound, fmt::format("apply case={}: not_found", case_id));
  }
  if (!seen) {
    // Nothing seen; fall through to apply.
  } else if (auto stored = FindByIdempotencyKey(sql, incoming.source, incoming.event_id)) {
    if (stored->request_hash != request_hash) {
      throw PersistenceError(ErrorKind::kIdempotencyConflict,
                             fmt::format("apply case={}: idempotency_conflict (event id reused with other content)",
                                         case_id));
    }
    outcome = ReplayedOutcome(*stored);
    return false;
  }
  if (incoming.expected_version && *incoming.expected_version != state.version) {
    throw PersistenceError(ErrorKind::kVersionConflict,
                           fmt::format("apply case={}: version_conflict (version is {}, expected {})", case_id,
                                       state.version, *incoming.expected_version));
  }

  auto machine = workflow::Case::Restore(state.saved_state);
  const auto reference = machine.Context().programme;
  const std::string code = reference.code.empty() ? state.programme : reference.code;
  // Read on the apply's own session: a second lease from the pool could wait for this one.
  const auto pinned = PinnedProgramme(context.programmes, code, reference.version, &sql);
  auto latest = context.programmes.Latest(code, &sql);
  if (!latest) latest = pinned;
  auto inbox = ParseInbox(state.inbox);
  const auto timers_before = AllTimers(machine, *pinned, state.stage_entered_at, inbox);
  const std::string stage_before(machine.Stage());
  const long long now = context.now;

  plan = PlannedWrite{};
  plan.expected_version = state.version;
  plan.expected_last_sequence = state.last_sequence;
  plan.now = now;
  outcome = ApplyOutcome{};
  outcome.case_id = case_id;
  outcome.sequence = state.last_sequence + 1;
  outcome.version = state.version;
  const long long occurred_at = MicrosOf(incoming.meta.occurred_at);

  // The engine's clock: a timer the case no longer has (cancelled, moved) fires nothing.
  if (incoming.fired_timer) {
    const auto& fired = *incoming.fired_timer;
    const bool still_due = std::any_of(timers_before.begin(), timers_before.end(), [&](const workflow::Timer& timer) {
      return timer.kind == fired.kind && timer.due == fired.due;
    });
    if (!still_due) {
      outcome.superseded = true;
      return false;
    }
    if (fired.kind.starts_with("inbox:")) {
      // An early event that waited too long: removed, recorded as expired, and an incident opened.
      const auto at = std::find_if(inbox.begin(), inbox.end(), [&](const InboxEntry& entry) {
        return InboxTimerKind(entry.sequence) == fired.kind;
      });
      workflow::ApplyResult result;
      result.verdict = workflow::Verdict::kNotAllowed;
      result.reason = std::string(kEarlyEventExpired);
      result.from = result.to = machine.ActiveStates();
      result.allowed_events = machine.AllowedEvents();
      plan.history = HistoryOf(case_id, outcome.sequence, incoming.source, incoming.event_id, at->type,
                               incoming.meta.actor, occurred_at, now, at->data, request_hash, "expired", result,
                               state.version);
      AddIncidents({{std::string(workflow::incident::kEarlyEventExpired), at->type}}, case_id, state, now, plan);
      inbox.erase(at);
      plan.inbox = InboxJson(inbox);
      DiffTimers(case_id, timers_before, AllTimers(machine, *pinned, state.stage_entered_at, inbox), state.version, plan);
      outcome.result = std::move(result);
      return true;
    }
  }

  auto meta = incoming.meta;
  meta.programme = pinned.get();
  meta.current_programme = latest.get();
  auto result = machine.Apply(incoming.event, meta);
  long long version = state.version;
  long long sequence = outcome.sequence;
  long long stage_entered_at = state.stage_entered_at;
  std::string stage = stage_before;
  const auto track_stage = [&](long long at) {
    const std::string current(machine.Stage());
    if (current != stage) {
      stage = current;
      stage_entered_at = at;
    }
  };

  // An event the case cannot take yet, but will in its normal course, waits in its inbox.
  const auto& deferrable =
      pinned->deferrable_events.empty() ? workflow::DefaultDeferrableEvents() : pinned->deferrable_events;
  const bool waits = incoming.may_wait && !incoming.fired_timer &&
                     (result.verdict == workflow::Verdict::kNotAllowed || result.verdict == workflow::Verdict::kSuspended) &&
                     deferrable.contains(incoming.type) && workflow::TakesLater(machine.HeldStage(), incoming.type);
  if (waits) {
    result.reason = std::string(kWaitingForCase);
    plan.history = HistoryOf(case_id, sequence, incoming.source, incoming.event_id, incoming.type, incoming.meta.actor,
                             occurred_at, now, payload, request_hash, "deferred", result, version);
    const long long wait = std::chrono::duration_cast<std::chrono::microseconds>(pinned->early_event_wait).count();
    inbox.push_back(
        {sequence, incoming.source, incoming.event_id, incoming.type, incoming.meta.actor, payload, occurred_at, now, now + wait});
    plan.inbox = InboxJson(inbox);
    DiffTimers(case_id, timers_before, AllTimers(machine, *pinned, stage_entered_at, inbox), version, plan);
    outcome.deferred = true;
    outcome.result = std::move(result);
    return true;
  }

  const bool applied = result.Applied();
  if (applied) {
    ++version;
    track_stage(occurred_at);
    AddIncidents(workflow::IncidentsFor(incoming.event, result), case_id, state, now, plan);
    if (std::holds_alternative<workflow::events::PersonalDataErased>(incoming.event)) {
      plan.erase_personal_data = true;
      plan.erased_by = incoming.meta.actor;
    }
  }
  plan.history = HistoryOf(case_id, sequence, incoming.source, incoming.event_id, incoming.type, incoming.meta.actor,
                           occurred_at, now, payload, request_hash, workflow::Name(result.verdict), result, version);
  outcome.version = version;

  // A change may let waiting events apply, in arrival order; each is recorded as it applies (or as a
  // rule refuses it: it had its chance). Those the case still cannot take keep waiting.
  bool changed = applied;
  while (changed && !inbox.empty()) {
    changed = false;
    for (auto entry = inbox.begin(); entry != inbox.end(); ++entry) {
      workflow::DecodeError error;
      boost::system::error_code parse_error;
      const auto data = boost::json::parse(entry->data, parse_error);
      const auto event = parse_error ? std::nullopt : workflow::DecodeEvent(entry->type, data, error);
      if (!event) throw PersistenceError(ErrorKind::kCorruptData, "apply: corrupt_data (waiting event)");
      auto waiting_meta = meta;
      waiting_meta.actor = entry->actor;
      waiting_meta.occurred_at = std::chrono::floor<std::chrono::seconds>(FromMicros(entry->occurred_at));
      auto waiting = machine.Apply(*event, waiting_meta);
      if (!waiting.Applied() && waiting.verdict != workflow::Verdict::kGuardRefused) continue;
      if (waiting.Applied()) {
        ++version;
        track_stage(occurred_at);
        AddIncidents(workflow::IncidentsFor(*event, waiting), case_id, state, now, plan);
      }
      plan.extra_history.push_back(HistoryOf(case_id, ++sequence, std::string(kInboxSource),
                                             fmt::format("{}:{}", case_id, entry->sequence), entry->type, entry->actor,
                                             entry->occurred_at, now, entry->data, request_hash,
                                             workflow::Name(waiting.verdict), waiting, version));
      inbox.erase(entry);
      plan.inbox = InboxJson(inbox);
      changed = waiting.Applied();
      break;
    }
  }

  plan.applied = version != state.version;
  if (incoming.fired_timer && !plan.applied) {
    // A timer whose event the case refused has had its say: it is removed rather than fired again.
    plan.timers.push_back({case_id, incoming.fired_timer->kind, std::nullopt, version});
  }
  if (plan.applied) {
    const auto& after = machine.Context();
    auto programme = pinned;
    if (after.programme.version != reference.version) {
      programme = context.programmes.Find(code, after.programme.version, &sql);
      if (!programme) throw PersistenceError(ErrorKind::kInvalidInput, "apply: invalid_input (unknown programme version)");
    }
    const auto timers_after = AllTimers(machine, *programme, stage_entered_at, inbox);
    DiffTimers(case_id, timers_before, timers_after, version, plan);
    plan.stage = stage;
    plan.stage_entered_at = stage_entered_at;
    if (const auto deadline = workflow::NextDeadline(timers_after)) {
      plan.next_deadline = MicrosOf(*deadline);
      plan.has_deadline = true;
    }
    plan.saved = machine.Save();
    plan.active_states = JoinList(machine.ActiveStates());
    plan.flags = VulnerabilityBits(after.HouseholdVulnerabilities());
    plan.host_country = after.host_country;
    plan.origin_country = after.origin_country;
    plan.overdue = JoinList({after.overdue.begin(), after.overdue.end()});
  } else if (plan.inbox) {
    DiffTimers(case_id, timers_before, AllTimers(machine, *pinned, stage_entered_at, inbox), version, plan);
  }
  outcome.result = std::move(result);
  return true;
}

}  // namespace

// Documented in apply_plan.hpp.
bool PlanApply(soci::session& sql, const PlanContext& context, const std::string& case_id,
               const IncomingEvent& incoming, const std::string& payload, const std::string& request_hash,
               const CaseState& state, bool seen, ApplyOutcome& outcome, PlannedWrite& plan) {
  if (!DecideApply(sql, context, case_id, incoming, payload, request_hash, state, seen, outcome, plan)) return false;
  // Every history row a plan writes is chained here, in sequence order, from the head of the state the
  // decision was made on: the one place every event path (single, group, clock, refusals, the inbox's)
  // goes through.
  plan.head = state.head_hash;
  ChainRow(plan.head, plan.history, context.hash_chain);
  for (auto& extra : plan.extra_history) ChainRow(plan.head, extra, context.hash_chain);
  // Who hears of it is decided on the case as read in this transaction: an organisation unassigned a
  // moment ago gets nothing more.
  if (context.subscriptions) {
    const auto subscriptions = context.subscriptions->Active(&sql);
    if (!subscriptions->empty()) AddNotifications(*subscriptions, state.scope, plan);
    outcome.notifications = plan.outbox.size();
  }
  return true;
}

void WriteSideEffects(soci::session& sql, const PlannedWrite& plan) {
  for (const auto& timer : plan.timers) {
    if (timer.due) {
      sql << kUpsertTimer.text, soci::use(timer.case_id, "case_id"), soci::use(timer.kind, "kind"),
          soci::use(*timer.due, "due_at"), soci::use(timer.scheduled_version, "scheduled_version");
    } else {
      sql << kDeleteTimer.text, soci::use(timer.case_id, "case_id"), soci::use(timer.kind, "kind");
    }
  }
  for (const auto& incident : plan.incidents) {
    sql << kInsertIncident.text, soci::use(incident.incident_id, "incident_id"), soci::use(incident.case_id, "case_id"),
        soci::use(incident.kind, "kind"), soci::use(incident.subject, "subject"),
        soci::use(incident.opened_at, "opened_at"), soci::use(incident.office, "office"),
        soci::use(incident.host_country, "host_country"), soci::use(incident.origin_country, "origin_country");
  }
  WriteOutbox(sql, plan.outbox);
  // Not logged here: the transaction may still roll back (a version conflict); its history row and audit
  // row are the record.
  if (plan.erase_personal_data) ErasePeopleWithin(sql, plan.history.case_id, {plan.erased_by, "erasure"}, plan.now);
}

bool WritePortable(soci::session& sql, const CaseRow& row, const PlannedWrite& plan) {
  InsertHistory(sql, plan.history);
  for (const auto& extra : plan.extra_history) InsertHistory(sql, extra);
  const auto& last = plan.Last();
  const bool applied = plan.applied;
  const std::string& saved_state = applied ? plan.saved : row.saved_state;
  const std::string& stage = applied ? plan.stage : row.stage;
  const std::string& active_states = applied ? plan.active_states : row.active_states;
  const int flags = applied ? plan.flags : row.vulnerability_flags;
  const std::string& host_country = applied ? plan.host_country : row.host_country;
  const std::string& origin_country = applied ? plan.origin_country : row.origin_country;
  const long long updated_at = applied ? plan.now : row.updated_at;
  const long long stage_entered_at = applied ? plan.stage_entered_at : row.stage_entered_at;
  const bool has_deadline = applied ? plan.has_deadline : row.has_next_deadline;
  const long long next_deadline = applied ? plan.next_deadline : row.next_deadline;
  const std::string& overdue = applied ? plan.overdue : row.overdue;
  const std::string& inbox = plan.inbox ? *plan.inbox : row.inbox;
  soci::indicator deadline_indicator = has_deadline ? soci::i_ok : soci::i_null;
  soci::statement statement(sql);
  PrepareOnce(statement, kUpdateCaseAfterEvent.text, soci::use(last.version_after, "version_after"),
              soci::use(last.sequence, "sequence"), soci::use(saved_state, "saved_state"),
              soci::use(stage, "stage"), soci::use(active_states, "active_states"), soci::use(flags, "flags"),
              soci::use(host_country, "host_country"), soci::use(origin_country, "origin_country"),
              soci::use(updated_at, "updated_at"), soci::use(stage_entered_at, "stage_entered_at"),
              soci::use(next_deadline, deadline_indicator, "next_deadline"), soci::use(overdue, "overdue"),
              soci::use(inbox, "inbox"), soci::use(plan.head, "head_hash"), soci::use(plan.history.case_id, "case_id"),
              soci::use(plan.expected_version, "expected_version"),
              soci::use(plan.expected_last_sequence, "expected_last_sequence"));
  statement.execute(true);
  if (statement.get_affected_rows() != 1) return false;
  WriteSideEffects(sql, plan);
  return true;
}

/// The body of Apply, inside a transaction that the caller owns.
ApplyOutcome ApplyInTransaction(soci::session& sql, Database& database, ProgrammeRepository& programmes,
                                SubscriptionRepository* subscriptions, const std::string& case_id, const IncomingEvent& incoming,
                                const std::string& payload, const std::string& request_hash) {
  // One round trip takes the case lock and looks up the idempotency key. A concurrent duplicate for this
  // case waits on the lock; if the join, evaluated from the statement's snapshot, missed the first
  // delivery's row, the unique key on (source, event_id) stops the insert and the retry finds it.
  const Backend backend = database.GetBackend();
  CaseRow row;
  bool found = false;
  bool seen = false;
  if (backend == Backend::kPostgresql) {
    database.EnsurePrepared(sql, &PreparePostgresStatements);
    PgRows rows(sql, kPgApplyLock, {incoming.source.c_str(), incoming.event_id.c_str(), case_id.c_str()});
    found = rows.Count() == 1;
    if (found) {
      ReadCaseRow(PgColumns{rows, 0}, row);
      seen = !rows.IsNull(0, "request_hash");
    }
  } else {
    ForEachRow(sql, kSelectCaseAndKey, [&](const soci::row& columns) {
      ReadCaseRow(columns, row);
      seen = !IsNull(columns, "request_hash");
      found = true;
    }, soci::use(incoming.source, "source"), soci::use(incoming.event_id, "event_id"), soci::use(case_id, "case_id"));
  }
  if (!found) throw PersistenceError(ErrorKind::kNotFound, fmt::format("apply case={}: not_found", case_id));
  ApplyOutcome outcome;
  PlannedWrite plan;
  const PlanContext context{programmes, ToMicros(database.Now()), database.Options().history_hash_chain, subscriptions};
  if (!PlanApply(sql, context, case_id, incoming, payload, request_hash, CaseState::Of(row), seen, outcome, plan)) {
    return outcome;
  }
  if (!WritePortable(sql, row, plan)) {
    // Cannot happen while the lock discipline holds; if it ever does, it is a lost race, never an overwrite.
    throw PersistenceError(ErrorKind::kConflict, fmt::format("apply case={}: conflict (concurrent update)", case_id));
  }
  return outcome;
}

void CheckIncoming(std::string_view case_id, const IncomingEvent& incoming) {
  if (!LooksLikeCaseId(case_id)) {
    throw PersistenceError(ErrorKind::kNotFound, "apply: not_found (malformed case id)");
  }
  if (incoming.source.empty() || incoming.event_id.empty()) {
    throw PersistenceError(ErrorKind::kInvalidInput, "apply: invalid_input (event source and id are required)");
  }
  // An early event's expiry is the engine's own record, not an event of the machine.
  const bool expiry = incoming.fired_timer && incoming.fired_timer->kind.starts_with("inbox:");
  if (!expiry && incoming.type != workflow::EventName(incoming.event)) {
    throw PersistenceError(ErrorKind::kInvalidInput, "apply: invalid_input (type does not match the decoded event)");
  }
}

}  // namespace internal

namespace {

using internal::FilteredQuery;

void AddFilters(const CaseQuery& query, FilteredQuery& filtered) {
  if (query.stage) filtered.Where("stage = " + filtered.Bind(*query.stage));
  if (query.state) {
    // The stage is the state name's first component ("travel" of "travel.booked"), which lets the stage
    // index narrow the rows before the LIKE on the active-state list.
    const auto dot = query.state->find('.');
    if (dot != std::string::npos) filtered.Where("stage = " + filtered.Bind(query.state->substr(0, dot)));
    filtered.Where("active_states LIKE " + filtered.Bind("%|" + *query.state + "|%"));
  }
  if (query.host_country) filtered.Where("host_country = " + filtered.Bind(*query.host_country));
  if (query.origin_country) filtered.Where("origin_country = " + filtered.Bind(*query.origin_country));
  filtered.WhereCountryIn(query.countries_any);
  if (query.office) filtered.Where("office = " + filtered.Bind(*query.office));
  if (query.partner) {
    filtered.Where(
        "case_id IN (SELECT case_id FROM case_partners WHERE organisation = " + filtered.Bind(*query.partner) + ")");
  }
  if (query.vulnerability) {
    const long long bit = 1LL << static_cast<int>(*query.vulnerability);
    filtered.Where("(vulnerability_flags & " + filtered.Bind(bit) + ") <> 0");
  }
  if (query.overdue_as_of) {
    // A deadline the clock has marked passed, or one due before then that it has not fired yet.
    filtered.Where("(overdue <> '|' OR (next_deadline IS NOT NULL AND next_deadline < " +
                   filtered.Bind(ToMicros(*query.overdue_as_of)) + "))");
  }
  if (query.overdue_kind) filtered.Where("overdue LIKE " + filtered.Bind("%|" + *query.overdue_kind + "|%"));
  if (query.has_open_incident) {
    filtered.Where(std::string(*query.has_open_incident ? "" : "NOT ") +
                   "EXISTS (SELECT 1 FROM incidents i WHERE i.case_id = cases.case_id AND i.resolved_at IS NULL)");
  }
  if (query.updated_since) {
    // updated_at is not indexed (an index on it would make every case update touch all of the table's
    // indexes). Every value it takes is the recorded_at of a history row of the case, so the cases with a
    // history row recorded since then, found through case_events_by_recorded, are a superset to filter.
    const long long since = ToMicros(*query.updated_since);
    filtered.Where("updated_at >= " + filtered.Bind(since));
    filtered.Where("case_id IN (SELECT case_id FROM case_events WHERE recorded_at >= " + filtered.Bind(since) + ")");
  }
}

// The cases row of a new case, named parameters as its columns.
constexpr Query kInsertCase{
    "insert case",
    "INSERT INTO cases (" RETURNFLOW_CASE_COLUMNS ") VALUES (:case_id, :programme, :host_country, :origin_country, "
    ":office, :partners, :stage, :active_states, :saved_state, :vulnerability_flags, :version, :last_sequence, "
    ":created_at, :updated_at, :stage_entered_at, :next_deadline, :overdue, :inbox, :head_hash)"};
// :access_id, :case_id, :actor, :purpose, :action, :accessed_at.
constexpr Query kInsertAccess{
    "insert personal data access",
    "INSERT INTO personal_data_access (access_id, case_id, actor, purpose, action, accessed_at) VALUES "
    "(:access_id, :case_id, :actor, :purpose, :action, :accessed_at)"};
// :case_id -> 1 when the case exists.
constexpr Query kCaseExists{"case exists", "SELECT 1 AS found FROM cases WHERE case_id = :case_id"};
// :case_id, :after, :row_limit -> HistoryRow, oldest first.
constexpr Query kSelectHistory{"select history",
                               "SELECT " RETURNFLOW_HISTORY_COLUMNS " FROM case_events WHERE case_id = :case_id "
                               "AND sequence > :after ORDER BY sequence LIMIT :row_limit"};

bool CaseExists(soci::session& sql, const std::string& case_id) {
  bool found = false;
  internal::ForEachRow(sql, kCaseExists, [&](const soci::row&) { found = true; }, soci::use(case_id, "case_id"));
  return found;
}

/// The first history row of a case created with `request_id` (its idempotency record).
HistoryRow OpenedRow(const std::string& case_id, const std::string& source, const std::string& event_id,
                     const NewCase& new_case, const std::string& context_json, const std::string& request_hash,
                     const std::string& active_joined, const std::vector<std::string>& allowed, long long now) {
  HistoryRow history;
  history.case_id = case_id;
  history.sequence = 1;
  history.source = source;
  history.event_id = event_id;
  history.type = std::string(kOpenedType);
  history.actor = new_case.meta.actor;
  history.occurred_at = MicrosOf(new_case.meta.occurred_at);
  history.recorded_at = now;
  history.payload = context_json;
  history.request_hash = request_hash;
  history.verdict = std::string(workflow::Name(workflow::Verdict::kApplied));
  history.states_before = JoinList({});
  history.states_after = active_joined;
  history.changes = JoinList({});
  history.allowed_events = JoinList(allowed);
  history.version_after = 1;
  return history;
}


}  // namespace

// --- Create ------------------------------------------------------------------------------------------

CaseRecord CaseRepository::Create(const NewCase& new_case) {
  if (new_case.programme.empty() || new_case.office.empty()) {
    throw PersistenceError(ErrorKind::kInvalidInput, "create: invalid_input (programme and office are required)");
  }
  const bool deduplicated = !new_case.request_source.empty() && !new_case.request_id.empty();
  for (const auto& person : new_case.people) {
    if (person.member_id.empty()) throw PersistenceError(ErrorKind::kInvalidInput, "create: invalid_input (member id)");
  }
  const auto partners = internal::PartnerList(new_case.partners, "create");

  // Everything that does not need the database is done before the transaction.
  const std::string context_json = boost::json::serialize(boost::json::value_from(new_case.context));
  auto machine = workflow::Case::Open(new_case.context);
  const std::string saved = machine.Save();
  const std::string stage(machine.Stage());
  const std::string active_joined = JoinList(machine.ActiveStates());
  const auto allowed = ToStrings(machine.AllowedEvents());
  const int flags = internal::VulnerabilityBits(machine.Context().HouseholdVulnerabilities());
  const std::string partners_joined = JoinList(partners);
  // The request hash covers the workflow data of the request; its personal data is compared with the
  // stored people rows instead (a digest of names and dates of birth would be a fingerprint of them).
  const std::string request_hash = RequestHash(kOpenedType, "",
                                               internal::CanonicalJson(context_json) + "\n" + new_case.programme +
                                                   "\n" + new_case.office + "\n" + partners_joined);
  const long long occurred_at = MicrosOf(new_case.meta.occurred_at);
  const auto& reference = new_case.context.programme;
  const auto programme = internal::PinnedProgramme(*programmes_, reference.code.empty() ? new_case.programme : reference.code,
                                                   reference.version);
  const auto timers = workflow::DesiredTimers(machine, *programme, new_case.meta.occurred_at);
  const auto deadline = workflow::NextDeadline(timers);

  std::string case_id;
  database_.WriteTransaction("create", [&](soci::session& sql) {
    const std::string source = deduplicated ? new_case.request_source : std::string(internal::kEngineSource);
    if (deduplicated) {
      if (auto stored = internal::FindByIdempotencyKey(sql, source, new_case.request_id)) {
        if (stored->request_hash != request_hash || internal::ReadPeople(sql, database_.MasterKeys(), stored->case_id) != [&] {
              auto people = new_case.people;
              std::sort(people.begin(), people.end(),
                        [](const auto& left, const auto& right) { return left.member_id < right.member_id; });
              return people;
            }()) {
          throw PersistenceError(ErrorKind::kIdempotencyConflict,
                                 "create: idempotency_conflict (request id reused with different content)");
        }
        case_id = stored->case_id;
        return;
      }
    }
    case_id = internal::NewUuid();
    const long long now = ToMicros(database_.Now());
    CaseRow row;
    row.case_id = case_id;
    row.programme = new_case.programme;
    row.host_country = new_case.context.host_country;
    row.origin_country = new_case.context.origin_country;
    row.office = new_case.office;
    row.partners = partners_joined;
    row.stage = stage;
    row.active_states = active_joined;
    row.saved_state = saved;
    row.vulnerability_flags = flags;
    row.version = 1;
    row.last_sequence = 1;
    row.created_at = now;
    row.updated_at = now;
    row.stage_entered_at = occurred_at;
    row.has_next_deadline = deadline.has_value();
    row.next_deadline = deadline ? MicrosOf(*deadline) : 0;
    auto opened = OpenedRow(case_id, source, deduplicated ? new_case.request_id : case_id, new_case, context_json,
                            request_hash, active_joined, allowed, now);
    ChainRow(row.head_hash, opened, database_.Options().history_hash_chain);
    soci::indicator deadline_indicator = row.has_next_deadline ? soci::i_ok : soci::i_null;
    sql << kInsertCase.text, soci::use(row.case_id, "case_id"), soci::use(row.programme, "programme"),
        soci::use(row.host_country, "host_country"), soci::use(row.origin_country, "origin_country"),
        soci::use(row.office, "office"), soci::use(row.partners, "partners"), soci::use(row.stage, "stage"),
        soci::use(row.active_states, "active_states"), soci::use(row.saved_state, "saved_state"),
        soci::use(row.vulnerability_flags, "vulnerability_flags"), soci::use(row.version, "version"),
        soci::use(row.last_sequence, "last_sequence"), soci::use(row.created_at, "created_at"),
        soci::use(row.updated_at, "updated_at"), soci::use(row.stage_entered_at, "stage_entered_at"),
        soci::use(row.next_deadline, deadline_indicator, "next_deadline"), soci::use(row.overdue, "overdue"),
        soci::use(row.inbox, "inbox"), soci::use(row.head_hash, "head_hash");
    internal::PlannedWrite initial;
    for (const auto& timer : timers) initial.timers.push_back({case_id, timer.kind, MicrosOf(timer.due), row.version});
    internal::WriteSideEffects(sql, initial);
    for (const auto& partner : partners) {
      sql << internal::kInsertCasePartner.text, soci::use(case_id, "case_id"), soci::use(partner, "organisation");
    }
    for (const auto& person : new_case.people) {
      internal::InsertPerson(sql, database_.MasterKeys(), case_id, person, now);
    }
    if (!new_case.people.empty()) {
      const std::string access_id = internal::NewUuid();
      const std::string purpose = "referral";
      const std::string action = "create";
      sql << kInsertAccess.text, soci::use(access_id, "access_id"), soci::use(case_id, "case_id"),
          soci::use(new_case.meta.actor, "actor"), soci::use(purpose, "purpose"), soci::use(action, "action"),
          soci::use(now, "accessed_at");
    }
    internal::InsertHistory(sql, opened);
    if (subscriptions_) {
      const auto subscriptions = subscriptions_->Active(&sql);
      const CaseScope scope{new_case.office, row.host_country, row.origin_country, partners};
      std::optional<long long> next_deadline;
      if (row.has_next_deadline) next_deadline = row.next_deadline;
      internal::WriteOutbox(sql, internal::OpenedNotifications(*subscriptions, scope, opened, stage, now, next_deadline));
    }
  });
  spdlog::info("case={} opened stage={}", case_id, stage);
  return Get(case_id);
}

// --- Read --------------------------------------------------------------------------------------------

std::optional<CaseRecord> CaseRepository::Find(std::string_view case_id) {
  if (!LooksLikeCaseId(case_id)) return std::nullopt;
  std::optional<CaseRecord> record;
  const std::string id(case_id);
  database_.Read("get case", [&](soci::session& sql) {
    CaseRow row;
    record.reset();
    if (internal::LoadCase(sql, database_.GetBackend(), id, /*for_update=*/false, row)) record = row.ToRecord();
  });
  return record;
}

CaseRecord CaseRepository::Get(std::string_view case_id) {
  auto record = Find(case_id);
  if (!record) throw PersistenceError(ErrorKind::kNotFound, fmt::format("get case={}: not_found", case_id));
  return std::move(*record);
}

CaseRepository::CaseRepository(Database& database, ProgrammeRepository& programmes, std::size_t cached_cases)
    : database_(database), programmes_(&programmes), state_cache_(std::make_unique<internal::CaseStateCache>(cached_cases)) {}

CaseRepository::CaseRepository(Database& database, std::size_t cached_cases)
    : database_(database),
      own_programmes_(std::make_unique<ProgrammeRepository>(database)),
      programmes_(own_programmes_.get()),
      state_cache_(std::make_unique<internal::CaseStateCache>(cached_cases)) {}

CaseRepository::~CaseRepository() = default;

// --- Apply -------------------------------------------------------------------------------------------

ApplyOutcome CaseRepository::Apply(std::string_view case_id_view, const IncomingEvent& incoming) {
  if (database_.GetBackend() == Backend::kPostgresql) {
    // Still one transaction for the one event, with the group paths' round trips: one when the case's
    // state is cached, two under its row lock otherwise (instead of BEGIN, lock, write, COMMIT).
    auto results = ApplyGroup({GroupItem{std::string(case_id_view), incoming}});
    auto& result = results.front();
    if (!result.outcome) {
      throw PersistenceError(result.error.value_or(ErrorKind::kUnavailable), result.error_message);
    }
    return std::move(*result.outcome);
  }
  CheckIncoming(case_id_view, incoming);
  const std::string case_id(case_id_view);
  const std::string canonical = internal::CanonicalJson(incoming.data_json);
  const std::string request_hash = RequestHash(incoming.type, case_id, canonical);
  const std::string payload = incoming.data_json.empty() ? std::string("null") : incoming.data_json;

  ApplyOutcome outcome;
  try {
    database_.WriteTransaction("apply", [&](soci::session& sql) {
      outcome = ApplyInTransaction(sql, database_, *programmes_, subscriptions_, case_id, incoming, payload, request_hash);
    });
  } catch (...) {
    Database::Rethrow("apply", case_id);
  }
  spdlog::debug("case={} event={} {} seq={} v={}{}", case_id, incoming.type, workflow::Name(outcome.result.verdict),
                outcome.sequence, outcome.version, outcome.replayed ? " replayed" : "");
  return outcome;
}

// --- History -----------------------------------------------------------------------------------------

std::vector<HistoryEntry> CaseRepository::History(std::string_view case_id_view, std::int64_t after_sequence,
                                                  std::size_t limit) {
  if (!LooksLikeCaseId(case_id_view)) {
    throw PersistenceError(ErrorKind::kNotFound, "history: not_found (malformed case id)");
  }
  const std::string case_id(case_id_view);
  const long long after = after_sequence;
  const long long row_limit = static_cast<long long>(std::clamp<std::size_t>(limit, 1, kMaxPageSize));
  std::vector<HistoryEntry> entries;
  database_.Read("history", [&](soci::session& sql) {
    entries.clear();
    if (!CaseExists(sql, case_id)) {
      throw PersistenceError(ErrorKind::kNotFound, fmt::format("history case={}: not_found", case_id));
    }
    internal::ForEachRow(sql, kSelectHistory, [&](const soci::row& columns) {
      HistoryRow row;
      internal::ReadHistoryRow(columns, row);
      entries.push_back(row.ToEntry());
    }, soci::use(case_id, "case_id"), soci::use(after, "after"), soci::use(row_limit, "row_limit"));
  });
  return entries;
}

// --- Search ------------------------------------------------------------------------------------------

CasePage CaseRepository::Search(const CaseQuery& query) {
  const std::size_t page_size = std::clamp<std::size_t>(query.page_size, 1, kMaxPageSize);
  FilteredQuery filtered;
  AddFilters(query, filtered);
  if (!query.cursor.empty()) {
    const auto position = DecodeCursor(query.cursor);
    if (!position) throw PersistenceError(ErrorKind::kInvalidInput, "search: invalid_input (malformed cursor)");
    const auto created = filtered.Bind(position->created_at);
    const auto created_again = filtered.Bind(position->created_at);
    filtered.Where("(created_at > " + created + " OR (created_at = " + created_again + " AND case_id > " +
                   filtered.Bind(position->case_id) + "))");
  }
  const auto limit = filtered.Bind(static_cast<long long>(page_size + 1));
  const std::string text = std::string("SELECT ") + internal::kCaseColumns + " FROM cases" + filtered.WhereClause() +
                           " ORDER BY created_at, case_id LIMIT " + limit;
  CasePage page;
  database_.Read("search", [&](soci::session& sql) {
    page.cases.clear();
    page.next_cursor.clear();
    bool more = false;
    filtered.ForEach(sql, text, [&](const soci::row& columns) {
      if (page.cases.size() == page_size) {
        more = true;
        return;
      }
      CaseRow row;
      internal::ReadCaseRow(columns, row);
      page.cases.push_back(row.ToRecord());
    });
    if (more) page.next_cursor = EncodeCursor({ToMicros(page.cases.back().created_at), page.cases.back().case_id});
  });
  return page;
}

std::vector<StageCount> CaseRepository::CountByStage(const CaseQuery& query) {
  FilteredQuery filtered;
  AddFilters(query, filtered);
  const std::string text =
      "SELECT stage, COUNT(*) AS cases FROM cases" + filtered.WhereClause() + " GROUP BY stage ORDER BY stage";
  std::vector<StageCount> counts;
  database_.Read("count by stage", [&](soci::session& sql) {
    counts.clear();
    filtered.ForEach(sql, text, [&](const soci::row& columns) {
      counts.push_back({internal::Text(columns, "stage"), internal::Integer(columns, "cases")});
    });
  });
  return counts;
}

}  // namespace returnflow::persistence
