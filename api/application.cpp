#include "api/application.hpp"

#include <charconv>

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/cloudevents.hpp"
#include "api/dto.hpp"
#include "api/handler_support.hpp"
#include "api/openapi.hpp"
#include "api/query.hpp"
#include "engine/authorization.hpp"
#include "engine/log_text.hpp"
#include "workflow/definition.hpp"
#include "workflow/incidents.hpp"
#include "workflow/timers.hpp"

namespace returnflow::api {

namespace net = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using engine::Caller;
using engine::Failure;
using engine::FailureKind;

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

[[noreturn]] void Throw(Problem problem) { throw ProblemException(std::move(problem)); }

void RequireMediaType(const Request& request, std::string_view accepted) {
  if (MediaType(request[http::field::content_type]) == accepted) {
    const auto charset = Charset(request[http::field::content_type]);
    if (charset.empty() || charset == "utf-8") return;
  }
  Throw(Problem(ProblemKind::kUnsupportedMediaType, "send " + std::string(accepted) + " (UTF-8)",
                {{"accepted", json::array{accepted}}}));
}

json::value ParseJsonBody(const Request& request) {
  boost::system::error_code ec;
  json::value body = json::parse(request.body(), ec);
  if (ec) Throw(Problem(ProblemKind::kMalformedJson, "the body is not valid JSON"));
  return body;
}

[[noreturn]] void Forbid(std::string detail) { Throw(Problem(ProblemKind::kForbidden, std::move(detail))); }

bool UsableIdempotencyKey(std::string_view key) {
  return key.size() <= 200 && std::all_of(key.begin(), key.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
}

std::optional<std::int64_t> IfMatchOf(const Request& request) {
  const auto header = request[http::field::if_match];
  if (header.empty()) return std::nullopt;
  auto version = ParseIfMatch(header);
  if (!version) Throw(Problem(ProblemKind::kInvalidRequest, "If-Match must be a case version, e.g. \"3\""));
  return version;
}

namespace {

/// The path of a matched route as the problem's `instance`, when every parameter is a plain word;
/// otherwise none (a problem never carries back what the caller typed).
std::string InstanceOf(const RouteMatch& match, const std::string& path) {
  for (const auto& [name, value] : match.params) {
    const bool plain = !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (!plain) return {};
  }
  return path;
}

workflow::Instant ReceivedNow() { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); }

EventRequestInput EventInput(const Request& request, std::optional<std::string> url_case_id, bool allow_batch,
                             std::size_t max_batch_events) {
  EventRequestInput input;
  input.content_type = request[http::field::content_type];
  for (const auto& field : request) {
    const auto name = field.name_string();
    if (name.size() > 3 && (name[0] == 'c' || name[0] == 'C') && (name[1] == 'e' || name[1] == 'E') && name[2] == '-') {
      input.ce_headers.emplace_back(std::string(name), std::string(field.value()));
    }
  }
  input.body = request.body();
  input.url_case_id = std::move(url_case_id);
  input.allow_batch = allow_batch;
  input.max_batch_events = max_batch_events;
  input.received_at = ReceivedNow();
  return input;
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

/// A durable outcome is 200 when applied; refusals are problems carrying the outcome (they are recorded
/// in the history too, and a redelivery answers the same).
EventAnswer AnswerFor(const engine::EventResult& result) {
  if (result.failure) {
    const auto problem = ProblemFor(*result.failure);
    return EventAnswer{static_cast<int>(problem.Status()), problem.ToJson({}), true};
  }
  const auto& outcome = *result.outcome;
  json::object body = OutcomeToJson(outcome, result.event);
  using workflow::Verdict;
  ProblemKind kind = ProblemKind::kInternal;
  std::string detail;
  // Deferred: accepted into the case's inbox, applied when the case gets there (or expired after the
  // programme's early_event_wait, raising an incident).
  if (outcome.deferred) return EventAnswer{202, std::move(body), false};
  switch (outcome.result.verdict) {
    case Verdict::kApplied:
      return EventAnswer{200, std::move(body), false};
    case Verdict::kNotAllowed:
      kind = ProblemKind::kNotAllowedInState;
      detail = "the event is not allowed in the case's current state; allowed_events lists those that are";
      break;
    case Verdict::kGuardRefused:
      kind = ProblemKind::kGuardRefused;
      detail = fmt::format("a workflow rule refused the event: {}", outcome.result.reason);
      break;
    case Verdict::kSuspended:
      kind = ProblemKind::kCaseSuspended;
      detail = "the case is suspended; only resume, withdrawal and closure are accepted";
      break;
    case Verdict::kClosed:
      kind = ProblemKind::kCaseClosed;
      detail = "the case is closed; only case.reopened is accepted";
      break;
  }
  // In a problem document `type` is the problem's; the event's type travels as `event_type`.
  body["event_type"] = body["type"];
  body.erase("type");
  Problem problem(kind, detail, std::move(body));
  return EventAnswer{static_cast<int>(problem.Status()), problem.ToJson({}), true};
}

Application::Application(engine::Engine& engine, const config::Settings& settings, Metrics& metrics)
    : engine_(engine),
      settings_(settings),
      metrics_(metrics),
      workflow_json_(json::serialize(workflow::DefinitionToJson(workflow::GetDefinition()))),
      openapi_json_(json::serialize(OpenApiDocument())) {}

net::awaitable<Response> Application::Handle(Request& request, RequestInfo& info) {
  const auto started = std::chrono::steady_clock::now();
  std::string_view route_name = "unmatched";
  std::string instance;
  Response response;
  LogFields log;
  try {
    auto target = ParseTarget(request.target());
    if (!target) Throw(Problem(ProblemKind::kInvalidRequest, "the request target is not valid"));
    auto match = MatchRoute(request.method(), target->path);
    if (!match.route) {
      if (match.path_known) {
        Problem problem(ProblemKind::kMethodNotAllowed, fmt::format("allowed: {}", match.allow));
        response = ProblemResponse(problem, {}, request.version());
        response.set(http::field::allow, match.allow);
      } else {
        response = ProblemResponse(Problem(ProblemKind::kNotFound, "no such resource"), {}, request.version());
      }
    } else {
      route_name = match.route->name;
      instance = InstanceOf(match, target->path);
      Call call{request, info, std::move(*target), std::move(match), std::nullopt, {}};
      if (call.match.route->authenticated) {
        const auto token = BearerToken(request[http::field::authorization]);
        if (!token) Throw(Problem(ProblemKind::kUnauthenticated, "send Authorization: Bearer <token>"));
        std::string secret(*token);
        call.principal = co_await engine_.Authenticate(std::move(secret));
        call.log.actor = call.principal->actor;
        // An auditor's token opens the audit and nothing else (refused before anything is looked at).
        if (engine::ReadsOnlyTheAudit(*call.principal) && call.match.route->id != RouteId::kAudit) {
          Forbid("auditor tokens read GET /audit only");
        }
      }
      response = co_await Dispatch(call);
      log = std::move(call.log);
    }
  } catch (const ProblemException& error) {
    response = ProblemResponse(error.problem(), instance, request.version());
    if (error.problem().kind == ProblemKind::kUnauthenticated) {
      response.set(http::field::www_authenticate, "Bearer realm=\"returnflow\"");
    }
  } catch (const Failure& failure) {
    if (failure.Kind() == FailureKind::kInternal || failure.Kind() == FailureKind::kCorruptCase) {
      spdlog::error("request_id={} route={} event=use_case_failed kind={}", info.request_id, route_name,
                    Info(ProblemFor(failure).kind).slug);
    }
    response = ProblemResponse(ProblemFor(failure), instance, request.version());
    if (failure.Kind() == FailureKind::kUnauthenticated) {
      response.set(http::field::www_authenticate, "Bearer realm=\"returnflow\"");
    }
  } catch (const std::exception& error) {
    spdlog::error("request_id={} route={} event=handler_failed error=\"{}\"", info.request_id, route_name,
                  Caller{error.what()});
    response = ProblemResponse(Problem(ProblemKind::kInternal, ""), instance, request.version());
  }
  const auto latency = std::chrono::steady_clock::now() - started;
  const int status = static_cast<int>(response.result_int());
  metrics_.RequestFinished(route_name, status, latency);
  if (settings_.log.access_log) {
    const auto field = [](const std::string& value) { return value.empty() ? std::string("-") : engine::EscapeForLog(value); };
    spdlog::info("request_id={} method={} route={} status={} actor={} case={} event={} outcome={} reason={} latency_us={}",
                 info.request_id, Caller{request.method_string()}, route_name, status, field(log.actor),
                 field(log.case_id), field(log.event_type), field(log.outcome), field(log.reason),
                 std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
  }
  co_return response;
}

net::awaitable<Response> Application::Dispatch(Call& call) {
  switch (call.match.route->id) {
    case RouteId::kCreateCase: co_return co_await CreateCase(call);
    case RouteId::kSearchCases: co_return co_await SearchCases(call);
    case RouteId::kGetCase: co_return co_await GetCase(call);
    case RouteId::kPostCaseEvent: co_return co_await PostCaseEvent(call);
    case RouteId::kCaseHistory: co_return co_await CaseHistory(call);
    case RouteId::kPostEvents: co_return co_await PostEvents(call);
    case RouteId::kWorkflow: co_return Workflow(call);
    case RouteId::kCreateToken: co_return co_await CreateToken(call);
    case RouteId::kListTokens: co_return co_await ListTokens(call);
    case RouteId::kRevokeToken: co_return co_await RevokeToken(call);
    case RouteId::kHealthz:
      co_return JsonResponse(http::status::ok, json::object{{"status", "ok"}}, call.request.version());
    case RouteId::kReadyz: co_return co_await Ready(call);
    case RouteId::kMetrics: co_return MetricsText(call);
    case RouteId::kOpenApi: co_return OpenApi(call);
    case RouteId::kListProgrammes: co_return co_await ListProgrammes(call);
    case RouteId::kGetProgramme: co_return co_await GetProgramme(call);
    case RouteId::kPutProgramme: co_return co_await PutProgramme(call);
    case RouteId::kListIncidents: co_return co_await ListIncidents(call);
    case RouteId::kResolveIncident: co_return co_await ResolveIncident(call);
    case RouteId::kTestingClock: co_return co_await TestingClock(call);
    case RouteId::kAssignPartner: co_return co_await ChangePartner(call, true);
    case RouteId::kUnassignPartner: co_return co_await ChangePartner(call, false);
    case RouteId::kRecordConsent: co_return co_await RecordConsent(call);
    case RouteId::kListConsents: co_return co_await ListConsents(call);
    case RouteId::kWithdrawConsent: co_return co_await WithdrawConsent(call);
    case RouteId::kApproveErasure: co_return co_await ApproveErasure(call);
    case RouteId::kCreateCheckpoint: co_return co_await CreateCheckpoint(call);
    case RouteId::kCreateSubscription: co_return co_await CreateSubscription(call);
    case RouteId::kListSubscriptions: co_return co_await ListSubscriptions(call);
    case RouteId::kGetSubscription: co_return co_await GetSubscription(call);
    case RouteId::kUpdateSubscription: co_return co_await UpdateSubscription(call);
    case RouteId::kDeleteSubscription: co_return co_await DeleteSubscription(call);
    case RouteId::kRotateSubscriptionSecret: co_return co_await RotateSubscriptionSecret(call);
    case RouteId::kListDeliveryAttempts: co_return co_await ListDeliveryAttempts(call);
    case RouteId::kListNotifications: co_return co_await ListNotifications(call);
    case RouteId::kReplayNotifications: co_return co_await ReplayNotifications(call);
    case RouteId::kListReplays: co_return co_await ListReplays(call);
    case RouteId::kFeed: co_return co_await Feed(call);
    case RouteId::kAudit: co_return co_await Audit(call);
    case RouteId::kExportPeople: co_return co_await ExportPeople(call);
    case RouteId::kCorrectPerson: co_return co_await CorrectPerson(call);
  }
  Throw(Problem(ProblemKind::kNotFound, "no such resource"));
}

net::awaitable<Response> Application::CreateCase(Call& call) {
  OnlyParameters(call.target, {});
  RequireMediaType(call.request, kJson);
  auto parsed = ParseCreateCase(ParseJsonBody(call.request));
  if (auto* problem = std::get_if<Problem>(&parsed)) Throw(std::move(*problem));
  std::string key(call.request["Idempotency-Key"]);
  if (!UsableIdempotencyKey(key)) Throw(Problem(ProblemKind::kInvalidRequest, "Idempotency-Key must be at most 200 printable characters"));
  auto view = co_await engine_.CreateCase(call.Caller(), std::move(std::get<persistence::NewCase>(parsed)), std::move(key));
  call.log.case_id = view.case_id;
  auto response = JsonResponse(http::status::created, CaseViewToJson(view), call.request.version());
  response.set(http::field::location, "/cases/" + view.case_id);
  response.set(http::field::etag, ETag(view.version));
  co_return response;
}

net::awaitable<Response> Application::GetCase(Call& call) {
  OnlyParameters(call.target, {"include", "purpose"});
  const auto& case_id = call.Param("case_id");
  call.log.case_id = case_id;
  std::optional<workflow::AccessPurpose> purpose;
  if (auto include = call.target.Query("include")) {
    if (*include != "personal_data") Throw(InvalidParameter("include", "accepts only personal_data"));
    if (call.Caller().role == workflow::Role::kPartner) {
      // A partner receives personal data as a transfer for one of the consent purposes, cut to consent.
      const auto name = call.target.Query("purpose");
      const auto transfer = name ? workflow::FromName<workflow::TransferPurpose>(*name, workflow::kTransferPurposeNames)
                                 : std::nullopt;
      if (!transfer) {
        std::vector<std::string> names(workflow::kTransferPurposeNames.begin(), workflow::kTransferPurposeNames.end());
        Throw(Problem(ProblemKind::kInvalidRequest, "a partner names the transfer purpose in query parameter 'purpose'",
                      {{"parameter", "purpose"}, {"accepted", json::value_from(names)}}));
      }
      std::string id = case_id;
      auto view = co_await engine_.GetCaseForTransfer(call.Caller(), std::move(id), *transfer);
      auto response = JsonResponse(http::status::ok, CaseViewToJson(view), call.request.version());
      response.set(http::field::etag, ETag(view.version));
      co_return response;
    }
    const auto name = call.target.Query("purpose").value_or("caseworker_view");
    purpose = workflow::FromName<workflow::AccessPurpose>(name, workflow::kAccessPurposeNames);
    if (!purpose) {
      std::vector<std::string> names(workflow::kAccessPurposeNames.begin(), workflow::kAccessPurposeNames.end());
      Throw(Problem(ProblemKind::kInvalidRequest, "query parameter 'purpose' must be one of the purposes listed",
                    {{"parameter", "purpose"}, {"accepted", json::value_from(names)}}));
    }
  } else if (call.target.Query("purpose")) {
    Throw(InvalidParameter("purpose", "goes with include=personal_data"));
  }
  std::string id = case_id;
  auto view = co_await engine_.GetCase(call.Caller(), std::move(id), purpose);
  auto response = JsonResponse(http::status::ok, CaseViewToJson(view), call.request.version());
  response.set(http::field::etag, ETag(view.version));
  co_return response;
}

net::awaitable<Response> Application::CaseHistory(Call& call) {
  OnlyParameters(call.target, {"after", "limit"});
  const auto& case_id = call.Param("case_id");
  call.log.case_id = case_id;
  const auto after = QueryInteger(call.target, "after", 0, INT64_MAX).value_or(0);
  const auto limit = QueryInteger(call.target, "limit", 1, settings_.server.max_page_size)
                         .value_or(settings_.server.default_page_size);
  std::string id = case_id;
  auto page = co_await engine_.CaseHistory(call.Caller(), std::move(id), after, static_cast<std::size_t>(limit));
  json::array items;
  for (const auto& entry : page.entries) items.push_back(HistoryEntryToJson(entry));
  json::object body{{"case_id", case_id}, {"entries", std::move(items)}};
  body["next_after"] = page.next_after ? json::value(*page.next_after) : json::value(nullptr);
  co_return JsonResponse(http::status::ok, body, call.request.version());
}

net::awaitable<Response> Application::SearchCases(Call& call) {
  auto search = ParseSearchQuery(call.target, settings_.server.default_page_size, settings_.server.max_page_size,
                                 engine_.Now());
  auto page = co_await engine_.SearchCases(call.Caller(), std::move(search.query), search.with_counts);
  json::array cases;
  for (const auto& view : page.cases) cases.push_back(CaseViewToJson(view));
  json::object body{{"cases", std::move(cases)}};
  body["next_cursor"] = page.next_cursor.empty() ? json::value(nullptr) : json::value(page.next_cursor);
  json::object counts;
  for (const auto& count : page.counts_by_stage) counts[count.stage] = count.count;
  body["counts_by_stage"] = std::move(counts);
  co_return JsonResponse(http::status::ok, body, call.request.version());
}

Response Application::EventResponse(Call& call, const engine::EventResult& result) {
  auto answer = AnswerFor(result);
  call.log.outcome = result.outcome ? std::string(workflow::Name(result.outcome->result.verdict)) +
                                          (result.outcome->replayed ? "+replayed" : "")
                                    : std::string(Info(ProblemFor(*result.failure).kind).slug);
  if (result.outcome) call.log.reason = result.outcome->result.reason;
  auto response = JsonResponse(static_cast<http::status>(answer.status), answer.body, call.request.version());
  if (answer.problem) {
    response.set(http::field::content_type, kProblemContentType);
  } else {
    response.set(http::field::etag, ETag(result.outcome->version));
  }
  return response;
}

net::awaitable<Response> Application::PostCaseEvent(Call& call) {
  OnlyParameters(call.target, {});
  const auto if_match = IfMatchOf(call.request);
  const std::string case_id = call.Param("case_id");
  call.log.case_id = case_id;
  auto decoded = DecodeEventRequest(EventInput(call.request, case_id, false, 1));
  if (auto* problem = std::get_if<Problem>(&decoded)) Throw(std::move(*problem));
  auto& event = std::get<EventRequest>(decoded).events.front();
  if (auto* problem = std::get_if<Problem>(&event)) Throw(std::move(*problem));
  auto& envelope = std::get<engine::EventEnvelope>(event);
  call.log.event_type = envelope.type;
  auto result = co_await engine_.SubmitEvent(call.Caller(), std::move(envelope), if_match);
  co_return EventResponse(call, result);
}

net::awaitable<Response> Application::ApproveErasure(Call& call) {
  OnlyParameters(call.target, {});
  if (!call.request.body().empty()) Throw(Problem(ProblemKind::kInvalidRequest, "approving an erasure takes no body"));
  const auto if_match = IfMatchOf(call.request);
  std::string case_id = call.Param("case_id");
  call.log.case_id = case_id;
  call.log.event_type = std::string(workflow::events::PersonalDataErased::kName);
  auto result = co_await engine_.ApproveErasure(call.Caller(), std::move(case_id), if_match);
  co_return EventResponse(call, result);
}

net::awaitable<Response> Application::PostEvents(Call& call) {
  OnlyParameters(call.target, {});
  auto decoded = DecodeEventRequest(
      EventInput(call.request, std::nullopt, true, static_cast<std::size_t>(settings_.server.max_batch_events)));
  if (auto* problem = std::get_if<Problem>(&decoded)) Throw(std::move(*problem));
  auto& request = std::get<EventRequest>(decoded);
  if (!request.batch) {
    auto& event = request.events.front();
    if (auto* problem = std::get_if<Problem>(&event)) Throw(std::move(*problem));
    auto& envelope = std::get<engine::EventEnvelope>(event);
    call.log.case_id = envelope.subject;
    call.log.event_type = envelope.type;
    auto result = co_await engine_.SubmitEvent(call.Caller(), std::move(envelope), std::nullopt);
    auto answer = AnswerFor(result);
    auto response = JsonResponse(static_cast<http::status>(answer.status), answer.body, call.request.version());
    if (answer.problem) response.set(http::field::content_type, kProblemContentType);
    co_return response;
  }
  // A batch: each item answered on its own; items that did not decode keep their problem.
  std::vector<std::variant<engine::EventEnvelope, Failure>> items;
  std::vector<std::optional<Problem>> decode_problems(request.events.size());
  for (std::size_t index = 0; index < request.events.size(); ++index) {
    if (auto* problem = std::get_if<Problem>(&request.events[index])) {
      decode_problems[index] = std::move(*problem);
      items.emplace_back(Failure(FailureKind::kInvalidRequest, ""));  // answered with decode_problems below
    } else {
      items.emplace_back(std::move(std::get<engine::EventEnvelope>(request.events[index])));
    }
  }
  auto results = co_await engine_.SubmitBatch(call.Caller(), std::move(items));
  json::array answers;
  std::size_t applied = 0, refused = 0;
  for (std::size_t index = 0; index < results.size(); ++index) {
    json::object item{{"index", index}};
    if (decode_problems[index]) {
      ++refused;
      item["status"] = static_cast<int>(decode_problems[index]->Status());
      item["problem"] = decode_problems[index]->ToJson({});
    } else {
      auto answer = AnswerFor(results[index]);
      item["status"] = answer.status;
      if (answer.problem) {
        ++refused;
        item["problem"] = std::move(answer.body);
      } else {
        ++applied;
        item["outcome"] = std::move(answer.body);
      }
    }
    answers.push_back(std::move(item));
  }
  call.log.outcome = fmt::format("batch:{}/{}", applied, results.size());
  json::object body{{"results", std::move(answers)}, {"applied", applied}, {"refused", refused}};
  co_return JsonResponse(http::status::ok, body, call.request.version());
}

Response Application::Workflow(Call& call) {
  OnlyParameters(call.target, {});
  if (!engine::CanReadWorkflow(call.Caller())) Forbid("admin tokens manage tokens only");
  Response response{http::status::ok, call.request.version()};
  response.set(http::field::content_type, kJson);
  response.body() = workflow_json_;
  return response;
}

net::awaitable<Response> Application::CreateToken(Call& call) {
  OnlyParameters(call.target, {});
  if (!engine::CanManageTokens(call.Caller())) Forbid("only admin tokens manage tokens");
  RequireMediaType(call.request, kJson);
  auto parsed = ParseCreateToken(ParseJsonBody(call.request));
  if (auto* problem = std::get_if<Problem>(&parsed)) Throw(std::move(*problem));
  auto created = co_await engine_.CreateToken(call.Caller(), std::move(std::get<engine::NewToken>(parsed)));
  auto body = TokenToJson(created.record);
  body["token"] = created.secret;  // shown once; only its digest is stored
  co_return JsonResponse(http::status::created, body, call.request.version());
}

net::awaitable<Response> Application::ListTokens(Call& call) {
  OnlyParameters(call.target, {});
  auto records = co_await engine_.ListTokens(call.Caller());
  json::array tokens;
  for (const auto& record : records) tokens.push_back(TokenToJson(record));
  co_return JsonResponse(http::status::ok, json::object{{"tokens", std::move(tokens)}}, call.request.version());
}

net::awaitable<Response> Application::RevokeToken(Call& call) {
  OnlyParameters(call.target, {});
  std::string name = call.Param("token_name");
  co_await engine_.RevokeToken(call.Caller(), std::move(name));
  co_return Response{http::status::no_content, call.request.version()};
}

net::awaitable<Response> Application::Ready(Call& call) {
  // Named, not inside the condition: GCC 12 mishandles a co_await operand of `!` (the awaiting frame's
  // executor is read after it is gone).
  const bool ready = co_await engine_.Ready();
  if (!ready) Throw(Problem(ProblemKind::kUnavailable, "the database does not answer"));
  co_return JsonResponse(http::status::ok, json::object{{"status", "ready"}}, call.request.version());
}

Response Application::MetricsText(Call& call) {
  OnlyParameters(call.target, {});
  if (!engine::CanReadMetrics(call.Caller())) Forbid("metrics are for admin and supervisor tokens");
  auto& database = engine_.Database();
  metrics_.PoolUsage(database.SessionsInUse(), database.PoolSize());
  Response response{http::status::ok, call.request.version()};
  response.set(http::field::content_type, "text/plain; version=0.0.4");
  response.body() = metrics_.Serialize();
  return response;
}

net::awaitable<Response> Application::ListProgrammes(Call& call) {
  OnlyParameters(call.target, {});
  auto programmes = co_await engine_.ListProgrammes(call.Caller());
  json::array items;
  for (const auto& programme : programmes) items.push_back(ProgrammeToJson(programme));
  co_return JsonResponse(http::status::ok, json::object{{"programmes", std::move(items)}}, call.request.version());
}

namespace {

json::object ProgrammeInfoJson(const engine::ProgrammeInfo& info) {
  auto body = ProgrammeToJson(info.programme);
  json::array versions;
  for (const auto& version : info.versions) {
    versions.push_back(json::object{{"version", version.programme.version},
                                    {"registered_at", FormatTimestamp(version.registered_at)}});
  }
  body["versions"] = std::move(versions);
  return body;
}

}  // namespace

net::awaitable<Response> Application::GetProgramme(Call& call) {
  OnlyParameters(call.target, {});
  std::string code = call.Param("code");
  auto info = co_await engine_.GetProgramme(call.Caller(), std::move(code));
  auto response = JsonResponse(http::status::ok, ProgrammeInfoJson(info), call.request.version());
  response.set(http::field::etag, ETag(info.programme.version));
  co_return response;
}

net::awaitable<Response> Application::PutProgramme(Call& call) {
  OnlyParameters(call.target, {});
  if (!engine::CanManageProgrammes(call.Caller())) Forbid("only admin tokens define programmes");
  RequireMediaType(call.request, kJson);
  auto definition = ParseJsonBody(call.request);
  std::string code = call.Param("code");
  auto registration = co_await engine_.PutProgramme(call.Caller(), std::move(code), std::move(definition));
  auto body = ProgrammeToJson(registration.programme);
  body["created"] = registration.created;
  auto response = JsonResponse(registration.created ? http::status::created : http::status::ok, body,
                               call.request.version());
  response.set(http::field::etag, ETag(registration.programme.version));
  response.set(http::field::location, "/programmes/" + registration.programme.code);
  co_return response;
}

net::awaitable<Response> Application::ListIncidents(Call& call) {
  const auto& target = call.target;
  OnlyParameters(target, {"kind", "office", "case_id", "status", "cursor", "limit"});
  persistence::IncidentQuery query;
  if (auto kind = target.Query("kind")) {
    const auto& kinds = workflow::IncidentKinds();
    if (std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) {
      Throw(Problem(ProblemKind::kInvalidRequest, "query parameter 'kind' must be an incident kind",
                    {{"parameter", "kind"},
                     {"accepted", json::value_from(std::vector<std::string>(kinds.begin(), kinds.end()))}}));
    }
    query.kind = *kind;
  }
  query.office = QueryWord(target, "office");
  query.case_id = QueryWord(target, "case_id", 64);
  if (auto status = target.Query("status")) {
    if (*status != "open" && *status != "resolved" && *status != "all") {
      Throw(Problem(ProblemKind::kInvalidRequest, "query parameter 'status' must be open, resolved or all",
                    {{"parameter", "status"}, {"accepted", json::array{"open", "resolved", "all"}}}));
    }
    if (*status != "all") query.open = *status == "open";
  } else {
    query.open = true;
  }
  query.cursor = target.Query("cursor").value_or("");
  if (query.cursor.size() > 200) Throw(InvalidParameter("cursor", "is not a cursor this engine gave out"));
  query.page_size = static_cast<std::size_t>(
      QueryInteger(target, "limit", 1, settings_.server.max_page_size).value_or(settings_.server.default_page_size));
  auto page = co_await engine_.ListIncidents(call.Caller(), std::move(query));
  json::array items;
  for (const auto& incident : page.incidents) items.push_back(IncidentToJson(incident));
  json::object body{{"incidents", std::move(items)}};
  body["next_cursor"] = page.next_cursor.empty() ? json::value(nullptr) : json::value(page.next_cursor);
  co_return JsonResponse(http::status::ok, body, call.request.version());
}

net::awaitable<Response> Application::ResolveIncident(Call& call) {
  OnlyParameters(call.target, {});
  if (!call.request.body().empty()) {
    Throw(Problem(ProblemKind::kInvalidRequest, "resolving an incident takes no body"));
  }
  std::string id = call.Param("incident_id");
  auto incident = co_await engine_.ResolveIncident(call.Caller(), std::move(id));
  call.log.case_id = incident.case_id;
  co_return JsonResponse(http::status::ok, IncidentToJson(incident), call.request.version());
}

net::awaitable<Response> Application::TestingClock(Call& call) {
  // Without --testing-clock the route does not exist, whoever asks.
  if (!settings_.testing_clock) {
    Throw(Problem(ProblemKind::kNotFound, "this server has no testing clock (returnflow serve --testing-clock)"));
  }
  OnlyParameters(call.target, {});
  RequireMediaType(call.request, kJson);
  const auto body = ParseJsonBody(call.request);
  auto by = ParseClockAdvance(body);
  if (auto* problem = std::get_if<Problem>(&by)) Throw(std::move(*problem));
  auto advance = co_await engine_.AdvanceClock(call.Caller(), std::get<std::chrono::seconds>(by));
  co_return JsonResponse(http::status::ok, json::object{{"now", FormatTimestamp(advance.now)}, {"fired", advance.fired}},
                         call.request.version());
}

net::awaitable<Response> Application::CreateCheckpoint(Call& call) {
  OnlyParameters(call.target, {});
  if (!engine::CanCreateCheckpoints(call.Caller())) Forbid("only admin tokens create checkpoints");
  // Nothing to say in a body: none, or an empty JSON object.
  if (!call.request.body().empty()) {
    RequireMediaType(call.request, kJson);
    const auto body = ParseJsonBody(call.request);
    if (!body.is_object() || !body.get_object().empty()) {
      Throw(Problem(ProblemKind::kInvalidRequest, "this request takes no body (or an empty JSON object)"));
    }
  }
  auto created = co_await engine_.CreateCheckpoint(call.Caller());
  co_return JsonResponse(http::status::created, CheckpointToJson(created.checkpoint, created.public_key_pem),
                         call.request.version());
}

Response Application::OpenApi(Call& call) {
  OnlyParameters(call.target, {});
  Response response{http::status::ok, call.request.version()};
  response.set(http::field::content_type, kJson);
  response.body() = openapi_json_;
  return response;
}

}  // namespace returnflow::api
