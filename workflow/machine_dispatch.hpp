#pragma once
// Event dispatch into the MSM back-end, split across translation units by stage (private).
//
// Instantiating process_event for all 35 event types in one translation unit needs close to 2 GB of
// compiler memory; each machine_dispatch_*.cpp instantiates it for one group of events only, so every
// heavy translation unit stays well under the 1.5 GB budget and the two cores build them side by side.
#include <string_view>

#include "workflow/machine_def.hpp"

namespace returnflow::workflow::machine {

enum class EventGroup { kIntake, kDocumentation, kTravel, kClosure };

/// Which dispatch translation unit handles an event: referral, counselling and case-wide events;
/// documentation strands; travel and reintegration; the two-person closure (kept out of intake, which
/// it took past 1.5 GB of compiler memory) with the personal-data events of a closed case.
constexpr EventGroup GroupOf(std::string_view name) {
  if (name.starts_with("case.closure_") || name.starts_with("personal_data.")) return EventGroup::kClosure;
  constexpr std::string_view documentation[] = {"travel_document.", "exit_clearance.", "fitness."};
  constexpr std::string_view travel[] = {"travel.", "escort.", "caregiver.", "reintegration.", "assistance.",
                                         "monitoring."};
  for (const auto prefix : documentation) {
    if (name.starts_with(prefix)) return EventGroup::kDocumentation;
  }
  for (const auto prefix : travel) {
    if (name.starts_with(prefix)) return EventGroup::kTravel;
  }
  return EventGroup::kIntake;
}

template <EventGroup Group>
msmb::HandledEnum Dispatch(ReturnCase& machine, const Event& event);
template <>
msmb::HandledEnum Dispatch<EventGroup::kIntake>(ReturnCase& machine, const Event& event);
template <>
msmb::HandledEnum Dispatch<EventGroup::kDocumentation>(ReturnCase& machine, const Event& event);
template <>
msmb::HandledEnum Dispatch<EventGroup::kTravel>(ReturnCase& machine, const Event& event);
template <>
msmb::HandledEnum Dispatch<EventGroup::kClosure>(ReturnCase& machine, const Event& event);

/// The body each dispatch translation unit instantiates for its own group.
template <EventGroup Group>
msmb::HandledEnum DispatchGroup(ReturnCase& machine, const Event& event) {
  return std::visit(
      [&](const auto& typed) {
        if constexpr (GroupOf(std::decay_t<decltype(typed)>::kName) == Group) {
          return machine.process_event(typed);
        } else {
          return msmb::HANDLED_FALSE;  // never reached: the caller routes by group
        }
      },
      event);
}

}  // namespace returnflow::workflow::machine
