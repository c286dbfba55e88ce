#pragma once
// The invariants of applying one event to a case, shared by the targets that apply events: one verdict,
// states that move only when it is applied, and a case that saves and restores to itself.
#include <algorithm>
#include <string>

#include "tests/fuzz/fuzz_support.hpp"
#include "workflow/case.hpp"

namespace returnflow::fuzz {

/// Saves `the_case`, restores the text into a fresh machine, and requires both to be the same case.
inline void RequireRoundTrip(const workflow::Case& the_case) {
  const auto saved = the_case.Save();
  try {
    const auto restored = workflow::Case::Restore(std::string_view(saved));
    FUZZ_REQUIRE(restored.Save() == saved);
    FUZZ_REQUIRE(restored.ActiveStates() == the_case.ActiveStates());
    FUZZ_REQUIRE(restored.AllowedEvents() == the_case.AllowedEvents());
  } catch (const workflow::RestoreFailed& error) {
    Fail(std::string("a saved case does not restore: ") + error.what() + "\nsaved: " + saved);
  }
}

inline void ApplyAndCheck(workflow::Case& the_case, const workflow::Event& event, const workflow::EventMeta& meta) {
  const auto before = the_case.ActiveStates();
  FUZZ_REQUIRE(!before.empty());
  FUZZ_REQUIRE(!the_case.Stage().empty());
  const auto result = the_case.Apply(event, meta);
  FUZZ_REQUIRE(result.from == before);
  FUZZ_REQUIRE(result.to == the_case.ActiveStates());
  if (result.Applied()) {
    FUZZ_REQUIRE(result.reason.empty());
  } else {
    FUZZ_REQUIRE(result.to == result.from);
    FUZZ_REQUIRE(!result.reason.empty());
    FUZZ_REQUIRE(result.changes.empty());
  }
  FUZZ_REQUIRE(std::is_sorted(result.allowed_events.begin(), result.allowed_events.end()));
  RequireRoundTrip(the_case);
}

}  // namespace returnflow::fuzz
