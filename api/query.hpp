#pragma once
/// Query parameters of a request target, read strictly, and the search GET /cases asks for. Pure: no
/// I/O, no clock (the time `overdue` compares with is passed in); fuzzed without a server.
///
/// Every function here answers a parameter it cannot accept by throwing ProblemException (400
/// invalid-request naming the parameter, never echoing its value), as the handlers do.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/problem.hpp"
#include "api/router.hpp"
#include "persistence/repository.hpp"

namespace returnflow::api {

Problem InvalidParameter(const std::string& key, std::string_view why);

/// Refuses query parameters a route does not define (a misspelt filter must not silently widen a search),
/// and any parameter given more than once.
void OnlyParameters(const Target& target, std::initializer_list<std::string_view> known);

/// An integer parameter within [low, high], or nullopt when absent.
std::optional<std::int64_t> QueryInteger(const Target& target, const std::string& key, std::int64_t low,
                                         std::int64_t high);

/// A query value that is a short plain word (a country, an office, a stage or state name).
std::optional<std::string> QueryWord(const Target& target, const std::string& key, std::size_t limit = 100);

/// What GET /cases asks for: the filters and page, and whether to count cases by stage.
struct SearchRequest {
  persistence::CaseQuery query;
  bool with_counts = true;
};

/// Reads GET /cases's query parameters. The cursor is only bounded here; whether it is one this engine
/// gave out is the repository's to decide (persistence/cursor.hpp).
SearchRequest ParseSearchQuery(const Target& target, std::int64_t default_page_size, std::int64_t max_page_size,
                               persistence::Timestamp now);

/// The actions an audit row records (GET /audit's `action` filter accepts these only).
const std::vector<std::string>& AuditActions();

/// Reads GET /audit's query parameters: case_id, actor, action, from, to (RFC 3339; from before to),
/// cursor, limit.
persistence::AuditQuery ParseAuditQuery(const Target& target, std::int64_t default_page_size, std::int64_t max_page_size);

}  // namespace returnflow::api
