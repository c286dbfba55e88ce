#pragma once
// A query whose WHERE clause is assembled from optional filters (searches of cases and incidents). Not public.
#include <soci/soci.h>

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "persistence/internal.hpp"

namespace returnflow::persistence::internal {

/// A query with a WHERE clause assembled from optional filters, its parameters bound by name.
class FilteredQuery {
 public:
  std::string Bind(std::string value) {
    const auto name = fmt::format("p{}", names_.size());
    strings_.push_back(std::move(value));
    names_.push_back({name, false, strings_.size() - 1});
    return ":" + name;
  }
  std::string Bind(long long value) {
    const auto name = fmt::format("p{}", names_.size());
    integers_.push_back(value);
    names_.push_back({name, true, integers_.size() - 1});
    return ":" + name;
  }
  void Where(std::string condition) { conditions_.push_back(std::move(condition)); }
  /// A country scope: host or origin country in `countries` (empty: nothing matches; unset: no filter).
  void WhereCountryIn(const std::optional<std::vector<std::string>>& countries) {
    if (!countries) return;
    if (countries->empty()) {
      Where("1 = 0");  // a scope of no countries sees nothing
      return;
    }
    std::string hosts, origins;
    for (const auto& country : *countries) {
      if (!hosts.empty()) {
        hosts += ", ";
        origins += ", ";
      }
      hosts += Bind(country);
      origins += Bind(country);
    }
    Where("(host_country IN (" + hosts + ") OR origin_country IN (" + origins + "))");
  }
  std::string WhereClause() const {
    if (conditions_.empty()) return {};
    std::string clause = " WHERE ";
    for (std::size_t index = 0; index < conditions_.size(); ++index) {
      if (index > 0) clause += " AND ";
      clause += conditions_[index];
    }
    return clause;
  }
  /// Runs `text` with the bound parameters, calling `each` with every row.
  template <typename Each>
  void ForEach(soci::session& sql, const std::string& text, Each&& each) {
    soci::row columns;
    soci::statement statement(sql);
    for (const auto& entry : names_) {
      if (entry.integer) {
        statement.exchange(soci::use(integers_[entry.index], entry.name));
      } else {
        statement.exchange(soci::use(strings_[entry.index], entry.name));
      }
    }
    statement.exchange(soci::into(columns));
    PrepareOnce(statement, text);
    if (!statement.execute(true)) return;
    do {
      each(static_cast<const soci::row&>(columns));
    } while (statement.fetch());
  }

 private:
  struct Parameter {
    std::string name;
    bool integer;
    std::size_t index;
  };
  std::deque<std::string> strings_;  // deques: bound by reference, must not move
  std::deque<long long> integers_;
  std::vector<Parameter> names_;
  std::vector<std::string> conditions_;
};

}  // namespace returnflow::persistence::internal
