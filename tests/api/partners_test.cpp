// Assigning partners to a case and taking them off it, over real sockets on SQLite and PostgreSQL: an
// organisation assigned later reads the case and sends its events; unassigned, its very next request is
// answered as for an unknown case; the history shows both with who did it; only the office's caseworkers
// and admins may do it; events racing an unassignment are either before it in the history or refused.
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <thread>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "persistence/repository.hpp"
#include "tests/api/fixture.hpp"
#include "workflow/consent.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

namespace {

/// A case whose only partner is the embassy (the travel agent is not on it).
std::string CaseWithoutTravelAgent(Cast& cast) {
  auto referral = cast.Referral();
  referral["partners"] = json::array{cast.embassy};
  auto created = cast.server.Client(cast.caseworker).PostJson("/cases", referral);
  REQUIRE(created.status == 201);
  return std::string(created.Json().at("case_id").as_string());
}

HttpResult Assign(TestServer& server, const std::string& token, const std::string& case_id,
                  const std::string& organisation,
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  return server.Client(token).Request(http::verb::post, "/cases/" + case_id + "/partners",
                                      json::serialize(json::object{{"organisation", organisation}}), "application/json",
                                      headers);
}

HttpResult Unassign(TestServer& server, const std::string& token, const std::string& case_id,
                    const std::string& organisation) {
  return server.Client(token).Request(http::verb::delete_, "/cases/" + case_id + "/partners/" + organisation);
}

}  // namespace

TEST_CASE("a travel agent assigned later reads the case and sends its events, unassigned it is refused at once",
          "[api][http][partners]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = CaseWithoutTravelAgent(cast);
    auto agent = server.Client(cast.travel_token);
    CheckAnswersAsUnknown(agent.Get("/cases/" + id), agent.Get(std::string("/cases/") + kUnknownCase));

    auto assigned = Assign(server, cast.caseworker, id, cast.travel_agent);
    INFO(assigned.body);
    REQUIRE(assigned.status == 200);
    auto body = assigned.Json();
    CHECK(body.at("changed") == true);
    CHECK(body.at("assigned") == true);
    CHECK(body.at("version") == 2);
    CHECK(assigned.Header("etag") == "\"2\"");
    const auto& partners = body.at("partners").as_array();
    CHECK(std::find(partners.begin(), partners.end(), json::value(cast.travel_agent)) != partners.end());
    // Assigning it again is a clear answer, not a second row or a second history entry.
    auto again = Assign(server, cast.caseworker, id, cast.travel_agent);
    REQUIRE(again.status == 200);
    CHECK(again.Json().at("changed") == false);
    CHECK(again.Json().at("version") == 2);

    // Read and send at once (its token was cached by the refused read above: no cache stands in the way).
    CHECK(agent.Get("/cases/" + id).status == 200);
    CHECK(agent.Get("/cases/" + id + "/history").status == 200);
    auto booked_early = CloudEvent("travel.booked", id, {{"departure_date", "2026-12-20"}}, "2026-11-20T10:00:00Z");
    auto sent = agent.PostEvent(id, booked_early);
    INFO(sent.body);
    CHECK(sent.status == 202);  // the case is in referral: the booking waits in its inbox
    auto search = server.Client(cast.caseworker).Get("/cases?partner=" + cast.travel_agent);
    REQUIRE(search.status == 200);
    CHECK(search.Json().at("cases").as_array().size() == 1);  // case_partners changed with cases.partners

    auto unassigned = Unassign(server, cast.caseworker, id, cast.travel_agent);
    INFO(unassigned.body);
    REQUIRE(unassigned.status == 200);
    CHECK(unassigned.Json().at("changed") == true);
    CHECK(unassigned.Json().at("assigned") == false);
    CHECK(unassigned.Json().at("version") == 3);
    CHECK(server.Client(cast.caseworker).Get("/cases?partner=" + cast.travel_agent).Json().at("cases").as_array().empty());
    // The very next requests, on the same keep-alive connection, are answered as for an unknown case.
    CheckAnswersAsUnknown(agent.Get("/cases/" + id), agent.Get(std::string("/cases/") + kUnknownCase));
    CheckAnswersAsUnknown(agent.Get("/cases/" + id + "/history"),
                          agent.Get(std::string("/cases/") + kUnknownCase + "/history"));
    CheckAnswersAsUnknown(agent.Get("/cases/" + id + "/consents"),
                          agent.Get(std::string("/cases/") + kUnknownCase + "/consents"));
    auto refused = agent.PostEvent(id, CloudEvent("travel.booked", id, {{"departure_date", "2026-12-21"}}));
    auto refused_unknown =
        agent.PostEvent(kUnknownCase, CloudEvent("travel.booked", kUnknownCase, {{"departure_date", "2026-12-21"}}));
    CheckAnswersAsUnknown(refused, refused_unknown);
    // Even a redelivery of the event it sent while assigned: the case is no longer its to see.
    CheckAnswersAsUnknown(agent.PostEvent(id, booked_early), refused_unknown);
    // Unassigning again changes nothing.
    auto unassigned_again = Unassign(server, cast.caseworker, id, cast.travel_agent);
    REQUIRE(unassigned_again.status == 200);
    CHECK(unassigned_again.Json().at("changed") == false);

    // The history shows both, with who did it and when, in order around the agent's event.
    auto history = server.Client(cast.caseworker).Get("/cases/" + id + "/history");
    REQUIRE(history.status == 200);
    const auto entries = history.Json().at("entries").as_array();
    std::vector<std::string> types;
    for (const auto& entry : entries) types.emplace_back(entry.at("type").as_string());
    CHECK(types == std::vector<std::string>{"case.opened", "case.partner_assigned", "travel.booked",
                                            "case.partner_unassigned"});
    const auto creator = entries.at(0).at("actor");
    for (const std::size_t index : {1u, 3u}) {
      CHECK(entries.at(index).at("actor") == creator);
      CHECK(entries.at(index).at("outcome") == "applied");
      CHECK(entries.at(index).as_object().contains("recorded_at"));
    }
    CHECK(entries.at(1).at("changes") == json::array{json::value("partner_assigned=" + cast.travel_agent)});
    CHECK(entries.at(3).at("changes") == json::array{json::value("partner_unassigned=" + cast.travel_agent)});
    CHECK(entries.at(1).at("version_after") == 2);
    CHECK(entries.at(3).at("version_after") == 3);
    // The replay of every history still matches the saved case (verify knows the engine's records).
    CHECK_FALSE(persistence::VerifyCase(server.Service().Database(), id).has_value());
  }
}

TEST_CASE("who assigns partners: the office's caseworkers and admins, never a partner, another office or a supervisor",
          "[api][http][partners][authz]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = CaseWithoutTravelAgent(cast);
    // A partner cannot put itself on a case, whether the case is its own or not.
    auto itself = Assign(server, cast.travel_token, id, cast.travel_agent);
    CHECK(itself.status == 403);
    CHECK(itself.ProblemType() == "forbidden");
    CHECK(Assign(server, cast.embassy_token, id, cast.travel_agent).status == 403);
    CHECK(Unassign(server, cast.embassy_token, id, cast.embassy).status == 403);
    CHECK(Assign(server, cast.supervisor, id, cast.travel_agent).status == 403);
    // Another office's caseworker: the case is not its to see, answered as unknown.
    CheckAnswersAsUnknown(Assign(server, cast.other_caseworker, id, cast.travel_agent),
                          Assign(server, cast.other_caseworker, kUnknownCase, cast.travel_agent));
    CheckAnswersAsUnknown(Unassign(server, cast.other_caseworker, id, cast.embassy),
                          Unassign(server, cast.other_caseworker, kUnknownCase, cast.embassy));
    CHECK(Assign(server, "", id, cast.travel_agent).status == 401);
    // None of those changed the case.
    auto unchanged = server.Client(cast.caseworker).Get("/cases/" + id);
    CHECK(unchanged.Json().at("version") == 1);
    CHECK(unchanged.Json().at("partners") == json::array{cast.embassy});
    // An admin may (it runs the partner directory).
    auto by_admin = Assign(server, cast.admin, id, cast.travel_agent);
    INFO(by_admin.body);
    CHECK(by_admin.status == 200);
    CHECK(Unassign(server, cast.admin, id, cast.travel_agent).status == 200);
    CheckAnswersAsUnknown(Assign(server, cast.admin, kUnknownCase, cast.travel_agent),
                          Assign(server, cast.caseworker, kUnknownCase, cast.travel_agent));
  }
}

TEST_CASE("partner assignment checks its input, the case version and the partner limit", "[api][http][partners]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = CaseWithoutTravelAgent(cast);
    auto client = server.Client(cast.caseworker);
    const auto post = [&](const std::string& body, const std::string& type = "application/json") {
      return client.Request(http::verb::post, "/cases/" + id + "/partners", body, type);
    };
    CHECK(post("{}").Json().at("pointer") == "/organisation");
    CHECK(post(R"({"organisation":"has space"})").Json().at("pointer") == "/organisation");
    CHECK(post(R"({"organisation":"a|b"})").status == 400);
    CHECK(post(json::serialize(json::object{{"organisation", std::string(65, 'a')}})).status == 400);
    CHECK(post(R"({"organisation":"ok","role":"travel_agent"})").Json().at("pointer") == "/role");
    CHECK(post("not json").ProblemType() == "malformed-json");
    CHECK(post(R"({"organisation":"ok"})", "text/plain").status == 415);
    CHECK(client.Request(http::verb::delete_, "/cases/" + id + "/partners/bad%20name").status == 400);
    CHECK(client.Request(http::verb::delete_, "/cases/" + id + "/partners/" + cast.embassy, "{}").status == 400);
    // If-Match: the version the caller saw.
    auto stale = Assign(server, cast.caseworker, id, cast.travel_agent, {{"If-Match", "\"7\""}});
    CHECK(stale.status == 409);
    CHECK(stale.ProblemType() == "version-conflict");
    // The version as read now (not 1: the tests share one database, and another test's clock may have
    // fired this case's passed deadline meanwhile).
    const auto current = server.Client(cast.caseworker).Get("/cases/" + id).Header("etag");
    CHECK(Assign(server, cast.caseworker, id, cast.travel_agent, {{"If-Match", current}}).status == 200);
    CHECK(Assign(server, cast.caseworker, id, cast.clinic, {{"If-Match", "nonsense"}}).status == 400);
    // At most kMaxPartnersPerCase partners: the case has two.
    for (std::size_t index = 2; index < workflow::kMaxPartnersPerCase; ++index) {
      REQUIRE(Assign(server, cast.caseworker, id, Unique("partner")).status == 200);
    }
    auto over = Assign(server, cast.caseworker, id, Unique("partner"));
    CHECK(over.status == 409);
    CHECK(over.ProblemType() == "conflict");
    CHECK(server.Client(cast.caseworker).Get("/cases/" + id).Json().at("partners").as_array().size() ==
          workflow::kMaxPartnersPerCase);
    // A referral is held to the same organisation ids.
    auto referral = cast.Referral();
    referral["partners"] = json::array{"not an id"};
    auto refused = client.PostJson("/cases", referral);
    CHECK(refused.status == 400);
    CHECK(refused.Json().at("pointer") == "/partners/0");
  }
}

TEST_CASE("events racing assignments and unassignments are applied before an unassignment or refused after it",
          "[api][http][partners][concurrency]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    constexpr int kCases = 4;
    constexpr int kSenders = 4;
    constexpr int kEventsPerSender = 40;
    constexpr int kToggles = 20;
    std::vector<std::string> cases;
    for (int index = 0; index < kCases; ++index) cases.push_back(CaseWithoutTravelAgent(cast));

    // The agent's answers by event id: 404 refused, anything else durable (202 deferred in referral).
    std::mutex answers_mutex;
    std::map<std::string, int> answers;
    std::atomic<int> unexpected{0};
    std::vector<std::thread> threads;
    for (int sender = 0; sender < kSenders; ++sender) {
      threads.emplace_back([&, sender] {
        auto client = server.Client(cast.travel_token);
        for (int index = 0; index < kEventsPerSender; ++index) {
          const auto& id = cases[static_cast<std::size_t>(index + sender) % cases.size()];
          auto event = CloudEvent("travel.booked", id, {{"departure_date", "2026-12-20"}});
          const std::string event_id(event.at("id").as_string());
          auto result = client.PostEvent(id, event);
          if (result.status != 404 && result.status != 202) ++unexpected;
          std::lock_guard lock(answers_mutex);
          answers[event_id] = result.status;
        }
      });
    }
    for (int toggler = 0; toggler < 2; ++toggler) {
      threads.emplace_back([&, toggler] {
        const auto& token = toggler == 0 ? cast.caseworker : cast.admin;
        for (int round = 0; round < kToggles; ++round) {
          for (const auto& id : cases) {
            const auto result = round % 2 == 0 ? Assign(server, token, id, cast.travel_agent)
                                               : Unassign(server, token, id, cast.travel_agent);
            if (result.status != 200) ++unexpected;
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    CHECK(unexpected == 0);

    // Walk every history: each of the agent's events lies where the agent was assigned, and an event is
    // in a history exactly when its answer was not a refusal.
    persistence::CaseRepository repository(server.Service().Database());
    std::set<std::string> recorded;
    int assignments = 0;
    for (const auto& id : cases) {
      bool assigned = false;
      for (const auto& entry : FullHistory(repository, id)) {
        if (entry.type == "case.partner_assigned") {
          CHECK_FALSE(assigned);  // a change is written only when it changes something
          assigned = true;
          ++assignments;
        } else if (entry.type == "case.partner_unassigned") {
          CHECK(assigned);
          assigned = false;
        } else if (entry.type == "travel.booked" && entry.source == "test/system") {
          // The agent's own events (the engine's clock may expire waiting ones under its own source: the
          // PostgreSQL database is shared with tests that move their clocks).
          INFO("sequence " << entry.sequence << " " << entry.event_id << " " << entry.verdict);
          CHECK(assigned);
          recorded.insert(entry.event_id);
        }
      }
      const auto saved = repository.Get(id);
      const bool listed = std::find(saved.partners.begin(), saved.partners.end(), cast.travel_agent) != saved.partners.end();
      CHECK(listed == assigned);
      CHECK_FALSE(persistence::VerifyCase(server.Service().Database(), id).has_value());
    }
    CHECK(assignments > 0);
    int refused = 0;
    for (const auto& [event_id, status] : answers) {
      INFO(event_id << " answered " << status);
      CHECK(recorded.contains(event_id) == (status != 404));
      if (status == 404) ++refused;
    }
    CHECK(answers.size() == static_cast<std::size_t>(kSenders * kEventsPerSender));
    INFO("refused " << refused << " of " << answers.size());
    CHECK(recorded.size() + static_cast<std::size_t>(refused) == answers.size());
  }
}

TEST_CASE("returnflow case assign|unassign change a served case from the shell, the server answers the change at once",
          "[api][http][partners][cli]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = CaseWithoutTravelAgent(cast);
    const auto run = [&](const std::string& verb, const std::string& case_id) {
      const std::string command = std::string(RETURNFLOW_BINARY) + " case " + verb + " --database '" +
                                  server.Service().Settings().database.url + "' --case " + case_id +
                                  " --organisation " + cast.travel_agent + " --actor operator-7 2>&1";
      std::string output;
      FILE* pipe = ::popen(command.c_str(), "r");
      REQUIRE(pipe != nullptr);
      char buffer[512];
      while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
      const int status = ::pclose(pipe);
      return std::pair{WEXITSTATUS(status), output};
    };
    auto agent = server.Client(cast.travel_token);
    REQUIRE(agent.Get("/cases/" + id).status == 404);
    auto [assigned, assigned_output] = run("assign", id);
    INFO(assigned_output);
    CHECK(assigned == 0);
    CHECK(agent.Get("/cases/" + id).status == 200);
    CHECK(run("assign", id).second.find("assigned already") != std::string::npos);
    CHECK(run("unassign", id).first == 0);
    // No cache in the server stands between another process's change and the partner's next request.
    CHECK(agent.Get("/cases/" + id).status == 404);
    CHECK(agent.PostEvent(id, CloudEvent("travel.booked", id, {{"departure_date", "2026-12-20"}})).status == 404);
    CHECK(run("assign", kUnknownCase).first == 3);
    auto history = server.Client(cast.caseworker).Get("/cases/" + id + "/history").Json();
    const auto& entries = history.at("entries").as_array();
    REQUIRE(entries.size() == 3);
    CHECK(entries.at(1).at("actor") == "operator-7");
    CHECK(entries.at(2).at("type") == "case.partner_unassigned");
  }
}
