// Programme definitions as administrators write them: the example file, the authoring shape's
// durations and defaults, and every error reported by pointer (TOML files by line too).
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "engine/programmes.hpp"

using namespace returnflow;
using namespace returnflow::engine;
namespace json = boost::json;

namespace {

std::set<std::string> Pointers(const ParsedProgramme& parsed) {
  std::set<std::string> pointers;
  for (const auto& error : parsed.errors) pointers.insert(error.pointer);
  return pointers;
}

}  // namespace

TEST_CASE("the example programme file holds exactly the built-in example", "[engine][programmes]") {
  const auto parsed = ProgrammeFromTomlFile(RETURNFLOW_SOURCE_DIR "/config/programmes/avrr-id.toml");
  INFO((parsed.errors.empty() ? std::string() : parsed.errors.front().message));
  REQUIRE(parsed.programme);
  auto expected = ExampleProgramme();
  auto actual = *parsed.programme;
  actual.version = expected.version;
  CHECK(actual == expected);
  // And the shape round-trips: what GET /programmes/{code} shows, PUT accepts as the same definition.
  const auto again = ProgrammeFromDefinition(DefinitionOf(expected), expected.code);
  REQUIRE(again.programme);
  CHECK(*again.programme == expected);
}

TEST_CASE("a definition's durations, defaults and limits", "[engine][programmes]") {
  const auto parsed = ProgrammeFromDefinition(
      json::parse(R"({"name":"Synthetic","early_event_wait":"P10D","service_levels":{"briefing_before_departure":"PT48H",
                     "booking":"2d"},"monitoring":[{"after":"30d","grace":"7d"}]})"),
      "synthetic");
  REQUIRE(parsed.programme);
  const auto& programme = *parsed.programme;
  CHECK(programme.code == "synthetic");
  CHECK(programme.early_event_wait == workflow::Days{10});
  CHECK(programme.service_levels.briefing_before_departure == std::chrono::hours{48});
  CHECK(programme.service_levels.booking == workflow::Days{2});
  CHECK(programme.service_levels.eligibility == workflow::Days{7});  // a default
  REQUIRE(programme.monitoring.size() == 1);
  CHECK(programme.monitoring[0].after == workflow::Days{30});
  CHECK(programme.no_show_limit == 3);
  CHECK(ParseDurationHours("30d") == 720);
  CHECK(ParseDurationHours("24h") == 24);
  CHECK_FALSE(ParseDurationHours("1w"));
  CHECK_FALSE(ParseDurationHours("d"));
  CHECK_FALSE(ParseDurationHours("-3d"));
  CHECK_FALSE(ParseDurationHours("9999999d"));
  CHECK(ValidProgrammeCode("avrr-id"));
  CHECK_FALSE(ValidProgrammeCode("AVRR"));
  CHECK_FALSE(ValidProgrammeCode("1avrr"));
  CHECK_FALSE(ValidProgrammeCode(std::string(65, 'a')));
}

TEST_CASE("every error of a definition is reported by its pointer", "[engine][programmes]") {
  const auto parsed = ProgrammeFromDefinition(
      json::parse(R"({"code":"other","name":"","unsafe_destinations":["XX","Afghanistan"],"no_show_limit":0,
                     "deferrable_events":["consent.recorded","no.such_event"],"service_levels":{"booking":"soon",
                     "eligibility":"36h","lunch":"1h"},"monitoring":[{"after":"90d","grace":"x"}],
                     "closures_needing_supervisor":["teleported"],"colour":"blue"})"),
      "synthetic");
  CHECK_FALSE(parsed.programme);
  const auto pointers = Pointers(parsed);
  for (const char* pointer : {"/code", "/name", "/unsafe_destinations/0", "/unsafe_destinations/1", "/no_show_limit",
                              "/deferrable_events/0", "/deferrable_events/1", "/service_levels/booking",
                              "/service_levels/eligibility", "/service_levels/lunch", "/monitoring/0/grace",
                              "/closures_needing_supervisor/0", "/colour"}) {
    INFO(pointer);
    CHECK(pointers.contains(pointer));
  }
  for (const auto& error : parsed.errors) CHECK_FALSE(error.message.empty());
  CHECK(Pointers(ProgrammeFromDefinition(json::parse("[]"), "synthetic")) == std::set<std::string>{""});
}

TEST_CASE("a TOML file's errors carry its name and line", "[engine][programmes]") {
  const auto directory = std::filesystem::temp_directory_path() / ("returnflow-programmes-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  {
    std::ofstream file(directory / "broken.toml");
    file << "name = \"Synthetic\"\n\nno_show_limit = \"three\"\n";
  }
  {
    std::ofstream file(directory / "syntax.toml");
    file << "name = \"Synthetic\nunsafe_destinations = [\n";
  }
  const auto broken = ProgrammeFromTomlFile(directory / "broken.toml");
  REQUIRE_FALSE(broken.programme);
  REQUIRE(broken.errors.size() == 1);
  CHECK(broken.errors[0].pointer == "/no_show_limit");
  CHECK(broken.errors[0].message.find("broken.toml:3") != std::string::npos);
  const auto syntax = ProgrammeFromTomlFile(directory / "syntax.toml");
  REQUIRE_FALSE(syntax.programme);
  CHECK(syntax.errors.at(0).message.find("syntax.toml:") != std::string::npos);
  std::filesystem::remove_all(directory);
}

TEST_CASE("a programme's small-cell policy: suppress below 5 by default, round5 or another threshold when defined",
          "[engine][programmes]") {
  const auto plain = ProgrammeFromDefinition(json::parse(R"({"name":"Synthetic"})"), "synthetic");
  REQUIRE(plain.programme);
  CHECK(plain.programme->reports.small_cells == workflow::SmallCells::kSuppress);
  CHECK(plain.programme->reports.suppress_below == 5);
  const auto rounded = ProgrammeFromDefinition(
      json::parse(R"({"name":"Synthetic","reports":{"small_cells":"round5","suppress_below":10}})"), "synthetic");
  REQUIRE(rounded.programme);
  CHECK(rounded.programme->reports.small_cells == workflow::SmallCells::kRound5);
  CHECK(rounded.programme->reports.suppress_below == 10);
  // The stored (canonical) form keeps the policy, and the authoring form shows it.
  const auto stored = json::value_to<workflow::Programme>(json::value_from(*rounded.programme));
  CHECK(stored.reports == rounded.programme->reports);
  // A version stored before reports existed reads with the default policy (and so is no new version).
  auto older = json::value_from(*rounded.programme);
  older.as_object().erase("reports");
  CHECK(json::value_to<workflow::Programme>(older).reports == workflow::ReportPolicy{});
  const auto again = ProgrammeFromDefinition(DefinitionOf(*rounded.programme), "synthetic");
  REQUIRE(again.programme);
  CHECK(again.programme->reports == rounded.programme->reports);
  const auto bad = ProgrammeFromDefinition(
      json::parse(R"({"name":"Synthetic","reports":{"small_cells":"blur","suppress_below":1,"colour":"red"}})"),
      "synthetic");
  CHECK_FALSE(bad.programme);
  CHECK(Pointers(bad) ==
        std::set<std::string>{"/reports/small_cells", "/reports/suppress_below", "/reports/colour"});
  CHECK(Pointers(ProgrammeFromDefinition(json::parse(R"({"name":"S","reports":5})"), "synthetic")) ==
        std::set<std::string>{"/reports"});
}
