#include "tests/fuzz/walks.hpp"

#include <boost/json.hpp>

#include "tests/fuzz/fuzz_support.hpp"

namespace returnflow::fuzz {

namespace json = boost::json;

namespace {

constexpr std::string_view kAdult =
    R"({"programme":{"unsafe_destinations":["XX"],"no_show_limit":3,"default_monitoring_visits":3},)"
    R"("host_country":"ID","origin_country":"BD","household":[["m1","principal","male",1990,[]]],)"
    R"("opened_at":"2026-01-05T09:00:00Z"})";

constexpr std::string_view kUnaccompaniedChild =
    R"({"programme":{"unsafe_destinations":["XX"],"no_show_limit":2,"default_monitoring_visits":1},)"
    R"("host_country":"ID","origin_country":"BD","household":[["m1","principal","male",2011,["unaccompanied_child"]]],)"
    R"("opened_at":"2026-01-05T09:00:00Z"})";

constexpr std::string_view kHousehold =
    R"({"programme":{"unsafe_destinations":[],"no_show_limit":3,"default_monitoring_visits":3},)"
    R"("host_country":"MY","origin_country":"MM","destination_country":"MM",)"
    R"("household":[["m1","principal","female",1988,["single_parent"]],["m2","dependant","female",2018,[]]],)"
    R"("opened_at":"2026-01-05T09:00:00Z"})";

}  // namespace

const std::vector<Walk>& Walks() {
  static const std::vector<Walk> walks = {
      {"adult", kAdult,
       {{"eligibility.review_started", ""},
        {"eligibility.confirmed", R"({"destination_country":"BD"})"},
        {"counselling.session_held", ""},
        {"capacity.assessed", R"({"has_capacity":true})"},
        {"consent.recorded", R"({"kind":"explicit"})"},
        {"travel_document.requested", ""},
        {"travel_document.issued", R"({"expires_on":"2030-01-01"})"},
        {"exit_clearance.requested", ""},
        {"exit_clearance.granted", ""},
        {"fitness.certified", R"({"valid_until":"2026-06-30","medical_escort_required":true})"},
        {"travel.booked", R"({"departure_date":"2026-03-01","route":"CGK-DAC"})"},
        {"escort.assigned", R"({"kind":"medical"})"},
        {"travel.no_show", ""},
        {"travel.booked", R"({"departure_date":"2026-03-08","route":"CGK-KUL-DAC"})"},
        {"travel.briefing_held", R"({"voluntariness_confirmed":true})"},
        {"travel.departed", ""},
        {"consent.withdrawn", ""},
        {"travel.arrived", ""},
        {"reintegration.plan_submitted", R"({"monitoring_visits":2})"},
        {"reintegration.plan_approved", ""},
        {"assistance.delivered", R"({"kind":"business_start_up"})"},
        {"monitoring.visit_completed", R"({"economic":0.5,"social":0.75,"psychosocial":1})"},
        {"case.suspended", R"({"reason":"security_at_destination"})"},
        {"case.resumed", ""},
        {"monitoring.visit_completed", R"({"economic":1,"social":1,"psychosocial":0.25})"},
        {"case.closed", R"({"outcome":"reintegrated"})"},
        {"case.reopened", R"({"reason":"a further visit was funded"})"}}},
      {"unaccompanied-child", kUnaccompaniedChild,
       {{"eligibility.review_started", ""},
        {"eligibility.confirmed", R"({"destination_country":"BD"})"},
        {"counselling.session_held", ""},
        {"capacity.assessed", R"({"has_capacity":false})"},
        {"vulnerability.screened", R"({"findings":[{"member_id":"m1","vulnerabilities":["unaccompanied_child","health_needs"]}]})"},
        {"consent.recorded", R"({"kind":"proxy"})"},
        {"best_interests.determined", R"({"member_id":"m1","in_child_interest":true})"},
        {"best_interests.approved", R"({"member_id":"m1"})"},
        {"guardian.recorded", R"({"member_id":"m1"})"},
        {"consent.recorded", R"({"kind":"proxy"})"},
        {"travel_document.passport_verified", R"({"expires_on":"2031-05-01"})"},
        {"exit_clearance.not_required", ""},
        {"fitness.unfit", ""},
        {"case.resumed", ""},
        {"fitness.certified", R"({"valid_until":"2026-09-30"})"},
        {"travel.booked", R"({"departure_date":"2026-04-01"})"},
        {"travel.briefing_held", R"({"voluntariness_confirmed":true})"},
        {"travel.departed", ""},
        {"escort.assigned", R"({"kind":"child"})"},
        {"travel.briefing_held", R"({"voluntariness_confirmed":true})"},
        {"travel.departed", ""},
        {"caregiver.confirmed", R"({"member_id":"m1"})"},
        {"travel.arrived", ""},
        {"reintegration.plan_submitted", R"({})"},
        {"reintegration.plan_approved", ""},
        {"assistance.delivered", R"({"kind":"schooling"})"},
        {"monitoring.visit_completed", R"({})"}}},
      {"household-detours", kHousehold,
       {{"eligibility.review_started", ""},
        {"case.suspended", R"({"reason":"legal_impediment"})"},
        {"case.resumed", ""},
        {"eligibility.confirmed", R"({"destination_country":"MM"})"},
        {"counselling.session_held", ""},
        {"counselling.session_held", ""},
        {"consent.recorded", R"({"kind":"explicit"})"},
        {"travel_document.requested", ""},
        {"travel_document.refused", ""},
        {"case.resumed", ""},
        {"travel_document.requested", ""},
        {"travel_document.issued", R"({"expires_on":"2027-01-01"})"},
        {"exit_clearance.requested", ""},
        {"fitness.certified", R"({"valid_until":"2026-12-01"})"},
        {"exit_clearance.granted", ""},
        {"travel.booked", R"({"departure_date":"2026-03-01","route":"KUL-RGN"})"},
        {"travel.no_show", ""},
        {"travel.booked", R"({"departure_date":"2026-03-08","route":"KUL-RGN"})"},
        {"travel.no_show", ""},
        {"travel.booked", R"({"departure_date":"2026-03-15"})"},
        {"travel.no_show", ""},
        {"case.reopened", R"({"reason":"re-application"})"},
        {"eligibility.refused", R"({"reason":"excluded"})"}}},
      // A closure that needs a supervisor: requested, refused to its requester, rejected, requested
      // again (on hold), approved by another person.
      {"closure-approval", kAdult,
       {{"eligibility.review_started", ""},
        {"eligibility.confirmed", R"({"destination_country":"BD"})"},
        {"counselling.session_held", ""},
        {"case.closed", R"({"outcome":"opted_out"})"},
        {"case.closure_requested", R"({"outcome":"opted_out","reason":"wishes to stay"})"},
        {"case.closure_approved", ""},
        {"case.closure_rejected", R"({"reason":"counselling continues"})", "supervisor-1"},
        {"case.suspended", R"({"reason":"security_at_destination"})"},
        {"case.closure_requested", R"({"outcome":"security_situation","reason":"unsafe"})"},
        {"case.closure_approved", "", "supervisor-1"},
        {"case.reopened", R"({"reason":"re-application"})"}}},
  };
  return walks;
}

workflow::EventMeta WalkMeta(std::size_t index) {
  static const auto start = *workflow::ParseInstant("2026-01-05T09:00:00Z");
  return {"caseworker-1", start + std::chrono::hours(1 + static_cast<long>(index))};
}

workflow::EventMeta WalkMeta(const WalkEvent& event, std::size_t index) {
  auto meta = WalkMeta(index);
  if (!event.actor.empty()) meta.actor = std::string(event.actor);
  return meta;
}

workflow::Event DecodeWalkEvent(const WalkEvent& event) {
  const auto data = event.data.empty() ? json::value() : json::parse(event.data);
  workflow::DecodeError error;
  auto decoded = workflow::DecodeEvent(event.type, data, error);
  if (!decoded) Fail("walk event " + std::string(event.type) + " does not decode: " + error.detail);
  return std::move(*decoded);
}

std::vector<std::string> SavedStates(const Walk& walk) {
  auto the_case = workflow::Case::Open(json::value_to<workflow::CaseContext>(json::parse(walk.context)));
  std::vector<std::string> saved{the_case.Save()};
  for (std::size_t index = 0; index < walk.events.size(); ++index) {
    the_case.Apply(DecodeWalkEvent(walk.events[index]), WalkMeta(walk.events[index], index));
    saved.push_back(the_case.Save());
  }
  return saved;
}

}  // namespace returnflow::fuzz
