#pragma once
/// The numbered schema migrations, oldest first. One logical schema for SQLite and PostgreSQL: the SQL
/// sticks to the common subset (TEXT, INTEGER, BIGINT; times as BIGINT microseconds since the epoch).
/// Never edit a released migration; add the next number.
#include <span>
#include <string_view>
#include <vector>

namespace returnflow::persistence::migrations {

struct Migration {
  int version;
  std::string_view name;
  std::vector<std::string_view> statements;
  /// Storage settings with no SQLite counterpart (never schema: tables, columns and indexes stay common).
  std::vector<std::string_view> postgresql_statements = {};
};

/// All migrations, by ascending version (1, 2, ...; no gaps).
std::span<const Migration> All();

}  // namespace returnflow::persistence::migrations
