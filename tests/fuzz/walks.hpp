#pragma once
// Synthetic cases walked through the workflow by events given as JSON, the way they arrive: the seeds of
// the saved-state and event-data fuzzers, and the cases fuzz_event_data applies its events to. Written
// as JSON (a saved context, event data) rather than as C++ structs, so the walks read the same decoders
// the engine does and keep working as those structs change. No real people: member ids only.
#include <string>
#include <string_view>
#include <vector>

#include "workflow/case.hpp"

namespace returnflow::fuzz {

struct WalkEvent {
  std::string_view type;
  std::string_view data;  ///< JSON, or empty for none
  std::string_view actor;  ///< who sends it; empty for WalkMeta's caseworker (approvals need another person)
};

struct Walk {
  std::string_view name;
  std::string_view context;  ///< the saved form of a CaseContext
  std::vector<WalkEvent> events;
};

const std::vector<Walk>& Walks();

/// The meta of the n-th event of a walk: one hour after the previous one.
workflow::EventMeta WalkMeta(std::size_t index);
/// The meta of a walk's n-th event, with its own actor where it names one.
workflow::EventMeta WalkMeta(const WalkEvent& event, std::size_t index);

/// Decodes one walk event; aborts if it does not decode (the walk is wrong, not the input).
workflow::Event DecodeWalkEvent(const WalkEvent& event);

/// The saved form of the case after each prefix of the walk: the opened case first, then one entry per
/// event (an event the case refuses leaves it as it was).
std::vector<std::string> SavedStates(const Walk& walk);

}  // namespace returnflow::fuzz
