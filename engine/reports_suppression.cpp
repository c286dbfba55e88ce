#include "engine/reports_suppression.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>

#include <fmt/format.h>

namespace returnflow::engine::reports {
namespace {

/// The equations of a table as a graph (see the header): a node per row equation and per column
/// equation, one node for "no equation", an edge per cell of the grid.
class EquationGraph {
 public:
  EquationGraph(const CountTable& table, std::size_t rows, std::size_t columns)
      : rows_(rows), columns_(columns), row_equations_(table.row_totals), column_equations_(table.column_totals) {}

  std::size_t Nodes() const { return rows_ + columns_ + 1; }
  std::size_t Free() const { return rows_ + columns_; }
  std::size_t RowNode(std::size_t row) const { return row_equations_ ? row : Free(); }
  std::size_t ColumnNode(std::size_t column) const { return column_equations_ ? rows_ + column : Free(); }
  std::size_t Edge(std::size_t row, std::size_t column) const { return row * columns_ + column; }
  std::size_t RowOf(std::size_t edge) const { return edge / columns_; }
  std::size_t ColumnOf(std::size_t edge) const { return edge % columns_; }
  std::pair<std::size_t, std::size_t> Ends(std::size_t edge) const {
    return {RowNode(RowOf(edge)), ColumnNode(ColumnOf(edge))};
  }

 private:
  std::size_t rows_, columns_;
  bool row_equations_, column_equations_;
};

struct Adjacent {
  std::size_t node;
  std::size_t edge;
};

/// The withheld cells that lie on no cycle of withheld cells (Tarjan's bridges, over a multigraph: a
/// parallel edge is a cycle, so the edge we came by is skipped by its id, not by its node).
std::vector<std::size_t> Bridges(const EquationGraph& graph, const std::vector<bool>& withheld) {
  std::vector<std::vector<Adjacent>> adjacency(graph.Nodes());
  for (std::size_t edge = 0; edge < withheld.size(); ++edge) {
    if (!withheld[edge]) continue;
    const auto [from, to] = graph.Ends(edge);
    if (from == to) continue;  // a cell in no equation at all is never determined
    adjacency[from].push_back({to, edge});
    adjacency[to].push_back({from, edge});
  }
  constexpr std::size_t kUnseen = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> order(graph.Nodes(), kUnseen), low(graph.Nodes(), 0);
  std::vector<std::size_t> bridges;
  std::size_t counter = 0;
  std::function<void(std::size_t, std::size_t)> visit = [&](std::size_t node, std::size_t via) {
    order[node] = low[node] = counter++;
    for (const auto& next : adjacency[node]) {
      if (next.edge == via) continue;
      if (order[next.node] == kUnseen) {
        visit(next.node, next.edge);
        low[node] = std::min(low[node], low[next.node]);
        if (low[next.node] > order[node]) bridges.push_back(next.edge);
      } else {
        low[node] = std::min(low[node], order[next.node]);
      }
    }
  };
  for (std::size_t node = 0; node < graph.Nodes(); ++node) {
    if (order[node] == kUnseen) visit(node, kUnseen);
  }
  std::sort(bridges.begin(), bridges.end());
  return bridges;
}

/// The cheapest path of positive cells from one end of `bridge` to the other, not through it: withheld
/// cells cost nothing, others their count (totals far more, so interior cells go first). Empty when
/// there is none.
std::vector<std::size_t> CheapestDetour(const EquationGraph& graph, const std::vector<std::int64_t>& values,
                                        const std::vector<bool>& withheld, const std::vector<bool>& is_total,
                                        std::size_t bridge) {
  std::vector<std::vector<Adjacent>> adjacency(graph.Nodes());
  for (std::size_t edge = 0; edge < values.size(); ++edge) {
    if (edge == bridge || values[edge] <= 0) continue;  // zeros are never withheld (see the header)
    const auto [from, to] = graph.Ends(edge);
    adjacency[from].push_back({to, edge});
    if (from != to) adjacency[to].push_back({from, edge});
  }
  auto cost = [&](std::size_t edge) -> double {
    if (withheld[edge]) return 0.0;
    return static_cast<double>(values[edge]) + 1.0 + (is_total[edge] ? 1e12 : 0.0);
  };
  const auto [start, goal] = graph.Ends(bridge);
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  std::vector<double> distance(graph.Nodes(), kInfinity);
  std::vector<std::size_t> came_by(graph.Nodes(), kNone);
  using Entry = std::pair<double, std::size_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue;
  distance[start] = 0.0;
  queue.push({0.0, start});
  while (!queue.empty()) {
    const auto [reached, node] = queue.top();
    queue.pop();
    if (reached > distance[node]) continue;
    if (node == goal) break;
    for (const auto& next : adjacency[node]) {
      const double through = reached + cost(next.edge);
      if (through < distance[next.node]) {
        distance[next.node] = through;
        came_by[next.node] = next.edge;
        queue.push({through, next.node});
      }
    }
  }
  std::vector<std::size_t> path;
  if (distance[goal] == kInfinity) return path;
  for (std::size_t node = goal; node != start;) {
    const auto edge = came_by[node];
    path.push_back(edge);
    const auto [from, to] = graph.Ends(edge);
    node = from == node ? to : from;
  }
  return path;
}

}  // namespace

std::int64_t RoundToFive(std::int64_t count) { return (count + 2) / 5 * 5; }

std::vector<std::vector<std::int64_t>> WithTotals(const CountTable& table) {
  const std::size_t rows = table.counts.size();
  const std::size_t columns = rows == 0 ? 0 : table.counts.front().size();
  std::vector<std::vector<std::int64_t>> grid(rows + (table.column_totals ? 1 : 0),
                                              std::vector<std::int64_t>(columns + (table.row_totals ? 1 : 0), 0));
  for (std::size_t row = 0; row < rows; ++row) {
    for (std::size_t column = 0; column < columns; ++column) {
      const auto count = table.counts[row][column];
      grid[row][column] = count;
      if (table.row_totals) grid[row][columns] += count;
      if (table.column_totals) grid[rows][column] += count;
      if (table.row_totals && table.column_totals) grid[rows][columns] += count;
    }
  }
  return grid;
}

ProtectedTable Protect(const CountTable& table, const workflow::ReportPolicy& policy) {
  const auto full = WithTotals(table);
  ProtectedTable result;
  result.policy = policy;
  const std::size_t rows = full.size();
  const std::size_t columns = rows == 0 ? 0 : full.front().size();
  result.grid.assign(rows, std::vector<std::optional<std::int64_t>>(columns));
  result.primary.assign(rows, std::vector<bool>(columns, false));
  if (rows == 0 || columns == 0) return result;

  if (policy.small_cells == workflow::SmallCells::kRound5) {
    for (std::size_t row = 0; row < rows; ++row) {
      for (std::size_t column = 0; column < columns; ++column) result.grid[row][column] = RoundToFive(full[row][column]);
    }
    return result;
  }

  const EquationGraph graph(table, rows, columns);
  std::vector<std::int64_t> values(rows * columns);
  std::vector<bool> withheld(rows * columns, false), is_total(rows * columns, false);
  const std::size_t interior_rows = rows - (table.column_totals ? 1 : 0);
  const std::size_t interior_columns = columns - (table.row_totals ? 1 : 0);
  for (std::size_t row = 0; row < rows; ++row) {
    for (std::size_t column = 0; column < columns; ++column) {
      const auto edge = graph.Edge(row, column);
      values[edge] = full[row][column];
      is_total[edge] = row >= interior_rows || column >= interior_columns;
      withheld[edge] = values[edge] >= 1 && values[edge] < policy.suppress_below;
      result.primary[row][column] = withheld[edge];
    }
  }
  // Each round closes one bridge with at least one more withheld cell, so this ends.
  for (auto bridges = Bridges(graph, withheld); !bridges.empty(); bridges = Bridges(graph, withheld)) {
    const auto detour = CheapestDetour(graph, values, withheld, is_total, bridges.front());
    if (detour.empty()) {
      // No way round (it cannot happen for a table whose totals are positive): withhold every count.
      for (std::size_t edge = 0; edge < values.size(); ++edge) withheld[edge] = withheld[edge] || values[edge] > 0;
      break;
    }
    for (const auto edge : detour) withheld[edge] = true;
  }
  for (std::size_t row = 0; row < rows; ++row) {
    for (std::size_t column = 0; column < columns; ++column) {
      const auto edge = graph.Edge(row, column);
      if (!withheld[edge]) result.grid[row][column] = values[edge];
    }
  }
  return result;
}

std::string PolicyStatement(const workflow::ReportPolicy& policy) {
  if (policy.small_cells == workflow::SmallCells::kRound5) {
    return "every count and total rounded to the nearest multiple of 5, each independently (cells need not add up "
           "to the totals)";
  }
  return fmt::format(
      "counts from 1 to {} withheld, and further counts withheld so that none of them can be worked out from the "
      "other counts and totals of the table; zeros are shown",
      policy.suppress_below - 1);
}

}  // namespace returnflow::engine::reports
