#pragma once
/// The HTTP handlers: each decodes its request, calls one engine use case, and encodes the answer. Every
/// failure becomes an RFC 9457 problem document in one place (Handle, through ProblemFor).
#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "api/http_server.hpp"
#include "api/metrics.hpp"
#include "api/problem.hpp"
#include "api/router.hpp"
#include "config/settings.hpp"
#include "engine/engine.hpp"

namespace returnflow::api {

class Application {
 public:
  Application(engine::Engine& engine, const config::Settings& settings, Metrics& metrics);

  /// Answers one request; never throws.
  boost::asio::awaitable<Response> Handle(Request& request, RequestInfo& info);

 private:
  struct Call;  // one request being handled

  boost::asio::awaitable<Response> Dispatch(Call& call);
  boost::asio::awaitable<Response> CreateCase(Call& call);
  boost::asio::awaitable<Response> SearchCases(Call& call);
  boost::asio::awaitable<Response> GetCase(Call& call);
  boost::asio::awaitable<Response> PostCaseEvent(Call& call);
  boost::asio::awaitable<Response> PostEvents(Call& call);
  boost::asio::awaitable<Response> CaseHistory(Call& call);
  boost::asio::awaitable<Response> CreateToken(Call& call);
  boost::asio::awaitable<Response> ListTokens(Call& call);
  boost::asio::awaitable<Response> RevokeToken(Call& call);
  boost::asio::awaitable<Response> Ready(Call& call);
  boost::asio::awaitable<Response> ListProgrammes(Call& call);
  boost::asio::awaitable<Response> GetProgramme(Call& call);
  boost::asio::awaitable<Response> PutProgramme(Call& call);
  boost::asio::awaitable<Response> ListIncidents(Call& call);
  boost::asio::awaitable<Response> ResolveIncident(Call& call);
  boost::asio::awaitable<Response> TestingClock(Call& call);
  // case_parties.cpp
  boost::asio::awaitable<Response> ChangePartner(Call& call, bool assign);
  boost::asio::awaitable<Response> RecordConsent(Call& call);
  boost::asio::awaitable<Response> ListConsents(Call& call);
  boost::asio::awaitable<Response> WithdrawConsent(Call& call);
  boost::asio::awaitable<Response> ApproveErasure(Call& call);
  /// One event's answer: 200 with its outcome and ETag, 202 deferred, or its problem; logged by outcome.
  static Response EventResponse(Call& call, const engine::EventResult& result);
  boost::asio::awaitable<Response> CreateCheckpoint(Call& call);
  // Subscriptions and the feed (outbox_routes.cpp).
  boost::asio::awaitable<Response> CreateSubscription(Call& call);
  boost::asio::awaitable<Response> ListSubscriptions(Call& call);
  boost::asio::awaitable<Response> GetSubscription(Call& call);
  boost::asio::awaitable<Response> UpdateSubscription(Call& call);
  boost::asio::awaitable<Response> DeleteSubscription(Call& call);
  boost::asio::awaitable<Response> RotateSubscriptionSecret(Call& call);
  boost::asio::awaitable<Response> ListDeliveryAttempts(Call& call);
  boost::asio::awaitable<Response> ListNotifications(Call& call);
  boost::asio::awaitable<Response> ReplayNotifications(Call& call);
  boost::asio::awaitable<Response> ListReplays(Call& call);
  boost::asio::awaitable<Response> Feed(Call& call);
  boost::asio::awaitable<Response> Audit(Call& call);  // api/audit_routes.cpp, with the two below
  boost::asio::awaitable<Response> ExportPeople(Call& call);
  boost::asio::awaitable<Response> CorrectPerson(Call& call);
  Response Workflow(Call& call);
  Response MetricsText(Call& call);
  Response OpenApi(Call& call);

  engine::Engine& engine_;
  const config::Settings& settings_;
  Metrics& metrics_;
  std::string workflow_json_;
  std::string openapi_json_;
};

/// Extracts a case version from an If-Match value ("3", "\"3\"", W/"3"); nullopt when malformed.
std::optional<std::int64_t> ParseIfMatch(std::string_view value);

/// The HTTP status and body answering one event result (an outcome, or a problem).
struct EventAnswer {
  int status = 200;
  boost::json::object body;
  bool problem = false;
};
EventAnswer AnswerFor(const engine::EventResult& result);

}  // namespace returnflow::api
