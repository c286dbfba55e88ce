#pragma once
/// The case context: everything the guards read and the actions write, saved with the machine state.
///
/// It holds workflow facts only. Names, dates of birth, document numbers and contacts live in the
/// persistence layer's `people` table; here a person is a pseudonymous member id with the facts the
/// safeguards need (year of birth, sex, vulnerability flags).
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

#include "workflow/dates.hpp"
#include "workflow/programme.hpp"
#include "workflow/vocabulary.hpp"

namespace returnflow::workflow {

struct HouseholdMember {
  std::string member_id;  ///< pseudonymous, unique within the case ("m1", "m2", ...)
  Relationship relationship = Relationship::kPrincipal;
  Sex sex = Sex::kUnknown;
  int birth_year = 0;
  std::set<Vulnerability> vulnerabilities;

  bool IsUnaccompaniedOrSeparatedChild() const {
    return vulnerabilities.contains(Vulnerability::kUnaccompaniedChild) ||
           vulnerabilities.contains(Vulnerability::kSeparatedChild);
  }
  friend bool operator==(const HouseholdMember&, const HouseholdMember&) = default;
};


/// A best-interests determination for one unaccompanied or separated child.
struct BestInterests {
  bool in_child_interest = false;
  std::optional<std::string> approved_by;  ///< the supervisor's actor id
  bool guardian_recorded = false;
  friend bool operator==(const BestInterests&, const BestInterests&) = default;
};

/// A closure asked for by a caseworker and waiting for a supervisor (events::ClosureRequested).
struct ClosureRequest {
  Outcome outcome = Outcome::kOptedOut;
  std::string reason;        ///< the caseworker's free text
  std::string requested_by;  ///< the requester's pseudonymous actor id (the approver must be another)
  Instant requested_at{};
  friend bool operator==(const ClosureRequest&, const ClosureRequest&) = default;
};

struct CaseContext {
  ProgrammeRef programme;  ///< the programme version the case runs under (its rules arrive with each event)
  std::string host_country;    ///< ISO 3166-1 alpha-2
  std::string origin_country;  ///< ISO 3166-1 alpha-2
  std::string destination_country;
  std::vector<HouseholdMember> household;
  Instant opened_at{};  ///< when the referral was received

  // Counselling and consent.
  int counselling_sessions = 0;
  std::optional<bool> has_capacity;  ///< capacity assessment result, when one was recorded
  std::optional<ConsentKind> consent;
  std::optional<Instant> consent_at;
  std::map<std::string, BestInterests> best_interests;  ///< by member id

  // Documentation.
  int travel_document_requests = 0;  ///< emergency travel document requests sent to the embassy
  std::optional<Date> travel_document_expires_on;
  std::optional<Date> fitness_valid_until;
  bool medical_escort_required = false;

  // Travel.
  std::optional<Date> departure_date;
  std::string route;
  bool child_escort_assigned = false;
  bool medical_escort_assigned = false;
  bool voluntariness_reconfirmed = false;
  int no_shows = 0;
  std::set<std::string> caregivers_confirmed;  ///< member ids of children handed over to a caregiver
  std::optional<Instant> departed_at;
  std::optional<Instant> arrived_at;

  // Reintegration.
  bool plan_submitted = false;
  bool plan_approved = false;
  int monitoring_visits_required = 0;
  int monitoring_visits_done = 0;
  std::map<AssistanceKind, int> assistance_delivered;
  std::set<int> monitoring_visits_announced;  ///< visits whose due date has come (1-based)
  std::set<int> monitoring_visits_missed;     ///< visits not done by the end of their grace

  // Time: what the engine's clock found (each as an event applied to the case).
  std::set<std::string> warned;   ///< deadlines of open steps whose approach was announced
  std::set<std::string> overdue;  ///< deadlines passed while their step is still open ("counselling", ...)
  std::optional<Instant> suspended_at;
  bool suspension_review_due = false;

  // Suspension and closure.
  std::optional<SuspensionReason> suspension;
  std::optional<Outcome> outcome;
  std::optional<ClosureRequest> closure_request;  ///< pending until approved, rejected or another closure
  int reopen_count = 0;

  // Personal data after closure: who asked for its erasure (a second person approves), and whether it
  // is gone (the people rows and their data keys; the pseudonymous workflow data stays).
  std::optional<std::string> erasure_requested_by;
  bool personal_data_erased = false;

  bool HasUnaccompaniedOrSeparatedChild() const;
  /// The union of the household members' vulnerability flags (for safeguards and reporting).
  std::set<Vulnerability> HouseholdVulnerabilities() const;
  bool Departed() const { return departed_at.has_value(); }
  friend bool operator==(const CaseContext&, const CaseContext&) = default;
};

void tag_invoke(const boost::json::value_from_tag&, boost::json::value& json, const CaseContext& context);
CaseContext tag_invoke(const boost::json::value_to_tag<CaseContext>&, const boost::json::value& json);
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& json, const HouseholdMember& member);
HouseholdMember tag_invoke(const boost::json::value_to_tag<HouseholdMember>&, const boost::json::value& json);

}  // namespace returnflow::workflow
