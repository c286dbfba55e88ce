#pragma once
/// An event as a transport hands it to the engine: a CloudEvent decoded from whichever content mode.
#include <string>

#include <boost/json/value.hpp>

#include "workflow/dates.hpp"

namespace returnflow::engine {

struct EventEnvelope {
  std::string id;      ///< with `source`, the idempotency key
  std::string source;  ///< the sending system, bound to the sender's token
  std::string type;    ///< the workflow event name, e.g. "travel.departed"
  std::string subject;  ///< the case id
  workflow::Instant time{};  ///< when it happened (the receipt time when the sender gave none)
  boost::json::value data;   ///< the event data: an object, or null when the event has none
};

}  // namespace returnflow::engine
