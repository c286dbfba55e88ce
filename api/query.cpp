#include "api/query.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

#include <boost/json/value_from.hpp>
#include <fmt/format.h>

#include "api/dto.hpp"
#include "workflow/timers.hpp"

namespace returnflow::api {

namespace json = boost::json;

Problem InvalidParameter(const std::string& key, std::string_view why) {
  return Problem(ProblemKind::kInvalidRequest, fmt::format("query parameter '{}' {}", key, why), {{"parameter", key}});
}

void OnlyParameters(const Target& target, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : target.query) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw ProblemException(Problem(ProblemKind::kInvalidRequest, "the request has a query parameter this route does not define",
                                     {{"accepted", json::value_from(std::vector<std::string>(known.begin(), known.end()))}}));
    }
    if (target.query.count(key) > 1) throw ProblemException(InvalidParameter(key, "is given more than once"));
  }
}

std::optional<std::int64_t> QueryInteger(const Target& target, const std::string& key, std::int64_t low,
                                         std::int64_t high) {
  auto text = target.Query(key);
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc{} || ptr != text->data() + text->size() || value < low || value > high) {
    throw ProblemException(InvalidParameter(key, fmt::format("must be an integer from {} to {}", low, high)));
  }
  return value;
}

std::optional<std::string> QueryWord(const Target& target, const std::string& key, std::size_t limit) {
  auto text = target.Query(key);
  if (!text) return std::nullopt;
  const bool plain = !text->empty() && text->size() <= limit && std::all_of(text->begin(), text->end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  if (!plain) {
    throw ProblemException(InvalidParameter(key, fmt::format("must be 1 to {} letters, digits, '-', '_' or '.'", limit)));
  }
  return text;
}

SearchRequest ParseSearchQuery(const Target& target, std::int64_t default_page_size, std::int64_t max_page_size,
                               persistence::Timestamp now) {
  OnlyParameters(target, {"stage", "state", "host_country", "origin_country", "office", "partner", "vulnerability",
                          "overdue", "incident", "updated_since", "cursor", "limit", "counts"});
  SearchRequest request;
  auto& query = request.query;
  query.stage = QueryWord(target, "stage");
  query.state = QueryWord(target, "state");
  query.host_country = QueryWord(target, "host_country", 2);
  query.origin_country = QueryWord(target, "origin_country", 2);
  query.office = QueryWord(target, "office");
  query.partner = QueryWord(target, "partner");
  if (auto flag = target.Query("vulnerability")) {
    query.vulnerability = workflow::FromName<workflow::Vulnerability>(*flag, workflow::kVulnerabilityNames);
    if (!query.vulnerability) throw ProblemException(InvalidParameter("vulnerability", "is not a known vulnerability flag"));
  }
  const auto flag = [&](const std::string& key, bool fallback) {
    auto text = target.Query(key);
    if (!text) return fallback;
    if (*text != "true" && *text != "false") throw ProblemException(InvalidParameter(key, "must be true or false"));
    return *text == "true";
  };
  // overdue=true: any deadline passed (or the next one before now); overdue=<kind>: that deadline passed.
  if (auto overdue = target.Query("overdue"); overdue && *overdue != "true" && *overdue != "false") {
    const auto& kinds = workflow::DeadlineKinds();
    if (std::find(kinds.begin(), kinds.end(), *overdue) == kinds.end()) {
      std::vector<std::string> accepted{"true", "false"};
      accepted.insert(accepted.end(), kinds.begin(), kinds.end());
      throw ProblemException(Problem(ProblemKind::kInvalidRequest,
                                     "query parameter 'overdue' must be true, false or a deadline kind",
                                     {{"parameter", "overdue"}, {"accepted", json::value_from(accepted)}}));
    }
    query.overdue_kind = *overdue;
  } else if (flag("overdue", false)) {
    query.overdue_as_of = now;
  }
  if (target.Query("incident")) query.has_open_incident = flag("incident", false);
  if (auto since = target.Query("updated_since")) {
    query.updated_since = ParseTimestamp(*since);
    if (!query.updated_since) throw ProblemException(InvalidParameter("updated_since", "must be an RFC 3339 timestamp"));
  }
  query.cursor = target.Query("cursor").value_or("");
  if (query.cursor.size() > 200) throw ProblemException(InvalidParameter("cursor", "is not a cursor this engine gave out"));
  query.page_size = static_cast<std::size_t>(QueryInteger(target, "limit", 1, max_page_size).value_or(default_page_size));
  request.with_counts = flag("counts", true);
  return request;
}

const std::vector<std::string>& AuditActions() {
  static const std::vector<std::string> kActions = {"read", "write", "create", "erase", "transfer", "export", "correct", "token_create", "token_revoke"};
  return kActions;
}

persistence::AuditQuery ParseAuditQuery(const Target& target, std::int64_t default_page_size, std::int64_t max_page_size) {
  OnlyParameters(target, {"case_id", "actor", "action", "from", "to", "cursor", "limit"});
  persistence::AuditQuery query;
  query.case_id = QueryWord(target, "case_id", 64);
  if (auto actor = target.Query("actor")) {
    // Actors are token names (and the engine's own "returnflow:..." workers): printable, no spaces.
    const bool plain = !actor->empty() && actor->size() <= 100 && std::all_of(actor->begin(), actor->end(), [](char c) {
      return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
    if (!plain) throw ProblemException(InvalidParameter("actor", "must be 1 to 100 printable characters without spaces"));
    query.actor = *actor;
  }
  if (auto action = target.Query("action")) {
    const auto& actions = AuditActions();
    if (std::find(actions.begin(), actions.end(), *action) == actions.end()) {
      throw ProblemException(Problem(ProblemKind::kInvalidRequest, "query parameter 'action' must be an audited action",
                                     {{"parameter", "action"}, {"accepted", json::value_from(actions)}}));
    }
    query.action = *action;
  }
  for (const auto* key : {"from", "to"}) {
    if (auto text = target.Query(key)) {
      auto at = ParseTimestamp(*text);
      if (!at) throw ProblemException(InvalidParameter(key, "must be an RFC 3339 timestamp"));
      (std::string_view(key) == "from" ? query.from : query.to) = *at;
    }
  }
  if (query.from && query.to && *query.from >= *query.to) {
    throw ProblemException(InvalidParameter("to", "must be later than 'from'"));
  }
  query.cursor = target.Query("cursor").value_or("");
  if (query.cursor.size() > 200) throw ProblemException(InvalidParameter("cursor", "is not a cursor this engine gave out"));
  query.page_size = static_cast<std::size_t>(QueryInteger(target, "limit", 1, max_page_size).value_or(default_page_size));
  return query;
}

}  // namespace returnflow::api
