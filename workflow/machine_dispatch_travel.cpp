// process_event instantiations for the travel event group (see machine_dispatch.hpp).
#include "workflow/machine_dispatch.hpp"

namespace returnflow::workflow::machine {

template <>
msmb::HandledEnum Dispatch<EventGroup::kTravel>(ReturnCase& machine, const Event& event) {
  return DispatchGroup<EventGroup::kTravel>(machine, event);
}

}  // namespace returnflow::workflow::machine
