// libFuzzer target: the body of POST /cases (a referral) read by api::ParseCreateCase, and every accepted
// referral opened as a case, saved and restored, as the engine and the repository do with it.
//
// Input: the request body, JSON.
//
// ParseCreateCase's contract: it never throws; it answers with the new case or a 400 invalid-request
// Problem naming the member by its JSON pointer. An accepted referral keeps the household's rules (one
// principal, unique member ids, the limits), and the case it opens can be read back: a case that saves
// but does not restore would be unreadable from its first request on.
#include <set>

#include <boost/json.hpp>

#include "api/dto.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/replay.hpp"
#include "workflow/case.hpp"

namespace {

namespace json = boost::json;
using namespace returnflow;

void Check(std::string_view input) {
  boost::system::error_code error;
  const auto body = json::parse(input, error);
  if (error) return;  // the handler answers malformed JSON before the decoder sees it
  auto parsed = api::ParseCreateCase(body);
  if (const auto* problem = std::get_if<api::Problem>(&parsed)) {
    FUZZ_REQUIRE(problem->kind == api::ProblemKind::kInvalidRequest);
    FUZZ_REQUIRE(problem->extensions.contains("pointer"));
    FUZZ_REQUIRE(problem->detail.size() <= 300);
    return;
  }
  auto& new_case = std::get<persistence::NewCase>(parsed);
  const auto& household = new_case.context.household;
  FUZZ_REQUIRE(!household.empty() && household.size() <= api::kMaxHouseholdMembers);
  FUZZ_REQUIRE(new_case.people.size() <= household.size());
  std::set<std::string> member_ids;
  int principals = 0;
  for (const auto& member : household) {
    FUZZ_REQUIRE(member_ids.insert(member.member_id).second);
    if (member.relationship == workflow::Relationship::kPrincipal) ++principals;
  }
  FUZZ_REQUIRE(principals == 1);
  for (const auto& person : new_case.people) FUZZ_REQUIRE(member_ids.contains(person.member_id));
  // As the engine opens it (engine/engine.cpp): the referral's time is the case's opening.
  new_case.context.opened_at = new_case.meta.occurred_at;
  const auto opened = workflow::Case::Open(new_case.context);
  fuzz::RequireRoundTrip(opened);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::Run(data, size, Check);
}
