#include "api/application.hpp"

#include <charconv>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/cloudevents.hpp"
#include "api/dto.hpp"
#include "api/openapi.hpp"
#include "workflow/case.hpp"
#include "workflow/definition.hpp"

namespace returnflow::api {

namespace net = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

struct Application::Call {
  Request& request;
  RequestInfo& info;
  Target target;
  RouteMatch match;
  std::optional<Principal> principal;
  LogFields log;

  const Principal& Caller() const { return *principal; }
  const std::string& Param(const std::string& name) const { return match.params.at(name); }
};

namespace {

constexpr std::string_view kJson = "application/json";

Response JsonResponse(http::status status, const json::value& body, unsigned version) {
  Response response{status, version};
  response.set(http::field::content_type, kJson);
  response.set(http::field::cache_control, "no-store");
  response.body() = json::serialize(body);
  return response;
}

Response ProblemResponse(const Problem& problem, std::string_view instance, unsigned version) {
  Response response{problem.Status(), version};
  response.set(http::field::content_type, kProblemContentType);
  response.set(http::field::cache_control, "no-store");
  response.body() = json::serialize(problem.ToJson(instance));
  return response;
}

std::string ETag(std::int64_t version) { return fmt::format("\"{}\"", version); }

void RequireMediaType(const Request& request, std::initializer_list<std::string_view> accepted) {
  auto media_type = MediaType(request[http::field::content_type]);
  for (auto type : accepted) {
    if (media_type == type) return;
  }
  std::string list;
  for (auto type : accepted) list += (list.empty() ? "" : ", ") + std::string(type);
  throw ProblemException(Problem(ProblemKind::kUnsupportedMediaType, "send " + list,
                                 {{"accepted", json::value_from(std::vector<std::string>(accepted.begin(), accepted.end()))}}));
}

json::value ParseJsonBody(const Request& request) {
  boost::system::error_code ec;
  json::value body = json::parse(request.body(), ec);
  if (ec) throw ProblemException(Problem(ProblemKind::kMalformedJson, "the body is not valid JSON"));
  return body;
}

void Forbid(std::string detail) { throw ProblemException(Problem(ProblemKind::kForbidden, std::move(detail))); }

[[noreturn]] void NotFound() {
  throw ProblemException(Problem(ProblemKind::kNotFound, "no case with this id is visible to the caller"));
}

std::optional<std::int64_t> QueryInteger(const Target& target, const std::string& key, std::int64_t low,
                                         std::int64_t high) {
  auto text = target.Query(key);
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc{} || ptr != text->data() + text->size() || value < low || value > high) {
    throw ProblemException(Problem(ProblemKind::kInvalidRequest,
                                   fmt::format("query parameter '{}' must be an integer in [{}, {}]", key, low, high),
                                   {{"field", key}}));
  }
  return value;
}

/// The HTTP answer for a durable event outcome: applied is 200; refusals are problems carrying the
/// outcome (they are recorded in the history too, and a redelivery answers the same).
EventAnswer AnswerFor(const persistence::ApplyOutcome& outcome, const CloudEvent& event) {
  json::object body = OutcomeToJson(outcome, event.id, event.source, event.type);
  using workflow::Verdict;
  std::optional<ProblemKind> kind;
  std::string detail;
  switch (outcome.result.verdict) {
    case Verdict::kApplied:
      return EventAnswer{200, std::move(body), false};
    case Verdict::kNotAllowed:
      kind = ProblemKind::kNotAllowedInState;
      detail = fmt::format("'{}' is not allowed in the case's current state", event.type);
      break;
    case Verdict::kGuardRefused:
      kind = ProblemKind::kGuardRefused;
      detail = fmt::format("'{}' was refused: {}", event.type, outcome.result.reason);
      break;
    case Verdict::kSuspended:
      kind = ProblemKind::kCaseSuspended;
      detail = fmt::format("the case is suspended ({}); only resume, withdrawal and closure are accepted",
                           outcome.result.reason);
      break;
    case Verdict::kClosed:
      kind = ProblemKind::kCaseClosed;
      detail = "the case is closed; only case.reopened is accepted";
      break;
  }
  // In a problem document `type` is the problem's; the event's type travels as `event_type`.
  body["event_type"] = body["type"];
  body.erase("type");
  Problem problem(*kind, detail, std::move(body));
  return EventAnswer{static_cast<int>(problem.Status()), problem.ToJson({}), true};
}

EventAnswer AnswerFor(const Problem& problem) {
  return EventAnswer{static_cast<int>(problem.Status()), problem.ToJson({}), true};
}

}  // namespace

std::optional<std::int64_t> ParseIfMatch(std::string_view value) {
  if (value.starts_with("W/")) value.remove_prefix(2);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  std::int64_t version = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), version);
  if (ec != std::errc{} || ptr != value.data() + value.size() || version < 0) return std::nullopt;
  return version;
}

Problem Application::FromPersistence(const persistence::PersistenceError& error, bool had_if_match) {
  using persistence::ErrorKind;
  switch (error.Kind()) {
    case ErrorKind::kNotFound:
      return Problem(ProblemKind::kNotFound, "no such resource is visible to the caller");
    case ErrorKind::kConflict: {
      std::string_view message = error.what();
      if (had_if_match && message.find("version") != std::string_view::npos) {
        return Problem(ProblemKind::kVersionConflict, "the case version differs from If-Match; fetch it again");
      }
      if (message.find("reused") != std::string_view::npos || message.find("payload") != std::string_view::npos ||
          message.find("duplicate") != std::string_view::npos) {
        return Problem(ProblemKind::kIdempotencyConflict,
                       "this (source, id) was already recorded with a different type, subject or data");
      }
      if (had_if_match) return Problem(ProblemKind::kVersionConflict, "the case version differs from If-Match");
      return Problem(ProblemKind::kConflict, error.what());
    }
    case ErrorKind::kUnavailable:
      return Problem(ProblemKind::kUnavailable, "the database is unavailable; retry later");
    case ErrorKind::kInvalidData:
      return Problem(ProblemKind::kInvalidRequest, error.what());
  }
  return Problem(ProblemKind::kInternal, "");
}

Application::Application(persistence::Database& database, const config::Settings& settings, Metrics& metrics,
                         net::thread_pool& workers)
    : database_(database),
      settings_(settings),
      metrics_(metrics),
      workers_(workers),
      cases_(database, static_cast<std::size_t>(settings.group_commit.cached_cases)),
      people_(database),
      tokens_(database),
      workflow_json_(json::serialize(workflow::DefinitionToJson(workflow::GetDefinition()))),
      openapi_json_(json::serialize(OpenApiDocument())) {
  if (settings.group_commit.enabled) {
    committer_ = std::make_unique<GroupCommitter>(cases_, workers_,
                                                  settings.group_commit.EffectiveMaxInFlight(static_cast<int>(database.PoolSize())),
                                                  static_cast<std::size_t>(settings.group_commit.max_group), &metrics_);
  }
}

net::awaitable<Response> Application::Handle(Request& request, RequestInfo& info) {
  const auto started = std::chrono::steady_clock::now();
  std::string_view route_name = "unmatched";
  std::string instance;
  Response response;
  LogFields log;
  try {
    auto target = ParseTarget(request.target());
    if (!target) throw ProblemException(Problem(ProblemKind::kInvalidRequest, "the request target is not valid"));
    instance = target->path;
    auto match = MatchRoute(request.method(), target->path);
    if (!match.route) {
      if (match.path_known) {
        Problem problem(ProblemKind::kMethodNotAllowed, fmt::format("allowed: {}", match.allow));
        response = ProblemResponse(problem, instance, request.version());
        response.set(http::field::allow, match.allow);
      } else {
        response = ProblemResponse(Problem(ProblemKind::kNotFound, "no such resource"), instance, request.version());
      }
    } else {
      route_name = match.route->name;
      Call call{request, info, std::move(*target), std::move(match), std::nullopt, {}};
      if (call.match.route->authenticated) {
        call.principal = co_await Authenticate(request);
        call.log.actor = call.principal->actor;
      }
      response = co_await Dispatch(call);
      log = std::move(call.log);
    }
  } catch (const ProblemException& error) {
    response = ProblemResponse(error.problem(), instance, request.version());
    if (error.problem().kind == ProblemKind::kUnauthenticated) {
      response.set(http::field::www_authenticate, "Bearer realm=\"returnflow\"");
    }
  } catch (const persistence::PersistenceError& error) {
    spdlog::warn("request_id={} route={} event=persistence_error error=\"{}\"", info.request_id, route_name, error.what());
    response = ProblemResponse(FromPersistence(error), instance, request.version());
  } catch (const workflow::RestoreFailed& error) {
    spdlog::error("request_id={} route={} event=restore_failed error=\"{}\"", info.request_id, route_name, error.what());
    response = ProblemResponse(Problem(ProblemKind::kInternal, "the stored case could not be restored"), instance,
                               request.version());
  } catch (const std::exception& error) {
    spdlog::error("request_id={} route={} event=handler_failed error=\"{}\"", info.request_id, route_name, error.what());
    response = ProblemResponse(Problem(ProblemKind::kInternal, ""), instance, request.version());
  }
  const auto latency = std::chrono::steady_clock::now() - started;
  const int status = static_cast<int>(response.result_int());
  metrics_.RequestFinished(route_name, status, latency);
  if (settings_.log.access_log) {
    spdlog::info("request_id={} method={} route={} status={} actor={} case={} event={} outcome={} reason={} latency_us={}",
                 info.request_id, std::string_view(request.method_string()), route_name, status,
                 log.actor.empty() ? "-" : log.actor, log.case_id.empty() ? "-" : log.case_id,
                 log.event_type.empty() ? "-" : log.event_type, log.outcome.empty() ? "-" : log.outcome,
                 log.reason.empty() ? "-" : log.reason,
                 std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
  }
  co_return response;
}

net::awaitable<Principal> Application::Authenticate(const Request& request) {
  auto token = BearerToken(request[http::field::authorization]);
  if (!token) throw ProblemException(Problem(ProblemKind::kUnauthenticated, "send Authorization: Bearer <token>"));
  std::string hash = HashToken(*token);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(token_cache_mutex_);
    auto found = token_cache_.find(hash);
    if (found != token_cache_.end()) {
      if (found->second.expires > now && DigestsEqual(found->second.hash, hash)) co_return found->second.principal;
      token_cache_.erase(found);
    }
  }
  auto lookup_token = [this, hash] { return tokens_.FindByHash(hash); };
  auto record = co_await Blocking(std::move(lookup_token));
  // The lookup is by hash (an index), so timing reveals nothing about the secret; the stored digest is
  // still compared in constant time before it is trusted.
  if (!record || !record->Active() || !DigestsEqual(record->hash_hex, hash)) {
    spdlog::info("event=authentication_failed reason={}", record ? "revoked" : "unknown_token");
    throw ProblemException(Problem(ProblemKind::kUnauthenticated, "the token is unknown or revoked"));
  }
  Principal principal = PrincipalFromToken(*record);
  {
    std::lock_guard lock(token_cache_mutex_);
    if (token_cache_.size() > 10'000) token_cache_.clear();
    token_cache_[hash] = CachedPrincipal{principal, hash, now + settings_.auth.token_cache_ttl};
  }
  co_return principal;
}

void Application::RememberScope(const persistence::CaseRecord& record) {
  std::lock_guard lock(scope_cache_mutex_);
  if (scope_cache_.size() > 200'000) scope_cache_.clear();
  scope_cache_[record.case_id] =
      CachedScope{CaseScope{record.office, record.host_country, record.origin_country, record.partners},
                  std::chrono::steady_clock::now() + settings_.auth.token_cache_ttl};
}

net::awaitable<persistence::CaseRecord> Application::VisibleCase(const Principal& principal, const std::string& case_id) {
  auto find_case = [this, case_id] { return cases_.Find(case_id); };
  auto record = co_await Blocking(std::move(find_case));
  if (!record) NotFound();
  RememberScope(*record);
  if (!CanSeeCase(principal, CaseScope{record->office, record->host_country, record->origin_country, record->partners})) {
    spdlog::info("event=authorization_refused actor={} case={} reason=not_visible", principal.actor, case_id);
    NotFound();
  }
  co_return *record;
}

net::awaitable<CaseScope> Application::VisibleScope(const Principal& principal, const std::string& case_id) {
  std::optional<CaseScope> scope;
  {
    std::lock_guard lock(scope_cache_mutex_);
    auto found = scope_cache_.find(case_id);
    if (found != scope_cache_.end() && found->second.expires > std::chrono::steady_clock::now()) {
      scope = found->second.scope;
    }
  }
  if (!scope) {
    auto find_scope = [this, case_id] { return cases_.Find(case_id); };
    auto record = co_await Blocking(std::move(find_scope));
    if (!record) NotFound();
    RememberScope(*record);
    scope = CaseScope{record->office, record->host_country, record->origin_country, record->partners};
  }
  if (!CanSeeCase(principal, *scope)) {
    spdlog::info("event=authorization_refused actor={} case={} reason=not_visible", principal.actor, case_id);
    NotFound();
  }
  co_return *scope;
}

net::awaitable<Response> Application::Dispatch(Call& call) {
  switch (call.match.route->id) {
    case RouteId::kCreateCase: co_return co_await CreateCase(call);
    case RouteId::kSearchCases: co_return co_await SearchCases(call);
    case RouteId::kGetCase: co_return co_await GetCase(call);
    case RouteId::kPostCaseEvent: co_return co_await PostCaseEvent(call);
    case RouteId::kCaseHistory: co_return co_await CaseHistory(call);
    case RouteId::kPostEvents: co_return co_await PostEvents(call);
    case RouteId::kWorkflow: co_return co_await Workflow(call);
    case RouteId::kCreateToken: co_return co_await CreateToken(call);
    case RouteId::kListTokens: co_return co_await ListTokens(call);
    case RouteId::kRevokeToken: co_return co_await RevokeToken(call);
    case RouteId::kHealthz:
      co_return JsonResponse(http::status::ok, json::object{{"status", "ok"}}, call.request.version());
    case RouteId::kReadyz: co_return co_await Ready(call);
    case RouteId::kMetrics: co_return MetricsText(call);
    case RouteId::kOpenApi: {
      Response response{http::status::ok, call.request.version()};
      response.set(http::field::content_type, kJson);
      response.body() = openapi_json_;
      co_return response;
    }
  }
  throw ProblemException(Problem(ProblemKind::kNotFound, "no such resource"));
}

net::awaitable<Response> Application::CreateCase(Call& call) {
  const auto& principal = call.Caller();
  if (principal.role != Role::kCaseworker) Forbid("only caseworkers create cases");
  RequireMediaType(call.request, {kJson});
  auto parsed = ParseCreateCase(ParseJsonBody(call.request));
  if (auto* problem = std::get_if<Problem>(&parsed)) throw ProblemException(std::move(*problem));
  auto new_case = std::move(std::get<CreateCaseRequest>(parsed).new_case);
  if (!CanCreateCase(principal, new_case.office)) Forbid("a caseworker creates cases for its own office only");
  new_case.meta.actor = principal.actor;
  if (new_case.meta.occurred_at == workflow::Instant{}) {
    new_case.meta.occurred_at = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  }
  new_case.context.opened_at = new_case.meta.occurred_at;
  if (auto key = call.request["Idempotency-Key"]; !key.empty()) {
    if (key.size() > 200) throw ProblemException(Problem(ProblemKind::kInvalidRequest, "Idempotency-Key is too long"));
    new_case.request_source = "token:" + principal.actor;
    new_case.request_id = std::string(key);
  }
  auto create_case = [this, new_case = std::move(new_case), principal]() {
    auto created = cases_.Create(new_case);
    auto machine = workflow::Case::Restore(created.saved_state);
    return std::pair{created, CaseToJson(created, machine, CaseView::kFull, principal)};
  };
  auto [record, view] = co_await Blocking(std::move(create_case));
  RememberScope(record);
  call.log.case_id = record.case_id;
  auto response = JsonResponse(http::status::created, view, call.request.version());
  response.set(http::field::location, "/cases/" + record.case_id);
  response.set(http::field::etag, ETag(record.version));
  co_return response;
}

net::awaitable<Response> Application::GetCase(Call& call) {
  const auto& principal = call.Caller();
  if (principal.role == Role::kAdmin) Forbid("admin tokens manage tokens; they do not read cases");
  const auto& case_id = call.Param("case_id");
  call.log.case_id = case_id;
  auto record = co_await VisibleCase(principal, case_id);
  CaseScope scope{record.office, record.host_country, record.origin_country, record.partners};
  bool with_personal_data = false;
  if (auto include = call.target.Query("include")) {
    if (*include != "personal_data") {
      throw ProblemException(Problem(ProblemKind::kInvalidRequest, "include accepts only personal_data"));
    }
    if (!CanReadPersonalData(principal, scope)) {
      spdlog::info("event=authorization_refused actor={} case={} reason=personal_data", principal.actor, case_id);
      Forbid("personal data is shown only to caseworkers of the case's office");
    }
    with_personal_data = true;
  }
  std::string purpose = call.target.Query("purpose").value_or("caseworker_view");
  if (purpose.size() > 100) throw ProblemException(Problem(ProblemKind::kInvalidRequest, "purpose is too long"));
  auto view = principal.role == Role::kPartner ? CaseView::kPartner : CaseView::kFull;
  auto render_case = [this, record, view, principal, with_personal_data, purpose] {
    auto machine = workflow::Case::Restore(record.saved_state);
    auto object = CaseToJson(record, machine, view, principal);
    if (with_personal_data) {
      // The read and its audit row are one transaction in the repository: no audit, no data.
      object["personal_data"] = PeopleToJson(people_.Read(record.case_id, {principal.actor, purpose}));
    }
    return object;
  };
  auto body = co_await Blocking(std::move(render_case));
  if (with_personal_data) spdlog::info("event=personal_data_read actor={} case={} purpose={}", principal.actor, case_id, purpose);
  auto response = JsonResponse(http::status::ok, body, call.request.version());
  response.set(http::field::etag, ETag(record.version));
  co_return response;
}

net::awaitable<Response> Application::CaseHistory(Call& call) {
  const auto& principal = call.Caller();
  if (principal.role == Role::kAdmin) Forbid("admin tokens manage tokens; they do not read cases");
  const auto& case_id = call.Param("case_id");
  call.log.case_id = case_id;
  co_await VisibleScope(principal, case_id);
  auto after = QueryInteger(call.target, "after", 0, INT64_MAX).value_or(0);
  auto limit = QueryInteger(call.target, "limit", 1, settings_.server.max_page_size)
                   .value_or(settings_.server.default_page_size);
  auto read_history = [this, case_id, after, limit] {
    return cases_.History(case_id, after, static_cast<std::size_t>(limit));
  };
  auto entries = co_await Blocking(std::move(read_history));
  json::array items;
  for (const auto& entry : entries) items.push_back(HistoryEntryToJson(entry));
  json::object body{{"case_id", case_id}, {"entries", std::move(items)}};
  body["next_after"] = static_cast<std::int64_t>(entries.size()) == limit ? json::value(entries.back().sequence)
                                                                          : json::value(nullptr);
  co_return JsonResponse(http::status::ok, body, call.request.version());
}

net::awaitable<Response> Application::SearchCases(Call& call) {
  const auto& principal = call.Caller();
  if (!CanSearch(principal)) Forbid("search is for caseworkers and supervisors");
  const auto& target = call.target;
  persistence::CaseQuery query;
  query.stage = target.Query("stage");
  query.state = target.Query("state");
  query.host_country = target.Query("host_country");
  query.origin_country = target.Query("origin_country");
  query.office = target.Query("office");
  query.partner = target.Query("partner");
  if (auto flag = target.Query("vulnerability")) {
    query.vulnerability = workflow::FromName<workflow::Vulnerability>(*flag, workflow::kVulnerabilityNames);
    if (!query.vulnerability) {
      throw ProblemException(Problem(ProblemKind::kInvalidRequest, "unknown vulnerability flag", {{"field", "vulnerability"}}));
    }
  }
  if (auto overdue = target.Query("overdue")) {
    if (*overdue != "true" && *overdue != "false") {
      throw ProblemException(Problem(ProblemKind::kInvalidRequest, "overdue must be true or false", {{"field", "overdue"}}));
    }
    if (*overdue == "true") query.overdue_as_of = persistence::Now();
  }
  if (auto since = target.Query("updated_since")) {
    query.updated_since = ParseTimestamp(*since);
    if (!query.updated_since) {
      throw ProblemException(Problem(ProblemKind::kInvalidRequest, "updated_since must be an RFC 3339 timestamp",
                                     {{"field", "updated_since"}}));
    }
  }
  query.cursor = target.Query("cursor").value_or("");
  auto limit = QueryInteger(target, "limit", 1, settings_.server.max_page_size).value_or(settings_.server.default_page_size);
  query.page_size = std::min<std::size_t>(static_cast<std::size_t>(limit), persistence::kMaxPageSize);
  bool empty_scope = false;
  if (principal.role == Role::kCaseworker) {
    // A caseworker's search is always within its office.
    if (query.office && *query.office != principal.office) empty_scope = true;
    query.office = principal.office;
  } else if (principal.role == Role::kSupervisor) {
    query.countries_any.assign(principal.countries.begin(), principal.countries.end());
  }
  const bool with_counts = target.Query("counts").value_or("true") != "false";
  json::object body;
  if (empty_scope) {
    body = json::object{{"cases", json::array()}, {"next_cursor", nullptr}, {"counts_by_stage", json::object()}};
  } else {
    auto search = [this, query, with_counts] {
      auto page = cases_.Search(query);
      json::array cases;
      for (const auto& record : page.cases) cases.push_back(CaseSummaryToJson(record));
      json::object result{{"cases", std::move(cases)}};
      result["next_cursor"] = page.next_cursor.empty() ? json::value(nullptr) : json::value(page.next_cursor);
      json::object counts;
      if (with_counts) {
        for (const auto& count : cases_.CountByStage(query)) counts[count.stage] = count.count;
      }
      result["counts_by_stage"] = std::move(counts);
      return result;
    };
    body = co_await Blocking(std::move(search));
  }
  co_return JsonResponse(http::status::ok, body, call.request.version());
}

net::awaitable<persistence::ApplyOutcome> Application::ApplyEvent(const std::string& case_id, persistence::IncomingEvent& event) {
  if (!committer_) {
    auto apply_event = [this, case_id, event = std::move(event)] { return cases_.Apply(case_id, event); };
    co_return co_await Blocking(std::move(apply_event));
  }
  persistence::GroupItem item{case_id, std::move(event)};
  auto result = co_await committer_->AsyncApply(std::move(item), net::use_awaitable);
  if (result.outcome) co_return std::move(*result.outcome);
  throw persistence::PersistenceError(result.error.value_or(persistence::ErrorKind::kUnavailable), result.error_message);
}

net::awaitable<EventAnswer> Application::ProcessEvent(const Principal& principal, const json::value& raw,
                                                      const std::optional<std::string>& url_case_id,
                                                      std::optional<std::int64_t> if_match, LogFields& log) {
  auto parsed = ParseCloudEvent(raw, !url_case_id.has_value());
  if (auto* problem = std::get_if<Problem>(&parsed)) co_return AnswerFor(*problem);
  auto& event = std::get<CloudEvent>(parsed);
  if (url_case_id) {
    if (!event.subject.empty() && event.subject != *url_case_id) {
      co_return AnswerFor(Problem(ProblemKind::kInvalidCloudEvent, "'subject' names a different case than the URL"));
    }
    event.subject = *url_case_id;
  }
  log.case_id = event.subject;
  log.event_type = event.type;
  try {
    co_await VisibleScope(principal, event.subject);
    const auto& known = workflow::AllEventNames();
    if (std::find(known.begin(), known.end(), event.type) == known.end()) {
      co_return AnswerFor(Problem(ProblemKind::kUnknownEventType, "see GET /workflow for the event types",
                                  {{"event_type", event.type}}));
    }
    if (!CanSendEvent(principal, event.type)) {
      spdlog::info("event=authorization_refused actor={} case={} type={} reason=event_type", principal.actor,
                   event.subject, event.type);
      co_return AnswerFor(Problem(ProblemKind::kForbidden,
                                  fmt::format("this token may not send '{}' events", event.type)));
    }
    workflow::DecodeError decode_error;
    auto decoded = workflow::DecodeEvent(event.type, event.data, decode_error);
    if (!decoded) {
      auto kind = decode_error.kind == workflow::DecodeError::Kind::kUnknownType ? ProblemKind::kUnknownEventType
                                                                                 : ProblemKind::kInvalidEventData;
      co_return AnswerFor(Problem(kind, decode_error.detail));
    }
    persistence::IncomingEvent incoming;
    incoming.source = event.source;
    incoming.event_id = event.id;
    incoming.type = event.type;
    incoming.data_json = json::serialize(event.data);
    incoming.event = std::move(*decoded);
    incoming.meta.actor = principal.actor;
    incoming.meta.occurred_at = event.time;
    incoming.expected_version = if_match;
    auto outcome = co_await ApplyEvent(event.subject, incoming);
    metrics_.EventOutcome(event.type, workflow::Name(outcome.result.verdict), outcome.result.reason, outcome.replayed);
    log.outcome = std::string(workflow::Name(outcome.result.verdict)) + (outcome.replayed ? "+replayed" : "");
    log.reason = outcome.result.reason;
    co_return AnswerFor(outcome, event);
  } catch (const ProblemException& error) {
    co_return AnswerFor(error.problem());
  } catch (const persistence::PersistenceError& error) {
    auto problem = FromPersistence(error, if_match.has_value());
    if (problem.kind == ProblemKind::kNotFound) problem.detail = "no case with this id is visible to the caller";
    log.outcome = Info(problem.kind).slug;
    co_return AnswerFor(problem);
  }
}

net::awaitable<Response> Application::PostCaseEvent(Call& call) {
  const auto& principal = call.Caller();
  if (principal.role == Role::kAdmin) Forbid("admin tokens do not send events");
  RequireMediaType(call.request, {kCloudEventContentType});
  std::optional<std::int64_t> if_match;
  if (auto header = call.request[http::field::if_match]; !header.empty()) {
    if_match = ParseIfMatch(header);
    if (!if_match) throw ProblemException(Problem(ProblemKind::kInvalidRequest, "If-Match must be a case version, e.g. \"3\""));
  }
  auto body = ParseJsonBody(call.request);
  const std::optional<std::string> url_case_id = call.Param("case_id");
  auto answer = co_await ProcessEvent(principal, body, url_case_id, if_match, call.log);
  auto response = JsonResponse(static_cast<http::status>(answer.status), answer.body, call.request.version());
  if (answer.problem) {
    response.set(http::field::content_type, kProblemContentType);
  } else if (auto version = answer.body.find("version"); version != answer.body.end()) {
    response.set(http::field::etag, ETag(version->value().as_int64()));
  }
  co_return response;
}

net::awaitable<Response> Application::PostEvents(Call& call) {
  const auto& principal = call.Caller();
  if (principal.role == Role::kAdmin) Forbid("admin tokens do not send events");
  RequireMediaType(call.request, {kCloudEventContentType, kCloudEventBatchContentType});
  const bool batch = MediaType(call.request[http::field::content_type]) == kCloudEventBatchContentType;
  if (!batch) {
    auto body = ParseJsonBody(call.request);
    const std::optional<std::string> no_case;
    auto answer = co_await ProcessEvent(principal, body, no_case, std::nullopt, call.log);
    auto response = JsonResponse(static_cast<http::status>(answer.status), answer.body, call.request.version());
    if (answer.problem) response.set(http::field::content_type, kProblemContentType);
    co_return response;
  }
  auto split = SplitCloudEventBody(call.request.body(), true, static_cast<std::size_t>(settings_.server.max_batch_events));
  if (auto* problem = std::get_if<Problem>(&split)) throw ProblemException(std::move(*problem));
  auto& events = std::get<std::vector<json::value>>(split);

  // Events of one case are applied in batch order; different cases proceed concurrently (and so share
  // group commits). Events without a usable subject are answered on their own.
  std::vector<EventAnswer> answers(events.size());
  std::vector<std::string> order;
  std::unordered_map<std::string, std::vector<std::size_t>> by_case;
  for (std::size_t index = 0; index < events.size(); ++index) {
    const auto* object = events[index].if_object();
    const json::value* subject = object ? object->if_contains("subject") : nullptr;
    std::string key = subject && subject->is_string() ? std::string(subject->get_string()) : fmt::format("\x01{}", index);
    auto [it, inserted] = by_case.try_emplace(key);
    if (inserted) order.push_back(key);
    it->second.push_back(index);
  }
  auto executor = co_await net::this_coro::executor;
  net::steady_timer all_done(executor, std::chrono::steady_clock::time_point::max());
  std::size_t remaining = order.size();
  for (const auto& key : order) {
    net::co_spawn(
        executor,
        [&, indices = by_case[key]]() -> net::awaitable<void> {
          for (auto index : indices) {
            LogFields ignored;
            try {
              const std::optional<std::string> no_case;
              answers[index] = co_await ProcessEvent(principal, events[index], no_case, std::nullopt, ignored);
            } catch (const std::exception& error) {
              spdlog::error("request_id={} event=batch_item_failed error=\"{}\"", call.info.request_id, error.what());
              answers[index] = AnswerFor(Problem(ProblemKind::kInternal, ""));
            }
          }
          if (--remaining == 0) all_done.cancel();
        },
        net::detached);
  }
  if (remaining > 0) co_await all_done.async_wait(net::as_tuple(net::use_awaitable));

  json::array results;
  std::size_t applied = 0, refused = 0;
  for (std::size_t index = 0; index < answers.size(); ++index) {
    auto& answer = answers[index];
    json::object item{{"index", index}, {"status", answer.status}};
    if (answer.problem) {
      ++refused;
      item["problem"] = std::move(answer.body);
    } else {
      ++applied;
      item["outcome"] = std::move(answer.body);
    }
    results.push_back(std::move(item));
  }
  call.log.outcome = fmt::format("batch:{}/{}", applied, answers.size());
  json::object body{{"results", std::move(results)}, {"applied", applied}, {"refused", refused}};
  co_return JsonResponse(http::status::ok, body, call.request.version());
}

net::awaitable<Response> Application::Workflow(Call& call) {
  if (!CanReadWorkflow(call.Caller())) Forbid("admin tokens manage tokens only");
  Response response{http::status::ok, call.request.version()};
  response.set(http::field::content_type, kJson);
  response.body() = workflow_json_;
  co_return response;
}

net::awaitable<Response> Application::CreateToken(Call& call) {
  if (!CanManageTokens(call.Caller())) Forbid("only admin tokens manage tokens");
  RequireMediaType(call.request, {kJson});
  auto parsed = ParseCreateToken(ParseJsonBody(call.request));
  if (auto* problem = std::get_if<Problem>(&parsed)) throw ProblemException(std::move(*problem));
  auto request = std::move(std::get<CreateTokenRequest>(parsed));
  std::string secret = GenerateToken();
  auto create_token = [this, request, secret] {
    return tokens_.Create(request.name, ToTokenRole(request.principal.role), ToTokenScope(request.principal), secret);
  };
  auto record = co_await Blocking(std::move(create_token));
  auto body = TokenToJson(record);
  body["token"] = secret;  // shown once; only its hash is stored
  spdlog::info("event=token_created actor={} name={} role={}", call.Caller().actor, record.name, Name(request.principal.role));
  co_return JsonResponse(http::status::created, body, call.request.version());
}

net::awaitable<Response> Application::ListTokens(Call& call) {
  if (!CanManageTokens(call.Caller())) Forbid("only admin tokens manage tokens");
  auto list_tokens = [this] { return tokens_.List(); };
  auto records = co_await Blocking(std::move(list_tokens));
  json::array tokens;
  for (const auto& record : records) tokens.push_back(TokenToJson(record));
  co_return JsonResponse(http::status::ok, json::object{{"tokens", std::move(tokens)}}, call.request.version());
}

net::awaitable<Response> Application::RevokeToken(Call& call) {
  if (!CanManageTokens(call.Caller())) Forbid("only admin tokens manage tokens");
  std::string name = call.Param("token_name");
  auto revoke_token = [this, name] { return tokens_.Revoke(name); };
  bool revoked = co_await Blocking(std::move(revoke_token));
  if (!revoked) throw ProblemException(Problem(ProblemKind::kNotFound, "no active token with this name"));
  {
    std::lock_guard lock(token_cache_mutex_);
    std::erase_if(token_cache_, [&](const auto& entry) { return entry.second.principal.actor == name; });
  }
  spdlog::info("event=token_revoked actor={} name={}", call.Caller().actor, name);
  Response response{http::status::no_content, call.request.version()};
  co_return response;
}

net::awaitable<Response> Application::Ready(Call& call) {
  auto ping = [this] { return database_.Ping(); };
  bool ready = co_await Blocking(std::move(ping));
  if (!ready) throw ProblemException(Problem(ProblemKind::kUnavailable, "the database does not answer"));
  co_return JsonResponse(http::status::ok, json::object{{"status", "ready"}}, call.request.version());
}

Response Application::MetricsText(Call& call) {
  if (!CanReadMetrics(call.Caller())) Forbid("metrics are for admin and supervisor tokens");
  metrics_.PoolUsage(database_.SessionsInUse(), database_.PoolSize());
  Response response{http::status::ok, call.request.version()};
  response.set(http::field::content_type, "text/plain; version=0.0.4");
  response.body() = metrics_.Serialize();
  return response;
}

}  // namespace returnflow::api
