// The authorization matrix: every route x every role, on a case that is the caller's own and on one
// that is foreign to it. A foreign case must answer exactly like an unknown one.
#include <set>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "engine/authorization.hpp"
#include "engine/tokens.hpp"
#include "api/router.hpp"
#include "persistence/outbox.hpp"
#include "persistence/repository.hpp"
#include "tests/api/fixture.hpp"
#include "workflow/consent.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

namespace {

bool Contains(const std::string& body, std::string_view text) { return body.find(text) != std::string::npos; }

}  // namespace

TEST_CASE("authorization matrix: every route x every role x own and foreign case", "[api][http][authz]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, [](config::Settings& settings) { settings.testing_clock = true; });
    auto& server = cast.server;
    const std::string id = cast.CreateCase();  // office = cast.office, partners include cast.embassy
    // The referral came in a month ago: its eligibility deadline has passed, and the clock, moved by
    // nothing, fires it now and opens an incident.
    auto moved = server.Client(cast.admin).PostJson("/testing/clock", json::object{{"seconds", 0}});
    REQUIRE(moved.status == 200);
    auto incidents = server.Client(cast.caseworker).Get("/incidents?case_id=" + id);
    REQUIRE(incidents.status == 200);
    REQUIRE(incidents.Json().at("incidents").as_array().size() == 1);
    const std::string incident_id(incidents.Json().at("incidents").at(0).at("incident_id").as_string());
    // Consents to the embassy (the matrix's own partner) and to another organisation.
    auto consent = server.Client(cast.caseworker)
                       .PostJson("/cases/" + id + "/consents",
                                 json::object{{"recipient", cast.embassy},
                                              {"purpose", "travel_document_issuance"},
                                              {"categories", {"identity", "travel_document"}}});
    REQUIRE(consent.status == 201);
    const std::string consent_id(consent.Json().at("consent_id").as_string());
    REQUIRE(server.Client(cast.caseworker)
                .PostJson("/cases/" + id + "/consents",
                          json::object{{"recipient", cast.clinic}, {"purpose", "medical_assessment"}, {"categories", {"health"}}})
                .status == 201);

    // An auditor reads GET /audit and nothing else: every other route answers 403 (never 404: it is
    // refused before any case is looked at).
    const std::string auditor = server.Token("auditor", {});
    struct Caller {
      std::string label;
      std::string token;
    };
    // Own/foreign pairs: each role once with the case in its scope and once without.
    const std::vector<Caller> callers = {
        {"caseworker/own", cast.caseworker},        {"caseworker/foreign", cast.other_caseworker},
        {"partner/own", cast.embassy_token},        {"partner/foreign", cast.stranger_token},
        {"supervisor/own", cast.supervisor},        {"supervisor/foreign", cast.other_supervisor},
        {"admin", cast.admin},                      {"auditor", auditor},
        {"anonymous", ""},
    };
    struct Row {
      api::RouteId route;
      std::vector<int> expected;  // in the order of `callers`
    };
    // clang-format off
    //                                          cw/own cw/for  p/own  p/for  s/own  s/for  admin  audit  anon
    const std::vector<Row> matrix = {
        {api::RouteId::kCreateCase,    {        201,   403,   403,   403,   403,   403,   403,   403,   401}},
        {api::RouteId::kSearchCases,   {        200,   200,   403,   403,   200,   200,   403,   403,   401}},
        {api::RouteId::kGetCase,       {        200,   404,   200,   404,   200,   404,   403,   403,   401}},
        // A document requested during the referral waits in the case's inbox: 202 deferred.
        {api::RouteId::kPostCaseEvent, {        202,   404,   202,   404,   403,   403,   403,   403,   401}},
        {api::RouteId::kCaseHistory,   {        200,   404,   200,   404,   200,   404,   403,   403,   401}},
        {api::RouteId::kPostEvents,    {        202,   404,   202,   404,   403,   403,   403,   403,   401}},
        {api::RouteId::kWorkflow,      {        200,   200,   200,   200,   200,   200,   403,   403,   401}},
        {api::RouteId::kCreateToken,   {        403,   403,   403,   403,   403,   403,   201,   403,   401}},
        {api::RouteId::kListTokens,    {        403,   403,   403,   403,   403,   403,   200,   403,   401}},
        {api::RouteId::kRevokeToken,   {        403,   403,   403,   403,   403,   403,   204,   403,   401}},
        {api::RouteId::kHealthz,       {        200,   200,   200,   200,   200,   200,   200,   200,   200}},
        {api::RouteId::kReadyz,        {        200,   200,   200,   200,   200,   200,   200,   200,   200}},
        {api::RouteId::kMetrics,       {        403,   403,   403,   403,   200,   200,   200,   403,   401}},
        {api::RouteId::kOpenApi,       {        200,   200,   200,   200,   200,   200,   200,   403,   401}},
        {api::RouteId::kListProgrammes, {       200,   200,   403,   403,   200,   200,   200,   403,   401}},
        {api::RouteId::kGetProgramme,  {        200,   200,   403,   403,   200,   200,   200,   403,   401}},
        {api::RouteId::kPutProgramme,  {        403,   403,   403,   403,   403,   403,   201,   403,   401}},
        {api::RouteId::kListIncidents, {        200,   200,   403,   403,   200,   200,   403,   403,   401}},
        // The eligibility step is still open, so its incident cannot be resolved yet: 409.
        {api::RouteId::kResolveIncident, {      409,   404,   403,   403,   409,   404,   403,   403,   401}},
        {api::RouteId::kTestingClock,  {        403,   403,   403,   403,   403,   403,   200,   403,   401}},
        // A fresh organisation each time (assigned), and one never assigned (unassigning it changes nothing).
        {api::RouteId::kAssignPartner, {        200,   404,   403,   403,   403,   403,   200,   403,   401}},
        {api::RouteId::kUnassignPartner, {      200,   404,   403,   403,   403,   403,   200,   403,   401}},
        {api::RouteId::kRecordConsent, {        201,   404,   403,   403,   403,   403,   403,   403,   401}},
        // Partners read the records naming them, supervisors counts only (content checked below).
        {api::RouteId::kListConsents,  {        200,   404,   200,   404,   200,   404,   403,   403,   401}},
        {api::RouteId::kWithdrawConsent, {      200,   404,   403,   403,   403,   403,   403,   403,   401}},
        // Admins approve erasures (any case id; the machine decides): this open case has nothing to erase.
        {api::RouteId::kApproveErasure, {       403,   403,   403,   403,   403,   403,   409,   403,   401}},
        {api::RouteId::kCreateCheckpoint, {     403,   403,   403,   403,   403,   403,   201,   403,   401}},
        {api::RouteId::kCreateSubscription, {   403,   403,   403,   403,   403,   403,   201,   403,   401}},
        {api::RouteId::kListSubscriptions, {    403,   403,   403,   403,   403,   403,   200,   403,   401}},
        {api::RouteId::kGetSubscription, {      403,   403,   403,   403,   403,   403,   200,   403,   401}},
        {api::RouteId::kUpdateSubscription, {   403,   403,   403,   403,   403,   403,   200,   403,   401}},
        {api::RouteId::kDeleteSubscription, {   403,   403,   403,   403,   403,   403,   204,   403,   401}},
        {api::RouteId::kRotateSubscriptionSecret, {403,   403,   403,   403,   403,   403,   200,   403,   401}},
        {api::RouteId::kListDeliveryAttempts, { 403,   403,   403,   403,   403,   403,   200,   403,   401}},
        {api::RouteId::kListNotifications, {    403,   403,   403,   403,   403,   403,   200,   403,   401}},
        {api::RouteId::kReplayNotifications, {  403,   403,   403,   403,   403,   403,   201,   403,   401}},
        {api::RouteId::kListReplays,   {        403,   403,   403,   403,   403,   403,   200,   403,   401}},
        // The audit: auditors and admins. The export and the correction: the same rule as a personal-data read.
        {api::RouteId::kAudit,         {        403,   403,   403,   403,   403,   403,   200,   200,   401}},
        {api::RouteId::kExportPeople,  {        200,   404,   403,   404,   403,   404,   403,   403,   401}},
        {api::RouteId::kCorrectPerson, {        200,   404,   403,   404,   403,   404,   403,   403,   401}},
        // Only the embassy has a feed subscription; an office without one, like a stranger, has none.
        {api::RouteId::kFeed,          {        404,   404,   200,   404,   403,   403,   403,   403,   401}},
    };
    // clang-format on
    std::set<api::RouteId> covered;
    for (const auto& row : matrix) covered.insert(row.route);
    REQUIRE(covered.size() == api::Routes().size());  // a new route must join the matrix

    // A webhook subscription for the routes that name one, and the embassy's feed.
    persistence::SubscriptionRepository subscriptions(server.Service().Database());
    const auto subscription = [&](std::string organisation, persistence::Delivery delivery) {
      persistence::Subscription created;
      created.organisation = std::move(organisation);
      created.notifications = {"case.opened"};
      created.delivery = delivery;
      if (delivery == persistence::Delivery::kWebhook) created.url = "http://127.0.0.1:9/matrix";
      return subscriptions.Create(created).subscription_id;
    };
    const std::string subscription_id = subscription(cast.embassy, persistence::Delivery::kWebhook);
    subscription(cast.embassy, persistence::Delivery::kFeed);

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
          if (auto at = target.find("{incident_id}"); at != std::string::npos) {
            target.replace(at, 13, case_id == id ? incident_id : unknown);
          }
          if (auto at = target.find("{organisation}"); at != std::string::npos) target.replace(at, 14, Unique("matrix"));
          if (auto at = target.find("{member_id}"); at != std::string::npos) target.replace(at, 11, "m1");
          if (auto at = target.find("{consent_id}"); at != std::string::npos) target.replace(at, 12, consent_id);
          if (auto at = target.find("{code}"); at != std::string::npos) {
            target.replace(at, 6, row.route == api::RouteId::kPutProgramme ? Unique("matrix") : std::string("avrr-test"));
          }
          if (auto at = target.find("{subscription_id}"); at != std::string::npos) {
            target.replace(at, 17, row.route == api::RouteId::kDeleteSubscription
                                       ? subscription(Unique("matrix"), persistence::Delivery::kFeed)
                                       : subscription_id);
          }
          switch (row.route) {
            case api::RouteId::kCreateSubscription:
              body = json::serialize(json::object{{"organisation", Unique("matrix")}, {"notifications", {"case.opened"}},
                                                  {"delivery", "feed"}});
              content_type = "application/json";
              break;
            case api::RouteId::kUpdateSubscription:
              body = json::serialize(json::object{{"enabled", true}});
              content_type = "application/json";
              break;
            case api::RouteId::kReplayNotifications:
              body = json::serialize(json::object{{"from", "2026-01-01T00:00:00Z"}, {"to", "2026-01-02T00:00:00Z"}});
              content_type = "application/json";
              break;
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
            case api::RouteId::kPutProgramme:
              body = json::serialize(json::object{{"name", "Matrix programme"}});
              content_type = "application/json";
              break;
            case api::RouteId::kTestingClock:
              body = json::serialize(json::object{{"seconds", 0}});
              content_type = "application/json";
              break;
            case api::RouteId::kAssignPartner:
              body = json::serialize(json::object{{"organisation", Unique("matrix")}});
              content_type = "application/json";
              break;
            case api::RouteId::kCorrectPerson:
              body = json::serialize(json::object{{"family_name", "Corrected"}});
              content_type = "application/json";
              break;
            case api::RouteId::kRecordConsent:
              body = json::serialize(json::object{
                  {"recipient", cast.travel_agent}, {"purpose", "ticketing"}, {"categories", {"identity"}}});
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
        if (result.status == 200 && row.route == api::RouteId::kListConsents) {
          // What each reader may read of the consents, not only that it may ask.
          const auto listed = result.Json();
          const auto& listing = listed.as_object();
          if (caller.label == "supervisor/own") {
            CHECK_FALSE(listing.contains("consents"));
            CHECK(listing.at("in_effect").as_int64() >= 2);
            CHECK_FALSE(Contains(result.body, cast.embassy));
          } else {
            REQUIRE(listing.contains("consents"));
            for (const auto& item : listing.at("consents").as_array()) {
              if (caller.label == "partner/own") {
                CHECK(item.at("recipient") == json::value(cast.embassy));
                CHECK_FALSE(item.as_object().contains("recorded_by"));
              } else {
                CHECK(item.as_object().contains("recorded_by"));
              }
            }
            CHECK(Contains(result.body, cast.clinic) == (caller.label == "caseworker/own"));
            CHECK(Contains(result.body, cast.embassy));
          }
        }
        if (result.status == 200 && row.route == api::RouteId::kAudit) {
          // Audit rows name ids and actors, never the data: the synthetic person is not in them.
          CHECK(result.Json().at("entries").is_array());
          CHECK_FALSE(Contains(result.body, "Synthetic"));
          CHECK_FALSE(Contains(result.body, "SYN000001"));
          CHECK_FALSE(Contains(result.body, "Corrected"));
        }
        if (result.status == 200 && row.route == api::RouteId::kExportPeople) {
          CHECK(Contains(result.body, "Synthetic"));
          CHECK(result.Json().at("history").as_array().size() >= 1);
        }
        if (result.status == 403 && caller.label == "auditor") {
          CHECK(result.Json().at("status") == 403);
          CHECK(Contains(result.body, "auditor tokens read GET /audit only"));
        }
        if (result.status == 200 && row.route == api::RouteId::kAssignPartner) CHECK(result.Json().at("changed") == true);
        if (result.status == 200 && row.route == api::RouteId::kUnassignPartner) CHECK(result.Json().at("changed") == false);
        if (result.status == 200 && row.route == api::RouteId::kWithdrawConsent) {
          CHECK(result.Json().at("consent_id") == json::value(consent_id));
          CHECK(result.Json().at("withdrawn_at").is_string());
        }
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

TEST_CASE("each role reads only what its job needs: the authorization matrix reads content", "[api][http][authz]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    // A household with a separated child, in documentation: the embassy asked for a document, the clinic
    // certified fitness with a medical escort.
    json::array household{
        {{"relationship", "principal"}, {"sex", "female"}, {"birth_year", 1991}, {"vulnerabilities", {"health_needs"}},
         {"personal_data", {{"given_names", "Synthetic"}, {"family_name", "Parent"},
                            {"documents", {{{"type", "passport"}, {"number", "SYN000042"}}}}}}},
        {{"relationship", "dependant"}, {"sex", "male"}, {"birth_year", 2014}, {"vulnerabilities", {"separated_child"}}}};
    const auto id = cast.CreateCase(household);
    Apply(server, cast.caseworker, id, "eligibility.review_started");
    Apply(server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}});
    Apply(server, cast.caseworker, id, "counselling.session_held");
    Apply(server, cast.caseworker, id, "vulnerability.screened",
          {{"findings", {{{"member_id", "m1"}, {"vulnerabilities", {"health_needs", "victim_of_trafficking"}}}}}});
    Apply(server, cast.caseworker, id, "best_interests.determined", {{"member_id", "m2"}, {"in_child_interest", true}});
    Apply(server, cast.supervisor, id, "best_interests.approved", {{"member_id", "m2"}});
    Apply(server, cast.caseworker, id, "guardian.recorded", {{"member_id", "m2"}});
    Apply(server, cast.caseworker, id, "consent.recorded", {{"kind", "explicit"}});
    Apply(server, cast.embassy_token, id, "travel_document.requested");
    Apply(server, cast.clinic_token, id, "fitness.certified", {{"valid_until", "2027-01-31"}, {"medical_escort_required", true}});

    const std::set<std::string> household_facts = {"household", "vulnerabilities", "partners", "office", "programme",
                                                   "suspension", "outcome", "personal_data", "overdue",
                                                   "programme_version", "deadlines", "timers", "inbox", "incidents"};
    struct Reader {
      std::string label;
      std::string token;
      bool partner;
      std::set<std::string> may_send;  // empty for non-partners
    };
    const std::vector<Reader> partners = {
        {"embassy", cast.embassy_token, true,
         {"travel_document.requested", "travel_document.issued", "travel_document.refused", "travel_document.passport_verified"}},
        {"clinic", cast.clinic_token, true, {"fitness.certified", "fitness.unfit"}},
        {"travel agent", cast.travel_token, true, {"travel.booked", "travel.no_show", "travel.departed"}},
    };
    for (const auto& reader : partners) {
      INFO(reader.label);
      auto client = server.Client(reader.token);
      auto view = client.Get("/cases/" + id);
      REQUIRE(view.status == 200);
      const auto view_body = view.Json();
      const auto& body = view_body.as_object();
      for (const auto& key : household_facts) CHECK_FALSE(body.contains(key));
      // No other organisation's name, no personal data, no protection or health facts of the household.
      for (const auto* text : {"Synthetic", "SYN000042", "separated_child", "victim_of_trafficking", "health_needs",
                               cast.embassy.c_str(), cast.clinic.c_str(), cast.office.c_str()}) {
        if (reader.label == "embassy" && std::string_view(text) == cast.embassy) continue;
        if (reader.label == "clinic" && std::string_view(text) == cast.clinic) continue;
        CHECK_FALSE(Contains(view.body, text));
      }
      for (const auto& event : body.at("allowed_events").as_array()) {
        CHECK(reader.may_send.contains(std::string(event.as_string())));
      }
      // Medical facts are the clinic's: the fitness date and the medical strand's state.
      const bool clinic = reader.label == "clinic";
      CHECK(body.at("key_dates").as_object().contains("fitness_valid_until") == clinic);
      CHECK(Contains(view.body, "documentation.medical.fit") == clinic);
      CHECK(Contains(view.body, "documentation.travel_document.requested") == (reader.label == "embassy"));

      auto history = client.Get("/cases/" + id + "/history?limit=200");
      REQUIRE(history.status == 200);
      const auto history_body = history.Json();
      for (const auto& entry : history_body.at("entries").as_array()) {
        CHECK(reader.may_send.contains(std::string(entry.at("type").as_string())));
        CHECK_FALSE(entry.as_object().contains("actor"));
      }
      CHECK_FALSE(Contains(history.body, "vulnerabilities"));
      CHECK_FALSE(Contains(history.body, "best_interests"));
      // Personal data reaches a partner only as a transfer: a purpose of its own part is required, and
      // with no consent recorded on this case not one category goes, whichever purpose is asked.
      CHECK(client.Get("/cases/" + id + "?include=personal_data").status == 400);
      for (const auto purpose : workflow::kTransferPurposeNames) {
        INFO(purpose);
        auto transfer = client.Get("/cases/" + id + "?include=personal_data&purpose=" + std::string(purpose));
        CHECK((transfer.status == 200 || transfer.status == 403));
        if (transfer.status == 200) CHECK(transfer.Json().at("personal_data").as_array().empty());
        for (const auto* category_field : {"given_names", "family_name", "date_of_birth", "documents", "contacts",
                                           "birth_year", "health", "protection"}) {
          CHECK_FALSE(Contains(transfer.body, category_field));
        }
        CHECK_FALSE(Contains(transfer.body, "Synthetic"));
      }
      CHECK(client.Get("/cases").status == 403);
    }
    // An answer to a partner's own event lists only what it may send next.
    {
      auto answer = Send(server, cast.embassy_token, id, "travel_document.issued", {{"expires_on", "2030-01-01"}});
      REQUIRE(answer.status == 200);
      const auto answer_body = answer.Json();
      for (const auto& event : answer_body.at("allowed_events").as_array()) {
        CHECK(partners[0].may_send.contains(std::string(event.as_string())));
      }
      CHECK_FALSE(Contains(answer.body, "documentation.medical"));
    }

    // The office's caseworker reads everything, personal data only on request (audited).
    auto caseworker = server.Client(cast.caseworker);
    auto full = caseworker.Get("/cases/" + id);
    REQUIRE(full.status == 200);
    CHECK(full.Json().at("household").as_array().size() == 2);
    CHECK_FALSE(Contains(full.body, "SYN000042"));
    auto with_data = caseworker.Get("/cases/" + id + "?include=personal_data&purpose=travel_document_request");
    REQUIRE(with_data.status == 200);
    CHECK(Contains(with_data.body, "SYN000042"));
    CHECK(caseworker.Get("/cases/" + id + "?include=personal_data&purpose=curiosity").status == 400);
    const auto full_body = full.Json();
    for (const auto& event : full_body.at("allowed_events").as_array()) CHECK(event != "best_interests.approved");

    // A supervisor reads the whole case but no personal data; its allowed events are its approvals.
    auto supervisor = server.Client(cast.supervisor);
    auto overview = supervisor.Get("/cases/" + id);
    REQUIRE(overview.status == 200);
    CHECK(overview.Json().as_object().contains("household"));
    CHECK_FALSE(Contains(overview.body, "Synthetic"));
    CHECK(supervisor.Get("/cases/" + id + "?include=personal_data").status == 403);
    const auto overview_body = overview.Json();
    for (const auto& event : overview_body.at("allowed_events").as_array()) {
      CHECK(engine::SupervisorEvents().contains(std::string(event.as_string())));
    }

    // Free text a caseworker writes is read by the office and supervisors, never by partners.
    const auto refused = cast.CreateCase();
    Apply(server, cast.caseworker, refused, "eligibility.review_started");
    Apply(server, cast.caseworker, refused, "eligibility.refused", {{"reason", "free text written by the office"}});
    CHECK(Contains(caseworker.Get("/cases/" + refused + "/history").body, "free text written by the office"));
    CHECK(Contains(supervisor.Get("/cases/" + refused + "/history").body, "free text written by the office"));
    for (const auto& reader : partners) {
      CHECK_FALSE(Contains(server.Client(reader.token).Get("/cases/" + refused + "/history").body, "free text"));
    }

    // A supervisor whose country list is empty sees nothing, not everything.
    const auto nobody = server.Token("supervisor", {{"countries", json::array()}});
    auto empty = server.Client(nobody).Get("/cases");
    REQUIRE(empty.status == 200);
    CHECK(empty.Json().at("cases").as_array().empty());
    CHECK(server.Client(nobody).Get("/cases/" + id).status == 404);
    const auto everywhere = server.Token("supervisor", {{"countries", {"*"}}});
    CHECK(server.Client(everywhere).Get("/cases/" + id).status == 200);
  }
}

TEST_CASE("an event's source must be one its token lists, so no organisation can use another's ids", "[api][http][authz]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    auto& server = cast.server;
    const auto id = cast.CreateCase();
    auto client = server.Client(cast.caseworker);
    auto foreign_source = client.PostEvent(id, CloudEvent("eligibility.review_started", id, {}, "2026-11-20T10:00:00Z",
                                                          "urn:someone-else"));
    CHECK(foreign_source.status == 403);
    CHECK(foreign_source.ProblemType() == "forbidden");
    // Two organisations may use the same event id under their own sources: neither blocks the other.
    const auto other = server.Token("caseworker", {{"office", cast.office}, {"sources", {"urn:second-tool"}}});
    auto first = CloudEvent("eligibility.review_started", id, {}, "2026-11-20T10:00:00Z", "test/system");
    auto second = first;
    second["source"] = "urn:second-tool";
    second["type"] = "eligibility.confirmed";
    second["data"] = json::object{{"destination_country", "BD"}};
    CHECK(client.PostEvent(id, first).status == 200);
    auto same_id = server.Client(other).PostEvent(id, second);
    CHECK(same_id.status == 200);
    CHECK(same_id.Json().at("replayed") == false);
  }
}

TEST_CASE("a revoked token stops at once here and within the cache time in another engine on the same database",
          "[api][http][authz]") {
  // PostgreSQL only: two engines on one database are the deployment this describes.
  Cast cast(Backend::kPostgresql);
  TestServer second(Backend::kPostgresql, [&](config::Settings& settings) {
    settings.database.url = cast.server.Service().Settings().database.url;
  });
  const auto token = cast.server.Token("caseworker", {{"office", cast.office}});
  CHECK(cast.server.Client(token).Get("/cases").status == 200);
  CHECK(second.Client(token).Get("/cases").status == 200);  // now cached by the second engine too
  auto admin = cast.server.Client(cast.admin);
  const auto tokens = admin.Get("/tokens").Json();
  const auto& listed = tokens.at("tokens").as_array();
  std::string name;
  for (const auto& record : listed) {
    if (record.at("role") == "caseworker" && record.at("scope").at("office").as_string() == cast.office) {
      name = std::string(record.at("name").as_string());
    }
  }
  REQUIRE_FALSE(name.empty());
  REQUIRE(admin.Request(http::verb::delete_, "/tokens/" + name).status == 204);
  CHECK(cast.server.Client(token).Get("/cases").status == 401);  // at once in the revoking engine
  const auto revoked = std::chrono::steady_clock::now();
  int status = 200;
  while (status != 401 && std::chrono::steady_clock::now() - revoked < std::chrono::seconds(5)) {
    status = second.Client(token).Get("/cases").status;  // the condition, not a sleep
  }
  CHECK(status == 401);
  CHECK(std::chrono::steady_clock::now() - revoked <= std::chrono::milliseconds(1500));
}
