#pragma once
/// The leaf states of a return case, each with the stable dotted name that is persisted and queried.
///
/// Names, never MSM's numeric ids, are what leaves the process: ids follow the order of transition-table
/// rows and change when a row moves. Composite states (the stage submachines) carry their own name in
/// workflow/machine.hpp; their leaves live here.
#include <string_view>

#include <boost/msm/front/states.hpp>

namespace returnflow::states {

#define RETURNFLOW_STATE(Type, stable_name)                                     \
  struct Type : boost::msm::front::state<> {                                    \
    static constexpr std::string_view kName = stable_name;                      \
  }

namespace referral {
RETURNFLOW_STATE(Received, "referral.received");
RETURNFLOW_STATE(EligibilityReview, "referral.eligibility_review");
RETURNFLOW_STATE(Eligible, "referral.eligible");
}  // namespace referral

namespace counselling {
RETURNFLOW_STATE(AwaitingSession, "counselling.awaiting_session");
RETURNFLOW_STATE(InProgress, "counselling.in_progress");
RETURNFLOW_STATE(Consented, "counselling.consented");
}  // namespace counselling

namespace documentation {
RETURNFLOW_STATE(TravelDocumentPending, "documentation.travel_document.pending");
RETURNFLOW_STATE(PassportOnFile, "documentation.travel_document.passport_on_file");
RETURNFLOW_STATE(EmergencyDocumentRequested, "documentation.travel_document.requested");
RETURNFLOW_STATE(EmergencyDocumentIssued, "documentation.travel_document.issued");

RETURNFLOW_STATE(ExitClearancePending, "documentation.exit_clearance.pending");
RETURNFLOW_STATE(ExitClearanceRequested, "documentation.exit_clearance.requested");
RETURNFLOW_STATE(ExitClearanceGranted, "documentation.exit_clearance.granted");
RETURNFLOW_STATE(ExitClearanceNotRequired, "documentation.exit_clearance.not_required");

RETURNFLOW_STATE(MedicalPending, "documentation.medical.pending");
RETURNFLOW_STATE(FitToTravel, "documentation.medical.fit");
}  // namespace documentation

namespace travel {
RETURNFLOW_STATE(AwaitingBooking, "travel.awaiting_booking");
RETURNFLOW_STATE(Booked, "travel.booked");
RETURNFLOW_STATE(Briefed, "travel.briefed");
RETURNFLOW_STATE(Departed, "travel.departed");
RETURNFLOW_STATE(Arrived, "travel.arrived");
}  // namespace travel

namespace reintegration {
RETURNFLOW_STATE(PlanPending, "reintegration.plan_pending");
RETURNFLOW_STATE(Assisting, "reintegration.assisting");
RETURNFLOW_STATE(Monitoring, "reintegration.monitoring");
}  // namespace reintegration

/// A case on hold; it returns to exactly where it stopped on resume.
RETURNFLOW_STATE(Suspended, "suspended");
/// A finished case; the outcome is in the case context.
RETURNFLOW_STATE(Closed, "closed");

#undef RETURNFLOW_STATE

}  // namespace returnflow::states
