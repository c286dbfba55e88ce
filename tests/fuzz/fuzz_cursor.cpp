// libFuzzer target: a search cursor as a client sends it back, decoded by persistence::DecodeCursor (the
// URL layer only bounds its length, so this is the check before any SQL sees the position).
//
// Input: the cursor text, e.g. 313736373630303030303030303030302f36663163...
//
// DecodeCursor's contract: a position or nullopt, never a throw; a position has a non-negative time and
// a case id that looks like one, and encodes to a cursor that decodes to the same position.
#include "persistence/cursor.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace returnflow;

void Check(std::string_view input) {
  const auto position = persistence::DecodeCursor(input);
  if (!position) return;
  FUZZ_REQUIRE(position->created_at >= 0);
  FUZZ_REQUIRE(persistence::LooksLikeCaseId(position->case_id));
  const auto encoded = persistence::EncodeCursor(*position);
  const auto again = persistence::DecodeCursor(encoded);
  FUZZ_REQUIRE(again && again->created_at == position->created_at && again->case_id == position->case_id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::Run(data, size, Check);
}
