// The one translation unit that instantiates the Boost.MSM back-end for a return case.
#include <algorithm>
#include <deque>
#include <set>
#include <unordered_map>

#include <boost/json.hpp>
#include <boost/mpl/for_each.hpp>
#include <boost/mpl/size.hpp>

#include "workflow/case.hpp"
#include "workflow/machine_dispatch.hpp"
#include "workflow/timers.hpp"

namespace returnflow::workflow {

const HouseholdMember* machine::FindMember(const CaseContext& context, const std::string& member_id) {
  for (const auto& member : context.household) {
    if (member.member_id == member_id) return &member;
  }
  return nullptr;
}

namespace {

namespace m = machine;
namespace msmb = boost::msm::back;
namespace mpl = boost::mpl;
namespace json = boost::json;

template <typename Sm>
using StateSet = typename Sm::state_list;

/// Calls `visit` with a wrap<S> for every state type S of machine Sm (not recursive).
template <typename Sm, typename Visit>
void ForEachStateType(Visit&& visit) {
  mpl::for_each<StateSet<Sm>, boost::msm::wrap<mpl::placeholders::_1>>(visit);
}

/// Visits `sm` and then every nested submachine, outermost first.
template <typename Sm, typename Visit>
void ForEachMachine(Sm& sm, Visit&& visit) {
  visit(sm);
  ForEachStateType<Sm>([&]<typename S>(boost::msm::wrap<S>) {
    if constexpr (msmb::is_composite_state<S>::value) ForEachMachine(sm.template get_state<S&>(), visit);
  });
}

/// Names of one machine's states by MSM id, and the region each state belongs to. Built once from the
/// transition table; the saved form uses names, so reordering rows (which renumbers ids) is harmless.
template <typename Sm>
class StateNames {
 public:
  static const StateNames& Get() {
    static const StateNames names;
    return names;
  }
  std::string_view NameOf(int id) const { return by_id_.at(static_cast<std::size_t>(id)); }
  /// The id of the state called `name` in `region`, or -1.
  int IdIn(std::string_view name, std::size_t region) const {
    const auto found = by_name_.find(name);
    if (found == by_name_.end() || region_of_.at(static_cast<std::size_t>(found->second)) != region) return -1;
    return found->second;
  }

 private:
  StateNames() {
    by_id_.resize(mpl::size<StateSet<Sm>>::value);
    ForEachStateType<Sm>([&]<typename S>(boost::msm::wrap<S>) {
      const int id = msmb::get_state_id<typename Sm::stt, S>::value;
      by_id_[static_cast<std::size_t>(id)] = S::kName;
      by_name_.emplace(S::kName, id);
    });
    // Regions: every state reachable from a region's initial state belongs to that region.
    std::vector<std::vector<int>> edges(by_id_.size());
    mpl::for_each<typename Sm::transition_table, boost::msm::wrap<mpl::placeholders::_1>>(
        [&]<typename Row>(boost::msm::wrap<Row>) {
          if constexpr (!m::kIsInternalRow<Row>) {
            edges[msmb::get_state_id<typename Sm::stt, typename Row::Source>::value].push_back(
                msmb::get_state_id<typename Sm::stt, typename Row::Target>::value);
          }
        });
    region_of_.assign(by_id_.size(), SIZE_MAX);
    const Sm fresh;
    for (std::size_t region = 0; region < Sm::nr_regions::value; ++region) {
      std::deque<int> pending{fresh.current_state()[region]};
      while (!pending.empty()) {
        const int id = pending.front();
        pending.pop_front();
        if (region_of_[id] != SIZE_MAX) continue;
        region_of_[id] = region;
        pending.insert(pending.end(), edges[id].begin(), edges[id].end());
      }
    }
  }
  std::vector<std::string_view> by_id_;
  std::unordered_map<std::string_view, int> by_name_;
  std::vector<std::size_t> region_of_;
};

template <typename Sm>
json::array NamesOf(const int* ids, const json::storage_ptr& storage) {
  json::array names(storage);
  for (std::size_t region = 0; region < Sm::nr_regions::value; ++region) {
    names.emplace_back(StateNames<Sm>::Get().NameOf(ids[region]));
  }
  return names;
}

/// True when a machine's active states are its initial ones. Such a machine is left out of the saved form.
template <typename Sm>
bool IsInitial(const Sm& sm) {
  static const Sm fresh;
  return std::equal(fresh.current_state(), fresh.current_state() + Sm::nr_regions::value, sm.current_state());
}

/// States earlier definitions had, and where a case saved in one of them is now. A refused travel
/// document and an unfit assessment used to be states of their strand (the case on hold was in them);
/// an ineligible referral was a state of the referral stage (kept as the closed case's history).
std::string_view CurrentName(std::string_view saved) {
  static constexpr std::pair<std::string_view, std::string_view> kRenamed[] = {
      {"referral.ineligible", "referral.eligibility_review"},
      {"documentation.travel_document.refused", "documentation.travel_document.requested"},
      {"documentation.medical.unfit", "documentation.medical.pending"},
  };
  for (const auto& [old_name, new_name] : kRenamed) {
    if (saved == old_name) return new_name;
  }
  return saved;
}

/// Maps saved names to this definition's ids; refuses names it does not know or that moved region.
template <typename Sm>
void IdsFrom(const json::value& saved, std::string_view machine, std::string_view what, int* ids) {
  const auto* names = saved.if_array();
  if (names == nullptr || names->size() != Sm::nr_regions::value) {
    throw RestoreFailed(fmt::format("saved {} of machine '{}' does not have {} region(s)", what, machine,
                                    Sm::nr_regions::value));
  }
  for (std::size_t region = 0; region < names->size(); ++region) {
    const auto* name = (*names)[region].if_string();
    const int id = name ? StateNames<Sm>::Get().IdIn(CurrentName(*name), region) : -1;
    if (id < 0) {
      throw RestoreFailed(fmt::format("saved {} of machine '{}' region {} names a state this definition lacks",
                                      what, machine, region));
    }
    ids[region] = id;
  }
}

/// Collects the leaf names of the active configuration below `sm`.
template <typename Sm>
void CollectLeaves(const Sm& sm, std::vector<std::string>& leaves) {
  for (std::size_t region = 0; region < Sm::nr_regions::value; ++region) {
    const int active = sm.current_state()[region];
    ForEachStateType<Sm>([&]<typename S>(boost::msm::wrap<S>) {
      if (msmb::get_state_id<typename Sm::stt, S>::value != active) return;
      if constexpr (msmb::is_composite_state<S>::value) {
        CollectLeaves(sm.template get_state<const S&>(), leaves);
      } else {
        leaves.emplace_back(S::kName);
      }
    });
  }
}

/// Events with a row leaving an active state at any level. Guards on the context are not evaluated; a
/// row that applies only in some sub-states (InState) counts only in those.
template <typename Sm>
void CollectAllowed(const Sm& sm, const std::vector<std::string>& leaves, std::vector<std::string_view>& allowed) {
  for (std::size_t region = 0; region < Sm::nr_regions::value; ++region) {
    const int active = sm.current_state()[region];
    mpl::for_each<typename Sm::transition_table, boost::msm::wrap<mpl::placeholders::_1>>(
        [&]<typename Row>(boost::msm::wrap<Row>) {
          if constexpr (!std::is_same_v<typename Row::Evt, m::none>) {
            if (msmb::get_state_id<typename Sm::stt, typename Row::Source>::value == active &&
                m::StateCondition<typename Row::Guard>::Holds(leaves)) {
              allowed.push_back(Row::Evt::kName);
            }
          }
        });
    ForEachStateType<Sm>([&]<typename S>(boost::msm::wrap<S>) {
      if constexpr (msmb::is_composite_state<S>::value) {
        if (msmb::get_state_id<typename Sm::stt, S>::value == active) {
          CollectAllowed(sm.template get_state<const S&>(), leaves, allowed);
        }
      }
    });
  }
}

}  // namespace

struct Case::Impl {
  m::CaseRuntime runtime;
  m::ReturnCase machine;

  Impl() {
    ForEachMachine(machine, [this](auto& sm) { sm.runtime = &runtime; });
  }
};

Case::Case(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Case::Case(Case&&) noexcept = default;
Case& Case::operator=(Case&&) noexcept = default;
Case::~Case() = default;

Case Case::Open(CaseContext context) {
  auto impl = std::make_unique<Impl>();
  impl->runtime.context = std::move(context);
  const EventMeta opening{"system", impl->runtime.context.opened_at};
  impl->runtime.meta = &opening;
  impl->machine.start();
  impl->runtime.meta = nullptr;
  impl->runtime.changes.clear();
  return Case(std::move(impl));
}

Case Case::Restore(const json::value& saved) {
  const auto* root = saved.if_object();
  const auto* states = root ? root->if_contains("states") : nullptr;
  const auto* context = root ? root->if_contains("context") : nullptr;
  if (states == nullptr || !states->is_object() || context == nullptr) {
    throw RestoreFailed("saved case lacks 'states' or 'context'");
  }
  auto impl = std::make_unique<Impl>();
  std::size_t restored = 0;
  // Writes each machine's active state ids straight into it: no replay, no entry actions. A machine the
  // saved form does not name is in its initial configuration, as a fresh machine already is.
  ForEachMachine(impl->machine, [&]<typename Sm>(Sm& sm) {
    const auto* names = states->as_object().if_contains(Sm::kName);
    if (names == nullptr) return;
    int ids[Sm::nr_regions::value];
    IdsFrom<Sm>(*names, Sm::kName, "states", ids);
    // current_state() exposes the machine's own (non-const) state array; MSM has no other setter.
    std::copy_n(ids, Sm::nr_regions::value, const_cast<int*>(sm.current_state()));
    // History: MSM records a machine's configuration when it is exited and never changes the active
    // array of an inactive machine, so the history of every inactive machine equals its active states
    // (for a machine left out, both are initial). An active machine's history is rewritten on its next
    // exit before anything can read it. So the saved active states carry the history too.
    sm.get_history().history_exit(ids);
    ++restored;
  });
  if (restored != states->as_object().size()) {
    throw RestoreFailed("saved case names machines this definition lacks");
  }
  try {
    impl->runtime.context = json::value_to<CaseContext>(*context);
  } catch (const std::exception& error) {
    throw RestoreFailed(fmt::format("saved context is invalid: {}", error.what()));
  }
  return Case(std::move(impl));
}

Case Case::Restore(std::string_view saved_json) {
  // A saved case is a few kilobytes: parse it into one stack arena instead of a malloc per node.
  unsigned char arena[16384];
  json::monotonic_resource resource(arena, sizeof(arena));
  boost::system::error_code error;
  const auto saved = json::parse(saved_json, error, &resource);
  if (error) throw RestoreFailed(fmt::format("saved case is not JSON: {}", error.message()));
  return Restore(saved);
}

json::value Case::SaveJson(json::storage_ptr storage) const {
  json::object states(storage);
  ForEachMachine(impl_->machine, [&]<typename Sm>(Sm& sm) {
    if (IsInitial(sm)) return;
    states.emplace(Sm::kName, NamesOf<Sm>(sm.current_state(), storage));
  });
  json::object saved(storage);
  saved.emplace("states", std::move(states));
  saved.emplace("context", json::value_from(impl_->runtime.context, storage));
  return saved;
}

std::string Case::Save() const {
  unsigned char arena[16384];
  json::monotonic_resource resource(arena, sizeof(arena));
  return json::serialize(SaveJson(&resource));
}

std::vector<std::string> Case::ActiveStates() const {
  std::vector<std::string> leaves;
  CollectLeaves(impl_->machine, leaves);
  return leaves;
}

std::string_view Case::Stage() const {
  const auto& top = impl_->machine;
  const int active = top.current_state()[0];
  if (active == msmb::get_state_id<m::ReturnCase::stt, m::Open>::value) {
    const auto& open = top.get_state<const m::Open&>();
    return StateNames<m::Open>::Get().NameOf(open.current_state()[0]);
  }
  return StateNames<m::ReturnCase>::Get().NameOf(active);
}

std::string_view Case::HeldStage() const {
  const auto& top = impl_->machine;
  const auto& open = top.get_state<const m::Open&>();
  return StateNames<m::Open>::Get().NameOf(open.current_state()[0]);
}

std::vector<std::string_view> Case::AllowedEvents() const {
  std::vector<std::string_view> allowed;
  CollectAllowed(impl_->machine, ActiveStates(), allowed);
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  return allowed;
}

const CaseContext& Case::Context() const { return impl_->runtime.context; }

ApplyResult Case::Apply(const Event& event, const EventMeta& meta) {
  auto& runtime = impl_->runtime;
  runtime.meta = &meta;
  runtime.refusal = {};
  runtime.changes.clear();

  ApplyResult result;
  result.from = ActiveStates();
  runtime.active = &result.from;
  msmb::HandledEnum handled = msmb::HANDLED_FALSE;
  switch (m::GroupOf(EventName(event))) {
    case m::EventGroup::kIntake: handled = m::Dispatch<m::EventGroup::kIntake>(impl_->machine, event); break;
    case m::EventGroup::kDocumentation:
      handled = m::Dispatch<m::EventGroup::kDocumentation>(impl_->machine, event);
      break;
    case m::EventGroup::kTravel: handled = m::Dispatch<m::EventGroup::kTravel>(impl_->machine, event); break;
    case m::EventGroup::kClosure: handled = m::Dispatch<m::EventGroup::kClosure>(impl_->machine, event); break;
  }
  runtime.meta = nullptr;
  runtime.active = nullptr;

  if ((handled & msmb::HANDLED_TRUE) != 0) {
    result.verdict = Verdict::kApplied;
    // A deadline that passed while its step was open is no longer overdue once the step is done; a
    // warning is forgotten with its step too (the step, open again later, warns again).
    if (!runtime.context.overdue.empty() || !runtime.context.warned.empty()) {
      const auto open = OpenDeadlines(*this);
      std::erase_if(runtime.context.warned, [&](const std::string& kind) { return !open.contains(kind); });
      for (auto it = runtime.context.overdue.begin(); it != runtime.context.overdue.end();) {
        if (open.contains(*it)) {
          ++it;
          continue;
        }
        runtime.changes.push_back("deadline_met_late=" + *it);
        it = runtime.context.overdue.erase(it);
      }
    }
    result.to = ActiveStates();
    result.changes = std::move(runtime.changes);
  } else {
    result.to = result.from;
    const auto stage = Stage();
    // A guard that rejects without a reason only routes (InState, the no-show limit): where no row's
    // routing guard holds, the event is not allowed here, which is no rule's refusal.
    if (handled == msmb::HANDLED_GUARD_REJECT && !runtime.refusal.empty()) {
      result.verdict = Verdict::kGuardRefused;
      result.reason = runtime.refusal;
    } else if (stage == states::Suspended::kName) {
      result.verdict = Verdict::kSuspended;
      result.reason = Name(runtime.context.suspension.value_or(SuspensionReason::kLegalImpediment));
    } else if (stage == states::Closed::kName) {
      result.verdict = Verdict::kClosed;
      result.reason = reasons::kCaseClosed.code;
    } else {
      result.verdict = Verdict::kNotAllowed;
      result.reason = reasons::kNotAllowedInCurrentState.code;
    }
    runtime.changes.clear();
  }
  result.allowed_events = AllowedEvents();
  return result;
}

}  // namespace returnflow::workflow
