#pragma once
/// The engine's use cases: what callers of any transport may ask, authorized, validated and carried out
/// against the store. No HTTP here: the transport decodes requests into the types below, calls, and
/// encodes what comes back; every failure is a Failure of a kind (engine/failure.hpp).
///
/// Blocking database work runs on the worker pool; the awaitables resume on the caller's executor.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/value.hpp>

#include "config/settings.hpp"
#include "engine/event_envelope.hpp"
#include "engine/failure.hpp"
#include "engine/principal.hpp"
#include "engine/tokens.hpp"
#include "engine/views.hpp"
#include "persistence/checkpoints.hpp"
#include "persistence/outbox.hpp"
#include "persistence/repository.hpp"

namespace returnflow::engine {

class DeliveryWorker;
class EngineObserver;
class FeedSignal;
class GroupCommitter;
class WebhookSender;
class ProgrammeWatcher;
class Scheduler;

/// What one event came to: its durable outcome (cut to what the sender may see), or why there is none.
struct EventResult {
  std::optional<persistence::ApplyOutcome> outcome;
  std::optional<Failure> failure;
  EventEnvelope event;  ///< id, source and type, for the answer (data dropped)
};

struct HistoryPage {
  std::vector<persistence::HistoryEntry> entries;  ///< as the reader may see them
  std::optional<std::int64_t> next_after;          ///< the `after` of the next page, if there may be one
};

/// GET /cases/{id}/people: everything held about the case's people (engine/audit.cpp).
struct PeopleExport {
  std::vector<persistence::PersonalData> people;
  std::vector<persistence::HistoryEntry> history;
};

struct SearchPage {
  std::vector<CaseView> cases;
  std::string next_cursor;
  std::vector<persistence::StageCount> counts_by_stage;
};

/// A programme as administrators see it: its latest definition and every version stored.
struct ProgrammeInfo {
  workflow::Programme programme;
  std::vector<persistence::ProgrammeVersion> versions;
};

struct ProgrammeRegistration {
  workflow::Programme programme;  ///< the version stored (the latest, when nothing changed)
  bool created = false;           ///< a new version was registered
};

/// A checkpoint just signed, with the public key that checks it.
struct CreatedCheckpoint {
  persistence::Checkpoint checkpoint;
  std::string public_key_pem;
};

/// What moving the testing clock did.
struct ClockAdvance {
  persistence::Timestamp now{};  ///< the engine's time afterwards
  std::size_t fired = 0;         ///< timers fired until nothing more was due
};

/// What an admin may change of a subscription (unset: unchanged).
struct SubscriptionPatch {
  std::optional<std::vector<std::string>> notifications;
  std::optional<std::string> url;
  std::optional<bool> enabled;
};

/// GET /feed: where to start (an opaque cursor, empty for the beginning), how many, how long to wait for
/// the first one.
struct FeedRequest {
  std::string cursor;
  std::size_t limit = 50;
  std::chrono::milliseconds wait{0};
};

struct FeedResult {
  std::vector<boost::json::object> events;  ///< CloudEvents, as a webhook would carry them
  std::string next_cursor;                  ///< where the next read starts (also when nothing came)
};

class Engine {
 public:
  Engine(persistence::Database& database, const config::Settings& settings, boost::asio::thread_pool& workers,
         EngineObserver* observer);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// The principal of a bearer secret (kUnauthenticated for an unknown or revoked one). Verified
  /// tokens are remembered for auth.token_cache_ttl (at most a second); a revocation here is immediate.
  boost::asio::awaitable<Principal> Authenticate(std::string secret);

  /// A caseworker's referral (kForbidden unless for its own office). `idempotency_key`, when not empty,
  /// makes a repeat with the same content return the same case and with other content kIdempotencyConflict.
  boost::asio::awaitable<CaseView> CreateCase(Principal principal, persistence::NewCase new_case,
                                              std::string idempotency_key);
  /// One case as the caller may see it; with `personal_data_purpose`, its people (caseworkers of the
  /// office only, the read audited in the same transaction).
  boost::asio::awaitable<CaseView> GetCase(Principal principal, std::string case_id,
                                           std::optional<workflow::AccessPurpose> personal_data_purpose);
  /// One case as a partner may see it, with the personal data it may receive for `purpose`: only a
  /// partner serving that part (kForbidden otherwise, before the case is looked at), only the categories
  /// the purpose needs and the migrant's consent in effect now allows, the transfer audited.
  boost::asio::awaitable<CaseView> GetCaseForTransfer(Principal principal, std::string case_id,
                                                      workflow::TransferPurpose purpose);
  boost::asio::awaitable<HistoryPage> CaseHistory(Principal principal, std::string case_id, std::int64_t after,
                                                  std::size_t limit);
  /// Caseworkers search their office, supervisors their countries.
  boost::asio::awaitable<SearchPage> SearchCases(Principal principal, persistence::CaseQuery query, bool with_counts);

  /// Validates, authorizes and applies one event; never throws for the event's own faults (they are the
  /// result's failure).
  boost::asio::awaitable<EventResult> SubmitEvent(Principal principal, EventEnvelope event,
                                                  std::optional<std::int64_t> if_match);
  /// A batch: each case's events in batch order, different cases concurrently; items the transport could
  /// not decode arrive as their failure and are answered with it.
  boost::asio::awaitable<std::vector<EventResult>> SubmitBatch(Principal principal,
                                                               std::vector<std::variant<EventEnvelope, Failure>> items);

  boost::asio::awaitable<CreatedToken> CreateToken(Principal principal, NewToken token);
  boost::asio::awaitable<std::vector<persistence::TokenRecord>> ListTokens(Principal principal);
  boost::asio::awaitable<void> RevokeToken(Principal principal, std::string name);

  boost::asio::awaitable<bool> Ready();

  // --- Subscriptions, the outbox and the feed (engine/subscriptions.cpp) --------------------------
  /// Admins only. The created subscription carries its secret (shown once).
  boost::asio::awaitable<persistence::Subscription> CreateSubscription(Principal principal,
                                                                       persistence::Subscription subscription);
  boost::asio::awaitable<std::vector<persistence::Subscription>> ListSubscriptions(Principal principal);
  boost::asio::awaitable<persistence::Subscription> GetSubscription(Principal principal, std::string subscription_id);
  boost::asio::awaitable<persistence::Subscription> UpdateSubscription(Principal principal, std::string subscription_id,
                                                                       SubscriptionPatch patch,
                                                                       std::optional<std::int64_t> if_match);
  boost::asio::awaitable<void> DeleteSubscription(Principal principal, std::string subscription_id);
  /// A new secret (shown once); the previous one keeps signing for delivery.secret_overlap.
  boost::asio::awaitable<persistence::Subscription> RotateSubscriptionSecret(Principal principal,
                                                                             std::string subscription_id);
  boost::asio::awaitable<std::vector<persistence::DeliveryAttempt>> ListDeliveryAttempts(Principal principal,
                                                                                        std::string subscription_id,
                                                                                        std::size_t limit);
  /// A subscription's notifications in one status ("pending", "delivered", "dead"; "" for all).
  boost::asio::awaitable<std::vector<persistence::OutboxNotification>> ListNotifications(Principal principal,
                                                                                        std::string subscription_id,
                                                                                        std::string status,
                                                                                        std::size_t limit);
  /// Sends the notifications created in [from, to] again (audited with the admin and the time).
  boost::asio::awaitable<persistence::ReplayRecord> ReplayNotifications(Principal principal, std::string subscription_id,
                                                                        persistence::Timestamp from,
                                                                        persistence::Timestamp to);
  boost::asio::awaitable<std::vector<persistence::ReplayRecord>> ListReplays(Principal principal,
                                                                             std::string subscription_id);
  /// The caller's own feed (a partner's organisation, a caseworker's office, with a feed subscription).
  boost::asio::awaitable<FeedResult> ReadFeed(Principal principal, FeedRequest request);
  /// The transport's webhook client; delivery starts with StartClock once one is set.
  void UseWebhookSender(WebhookSender* sender) { sender_ = sender; }

  // --- Programmes --------------------------------------------------------------------------------
  /// Every programme's latest version (caseworkers, supervisors, admins).
  boost::asio::awaitable<std::vector<workflow::Programme>> ListProgrammes(Principal principal);
  boost::asio::awaitable<ProgrammeInfo> GetProgramme(Principal principal, std::string code);
  /// An admin defines or changes a programme (the authoring shape of engine/programmes.hpp); a changed
  /// definition becomes the next version, an unchanged one answers the latest. kInvalidDefinition lists
  /// every error.
  boost::asio::awaitable<ProgrammeRegistration> PutProgramme(Principal principal, std::string code,
                                                             boost::json::value definition);

  // --- Incidents ---------------------------------------------------------------------------------
  /// Caseworkers see their office's incidents, supervisors their countries'.
  boost::asio::awaitable<persistence::IncidentPage> ListIncidents(Principal principal, persistence::IncidentQuery query);
  /// Resolves an open incident after checking that what it reports is no longer so (kConditionHolds
  /// otherwise); recorded with who resolved it.
  boost::asio::awaitable<persistence::Incident> ResolveIncident(Principal principal, std::string incident_id);

  // --- The personal-data audit (engine/audit.cpp) -------------------------------------------------
  /// Auditors and admins read every audit row (reads, writes, creations, erasures, transfers, exports,
  /// corrections); kForbidden for other roles, kInvalidRequest for a cursor not given out here.
  boost::asio::awaitable<persistence::AuditPage> Audit(Principal principal, persistence::AuditQuery query);
  /// A caseworker of the case's office exports its people's personal data and the case's history
  /// (audited "export" with the read, in one transaction). The same rule as a personal-data read.
  boost::asio::awaitable<PeopleExport> ExportPeople(Principal principal, std::string case_id);
  /// A caseworker of the case's office corrects one field of one member (audited "correct" with the
  /// field's name). Returns the member's data as now stored.
  boost::asio::awaitable<persistence::PersonalData> CorrectPerson(Principal principal, std::string case_id,
                                                                  persistence::PersonalData corrected, std::string field);

  // --- Partners and consent (engine/case_parties.cpp) ---------------------------------------------
  /// Assigns a partner organisation to a case (caseworkers of the case's office, admins): a history entry
  /// and a new case version; the organisation's tokens see the case from the next request on. Assigning
  /// one already assigned changes nothing (`changed` false). `if_match`: the case version the caller saw.
  boost::asio::awaitable<persistence::CaseChange> AssignPartner(Principal principal, std::string case_id,
                                                                std::string organisation,
                                                                std::optional<std::int64_t> if_match);
  /// Unassigns one: its very next request about the case is answered as for an unknown case.
  boost::asio::awaitable<persistence::CaseChange> UnassignPartner(Principal principal, std::string case_id,
                                                                  std::string organisation,
                                                                  std::optional<std::int64_t> if_match);
  /// Records a consent (caseworkers of the case's office). The member defaults to the household's only
  /// member; a household of several must name one.
  boost::asio::awaitable<persistence::ConsentChange> RecordConsent(Principal principal, std::string case_id,
                                                                   persistence::NewConsent consent);
  /// Withdraws a consent at once (caseworkers of the case's office); the record stays.
  boost::asio::awaitable<persistence::ConsentChange> WithdrawConsent(Principal principal, std::string case_id,
                                                                     std::string consent_id,
                                                                     std::optional<std::int64_t> if_match);
  /// The case's consents as the caller may see them (views.hpp).
  boost::asio::awaitable<ConsentList> ListConsents(Principal principal, std::string case_id);

  /// An admin approves the erasure a caseworker requested for a closed case (personal_data.erased with
  /// basis "request", the admin as its actor): the people rows and their data keys go with the history
  /// row. Never throws for the event's own faults (they are the result's failure).
  boost::asio::awaitable<EventResult> ApproveErasure(Principal principal, std::string case_id,
                                                     std::optional<std::int64_t> if_match);

  // --- The clock ---------------------------------------------------------------------------------
  /// Registers the programme folder's definitions (or the built-in example), rebuilds timers after an
  /// upgrade from a schema without them. Blocking; call once before serving.
  void Prepare(int schema_version_before_migration);
  /// Starts the scheduler and the programme folder's watcher (per the settings); StopClock stops both.
  void StartClock();
  void StopClock();
  /// The testing clock (settings.testing_clock only, admins only): moves the engine's time forward and
  /// fires everything that became due.
  boost::asio::awaitable<ClockAdvance> AdvanceClock(Principal principal, std::chrono::seconds by);
  /// Signs a checkpoint over every case's history head now (admins only; kNotConfigured when no signing
  /// key is configured).
  boost::asio::awaitable<CreatedCheckpoint> CreateCheckpoint(Principal principal);
  /// The engine's time (the wall clock, plus what the testing clock added).
  persistence::Timestamp Now() const { return database_.Now(); }

  /// Creates an admin token named "admin" when the database holds none; returns its secret (to be shown
  /// once) or nullopt. Blocking.
  std::optional<std::string> BootstrapAdminToken();

  persistence::Database& Database() { return database_; }
  const config::Settings& Settings() const { return settings_; }

 private:
  /// Runs blocking work on the worker pool and resumes on the caller's executor.
  ///
  /// Call it with a named callable (`auto work = [..] {..}; co_await Blocking(std::move(work));`):
  /// GCC 12 may destroy a class-type temporary of a co_await full-expression twice, so no temporary
  /// that owns memory may appear in one. The callable is moved into co_spawn's own frame.
  template <typename Function>
  boost::asio::awaitable<std::invoke_result_t<std::decay_t<Function>&>> Blocking(Function&& function) {
    using Result = std::invoke_result_t<std::decay_t<Function>&>;
    return boost::asio::co_spawn(
        workers_.get_executor(),
        [work = std::forward<Function>(function)]() mutable -> boost::asio::awaitable<Result> { co_return work(); },
        boost::asio::use_awaitable);
  }

  /// The case if it exists and the caller may see it; kNotFound otherwise (a foreign case answers like an
  /// unknown one, after the same query).
  boost::asio::awaitable<persistence::CaseRecord> VisibleCase(const Principal& principal, const std::string& case_id);
  /// The case, when the caller may see its people's personal data: 404 as VisibleCase, 403 for a caller
  /// who may see the case but not its people (engine/audit.cpp; GetCase with a purpose asks the same).
  boost::asio::awaitable<persistence::CaseRecord> PersonalDataCase(const Principal& principal, const std::string& case_id);
  /// Takes the case id by value: a coroutine keeps its parameters, not what a reference pointed to.
  boost::asio::awaitable<persistence::ApplyOutcome> Apply(std::string case_id, persistence::IncomingEvent event);
  /// SubmitEvent's body: throws Failure.
  boost::asio::awaitable<persistence::ApplyOutcome> SubmitOrThrow(const Principal& principal, EventEnvelope& event,
                                                                  std::optional<std::int64_t> if_match);

  /// AssignPartner and UnassignPartner.
  boost::asio::awaitable<persistence::CaseChange> ChangePartner(Principal principal, std::string case_id,
                                                                std::string organisation,
                                                                std::optional<std::int64_t> if_match, bool assign);

  /// The incidents query as the principal may make it (its scope added; kForbidden for other roles).
  persistence::IncidentQuery ScopedIncidents(const Principal& principal, persistence::IncidentQuery query) const;

  persistence::Database& database_;
  const config::Settings& settings_;
  boost::asio::thread_pool& workers_;
  EngineObserver* observer_;
  persistence::ProgrammeRepository programmes_;
  persistence::CaseRepository cases_;
  persistence::PeopleRepository people_;
  persistence::TokenRepository tokens_;
  persistence::ConsentRepository consents_;
  persistence::CheckpointRepository checkpoints_;
  std::optional<persistence::SigningKey> signing_key_;
  std::unique_ptr<GroupCommitter> committer_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ProgrammeWatcher> watcher_;
  persistence::SubscriptionRepository subscriptions_;
  persistence::OutboxRepository outbox_;
  WebhookSender* sender_ = nullptr;
  std::unique_ptr<DeliveryWorker> delivery_;
  std::unique_ptr<FeedSignal> feed_signal_;
  /// A commit wrote notifications: wake the delivery worker and the feed's long polls.
  void Notified();

  /// Verified tokens by digest, until their expiry.
  struct CachedPrincipal {
    Principal principal;
    std::string hash;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex token_cache_mutex_;
  std::unordered_map<std::string, CachedPrincipal> token_cache_;
};

}  // namespace returnflow::engine
