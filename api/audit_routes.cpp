// The handler of GET /audit: decode the filters, call the engine's use case, encode the page. The rows
// carry ids, actors, actions, purposes, recipients and categories; never personal data.
#include <boost/json.hpp>

#include "api/dto.hpp"
#include "api/handler_support.hpp"
#include "api/query.hpp"

namespace returnflow::api {

namespace net = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

json::object AuditEntryToJson(const persistence::AuditEntry& entry) {
  const auto& access = entry.access;
  json::object object{{"access_id", entry.access_id}, {"case_id", access.case_id}, {"actor", access.actor},
                      {"action", access.action},      {"purpose", access.purpose},  {"at", FormatTimestamp(access.read_at)}};
  object["recipient"] = access.recipient.empty() ? json::value(nullptr) : json::value(access.recipient);
  json::array categories;
  std::string_view list = access.categories;
  while (!list.empty()) {
    const auto bar = list.find('|');
    if (bar != 0) categories.emplace_back(list.substr(0, bar));
    if (bar == std::string_view::npos) break;
    list.remove_prefix(bar + 1);
  }
  object["categories"] = std::move(categories);
  const auto optional = [](const std::string& text) { return text.empty() ? json::value(nullptr) : json::value(text); };
  object["member_id"] = optional(entry.member_id);
  object["field"] = optional(entry.field);
  object["token_name"] = optional(entry.token_name);
  if (access.case_id.empty()) object["case_id"] = nullptr;
  return object;
}

}  // namespace

net::awaitable<Response> Application::Audit(Call& call) {
  auto query = ParseAuditQuery(call.target, settings_.server.default_page_size, settings_.server.max_page_size);
  if (query.case_id) call.log.case_id = *query.case_id;
  auto page = co_await engine_.Audit(call.Caller(), std::move(query));
  json::array items;
  for (const auto& entry : page.entries) items.push_back(AuditEntryToJson(entry));
  json::object body{{"entries", std::move(items)}};
  body["next_cursor"] = page.next_cursor.empty() ? json::value(nullptr) : json::value(page.next_cursor);
  co_return JsonResponse(http::status::ok, body, call.request.version());
}

net::awaitable<Response> Application::ExportPeople(Call& call) {
  OnlyParameters(call.target, {});
  std::string case_id = call.Param("case_id");
  call.log.case_id = case_id;
  auto exported = co_await engine_.ExportPeople(call.Caller(), case_id);
  json::array history;
  for (const auto& entry : exported.history) history.push_back(HistoryEntryToJson(entry));
  json::object body{{"case_id", case_id}, {"people", PeopleToJson(exported.people)}, {"history", std::move(history)}};
  co_return JsonResponse(http::status::ok, body, call.request.version());
}

net::awaitable<Response> Application::CorrectPerson(Call& call) {
  OnlyParameters(call.target, {});
  RequireMediaType(call.request, kJson);
  std::string case_id = call.Param("case_id");
  call.log.case_id = case_id;
  auto parsed = ParseCorrection(ParseJsonBody(call.request));
  if (auto* problem = std::get_if<Problem>(&parsed)) Throw(std::move(*problem));
  auto& correction = std::get<0>(parsed);
  std::string corrected_field = correction.first;
  persistence::PersonalData corrected = std::move(correction.second);
  corrected.member_id = call.Param("member_id");
  if (corrected.member_id.size() > 64) Throw(Problem(ProblemKind::kInvalidRequest, "the path's member id is too long"));
  auto person = co_await engine_.CorrectPerson(call.Caller(), std::move(case_id), std::move(corrected),
                                               std::move(corrected_field));
  std::vector<persistence::PersonalData> people{std::move(person)};
  co_return JsonResponse(http::status::ok, PeopleToJson(people).at(0), call.request.version());
}

}  // namespace returnflow::api
