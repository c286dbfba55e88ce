// process_event instantiations for the closure event group (a request, its approval or rejection) (see machine_dispatch.hpp).
#include "workflow/machine_dispatch.hpp"

namespace returnflow::workflow::machine {

template <>
msmb::HandledEnum Dispatch<EventGroup::kClosure>(ReturnCase& machine, const Event& event) {
  return DispatchGroup<EventGroup::kClosure>(machine, event);
}

}  // namespace returnflow::workflow::machine
