// The authorization matrix: every route x every role, on a case that is the caller's own and on one
// that is foreign to it. A foreign case must answer exactly like an unknown one.
#include <set>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "engine/tokens.hpp"
#include "api/router.hpp"
#include "persistence/repository.hpp"
#include "tests/api/fixture.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

TEST_CASE("authorization matrix: every route x every role x own and foreign case", "[api][http][authz]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const std::string id = cast.CreateCase();  // office = cast.office, partners include cast.embassy

    struct Caller {
      std::string label;
      std::string token;
    };
    // Own/foreign pairs: each role once with the case in its scope and once without.
    const std::vector<Caller> callers = {
        {"caseworker/own", cast.caseworker},        {"caseworker/foreign", cast.other_caseworker},
        {"partner/own", cast.embassy_token},        {"partner/foreign", cast.stranger_token},
        {"supervisor/own", cast.supervisor},        {"supervisor/foreign", cast.other_supervisor},
        {"admin", cast.admin},                      {"anonymous", ""},
    };
    struct Row {
      api::RouteId route;
      std::vector<int> expected;  // in the order of `callers`
    };
    // clang-format off
    //                                          cw/own cw/for  p/own  p/for  s/own  s/for  admin  anon
    const std::vector<Row> matrix = {
        {api::RouteId::kCreateCase,    {        201,   403,   403,   403,   403,   403,   403,   401}},
        {api::RouteId::kSearchCases,   {        200,   200,   403,   403,   200,   200,   403,   401}},
        {api::RouteId::kGetCase,       {        200,   404,   200,   404,   200,   404,   403,   401}},
        {api::RouteId::kPostCaseEvent, {        409,   404,   409,   404,   403,   403,   403,   401}},
        {api::RouteId::kCaseHistory,   {        200,   404,   200,   404,   200,   404,   403,   401}},
        {api::RouteId::kPostEvents,    {        409,   404,   409,   404,   403,   403,   403,   401}},
        {api::RouteId::kWorkflow,      {        200,   200,   200,   200,   200,   200,   403,   401}},
        {api::RouteId::kCreateToken,   {        403,   403,   403,   403,   403,   403,   201,   401}},
        {api::RouteId::kListTokens,    {        403,   403,   403,   403,   403,   403,   200,   401}},
        {api::RouteId::kRevokeToken,   {        403,   403,   403,   403,   403,   403,   204,   401}},
        {api::RouteId::kHealthz,       {        200,   200,   200,   200,   200,   200,   200,   200}},
        {api::RouteId::kReadyz,        {        200,   200,   200,   200,   200,   200,   200,   200}},
        {api::RouteId::kMetrics,       {        403,   403,   403,   403,   200,   200,   200,   401}},
        {api::RouteId::kOpenApi,       {        200,   200,   200,   200,   200,   200,   200,   401}},
    };
    // clang-format on
    std::set<api::RouteId> covered;
    for (const auto& row : matrix) covered.insert(row.route);
    REQUIRE(covered.size() == api::Routes().size());  // a new route must join the matrix

    // The unknown case's answers, for comparison with foreign ones.
    const std::string unknown = "00000000-0000-4000-8000-000000000000";

    for (const auto& row : matrix) {
      const auto& route = api::RouteFor(row.route);
      for (std::size_t column = 0; column < callers.size(); ++column) {
        const auto& caller = callers[column];
        HttpClient client(server.Port(), caller.token);
        std::string target(route.pattern);
        std::string body;
        std::string content_type;
        auto fill = [&](const std::string& case_id) {
          target = std::string(route.pattern);
          if (auto at = target.find("{case_id}"); at != std::string::npos) target.replace(at, 9, case_id);
          switch (row.route) {
            case api::RouteId::kCreateCase:
              body = json::serialize(cast.Referral());
              content_type = "application/json";
              break;
            case api::RouteId::kPostCaseEvent:
            case api::RouteId::kPostEvents:
              body = json::serialize(CloudEvent("travel_document.requested", case_id));
              content_type = "application/cloudevents+json";
              break;
            case api::RouteId::kCreateToken:
              body = json::serialize(json::object{{"name", Unique("matrix")}, {"role", "supervisor"}});
              content_type = "application/json";
              break;
            default:
              break;
          }
          if (row.route == api::RouteId::kRevokeToken) {
            target = "/tokens/" + Unique("matrix-revoke");
            // An existing token to revoke (created directly in the database).
            auto name = target.substr(std::string("/tokens/").size());
            persistence::TokenRepository(server.Service().Database())
                .Create(name, workflow::Role::kSupervisor, {}, engine::GenerateToken());
          }
        };
        fill(id);
        auto result = client.Request(route.method, target, body, content_type);
        INFO(route.name << " as " << caller.label << ": " << result.status << " " << result.body);
        CHECK(result.status == row.expected[column]);
        if (result.status == 404) {
          // Foreign answers exactly as unknown: same status, same problem type and detail.
          fill(unknown);
          auto unknown_result = client.Request(route.method, target, body, content_type);
          CHECK(unknown_result.status == 404);
          auto strip = [](json::value value) {
            value.as_object().erase("instance");
            return value;
          };
          CHECK(strip(result.Json()) == strip(unknown_result.Json()));
        }
      }
    }
  }
}
