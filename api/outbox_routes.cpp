// The handlers of subscriptions (admins), their deliveries and replays, and the pull feed.
#include <boost/json.hpp>

#include "api/handler_support.hpp"
#include "api/dto.hpp"
#include "api/query.hpp"
#include "engine/authorization.hpp"
#include "persistence/cursor.hpp"

namespace returnflow::api {

namespace net = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

/// Subscription ids are UUIDs: anything else is no subscription (answered like an unknown one).
std::string SubscriptionId(const std::string& value) {
  if (!persistence::LooksLikeCaseId(value)) Throw(Problem(ProblemKind::kNotFound, "there is no such subscription"));
  return value;
}

/// A time of a replay range, RFC 3339.
persistence::Timestamp TimeMember(const json::object& body, std::string_view key) {
  const auto* value = body.if_contains(key);
  std::optional<persistence::Timestamp> parsed;
  if (value && value->is_string()) parsed = ParseTimestamp(value->get_string());
  if (!parsed) {
    Throw(Problem(ProblemKind::kInvalidRequest, "must be an RFC 3339 time", {{"pointer", "/" + std::string(key)}}));
  }
  return *parsed;
}

}  // namespace

net::awaitable<Response> Application::CreateSubscription(Call& call) {
  OnlyParameters(call.target, {});
  if (!engine::CanManageSubscriptions(call.Caller())) Forbid("only admin tokens manage subscriptions");
  RequireMediaType(call.request, kJson);
  auto parsed = ParseCreateSubscription(ParseJsonBody(call.request));
  if (auto* problem = std::get_if<Problem>(&parsed)) Throw(std::move(*problem));
  auto created = co_await engine_.CreateSubscription(call.Caller(), std::move(std::get<persistence::Subscription>(parsed)));
  // The secret is shown this once (and at each rotation).
  co_return JsonResponse(http::status::created, SubscriptionToJson(created, true), call.request.version());
}

net::awaitable<Response> Application::ListSubscriptions(Call& call) {
  OnlyParameters(call.target, {});
  auto all = co_await engine_.ListSubscriptions(call.Caller());
  json::array items;
  for (const auto& subscription : all) items.push_back(SubscriptionToJson(subscription));
  co_return JsonResponse(http::status::ok, json::object{{"subscriptions", std::move(items)}}, call.request.version());
}

net::awaitable<Response> Application::GetSubscription(Call& call) {
  OnlyParameters(call.target, {});
  auto id = SubscriptionId(call.Param("subscription_id"));
  auto subscription = co_await engine_.GetSubscription(call.Caller(), std::move(id));
  auto response = JsonResponse(http::status::ok, SubscriptionToJson(subscription), call.request.version());
  response.set(http::field::etag, ETag(subscription.version));
  co_return response;
}

net::awaitable<Response> Application::UpdateSubscription(Call& call) {
  OnlyParameters(call.target, {});
  if (!engine::CanManageSubscriptions(call.Caller())) Forbid("only admin tokens manage subscriptions");
  RequireMediaType(call.request, kJson);
  auto id = SubscriptionId(call.Param("subscription_id"));
  auto parsed = ParseSubscriptionPatch(ParseJsonBody(call.request));
  if (auto* problem = std::get_if<Problem>(&parsed)) Throw(std::move(*problem));
  std::optional<std::int64_t> if_match;
  if (const auto header = call.request[http::field::if_match]; !header.empty()) {
    if_match = ParseIfMatch(header);
    if (!if_match) Throw(Problem(ProblemKind::kInvalidRequest, "If-Match must name a subscription version"));
  }
  auto updated = co_await engine_.UpdateSubscription(call.Caller(), std::move(id),
                                                     std::move(std::get<engine::SubscriptionPatch>(parsed)), if_match);
  auto response = JsonResponse(http::status::ok, SubscriptionToJson(updated), call.request.version());
  response.set(http::field::etag, ETag(updated.version));
  co_return response;
}

net::awaitable<Response> Application::DeleteSubscription(Call& call) {
  OnlyParameters(call.target, {});
  auto id = SubscriptionId(call.Param("subscription_id"));
  co_await engine_.DeleteSubscription(call.Caller(), std::move(id));
  co_return Response{http::status::no_content, call.request.version()};
}

net::awaitable<Response> Application::RotateSubscriptionSecret(Call& call) {
  OnlyParameters(call.target, {});
  if (!call.request.body().empty()) Throw(Problem(ProblemKind::kInvalidRequest, "rotating a secret takes no body"));
  auto id = SubscriptionId(call.Param("subscription_id"));
  auto rotated = co_await engine_.RotateSubscriptionSecret(call.Caller(), std::move(id));
  co_return JsonResponse(http::status::ok, SubscriptionToJson(rotated, true), call.request.version());
}

net::awaitable<Response> Application::ListDeliveryAttempts(Call& call) {
  OnlyParameters(call.target, {"limit"});
  auto id = SubscriptionId(call.Param("subscription_id"));
  const auto limit = QueryInteger(call.target, "limit", 1, settings_.server.max_page_size)
                         .value_or(settings_.server.default_page_size);
  auto attempts = co_await engine_.ListDeliveryAttempts(call.Caller(), std::move(id), static_cast<std::size_t>(limit));
  json::array items;
  for (const auto& attempt : attempts) items.push_back(DeliveryAttemptToJson(attempt));
  co_return JsonResponse(http::status::ok, json::object{{"attempts", std::move(items)}}, call.request.version());
}

net::awaitable<Response> Application::ListNotifications(Call& call) {
  OnlyParameters(call.target, {"status", "limit"});
  auto id = SubscriptionId(call.Param("subscription_id"));
  std::string status = call.target.Query("status").value_or("");
  if (!status.empty() && status != "pending" && status != "delivered" && status != "dead" && status != "feed") {
    Throw(InvalidParameter("status", "must be pending, delivered, dead or feed"));
  }
  const auto limit = QueryInteger(call.target, "limit", 1, settings_.server.max_page_size)
                         .value_or(settings_.server.default_page_size);
  auto notifications = co_await engine_.ListNotifications(call.Caller(), std::move(id), std::move(status),
                                                          static_cast<std::size_t>(limit));
  json::array items;
  for (const auto& notification : notifications) items.push_back(NotificationToJson(notification));
  co_return JsonResponse(http::status::ok, json::object{{"notifications", std::move(items)}}, call.request.version());
}

net::awaitable<Response> Application::ReplayNotifications(Call& call) {
  OnlyParameters(call.target, {});
  if (!engine::CanManageSubscriptions(call.Caller())) Forbid("only admin tokens manage subscriptions");
  RequireMediaType(call.request, kJson);
  auto id = SubscriptionId(call.Param("subscription_id"));
  const auto body = ParseJsonBody(call.request);
  if (!body.is_object()) Throw(Problem(ProblemKind::kInvalidRequest, "the body must be an object with from and to"));
  for (const auto& member : body.get_object()) {
    if (member.key() != "from" && member.key() != "to") {
      Throw(Problem(ProblemKind::kInvalidRequest, "is not a member of this object", {{"pointer", "/" + std::string(member.key())}}));
    }
  }
  const auto from = TimeMember(body.get_object(), "from");
  const auto to = TimeMember(body.get_object(), "to");
  auto replay = co_await engine_.ReplayNotifications(call.Caller(), std::move(id), from, to);
  co_return JsonResponse(http::status::created, ReplayToJson(replay), call.request.version());
}

net::awaitable<Response> Application::ListReplays(Call& call) {
  OnlyParameters(call.target, {});
  auto id = SubscriptionId(call.Param("subscription_id"));
  auto replays = co_await engine_.ListReplays(call.Caller(), std::move(id));
  json::array items;
  for (const auto& replay : replays) items.push_back(ReplayToJson(replay));
  co_return JsonResponse(http::status::ok, json::object{{"replays", std::move(items)}}, call.request.version());
}

net::awaitable<Response> Application::Feed(Call& call) {
  OnlyParameters(call.target, {"cursor", "limit", "wait"});
  engine::FeedRequest request;
  request.cursor = call.target.Query("cursor").value_or("");
  if (request.cursor.size() > 256) Throw(InvalidParameter("cursor", "is not one this engine gave out"));
  request.limit = static_cast<std::size_t>(QueryInteger(call.target, "limit", 1, settings_.server.max_page_size)
                                               .value_or(settings_.server.default_page_size));
  const auto max_wait_seconds = std::chrono::duration_cast<std::chrono::seconds>(settings_.delivery.feed_max_wait).count();
  request.wait = std::chrono::seconds(QueryInteger(call.target, "wait", 0, max_wait_seconds).value_or(0));
  auto result = co_await engine_.ReadFeed(call.Caller(), std::move(request));
  json::array events;
  for (auto& event : result.events) events.push_back(std::move(event));
  co_return JsonResponse(http::status::ok, json::object{{"events", std::move(events)}, {"next_cursor", result.next_cursor}},
                         call.request.version());
}

}  // namespace returnflow::api
