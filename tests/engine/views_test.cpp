// What each role reads of a case, without a server: the partner's slice, history entries, outcomes.
#include <catch2/catch.hpp>

#include "engine/views.hpp"

using namespace returnflow;
using namespace returnflow::engine;
namespace ev = workflow::events;

namespace {

Principal Partner(std::set<std::string> types) {
  Principal principal;
  principal.actor = "partner-token";
  principal.role = Role::kPartner;
  principal.organisation = "org";
  principal.event_types = std::move(types);
  principal.sources = {"urn:org"};
  return principal;
}
Principal Caseworker() {
  Principal principal;
  principal.actor = "cw";
  principal.role = Role::kCaseworker;
  principal.office = "jakarta";
  return principal;
}

/// A synthetic household (a mother and a separated child) in documentation, fit, the document requested.
workflow::Case InDocumentation() {
  workflow::CaseContext context;
  context.host_country = "ID";
  context.origin_country = "BD";
  context.opened_at = *workflow::ParseInstant("2026-01-05T09:00:00Z");
  context.household = {{"m1", workflow::Relationship::kPrincipal, workflow::Sex::kFemale, 1990, {workflow::Vulnerability::kHealthNeeds}},
                       {"m2", workflow::Relationship::kDependant, workflow::Sex::kMale, 2014, {workflow::Vulnerability::kSeparatedChild}}};
  auto machine = workflow::Case::Open(context);
  auto when = *workflow::ParseInstant("2026-01-05T10:00:00Z");
  const auto send = [&](workflow::Event event, const char* actor = "cw") {
    when += std::chrono::hours(1);
    REQUIRE(machine.Apply(event, {actor, when}).Applied());
  };
  send(ev::EligibilityReviewStarted{});
  send(ev::EligibilityConfirmed{"BD"});
  send(ev::CounsellingSessionHeld{});
  send(ev::BestInterestsDetermined{"m2", true});
  send(ev::BestInterestsApproved{"m2"}, "supervisor");
  send(ev::GuardianRecorded{"m2"});
  send(ev::ConsentRecorded{workflow::ConsentKind::kExplicit});
  send(ev::TravelDocumentRequested{});
  send(ev::FitnessCertified{*workflow::ParseDate("2026-06-30"), true});
  return machine;
}

persistence::CaseRecord RecordOf(const workflow::Case& machine) {
  persistence::CaseRecord record;
  record.case_id = "00000000-0000-4000-8000-000000000001";
  record.programme = "avrr-id";
  record.office = "jakarta";
  record.host_country = "ID";
  record.origin_country = "BD";
  record.partners = {"embassy-bd", "clinic-1"};
  record.stage = std::string(machine.Stage());
  record.active_states = machine.ActiveStates();
  record.vulnerabilities = machine.Context().HouseholdVulnerabilities();
  record.version = 10;
  return record;
}

bool Has(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

}  // namespace

TEST_CASE("a partner reads its part of a case and nothing of the household", "[engine][views]") {
  const auto machine = InDocumentation();
  const auto record = RecordOf(machine);
  const auto embassy = DetailView(Partner({"travel_document.issued", "travel_document.refused"}), record, machine);
  CHECK_FALSE(embassy.household);
  CHECK_FALSE(embassy.vulnerabilities);
  CHECK_FALSE(embassy.programme);
  CHECK_FALSE(embassy.office);
  CHECK_FALSE(embassy.partners);  // other organisations' names
  CHECK_FALSE(embassy.suspension);
  CHECK_FALSE(embassy.key_dates.fitness_valid_until);  // a medical fact, not the embassy's
  CHECK_FALSE(embassy.key_dates.consent_at);
  // Its strand only: the medical strand's state is the clinic's.
  CHECK(Has(embassy.active_states, "documentation.travel_document.requested"));
  CHECK_FALSE(Has(embassy.active_states, "documentation.medical.fit"));
  CHECK_FALSE(Has(embassy.active_states, "documentation.exit_clearance.pending"));
  for (const auto event : embassy.allowed_events) {
    CHECK((event == "travel_document.issued" || event == "travel_document.refused"));
  }

  const auto clinic = DetailView(Partner({"fitness.certified", "fitness.unfit"}), record, machine);
  CHECK(clinic.key_dates.fitness_valid_until);
  CHECK_FALSE(clinic.key_dates.travel_document_expires_on);
  CHECK(Has(clinic.active_states, "documentation.medical.fit"));
  CHECK_FALSE(Has(clinic.active_states, "documentation.travel_document.requested"));

  const auto escort = DetailView(Partner({"escort.assigned"}), record, machine);
  REQUIRE(escort.escorts_required);
  CHECK(*escort.escorts_required == std::vector<std::string>{"child", "medical"});
  const auto reception = DetailView(Partner({"caregiver.confirmed", "travel.arrived"}), record, machine);
  REQUIRE(reception.members_needing_caregiver);
  CHECK(*reception.members_needing_caregiver == std::vector<std::string>{"m2"});

  const auto caseworker = DetailView(Caseworker(), record, machine);
  REQUIRE(caseworker.household);
  CHECK(caseworker.household->size() == 2);
  CHECK(caseworker.partners);
  CHECK(Has(caseworker.active_states, "documentation.medical.fit"));
  // Everyone's allowed events are those they may send: a caseworker never sees a supervisor's approval.
  for (const auto event : caseworker.allowed_events) CHECK(event != "best_interests.approved");
}

TEST_CASE("a partner reads the history entries of its own part, without actors or free text", "[engine][views]") {
  persistence::HistoryEntry own{};
  own.type = "travel_document.issued";
  own.actor = "embassy-token";
  own.source = "urn:org";
  own.states_before = {"documentation.travel_document.requested", "documentation.medical.fit"};
  own.states_after = {"documentation.travel_document.issued", "documentation.medical.fit"};
  own.changes = {"travel_document_expires_on=2030-01-01"};
  const auto embassy = Partner({"travel_document.issued"});
  const auto seen = EntryView(embassy, own);
  REQUIRE(seen);
  CHECK(seen->actor.empty());
  CHECK(seen->source == "urn:org");
  CHECK(seen->states_before == std::vector<std::string>{"documentation.travel_document.requested"});
  CHECK(seen->changes == own.changes);

  persistence::HistoryEntry screening{};
  screening.type = "vulnerability.screened";
  screening.changes = {"vulnerabilities[m1]=1"};
  CHECK_FALSE(EntryView(embassy, screening));
  CHECK(EntryView(Caseworker(), screening));

  persistence::HistoryEntry refusal{};
  refusal.type = "eligibility.refused";
  refusal.changes = {"ineligible_reason=written by a caseworker", "outcome=ineligible"};
  auto with_access = Partner({"eligibility.refused"});  // even a partner allowed the type reads no free text
  const auto cut = EntryView(with_access, refusal);
  REQUIRE(cut);
  CHECK(cut->changes == std::vector<std::string>{"outcome=ineligible"});
  CHECK(EntryView(Caseworker(), refusal)->changes.size() == 2);
}

TEST_CASE("an event's outcome is cut to its sender like its case", "[engine][views]") {
  persistence::ApplyOutcome outcome;
  outcome.result.from = {"documentation.travel_document.requested", "documentation.medical.fit"};
  outcome.result.to = {"documentation.travel_document.issued", "documentation.medical.fit"};
  outcome.result.allowed_events = {"fitness.certified", "fitness.unfit", "case.suspended"};
  const auto seen = OutcomeView(Partner({"travel_document.issued"}), outcome);
  CHECK(seen.result.from == std::vector<std::string>{"documentation.travel_document.requested"});
  CHECK(seen.result.allowed_events.empty());
  const auto clinic = OutcomeView(Partner({"fitness.unfit"}), outcome);
  CHECK(clinic.result.allowed_events == std::vector<std::string_view>{"fitness.unfit"});
}
