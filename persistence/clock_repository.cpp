// CaseRepository, the engine's clock and incidents: claiming due timers (FOR UPDATE SKIP LOCKED on
// PostgreSQL), giving them back, the case's timers and inbox, rebuilding timers after the migration that
// introduced them, and incident reads and resolution.
#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "persistence/apply_plan.hpp"
#include "persistence/case_rows.hpp"
#include "persistence/cursor.hpp"
#include "persistence/filtered_query.hpp"
#include "persistence/internal.hpp"
#include "persistence/repository.hpp"
#include "workflow/timers.hpp"

namespace returnflow::persistence {

namespace {

using internal::FromMicros;
using internal::Query;
using internal::ToMicros;

// Claims up to :row_limit timers due at :now that nobody holds (never claimed, or the lease ran out),
// earliest first, leasing them until :lease_until. PostgreSQL skips the rows another engine is claiming.
#define RF_CLAIM(LOCK)                                                                                           \
  "UPDATE timers SET claimed_until = :lease_until, attempts = attempts + 1 WHERE (case_id, kind) IN ("           \
  "SELECT case_id, kind FROM timers WHERE due_at <= :now AND (claimed_until IS NULL OR claimed_until <= :now2) " \
  "ORDER BY due_at LIMIT :row_limit" LOCK ") RETURNING case_id, kind, due_at, attempts"
constexpr Query kClaimPostgres{"claim timers", RF_CLAIM(" FOR UPDATE SKIP LOCKED")};
constexpr Query kClaimSqlite{"claim timers", RF_CLAIM("")};
#undef RF_CLAIM
constexpr Query kReleaseTimer{
    "release timer",
    "UPDATE timers SET claimed_until = :retry_at WHERE case_id = :case_id AND kind = :kind AND due_at = :due_at"};
constexpr Query kDropTimer{"drop timer",
                           "DELETE FROM timers WHERE case_id = :case_id AND kind = :kind AND due_at = :due_at"};
constexpr Query kSelectTimers{"case timers",
                              "SELECT kind, due_at, attempts FROM timers WHERE case_id = :case_id ORDER BY kind"};
// When the scheduler may next find work: the earliest due time, or lease end, of any timer.
constexpr Query kNextDue{"next due timer",
                         "SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > due_at THEN claimed_until "
                         "ELSE due_at END) AS next_due FROM timers"};
constexpr Query kCountDue{"count due timers", "SELECT COUNT(*) AS due FROM timers WHERE due_at <= :now"};
constexpr Query kSelectInbox{"case inbox", "SELECT inbox FROM cases WHERE case_id = :case_id"};
constexpr Query kSelectInboxes{"inboxes", "SELECT inbox FROM cases WHERE inbox <> '[]'"};
constexpr Query kSelectOverdue{"overdue cases", "SELECT overdue FROM cases WHERE overdue <> '|'"};
constexpr Query kDeleteCaseTimers{"delete case timers", "DELETE FROM timers WHERE case_id = :case_id"};
constexpr Query kInsertTimer{
    "insert timer",
    "INSERT INTO timers (case_id, kind, due_at, scheduled_version, attempts) VALUES (:case_id, :kind, :due_at, "
    ":scheduled_version, 0)"};
constexpr Query kSelectCaseIds{"case ids", "SELECT case_id FROM cases WHERE case_id > :after ORDER BY case_id LIMIT 500"};

#define RF_INCIDENT_COLUMNS \
  "incident_id, case_id, kind, subject, opened_at, office, host_country, origin_country, resolved_at, resolved_by"
constexpr Query kSelectIncident{"incident",
                                "SELECT " RF_INCIDENT_COLUMNS " FROM incidents WHERE incident_id = :incident_id"};
constexpr Query kInsertIncident{
    "open incident",
    "INSERT INTO incidents (incident_id, case_id, kind, subject, opened_at, office, host_country, origin_country) "
    "SELECT :incident_id, case_id, :kind, :subject, :opened_at, office, host_country, origin_country FROM cases "
    "WHERE case_id = :case_id ON CONFLICT DO NOTHING"};
constexpr Query kResolveIncident{
    "resolve incident",
    "UPDATE incidents SET resolved_at = :resolved_at, resolved_by = :resolved_by WHERE incident_id = :incident_id "
    "AND resolved_at IS NULL"};
constexpr Query kOpenByKind{
    "open incidents by kind",
    "SELECT kind, COUNT(*) AS open_count FROM incidents WHERE resolved_at IS NULL GROUP BY kind ORDER BY kind"};

Incident ReadIncident(const soci::row& columns) {
  Incident incident;
  incident.incident_id = internal::Text(columns, "incident_id");
  incident.case_id = internal::Text(columns, "case_id");
  incident.kind = internal::Text(columns, "kind");
  incident.subject = internal::Text(columns, "subject");
  incident.opened_at = FromMicros(internal::Integer(columns, "opened_at"));
  incident.office = internal::Text(columns, "office");
  incident.host_country = internal::Text(columns, "host_country");
  incident.origin_country = internal::Text(columns, "origin_country");
  if (!internal::IsNull(columns, "resolved_at")) {
    incident.resolved_at = FromMicros(internal::Integer(columns, "resolved_at"));
    incident.resolved_by = internal::Text(columns, "resolved_by");
  }
  return incident;
}

}  // namespace

// --- Timers ------------------------------------------------------------------------------------------

std::vector<DueTimer> CaseRepository::ClaimDueTimers(Timestamp now, std::size_t limit, Timestamp lease_until) {
  const long long at = ToMicros(now);
  const long long lease = ToMicros(lease_until);
  const long long rows = static_cast<long long>(std::clamp<std::size_t>(limit, 1, 10'000));
  const auto& query = database_.GetBackend() == Backend::kPostgresql ? kClaimPostgres : kClaimSqlite;
  std::vector<DueTimer> claimed;
  database_.WriteTransaction("claim timers", [&](soci::session& sql) {
    claimed.clear();
    internal::ForEachRow(sql, query, [&](const soci::row& columns) {
      claimed.push_back({internal::Text(columns, "case_id"), internal::Text(columns, "kind"),
                         FromMicros(internal::Integer(columns, "due_at")),
                         static_cast<int>(internal::Integer(columns, "attempts"))});
    }, soci::use(lease, "lease_until"), soci::use(at, "now"), soci::use(at, "now2"), soci::use(rows, "row_limit"));
  });
  std::sort(claimed.begin(), claimed.end(), [](const DueTimer& left, const DueTimer& right) {
    return std::tie(left.due, left.case_id, left.kind) < std::tie(right.due, right.case_id, right.kind);
  });
  return claimed;
}

void CaseRepository::ReleaseTimer(const DueTimer& timer, Timestamp retry_at) {
  const long long retry = ToMicros(retry_at);
  const long long due = ToMicros(timer.due);
  database_.WriteTransaction("release timer", [&](soci::session& sql) {
    sql << kReleaseTimer.text, soci::use(retry, "retry_at"), soci::use(timer.case_id, "case_id"),
        soci::use(timer.kind, "kind"), soci::use(due, "due_at");
  });
}

void CaseRepository::DropTimer(const DueTimer& timer) {
  const long long due = ToMicros(timer.due);
  database_.WriteTransaction("drop timer", [&](soci::session& sql) {
    sql << kDropTimer.text, soci::use(timer.case_id, "case_id"), soci::use(timer.kind, "kind"),
        soci::use(due, "due_at");
  });
}

std::vector<CaseTimer> CaseRepository::Timers(std::string_view case_id_view) {
  std::vector<CaseTimer> timers;
  if (!LooksLikeCaseId(case_id_view)) return timers;
  const std::string case_id(case_id_view);
  database_.Read("case timers", [&](soci::session& sql) {
    timers.clear();
    internal::ForEachRow(sql, kSelectTimers, [&](const soci::row& columns) {
      timers.push_back({internal::Text(columns, "kind"), FromMicros(internal::Integer(columns, "due_at")),
                        static_cast<int>(internal::Integer(columns, "attempts"))});
    }, soci::use(case_id, "case_id"));
  });
  return timers;
}

std::optional<Timestamp> CaseRepository::NextDue() {
  std::optional<Timestamp> next;
  database_.Read("next due timer", [&](soci::session& sql) {
    next.reset();
    internal::ForEachRow(sql, kNextDue, [&](const soci::row& columns) {
      if (!internal::IsNull(columns, "next_due")) next = FromMicros(internal::Integer(columns, "next_due"));
    });
  });
  return next;
}

std::int64_t CaseRepository::CountDue(Timestamp now) {
  const long long at = ToMicros(now);
  std::int64_t due = 0;
  database_.Read("count due timers", [&](soci::session& sql) {
    internal::ForEachRow(sql, kCountDue, [&](const soci::row& columns) { due = internal::Integer(columns, "due"); },
                         soci::use(at, "now"));
  });
  return due;
}

std::vector<WaitingEvent> CaseRepository::Inbox(std::string_view case_id_view) {
  std::vector<WaitingEvent> waiting;
  if (!LooksLikeCaseId(case_id_view)) return waiting;
  const std::string case_id(case_id_view);
  std::string inbox = "[]";
  database_.Read("case inbox", [&](soci::session& sql) {
    internal::ForEachRow(sql, kSelectInbox, [&](const soci::row& columns) { inbox = internal::Text(columns, "inbox"); },
                         soci::use(case_id, "case_id"));
  });
  for (const auto& entry : internal::ParseInbox(inbox)) {
    waiting.push_back({entry.sequence, entry.type, entry.source, FromMicros(entry.received_at),
                       FromMicros(entry.expires_at)});
  }
  return waiting;
}

std::int64_t CaseRepository::WaitingEvents() {
  std::int64_t waiting = 0;
  database_.Read("inboxes", [&](soci::session& sql) {
    waiting = 0;
    internal::ForEachRow(sql, kSelectInboxes, [&](const soci::row& columns) {
      try {
        waiting += static_cast<std::int64_t>(internal::ParseInbox(internal::Text(columns, "inbox")).size());
      } catch (const PersistenceError&) {
        // A case whose inbox cannot be read is reported by its incident, not by this count.
      }
    });
  });
  return waiting;
}

std::size_t CaseRepository::RebuildTimers() {
  std::size_t rebuilt = 0;
  std::string after;
  for (;;) {
    std::vector<std::string> ids;
    database_.Read("case ids", [&](soci::session& sql) {
      ids.clear();
      internal::ForEachRow(sql, kSelectCaseIds, [&](const soci::row& columns) {
        ids.push_back(internal::Text(columns, "case_id"));
      }, soci::use(after, "after"));
    });
    if (ids.empty()) break;
    for (const auto& case_id : ids) {
      try {
        database_.WriteTransaction("rebuild timers", [&](soci::session& sql) {
          internal::CaseRow row;
          if (!internal::LoadCase(sql, database_.GetBackend(), case_id, /*for_update=*/true, row)) return;
          const auto machine = workflow::Case::Restore(row.saved_state);
          const auto& reference = machine.Context().programme;
          const auto programme = internal::PinnedProgramme(
              *programmes_, reference.code.empty() ? row.programme : reference.code, reference.version, &sql);
          const auto timers = internal::AllTimers(machine, *programme, row.stage_entered_at,
                                                  internal::ParseInbox(row.inbox));
          sql << kDeleteCaseTimers.text, soci::use(case_id, "case_id");
          for (const auto& timer : timers) {
            const long long due = ToMicros(std::chrono::time_point_cast<std::chrono::microseconds>(timer.due));
            sql << kInsertTimer.text, soci::use(case_id, "case_id"), soci::use(timer.kind, "kind"),
                soci::use(due, "due_at"), soci::use(row.version, "scheduled_version");
          }
        });
        ++rebuilt;
      } catch (const std::exception&) {
        // A case that cannot be restored keeps no timers and is reported as an incident.
        OpenIncident(case_id, "case_unreadable", "");
        spdlog::error("case={} timers not rebuilt: the stored case cannot be restored", case_id);
      }
    }
    after = ids.back();
  }
  return rebuilt;
}

// --- Incidents ---------------------------------------------------------------------------------------

bool CaseRepository::OpenIncident(std::string_view case_id_view, std::string_view kind_view,
                                  std::string_view subject_view) {
  if (!LooksLikeCaseId(case_id_view)) return false;
  const std::string case_id(case_id_view), kind(kind_view), subject(subject_view);
  const std::string incident_id = internal::NewUuid();
  const long long now = ToMicros(database_.Now());
  bool opened = false;
  database_.WriteTransaction("open incident", [&](soci::session& sql) {
    soci::statement statement(sql);
    internal::PrepareOnce(statement, kInsertIncident.text, soci::use(incident_id, "incident_id"),
                          soci::use(kind, "kind"), soci::use(subject, "subject"), soci::use(now, "opened_at"),
                          soci::use(case_id, "case_id"));
    statement.execute(true);
    opened = statement.get_affected_rows() == 1;
    // Those who subscribed to incidents hear of it in the same transaction (nothing if it was open already).
    if (!opened || !subscriptions_) return;
    const auto subscriptions = subscriptions_->Active(&sql);
    if (subscriptions->empty()) return;
    internal::CaseRow row;
    if (!internal::LoadCase(sql, database_.GetBackend(), case_id, /*for_update=*/false, row)) return;
    internal::WriteOutbox(sql, internal::IncidentNotifications(*subscriptions, row, kind, subject, now));
  });
  if (opened) spdlog::warn("case={} incident={} kind={} opened", case_id, incident_id, kind);
  return opened;
}

IncidentPage CaseRepository::Incidents(const IncidentQuery& query) {
  const std::size_t page_size = std::clamp<std::size_t>(query.page_size, 1, kMaxPageSize);
  internal::FilteredQuery filtered;
  if (query.kind) filtered.Where("kind = " + filtered.Bind(*query.kind));
  if (query.office) filtered.Where("office = " + filtered.Bind(*query.office));
  if (query.case_id) filtered.Where("case_id = " + filtered.Bind(*query.case_id));
  if (query.open) filtered.Where(*query.open ? "resolved_at IS NULL" : "resolved_at IS NOT NULL");
  filtered.WhereCountryIn(query.countries_any);
  if (!query.cursor.empty()) {
    const auto position = DecodeCursor(query.cursor);
    if (!position) throw PersistenceError(ErrorKind::kInvalidInput, "incidents: invalid_input (malformed cursor)");
    const auto opened = filtered.Bind(position->created_at);
    const auto opened_again = filtered.Bind(position->created_at);
    filtered.Where("(opened_at > " + opened + " OR (opened_at = " + opened_again + " AND incident_id > " +
                   filtered.Bind(position->case_id) + "))");
  }
  const auto limit = filtered.Bind(static_cast<long long>(page_size + 1));
  const std::string text = "SELECT " RF_INCIDENT_COLUMNS " FROM incidents" + filtered.WhereClause() +
                           " ORDER BY opened_at, incident_id LIMIT " + limit;
  IncidentPage page;
  database_.Read("incidents", [&](soci::session& sql) {
    page.incidents.clear();
    page.next_cursor.clear();
    bool more = false;
    filtered.ForEach(sql, text, [&](const soci::row& columns) {
      if (page.incidents.size() == page_size) {
        more = true;
        return;
      }
      page.incidents.push_back(ReadIncident(columns));
    });
    if (more) {
      const auto& last = page.incidents.back();
      page.next_cursor = EncodeCursor({ToMicros(last.opened_at), last.incident_id});
    }
  });
  return page;
}

std::optional<Incident> CaseRepository::FindIncident(std::string_view incident_id_view) {
  std::optional<Incident> incident;
  if (!LooksLikeCaseId(incident_id_view)) return incident;
  const std::string incident_id(incident_id_view);
  database_.Read("incident", [&](soci::session& sql) {
    incident.reset();
    internal::ForEachRow(sql, kSelectIncident, [&](const soci::row& columns) { incident = ReadIncident(columns); },
                         soci::use(incident_id, "incident_id"));
  });
  return incident;
}

bool CaseRepository::ResolveIncident(std::string_view incident_id_view, std::string_view actor_view) {
  if (!LooksLikeCaseId(incident_id_view)) return false;
  const std::string incident_id(incident_id_view), actor(actor_view);
  const long long now = ToMicros(database_.Now());
  bool resolved = false;
  database_.WriteTransaction("resolve incident", [&](soci::session& sql) {
    soci::statement statement(sql);
    internal::PrepareOnce(statement, kResolveIncident.text, soci::use(now, "resolved_at"),
                          soci::use(actor, "resolved_by"), soci::use(incident_id, "incident_id"));
    statement.execute(true);
    resolved = statement.get_affected_rows() == 1;
  });
  return resolved;
}

std::vector<std::pair<std::string, std::int64_t>> CaseRepository::OpenIncidentsByKind() {
  std::vector<std::pair<std::string, std::int64_t>> counts;
  database_.Read("open incidents by kind", [&](soci::session& sql) {
    counts.clear();
    internal::ForEachRow(sql, kOpenByKind, [&](const soci::row& columns) {
      counts.emplace_back(internal::Text(columns, "kind"), internal::Integer(columns, "open_count"));
    });
  });
  return counts;
}

std::vector<std::pair<std::string, std::int64_t>> CaseRepository::OverdueByKind() {
  std::map<std::string, std::int64_t> counts;
  database_.Read("overdue cases", [&](soci::session& sql) {
    counts.clear();
    internal::ForEachRow(sql, kSelectOverdue, [&](const soci::row& columns) {
      for (const auto& kind : internal::SplitList(internal::Text(columns, "overdue"))) ++counts[kind];
    });
  });
  return {counts.begin(), counts.end()};
}

#undef RF_INCIDENT_COLUMNS

}  // namespace returnflow::persistence
