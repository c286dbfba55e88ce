// Renders the workflow definition as JSON, Mermaid and Graphviz DOT.
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "workflow/definition.hpp"
#include "workflow/reasons.hpp"

namespace returnflow::workflow {
namespace {

namespace json = boost::json;

std::string Id(std::string_view name) {
  std::string id(name);
  for (auto& character : id) {
    if (character == '.') character = '_';
  }
  return id;
}

std::string Label(const TransitionInfo& transition) {
  std::string label = transition.event.empty() ? "completion" : transition.event;
  if (!transition.guard.empty()) label += fmt::format(" [{}]", transition.guard);
  if (!transition.action.empty()) label += fmt::format(" / {}", transition.action);
  return label;
}

class MermaidWriter {
 public:
  explicit MermaidWriter(const Definition& definition) {
    for (const auto& machine : definition.machines) by_name_.emplace(machine.name, &machine);
  }
  std::string Render(const MachineInfo& root) {
    out_ = "stateDiagram-v2\n";
    Body(root, 1);
    return std::move(out_);
  }

 private:
  void Line(int depth, const std::string& text) { out_ += std::string(depth * 2, ' ') + text + "\n"; }

  void Body(const MachineInfo& machine, int depth) {
    for (std::size_t region = 0; region < machine.region_states.size(); ++region) {
      if (region > 0) Line(depth, "--");
      for (const auto& state : machine.region_states[region]) {
        const auto nested = by_name_.find(state);
        if (nested != by_name_.end()) {
          Line(depth, fmt::format("state \"{}{}\" as {} {{", state, nested->second->history ? " (H)" : "", Id(state)));
          Body(*nested->second, depth + 1);
          Line(depth, "}");
        } else {
          Line(depth, fmt::format("state \"{}\" as {}", state, Id(state)));
        }
      }
      Line(depth, fmt::format("[*] --> {}", Id(machine.initial_states[region])));
      for (const auto& transition : machine.transitions) {
        const auto& states = machine.region_states[region];
        if (std::find(states.begin(), states.end(), transition.from) == states.end()) continue;
        const auto& target = transition.to.empty() ? transition.from : transition.to;
        Line(depth, fmt::format("{} --> {} : {}{}", Id(transition.from), Id(target),
                                transition.to.empty() ? "(internal) " : "", Label(transition)));
      }
    }
  }

  std::map<std::string, const MachineInfo*> by_name_;
  std::string out_;
};

}  // namespace

json::value DefinitionToJson(const Definition& definition) {
  json::array machines;
  for (const auto& machine : definition.machines) {
    json::array regions;
    for (std::size_t region = 0; region < machine.regions.size(); ++region) {
      regions.push_back(json::object{{"name", machine.regions[region]},
                                     {"initial", machine.initial_states.at(region)},
                                     {"states", json::value_from(machine.region_states.at(region))}});
    }
    json::array transitions;
    for (const auto& transition : machine.transitions) {
      json::object row{{"from", transition.from}};
      row["event"] = transition.event.empty() ? json::value(nullptr) : json::value(transition.event);
      row["to"] = transition.to.empty() ? json::value(nullptr) : json::value(transition.to);
      row["kind"] = transition.event.empty() ? "completion" : (transition.to.empty() ? "internal" : "external");
      if (!transition.guard.empty()) row["guard"] = transition.guard;
      if (!transition.action.empty()) row["action"] = transition.action;
      if (!transition.reasons.empty()) row["reasons"] = json::value_from(transition.reasons);
      transitions.push_back(std::move(row));
    }
    machines.push_back(json::object{{"name", machine.name},
                                    {"history", machine.history ? "shallow on case.resumed" : "none"},
                                    {"regions", std::move(regions)},
                                    {"submachines", json::value_from(machine.submachines)},
                                    {"transitions", std::move(transitions)}});
  }
  json::array guards;
  for (const auto& guard : definition.guards) {
    guards.push_back(json::object{{"name", guard.name}, {"reasons", json::value_from(guard.reasons)}});
  }
  json::array codes;
  for (const auto& reason : AllReasonCodes()) {
    codes.push_back(json::object{{"code", reason.code}, {"meaning", reason.meaning}});
  }
  return json::object{{"machine", definition.machines.front().name},
                      {"machines", std::move(machines)},
                      {"events", json::value_from(definition.events)},
                      {"guards", std::move(guards)},
                      {"reason_codes", std::move(codes)}};
}

std::string DefinitionToMermaid(const Definition& definition) {
  return MermaidWriter(definition).Render(definition.machines.front());
}

std::string DefinitionToReasonTable(const Definition& definition) {
  std::string out = "| guard | reason codes it can refuse with |\n| --- | --- |\n";
  for (const auto& guard : definition.guards) {
    std::string codes;
    for (const auto& code : guard.reasons) codes += fmt::format("{}`{}`", codes.empty() ? "" : ", ", code);
    out += fmt::format("| `{}` | {} |\n", guard.name, codes);
  }
  out += "\n| reason code | meaning |\n| --- | --- |\n";
  for (const auto& reason : AllReasonCodes()) out += fmt::format("| `{}` | {} |\n", reason.code, reason.meaning);
  out += "\nThe engine's own codes (its clock and programmes; never the machine's):\n\n| reason code | meaning |\n| --- | --- |\n";
  for (const auto& reason : EngineReasonCodes()) out += fmt::format("| `{}` | {} |\n", reason.code, reason.meaning);
  return out;
}

std::string DefinitionToDot(const Definition& definition) {
  std::string out = "digraph return_case {\n  compound=true;\n  rankdir=LR;\n  node [shape=box, style=rounded];\n";
  for (const auto& machine : definition.machines) {
    out += fmt::format("  subgraph cluster_{} {{\n    label=\"{}{}\";\n", Id(machine.name), machine.name,
                       machine.history ? " (H)" : "");
    for (std::size_t region = 0; region < machine.region_states.size(); ++region) {
      out += fmt::format("    subgraph cluster_{}_{} {{\n      label=\"{}\"; style=dashed;\n", Id(machine.name),
                         region, machine.regions.at(region));
      out += fmt::format("      {}_start [shape=point];\n", Id(machine.name) + std::to_string(region));
      for (const auto& state : machine.region_states[region]) {
        out += fmt::format("      {} [label=\"{}\"];\n", Id(state), state);
      }
      out += "    }\n";
      out += fmt::format("    {}_start -> {};\n", Id(machine.name) + std::to_string(region),
                         Id(machine.initial_states.at(region)));
    }
    for (const auto& transition : machine.transitions) {
      const auto& target = transition.to.empty() ? transition.from : transition.to;
      out += fmt::format("    {} -> {} [label=\"{}\"{}];\n", Id(transition.from), Id(target), Label(transition),
                         transition.to.empty() ? ", style=dotted" : "");
    }
    out += "  }\n";
  }
  out += "}\n";
  return out;
}

}  // namespace returnflow::workflow
