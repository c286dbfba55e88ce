// libFuzzer target: a saved case (the text Case::Save wrote, as the cases table stores it) restored by
// workflow::Case::Restore, then given events.
//
// Input: the saved case as JSON on the first line; then, one a line, events to apply in order, each its
// type, a space and its data as JSON (or the type alone for none):
//   {"states":{"return_case":["open"],"open":["travel"]},"context":{...}}
//   travel.briefing_held {"voluntariness_confirmed":true}
//   travel.departed
//
// Restore's contract: a case, or RestoreFailed (which the persistence layer answers as corrupt data).
// A restored case answers every query, saves and restores to itself, and takes events like any other.
#include <boost/json.hpp>

#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/replay.hpp"
#include "workflow/case.hpp"

namespace {

namespace json = boost::json;
using namespace returnflow;

void Check(std::string_view input) {
  const auto saved = fuzz::TakeLine(input);
  std::optional<workflow::Case> the_case;
  try {
    the_case.emplace(workflow::Case::Restore(saved));
  } catch (const workflow::RestoreFailed&) {
    return;
  }
  (void)the_case->AllowedEvents();
  (void)the_case->Context();
  fuzz::RequireRoundTrip(*the_case);
  const auto start = *workflow::ParseInstant("2026-01-05T09:00:00Z");
  for (std::size_t index = 0; !input.empty() && index < 16; ++index) {
    auto line = fuzz::TakeLine(input);
    const auto space = line.find(' ');
    const auto type = line.substr(0, space);
    json::value data;
    if (space != std::string_view::npos) {
      boost::system::error_code error;
      data = json::parse(line.substr(space + 1), error);
      if (error) continue;
    }
    workflow::DecodeError error;
    const auto event = workflow::DecodeEvent(type, data, error);
    if (!event) continue;
    fuzz::ApplyAndCheck(*the_case, *event, {"fuzz", start + std::chrono::hours(static_cast<long>(index))});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::Run(data, size, Check);
}
