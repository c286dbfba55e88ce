// libFuzzer target: event data (a CloudEvent's `data`) decoded for its type by workflow::DecodeEvent, and
// every event that decodes applied to cases in the stages where it is allowed (the walks' cases).
//
// Input: the event type on the first line, the data as JSON after it (nothing for none):
//   travel.booked
//   {"departure_date":"2026-03-01","route":"CGK-DAC"}
//
// DecodeEvent's contract: an event, or nullopt with a DecodeError (unknown type only for a type the
// workflow does not know; a pointer into the data; a detail that names, never echoes). Applying an event
// gives one verdict and leaves a case that saves and restores to itself.
#include <algorithm>
#include <map>

#include <boost/json.hpp>

#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/replay.hpp"
#include "tests/fuzz/walks.hpp"
#include "workflow/case.hpp"

namespace {

namespace json = boost::json;
using namespace returnflow;

/// For each event type, saved cases (from the walks) in which the type is allowed.
const std::map<std::string_view, std::vector<std::string>>& CasesAllowing() {
  static const auto cases = [] {
    std::map<std::string_view, std::vector<std::string>> by_type;
    for (const auto& walk : fuzz::Walks()) {
      for (const auto& saved : fuzz::SavedStates(walk)) {
        for (const auto type : workflow::Case::Restore(std::string_view(saved)).AllowedEvents()) {
          auto& list = by_type[type];
          if (std::find(list.begin(), list.end(), saved) == list.end()) list.push_back(saved);
        }
      }
    }
    return by_type;
  }();
  return cases;
}

void Check(std::string_view input) {
  const auto type = fuzz::TakeLine(input);
  json::value data;
  if (!input.empty()) {
    boost::system::error_code error;
    data = json::parse(input, error);
    if (error) return;  // the transport answers malformed JSON before any decoder sees it
  }
  workflow::DecodeError error;
  const auto event = workflow::DecodeEvent(type, data, error);
  const auto& names = workflow::AllEventNames();
  const bool known = std::find(names.begin(), names.end(), type) != names.end();
  if (!event) {
    FUZZ_REQUIRE((error.kind == workflow::DecodeError::Kind::kUnknownType) == !known);
    FUZZ_REQUIRE(error.pointer.empty() || error.pointer.front() == '/');
    FUZZ_REQUIRE(!error.detail.empty() && error.detail.size() <= 300);
    return;
  }
  FUZZ_REQUIRE(known && workflow::EventName(*event) == type);
  const auto found = CasesAllowing().find(type);
  if (found == CasesAllowing().end()) return;
  // Three cases at most per input keep the executions fast: the first, a middle and the last.
  const auto& saved_cases = found->second;
  for (const auto position : {std::size_t{0}, saved_cases.size() / 2, saved_cases.size() - 1}) {
    auto the_case = workflow::Case::Restore(std::string_view(saved_cases[position]));
    fuzz::ApplyAndCheck(the_case, *event, fuzz::WalkMeta(position));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::Run(data, size, Check);
}
