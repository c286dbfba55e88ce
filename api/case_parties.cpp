// Handlers of partner assignment and consent records: decode, call one engine use case, encode.
#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

#include "api/dto.hpp"
#include "api/handler_support.hpp"
#include "api/json_reader.hpp"
#include "api/query.hpp"

namespace returnflow::api {

namespace net = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

workflow::Instant Now(engine::Engine& engine) { return std::chrono::floor<std::chrono::seconds>(engine.Now()); }

}  // namespace

net::awaitable<Response> Application::ChangePartner(Call& call, bool assign) {
  OnlyParameters(call.target, {});
  const auto if_match = IfMatchOf(call.request);
  std::string case_id = call.Param("case_id");
  call.log.case_id = case_id;
  std::string organisation;
  if (assign) {
    RequireMediaType(call.request, kJson);
    auto parsed = ParsePartnerAssignment(ParseJsonBody(call.request));
    if (auto* problem = std::get_if<Problem>(&parsed)) Throw(std::move(*problem));
    organisation = std::move(std::get<std::string>(parsed));
  } else {
    if (!call.request.body().empty()) Throw(Problem(ProblemKind::kInvalidRequest, "unassigning a partner takes no body"));
    organisation = call.Param("organisation");
    if (!workflow::ValidOrganisationId(organisation)) {
      Throw(Problem(ProblemKind::kInvalidRequest, "the path's organisation " + std::string(kOrganisationIdRule)));
    }
  }
  const std::string answered = organisation;
  persistence::CaseChange change;
  if (assign) {
    change = co_await engine_.AssignPartner(call.Caller(), std::move(case_id), std::move(organisation), if_match);
  } else {
    change = co_await engine_.UnassignPartner(call.Caller(), std::move(case_id), std::move(organisation), if_match);
  }
  call.log.outcome = change.changed ? (assign ? "assigned" : "unassigned") : "unchanged";
  auto response = JsonResponse(http::status::ok, PartnerChangeToJson(call.log.case_id, answered, assign, change),
                               call.request.version());
  response.set(http::field::etag, ETag(change.version));
  co_return response;
}

net::awaitable<Response> Application::RecordConsent(Call& call) {
  OnlyParameters(call.target, {});
  RequireMediaType(call.request, kJson);
  const auto if_match = IfMatchOf(call.request);
  std::string key(call.request["Idempotency-Key"]);
  if (!UsableIdempotencyKey(key)) {
    Throw(Problem(ProblemKind::kInvalidRequest, "Idempotency-Key must be at most 200 printable characters"));
  }
  auto parsed = ParseNewConsent(ParseJsonBody(call.request));
  if (auto* problem = std::get_if<Problem>(&parsed)) Throw(std::move(*problem));
  auto consent = std::move(std::get<persistence::NewConsent>(parsed));
  consent.expected_version = if_match;
  consent.request_id = std::move(key);
  std::string case_id = call.Param("case_id");
  call.log.case_id = case_id;
  auto recorded = co_await engine_.RecordConsent(call.Caller(), std::move(case_id), std::move(consent));
  call.log.outcome = recorded.change.changed ? "recorded" : "replayed";
  auto body = ConsentToJson(recorded.consent, Now(engine_));
  body["version"] = recorded.change.version;
  body["replayed"] = !recorded.change.changed;
  auto response = JsonResponse(recorded.change.changed ? http::status::created : http::status::ok, body,
                               call.request.version());
  response.set(http::field::location, "/cases/" + call.log.case_id + "/consents/" + recorded.consent.consent_id);
  response.set(http::field::etag, ETag(recorded.change.version));
  co_return response;
}

net::awaitable<Response> Application::ListConsents(Call& call) {
  OnlyParameters(call.target, {});
  std::string case_id = call.Param("case_id");
  call.log.case_id = case_id;
  auto list = co_await engine_.ListConsents(call.Caller(), std::move(case_id));
  co_return JsonResponse(http::status::ok, ConsentListToJson(call.log.case_id, list, Now(engine_)),
                         call.request.version());
}

net::awaitable<Response> Application::WithdrawConsent(Call& call) {
  OnlyParameters(call.target, {});
  if (!call.request.body().empty()) Throw(Problem(ProblemKind::kInvalidRequest, "withdrawing consent takes no body"));
  const auto if_match = IfMatchOf(call.request);
  std::string case_id = call.Param("case_id");
  std::string consent_id = call.Param("consent_id");
  call.log.case_id = case_id;
  auto withdrawn = co_await engine_.WithdrawConsent(call.Caller(), std::move(case_id), std::move(consent_id), if_match);
  call.log.outcome = withdrawn.change.changed ? "withdrawn" : "unchanged";
  auto body = ConsentToJson(withdrawn.consent, Now(engine_));
  body["version"] = withdrawn.change.version;
  body["changed"] = withdrawn.change.changed;
  auto response = JsonResponse(http::status::ok, body, call.request.version());
  response.set(http::field::etag, ETag(withdrawn.change.version));
  co_return response;
}

}  // namespace returnflow::api
