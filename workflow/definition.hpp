#pragma once
/// The workflow definition read from the transition tables themselves, for export and for the API.
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

namespace returnflow::workflow {

struct TransitionInfo {
  std::string from;    ///< source state (stable name)
  std::string event;   ///< event name; empty for a completion (eventless) transition
  std::string to;      ///< target state; empty for an internal transition
  std::string guard;   ///< guard name(s) joined by " && "; empty when unguarded
  std::string action;  ///< action name; empty when none
  std::vector<std::string> reasons;  ///< reason codes the guard can refuse with, in evaluation order
  std::vector<std::string> in_states;  ///< for a row of an outer machine guarded by in(...): those states
};

struct MachineInfo {
  std::string name;                       ///< e.g. "documentation"
  std::vector<std::string> regions;       ///< region names, in order
  std::vector<std::string> initial_states;  ///< per region
  std::vector<std::vector<std::string>> region_states;  ///< states of each region
  std::vector<std::string> submachines;   ///< states of this machine that are machines themselves
  bool history = false;                   ///< shallow history on case.resumed
  std::vector<TransitionInfo> transitions;
};

/// A guard and the reason codes it can refuse with.
struct GuardInfo {
  std::string name;
  std::vector<std::string> reasons;
};

struct Definition {
  std::vector<MachineInfo> machines;  ///< outermost first
  std::vector<std::string> events;    ///< every event name
  std::vector<GuardInfo> guards;      ///< every guard that can refuse, with its codes, by first use
};

/// The definition of the return-case machine, computed once from its transition tables.
const Definition& GetDefinition();

/// Whether an event the case cannot take now is one it takes later in its normal course: accepted in a
/// state of its current stage or of a later one (a suspended case: of the stage it resumes in).
bool TakesLater(std::string_view stage, std::string_view type);

boost::json::value DefinitionToJson(const Definition& definition);
std::string DefinitionToMermaid(const Definition& definition);
std::string DefinitionToDot(const Definition& definition);
/// Markdown: every refusing guard with its reason codes, then the registry of codes and meanings.
std::string DefinitionToReasonTable(const Definition& definition);

}  // namespace returnflow::workflow
