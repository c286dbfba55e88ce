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
#include "engine/group_commit.hpp"
#include "engine/log_text.hpp"
#include "engine/observer.hpp"
#include "workflow/case.hpp"

namespace returnflow::engine {

namespace net = boost::asio;
namespace json = boost::json;

namespace {

[[noreturn]] void Forbid(std::string detail) { throw Failure(FailureKind::kForbidden, std::move(detail)); }
[[noreturn]] void NotFound() { throw Failure(FailureKind::kNotFound, "no case with this id is visible to the caller"); }

/// A persistence error of an event as the sender needs to read it: a commit may have gone through
/// while the connection died before its answer, so "unavailable" is an unknown outcome.
Failure EventFailure(const persistence::PersistenceError& error) {
  if (error.Kind() == persistence::ErrorKind::kUnavailable) {
    return Failure(FailureKind::kOutcomeUnknown,
                   "the database did not confirm the event: its outcome is unknown; re-send it with the same "
                   "source and id (a duplicate is answered as a replay, never applied twice)");
  }
  return FromPersistence(error);
}

}  // namespace

Engine::Engine(persistence::Database& database, const config::Settings& settings, net::thread_pool& workers,
               EngineObserver* observer)
    : database_(database),
      settings_(settings),
      workers_(workers),
      observer_(observer),
      cases_(database, static_cast<std::size_t>(settings.group_commit.cached_cases)),
      people_(database),
      tokens_(database) {
  if (settings.group_commit.enabled) {
    committer_ = std::make_unique<GroupCommitter>(
        cases_, workers_, settings.group_commit.EffectiveMaxInFlight(static_cast<int>(database.PoolSize())),
        static_cast<std::size_t>(settings.group_commit.max_group), observer_);
  }
}

Engine::~Engine() = default;

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
    new_case.meta.occurred_at = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  }
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
  auto record = co_await VisibleCase(principal, case_id);
  if (personal_data_purpose && !CanReadPersonalData(principal, record.Scope())) {
    spdlog::info("event=authorization_refused actor={} case={} reason=personal_data", principal.actor, case_id);
    Forbid("personal data is shown only to caseworkers of the case's office");
  }
  auto render_case = [this, record, principal, personal_data_purpose] {
    auto machine = workflow::Case::Restore(record.saved_state);
    auto view = DetailView(principal, record, machine);
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

net::awaitable<persistence::ApplyOutcome> Engine::Apply(const std::string& case_id, persistence::IncomingEvent event) {
  if (!committer_) {
    auto apply_event = [this, case_id, event = std::move(event)] { return cases_.Apply(case_id, event); };
    auto outcome = co_await Blocking(std::move(apply_event));
    co_return outcome;
  }
  persistence::GroupItem item{case_id, std::move(event)};
  auto result = co_await committer_->AsyncApply(std::move(item), net::use_awaitable);
  if (result.outcome) co_return std::move(*result.outcome);
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
  auto issue = [this, token = std::move(token)]() mutable { return IssueToken(tokens_, std::move(token)); };
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
  auto revoke_token = [this, name] { return tokens_.Revoke(name); };
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

}  // namespace returnflow::engine
