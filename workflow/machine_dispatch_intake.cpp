// process_event instantiations for the intake event group (see machine_dispatch.hpp).
#include "workflow/machine_dispatch.hpp"

namespace returnflow::workflow::machine {

template <>
msmb::HandledEnum Dispatch<EventGroup::kIntake>(ReturnCase& machine, const Event& event) {
  return DispatchGroup<EventGroup::kIntake>(machine, event);
}

}  // namespace returnflow::workflow::machine
