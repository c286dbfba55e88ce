// libFuzzer target: a request target as GET /cases receives it, split by api::ParseTarget, routed, and
// read by api::ParseSearchQuery; a cursor it passes on is decoded as the repository decodes it.
//
// Input: the request target, e.g. /cases?stage=travel&host_country=ID&limit=20&cursor=31373...
//
// The contracts: ParseTarget answers nullopt for a target it cannot split; ParseSearchQuery answers a
// query or throws ProblemException (400 invalid-request naming the parameter); DecodeCursor answers a
// position or nullopt, and a position it accepts encodes to a cursor that decodes to it again.
#include <boost/beast/http/verb.hpp>

#include "api/query.hpp"
#include "api/router.hpp"
#include "persistence/cursor.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace returnflow;

constexpr std::int64_t kDefaultPageSize = 50;
constexpr std::int64_t kMaxPageSize = 200;

bool Plain(const std::optional<std::string>& word, std::size_t limit) {
  return !word || (!word->empty() && word->size() <= limit);
}

void Check(std::string_view input) {
  const auto target = api::ParseTarget(input);
  if (!target) return;
  for (const auto method : {boost::beast::http::verb::get, boost::beast::http::verb::post}) {
    const auto match = api::MatchRoute(method, target->path);
    FUZZ_REQUIRE(match.route == nullptr || match.path_known);
  }
  api::SearchRequest search;
  const auto now = persistence::Timestamp(std::chrono::microseconds(1'767'600'000'000'000));
  try {
    search = api::ParseSearchQuery(*target, kDefaultPageSize, kMaxPageSize, now);
  } catch (const api::ProblemException& error) {
    FUZZ_REQUIRE(error.problem().kind == api::ProblemKind::kInvalidRequest);
    FUZZ_REQUIRE(error.problem().detail.size() <= 300);
    return;
  }
  const auto& query = search.query;
  FUZZ_REQUIRE(query.page_size >= 1 && query.page_size <= static_cast<std::size_t>(kMaxPageSize));
  FUZZ_REQUIRE(Plain(query.stage, 100) && Plain(query.state, 100) && Plain(query.office, 100) &&
               Plain(query.partner, 100) && Plain(query.host_country, 2) && Plain(query.origin_country, 2));
  FUZZ_REQUIRE(!query.overdue_as_of || *query.overdue_as_of == now);
  FUZZ_REQUIRE(query.cursor.size() <= 200);
  if (query.cursor.empty()) return;
  if (const auto position = persistence::DecodeCursor(query.cursor)) {
    const auto again = persistence::DecodeCursor(persistence::EncodeCursor(*position));
    FUZZ_REQUIRE(again && again->created_at == position->created_at && again->case_id == position->case_id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::Run(data, size, Check);
}
