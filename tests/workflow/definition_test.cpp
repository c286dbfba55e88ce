// The exported definition comes from the transition tables and covers the whole machine.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/workflow/case_fixtures.hpp"
#include "workflow/definition.hpp"
#include "workflow/reasons.hpp"

namespace returnflow::testing {

TEST_CASE("the definition lists every machine, region and event", "[workflow][definition]") {
  const auto& definition = GetDefinition();
  std::vector<std::string> machines;
  for (const auto& machine : definition.machines) machines.push_back(machine.name);
  CHECK(machines == std::vector<std::string>{"return_case", "open", "referral", "counselling", "documentation",
                                             "travel", "reintegration"});
  const auto& documentation = definition.machines.at(4);
  CHECK(documentation.regions == std::vector<std::string>{"travel_document", "exit_clearance", "medical"});
  CHECK(documentation.region_states.at(2) ==
        std::vector<std::string>{"documentation.medical.pending", "documentation.medical.fit"});
  CHECK(definition.events.size() == AllEventNames().size());

  std::set<std::string> events_in_tables;
  for (const auto& machine : definition.machines) {
    for (const auto& transition : machine.transitions) {
      if (!transition.event.empty()) events_in_tables.insert(transition.event);
    }
  }
  for (const auto& event : definition.events) {
    INFO(event);
    CHECK(events_in_tables.contains(event));  // no event the machine cannot take
  }
}

TEST_CASE("guards and internal transitions appear in the exports", "[workflow][definition]") {
  const auto json = DefinitionToJson(GetDefinition());
  bool found_booking = false;
  for (const auto& machine : json.at("machines").as_array()) {
    for (const auto& row : machine.at("transitions").as_array()) {
      if (row.at("event") == "travel.booked") {
        found_booking = true;
        CHECK(row.at("guard") == "travel_document_valid_on_departure && fit_on_departure");
        CHECK(row.at("to") == "travel.booked");
      }
      if (row.at("event") == "counselling.session_held" && row.at("from") == "counselling.in_progress") {
        CHECK(row.at("kind") == "internal");
      }
    }
  }
  CHECK(found_booking);
  const auto mermaid = DefinitionToMermaid(GetDefinition());
  CHECK_THAT(mermaid, Catch::StartsWith("stateDiagram-v2"));
  CHECK_THAT(mermaid, Catch::Contains("travel_booked --> travel_briefed : travel.briefing_held [voluntariness_reconfirmed]"));
  CHECK_THAT(DefinitionToDot(GetDefinition()), Catch::Contains("subgraph cluster_documentation"));
  // Rows say where the case goes: closures and holds decided in a stage are rows of the case itself.
  CHECK_THAT(mermaid, Catch::Contains("open --> closed : travel.no_show [in(travel.booked, travel.briefed) && "
                                      "no_show_limit_reached] / close_as_absconded"));
  CHECK_THAT(mermaid, Catch::Contains("open --> suspended : fitness.unfit [in(documentation.medical.pending, "
                                      "documentation.medical.fit)] / suspend_as_unfit"));
}

TEST_CASE("the export lists each guard with the reason codes it can refuse with", "[workflow][definition]") {
  const auto json = DefinitionToJson(GetDefinition());
  bool found = false;
  for (const auto& guard : json.at("guards").as_array()) {
    if (guard.at("name") == "closure_allowed") {
      found = true;
      CHECK(guard.at("reasons").as_array().size() == 6);  // the outcomes' five, and approval needed
    }
  }
  CHECK(found);
  CHECK(json.at("reason_codes").as_array().size() == AllReasonCodes().size());
  CHECK_THAT(DefinitionToReasonTable(GetDefinition()), Catch::Contains("| `fit_on_departure` | `fitness_certificate_expires_before_departure` |"));
}

}  // namespace returnflow::testing
