// Reads the workflow definition out of the transition tables, so exports can never drift from the machine.
#include "workflow/definition.hpp"

#include <array>
#include <deque>
#include <functional>
#include <map>
#include <set>

#include <boost/mpl/for_each.hpp>
#include <boost/mpl/is_sequence.hpp>

#include "workflow/machine_def.hpp"

namespace returnflow::workflow {
namespace {

namespace m = machine;
namespace mpl = boost::mpl;
namespace msmb = boost::msm::back;

template <typename T>
struct Named {
  static std::string Get() { return std::string(T::kName); }
};
template <>
struct Named<m::none> {
  static std::string Get() { return {}; }
};
template <typename... Guards>
struct Named<m::AllOf<Guards...>> {
  static std::string Get() {
    std::string joined;
    ((joined += (joined.empty() ? "" : " && ") + Named<Guards>::Get()), ...);
    return joined;
  }
};

template <typename... States>
struct Named<m::InState<States...>> {
  static std::string Get() {
    std::string joined;
    ((joined += (joined.empty() ? "" : ", ") + std::string(States::kName)), ...);
    return "in(" + joined + ")";
  }
};

/// The reason codes a row's guard can refuse with, in the order its guards run.
template <typename Guard>
struct Reasons {
  static void Add(std::vector<std::string>& codes) {
    if constexpr (requires { Guard::kReasons; }) {
      for (const auto& reason : Guard::kReasons) codes.emplace_back(reason.code);
    }
  }
};
template <typename... Guards>
struct Reasons<m::AllOf<Guards...>> {
  static void Add(std::vector<std::string>& codes) { (Reasons<Guards>::Add(codes), ...); }
};

/// The states an in(...) guard names, also inside an AllOf.
template <typename Guard>
struct InStates {
  static void Add(std::vector<std::string>&) {}
};
template <typename... States>
struct InStates<m::InState<States...>> {
  static void Add(std::vector<std::string>& states) { (states.emplace_back(States::kName), ...); }
};
template <typename... Inner>
struct InStates<m::AllOf<Inner...>> {
  static void Add(std::vector<std::string>& states) { (InStates<Inner>::Add(states), ...); }
};

/// Each refusing guard of a row's guard, with its codes, added once.
template <typename Guard>
struct Guards {
  static void Add(std::vector<GuardInfo>& guards) {
    if constexpr (requires { Guard::kReasons; }) {
      if (Guard::kReasons.empty()) return;
      for (const auto& known : guards) {
        if (known.name == Guard::kName) return;
      }
      GuardInfo info{std::string(Guard::kName), {}};
      Reasons<Guard>::Add(info.reasons);
      guards.push_back(std::move(info));
    }
  }
};
template <typename... Inner>
struct Guards<m::AllOf<Inner...>> {
  static void Add(std::vector<GuardInfo>& guards) { (Guards<Inner>::Add(guards), ...); }
};

template <typename Initial>
std::vector<std::string> InitialStates() {
  std::vector<std::string> names;
  if constexpr (mpl::is_sequence<Initial>::value) {
    mpl::for_each<Initial, boost::msm::wrap<mpl::placeholders::_1>>(
        [&]<typename S>(boost::msm::wrap<S>) { names.push_back(Named<S>::Get()); });
  } else {
    names.push_back(Named<Initial>::Get());
  }
  return names;
}

template <typename Sm>
void Describe(Definition& definition) {
  MachineInfo info;
  info.name = std::string(Sm::kName);
  for (const auto region : Sm::kRegionNames) info.regions.emplace_back(region);
  info.initial_states = InitialStates<typename Sm::initial_state>();
  info.history = !std::is_same_v<typename Sm::history_policy, msmb::NoHistory>;

  std::map<std::string, std::vector<std::string>> edges;
  std::vector<std::function<void(Definition&)>> nested;
  std::set<std::string> seen_submachines;
  mpl::for_each<typename Sm::transition_table, boost::msm::wrap<mpl::placeholders::_1>>(
      [&]<typename Row>(boost::msm::wrap<Row>) {
        TransitionInfo transition{Named<typename Row::Source>::Get(), Named<typename Row::Evt>::Get(),
                                  m::kIsInternalRow<Row> ? std::string() : Named<typename Row::Target>::Get(),
                                  Named<typename Row::Guard>::Get(),
                                  Named<typename Row::Action>::Get(),
                                  {},
                                  {}};
        Reasons<typename Row::Guard>::Add(transition.reasons);
        InStates<typename Row::Guard>::Add(transition.in_states);
        Guards<typename Row::Guard>::Add(definition.guards);
        if (!transition.to.empty()) edges[transition.from].push_back(transition.to);
        info.transitions.push_back(std::move(transition));
        const auto add_nested = [&]<typename S>() {
          if constexpr (msmb::is_composite_state<S>::value) {
            if (seen_submachines.insert(Named<S>::Get()).second) {
              info.submachines.push_back(Named<S>::Get());
              nested.push_back([](Definition& def) { Describe<S>(def); });
            }
          }
        };
        add_nested.template operator()<typename Row::Source>();
        if constexpr (!m::kIsInternalRow<Row>) {
          add_nested.template operator()<typename Row::Target>();
        }
      });

  // Regions: the states reachable from each region's initial state.
  std::set<std::string> placed;
  for (const auto& initial : info.initial_states) {
    std::vector<std::string> states;
    std::deque<std::string> pending{initial};
    while (!pending.empty()) {
      auto state = std::move(pending.front());
      pending.pop_front();
      if (!placed.insert(state).second) continue;
      for (const auto& next : edges[state]) pending.push_back(next);
      states.push_back(std::move(state));
    }
    info.region_states.push_back(std::move(states));
  }
  definition.machines.push_back(std::move(info));
  for (const auto& describe : nested) describe(definition);
}

}  // namespace

const Definition& GetDefinition() {
  static const Definition definition = [] {
    Definition built;
    Describe<m::ReturnCase>(built);
    for (const auto name : AllEventNames()) built.events.emplace_back(name);
    return built;
  }();
  return definition;
}

}  // namespace returnflow::workflow

namespace returnflow::workflow {

bool TakesLater(std::string_view stage, std::string_view type) {
  static constexpr std::array<std::string_view, 5> kStages = {"referral", "counselling", "documentation", "travel",
                                                              "reintegration"};
  // For each event, the latest stage with a state that accepts it.
  static const auto latest = [] {
    std::map<std::string, int, std::less<>> by_type;
    const auto stage_of = [](std::string_view state) {
      const auto first = state.substr(0, state.find('.'));
      for (std::size_t index = 0; index < kStages.size(); ++index) {
        if (kStages[index] == first) return static_cast<int>(index);
      }
      return -1;
    };
    for (const auto& machine : GetDefinition().machines) {
      for (const auto& transition : machine.transitions) {
        if (transition.event.empty()) continue;
        std::vector<std::string> sources = transition.in_states;
        if (sources.empty()) sources.push_back(transition.from);
        for (const auto& source : sources) {
          const int index = stage_of(source);
          if (index < 0) continue;
          auto [it, inserted] = by_type.try_emplace(transition.event, index);
          if (!inserted) it->second = std::max(it->second, index);
        }
      }
    }
    return by_type;
  }();
  int current = -1;
  for (std::size_t index = 0; index < kStages.size(); ++index) {
    if (kStages[index] == stage) current = static_cast<int>(index);
  }
  const auto found = latest.find(type);
  return current >= 0 && found != latest.end() && found->second >= current;
}

}  // namespace returnflow::workflow
