// Event data decoding and date parsing: precise errors, never a crash.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/workflow/case_fixtures.hpp"

namespace returnflow::testing {

TEST_CASE("event data decodes into typed events", "[workflow][codec]") {
  DecodeError error;
  const auto booked = DecodeEvent("travel.booked", boost::json::parse(R"({"departure_date":"2026-03-01","route":"CGK-DAC"})"), error);
  REQUIRE(booked);
  CHECK(std::get<ev::TravelBooked>(*booked).departure_date == Day("2026-03-01"));
  CHECK(DecodeEvent("travel.departed", nullptr, error));
  CHECK(DecodeEvent("case.suspended", boost::json::parse(R"({"reason":"medical"})"), error));
}

TEST_CASE("bad event data is refused with the field named and the value not echoed", "[workflow][codec]") {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"travel.booked", R"({"departure_date":"2026-02-30"})", "'departure_date' must be a date"},
      {"travel.booked", R"({})", "'departure_date' is required"},
      {"case.suspended", R"({"reason":"holiday"})", "'reason' must be one of: medical"},
      {"eligibility.confirmed", R"({"destination_country":"Bangladesh"})", "ISO 3166-1 alpha-2"},
      {"fitness.certified", R"({"valid_until":"2026-01-01","medical_escort_required":"yes"})", "must be a boolean"},
      {"consent.recorded", R"([1,2])", "'data' must be a JSON object"},
      {"reintegration.plan_submitted", R"({"monitoring_visits":1000})", "from 0 to 24"},
  };
  for (const auto& [type, data, message] : cases) {
    INFO(type << " " << data);
    DecodeError error;
    CHECK_FALSE(DecodeEvent(type, boost::json::parse(data), error));
    CHECK(error.kind == DecodeError::Kind::kInvalidData);
    CHECK_THAT(error.detail, Catch::Contains(message));
    CHECK_THAT(error.detail, !Catch::Contains("Bangladesh") && !Catch::Contains("holiday"));
  }
  DecodeError error;
  CHECK_FALSE(DecodeEvent("travel.teleported", nullptr, error));
  CHECK(error.kind == DecodeError::Kind::kUnknownType);
}

TEST_CASE("event data holds only the fields its event defines, each within its limit", "[workflow][codec]") {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"travel.departed", R"({"given_name":"Synthetic"})", "/given_name"},
      {"travel.booked", R"({"departure_date":"2026-03-01","passenger":"x"})", "/passenger"},
      {"vulnerability.screened", R"({"findings":[{"member_id":"m1","vulnerabilities":[],"notes":"x"}]})",
       "/findings/0/notes"},
      {"vulnerability.screened", R"({"findings":[{"member_id":"m1","vulnerabilities":["pregnant","tall"]}]})",
       "/findings/0/vulnerabilities/1"},
      {"vulnerability.screened",
       R"({"findings":[{"member_id":"m1","vulnerabilities":[]},{"member_id":"m1","vulnerabilities":[]}]})",
       "/findings/1/member_id"},
      {"travel.booked", R"({"departure_date":"2026-03-01","route":")" + std::string(65, 'A') + R"("})", "/route"},
      {"case.reopened", R"({"reason":")" + std::string(501, 'r') + R"("})", "/reason"},
      {"travel.departed", R"({")" + std::string(300, 'k') + R"(":1})", "/" + std::string(64, 'k') + "..."},
      {"case.reopened", R"({"reason":"a/b","x~y":1})", "/x~0y"},
  };
  for (const auto& [type, data, pointer] : cases) {
    INFO(type << " " << data.substr(0, 80));
    DecodeError error;
    CHECK_FALSE(DecodeEvent(type, boost::json::parse(data), error));
    CHECK(error.kind == DecodeError::Kind::kInvalidData);
    CHECK(error.pointer == pointer);
    CHECK(error.detail.size() < 200);  // never the caller's long value
  }
  DecodeError error;
  CHECK_FALSE(DecodeEvent("travel.teleported", nullptr, error));
  CHECK(error.kind == DecodeError::Kind::kUnknownType);
}

TEST_CASE("dates and instants parse strictly", "[workflow][codec]") {
  CHECK(ParseDate("2028-02-29"));
  CHECK_FALSE(ParseDate("2027-02-29"));
  CHECK_FALSE(ParseDate("2027-1-01"));
  CHECK_FALSE(ParseDate("2027-01-01x"));
  CHECK(FormatInstant(*ParseInstant("2026-03-01T10:00:00+07:00")) == "2026-03-01T03:00:00Z");
  CHECK(FormatInstant(*ParseInstant("2026-03-01T10:00:00.123Z")) == "2026-03-01T10:00:00Z");
  CHECK_FALSE(ParseInstant("2026-03-01 10:00:00Z"));
  CHECK_FALSE(ParseInstant("2026-03-01T25:00:00Z"));
  CHECK_FALSE(ParseInstant("2026-03-01T10:00:00"));
}

}  // namespace returnflow::testing

namespace returnflow::testing {

TEST_CASE("household members round-trip in the compact form and are read from objects too", "[workflow][codec]") {
  const HouseholdMember member{"m2", Relationship::kDependant, Sex::kFemale, 2016, {Vulnerability::kSeparatedChild}};
  const auto compact = boost::json::value_from(member);
  CHECK(boost::json::serialize(compact) == R"(["m2","dependant","female",2016,["separated_child"]])");
  CHECK(boost::json::value_to<HouseholdMember>(compact) == member);
  const auto object = boost::json::parse(
      R"({"member_id":"m2","relationship":"dependant","sex":"female","birth_year":2016,"vulnerabilities":["separated_child"]})");
  CHECK(boost::json::value_to<HouseholdMember>(object) == member);
  CHECK_THROWS_WITH(boost::json::value_to<HouseholdMember>(boost::json::parse(R"(["m2","dependant"])")),
                    Catch::Contains("5 fields"));
}

}  // namespace returnflow::testing
