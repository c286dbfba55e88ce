#pragma once
// Synthetic cases and a small driver for the workflow tests. No real people: member ids only.
#include <string>

#include "workflow/case.hpp"
#include "workflow/programme.hpp"

namespace returnflow::testing {

using namespace workflow;
namespace ev = workflow::events;

inline Date Day(const char* text) { return *ParseDate(text); }

/// The test programme: one unsafe destination, the default service levels and schedule.
inline Programme TestProgramme() {
  Programme programme;
  programme.code = "avrr-test";
  programme.version = 1;
  programme.unsafe_destinations = {"XX"};
  return programme;
}

/// A single adult returning from Indonesia to Bangladesh under the test programme.
inline CaseContext AdultContext() {
  CaseContext context;
  context.programme = {"avrr-test", 1};
  context.host_country = "ID";
  context.origin_country = "BD";
  context.opened_at = *ParseInstant("2026-01-05T09:00:00Z");
  context.household.push_back({"m1", Relationship::kPrincipal, Sex::kMale, 1990, {}});
  return context;
}

/// A mother with her (accompanied) daughter.
inline CaseContext HouseholdContext() {
  auto context = AdultContext();
  context.household[0].sex = Sex::kFemale;
  context.household[0].vulnerabilities = {Vulnerability::kSingleParent};
  context.household.push_back({"m2", Relationship::kDependant, Sex::kFemale, 2018, {}});
  return context;
}

/// An unaccompanied child travelling alone.
inline CaseContext UnaccompaniedChildContext() {
  auto context = AdultContext();
  context.household = {{"m1", Relationship::kPrincipal, Sex::kMale, 2011, {Vulnerability::kUnaccompaniedChild}}};
  return context;
}

/// Applies events with a clock that advances one hour per event.
class Driver {
 public:
  explicit Driver(CaseContext context) : case_(Case::Open(std::move(context))) {}
  explicit Driver(Case restored) : case_(std::move(restored)) {}

  ApplyResult Send(const Event& event, std::string actor = "caseworker-1") {
    clock_ += std::chrono::hours(1);
    return case_.Apply(event, EventMeta{std::move(actor), clock_, &programme, nullptr});
  }
  /// The rules each event arrives with (tests change them: a no-show limit, an unsafe list).
  Programme programme = TestProgramme();
  Case& Get() { return case_; }
  std::string Leaf() const { return case_.ActiveStates().front(); }

  // Walks from referral to the given point, asserting nothing (callers check).
  void ToCounselling() {
    Send(ev::EligibilityReviewStarted{});
    Send(ev::EligibilityConfirmed{"BD"});
  }
  void ToDocumentation() {
    ToCounselling();
    Send(ev::CounsellingSessionHeld{});
    Send(ev::ConsentRecorded{ConsentKind::kExplicit});
  }
  void ToTravel() {
    ToDocumentation();
    Send(ev::PassportVerified{Day("2030-01-01")});
    Send(ev::ExitClearanceNotRequired{});
    Send(ev::FitnessCertified{Day("2026-06-30"), false});
  }
  void ToBooked() {
    ToTravel();
    Send(ev::TravelBooked{Day("2026-03-01"), "CGK-DAC"});
  }
  void ToDeparted() {
    ToBooked();
    Send(ev::BriefingHeld{true});
    Send(ev::Departed{});
  }
  void ToReintegration() {
    ToDeparted();
    Send(ev::Arrived{});
  }

 private:
  Case case_;
  Instant clock_ = *ParseInstant("2026-01-05T09:00:00Z");
};

}  // namespace returnflow::testing
