// Small-cell protection: for many random tables, no withheld count can be worked out from what the
// table publishes. Each withheld cell gets a witness: a second table of non-negative counts that
// publishes exactly the same values and totals but differs in that cell (found by a search of our own
// and checked by recomputing every total, not by trusting the module's graph). Tiny tables are also
// checked exhaustively.
#include <map>
#include <optional>
#include <queue>
#include <random>

#include <catch2/catch.hpp>

#include "engine/reports_suppression.hpp"
#include "workflow/programme.hpp"

using namespace returnflow;
using engine::reports::CountTable;
using engine::reports::Protect;
using engine::reports::ProtectedTable;
using engine::reports::WithTotals;

namespace {

using Grid = std::vector<std::vector<std::int64_t>>;

/// Whether `candidate` (interior counts) publishes exactly what `published` shows.
bool PublishesTheSame(const CountTable& shape, const Grid& candidate, const ProtectedTable& published) {
  CountTable other = shape;
  other.counts = candidate;
  const auto full = WithTotals(other);
  for (std::size_t row = 0; row < full.size(); ++row) {
    for (std::size_t column = 0; column < full[row].size(); ++column) {
      const auto& shown = published.grid[row][column];
      if (shown && *shown != full[row][column]) return false;
    }
  }
  return true;
}

/// A second table, publishing the same, whose cell (row, column) of the grid differs: shift +1/-1 around
/// a cycle of withheld cells through it. Lines are the row and column equations; a cell with no
/// equation on one side hangs on the "free" line.
std::optional<Grid> Witness(const CountTable& table, const ProtectedTable& published, std::size_t row, std::size_t column) {
  const std::size_t rows = published.grid.size();
  const std::size_t columns = published.grid.front().size();
  const std::size_t free_line = rows + columns;
  auto row_line = [&](std::size_t r) { return table.row_totals ? r : free_line; };
  auto column_line = [&](std::size_t c) { return table.column_totals ? rows + c : free_line; };
  const std::size_t start = row_line(row), goal = column_line(column);
  std::vector<std::pair<std::size_t, std::size_t>> path;  // cells from goal back to start
  if (start != goal) {
    std::map<std::size_t, std::pair<std::size_t, std::size_t>> came_by;  // line -> cell
    std::map<std::size_t, std::size_t> previous;
    std::queue<std::size_t> queue;
    queue.push(start);
    previous[start] = start;
    while (!queue.empty() && !previous.contains(goal)) {
      const auto line = queue.front();
      queue.pop();
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < columns; ++c) {
          if (published.grid[r][c] || (r == row && c == column)) continue;
          const auto a = row_line(r), b = column_line(c);
          if (a != line && b != line) continue;
          const auto other = a == line ? b : a;
          if (previous.contains(other)) continue;
          previous[other] = line;
          came_by[other] = {r, c};
          queue.push(other);
        }
      }
    }
    if (!previous.contains(goal)) return std::nullopt;
    for (auto line = goal; line != start; line = previous[line]) path.push_back(came_by[line]);
  }
  // Around the cycle: the cell itself +1, then alternately -1, +1 ... (a cycle of lines alternates row
  // and column equations, so every equation it meets gets one +1 and one -1).
  auto full = WithTotals(table);
  full[row][column] += 1;
  int sign = -1;
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    full[it->first][it->second] += sign;
    sign = -sign;
  }
  const std::size_t interior_rows = rows - (table.column_totals ? 1 : 0);
  const std::size_t interior_columns = columns - (table.row_totals ? 1 : 0);
  Grid candidate(interior_rows, std::vector<std::int64_t>(interior_columns));
  for (std::size_t r = 0; r < interior_rows; ++r) {
    for (std::size_t c = 0; c < interior_columns; ++c) {
      if (full[r][c] < 0) return std::nullopt;
      candidate[r][c] = full[r][c];
    }
  }
  // The candidate's own totals, recomputed, must equal what is published, and the cell must differ.
  if (!PublishesTheSame(table, candidate, published)) return std::nullopt;
  CountTable other = table;
  other.counts = candidate;
  if (WithTotals(other)[row][column] == WithTotals(table)[row][column]) return std::nullopt;
  return candidate;
}

CountTable RandomTable(std::mt19937& random, bool one_way) {
  std::uniform_int_distribution<int> size(1, one_way ? 12 : 6);
  std::uniform_int_distribution<int> kind(0, 9);
  CountTable table;
  table.row_totals = true;
  table.column_totals = !one_way;
  const int rows = one_way ? 1 : size(random);
  const int columns = size(random);
  table.counts.assign(rows, std::vector<std::int64_t>(columns));
  for (auto& line : table.counts) {
    for (auto& count : line) {
      const int choice = kind(random);
      // Many small counts and zeros, some large ones: the hard cases for suppression.
      count = choice < 3 ? 0 : choice < 7 ? std::uniform_int_distribution<int>(1, 4)(random)
                                          : std::uniform_int_distribution<int>(5, 60)(random);
    }
  }
  return table;
}

void RequireProtected(const CountTable& table, const ProtectedTable& published, int suppress_below) {
  const auto full = WithTotals(table);
  for (std::size_t row = 0; row < full.size(); ++row) {
    for (std::size_t column = 0; column < full[row].size(); ++column) {
      const auto value = full[row][column];
      const auto& shown = published.grid[row][column];
      INFO("cell " << row << "," << column << " value " << value);
      if (value >= 1 && value < suppress_below) REQUIRE_FALSE(shown);  // every small count withheld
      if (value == 0) REQUIRE(shown);                                   // zeros shown, never withheld
      if (shown) {
        REQUIRE(*shown == value);  // what is shown is true
      } else {
        REQUIRE(Witness(table, published, row, column));  // and what is withheld is not determined
      }
    }
  }
}

}  // namespace

TEST_CASE("no withheld count of a random two-way table can be worked out from its totals", "[engine][reports]") {
  std::mt19937 random(20261203);
  const workflow::ReportPolicy policy;  // the default: suppress counts 1 to 4
  int withheld = 0, secondary = 0;
  for (int round = 0; round < 3000; ++round) {
    const auto table = RandomTable(random, false);
    const auto published = Protect(table, policy);
    RequireProtected(table, published, policy.suppress_below);
    for (std::size_t row = 0; row < published.grid.size(); ++row) {
      for (std::size_t column = 0; column < published.grid[row].size(); ++column) {
        if (published.grid[row][column]) continue;
        ++withheld;
        if (!published.primary[row][column]) ++secondary;
      }
    }
  }
  // The random tables did exercise secondary suppression.
  REQUIRE(secondary > 1000);
  REQUIRE(withheld > secondary);
}

TEST_CASE("no withheld count of a random one-way table can be worked out from its total", "[engine][reports]") {
  std::mt19937 random(7);
  for (const int below : {2, 5, 10}) {
    workflow::ReportPolicy policy;
    policy.suppress_below = below;
    for (int round = 0; round < 2000; ++round) {
      const auto table = RandomTable(random, true);
      RequireProtected(table, Protect(table, policy), below);
    }
  }
}

TEST_CASE("every table a tiny table publishes the same as leaves each withheld count open", "[engine][reports]") {
  // Exhaustive: every 2x2 table of counts 0..16 (a count of 0..8 moved by a cycle stays within it)
  // publishing what the protected table shows; each withheld cell takes at least two values among them.
  std::mt19937 random(11);
  std::uniform_int_distribution<int> count(0, 8);
  const workflow::ReportPolicy policy;
  for (int round = 0; round < 150; ++round) {
    CountTable table;
    table.counts = {{count(random), count(random)}, {count(random), count(random)}};
    const auto published = Protect(table, policy);
    std::map<std::pair<std::size_t, std::size_t>, std::set<std::int64_t>> seen;
    for (int a = 0; a <= 16; ++a) {
      for (int b = 0; b <= 16; ++b) {
        for (int c = 0; c <= 16; ++c) {
          for (int d = 0; d <= 16; ++d) {
            const Grid candidate = {{a, b}, {c, d}};
            if (!PublishesTheSame(table, candidate, published)) continue;
            CountTable other = table;
            other.counts = candidate;
            const auto full = WithTotals(other);
            for (std::size_t row = 0; row < 3; ++row) {
              for (std::size_t column = 0; column < 3; ++column) seen[{row, column}].insert(full[row][column]);
            }
          }
        }
      }
    }
    for (std::size_t row = 0; row < 3; ++row) {
      for (std::size_t column = 0; column < 3; ++column) {
        if (published.grid[row][column]) continue;
        INFO("round " << round << " cell " << row << "," << column << " table " << table.counts[0][0] << ","
                       << table.counts[0][1] << "," << table.counts[1][0] << "," << table.counts[1][1]);
        REQUIRE(seen[{row, column}].size() >= 2);
      }
    }
  }
}

TEST_CASE("a lone small count takes the smallest interior count of its row and column with it", "[engine][reports]") {
  CountTable table;
  table.counts = {{3, 20, 30}, {40, 50, 60}};
  const auto published = Protect(table, {});
  // 3 is withheld; 20 (its row's smallest other) and 40 (its column's) and 50 close the cycle.
  REQUIRE_FALSE(published.grid[0][0]);
  REQUIRE_FALSE(published.grid[0][1]);
  REQUIRE_FALSE(published.grid[1][0]);
  REQUIRE_FALSE(published.grid[1][1]);
  REQUIRE(published.grid[0][2] == 30);
  REQUIRE(published.grid[2][3] == 203);  // the grand total stays
  REQUIRE(published.primary[0][0]);
  REQUIRE_FALSE(published.primary[1][1]);
}

TEST_CASE("rounding to base 5 rounds every count and total on its own", "[engine][reports]") {
  workflow::ReportPolicy policy;
  policy.small_cells = workflow::SmallCells::kRound5;
  CountTable table;
  table.counts = {{1, 2, 3, 7, 8, 12, 13}};
  table.column_totals = false;
  const auto published = Protect(table, policy);
  const std::vector<std::optional<std::int64_t>> expected = {0, 0, 5, 5, 10, 10, 15, 45};
  REQUIRE(published.grid.front() == expected);
  REQUIRE_THAT(engine::reports::PolicyStatement(policy), Catch::Contains("multiple of 5"));
  REQUIRE_THAT(engine::reports::PolicyStatement({}), Catch::Contains("from 1 to 4 withheld"));
}
