// process_event instantiations for the documentation event group (see machine_dispatch.hpp).
#include "workflow/machine_dispatch.hpp"

namespace returnflow::workflow::machine {

template <>
msmb::HandledEnum Dispatch<EventGroup::kDocumentation>(ReturnCase& machine, const Event& event) {
  return DispatchGroup<EventGroup::kDocumentation>(machine, event);
}

}  // namespace returnflow::workflow::machine
