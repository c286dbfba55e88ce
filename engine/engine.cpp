#include "engine/engine.hpp"

#include <algorithm>
#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/authorization.hpp"
#include "engine/checkpoints.hpp"
#include "engine/delivery.hpp"
#include "engine/feed_signal.hpp"
#include "engine/group_commit.hpp"
#include "engine/log_text.hpp"
#include "engine/observer.hpp"
#include "engine/programmes.hpp"
#include "engine/scheduler.hpp"
#include "workflow/case.hpp"
#include "workflow/incidents.hpp"
#include "workflow/reasons.hpp"
#include "workflow/timers.hpp"

namespace returnflow::engine {

namespace net = boost::asio;
namespace json = boost::json;

namespace {

[[noreturn]] void Forbid(std::string detail) { throw Failure(FailureKind::kForbidden, std::move(detail)); }
[[noreturn]] void NotFound() { throw Failure(FailureKind::kNotFound, "no case with this id is visible to the caller"); }

}  // namespace

Engine::Engine(persistence::Database& database, const config::Settings& settings, net::thread_pool& workers,
               EngineObserver* observer)
    : database_(database),
      settings_(settings),
      workers_(workers),
      observer_(observer),
      programmes_(database),
      cases_(database, programmes_, static_cast<std::size_t>(settings.group_commit.cached_cases)),
      people_(database),
      tokens_(database),
      consents_(database),
      checkpoints_(database),
      signing_key_(LoadSigningKey(settings.history, database.Options())),
      subscriptions_(database, settings.delivery.subscriptions_refresh),
      outbox_(database),
      feed_signal_(std::make_unique<FeedSignal>()) {
  cases_.UseSubscriptions(&subscriptions_);
  if (settings.group_commit.enabled) {
    committer_ = std::make_unique<GroupCommitter>(
        cases_, workers_, settings.group_commit.EffectiveMaxInFlight(static_cast<int>(database.PoolSize())),
        static_cast<std::size_t>(settings.group_commit.max_group), observer_, settings.scheduler.max_groups_in_flight,
        static_cast<std::size_t>(settings.scheduler.group_size));
  }
  scheduler_ = std::make_unique<Scheduler>(
      cases_, database_, workers_, settings_.scheduler, observer_,
      [this](std::string case_id, persistence::IncomingEvent event) { return Apply(case_id, std::move(event)); });
  if (signing_key_ && settings_.history.checkpoint_interval.count() > 0) {
    scheduler_->Every(
        std::chrono::duration_cast<std::chrono::microseconds>(settings_.history.checkpoint_interval),
        [this]() -> std::optional<persistence::Timestamp> {
          const auto latest = checkpoints_.Latest();
          if (!latest) return std::nullopt;
          return latest->created_at;
        },
        [this] { checkpoints_.Create(*signing_key_); });
  }
}

Engine::~Engine() { StopClock(); }

void Engine::Prepare(int schema_version_before_migration) {
  LogLoad(LoadProgrammesAtStart(settings_.programmes.directory, programmes_));
  // A database from before the engine kept time has cases but no timers: give every case its timers.
  if (schema_version_before_migration > 0 && schema_version_before_migration < 4) {
    const auto rebuilt = cases_.RebuildTimers();
    spdlog::info("event=timers_rebuilt cases={}", rebuilt);
  }
}

void Engine::StartClock() {
  if (settings_.scheduler.enabled) scheduler_->Start();
  if (settings_.delivery.enabled && sender_ && !delivery_) {
    delivery_ = std::make_unique<DeliveryWorker>(database_, subscriptions_, tokens_, workers_, settings_.delivery,
                                                 observer_, *sender_);
    delivery_->Start();
  }
  if (!watcher_) {
    watcher_ = std::make_unique<ProgrammeWatcher>(settings_.programmes.directory, settings_.programmes.rescan_interval,
                                                  programmes_);
  }
}

void Engine::StopClock() {
  if (scheduler_) scheduler_->Stop();
  if (delivery_) delivery_->Stop();
  watcher_.reset();
}

net::awaitable<ClockAdvance> Engine::AdvanceClock(Principal principal, std::chrono::seconds by) {
  if (!settings_.testing_clock) throw Failure(FailureKind::kNotFound, "there is no testing clock");
  if (!CanMoveTestingClock(principal)) Forbid("only admin tokens move the testing clock");
  if (by.count() < 0) throw Failure(FailureKind::kInvalidRequest, "the clock moves forward only", "/advance");
  database_.AdvanceClock(std::chrono::duration_cast<std::chrono::microseconds>(by));
  spdlog::info("event=testing_clock_advanced actor={} seconds={}", principal.actor, by.count());
  auto drain = scheduler_->Drain();
  const std::size_t fired = co_await std::move(drain);
  // Retries whose time has come go out now.
  Notified();
  co_return ClockAdvance{database_.Now(), fired};
}

net::awaitable<CreatedCheckpoint> Engine::CreateCheckpoint(Principal principal) {
  if (!CanCreateCheckpoints(principal)) Forbid("only admin tokens create checkpoints");
  if (!signing_key_) {
    throw Failure(FailureKind::kNotConfigured,
                  "checkpoints are disabled: no signing key is configured (history.signing_key)");
  }
  auto create = [this] { return CreatedCheckpoint{checkpoints_.Create(*signing_key_), signing_key_->PublicKeyPem()}; };
  try {
    auto created = co_await Blocking(std::move(create));
    spdlog::info("event=checkpoint_requested actor={} checkpoint={}", principal.actor, created.checkpoint.id);
    co_return created;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
}

std::optional<std::string> Engine::BootstrapAdminToken() {
  if (tokens_.Count() > 0) return std::nullopt;
  std::string secret = GenerateToken();
  tokens_.Create("admin", Role::kAdmin, {}, secret);
  spdlog::info("event=admin_token_created name=admin");
  return secret;
}

// --- Authentication ------------------------------------------------------------------------------------

net::awaitable<Principal> Engine::Authenticate(std::string secret) {
  if (secret.empty()) throw Failure(FailureKind::kUnauthenticated, "a bearer token is required");
  const std::string hash = HashToken(secret);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(token_cache_mutex_);
    const auto found = token_cache_.find(hash);
    if (found != token_cache_.end()) {
      if (found->second.expires > now && DigestsEqual(found->second.hash, hash)) co_return found->second.principal;
      token_cache_.erase(found);
    }
  }
  auto lookup_token = [this, hash] { return tokens_.FindByHash(hash); };
  std::optional<persistence::TokenRecord> record;
  try {
    record = co_await Blocking(std::move(lookup_token));
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
  // The lookup is by digest (an index), so timing reveals nothing about the secret; the stored digest is
  // still compared in constant time before it is trusted.
  if (!record || !record->Active() || !DigestsEqual(record->hash_hex, hash)) {
    spdlog::info("event=authentication_failed reason={}", record ? "revoked" : "unknown_token");
    throw Failure(FailureKind::kUnauthenticated, "the token is unknown or revoked");
  }
  Principal principal = PrincipalFromToken(*record);
  {
    std::lock_guard lock(token_cache_mutex_);
    if (token_cache_.size() > 10'000) token_cache_.clear();
    token_cache_[hash] = CachedPrincipal{principal, hash, now + settings_.auth.token_cache_ttl};
  }
  co_return principal;
}

// --- Cases -----------------------------------------------------------------------------------------------

net::awaitable<persistence::CaseRecord> Engine::VisibleCase(const Principal& principal, const std::string& case_id) {
  auto find_case = [this, case_id] { return cases_.Find(case_id); };
  std::optional<persistence::CaseRecord> record;
  try {
    record = co_await Blocking(std::move(find_case));
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
  if (!record) NotFound();
  if (!CanSeeCase(principal, record->Scope())) {
    spdlog::info("event=authorization_refused actor={} case={} reason=not_visible", principal.actor, case_id);
    NotFound();
  }
  co_return std::move(*record);
}

net::awaitable<CaseView> Engine::CreateCase(Principal principal, persistence::NewCase new_case,
                                            std::string idempotency_key) {
  if (principal.role != Role::kCaseworker) Forbid("only caseworkers create cases");
  if (!CanCreateCase(principal, new_case.office)) Forbid("a caseworker creates cases for its own office only");
  new_case.meta.actor = principal.actor;
  if (new_case.meta.occurred_at == workflow::Instant{}) {
    new_case.meta.occurred_at = std::chrono::floor<std::chrono::seconds>(database_.Now());
  }
  // The programme's rules are server-side data: the referral names the programme, and the case is
  // pinned to its latest version.
  auto find_programme = [this, code = new_case.programme] { return programmes_.Latest(code); };
  std::shared_ptr<const workflow::Programme> programme;
  try {
    programme = co_await Blocking(std::move(find_programme));
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
  if (!programme) {
    throw Failure(FailureKind::kUnknownProgramme,
                  "the referral names a programme this server does not have; see GET /programmes", "/programme")
        .WithReason(std::string(workflow::reasons::kUnknownProgramme.code));
  }
  new_case.context.programme = workflow::ProgrammeRef{programme->code, programme->version};
  new_case.context.opened_at = new_case.meta.occurred_at;
  if (!idempotency_key.empty()) {
    // Keys are per token: one caller's key never answers another's request.
    new_case.request_source = "token:" + principal.actor;
    new_case.request_id = std::move(idempotency_key);
  }
  auto create_case = [this, new_case = std::move(new_case), principal]() {
    auto created = cases_.Create(new_case);
    auto machine = workflow::Case::Restore(created.saved_state);
    return DetailView(principal, created, machine);
  };
  try {
    auto view = co_await Blocking(std::move(create_case));
    Notified();
    co_return view;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  } catch (const workflow::RestoreFailed&) {
    throw Failure(FailureKind::kCorruptCase, "the stored case cannot be read by this version of the engine");
  }
}

net::awaitable<CaseView> Engine::GetCase(Principal principal, std::string case_id,
                                         std::optional<workflow::AccessPurpose> personal_data_purpose) {
  if (principal.role == Role::kAdmin) Forbid("admin tokens manage tokens; they do not read cases");
  persistence::CaseRecord record;
  if (personal_data_purpose) {
    record = co_await PersonalDataCase(principal, case_id);
  } else {
    record = co_await VisibleCase(principal, case_id);
  }
  auto render_case = [this, record, principal, personal_data_purpose] {
    auto machine = workflow::Case::Restore(record.saved_state);
    auto view = DetailView(principal, record, machine);
    if (principal.role != Role::kPartner) {
      const auto& reference = machine.Context().programme;
      auto programme = programmes_.Find(reference.code.empty() ? record.programme : reference.code, reference.version);
      ClockView clock;
      clock.deadlines = workflow::Deadlines(machine, programme ? *programme : workflow::Programme{},
                                            std::chrono::floor<std::chrono::seconds>(record.stage_entered_at));
      clock.timers = cases_.Timers(record.case_id);
      clock.inbox = cases_.Inbox(record.case_id);
      persistence::IncidentQuery open_incidents;
      open_incidents.case_id = record.case_id;
      open_incidents.open = true;
      open_incidents.page_size = persistence::kMaxPageSize;
      clock.incidents = cases_.Incidents(open_incidents).incidents;
      AddClockView(principal, machine, std::move(clock), view);
    }
    if (personal_data_purpose) {
      // The read and its audit row are one transaction in the repository: no audit, no data.
      view.personal_data = people_.Read(record.case_id, {principal.actor, std::string(workflow::Name(*personal_data_purpose))});
    }
    return view;
  };
  try {
    auto view = co_await Blocking(std::move(render_case));
    if (personal_data_purpose) {
      spdlog::info("event=personal_data_read actor={} case={} purpose={}", principal.actor, case_id,
                   workflow::Name(*personal_data_purpose));
    }
    co_return view;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  } catch (const workflow::RestoreFailed&) {
    spdlog::error("event=case_unreadable case={}", case_id);
    throw Failure(FailureKind::kCorruptCase, "the stored case cannot be read by this version of the engine");
  }
}

net::awaitable<CaseView> Engine::GetCaseForTransfer(Principal principal, std::string case_id,
                                                    workflow::TransferPurpose purpose) {
  if (principal.role != Role::kPartner) Forbid("a transfer purpose is a partner's; caseworkers read with a purpose of theirs");
  if (!ServesPurpose(principal, purpose)) {
    spdlog::info("event=authorization_refused actor={} reason=transfer_purpose purpose={}", principal.actor,
                 workflow::Name(purpose));
    Forbid("personal data for this purpose goes only to the partner serving that part of the return");
  }
  auto view = co_await GetCase(principal, case_id, std::nullopt);
  auto transfer = [this, principal, case_id, purpose] {
    auto sent = people_.ReadForTransfer(case_id, principal.actor, principal.organisation, purpose);
    auto record = cases_.Get(case_id);
    const auto machine = workflow::Case::Restore(record.saved_state);
    return MinimalPersonalData(sent.people, machine.Context().household, sent.categories);
  };
  try {
    view.minimal_personal_data = co_await Blocking(std::move(transfer));
    co_return view;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  } catch (const workflow::RestoreFailed&) {
    throw Failure(FailureKind::kCorruptCase, "the stored case cannot be read by this version of the engine");
  }
}

net::awaitable<HistoryPage> Engine::CaseHistory(Principal principal, std::string case_id, std::int64_t after,
                                                std::size_t limit) {
  if (principal.role == Role::kAdmin) Forbid("admin tokens manage tokens; they do not read cases");
  co_await VisibleCase(principal, case_id);
  auto read_history = [this, case_id, after, limit] { return cases_.History(case_id, after, limit); };
  std::vector<persistence::HistoryEntry> entries;
  try {
    entries = co_await Blocking(std::move(read_history));
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
  HistoryPage page;
  if (entries.size() == limit && !entries.empty()) page.next_after = entries.back().sequence;
  for (auto& entry : entries) {
    if (auto visible = EntryView(principal, std::move(entry))) page.entries.push_back(std::move(*visible));
  }
  co_return page;
}

net::awaitable<SearchPage> Engine::SearchCases(Principal principal, persistence::CaseQuery query, bool with_counts) {
  if (!CanSearch(principal)) Forbid("search is for caseworkers and supervisors");
  if (principal.role == Role::kCaseworker) {
    // A caseworker's search is always within its office: asking for another office finds nothing.
    if (query.office && *query.office != principal.office) co_return SearchPage{};
    query.office = principal.office;
  } else {
    query.countries_any = SearchCountries(principal);
  }
  auto search = [this, query, with_counts, principal] {
    auto page = cases_.Search(query);
    SearchPage result;
    for (const auto& record : page.cases) result.cases.push_back(SummaryView(principal, record));
    result.next_cursor = std::move(page.next_cursor);
    if (with_counts) result.counts_by_stage = cases_.CountByStage(query);
    return result;
  };
  try {
    auto page = co_await Blocking(std::move(search));
    co_return page;
  } catch (const persistence::PersistenceError& error) {
    if (error.Kind() == persistence::ErrorKind::kInvalidInput) {
      throw Failure(FailureKind::kInvalidRequest, "'cursor' is not a cursor this engine gave out", "cursor");
    }
    throw FromPersistence(error);
  }
}

// --- Events ----------------------------------------------------------------------------------------------

net::awaitable<persistence::ApplyOutcome> Engine::Apply(std::string case_id, persistence::IncomingEvent event) {
  if (!committer_) {
    auto apply_event = [this, case_id, event = std::move(event)] { return cases_.Apply(case_id, event); };
    auto outcome = co_await Blocking(std::move(apply_event));
    if (outcome.notifications > 0) Notified();
    co_return outcome;
  }
  persistence::GroupItem item{case_id, std::move(event)};
  auto result = co_await committer_->AsyncApply(std::move(item), net::use_awaitable);
  if (result.outcome) {
    if (result.outcome->notifications > 0) Notified();
    co_return std::move(*result.outcome);
  }
  throw persistence::PersistenceError(result.error.value_or(persistence::ErrorKind::kUnavailable), result.error_message);
}

net::awaitable<persistence::ApplyOutcome> Engine::SubmitOrThrow(const Principal& principal, EventEnvelope& event,
                                                                std::optional<std::int64_t> if_match) {
  // What the caller may do is decided before anything about the case is: the answers below say nothing
  // about whether the case exists.
  if (principal.role == Role::kAdmin) Forbid("admin tokens do not send events");
  const auto& known = workflow::AllEventNames();
  if (std::find(known.begin(), known.end(), event.type) == known.end()) {
    throw Failure(FailureKind::kUnknownEventType, "the event type is not one the workflow knows; see GET /workflow",
                  "/type");
  }
  if (!CanSendEvent(principal, event.type)) {
    spdlog::info("event=authorization_refused actor={} case={} type={} reason=event_type", principal.actor,
                 Caller{event.subject}, event.type);
    Forbid("this token may not send events of this type");
  }
  if (!CanUseSource(principal, event.source)) {
    spdlog::info("event=authorization_refused actor={} case={} type={} reason=source", principal.actor,
                 Caller{event.subject}, event.type);
    Forbid("this token's events must carry one of the sources registered for it (see its scope.sources)");
  }
  workflow::DecodeError decode_error;
  auto decoded = workflow::DecodeEvent(event.type, event.data, decode_error);
  if (!decoded) {
    throw Failure(FailureKind::kInvalidEventData, "data: " + decode_error.detail, "/data" + decode_error.pointer);
  }
  persistence::IncomingEvent incoming;
  incoming.source = event.source;
  incoming.event_id = event.id;
  incoming.type = event.type;
  // An empty object and no data are the same event (a structured `"data": {}` and a binary event without
  // a body), so a redelivery in another content mode is a replay.
  const bool no_data = event.data.is_null() || (event.data.is_object() && event.data.get_object().empty());
  incoming.data_json = no_data ? std::string() : json::serialize(event.data);
  incoming.event = std::move(*decoded);
  incoming.meta.actor = principal.actor;
  incoming.meta.occurred_at = event.time;
  incoming.expected_version = if_match;
  incoming.visible_to = [principal](const persistence::CaseScope& scope) { return CanSeeCase(principal, scope); };
  // An event the case cannot take yet may wait for it (the programme says which types may).
  incoming.may_wait = true;
  if (const auto* change = std::get_if<workflow::events::ProgrammeChanged>(&incoming.event)) {
    // Moving a case to another version of its programme: that version must exist.
    auto record = co_await VisibleCase(principal, event.subject);
    auto find_version = [this, code = record.programme, version = change->version] {
      return programmes_.Find(code, version);
    };
    auto found = co_await Blocking(std::move(find_version));
    if (!found) {
      throw Failure(FailureKind::kUnknownProgramme, "the case's programme has no such version; see GET /programmes/{code}",
                    "/data/version")
          .WithReason(std::string(workflow::reasons::kUnknownProgrammeVersion.code));
    }
  }
  try {
    auto outcome = co_await Apply(event.subject, std::move(incoming));
    if (observer_) {
      observer_->EventOutcome(event.type, workflow::Name(outcome.result.verdict), outcome.result.reason,
                              outcome.replayed);
    }
    co_return OutcomeView(principal, std::move(outcome));
  } catch (const persistence::PersistenceError& error) {
    if (error.Kind() == persistence::ErrorKind::kNotFound) {
      spdlog::info("event=event_refused actor={} case={} reason=not_visible", principal.actor, Caller{event.subject});
    } else if (error.Kind() == persistence::ErrorKind::kCorruptData) {
      spdlog::error("event=case_unreadable case={}", Caller{event.subject});
    }
    throw EventFailure(error);
  }
}

net::awaitable<EventResult> Engine::SubmitEvent(Principal principal, EventEnvelope event,
                                                std::optional<std::int64_t> if_match) {
  EventResult result;
  try {
    result.outcome = co_await SubmitOrThrow(principal, event, if_match);
  } catch (const Failure& failure) {
    result.failure = failure;
  } catch (const std::exception& error) {
    spdlog::error("event=event_failed case={} error=\"{}\"", Caller{event.subject}, Caller{error.what()});
    result.failure = Failure(FailureKind::kInternal, "");
  }
  event.data = nullptr;
  result.event = std::move(event);
  co_return result;
}

namespace {

/// A batch being applied: the fan-out's shared state, owned jointly by the waiting request and every
/// case's coroutine (none of them refers to another's frame).
struct BatchState {
  explicit BatchState(net::any_io_executor executor, std::size_t items, std::size_t groups)
      : results(items), remaining(groups), done(executor, std::chrono::steady_clock::time_point::max()) {}
  std::vector<EventResult> results;
  std::size_t remaining;  ///< case groups not finished; touched on the request's executor only
  net::steady_timer done;
};

}  // namespace

net::awaitable<std::vector<EventResult>> Engine::SubmitBatch(Principal principal,
                                                             std::vector<std::variant<EventEnvelope, Failure>> items) {
  // Events of one case are applied in batch order; different cases proceed concurrently (and so share
  // group commits). Items the transport could not decode are answered with their failure.
  auto executor = co_await net::this_coro::executor;
  std::map<std::string, std::vector<std::size_t>> by_case;
  std::vector<std::string> order;
  for (std::size_t index = 0; index < items.size(); ++index) {
    const auto* event = std::get_if<EventEnvelope>(&items[index]);
    if (event == nullptr) continue;
    auto [it, inserted] = by_case.try_emplace(event->subject);
    if (inserted) order.push_back(event->subject);
    it->second.push_back(index);
  }
  auto state = std::make_shared<BatchState>(executor, items.size(), order.size());
  for (std::size_t index = 0; index < items.size(); ++index) {
    if (auto* failure = std::get_if<Failure>(&items[index])) state->results[index].failure = std::move(*failure);
  }
  for (const auto& subject : order) {
    std::vector<std::pair<std::size_t, EventEnvelope>> group;
    for (const auto index : by_case[subject]) group.emplace_back(index, std::move(std::get<EventEnvelope>(items[index])));
    auto run_group = [this, state, principal, group = std::move(group)]() mutable -> net::awaitable<void> {
      for (auto& [index, event] : group) {
        auto result = co_await SubmitEvent(principal, std::move(event), std::nullopt);
        state->results[index] = std::move(result);
      }
      if (--state->remaining == 0) state->done.cancel();
    };
    net::co_spawn(executor, std::move(run_group), net::detached);
  }
  if (state->remaining > 0) co_await state->done.async_wait(net::as_tuple(net::use_awaitable));
  co_return std::move(state->results);
}

// --- Tokens ----------------------------------------------------------------------------------------------

net::awaitable<CreatedToken> Engine::CreateToken(Principal principal, NewToken token) {
  if (!CanManageTokens(principal)) Forbid("only admin tokens manage tokens");
  auto issue = [this, actor = principal.actor, token = std::move(token)]() mutable {
    return IssueToken(tokens_, std::move(token), actor);
  };
  auto created = co_await Blocking(std::move(issue));
  spdlog::info("event=token_created actor={} name={} role={}", principal.actor, created.record.name,
               workflow::Name(created.record.role));
  co_return created;
}

net::awaitable<std::vector<persistence::TokenRecord>> Engine::ListTokens(Principal principal) {
  if (!CanManageTokens(principal)) Forbid("only admin tokens manage tokens");
  auto list_tokens = [this] { return tokens_.List(); };
  try {
    auto records = co_await Blocking(std::move(list_tokens));
    co_return records;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
}

net::awaitable<void> Engine::RevokeToken(Principal principal, std::string name) {
  if (!CanManageTokens(principal)) Forbid("only admin tokens manage tokens");
  auto revoke_token = [this, name, actor = principal.actor] { return tokens_.Revoke(name, actor); };
  bool revoked = false;
  try {
    revoked = co_await Blocking(std::move(revoke_token));
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
  if (!revoked) throw Failure(FailureKind::kNotFound, "no active token with this name");
  {
    // At once in this process; other processes stop trusting it within auth.token_cache_ttl.
    std::lock_guard lock(token_cache_mutex_);
    std::erase_if(token_cache_, [&](const auto& entry) { return entry.second.principal.actor == name; });
  }
  spdlog::info("event=token_revoked actor={} name={}", principal.actor, Caller{name});
}

net::awaitable<bool> Engine::Ready() {
  auto ping = [this] { return database_.Ping(); };
  const bool ready = co_await Blocking(std::move(ping));
  co_return ready;
}

// --- Programmes ----------------------------------------------------------------------------------------

net::awaitable<std::vector<workflow::Programme>> Engine::ListProgrammes(Principal principal) {
  if (!CanReadProgrammes(principal)) Forbid("programmes are read by caseworkers, supervisors and admins");
  auto list = [this] { return programmes_.List(); };
  try {
    auto programmes = co_await Blocking(std::move(list));
    co_return programmes;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
}

net::awaitable<ProgrammeInfo> Engine::GetProgramme(Principal principal, std::string code) {
  if (!CanReadProgrammes(principal)) Forbid("programmes are read by caseworkers, supervisors and admins");
  auto read = [this, code] { return programmes_.Versions(code); };
  std::vector<persistence::ProgrammeVersion> versions;
  try {
    versions = co_await Blocking(std::move(read));
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
  if (versions.empty()) throw Failure(FailureKind::kNotFound, "no programme with this code");
  ProgrammeInfo info{versions.back().programme, std::move(versions)};
  co_return info;
}

net::awaitable<ProgrammeRegistration> Engine::PutProgramme(Principal principal, std::string code,
                                                           json::value definition) {
  if (!CanManageProgrammes(principal)) Forbid("only admin tokens define programmes");
  if (!ValidProgrammeCode(code)) {
    throw Failure(FailureKind::kInvalidRequest,
                  "a programme code is 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter");
  }
  auto parsed = ProgrammeFromDefinition(definition, code);
  if (!parsed.programme) {
    std::vector<Failure::FieldError> errors;
    for (auto& error : parsed.errors) errors.push_back({std::move(error.pointer), std::move(error.message)});
    const auto first = errors.front();
    throw Failure(FailureKind::kInvalidDefinition,
                  fmt::format("{} error(s) in the definition; the first: {} {}", errors.size(),
                              first.pointer.empty() ? "(the definition)" : first.pointer, first.detail),
                  first.pointer)
        .WithErrors(std::move(errors));
  }
  auto register_programme = [this, programme = std::move(*parsed.programme)]() mutable {
    const auto before = programmes_.Latest(programme.code);
    auto stored = programmes_.Register(std::move(programme));
    return ProgrammeRegistration{stored, !before || before->version != stored.version};
  };
  try {
    auto registration = co_await Blocking(std::move(register_programme));
    spdlog::info("event=programme_registered actor={} programme={} version={} changed={}", principal.actor,
                 registration.programme.code, registration.programme.version, registration.created);
    co_return registration;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
}

// --- Incidents -----------------------------------------------------------------------------------------

persistence::IncidentQuery Engine::ScopedIncidents(const Principal& principal, persistence::IncidentQuery query) const {
  if (principal.role == Role::kCaseworker) {
    // A caseworker's incidents are its office's: asking for another office finds nothing.
    if (query.office && *query.office != principal.office) query.countries_any = std::vector<std::string>{};
    query.office = principal.office;
  } else if (principal.role == Role::kSupervisor) {
    query.countries_any = SearchCountries(principal);
  }
  if (!CanHandleIncidents(principal)) Forbid("incidents are for caseworkers and supervisors");
  return query;
}

net::awaitable<persistence::IncidentPage> Engine::ListIncidents(Principal principal, persistence::IncidentQuery query) {
  auto scoped = ScopedIncidents(principal, std::move(query));
  auto list = [this, scoped] { return cases_.Incidents(scoped); };
  try {
    auto page = co_await Blocking(std::move(list));
    co_return page;
  } catch (const persistence::PersistenceError& error) {
    if (error.Kind() == persistence::ErrorKind::kInvalidInput) {
      throw Failure(FailureKind::kInvalidRequest, "'cursor' is not a cursor this engine gave out", "cursor");
    }
    throw FromPersistence(error);
  }
}

net::awaitable<persistence::Incident> Engine::ResolveIncident(Principal principal, std::string incident_id) {
  if (!CanHandleIncidents(principal)) Forbid("incidents are resolved by caseworkers and supervisors");
  const int max_attempts = settings_.scheduler.max_attempts;
  // Found, visible, still open and no longer true, then resolved: an incident out of the caller's scope
  // answers like one that does not exist.
  auto resolve = [this, principal, incident_id, max_attempts]() -> persistence::Incident {
    auto incident = cases_.FindIncident(incident_id);
    if (!incident || !CanSeeCase(principal, {incident->office, incident->host_country, incident->origin_country, {}})) {
      throw Failure(FailureKind::kNotFound, "no incident with this id is visible to the caller");
    }
    if (incident->resolved_at) throw Failure(FailureKind::kConflict, "the incident was resolved already");
    bool holds = false;
    const auto record = cases_.Find(incident->case_id);
    if (incident->kind == workflow::incident::kCaseUnreadable) {
      try {
        if (record) workflow::Case::Restore(record->saved_state);
      } catch (const std::exception&) {
        holds = true;
      }
    } else if (incident->kind == workflow::incident::kTimerFailing) {
      for (const auto& timer : cases_.Timers(incident->case_id)) {
        if (timer.kind == incident->subject && timer.attempts >= max_attempts) holds = true;
      }
    } else if (record) {
      try {
        holds = workflow::IncidentStillHolds(incident->kind, incident->subject, workflow::Case::Restore(record->saved_state));
      } catch (const std::exception&) {
        holds = true;  // a case that cannot be read shows nothing resolved
      }
    }
    if (holds) {
      throw Failure(FailureKind::kConditionHolds,
                    "what the incident reports is still the case; resolve the cause first (e.g. record the step)")
          .WithReason(std::string(workflow::reasons::kIncidentConditionHolds.code));
    }
    if (!cases_.ResolveIncident(incident_id, principal.actor)) {
      throw Failure(FailureKind::kConflict, "the incident was resolved already");
    }
    return *cases_.FindIncident(incident_id);
  };
  try {
    auto incident = co_await Blocking(std::move(resolve));
    spdlog::info("event=incident_resolved actor={} case={} incident={} kind={}", principal.actor, incident.case_id,
                 incident.incident_id, incident.kind);
    co_return incident;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
}

}  // namespace returnflow::engine
