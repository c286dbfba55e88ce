#pragma once
/// Small-cell protection of published aggregates, pure (no database, no clock): a table of counts with
/// its totals goes in, what may be published comes out, under a programme's policy.
///
/// Suppression (workflow::SmallCells::kSuppress) withholds every count, total included, from 1 to
/// `suppress_below - 1` (zeros are published), then withholds further cells (secondary suppression)
/// until no withheld cell can be worked out from what is published. The argument: a table's published
/// values and its totals are linear equations (each row sums to its row total, each column to its
/// column total, the totals to the grand total). Take a graph with a node per row equation and per
/// column equation (one extra node stands for "no equation", for a table without row or without column
/// totals) and an edge per withheld cell joining its row's node and its column's node. Any cycle of
/// withheld cells can be changed by +1, -1, +1, ... around it without changing a single sum; so a
/// withheld cell on a cycle is not determined by the equations, and, every withheld cell being at least
/// 1 (zeros are never withheld), both directions keep every count non-negative. A withheld cell on no
/// cycle (a bridge) is determined. Secondary suppression therefore closes every bridge with the
/// cheapest path of positive cells between its two ends (the smallest counts, interior cells before
/// totals), until no bridge is left.
///
/// Rounding (kRound5) publishes every count and every total rounded to the nearest multiple of 5
/// (halves up), each independently, so the cells need not add up to the totals.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "workflow/programme.hpp"

namespace returnflow::engine::reports {

/// A table of counts: `counts[row][column]`, every row of the same length, no negative count.
/// A one-way table is one row with `row_totals` (its total) and no `column_totals`.
struct CountTable {
  std::vector<std::vector<std::int64_t>> counts;
  bool row_totals = true;     ///< each row's total is published (a last column)
  bool column_totals = true;  ///< each column's total is published (a last row); with both, the grand total
};

/// What may be published of a CountTable: its cells and totals as one grid with the totals as the last
/// column (when row_totals) and the last row (when column_totals); nullopt for a withheld value.
struct ProtectedTable {
  std::vector<std::vector<std::optional<std::int64_t>>> grid;
  std::vector<std::vector<bool>> primary;  ///< withheld because small (the rest withheld are secondary)
  workflow::ReportPolicy policy;
};

/// The table with its totals (the grid ProtectedTable describes), every value known.
std::vector<std::vector<std::int64_t>> WithTotals(const CountTable& table);

/// Applies `policy` to `table`.
ProtectedTable Protect(const CountTable& table, const workflow::ReportPolicy& policy);

/// A count rounded to the nearest multiple of 5 (halves up).
std::int64_t RoundToFive(std::int64_t count);

/// One sentence for people saying what was done to a table under `policy` (stated on every table).
std::string PolicyStatement(const workflow::ReportPolicy& policy);

}  // namespace returnflow::engine::reports
