// GET /audit through real HTTP on both backends: personal-data reads, exports, corrections and token
// changes appear, filters and keyset pages work, only auditors and admins read it, auditors read nothing
// else, and no personal data value is in it. The PostgreSQL database is shared with other tests: every
// query here is narrowed to this test's own case ids, token names or times.
#include <set>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/api/fixture.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

namespace {

bool Contains(const std::string& body, std::string_view text) { return body.find(text) != std::string::npos; }

/// Every entry of `target` (which has a '?'), following next_cursor page by page.
std::vector<json::object> AllPages(HttpClient& client, const std::string& target, std::size_t max_pages = 500) {
  std::vector<json::object> entries;
  std::string cursor;
  for (std::size_t page = 0; page < max_pages; ++page) {
    auto result = client.Get(target + (cursor.empty() ? "" : "&cursor=" + cursor));
    INFO(result.body);
    REQUIRE(result.status == 200);
    const auto body = result.Json();
    for (const auto& entry : body.at("entries").as_array()) entries.push_back(entry.as_object());
    if (body.at("next_cursor").is_null()) return entries;
    cursor = std::string(body.at("next_cursor").as_string());
  }
  FAIL("the audit's pages did not end");
  return entries;
}

std::string Str(const json::object& object, std::string_view key) {
  const auto& value = object.at(key);
  return value.is_null() ? std::string() : std::string(value.as_string());
}

}  // namespace

TEST_CASE("GET /audit lists reads, exports, corrections and token changes, filtered and paged, without personal data",
          "[api][http][audit]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const std::string auditor_token = server.Token("auditor", {});
    auto auditor = server.Client(auditor_token);
    auto caseworker = server.Client(cast.caseworker);
    const std::string id = cast.CreateCase();

    // A read, an export and a correction of the case's people, by a caseworker of its office.
    REQUIRE(caseworker.Get("/cases/" + id + "?include=personal_data&purpose=caseworker_view").status == 200);
    auto exported = caseworker.Get("/cases/" + id + "/people");
    INFO(exported.body);
    REQUIRE(exported.status == 200);
    {
      const auto body = exported.Json();
      CHECK(body.at("case_id") == json::value(id));
      REQUIRE(body.at("people").as_array().size() == 1);
      CHECK(body.at("people").at(0).at("given_names") == "Synthetic");
      CHECK(body.at("people").at(0).at("documents").at(0).at("number") == "SYN000001");
      CHECK(body.at("history").as_array().size() >= 1);
      CHECK(body.at("history").at(0).at("type") == "case.opened");
    }
    auto corrected = caseworker.Request(http::verb::patch, "/cases/" + id + "/people/m1",
                                        json::serialize(json::object{{"family_name", "Correctedname"}}), "application/json");
    INFO(corrected.body);
    REQUIRE(corrected.status == 200);
    CHECK(corrected.Json().at("family_name") == "Correctedname");
    CHECK(corrected.Json().at("given_names") == "Synthetic");  // the other fields stay as they were
    // The correction is stored: the next export reads it.
    auto again = caseworker.Get("/cases/" + id + "/people");
    REQUIRE(again.status == 200);
    CHECK(again.Json().at("people").at(0).at("family_name") == "Correctedname");

    // Bad corrections: precise 400s, no audit row (checked by the count below).
    const auto patch = [&](const std::string& member, const json::object& body) {
      return caseworker.Request(http::verb::patch, "/cases/" + id + "/people/" + member, json::serialize(body),
                                "application/json");
    };
    CHECK(patch("m1", json::object{{"family_name", "A"}, {"given_names", "B"}}).status == 400);
    CHECK(patch("m1", json::object{{"date_of_birth", "someday"}}).status == 400);
    CHECK(patch("m1", json::object{{"eye_colour", "blue"}}).status == 400);
    CHECK(patch("m9", json::object{{"family_name", "Nobody"}}).status == 404);
    // Other callers are refused as a personal-data read refuses them.
    CHECK(server.Client(cast.other_caseworker).Get("/cases/" + id + "/people").status == 404);
    CHECK(server.Client(cast.embassy_token).Get("/cases/" + id + "/people").status == 403);
    CHECK(server.Client(cast.supervisor).Get("/cases/" + id + "/people").status == 403);

    // The case's audit: creation, read, export, correction, export, oldest first.
    const auto trail = AllPages(auditor, "/audit?case_id=" + id);
    std::vector<std::string> actions;
    for (const auto& entry : trail) actions.push_back(Str(entry, "action"));
    CHECK(actions == std::vector<std::string>{"create", "read", "export", "correct", "export"});
    REQUIRE(trail.size() == 5);
    const std::string actor = Str(trail.at(0), "actor");
    CHECK_FALSE(actor.empty());
    for (const auto& entry : trail) {
      CHECK(Str(entry, "case_id") == id);
      CHECK(Str(entry, "actor") == actor);
    }
    CHECK(Str(trail.at(2), "purpose") == "export");
    CHECK(Str(trail.at(3), "purpose") == "correction");
    CHECK(Str(trail.at(3), "member_id") == "m1");
    CHECK(Str(trail.at(3), "field") == "family_name");
    CHECK(trail.at(1).at("field").is_null());

    // No personal data value is in the audit, for the auditor or for an admin.
    for (const auto& token : std::vector<std::string>{auditor_token, cast.admin}) {
      auto result = server.Client(token).Get("/audit?case_id=" + id);
      INFO(result.body);
      REQUIRE(result.status == 200);
      CHECK(result.Json().at("entries").as_array().size() == 5);
      for (const auto* value : {"Synthetic", "Person", "Correctedname", "SYN000001", "1991-04-02"}) {
        CHECK_FALSE(Contains(result.body, value));
      }
    }

    // Keyset pages of one: the same five rows in the same order, each once.
    const auto paged = AllPages(auditor, "/audit?case_id=" + id + "&limit=1");
    REQUIRE(paged.size() == trail.size());
    for (std::size_t index = 0; index < paged.size(); ++index) {
      CHECK(Str(paged[index], "access_id") == Str(trail[index], "access_id"));
    }
    {
      auto first = auditor.Get("/audit?case_id=" + id + "&limit=2");
      REQUIRE(first.status == 200);
      CHECK(first.Json().at("entries").as_array().size() == 2);
      CHECK(first.Json().at("next_cursor").is_string());
    }

    // Filters: action, actor, time.
    const auto exports = AllPages(auditor, "/audit?case_id=" + id + "&action=export");
    CHECK(exports.size() == 2);
    for (const auto& entry : exports) CHECK(Str(entry, "action") == "export");
    CHECK(AllPages(auditor, "/audit?case_id=" + id + "&action=correct").size() == 1);
    CHECK(AllPages(auditor, "/audit?case_id=" + id + "&action=transfer").empty());
    CHECK(AllPages(auditor, "/audit?case_id=" + id + "&actor=" + actor).size() == 5);
    CHECK(AllPages(auditor, "/audit?case_id=" + id + "&actor=" + Unique("nobody")).empty());
    CHECK(AllPages(auditor, "/audit?case_id=" + id + "&to=2000-01-01T00:00:00Z").empty());
    CHECK(AllPages(auditor, "/audit?case_id=" + id + "&from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z").size() == 5);
    const std::string correction_at = Str(trail.at(3), "at");
    const auto since_correction = AllPages(auditor, "/audit?case_id=" + id + "&from=" + correction_at);
    REQUIRE(since_correction.size() >= 2);  // the correction (from is inclusive) and the export after it
    CHECK(Str(since_correction.back(), "action") == "export");
    CHECK(AllPages(auditor, "/audit?case_id=" + id + "&to=" + correction_at).size() <= 3);

    // Bad filters: 400 naming the parameter.
    const auto refused = [&](const std::string& query, const std::string& parameter) {
      auto result = auditor.Get("/audit?" + query);
      INFO(query << " -> " << result.body);
      CHECK(result.status == 400);
      CHECK(result.Json().at("parameter") == json::value(parameter));
    };
    refused("action=peek", "action");
    refused("from=yesterday", "from");
    refused("to=2026-13-45T00:00:00Z", "to");
    refused("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to");
    refused("limit=0", "limit");
    refused("limit=100000", "limit");
    refused("case_id=" + std::string(80, 'a'), "case_id");
    refused("actor=a%20b", "actor");
    {
      // An unknown parameter: OnlyParameters' 400 lists the accepted ones.
      auto result = auditor.Get("/audit?case=" + id);
      CHECK(result.status == 400);
      CHECK(result.Json().at("accepted").as_array().size() == 7);
    }
    refused("case_id=" + id + "&case_id=" + id, "case_id");
    {
      auto result = auditor.Get("/audit?cursor=not-a-cursor");
      INFO(result.body);
      CHECK(result.status == 400);
    }

    // Token changes: created and revoked by an admin, audited with its name and the token's, no secret.
    const std::string name = Unique("audited-token");
    auto created = server.Client(cast.admin).PostJson("/tokens", json::object{{"name", name}, {"role", "supervisor"}});
    INFO(created.body);
    REQUIRE(created.status == 201);
    const std::string secret(created.Json().at("token").as_string());
    const std::string created_at(created.Json().at("created_at").as_string());
    REQUIRE(server.Client(cast.admin).Request(http::verb::delete_, "/tokens/" + name).status == 204);
    const auto changes = AllPages(auditor, "/audit?action=token_create&from=" + created_at + "&limit=200");
    std::string admin_actor;
    for (const auto& entry : changes) {
      if (Str(entry, "token_name") == name) admin_actor = Str(entry, "actor");
    }
    REQUIRE_FALSE(admin_actor.empty());
    const auto by_admin = AllPages(auditor, "/audit?actor=" + admin_actor);
    std::vector<std::string> admin_actions;
    for (const auto& entry : by_admin) {
      if (Str(entry, "token_name") == name) admin_actions.push_back(Str(entry, "action"));
      CHECK(entry.at("case_id").is_null());
    }
    CHECK(admin_actions == std::vector<std::string>{"token_create", "token_revoke"});
    CHECK_FALSE(Contains(auditor.Get("/audit?actor=" + admin_actor).body, secret));

    // Who reads the audit: auditors and admins; nobody else. An auditor reads nothing else.
    for (const auto& token : std::vector<std::string>{cast.caseworker, cast.embassy_token, cast.supervisor}) {
      auto result = server.Client(token).Get("/audit?case_id=" + id);
      CHECK(result.status == 403);
      CHECK(result.Json().at("status") == 403);
    }
    CHECK(server.Client("").Get("/audit").status == 401);
    for (const auto& target : {"/cases/" + id, "/cases/" + id + "?include=personal_data&purpose=caseworker_view",
                               "/cases/" + id + "/people", "/cases/" + id + "/history", std::string("/cases"),
                               std::string("/tokens"), std::string("/workflow"), std::string("/programmes")}) {
      auto result = auditor.Get(target);
      INFO(target << " -> " << result.body);
      CHECK(result.status == 403);
      CHECK_FALSE(Contains(result.body, "Synthetic"));
    }
    CHECK(auditor.Request(http::verb::patch, "/cases/" + id + "/people/m1",
                          json::serialize(json::object{{"family_name", "Auditorname"}}), "application/json")
              .status == 403);
    CHECK(auditor.Get("/healthz").status == 200);
    // Nothing the auditor asked for was a personal-data access.
    CHECK(AllPages(auditor, "/audit?case_id=" + id).size() == 5);
  }
}
