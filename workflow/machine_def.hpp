#pragma once
/// The return-case state machine: the transition tables are the specification of the process.
///
/// Private to the workflow library. Included by machine.cpp (the one translation unit that instantiates
/// the MSM back-end) and by definition.cpp (which reads the tables to export the definition).
///
/// Shape:
///   return_case: open | suspended | closed
///     open (history on case.resumed): referral -> counselling -> documentation -> travel -> reintegration
///       each stage a submachine with history on case.resumed, so resume lands in the exact sub-state;
///       documentation has three orthogonal regions (travel document, exit clearance, medical).
///   A closure that needs a supervisor is pending as the context's closure_request (the case keeps its
///   stage, open or on hold): case.closure_requested sets it, case.closure_approved closes the case with
///   its outcome, case.closure_rejected clears it; guards read it.
///   Stage completion and closures decided inside a stage are completion (eventless) rows whose guards
///   read the stage's flags or the context, so no transition is hidden in an action.
#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <boost/mpl/vector.hpp>
#include <boost/mpl/vector/vector30.hpp>
#include <boost/msm/back/state_machine.hpp>
#include <boost/msm/front/functor_row.hpp>
#include <boost/msm/front/state_machine_def.hpp>
#include <fmt/format.h>

#include "states/states.hpp"
#include "workflow/case.hpp"
#include "workflow/context.hpp"
#include "workflow/events.hpp"
#include "workflow/reasons.hpp"

namespace returnflow::workflow::machine {

namespace msmf = boost::msm::front;
namespace msmb = boost::msm::back;
namespace mpl = boost::mpl;
namespace ev = events;
using msmf::none;
using msmf::Row;

/// What guards and actions read and write while one event is applied.
struct CaseRuntime {
  CaseContext context;
  const EventMeta* meta = nullptr;
  const std::vector<std::string>* active = nullptr;  ///< active leaf states before the event
  std::string_view refusal;                          ///< the reason code of the guard that refused
  std::vector<std::string> changes;                  ///< appended by actions
};

/// Shared base of every machine definition: access to the runtime, and the policies we want everywhere.
template <typename Derived>
struct MachineDef : msmf::state_machine_def<Derived> {
  using no_exception_thrown = int;  // actions do not throw; skip MSM's try/catch
  using no_message_queue = int;     // no action posts events; every row names its own target
  CaseRuntime* runtime = nullptr;

  // A missing transition is reported through process_event's HANDLED_FALSE; nothing to do here.
  template <typename Fsm, typename Event>
  void no_transition(const Event&, Fsm&, int) {}
};

/// True for an internal transition (a row whose target is `none`: no exit, no entry).
template <typename Row>
inline constexpr bool kIsInternalRow = std::is_same_v<typename Row::row_type_tag, boost::msm::a_irow_tag> ||
                                       std::is_same_v<typename Row::row_type_tag, boost::msm::g_irow_tag> ||
                                       std::is_same_v<typename Row::row_type_tag, boost::msm::irow_tag> ||
                                       std::is_same_v<typename Row::row_type_tag, boost::msm::_irow_tag>;

/// Flag on a sub-state that finishes its stage (or its documentation strand).
struct Finished {};

template <typename Fsm>
CaseContext& Ctx(Fsm& fsm) {
  return fsm.runtime->context;
}
template <typename Fsm, typename... Args>
void Note(Fsm& fsm, fmt::format_string<Args...> format, Args&&... args) {
  fsm.runtime->changes.push_back(fmt::format(format, std::forward<Args>(args)...));
}
template <typename Fsm>
Instant Now(Fsm& fsm) {
  return fsm.runtime->meta->occurred_at;
}
/// The rules of the case's programme version, arriving with the event (the defaults when none came).
template <typename Fsm>
const Programme& Rules(Fsm& fsm) {
  static const Programme kDefaults;
  const auto* programme = fsm.runtime->meta->programme;
  return programme != nullptr ? *programme : kDefaults;
}

const HouseholdMember* FindMember(const CaseContext& context, const std::string& member_id);

/// The reason codes a guard declares, as a constant array (empty for guards that never refuse).
template <typename... Codes>
constexpr std::array<ReasonCode, sizeof...(Codes)> Declare(Codes... codes) {
  return {codes...};
}
template <std::size_t N>
constexpr bool Declares(const std::array<ReasonCode, N>& declared, const ReasonCode& code) {
  for (const auto& item : declared) {
    if (item.code == code.code) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Guards. Each is a small named functor that declares the reason codes it can refuse with (from
// workflow/reasons.hpp); `Refuse<code>` will not compile for a code the guard has not declared.
// Guards that declare none only route (completion rows, the no-show limit) and never refuse.
// ---------------------------------------------------------------------------------------------
#define RETURNFLOW_GUARD(Type, stable_name, ...)                                           \
  struct Type {                                                                            \
    static constexpr std::string_view kName = stable_name;                                 \
    static constexpr auto kReasons = Declare(__VA_ARGS__);                                 \
    template <typename Evt, typename Fsm, typename Src, typename Tgt>                      \
    bool operator()(const Evt& event, Fsm& fsm, Src& source, Tgt&) const {                 \
      return Check(event, fsm, source);                                                    \
    }                                                                                      \
    template <typename Evt, typename Fsm, typename Src>                                    \
    static bool Check(const Evt& event, Fsm& fsm, Src& source);                            \
    template <const ReasonCode& Reason, typename Fsm>                                      \
    static bool Refuse(Fsm& fsm) {                                                         \
      static_assert(Declares(kReasons, Reason), "a guard refuses only with codes it declares"); \
      fsm.runtime->refusal = Reason.code;                                                  \
      return false;                                                                        \
    }                                                                                      \
  };                                                                                       \
  template <typename Evt, typename Fsm, typename Src>                                      \
  bool Type::Check([[maybe_unused]] const Evt& event, [[maybe_unused]] Fsm& fsm,           \
                   [[maybe_unused]] Src& source)

namespace r = reasons;

/// The programme's current list decides, whichever version the case is pinned to: a destination found
/// unsafe protects every case from then on.
RETURNFLOW_GUARD(DestinationNotUnsafe, "destination_not_unsafe", r::kDestinationUnsafe) {
  const auto* current = fsm.runtime->meta->current_programme;
  const auto& unsafe = (current != nullptr ? *current : Rules(fsm)).unsafe_destinations;
  return !unsafe.contains(event.destination_country) || Refuse<r::kDestinationUnsafe>(fsm);
}

RETURNFLOW_GUARD(CounsellingSessionHeld, "counselling_session_held", r::kCounsellingSessionRequired) {
  return Ctx(fsm).counselling_sessions > 0 || Refuse<r::kCounsellingSessionRequired>(fsm);
}

RETURNFLOW_GUARD(ProxyOnlyWithCapacityAssessment, "proxy_only_with_capacity_assessment",
                 r::kCapacityAssessmentRequired, r::kProxyConsentWithCapacity) {
  if (event.kind != ConsentKind::kProxy) return true;
  const auto& assessed = Ctx(fsm).has_capacity;
  if (!assessed) return Refuse<r::kCapacityAssessmentRequired>(fsm);
  return !*assessed || Refuse<r::kProxyConsentWithCapacity>(fsm);
}

/// Every unaccompanied or separated child: a best-interests determination finding return in the child's
/// interest, approved by a supervisor, with a guardian recorded.
RETURNFLOW_GUARD(ChildSafeguardsMet, "child_safeguards_met", r::kBestInterestsDeterminationRequired,
                 r::kReturnNotInChildInterest, r::kBestInterestsApprovalRequired, r::kGuardianRequired) {
  const auto& context = Ctx(fsm);
  for (const auto& member : context.household) {
    if (!member.IsUnaccompaniedOrSeparatedChild()) continue;
    const auto found = context.best_interests.find(member.member_id);
    if (found == context.best_interests.end()) return Refuse<r::kBestInterestsDeterminationRequired>(fsm);
    if (!found->second.in_child_interest) return Refuse<r::kReturnNotInChildInterest>(fsm);
    if (!found->second.approved_by) return Refuse<r::kBestInterestsApprovalRequired>(fsm);
    if (!found->second.guardian_recorded) return Refuse<r::kGuardianRequired>(fsm);
  }
  return true;
}

RETURNFLOW_GUARD(UnaccompaniedChildNamed, "unaccompanied_child_named", r::kNotAnUnaccompaniedOrSeparatedChild) {
  const auto* member = FindMember(Ctx(fsm), event.member_id);
  return (member != nullptr && member->IsUnaccompaniedOrSeparatedChild()) ||
         Refuse<r::kNotAnUnaccompaniedOrSeparatedChild>(fsm);
}

RETURNFLOW_GUARD(FindingsNameMembers, "findings_name_members", r::kUnknownHouseholdMember) {
  for (const auto& finding : event.findings) {
    if (FindMember(Ctx(fsm), finding.member_id) == nullptr) return Refuse<r::kUnknownHouseholdMember>(fsm);
  }
  return true;
}

RETURNFLOW_GUARD(DeterminationOnFile, "determination_on_file", r::kBestInterestsDeterminationRequired) {
  return Ctx(fsm).best_interests.contains(event.member_id) || Refuse<r::kBestInterestsDeterminationRequired>(fsm);
}

RETURNFLOW_GUARD(TravelDocumentValidOnDeparture, "travel_document_valid_on_departure",
                 r::kTravelDocumentExpiresBeforeDeparture) {
  const auto& expires = Ctx(fsm).travel_document_expires_on;
  return (expires && *expires >= event.departure_date) || Refuse<r::kTravelDocumentExpiresBeforeDeparture>(fsm);
}

RETURNFLOW_GUARD(FitOnDeparture, "fit_on_departure", r::kFitnessCertificateExpiresBeforeDeparture) {
  const auto& valid_until = Ctx(fsm).fitness_valid_until;
  return (valid_until && *valid_until >= event.departure_date) ||
         Refuse<r::kFitnessCertificateExpiresBeforeDeparture>(fsm);
}

RETURNFLOW_GUARD(VoluntarinessReconfirmed, "voluntariness_reconfirmed", r::kVoluntarinessNotReconfirmed) {
  return event.voluntariness_confirmed || Refuse<r::kVoluntarinessNotReconfirmed>(fsm);
}

/// Every unaccompanied or separated child travels with an escort; a medical escort where certified.
RETURNFLOW_GUARD(EscortWhereRequired, "escort_where_required", r::kChildEscortRequired, r::kMedicalEscortRequired) {
  const auto& context = Ctx(fsm);
  if (context.HasUnaccompaniedOrSeparatedChild() && !context.child_escort_assigned) {
    return Refuse<r::kChildEscortRequired>(fsm);
  }
  return !context.medical_escort_required || context.medical_escort_assigned ||
         Refuse<r::kMedicalEscortRequired>(fsm);
}

/// Every unaccompanied or separated child is handed over to a confirmed receiving caregiver.
RETURNFLOW_GUARD(CaregiverForEveryChild, "caregiver_for_every_child", r::kCaregiverNotConfirmed) {
  const auto& context = Ctx(fsm);
  for (const auto& member : context.household) {
    if (member.IsUnaccompaniedOrSeparatedChild() && !context.caregivers_confirmed.contains(member.member_id)) {
      return Refuse<r::kCaregiverNotConfirmed>(fsm);
    }
  }
  return true;
}

// The programme's no-show limit routes a no-show: back to booking, or closed as absconded.
RETURNFLOW_GUARD(NoShowLimitReached, "no_show_limit_reached") {
  return Ctx(fsm).no_shows + 1 >= Rules(fsm).no_show_limit;
}
RETURNFLOW_GUARD(BelowNoShowLimit, "below_no_show_limit") {
  return Ctx(fsm).no_shows + 1 < Rules(fsm).no_show_limit;
}

/// On the day of departure the travel document and the fitness certificate are still valid (either
/// may have expired, as an event of the engine's clock, since the booking).
RETURNFLOW_GUARD(DocumentsValidOnDeparture, "documents_valid_on_departure", r::kTravelDocumentExpiresBeforeDeparture,
                 r::kFitnessCertificateExpiresBeforeDeparture) {
  const auto& context = Ctx(fsm);
  const auto day = context.departure_date.value_or(std::chrono::floor<std::chrono::days>(Now(fsm)));
  if (!context.travel_document_expires_on || *context.travel_document_expires_on < day) {
    return Refuse<r::kTravelDocumentExpiresBeforeDeparture>(fsm);
  }
  return (context.fitness_valid_until && *context.fitness_valid_until >= day) ||
         Refuse<r::kFitnessCertificateExpiresBeforeDeparture>(fsm);
}

RETURNFLOW_GUARD(PlanOnFile, "plan_on_file", r::kReintegrationPlanMissing) {
  return Ctx(fsm).plan_submitted || Refuse<r::kReintegrationPlanMissing>(fsm);
}

RETURNFLOW_GUARD(PlanApproved, "plan_approved", r::kReintegrationPlanNotApproved) {
  return Ctx(fsm).plan_approved || Refuse<r::kReintegrationPlanNotApproved>(fsm);
}

RETURNFLOW_GUARD(BeforeDeparture, "before_departure", r::kWithdrawalAfterDeparture) {
  return !Ctx(fsm).Departed() || Refuse<r::kWithdrawalAfterDeparture>(fsm);
}

/// Whether the case may close with `outcome` now, by the outcome's own conditions; `Guard` refuses (it
/// declares kOutcomeReasons). Every outcome is named: a new one must be decided here before the machine
/// compiles without warnings (-Wswitch).
#define RETURNFLOW_OUTCOME_REASONS                                                                          \
  r::kWithdrawalRequiresConsentWithdrawnEvent, r::kIneligibilityRequiresEligibilityDecision,                \
      r::kAbscondedRequiresNoShows, r::kMonitoringIncomplete, r::kNotYetReturned
template <typename Guard, typename Fsm>
bool OutcomeAllowed(Fsm& fsm, Outcome outcome) {
  const auto& context = Ctx(fsm);
  switch (outcome) {
    case Outcome::kReintegrated:
      return (context.plan_approved && context.monitoring_visits_done >= context.monitoring_visits_required &&
              context.monitoring_visits_done > 0) ||
             Guard::template Refuse<r::kMonitoringIncomplete>(fsm);
    case Outcome::kReturnedWithoutReintegrationAssistance:
    case Outcome::kReMigrated:
      return context.arrived_at.has_value() || Guard::template Refuse<r::kNotYetReturned>(fsm);
    case Outcome::kWithdrawn:
      return Guard::template Refuse<r::kWithdrawalRequiresConsentWithdrawnEvent>(fsm);
    case Outcome::kIneligible:
      return Guard::template Refuse<r::kIneligibilityRequiresEligibilityDecision>(fsm);
    case Outcome::kAbsconded:
      return Guard::template Refuse<r::kAbscondedRequiresNoShows>(fsm);
    case Outcome::kOptedOut:
    case Outcome::kLostContact:
    case Outcome::kDeceased:
    case Outcome::kFundingEnded:
    case Outcome::kSecuritySituation:
    case Outcome::kTransferred:
      return true;
  }
  return true;
}

/// A caseworker's direct closure: the outcome's conditions hold and the outcome needs no supervisor
/// (workflow::ClosureNeedsApproval; the others go through case.closure_requested).
RETURNFLOW_GUARD(ClosureAllowed, "closure_allowed", RETURNFLOW_OUTCOME_REASONS, r::kClosureRequiresApproval) {
  return OutcomeAllowed<ClosureAllowed>(fsm, event.outcome) &&
         (!ClosureNeedsApproval(Rules(fsm), event.outcome) || Refuse<r::kClosureRequiresApproval>(fsm));
}

/// A request for a closure that needs a supervisor: none pending yet, the outcome's conditions hold.
RETURNFLOW_GUARD(ClosureRequestAllowed, "closure_request_allowed", RETURNFLOW_OUTCOME_REASONS,
                 r::kClosureAlreadyRequested, r::kClosureApprovalNotRequired) {
  if (Ctx(fsm).closure_request) return Refuse<r::kClosureAlreadyRequested>(fsm);
  return OutcomeAllowed<ClosureRequestAllowed>(fsm, event.outcome) &&
         (ClosureNeedsApproval(Rules(fsm), event.outcome) || Refuse<r::kClosureApprovalNotRequired>(fsm));
}

RETURNFLOW_GUARD(ClosurePending, "closure_pending", r::kClosureNotRequested) {
  return Ctx(fsm).closure_request.has_value() || Refuse<r::kClosureNotRequested>(fsm);
}

/// The second person: a request is pending, the approver is not its requester, and the requested
/// outcome's conditions still hold.
RETURNFLOW_GUARD(ClosureApprovable, "closure_approvable", RETURNFLOW_OUTCOME_REASONS, r::kClosureNotRequested,
                 r::kClosureApproverIsRequester) {
  const auto& request = Ctx(fsm).closure_request;
  if (!request) return Refuse<r::kClosureNotRequested>(fsm);
  if (request->requested_by == fsm.runtime->meta->actor) return Refuse<r::kClosureApproverIsRequester>(fsm);
  return OutcomeAllowed<ClosureApprovable>(fsm, request->outcome);
}
#undef RETURNFLOW_OUTCOME_REASONS

RETURNFLOW_GUARD(ReopenReasonGiven, "reopen_reason_given", r::kReopenReasonRequired, r::kPersonalDataErased) {
  if (Ctx(fsm).personal_data_erased) return Refuse<r::kPersonalDataErased>(fsm);
  return !event.reason.empty() || Refuse<r::kReopenReasonRequired>(fsm);
}

/// Personal data is erased once; before its retention time only on a request that a second person approves.
RETURNFLOW_GUARD(PersonalDataHeld, "personal_data_held", r::kPersonalDataErased) {
  return !Ctx(fsm).personal_data_erased || Refuse<r::kPersonalDataErased>(fsm);
}
RETURNFLOW_GUARD(ErasureAllowed, "erasure_allowed", r::kPersonalDataErased, r::kErasureNotRequested,
                 r::kErasureNeedsSecondPerson) {
  const auto& context = Ctx(fsm);
  if (context.personal_data_erased) return Refuse<r::kPersonalDataErased>(fsm);
  if (event.basis == ErasureBasis::kRetention) return true;  // the clock's, when the retention has passed
  if (!context.erasure_requested_by) return Refuse<r::kErasureNotRequested>(fsm);
  return *context.erasure_requested_by != fsm.runtime->meta->actor || Refuse<r::kErasureNeedsSecondPerson>(fsm);
}

// Completion guards: evaluated after every event, they never refuse.
RETURNFLOW_GUARD(StageFinished, "stage_finished") { return source.template is_flag_active<Finished>(); }
RETURNFLOW_GUARD(AllStrandsFinished, "all_strands_finished") {
  return source.template is_flag_active<Finished, typename Src::Flag_AND>();
}
/// A fitness certificate is on file (an unfit assessment after a fit one withdraws it).
RETURNFLOW_GUARD(FitnessCertificateOnFile, "fitness_certificate_on_file") {
  return Ctx(fsm).fitness_valid_until.has_value();
}

#undef RETURNFLOW_GUARD

/// All guards hold; evaluated left to right, the first refusal gives the reason.
template <typename... Guards>
struct AllOf {
  template <typename Evt, typename Fsm, typename Src, typename Tgt>
  bool operator()(const Evt& event, Fsm& fsm, Src& source, Tgt& target) const {
    return (Guards()(event, fsm, source, target) && ...);
  }
};

/// The case is in one of these leaf states. Used on rows of an outer machine that react to an event
/// only in particular sub-states (an eligibility refusal closes the case, but only in the eligibility
/// review). Not a refusal: where it does not hold, the event is simply not allowed.
template <typename... States>
struct InState {
  static bool Holds(const std::vector<std::string>& active) {
    return ((std::find(active.begin(), active.end(), States::kName) != active.end()) || ...);
  }
  template <typename Evt, typename Fsm, typename Src, typename Tgt>
  bool operator()(const Evt&, Fsm& fsm, Src&, Tgt&) const {
    return Holds(*fsm.runtime->active);
  }
};

/// The part of a row's guard that depends on the active states alone, for listing the events a case
/// accepts (guards on the context are not evaluated there).
template <typename Guard>
struct StateCondition {
  static bool Holds(const std::vector<std::string>&) { return true; }
};
template <typename... States>
struct StateCondition<InState<States...>> {
  static bool Holds(const std::vector<std::string>& active) { return InState<States...>::Holds(active); }
};
template <typename... Guards>
struct StateCondition<AllOf<Guards...>> {
  static bool Holds(const std::vector<std::string>& active) { return (StateCondition<Guards>::Holds(active) && ...); }
};

// ---------------------------------------------------------------------------------------------
// Actions: small named functors that update the context and note what changed.
// ---------------------------------------------------------------------------------------------
#define RETURNFLOW_ACTION(Type, stable_name)                                         \
  struct Type {                                                                      \
    static constexpr std::string_view kName = stable_name;                           \
    template <typename Evt, typename Fsm, typename Src, typename Tgt>                \
    void operator()(const Evt& event, Fsm& fsm, Src&, Tgt&) const {                  \
      Run(event, fsm);                                                               \
    }                                                                                \
    template <typename Evt, typename Fsm>                                            \
    static void Run(const Evt& event, Fsm& fsm);                                     \
  };                                                                                 \
  template <typename Evt, typename Fsm>                                              \
  void Type::Run([[maybe_unused]] const Evt& event, [[maybe_unused]] Fsm& fsm)

RETURNFLOW_ACTION(RecordDestination, "record_destination") {
  Ctx(fsm).destination_country = event.destination_country;
  Note(fsm, "destination_country={}", event.destination_country);
  const auto* current = fsm.runtime->meta->current_programme;
  Note(fsm, "decided_under_programme_version={}", (current != nullptr ? *current : Rules(fsm)).version);
}
RETURNFLOW_ACTION(RecordSession, "record_session") {
  Note(fsm, "counselling_sessions={}", ++Ctx(fsm).counselling_sessions);
}
RETURNFLOW_ACTION(RecordScreening, "record_screening") {
  auto& context = Ctx(fsm);
  for (const auto& finding : event.findings) {
    for (auto& member : context.household) {
      if (member.member_id != finding.member_id) continue;
      member.vulnerabilities = {finding.vulnerabilities.begin(), finding.vulnerabilities.end()};
      Note(fsm, "vulnerabilities[{}]={}", member.member_id, member.vulnerabilities.size());
    }
  }
}
RETURNFLOW_ACTION(RecordCapacity, "record_capacity") {
  Ctx(fsm).has_capacity = event.has_capacity;
  Note(fsm, "has_capacity={}", event.has_capacity);
}
RETURNFLOW_ACTION(RecordBestInterests, "record_best_interests") {
  auto& determination = Ctx(fsm).best_interests[event.member_id];
  determination.in_child_interest = event.in_child_interest;
  determination.approved_by.reset();  // a new determination needs a new approval
  Note(fsm, "best_interests[{}].in_child_interest={}", event.member_id, event.in_child_interest);
}
RETURNFLOW_ACTION(ApproveBestInterests, "approve_best_interests") {
  Ctx(fsm).best_interests[event.member_id].approved_by = fsm.runtime->meta->actor;
  Note(fsm, "best_interests[{}].approved", event.member_id);
}
RETURNFLOW_ACTION(RecordGuardian, "record_guardian") {
  Ctx(fsm).best_interests[event.member_id].guardian_recorded = true;
  Note(fsm, "best_interests[{}].guardian_recorded", event.member_id);
}
RETURNFLOW_ACTION(RecordConsent, "record_consent") {
  Ctx(fsm).consent = event.kind;
  Ctx(fsm).consent_at = Now(fsm);
  Note(fsm, "consent={}", Name(event.kind));
}
RETURNFLOW_ACTION(RecordTravelDocument, "record_travel_document") {
  Ctx(fsm).travel_document_expires_on = event.expires_on;
  Note(fsm, "travel_document_expires_on={}", FormatDate(event.expires_on));
}
RETURNFLOW_ACTION(RecordDocumentRequest, "record_document_request") {
  Note(fsm, "travel_document_requests={}", ++Ctx(fsm).travel_document_requests);
}
RETURNFLOW_ACTION(RecordFitness, "record_fitness") {
  Ctx(fsm).fitness_valid_until = event.valid_until;
  Ctx(fsm).medical_escort_required = event.medical_escort_required;
  Note(fsm, "fitness_valid_until={}", FormatDate(event.valid_until));
  if (event.medical_escort_required) Note(fsm, "medical_escort_required");
}
RETURNFLOW_ACTION(RecordBooking, "record_booking") {
  Ctx(fsm).departure_date = event.departure_date;
  Ctx(fsm).route = event.route;
  Note(fsm, "departure_date={}", FormatDate(event.departure_date));
}
RETURNFLOW_ACTION(RecordEscort, "record_escort") {
  (event.kind == EscortKind::kChild ? Ctx(fsm).child_escort_assigned : Ctx(fsm).medical_escort_assigned) = true;
  Note(fsm, "escort_assigned={}", Name(event.kind));
}
RETURNFLOW_ACTION(RecordCaregiver, "record_caregiver") {
  Ctx(fsm).caregivers_confirmed.insert(event.member_id);
  Note(fsm, "caregiver_confirmed[{}]", event.member_id);
}
RETURNFLOW_ACTION(RecordBriefing, "record_briefing") {
  Ctx(fsm).voluntariness_reconfirmed = true;
  Note(fsm, "voluntariness_reconfirmed");
}
RETURNFLOW_ACTION(RecordNoShow, "record_no_show") {
  auto& context = Ctx(fsm);
  context.departure_date.reset();
  context.voluntariness_reconfirmed = false;
  Note(fsm, "no_shows={}", ++context.no_shows);
  Note(fsm, "booking_cancelled");
}
RETURNFLOW_ACTION(RecordDeparture, "record_departure") {
  Ctx(fsm).departed_at = Now(fsm);
  Note(fsm, "departed_at={}", FormatInstant(Now(fsm)));
}
RETURNFLOW_ACTION(RecordArrival, "record_arrival") {
  Ctx(fsm).arrived_at = Now(fsm);
  Note(fsm, "arrived_at={}", FormatInstant(Now(fsm)));
}
RETURNFLOW_ACTION(RecordPlan, "record_plan") {
  auto& context = Ctx(fsm);
  context.plan_submitted = true;
  context.monitoring_visits_required =
      event.monitoring_visits > 0 ? event.monitoring_visits : static_cast<int>(Rules(fsm).monitoring.size());
  Note(fsm, "monitoring_visits_required={}", context.monitoring_visits_required);
}
RETURNFLOW_ACTION(ApprovePlan, "approve_plan") {
  Ctx(fsm).plan_approved = true;
  Note(fsm, "plan_approved");
}
RETURNFLOW_ACTION(RecordAssistance, "record_assistance") {
  Note(fsm, "assistance[{}]={}", Name(event.kind), ++Ctx(fsm).assistance_delivered[event.kind]);
}
RETURNFLOW_ACTION(RecordMonitoringVisit, "record_monitoring_visit") {
  Note(fsm, "monitoring_visits_done={}", ++Ctx(fsm).monitoring_visits_done);
}
/// Puts the case on hold for `Reason` (the caller's reason for case.suspended).
template <SuspensionReason Reason>
struct SuspendFor {
  static constexpr std::string_view kName = Reason == SuspensionReason::kMedical           ? "suspend_as_unfit"
                                            : Reason == SuspensionReason::kDocumentRefused ? "suspend_for_refused_document"
                                                                                           : "suspend";
  template <typename Evt, typename Fsm, typename Src, typename Tgt>
  void operator()(const Evt&, Fsm& fsm, Src&, Tgt&) const {
    auto& context = Ctx(fsm);
    if constexpr (Reason == SuspensionReason::kMedical) {
      // An unfit assessment withdraws any certificate on file: a new one is needed before travel.
      if (context.fitness_valid_until) Note(fsm, "fitness_certificate_withdrawn");
      context.fitness_valid_until.reset();
    }
    context.suspension = Reason;
    context.suspended_at = Now(fsm);
    context.suspension_review_due = false;
    Note(fsm, "suspended={}", Name(Reason));
  }
};
using SuspendAsUnfit = SuspendFor<SuspensionReason::kMedical>;
using SuspendForRefusedDocument = SuspendFor<SuspensionReason::kDocumentRefused>;
RETURNFLOW_ACTION(Suspend, "suspend") {
  Ctx(fsm).suspension = event.reason;
  Ctx(fsm).suspended_at = Now(fsm);
  Ctx(fsm).suspension_review_due = false;
  Note(fsm, "suspended={}", Name(event.reason));
}
RETURNFLOW_ACTION(Resume, "resume") {
  auto& context = Ctx(fsm);
  context.suspension.reset();
  context.suspended_at.reset();
  context.suspension_review_due = false;
  Note(fsm, "resumed");
}
RETURNFLOW_ACTION(RecordSuspensionReviewDue, "record_suspension_review_due") {
  Ctx(fsm).suspension_review_due = true;
  Note(fsm, "suspension_review_due");
}
RETURNFLOW_ACTION(RecordOverdue, "record_overdue") {
  Ctx(fsm).overdue.insert(event.deadline);
  Note(fsm, "overdue={}", event.deadline);
}
RETURNFLOW_ACTION(RecordWarning, "record_warning") {
  Ctx(fsm).warned.insert(event.deadline);
  Note(fsm, "warned={}", event.deadline);
}
RETURNFLOW_ACTION(RecordFitnessExpired, "record_fitness_expired") {
  Ctx(fsm).fitness_valid_until.reset();
  Note(fsm, "fitness_certificate_expired");
}
RETURNFLOW_ACTION(RecordTravelDocumentExpired, "record_travel_document_expired") {
  Ctx(fsm).travel_document_expires_on.reset();
  Note(fsm, "travel_document_expired");
}
RETURNFLOW_ACTION(RecordVisitDue, "record_visit_due") {
  Ctx(fsm).monitoring_visits_announced.insert(event.visit);
  Note(fsm, "monitoring_visit_due={}", event.visit);
}
RETURNFLOW_ACTION(RecordVisitMissed, "record_visit_missed") {
  Ctx(fsm).monitoring_visits_missed.insert(event.visit);
  Note(fsm, "monitoring_visit_missed={}", event.visit);
}
RETURNFLOW_ACTION(ChangeProgramme, "change_programme") {
  Ctx(fsm).programme.version = event.version;
  Note(fsm, "programme_version={}", event.version);
}
/// Closes the case with `outcome`; every closing action goes through here (a pending closure request is
/// settled by any closure).
template <typename Fsm>
void CloseWith(Fsm& fsm, Outcome outcome) {
  auto& context = Ctx(fsm);
  context.outcome = outcome;
  context.suspension.reset();
  context.closure_request.reset();
  Note(fsm, "outcome={}", Name(outcome));
}
RETURNFLOW_ACTION(Close, "close") { CloseWith(fsm, event.outcome); }
RETURNFLOW_ACTION(RequestClosure, "request_closure") {
  Ctx(fsm).closure_request = ClosureRequest{event.outcome, event.reason, fsm.runtime->meta->actor, Now(fsm)};
  Note(fsm, "closure_requested={}", Name(event.outcome));
  Note(fsm, "closure_reason={}", event.reason);
}
RETURNFLOW_ACTION(ApproveClosure, "approve_closure") {
  const auto outcome = Ctx(fsm).closure_request->outcome;  // the guard ClosureApprovable found it
  Note(fsm, "closure_approved={}", Name(outcome));
  CloseWith(fsm, outcome);
}
RETURNFLOW_ACTION(RejectClosure, "reject_closure") {
  Note(fsm, "closure_rejected={}", Name(Ctx(fsm).closure_request->outcome));
  Note(fsm, "closure_rejection_reason={}", event.reason);
  Ctx(fsm).closure_request.reset();
}
RETURNFLOW_ACTION(CloseAsWithdrawn, "close_as_withdrawn") {
  if (Ctx(fsm).departure_date) {
    Ctx(fsm).departure_date.reset();
    Note(fsm, "booking_cancelled");
  }
  CloseWith(fsm, Outcome::kWithdrawn);
}
RETURNFLOW_ACTION(CloseAsIneligible, "close_as_ineligible") {
  Note(fsm, "ineligible_reason={}", event.reason);
  CloseWith(fsm, Outcome::kIneligible);
}
RETURNFLOW_ACTION(CloseAsAbsconded, "close_as_absconded") {
  RecordNoShow::Run(event, fsm);
  CloseWith(fsm, Outcome::kAbsconded);
}
RETURNFLOW_ACTION(RecordErasureRequest, "record_erasure_request") {
  Ctx(fsm).erasure_requested_by = fsm.runtime->meta->actor;
  Note(fsm, "erasure_requested={}", Name(event.ground));
}
RETURNFLOW_ACTION(MarkPersonalDataErased, "mark_personal_data_erased") {
  auto& context = Ctx(fsm);
  context.personal_data_erased = true;
  context.erasure_requested_by.reset();
  Note(fsm, "personal_data_erased={}", Name(event.basis));
}
RETURNFLOW_ACTION(Reopen, "reopen") {
  auto& context = Ctx(fsm);
  context.outcome.reset();
  context.no_shows = 0;
  ++context.reopen_count;
  Note(fsm, "reopened={}", context.reopen_count);
}

#undef RETURNFLOW_ACTION

// ---------------------------------------------------------------------------------------------
// Stage submachines.
// ---------------------------------------------------------------------------------------------

/// Every stage and the open case keep shallow history on resume; nested, that is deep history:
/// resuming a suspended case lands in the exact sub-state of every region.
using ResumeHistory = msmb::ShallowHistory<mpl::vector<ev::CaseResumed>>;

template <typename State>
struct FinishedState : State {
  using flag_list = mpl::vector1<Finished>;
};

namespace referral {
using namespace states::referral;
using EligibleFinished = FinishedState<Eligible>;
struct Def : MachineDef<Def> {
  static constexpr std::string_view kName = "referral";
  static constexpr std::array<std::string_view, 1> kRegionNames = {"referral"};
  using initial_state = Received;
  // An eligibility refusal closes the case: that row is the open case's (see `top` below).
  // clang-format off
  struct transition_table : mpl::vector<
  //    Start              Event                         Target              Action              Guard
  Row < Received         , ev::EligibilityReviewStarted, EligibilityReview , none              , none                 >,
  Row < EligibilityReview, ev::EligibilityConfirmed    , EligibleFinished  , RecordDestination , DestinationNotUnsafe >
  > {};
  // clang-format on
};
}  // namespace referral
using Referral = msmb::state_machine<referral::Def, ResumeHistory>;

namespace counselling {
using namespace states::counselling;
using ConsentedFinished = FinishedState<Consented>;
using ConsentValid = AllOf<CounsellingSessionHeld, ProxyOnlyWithCapacityAssessment, ChildSafeguardsMet>;
struct Def : MachineDef<Def> {
  static constexpr std::string_view kName = "counselling";
  static constexpr std::array<std::string_view, 1> kRegionNames = {"counselling"};
  using initial_state = AwaitingSession;
  // clang-format off
  struct transition_table : mpl::vector<
  //    Start            Event                        Target             Action                Guard
  Row < AwaitingSession, ev::CounsellingSessionHeld , InProgress       , RecordSession       , none                    >,
  Row < AwaitingSession, ev::VulnerabilityScreened  , none             , RecordScreening     , FindingsNameMembers     >,
  Row < AwaitingSession, ev::ConsentRecorded        , ConsentedFinished, RecordConsent       , ConsentValid            >,
  //  +----------------+----------------------------+------------------+---------------------+-------------------------+
  Row < InProgress     , ev::CounsellingSessionHeld , none             , RecordSession       , none                    >,
  Row < InProgress     , ev::VulnerabilityScreened  , none             , RecordScreening     , FindingsNameMembers     >,
  Row < InProgress     , ev::CapacityAssessed       , none             , RecordCapacity      , none                    >,
  Row < InProgress     , ev::BestInterestsDetermined, none             , RecordBestInterests , UnaccompaniedChildNamed >,
  Row < InProgress     , ev::BestInterestsApproved  , none             , ApproveBestInterests, DeterminationOnFile     >,
  Row < InProgress     , ev::GuardianRecorded       , none             , RecordGuardian      , UnaccompaniedChildNamed >,
  Row < InProgress     , ev::ConsentRecorded        , ConsentedFinished, RecordConsent       , ConsentValid            >
  > {};
  // clang-format on
};
}  // namespace counselling
using Counselling = msmb::state_machine<counselling::Def, ResumeHistory>;

namespace documentation {
using namespace states::documentation;
using PassportDone = FinishedState<PassportOnFile>;
using IssuedDone = FinishedState<EmergencyDocumentIssued>;
using ClearanceGrantedDone = FinishedState<ExitClearanceGranted>;
using ClearanceNotRequiredDone = FinishedState<ExitClearanceNotRequired>;
using FitDone = FinishedState<FitToTravel>;
struct Def : MachineDef<Def> {
  static constexpr std::string_view kName = "documentation";
  static constexpr std::array<std::string_view, 3> kRegionNames = {"travel_document", "exit_clearance", "medical"};
  // Three strands run side by side; the stage finishes when every region sits in a Finished state. A
  // refused document and an unfit assessment put the whole case on hold: those rows are the open
  // case's (see `top` below), and a resumed case is back in the strand's state it left.
  using initial_state = mpl::vector<TravelDocumentPending, ExitClearancePending, MedicalPending>;
  // clang-format off
  struct transition_table : mpl::vector<
  //    Start                     , Event                        , Target                    , Action               , Guard
  Row < TravelDocumentPending     , ev::PassportVerified         , PassportDone              , RecordTravelDocument , none >,
  Row < TravelDocumentPending     , ev::TravelDocumentRequested  , EmergencyDocumentRequested, RecordDocumentRequest, none >,
  Row < EmergencyDocumentRequested, ev::TravelDocumentIssued     , IssuedDone                , RecordTravelDocument , none >,
  Row < EmergencyDocumentRequested, ev::TravelDocumentRequested  , none                      , RecordDocumentRequest, none >,
  Row < EmergencyDocumentRequested, ev::PassportVerified         , PassportDone              , RecordTravelDocument , none >,
  Row < PassportDone              , ev::TravelDocumentExpired    , TravelDocumentPending     , RecordTravelDocumentExpired, none >,
  Row < IssuedDone                , ev::TravelDocumentExpired    , TravelDocumentPending     , RecordTravelDocumentExpired, none >,
  //  +---------------------------+------------------------------+---------------------------+----------------------+------+
  Row < ExitClearancePending      , ev::ExitClearanceRequested   , ExitClearanceRequested    , none                 , none >,
  Row < ExitClearancePending      , ev::ExitClearanceNotRequired , ClearanceNotRequiredDone  , none                 , none >,
  Row < ExitClearanceRequested    , ev::ExitClearanceGranted     , ClearanceGrantedDone      , none                 , none >,
  //  +---------------------------+------------------------------+---------------------------+----------------------+------+
  Row < MedicalPending            , ev::FitnessCertified         , FitDone                   , RecordFitness        , none >,
  Row < FitDone                   , ev::FitnessCertified         , none                      , RecordFitness        , none >,
  Row < FitDone                   , ev::FitnessExpired           , MedicalPending            , RecordFitnessExpired , none >
  > {};
  // clang-format on
};
}  // namespace documentation
using Documentation = msmb::state_machine<documentation::Def, ResumeHistory>;

namespace travel {
using namespace states::travel;
using ArrivedFinished = FinishedState<Arrived>;
using BookingGuards = AllOf<TravelDocumentValidOnDeparture, FitOnDeparture>;
using DepartureGuards = AllOf<EscortWhereRequired, DocumentsValidOnDeparture>;
struct Def : MachineDef<Def> {
  static constexpr std::string_view kName = "travel";
  static constexpr std::array<std::string_view, 1> kRegionNames = {"travel"};
  using initial_state = AwaitingBooking;
  // The no-show that reaches the programme's limit closes the case as absconded: that row is the open
  // case's (see `top` below); below the limit a no-show returns the case to booking.
  // clang-format off
  struct transition_table : mpl::vector<
  //    Start          , Event                   , Target         , Action               , Guard
  Row < AwaitingBooking, ev::TravelBooked        , Booked         , RecordBooking        , BookingGuards            >,
  Row < AwaitingBooking, ev::PassportVerified    , none           , RecordTravelDocument , none                     >,
  Row < AwaitingBooking, ev::TravelDocumentIssued, none           , RecordTravelDocument , none                     >,
  Row < AwaitingBooking, ev::FitnessCertified    , none           , RecordFitness        , none                     >,
  Row < AwaitingBooking, ev::EscortAssigned      , none           , RecordEscort         , none                     >,
  //  +----------------+-------------------------+----------------+----------------------+--------------------------+
  Row < Booked         , ev::EscortAssigned      , none           , RecordEscort         , none                     >,
  Row < Booked         , ev::CaregiverConfirmed  , none           , RecordCaregiver      , UnaccompaniedChildNamed  >,
  Row < Booked         , ev::BriefingHeld        , Briefed        , RecordBriefing       , VoluntarinessReconfirmed >,
  Row < Booked         , ev::NoShow              , AwaitingBooking, RecordNoShow         , BelowNoShowLimit         >,
  //  +----------------+-------------------------+----------------+----------------------+--------------------------+
  Row < Briefed        , ev::EscortAssigned      , none           , RecordEscort         , none                     >,
  Row < Briefed        , ev::CaregiverConfirmed  , none           , RecordCaregiver      , UnaccompaniedChildNamed  >,
  Row < Briefed        , ev::Departed            , Departed       , RecordDeparture      , DepartureGuards          >,
  Row < Briefed        , ev::NoShow              , AwaitingBooking, RecordNoShow         , BelowNoShowLimit         >,
  //  +----------------+-------------------------+----------------+----------------------+--------------------------+
  Row < Departed       , ev::CaregiverConfirmed  , none           , RecordCaregiver      , UnaccompaniedChildNamed  >,
  Row < Departed       , ev::Arrived             , ArrivedFinished, RecordArrival        , CaregiverForEveryChild   >
  > {};
  // clang-format on
};
}  // namespace travel
using Travel = msmb::state_machine<travel::Def, ResumeHistory>;

namespace reintegration {
using namespace states::reintegration;
struct Def : MachineDef<Def> {
  static constexpr std::string_view kName = "reintegration";
  static constexpr std::array<std::string_view, 1> kRegionNames = {"reintegration"};
  using initial_state = PlanPending;
  // clang-format off
  struct transition_table : mpl::vector<
  //    Start      , Event                       , Target    , Action               , Guard
  Row < PlanPending, ev::PlanSubmitted           , none      , RecordPlan           , none         >,
  Row < PlanPending, ev::PlanApproved            , Assisting , ApprovePlan          , PlanOnFile   >,
  Row < PlanPending, ev::AssistanceDelivered     , none      , RecordAssistance     , PlanApproved >,
  Row < PlanPending, ev::MonitoringVisitDue      , none      , RecordVisitDue       , none         >,
  Row < PlanPending, ev::MonitoringVisitMissed   , none      , RecordVisitMissed    , none         >,
  //  +------------+-----------------------------+-----------+----------------------+--------------+
  Row < Assisting  , ev::AssistanceDelivered     , none      , RecordAssistance     , none         >,
  Row < Assisting  , ev::MonitoringVisitCompleted, Monitoring, RecordMonitoringVisit, none         >,
  Row < Assisting  , ev::MonitoringVisitDue      , none      , RecordVisitDue       , none         >,
  Row < Assisting  , ev::MonitoringVisitMissed   , none      , RecordVisitMissed    , none         >,
  //  +------------+-----------------------------+-----------+----------------------+--------------+
  Row < Monitoring , ev::AssistanceDelivered     , none      , RecordAssistance     , none         >,
  Row < Monitoring , ev::MonitoringVisitCompleted, none      , RecordMonitoringVisit, none         >,
  Row < Monitoring , ev::MonitoringVisitDue      , none      , RecordVisitDue       , none         >,
  Row < Monitoring , ev::MonitoringVisitMissed   , none      , RecordVisitMissed    , none         >
  > {};
  // clang-format on
};
}  // namespace reintegration
using Reintegration = msmb::state_machine<reintegration::Def, ResumeHistory>;

// ---------------------------------------------------------------------------------------------
// The open case: the stages in order. Completion rows move on when a stage has finished.
// ---------------------------------------------------------------------------------------------
namespace open {
using DocumentationComplete = AllOf<AllStrandsFinished, FitnessCertificateOnFile>;
struct Def : MachineDef<Def> {
  static constexpr std::string_view kName = "open";
  static constexpr std::array<std::string_view, 1> kRegionNames = {"stage"};
  using initial_state = Referral;
  // clang-format off
  struct transition_table : mpl::vector<
  //    Start        , Event, Target       , Action, Guard
  Row < Referral     , none , Counselling  , none  , StageFinished         >,
  Row < Counselling  , none , Documentation, none  , StageFinished         >,
  Row < Documentation, none , Travel       , none  , DocumentationComplete >,
  Row < Travel       , none , Reintegration, none  , StageFinished         >
  > {};
  // clang-format on
};
}  // namespace open
using Open = msmb::state_machine<open::Def, ResumeHistory>;

// ---------------------------------------------------------------------------------------------
// The case: open, on hold, or closed. Rows here apply in whatever stage the case is; those guarded by
// InState apply only in the sub-states named (a stage's own rows are asked first, so these decide only
// what no stage row took).
// ---------------------------------------------------------------------------------------------
namespace top {
using states::Closed;
using states::Suspended;
using InEligibilityReview = InState<states::referral::EligibilityReview>;
using AwaitingDocument = InState<states::documentation::EmergencyDocumentRequested>;
using BeingAssessed = InState<states::documentation::MedicalPending, documentation::FitDone>;
using NoShowAtLimit = AllOf<InState<states::travel::Booked, states::travel::Briefed>, NoShowLimitReached>;
using BeforeDepartureInTravel =
    InState<states::travel::AwaitingBooking, states::travel::Booked, states::travel::Briefed>;
struct Def : MachineDef<Def> {
  static constexpr std::string_view kName = "return_case";
  static constexpr std::array<std::string_view, 1> kRegionNames = {"case"};
  using initial_state = Open;
  // clang-format off
  // More rows than mpl::vector's 20: the numbered form, whose number is the count of rows.
  struct transition_table : mpl::vector26<
  //    Start    , Event                    , Target   , Action                   , Guard
  Row < Open     , ev::CaseSuspended        , Suspended, Suspend                  , none                >,
  Row < Open     , ev::TravelDocumentRefused, Suspended, SuspendForRefusedDocument, AwaitingDocument    >,
  Row < Open     , ev::FitnessUnfit         , Suspended, SuspendAsUnfit           , BeingAssessed       >,
  Row < Open     , ev::EligibilityRefused   , Closed   , CloseAsIneligible        , InEligibilityReview >,
  Row < Open     , ev::NoShow               , Closed   , CloseAsAbsconded         , NoShowAtLimit       >,
  Row < Open     , ev::ConsentWithdrawn     , Closed   , CloseAsWithdrawn         , BeforeDeparture     >,
  Row < Open     , ev::CaseClosed           , Closed   , Close                    , ClosureAllowed      >,
  Row < Open     , ev::ClosureRequested     , none     , RequestClosure           , ClosureRequestAllowed >,
  Row < Open     , ev::ClosureApproved      , Closed   , ApproveClosure           , ClosureApprovable   >,
  Row < Open     , ev::ClosureRejected      , none     , RejectClosure            , ClosurePending      >,
  Row < Open     , ev::FitnessExpired       , none     , RecordFitnessExpired     , BeforeDepartureInTravel >,
  Row < Open     , ev::TravelDocumentExpired, none     , RecordTravelDocumentExpired, BeforeDepartureInTravel >,
  Row < Open     , ev::DeadlinePassed       , none     , RecordOverdue            , none                >,
  Row < Open     , ev::DeadlineApproaching  , none     , RecordWarning            , none                >,
  Row < Open     , ev::ProgrammeChanged     , none     , ChangeProgramme          , none                >,
  //  +----------+--------------------------+----------+--------------------------+---------------------+
  Row < Suspended, ev::CaseResumed          , Open     , Resume                   , none                >,
  Row < Suspended, ev::ConsentWithdrawn     , Closed   , CloseAsWithdrawn         , BeforeDeparture     >,
  Row < Suspended, ev::CaseClosed           , Closed   , Close                    , ClosureAllowed      >,
  Row < Suspended, ev::ClosureRequested     , none     , RequestClosure           , ClosureRequestAllowed >,
  Row < Suspended, ev::ClosureApproved      , Closed   , ApproveClosure           , ClosureApprovable   >,
  Row < Suspended, ev::ClosureRejected      , none     , RejectClosure            , ClosurePending      >,
  Row < Suspended, ev::SuspensionReviewDue  , none     , RecordSuspensionReviewDue, none                >,
  Row < Suspended, ev::ProgrammeChanged     , none     , ChangeProgramme          , none                >,
  //  +----------+--------------------------+----------+--------------------------+---------------------+
  Row < Closed   , ev::CaseReopened         , Open     , Reopen                   , ReopenReasonGiven   >,
  Row < Closed   , ev::PersonalDataErasureRequested, none, RecordErasureRequest   , PersonalDataHeld    >,
  Row < Closed   , ev::PersonalDataErased   , none     , MarkPersonalDataErased   , ErasureAllowed      >
  > {};
  // clang-format on
};
}  // namespace top
using ReturnCase = msmb::state_machine<top::Def>;

}  // namespace returnflow::workflow::machine
