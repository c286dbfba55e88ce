#include "api/metrics.hpp"

#include <algorithm>

#include <prometheus/text_serializer.h>

namespace returnflow::api {

namespace {
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("returnflow_http_requests_total")
                    .Help("HTTP requests answered, by route and status")
                    .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("returnflow_http_request_duration_seconds")
                   .Help("Time from a request's last byte read to its response, by route")
                   .Register(*registry_)),
      events_(prometheus::BuildCounter()
                  .Name("returnflow_events_total")
                  .Help("Events recorded, by type, outcome (applied or the refusal kind) and reason code")
                  .Register(*registry_)),
      group_size_(prometheus::BuildHistogram()
                      .Name("returnflow_group_commit_events")
                      .Help("Events per group-commit transaction, by the path that wrote it (from_cache: one "
                            "round trip; locked: two; one_by_one: a savepoint per event)")
                      .Register(*registry_)),
      connections_(prometheus::BuildGauge()
                       .Name("returnflow_http_open_connections")
                       .Help("Open client connections")
                       .Register(*registry_)
                       .Add({})),
      refused_(prometheus::BuildCounter()
                   .Name("returnflow_http_refused_total")
                   .Help("Connections or requests refused or closed before routing, by reason (max_connections, "
                         "max_connections_per_address, evicted_idle, first_request_timeout, or a problem type: headers-too-large, ...)")
                   .Register(*registry_)),
      pool_in_use_(prometheus::BuildGauge()
                       .Name("returnflow_db_pool_in_use")
                       .Help("Database sessions leased at scrape time")
                       .Register(*registry_)
                       .Add({})),
      pool_size_(prometheus::BuildGauge()
                     .Name("returnflow_db_pool_size")
                     .Help("Database connection pool size")
                     .Register(*registry_)
                     .Add({})),
      timers_fired_(prometheus::BuildCounter()
                        .Name("returnflow_timers_fired_total")
                        .Help("Timers fired and recorded, by family (deadline, monitoring, suspension_review, "
                              "inbox, ...) and the outcome of their event")
                        .Register(*registry_)),
      timer_lateness_(prometheus::BuildHistogram()
                          .Name("returnflow_timer_lateness_seconds")
                          .Help("Time from a timer's due instant to its event being recorded, by family")
                          .Register(*registry_)),
      timers_failed_(prometheus::BuildCounter()
                         .Name("returnflow_timer_failures_total")
                         .Help("Timer firings that failed and were released for a retry, by family")
                         .Register(*registry_)),
      timers_due_(prometheus::BuildGauge()
                      .Name("returnflow_timers_due")
                      .Help("Timers due and not yet fired (refreshed every few seconds)")
                      .Register(*registry_)
                      .Add({})),
      overdue_(prometheus::BuildGauge()
                   .Name("returnflow_cases_overdue")
                   .Help("Cases with a passed deadline whose step is still open, by deadline kind")
                   .Register(*registry_)),
      incidents_open_(prometheus::BuildGauge()
                          .Name("returnflow_incidents_open")
                          .Help("Open incidents, by kind")
                          .Register(*registry_)),
      waiting_events_(prometheus::BuildGauge()
                          .Name("returnflow_inbox_events")
                          .Help("Early events waiting in cases' inboxes")
                          .Register(*registry_)
                          .Add({})),
      delivery_attempts_(prometheus::BuildCounter()
                             .Name("returnflow_webhook_attempts_total")
                             .Help("Webhook delivery attempts by subscription id (pseudonymous) and outcome: "
                                   "delivered, retry, dead, disabled (every outcome but delivered is a failure)")
                             .Register(*registry_)),
      delivery_lag_(prometheus::BuildHistogram()
                        .Name("returnflow_webhook_delivery_lag_seconds")
                        .Help("Time from a notification's commit to its endpoint's 2xx")
                        .Register(*registry_)
                        .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
                                                                         30, 300, 3600, 86400})),
      outbox_depth_(prometheus::BuildGauge()
                        .Name("returnflow_outbox_depth")
                        .Help("Webhook notifications of enabled subscriptions not yet delivered nor dead-lettered")
                        .Register(*registry_)
                        .Add({})),
      subscriptions_disabled_(prometheus::BuildGauge()
                                  .Name("returnflow_subscriptions_disabled")
                                  .Help("Subscriptions disabled (an endpoint answered 410, or an admin)")
                                  .Register(*registry_)
                                  .Add({})) {}

void Metrics::DeliveryAttempted(std::string_view subscription_id, std::string_view outcome, double lag) {
  delivery_attempts_.Add({{"subscription", std::string(subscription_id)}, {"outcome", std::string(outcome)}}).Increment();
  if (outcome == "delivered") delivery_lag_.Observe(lag);
}

void Metrics::OutboxState(std::int64_t depth, std::int64_t disabled_subscriptions) {
  outbox_depth_.Set(static_cast<double>(depth));
  subscriptions_disabled_.Set(static_cast<double>(disabled_subscriptions));
}

void Metrics::RequestFinished(std::string_view route, int status, std::chrono::steady_clock::duration latency) {
  const std::string route_label(route);
  requests_.Add({{"route", route_label}, {"status", std::to_string(status)}}).Increment();
  latency_.Add({{"route", route_label}}, LatencyBuckets())
      .Observe(std::chrono::duration<double>(latency).count());
}

void Metrics::EventOutcome(std::string_view type, std::string_view outcome, std::string_view reason, bool replayed) {
  events_
      .Add({{"type", std::string(type)},
            {"outcome", std::string(outcome)},
            {"reason", std::string(reason)},
            {"replayed", replayed ? "true" : "false"}})
      .Increment();
}

void Metrics::GroupCommitted(std::size_t size, std::string_view path) {
  group_size_.Add({{"path", std::string(path)}}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256})
      .Observe(static_cast<double>(size));
}

void Metrics::ConnectionsChanged(int open) { connections_.Set(open); }

void Metrics::ConnectionRefused(std::string_view reason) {
  refused_.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::PoolUsage(std::size_t in_use, std::size_t size) {
  pool_in_use_.Set(static_cast<double>(in_use));
  pool_size_.Set(static_cast<double>(size));
}

void Metrics::TimerFired(std::string_view family, std::string_view verdict, bool replayed, double lateness) {
  timers_fired_
      .Add({{"family", std::string(family)}, {"outcome", std::string(verdict)}, {"replayed", replayed ? "true" : "false"}})
      .Increment();
  timer_lateness_
      .Add({{"family", std::string(family)}},
           prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600})
      .Observe(lateness);
}

void Metrics::TimerFailed(std::string_view family) {
  timers_failed_.Add({{"family", std::string(family)}}).Increment();
}

namespace {

/// Sets a gauge per label value; values seen before and absent now read 0.
void SetByKind(prometheus::Family<prometheus::Gauge>& family, const std::vector<std::pair<std::string, std::int64_t>>& now,
               std::vector<std::string>& seen) {
  for (const auto& kind : seen) family.Add({{"kind", kind}}).Set(0);
  for (const auto& [kind, count] : now) {
    family.Add({{"kind", kind}}).Set(static_cast<double>(count));
    if (std::find(seen.begin(), seen.end(), kind) == seen.end()) seen.push_back(kind);
  }
}

}  // namespace

void Metrics::ClockState(const engine::ClockStats& stats) {
  std::lock_guard lock(clock_mutex_);
  timers_due_.Set(static_cast<double>(stats.timers_due));
  waiting_events_.Set(static_cast<double>(stats.waiting_events));
  SetByKind(overdue_, stats.overdue_by_kind, overdue_kinds_seen_);
  SetByKind(incidents_open_, stats.open_incidents_by_kind, incident_kinds_seen_);
}

std::string Metrics::Serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace returnflow::api
