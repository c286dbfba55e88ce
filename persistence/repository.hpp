#pragma once
/// Durable cases: the case repository (cases, their append-only event history, idempotency, search),
/// personal data with an audited read path, and API token storage.
///
/// Every call blocks and leases its own session for the duration of one unit of work: call from a
/// worker pool, from any number of threads. Failures throw PersistenceError (see database.hpp).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/database.hpp"
#include "workflow/case.hpp"
#include "workflow/consent.hpp"
#include "workflow/context.hpp"
#include "workflow/events.hpp"
#include "workflow/programme.hpp"
#include "workflow/timers.hpp"

namespace returnflow::persistence {

class SubscriptionRepository;

namespace internal {
class CaseStateCache;
}  // namespace internal

// ---------------------------------------------------------------------------------------------------
// Programmes: server-side, versioned definitions.

/// One stored version of a programme.
struct ProgrammeVersion {
  workflow::Programme programme;
  Timestamp registered_at{};
};

/// Every version of every programme, immutable once stored. A process keeps the versions it has read;
/// the latest version of a code is read again at most once a second (another process may register one).
class ProgrammeRepository {
 public:
  explicit ProgrammeRepository(Database& database);
  ~ProgrammeRepository();

  /// Stores `programme` as its code's next version when its rules differ from the latest version's
  /// (its own `version` is ignored); returns the version stored, or the latest one when nothing changed.
  workflow::Programme Register(workflow::Programme programme);
  /// One version (0: the latest); nullptr when there is no such programme or version. `within`: read on
  /// this session (a caller holding the pool's session, e.g. inside an apply) rather than leasing one.
  std::shared_ptr<const workflow::Programme> Find(std::string_view code, int version, soci::session* within = nullptr);
  /// The latest version; nullptr when the programme is unknown.
  std::shared_ptr<const workflow::Programme> Latest(std::string_view code, soci::session* within = nullptr);
  /// The latest version of every programme, by code.
  std::vector<workflow::Programme> List();
  /// Every version of one programme, oldest first, with when each was registered.
  std::vector<ProgrammeVersion> Versions(std::string_view code);

 private:
  struct Cache;
  Database& database_;
  std::unique_ptr<Cache> cache_;
};

// ---------------------------------------------------------------------------------------------------
// Personal data: lives only in the `people` table, never in cases, events, logs or errors.

struct IdentityDocument {
  std::string type;  ///< e.g. "passport", "national_id", "emergency_travel_document"
  std::string number;
  friend bool operator==(const IdentityDocument&, const IdentityDocument&) = default;
};

struct Contact {
  std::string kind;  ///< e.g. "phone", "email", "address"
  std::string value;
  friend bool operator==(const Contact&, const Contact&) = default;
};

/// One household member's personal data, linked to the case by the pseudonymous member id.
struct PersonalData {
  std::string member_id;  ///< the member id of the case context's household ("m1", ...)
  std::string given_names;
  std::string family_name;
  std::string date_of_birth;  ///< ISO 8601 date, or a year only ("1990") when the day is unknown
  std::vector<IdentityDocument> documents;
  std::vector<Contact> contacts;
  friend bool operator==(const PersonalData&, const PersonalData&) = default;
};

// ---------------------------------------------------------------------------------------------------
// Cases.

/// What a caseworker's referral creates.
struct NewCase {
  std::string programme;              ///< programme code, e.g. "avrr-id-2026"
  std::string office;                 ///< the host-country office that owns the case
  std::vector<std::string> partners;  ///< assigned partner organisations (their token scope names)
  /// The initial context (host and origin country are taken from here, as are vulnerability flags).
  workflow::CaseContext context;
  std::vector<PersonalData> people;  ///< stored in `people` only
  workflow::EventMeta meta;          ///< who created the case and when the referral was received
  /// Optional idempotency key for the creation itself: the same (source, id) again returns the case it
  /// created; with a different request (workflow data or personal data) it is a kIdempotencyConflict.
  /// Empty: no deduplication.
  std::string request_source;
  std::string request_id;
};

/// What authorization decides on: who owns a case and where it happens (no personal data).
struct CaseScope {
  std::string office;
  std::string host_country;
  std::string origin_country;
  std::vector<std::string> partners;  ///< assigned partner organisations
  friend bool operator==(const CaseScope&, const CaseScope&) = default;
};

/// Decides, inside the transaction that applies an event, whether the caller may see the case: a case
/// it may not see is answered exactly like one that does not exist (kNotFound), after the same work.
using VisibilityCheck = std::function<bool(const CaseScope&)>;

/// A case as stored: workflow data only.
struct CaseRecord {
  std::string case_id;  ///< pseudonymous (a random UUID)
  std::string programme;
  std::string host_country;
  std::string origin_country;
  std::string office;
  std::vector<std::string> partners;
  std::string stage;                       ///< Case::Stage() as of the last applied event
  std::vector<std::string> active_states;  ///< Case::ActiveStates()
  std::string saved_state;                 ///< Case::Save() JSON; restore with Case::Restore
  std::int64_t version = 0;                ///< 1 at creation, +1 per applied event (the If-Match value)
  std::int64_t last_sequence = 0;          ///< sequence of the newest history row (applied or not)
  Timestamp created_at{};
  Timestamp updated_at{};                             ///< time of the last applied event's commit
  Timestamp stage_entered_at{};                       ///< occurred_at of the event that entered the current stage
  std::optional<Timestamp> next_deadline;             ///< see workflow/deadlines.hpp; none when suspended/closed
  std::set<workflow::Vulnerability> vulnerabilities;  ///< union over household members, for reporting
  std::vector<std::string> overdue;                   ///< deadlines passed while their step is open

  CaseScope Scope() const { return {office, host_country, origin_country, partners}; }
};

/// A timer of a case as the scheduler claimed it (to fire through Apply).
struct DueTimer {
  std::string case_id;
  std::string kind;
  Timestamp due{};
  int attempts = 0;  ///< claims so far, this one included
};

/// An event arriving for a case (from a CloudEvent, or the engine's clock): already decoded by the caller.
struct IncomingEvent {
  std::string source;     ///< CloudEvents `source`
  std::string event_id;   ///< CloudEvents `id`; (source, event_id) is the idempotency key
  std::string type;       ///< CloudEvents `type`; must equal workflow::EventName(event)
  std::string data_json;  ///< CloudEvents `data` as received (stored; hashed canonically for dedup)
  workflow::Event event;
  workflow::EventMeta meta;
  /// If-Match: the case version the sender saw; a different current version is a kVersionConflict.
  std::optional<std::int64_t> expected_version;
  /// Whether the sender may see the case (unset: anyone may). Checked on the case as stored when the
  /// event is decided, so an organisation unassigned a moment ago is refused at once.
  VisibilityCheck visible_to;
  /// Set when the engine's clock fires this event: the timer (kind, due). The event applies only while
  /// the case still has that timer (a cancelled or moved timer is superseded and fires nothing); an
  /// "inbox:*" timer expires an early event instead of reaching the machine.
  std::optional<workflow::Timer> fired_timer;
  /// An event the case cannot take yet may wait in its inbox (the programme says which types may).
  bool may_wait = false;
};

/// The durable outcome of one event. Rejections (not allowed, guard refused, suspended, closed) are
/// outcomes too: recorded in the history with their reason, the case left unchanged.
struct ApplyOutcome {
  workflow::ApplyResult result;
  std::int64_t sequence = 0;  ///< the history row's per-case sequence number
  std::int64_t version = 0;   ///< case version after this event (unchanged unless applied)
  bool replayed = false;      ///< true: a redelivery; `result` is the original outcome
  bool deferred = false;      ///< the event waits in the case's inbox until the case can take it
  bool superseded = false;    ///< a fired timer the case no longer had: nothing was written
  std::size_t notifications = 0;  ///< outbox rows written with the event (persistence/outbox.hpp)
  std::string case_id;
};

/// One event of a group commit, for ApplyGroup.
struct GroupItem {
  std::string case_id;
  IncomingEvent event;
};

/// How CaseRepository::ApplyGroup wrote a group, cheapest first.
enum class GroupPath {
  kFromCache,  ///< PostgreSQL: decided on cached case states, written and committed in one round trip
  kLocked,     ///< PostgreSQL: cases locked and read, then written and committed: two round trips
  kOneByOne,   ///< each event in its own savepoint (SQLite; groups repeating a case or an event id)
};
std::string_view Name(GroupPath path);

/// Per-item result of ApplyGroup: exactly one of `outcome` / `error` is set.
struct GroupItemResult {
  std::optional<ApplyOutcome> outcome;
  std::optional<ErrorKind> error;
  std::string error_message;  ///< pseudonymous, like PersistenceError::what()
};

/// One row of a case's history.
struct HistoryEntry {
  std::int64_t sequence = 0;
  std::string source;
  std::string event_id;
  std::string type;  ///< event name, or "case.opened" for sequence 1
  std::string actor;
  Timestamp occurred_at{};
  Timestamp recorded_at{};
  std::string payload_json;  ///< the event data (for case.opened: the initial context)
  std::string verdict;       ///< workflow::Name(Verdict): "applied", "not_allowed", ...
  std::string reason;
  std::vector<std::string> states_before;
  std::vector<std::string> states_after;
  std::vector<std::string> changes;
  std::int64_t version_after = 0;
};

/// An event waiting in a case's inbox for the state that accepts it.
struct WaitingEvent {
  std::int64_t sequence = 0;  ///< of its deferral in the case's history
  std::string type;
  std::string source;
  Timestamp received_at{};
  Timestamp expires_at{};
};

/// A timer as the case shows it.
struct CaseTimer {
  std::string kind;
  Timestamp due{};
  int attempts = 0;
};

/// Something that needs a person's attention, raised by the engine (never by a caller).
struct Incident {
  std::string incident_id;
  std::string case_id;
  std::string kind;     ///< workflow/incidents.hpp: deadline_passed, monitoring_visit_missed, ...
  std::string subject;  ///< what within the kind: the deadline, the visit, the early event's type
  Timestamp opened_at{};
  std::string office, host_country, origin_country;
  std::optional<Timestamp> resolved_at;
  std::string resolved_by;
};

struct IncidentQuery {
  std::optional<std::string> kind;
  std::optional<std::string> office;
  std::optional<std::vector<std::string>> countries_any;  ///< host or origin; unset: every country
  std::optional<std::string> case_id;
  std::optional<bool> open;  ///< unset: open and resolved
  std::string cursor;
  std::size_t page_size = 50;
};

struct IncidentPage {
  std::vector<Incident> incidents;
  std::string next_cursor;
};

inline constexpr std::size_t kMaxPageSize = config::defaults::kMaxPageSize;
inline constexpr std::size_t kDefaultPageSize = config::defaults::kDefaultPageSize;

/// Supervisor and caseworker search. Unset filters match everything; set ones all have to match.
/// Results are ordered by (created_at, case_id), a key that never changes, so a cursor stays stable
/// while cases are updated.
struct CaseQuery {
  std::optional<std::string> stage;  ///< e.g. "travel"
  std::optional<std::string> state;  ///< an active leaf state, e.g. "travel.booked"
  std::optional<std::string> host_country;
  std::optional<std::string> origin_country;
  /// Scope for supervisors limited to a list of countries: host or origin country in this list. Unset:
  /// no limit; empty: no case matches.
  std::optional<std::vector<std::string>> countries_any;
  std::optional<std::string> office;
  std::optional<std::string> partner;  ///< assigned partner organisation
  std::optional<workflow::Vulnerability> vulnerability;
  std::optional<Timestamp> overdue_as_of;    ///< next_deadline before this instant, or any deadline passed
  std::optional<std::string> overdue_kind;   ///< a deadline of this kind has passed (workflow/timers.hpp)
  std::optional<bool> has_open_incident;
  std::optional<Timestamp> updated_since;    ///< updated_at at or after this instant
  std::string cursor;                        ///< empty for the first page; else a page's next_cursor
  std::size_t page_size = kDefaultPageSize;  ///< capped at kMaxPageSize
};

struct CasePage {
  std::vector<CaseRecord> cases;
  std::string next_cursor;  ///< opaque; empty when this was the last page
};

struct StageCount {
  std::string stage;
  std::int64_t count = 0;
};

/// A change the engine records itself on a case (a partner assigned, a consent recorded or withdrawn),
/// with the case version check of an event.
struct RecordedChange {
  workflow::EventMeta meta;                       ///< who, and when it happened
  std::optional<std::int64_t> expected_version;   ///< If-Match: kVersionConflict when the case moved
  /// Whether the caller may change this case, decided on the case as stored inside the transaction
  /// (unset: anyone may); a refusal answers kNotFound, like a case that does not exist.
  VisibilityCheck may_change;
};

/// A partner organisation to assign or unassign.
struct PartnerChange : RecordedChange {
  std::string organisation;
};

/// What a recorded change did to the case.
struct CaseChange {
  bool changed = false;             ///< false: it was so already, and nothing was written
  std::int64_t version = 0;         ///< the case's version afterwards
  std::int64_t sequence = 0;        ///< the history row written (0 when nothing changed)
  std::vector<std::string> partners;  ///< the case's partners afterwards
};

/// Cases and their history. Every method is one transaction.
class CaseRepository {
 public:
  /// Cases whose last known state group commit keeps in memory (PostgreSQL), so that a group of them is
  /// written in one round trip without reading them first; about 2 KB each.
  static constexpr std::size_t kDefaultCachedCases = config::defaults::kCachedCases;

  /// Programme rules come from `programmes` (each case runs under its pinned version).
  CaseRepository(Database& database, ProgrammeRepository& programmes, std::size_t cached_cases = kDefaultCachedCases);
  /// With a programme repository of its own (tools and tests).
  explicit CaseRepository(Database& database, std::size_t cached_cases = kDefaultCachedCases);
  ~CaseRepository();
  CaseRepository(const CaseRepository&) = delete;
  CaseRepository& operator=(const CaseRepository&) = delete;

  /// Creates a case with a fresh pseudonymous id, its people and its `case.opened` history row
  /// (sequence 1, payload = the initial context, which `verify` replays from). Returns the record.
  CaseRecord Create(const NewCase& new_case);

  std::optional<CaseRecord> Find(std::string_view case_id);
  /// As Find; kNotFound when there is no such case.
  CaseRecord Get(std::string_view case_id);

  /// Applies one event in one transaction: lock the case, deduplicate on (source, event_id), check
  /// If-Match, restore the saved machine, apply, append the history row, update the case with a
  /// checked version + 1, commit. Returns only after the commit. On PostgreSQL this is ApplyGroup with
  /// one item (one round trip when the case's state is cached, two otherwise).
  /// Throws kNotFound (no case, or not visible to the sender), kVersionConflict (If-Match mismatch),
  /// kIdempotencyConflict (the same key with another payload, type or subject), kInvalidInput (the type
  /// does not match the event), kCorruptData (the saved state cannot be restored), kUnavailable.
  ApplyOutcome Apply(std::string_view case_id, const IncomingEvent& event);

  /// Group commit: applies events (normally of different cases) in one transaction; a failing event
  /// does not fail the others, and every item gets the result Apply would have given it. Events of one
  /// case are applied in the order given. Results are in input order. If the commit itself fails, every
  /// item reports the error. Cases are locked in case-id order to avoid deadlocks with other groups.
  /// On PostgreSQL a group of distinct cases and idempotency keys is written in one round trip when the
  /// cases' states are cached (each write checked against the case's version), else in two (lock and
  /// read all, decide in C++, write all and commit); a group that repeats a case or a key, or whose
  /// batched write does not go through cleanly, is applied one by one, each event inside its own
  /// savepoint (the SQLite path). See group_apply.cpp.
  /// `path`, when given, is set to the path that wrote the group.
  std::vector<GroupItemResult> ApplyGroup(const std::vector<GroupItem>& items, GroupPath* path = nullptr);

  /// History rows with sequence > after_sequence, oldest first, at most `limit` (capped at
  /// kMaxPageSize; page with after_sequence). kNotFound when the case does not exist.
  std::vector<HistoryEntry> History(std::string_view case_id, std::int64_t after_sequence = 0,
                                    std::size_t limit = kDefaultPageSize);

  /// One page of cases matching `query` (kInvalidInput for a malformed cursor).
  CasePage Search(const CaseQuery& query);
  /// Cases per stage matching `query` (cursor and page size ignored), stages with no case omitted.
  std::vector<StageCount> CountByStage(const CaseQuery& query);

  /// Assigns (or removes) a partner organisation, recorded in the case's history as
  /// `case.partner_assigned` / `case.partner_unassigned` by `change.meta.actor` (a new case version, so
  /// that no state cached before the change is used to authorize after it); `cases.partners` and
  /// `case_partners` change in the same transaction. Nothing is written when it was so already
  /// (`changed` false). kNotFound for an unknown case or one `change.may_change` refuses,
  /// kVersionConflict for an `expected_version` that is not the case's, kInvalidInput for an unusable
  /// organisation id, kConflict when the case has workflow::kMaxPartnersPerCase partners already.
  CaseChange AssignPartner(std::string_view case_id, const PartnerChange& change);
  CaseChange UnassignPartner(std::string_view case_id, const PartnerChange& change);

  // --- The engine's clock -------------------------------------------------------------------------

  /// Claims up to `limit` timers due at `now` that nobody holds (a lease until `lease_until`; PostgreSQL
  /// FOR UPDATE SKIP LOCKED, so engines sharing a database claim disjoint timers), earliest first.
  std::vector<DueTimer> ClaimDueTimers(Timestamp now, std::size_t limit, Timestamp lease_until);
  /// Gives a claimed timer back to be claimed again from `retry_at` (its firing failed), if it is still
  /// the same timer.
  void ReleaseTimer(const DueTimer& timer, Timestamp retry_at);
  /// Removes a claimed timer that its case no longer has (the apply found it superseded).
  void DropTimer(const DueTimer& timer);
  /// The case's timers, by kind.
  std::vector<CaseTimer> Timers(std::string_view case_id);
  /// The earliest due timer nobody holds, if any (how long the scheduler may sleep).
  std::optional<Timestamp> NextDue();
  /// Timers due at `now` and not yet fired (a metric).
  std::int64_t CountDue(Timestamp now);
  /// The case's waiting events, in arrival order.
  std::vector<WaitingEvent> Inbox(std::string_view case_id);
  /// Writes every case's timers afresh from its state (after the migration that introduced them).
  std::size_t RebuildTimers();

  // --- Incidents ----------------------------------------------------------------------------------

  /// Opens an incident outside an event (a timer that kept failing, a case that cannot be read); one
  /// open incident per (case, kind, subject). Returns whether it was new.
  bool OpenIncident(std::string_view case_id, std::string_view kind, std::string_view subject);
  IncidentPage Incidents(const IncidentQuery& query);
  std::optional<Incident> FindIncident(std::string_view incident_id);
  /// Closes an open incident, recording who resolved it; false when it was not open.
  bool ResolveIncident(std::string_view incident_id, std::string_view actor);
  /// Open incidents and overdue cases by kind; waiting events (metrics).
  std::vector<std::pair<std::string, std::int64_t>> OpenIncidentsByKind();
  std::vector<std::pair<std::string, std::int64_t>> OverdueByKind();
  std::int64_t WaitingEvents();

  ProgrammeRepository& Programmes() { return *programmes_; }
  /// Every change from now on writes its notifications to the outbox for `subscriptions`, in the
  /// change's transaction (persistence/outbox.hpp). Null: no outbox (tools, tests of the apply alone).
  void UseSubscriptions(SubscriptionRepository* subscriptions) { subscriptions_ = subscriptions; }

 private:
  Database& database_;
  std::unique_ptr<ProgrammeRepository> own_programmes_;
  ProgrammeRepository* programmes_;
  std::unique_ptr<internal::CaseStateCache> state_cache_;
  SubscriptionRepository* subscriptions_ = nullptr;
};

// ---------------------------------------------------------------------------------------------------
// Personal data reads, audited.

/// Who reads personal data, and why (recorded in the audit table with the case id and the time).
struct PersonalDataAccess {
  std::string actor;    ///< token name or caseworker system id
  std::string purpose;  ///< e.g. "travel_document_request", "caseworker_view"
};

/// One audited access to a case's personal data.
struct PersonalDataRead {
  std::string case_id;
  std::string actor;
  std::string purpose;
  std::string action;  ///< "read", "write", "create", "erase" or "transfer"
  Timestamp read_at{};
  std::string recipient;   ///< a transfer's receiving organisation (empty otherwise)
  std::string categories;  ///< a transfer's data categories ('|identity|travel_document|')
};

/// GET /audit: which audit rows, oldest first, keyset-paged by (accessed_at, access_id). Unset filters
/// match everything. The rows hold ids, actors, actions, purposes, recipients and categories only.
struct AuditQuery {
  std::optional<std::string> case_id;
  std::optional<std::string> actor;
  std::optional<std::string> action;
  std::optional<Timestamp> from;  ///< accessed at or after
  std::optional<Timestamp> to;    ///< accessed before
  std::string cursor;
  std::size_t page_size = 50;
};

struct AuditEntry {
  std::string access_id;
  PersonalDataRead access;  ///< case_id empty for token changes
  std::string member_id;    ///< a correction's member
  std::string field;        ///< a correction's field name (never its value)
  std::string token_name;   ///< a token change's token
};

struct AuditPage {
  std::vector<AuditEntry> entries;
  std::string next_cursor;
};

/// What a transfer may send: member id to categories, and those members' people rows.
struct PersonalDataTransfer {
  std::map<std::string, std::set<workflow::DataCategory>> categories;
  std::vector<PersonalData> people;
};

class PeopleRepository {
 public:
  explicit PeopleRepository(Database& database) : database_(database) {}

  /// The case's people; the read is appended to the audit table in the same transaction (no audit row,
  /// no data). kNotFound for an unknown case.
  std::vector<PersonalData> Read(std::string_view case_id, const PersonalDataAccess& access);
  /// A transfer to a partner organisation: in one transaction, the case's consents as they stand, what
  /// they let go to `recipient` for `purpose` now (workflow::CategoriesToTransfer), the people rows of
  /// those members, and one audit row (action "transfer", the recipient, the purpose and the categories)
  /// when anything goes. A withdrawal committed before this transaction stops the transfer. kNotFound for
  /// an unknown case.
  PersonalDataTransfer ReadForTransfer(std::string_view case_id, const std::string& actor,
                                       const std::string& recipient, workflow::TransferPurpose purpose);
  /// Adds or replaces one member's personal data (audited as a write with the same access record).
  void Upsert(std::string_view case_id, const PersonalData& person, const PersonalDataAccess& access);
  /// Erases all personal data of a case (retention); the case and its anonymous history stay.
  /// Returns the number of people erased.
  std::size_t Erase(std::string_view case_id, const PersonalDataAccess& access);
  /// The audit trail of personal-data access for a case, oldest first.
  std::vector<PersonalDataRead> AuditTrail(std::string_view case_id);
  /// Everything held about the case's people, audited as one "export" row in the same transaction.
  std::vector<PersonalData> Export(std::string_view case_id, const PersonalDataAccess& access);
  /// Corrects one field ("given_names", "family_name", "date_of_birth", "documents" or "contacts") of
  /// `corrected.member_id`'s stored data, taking that field from `corrected`: audited as "correct" with
  /// the member id and the field's NAME, in the same transaction. kNotFound when the member has no row,
  /// kInvalidInput for another field. Returns the member's data as now stored.
  PersonalData Correct(std::string_view case_id, const PersonalData& corrected, std::string_view field,
                       const PersonalDataAccess& access);
  /// The audit across cases (GET /audit). kInvalidInput for a cursor this engine did not give out.
  AuditPage AuditLog(const AuditQuery& query);

  /// Rotation (`returnflow keys rotate`): rewraps every data key not under the current master key
  /// (Database::MasterKeys) under it, `batch` keys per short transaction, while the engine runs; a key
  /// replaced meanwhile (a write of that member) is left to the next batch. Returns how many it rewrapped.
  /// kCorruptData when a data key's master key is not in the keyring or does not open it.
  std::size_t RotateDataKeys(std::size_t batch);
  /// How many data keys each master key id wraps.
  std::map<std::string, long long> DataKeysByMasterKey();

 private:
  std::vector<PersonalData> ReadAudited(std::string_view case_id, const PersonalDataAccess& access, std::string_view action);
  Database& database_;
};

// ---------------------------------------------------------------------------------------------------
// Consent records: the migrant's consent to transfer categories of personal data (workflow/consent.hpp).

/// A consent to record.
struct NewConsent : RecordedChange {
  std::string member_id;
  std::string recipient;
  workflow::TransferPurpose purpose = workflow::TransferPurpose::kTicketing;
  std::set<workflow::DataCategory> categories;
  std::optional<workflow::Instant> given_at;  ///< unset: when it is recorded
  /// Optional idempotency key (per actor): the same key with the same request answers the record it
  /// created; with another request it is a kIdempotencyConflict. Empty: none.
  std::string request_id;
};

/// What recording or withdrawing a consent came to.
struct ConsentChange {
  workflow::ConsentRecord consent;
  CaseChange change;  ///< `changed` false: a repeat (the same idempotency key, or withdrawn already)
};

/// At most this many consent records per case (withdrawn ones count: they are never deleted).
inline constexpr std::size_t kMaxConsentsPerCase = 200;

/// Consents of a case, each change one transaction with its history row (`case.consent_recorded`,
/// `case.consent_withdrawn`) and a new case version, so that a state cached before the change is never
/// taken for the case after it.
class ConsentRepository {
 public:
  explicit ConsentRepository(Database& database) : database_(database) {}

  /// kNotFound (no case, or `may_change` refused), kInvalidInput (a member the case's household does not
  /// have, an unusable recipient, no category, given in the future), kVersionConflict, kConflict (the
  /// case holds kMaxConsentsPerCase records), kIdempotencyConflict.
  ConsentChange Record(std::string_view case_id, const NewConsent& consent);
  /// Withdraws at the engine's time (never deletes). A consent withdrawn already answers unchanged.
  /// kNotFound for a consent this case does not have.
  ConsentChange Withdraw(std::string_view case_id, std::string_view consent_id, const RecordedChange& change);
  /// Every record of the case, oldest first. kNotFound for an unknown case.
  std::vector<workflow::ConsentRecord> List(std::string_view case_id);

 private:
  Database& database_;
};

/// The case's consent records, read on the caller's session inside the caller's transaction (the
/// outbox writer calls it in the transaction that applies an event, so what it transfers is decided on
/// the consents as they are when that transaction commits). Oldest first; empty for an unknown case.
std::vector<workflow::ConsentRecord> LoadConsents(soci::session& sql, std::string_view case_id);

// ---------------------------------------------------------------------------------------------------
// API tokens: stored as SHA-256 hashes only.

/// What a token may reach. Lists hold no '|' (they are stored joined).
struct TokenScope {
  std::string office;                    ///< caseworker: the office
  std::string organisation;              ///< partner: the organisation
  std::vector<std::string> event_types;  ///< partner: the event types it may send
  std::vector<std::string> countries;    ///< supervisor: host/origin countries it reads; "*" = all; empty = none
  std::vector<std::string> sources;      ///< the CloudEvents `source` values its events may carry
  friend bool operator==(const TokenScope&, const TokenScope&) = default;
};

struct TokenRecord {
  std::string token_id;  ///< random UUID
  std::string name;      ///< unique, human-chosen, pseudonymous (used as the actor id)
  workflow::Role role = workflow::Role::kCaseworker;
  TokenScope scope;
  std::string hash_hex;  ///< SHA-256 of the secret, lower-case hex
  Timestamp created_at{};
  std::optional<Timestamp> revoked_at;
  bool Active() const { return !revoked_at.has_value(); }
};

/// SHA-256 of `data`, lower-case hex (OpenSSL EVP): the engine's one hash helper (token digests,
/// idempotency fingerprints).
std::string Sha256Hex(std::string_view data);

class TokenRepository {
 public:
  explicit TokenRepository(Database& database) : database_(database) {}

  /// Stores a token under the hash of `secret` (the secret itself is not stored). kConflict when the
  /// name or the hash already exists.
  /// Audited (action "token_create", the token's name, `actor`) in the same transaction; so is Revoke.
  TokenRecord Create(std::string_view name, workflow::Role role, const TokenScope& scope, std::string_view secret,
                     std::string_view actor = "returnflow:cli");
  /// The token whose hash is `hash_hex`, revoked or not (callers check Active()).
  std::optional<TokenRecord> FindByHash(std::string_view hash_hex);
  std::optional<TokenRecord> FindBySecret(std::string_view secret) { return FindByHash(Sha256Hex(secret)); }
  std::optional<TokenRecord> FindByName(std::string_view name);
  std::vector<TokenRecord> List();
  /// Revokes by name; returns false when there is no such active token.
  bool Revoke(std::string_view name, std::string_view actor = "returnflow:cli");
  std::size_t Count();

 private:
  Database& database_;
};

// ---------------------------------------------------------------------------------------------------
// Verification after upgrades.

struct VerifyMismatch {
  std::string case_id;
  std::string detail;  ///< which part differs; pseudonymous
};

struct VerifyReport {
  std::int64_t cases_checked = 0;
  std::int64_t events_replayed = 0;
  std::vector<VerifyMismatch> mismatches;
  bool Ok() const { return mismatches.empty(); }
};

/// Replays every case's stored history from its `case.opened` context and compares the result with
/// the saved state (and the stage and state columns). Reads one case at a time.
VerifyReport VerifyAllCases(Database& database);
/// The same for one case.
std::optional<VerifyMismatch> VerifyCase(Database& database, std::string_view case_id);

}  // namespace returnflow::persistence
