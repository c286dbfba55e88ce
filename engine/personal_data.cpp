// The engine's use cases over a closed case's personal data that need a second person: an admin approves
// the erasure a caseworker of the office requested (personal_data.erasure_requested, an ordinary event).
// The erasure is an event of the case's history like any other, applied through the same path (the
// people rows and their data keys go in its transaction); the clock sends the same event when the
// programme's retention after closure has passed.
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <spdlog/spdlog.h>

#include "engine/authorization.hpp"
#include "engine/engine.hpp"
#include "engine/log_text.hpp"
#include "engine/observer.hpp"
#include "engine/views.hpp"

namespace returnflow::engine {

namespace net = boost::asio;

namespace {

/// The source of the erasures admins approve (their events carry no caller-chosen id or source).
constexpr std::string_view kAdminSource = "returnflow:admin";

}  // namespace

net::awaitable<EventResult> Engine::ApproveErasure(Principal principal, std::string case_id,
                                                   std::optional<std::int64_t> if_match) {
  const workflow::events::PersonalDataErased erased{workflow::ErasureBasis::kRequest};
  EventResult result;
  result.event.id = boost::uuids::to_string(boost::uuids::random_generator()());
  result.event.source = std::string(kAdminSource);
  result.event.type = std::string(erased.kName);
  result.event.subject = case_id;
  result.event.time = std::chrono::floor<std::chrono::seconds>(database_.Now());
  try {
    if (!CanApproveErasure(principal)) {
      throw Failure(FailureKind::kForbidden, "only an admin approves the erasure of a case's personal data");
    }
    persistence::IncomingEvent incoming;
    incoming.source = result.event.source;
    incoming.event_id = result.event.id;
    incoming.type = result.event.type;
    incoming.data_json = R"({"basis":"request"})";
    incoming.event = erased;
    incoming.meta.actor = principal.actor;
    incoming.meta.occurred_at = result.event.time;
    incoming.expected_version = if_match;
    // Admins read no case, but approve the erasure of any: the machine decides whether one was requested
    // (and by someone else).
    incoming.visible_to = [](const persistence::CaseScope&) { return true; };
    auto outcome = co_await Apply(case_id, std::move(incoming));
    if (observer_) {
      observer_->EventOutcome(result.event.type, workflow::Name(outcome.result.verdict), outcome.result.reason,
                              outcome.replayed);
    }
    spdlog::info("event=erasure_approval actor={} case={} verdict={}", principal.actor, Caller{case_id},
                 workflow::Name(outcome.result.verdict));
    result.outcome = OutcomeView(principal, std::move(outcome));
  } catch (const Failure& failure) {
    result.failure = failure;
  } catch (const persistence::PersistenceError& error) {
    result.failure = EventFailure(error);
  } catch (const std::exception& error) {
    spdlog::error("event=erasure_approval_failed case={} error=\"{}\"", Caller{case_id}, Caller{error.what()});
    result.failure = Failure(FailureKind::kInternal, "");
  }
  co_return result;
}

}  // namespace returnflow::engine
