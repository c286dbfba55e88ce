// Minimal views of personal data over real sockets on SQLite and PostgreSQL: a partner receives, for a
// transfer purpose of its own part, exactly the categories that purpose needs and the migrant's consent
// allows, nothing after a withdrawal, and every transfer is audited with recipient, purpose and categories.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "persistence/repository.hpp"
#include "tests/api/fixture.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace returnflow;
using namespace returnflow::test;

namespace {

json::array Household() {
  return {{{"relationship", "principal"},
           {"sex", "female"},
           {"vulnerabilities", {"health_needs", "victim_of_trafficking"}},
           {"personal_data",
            {{"given_names", "Synthetic"},
             {"family_name", "Principal"},
             {"date_of_birth", "1991-04-02"},
             {"documents", {{{"type", "passport"}, {"number", "SYN000001"}}}},
             {"contacts", {{{"kind", "phone"}, {"value", "+00 0000 0001"}}}}}}},
          {{"relationship", "dependant"},
           {"sex", "male"},
           {"vulnerabilities", json::array()},
           {"personal_data",
            {{"given_names", "Synthetic"},
             {"family_name", "Spouse"},
             {"date_of_birth", "1990-01-01"},
             {"documents", {{{"type", "passport"}, {"number", "SYN000002"}}}}}}}};
}

std::string Consent(Cast& cast, const std::string& case_id, const std::string& member, const std::string& recipient,
                    const std::string& purpose, const json::array& categories) {
  json::object body{{"member_id", member}, {"recipient", recipient}, {"purpose", purpose}, {"categories", categories}};
  auto recorded = cast.server.Client(cast.caseworker).Request(http::verb::post, "/cases/" + case_id + "/consents",
                                                              json::serialize(body), "application/json");
  INFO(recorded.body);
  REQUIRE(recorded.status == 201);
  return std::string(recorded.Json().at("consent_id").as_string());
}

HttpResult Transfer(Cast& cast, const std::string& token, const std::string& case_id, const std::string& purpose) {
  return cast.server.Client(token).Get("/cases/" + case_id + "?include=personal_data&purpose=" + purpose);
}

json::array PersonalData(const HttpResult& result) {
  INFO(result.body);
  REQUIRE(result.status == 200);
  return result.Json().at("personal_data").as_array();
}

std::vector<persistence::PersonalDataRead> Transfers(Cast& cast, const std::string& case_id) {
  std::vector<persistence::PersonalDataRead> transfers;
  for (auto& row : persistence::PeopleRepository(cast.server.Service().Database()).AuditTrail(case_id)) {
    if (row.action == "transfer") transfers.push_back(std::move(row));
  }
  return transfers;
}

}  // namespace

TEST_CASE("minimal views: a partner receives exactly the consented categories its purpose needs, none after withdrawal",
          "[api][http][privacy]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    const auto id = cast.CreateCase(Household());

    // No consent: the case, and no personal data; nothing was transferred, so nothing is audited.
    auto nothing = Transfer(cast, cast.travel_token, id, "ticketing");
    CHECK(PersonalData(nothing).empty());
    CHECK(nothing.body.find("Synthetic") == std::string::npos);
    CHECK(Transfers(cast, id).empty());

    // Ticketing needs identity and the travel document; the contact the consent also names does not go,
    // and neither does the member the consent does not name.
    const auto ticketing = Consent(cast, id, "m1", cast.travel_agent, "ticketing", {"identity", "travel_document", "contact"});
    auto sent = PersonalData(Transfer(cast, cast.travel_token, id, "ticketing"));
    REQUIRE(sent.size() == 1);
    const auto& principal = sent.at(0).as_object();
    CHECK(principal.at("member_id") == "m1");
    CHECK(principal.at("categories") == json::array{"identity", "travel_document"});
    CHECK(principal.at("given_names") == "Synthetic");
    CHECK(principal.at("family_name") == "Principal");
    CHECK(principal.at("date_of_birth") == "1991-04-02");
    CHECK(principal.at("documents") == json::array{{{"type", "passport"}, {"number", "SYN000001"}}});
    CHECK_FALSE(principal.contains("contacts"));
    CHECK_FALSE(principal.contains("health"));
    CHECK_FALSE(principal.contains("protection"));
    auto audited = Transfers(cast, id);
    REQUIRE(audited.size() == 1);
    CHECK(audited.at(0).recipient == cast.travel_agent);
    CHECK(audited.at(0).purpose == "ticketing");
    CHECK(audited.at(0).categories == "|identity|travel_document|");

    // A medical assessment needs age, sex and health, never names or documents, whatever is consented.
    Consent(cast, id, "m1", cast.clinic, "medical_assessment", {"health", "identity", "travel_document", "protection"});
    auto health = PersonalData(Transfer(cast, cast.clinic_token, id, "medical_assessment"));
    REQUIRE(health.size() == 1);
    const auto& patient = health.at(0).as_object();
    CHECK(patient.at("categories") == json::array{"health"});
    CHECK(patient.at("sex") == "female");
    CHECK(patient.at("health") == json::array{"health_needs"});
    CHECK(patient.at("birth_year") == 1991);
    for (const auto* field : {"given_names", "family_name", "date_of_birth", "documents", "contacts", "protection"}) {
      INFO(field);
      CHECK_FALSE(patient.contains(field));
    }

    // A consent names one organisation: another one serving the same part receives nothing of it.
    Consent(cast, id, "m2", cast.stranger, "travel_document_issuance", {"identity", "travel_document"});
    CHECK(PersonalData(Transfer(cast, cast.embassy_token, id, "travel_document_issuance")).empty());

    // Withdrawal stops the next transfer at once.
    auto withdrawn = cast.server.Client(cast.caseworker)
                         .Request(http::verb::post, "/cases/" + id + "/consents/" + ticketing + "/withdrawal");
    REQUIRE(withdrawn.status == 200);
    auto after = Transfer(cast, cast.travel_token, id, "ticketing");
    CHECK(PersonalData(after).empty());
    CHECK(after.body.find("SYN000001") == std::string::npos);
    CHECK(Transfers(cast, id).size() == 2);  // the ticketing transfer and the clinic's, not this one

    // The caseworker's own read is unchanged: everything, for a purpose of theirs.
    auto full = PersonalData(cast.server.Client(cast.caseworker).Get("/cases/" + id + "?include=personal_data"));
    CHECK(full.size() == 2);
  }
}

TEST_CASE("minimal views: only a partner serving a purpose's part may ask for it, and must name it",
          "[api][http][privacy]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend);
    const auto id = cast.CreateCase(Household());
    Consent(cast, id, "m1", cast.travel_agent, "medical_assessment", {"health"});
    // The travel agent books flights: a medical assessment is not its part, consent or not.
    auto refused = Transfer(cast, cast.travel_token, id, "medical_assessment");
    CHECK(refused.status == 403);
    CHECK(refused.body.find("health_needs") == std::string::npos);
    // A purpose is required and must be one of the transfer purposes.
    auto unnamed = cast.server.Client(cast.travel_token).Get("/cases/" + id + "?include=personal_data");
    CHECK(unnamed.status == 400);
    CHECK(unnamed.Json().at("parameter") == "purpose");
    CHECK(Transfer(cast, cast.travel_token, id, "caseworker_view").status == 400);
    // A caseworker does not use transfer purposes; a supervisor never reads personal data.
    CHECK(Transfer(cast, cast.caseworker, id, "ticketing").status == 400);
    CHECK(cast.server.Client(cast.supervisor).Get("/cases/" + id + "?include=personal_data").status == 403);
    // A partner not on the case is answered as for an unknown case, before any consent is looked at.
    CHECK(Transfer(cast, cast.stranger_token, id, "travel_document_issuance").status == 404);
    CHECK(Transfers(cast, id).empty());
  }
}
