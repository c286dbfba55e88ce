// What the outbox gets from a change: which notifications an event's history rows and incidents make,
// and for which subscriptions (routed by the case's partners and office in the change's transaction).
// Facts only: state and stage names, event types, verdicts, reason codes, times; never personal data
// (no payload, no `changes`, which may carry a caseworker's free text).
#include <boost/json.hpp>
#include <soci/soci.h>

#include <algorithm>
#include <set>

#include "persistence/apply_plan.hpp"
#include "persistence/internal.hpp"
#include "persistence/outbox.hpp"
#include "workflow/events.hpp"

namespace returnflow::persistence {

namespace {

using internal::HistoryRow;
using internal::OutboxWrite;
using internal::PlannedWrite;
using internal::Query;

constexpr Query kInsertOutbox{
    "insert outbox",
    "INSERT INTO outbox (notification_id, subscription_id, case_id, case_sequence, ordinal, kind, subject, facts, "
    "created_at, status, next_attempt_at) VALUES (:notification_id, :subscription_id, :case_id, :case_sequence, "
    ":ordinal, :kind, :subject, :facts, :created_at, :status, :next_attempt_at)"};

/// The stage of a case in these active states (the first name's first part: "travel.booked" is in
/// "travel"; "suspended" and "closed" are their own).
std::string StageOf(const std::vector<std::string>& states) {
  if (states.empty()) return {};
  const auto& first = states.front();
  return first.substr(0, first.find('.'));
}

boost::json::array Strings(const std::vector<std::string>& items) {
  boost::json::array array;
  for (const auto& item : items) array.emplace_back(item);
  return array;
}

/// A notification before it is routed: its kind, subject and facts, and the history row it belongs to.
struct Pending {
  std::string kind, subject;
  boost::json::object facts;
  long long case_sequence = 0;
};

/// What every notification of a history row says about the case.
boost::json::object RowFacts(const HistoryRow& row, const PlannedWrite& plan) {
  const auto states = internal::SplitList(row.states_after);
  boost::json::object facts{{"event_type", row.type},
                            {"verdict", row.verdict},
                            {"reason", row.reason},
                            {"states", Strings(states)},
                            {"stage", StageOf(states)},
                            {"allowed_events", Strings(internal::SplitList(row.allowed_events))},
                            {"occurred_at", row.occurred_at},
                            {"version", row.version_after}};
  if (plan.applied && plan.has_deadline) {
    facts["next_deadline"] = plan.next_deadline;
  } else {
    facts["next_deadline"] = nullptr;
  }
  return facts;
}

void AddRow(const HistoryRow& row, const PlannedWrite& plan, std::vector<Pending>& pending) {
  if (row.verdict == "deferred") return;  // waits in the inbox: heard of when it applies
  const auto facts = RowFacts(row, plan);
  if (row.verdict != "applied") {
    pending.push_back({std::string(notification::kEventRefused), row.type, facts, row.sequence});
    return;
  }
  pending.push_back({std::string(notification::kEventApplied), row.type, facts, row.sequence});
  if (row.type == workflow::events::DeadlineApproaching::kName) {
    // The clock's own event: its data is {"deadline": "<kind>"}, written by workflow::EventDataForTimer.
    boost::system::error_code error;
    const auto data = boost::json::parse(row.payload, error);
    const auto* kind = !error && data.is_object() ? data.get_object().if_contains("deadline") : nullptr;
    if (kind && kind->is_string()) {
      auto warning = facts;
      warning["deadline"] = kind->get_string();
      pending.push_back({std::string(notification::kDeadlineApproaching), std::string(kind->get_string()),
                         std::move(warning), row.sequence});
    }
  }
  const auto before = internal::SplitList(row.states_before);
  const auto after = internal::SplitList(row.states_after);
  const std::set<std::string> was(before.begin(), before.end());
  const auto stage_before = StageOf(before), stage_after = StageOf(after);
  if (stage_after != stage_before) {
    pending.push_back({std::string(notification::kStageEntered), stage_after, facts, row.sequence});
  }
  for (const auto& state : after) {
    if (!was.contains(state)) pending.push_back({std::string(notification::kStateEntered), state, facts, row.sequence});
  }
}

bool Reaches(const Subscription& subscription, const CaseScope& scope) {
  if (!subscription.organisation.empty()) {
    return std::find(scope.partners.begin(), scope.partners.end(), subscription.organisation) != scope.partners.end();
  }
  return !subscription.office.empty() && subscription.office == scope.office;
}

/// One row per (subscription, notification) for the subscriptions that reach the case and ask for it.
void Route(const std::vector<Subscription>& subscriptions, const CaseScope& scope, const std::string& case_id,
           long long now, const std::vector<Pending>& pending, std::vector<OutboxWrite>& out) {
  for (const auto& subscription : subscriptions) {
    if (!subscription.Active() || !Reaches(subscription, scope)) continue;
    for (std::size_t ordinal = 0; ordinal < pending.size(); ++ordinal) {
      const auto& notification = pending[ordinal];
      if (!subscription.Wants(notification.kind, notification.subject)) continue;
      out.push_back({internal::NewUuid(), subscription.subscription_id, case_id, notification.case_sequence,
                     static_cast<int>(ordinal), notification.kind, notification.subject,
                     boost::json::serialize(notification.facts), now, subscription.delivery == Delivery::kFeed});
    }
  }
}

}  // namespace

namespace internal {

void AddNotifications(const std::vector<Subscription>& subscriptions, const CaseScope& scope, PlannedWrite& plan) {
  std::vector<Pending> pending;
  AddRow(plan.history, plan, pending);
  for (const auto& extra : plan.extra_history) AddRow(extra, plan, pending);
  const auto& last = plan.Last();
  for (const auto& incident : plan.incidents) {
    auto facts = RowFacts(last, plan);
    facts["incident"] = {{"kind", incident.kind}, {"subject", incident.subject}};
    if (incident.kind == "deadline_passed") {
      pending.push_back({std::string(notification::kDeadlinePassed), incident.subject, facts, last.sequence});
    }
    pending.push_back({std::string(notification::kIncidentOpened), incident.kind, std::move(facts), last.sequence});
  }
  Route(subscriptions, scope, plan.history.case_id, plan.now, pending, plan.outbox);
}

std::vector<OutboxWrite> OpenedNotifications(const std::vector<Subscription>& subscriptions, const CaseScope& scope,
                                             const HistoryRow& opened, const std::string& stage, long long now,
                                             std::optional<long long> next_deadline) {
  std::vector<OutboxWrite> out;
  if (subscriptions.empty()) return out;
  PlannedWrite plan;
  plan.applied = next_deadline.has_value();
  plan.has_deadline = next_deadline.has_value();
  plan.next_deadline = next_deadline.value_or(0);
  std::vector<Pending> pending{{std::string(notification::kCaseOpened), stage, RowFacts(opened, plan), opened.sequence}};
  Route(subscriptions, scope, opened.case_id, now, pending, out);
  return out;
}

std::vector<OutboxWrite> IncidentNotifications(const std::vector<Subscription>& subscriptions, const CaseRow& row,
                                               const std::string& kind, const std::string& subject, long long now) {
  std::vector<OutboxWrite> out;
  if (subscriptions.empty()) return out;
  // Only the stored columns: the case itself may be the one that cannot be read.
  const auto states = internal::SplitList(row.active_states);
  boost::json::object facts{{"states", Strings(states)},
                            {"stage", row.stage},
                            {"occurred_at", now},
                            {"version", row.version},
                            {"incident", {{"kind", kind}, {"subject", subject}}}};
  if (row.has_next_deadline) {
    facts["next_deadline"] = row.next_deadline;
  } else {
    facts["next_deadline"] = nullptr;
  }
  // Ordinal 1000: after every notification of the newest history row (an event makes far fewer).
  std::vector<Pending> pending{{std::string(notification::kIncidentOpened), kind, std::move(facts), row.last_sequence}};
  std::vector<OutboxWrite> routed;
  Route(subscriptions, row.Scope(), row.case_id, now, pending, routed);
  for (auto& write : routed) write.ordinal = 1000;
  return routed;
}

void WriteOutbox(soci::session& sql, const std::vector<OutboxWrite>& rows) {
  for (const auto& row : rows) {
    const std::string status = row.feed ? "feed" : "pending";
    sql << kInsertOutbox.text, soci::use(row.notification_id, "notification_id"),
        soci::use(row.subscription_id, "subscription_id"), soci::use(row.case_id, "case_id"),
        soci::use(row.case_sequence, "case_sequence"), soci::use(row.ordinal, "ordinal"), soci::use(row.kind, "kind"),
        soci::use(row.subject, "subject"), soci::use(row.facts, "facts"), soci::use(row.created_at, "created_at"),
        soci::use(status, "status"), soci::use(row.created_at, "next_attempt_at");
  }
}

}  // namespace internal

// --- Filters -----------------------------------------------------------------------------------------

std::string_view Name(Delivery delivery) { return delivery == Delivery::kFeed ? "feed" : "webhook"; }

std::optional<Delivery> DeliveryFromName(std::string_view name) {
  if (name == "webhook") return Delivery::kWebhook;
  if (name == "feed") return Delivery::kFeed;
  return std::nullopt;
}

const std::vector<std::string_view>& NotificationKinds() {
  static const std::vector<std::string_view> kinds{
      notification::kCaseOpened,    notification::kStateEntered,   notification::kStageEntered,
      notification::kEventApplied,  notification::kEventRefused,   notification::kDeadlinePassed,
      notification::kDeadlineApproaching, notification::kIncidentOpened};
  return kinds;
}

bool ValidNotificationFilter(std::string_view filter) {
  if (filter.empty() || filter.size() > 200 || filter.find('|') != std::string_view::npos) return false;
  const auto colon = filter.find(':');
  const auto kind = filter.substr(0, colon);
  const auto& kinds = NotificationKinds();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) return false;
  if (colon == std::string_view::npos) return true;
  const auto pattern = filter.substr(colon + 1);
  if (pattern.empty()) return false;
  const auto star = pattern.find('*');
  if (star != std::string_view::npos && star != pattern.size() - 1) return false;
  return std::all_of(pattern.begin(), pattern.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '*';
  });
}

bool FilterMatches(std::string_view filter, std::string_view kind, std::string_view subject) {
  const auto colon = filter.find(':');
  if (filter.substr(0, colon) != kind) return false;
  if (colon == std::string_view::npos) return true;
  const auto pattern = filter.substr(colon + 1);
  if (pattern.ends_with('*')) return subject.starts_with(pattern.substr(0, pattern.size() - 1));
  return subject == pattern;
}

bool Subscription::Wants(std::string_view kind, std::string_view subject) const {
  return std::any_of(notifications.begin(), notifications.end(),
                     [&](const std::string& filter) { return FilterMatches(filter, kind, subject); });
}

std::vector<std::string> SigningSecrets(const Subscription& subscription, Timestamp now) {
  std::vector<std::string> secrets{subscription.secret};
  if (!subscription.previous_secret.empty() && subscription.previous_secret_until &&
      now < *subscription.previous_secret_until) {
    secrets.push_back(subscription.previous_secret);
  }
  return secrets;
}

}  // namespace returnflow::persistence
