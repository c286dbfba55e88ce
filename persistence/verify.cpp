#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <map>

#include "persistence/apply_plan.hpp"

#include "persistence/case_rows.hpp"
#include "persistence/internal.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {
namespace {

struct StoredEvent {
  long long sequence = 0;
  std::string type, actor, payload, verdict;
  long long occurred_at = 0, recorded_at = 0;
};

/// The programme versions a replay needs: the version a case is pinned to, and the latest version at
/// the time an event was recorded (whose unsafe-destination list the eligibility decision read).
class ProgrammeTimeline {
 public:
  explicit ProgrammeTimeline(ProgrammeRepository& programmes) : programmes_(programmes) {}

  std::shared_ptr<const workflow::Programme> Pinned(const std::string& code, int version) {
    return internal::PinnedProgramme(programmes_, code, version);
  }
  /// The latest version registered at or before `recorded_at` (none: the pinned one decides).
  const workflow::Programme* LatestAt(const std::string& code, long long recorded_at) {
    auto found = versions_.find(code);
    if (found == versions_.end()) found = versions_.emplace(code, programmes_.Versions(code)).first;
    const workflow::Programme* latest = nullptr;
    for (const auto& version : found->second) {
      if (internal::ToMicros(version.registered_at) <= recorded_at) latest = &version.programme;
    }
    return latest;
  }

 private:
  ProgrammeRepository& programmes_;
  std::map<std::string, std::vector<ProgrammeVersion>> versions_;
};

/// Replays one case; returns a description of the first difference, or nothing.
std::optional<std::string> Replay(const internal::CaseRow& row, const std::vector<StoredEvent>& events,
                                  ProgrammeTimeline& programmes, std::int64_t& events_replayed) {
  if (events.empty() || events.front().type != "case.opened") return "history does not start with case.opened";
  if (static_cast<long long>(events.size()) != row.last_sequence) {
    return fmt::format("history has {} rows, the case says {}", events.size(), row.last_sequence);
  }
  std::optional<workflow::Case> machine;
  try {
    machine.emplace(
        workflow::Case::Open(boost::json::value_to<workflow::CaseContext>(boost::json::parse(events.front().payload))));
  } catch (const std::exception&) {
    return "initial context cannot be read";
  }
  long long applied = 1;
  for (std::size_t index = 1; index < events.size(); ++index) {
    const auto& stored = events[index];
    if (stored.sequence != static_cast<long long>(index) + 1)
      return fmt::format("sequence gap before {}", stored.sequence);
    // The engine's own records (a partner assigned or unassigned, a consent recorded or withdrawn) change
    // the case's version, not its machine.
    if (stored.type == "case.partner_assigned" || stored.type == "case.partner_unassigned" ||
        stored.type == "case.consent_recorded" || stored.type == "case.consent_withdrawn") {
      if (stored.verdict == "applied") ++applied;
      continue;
    }
    // An event deferred to the case's inbox, or one that expired there, did not reach the machine then;
    // a deferred event that applied later has a row of its own where it did.
    if (stored.verdict == "deferred" || stored.verdict == "expired") continue;
    workflow::DecodeError error;
    boost::system::error_code parse_error;
    const auto data = boost::json::parse(stored.payload, parse_error);
    if (parse_error) return fmt::format("event {} payload is not JSON", stored.sequence);
    const auto event = workflow::DecodeEvent(stored.type, data, error);
    if (!event) return fmt::format("event {} ({}) no longer decodes: {}", stored.sequence, stored.type, error.detail);
    const auto& reference = machine->Context().programme;
    const std::string code = reference.code.empty() ? row.programme : reference.code;
    const auto pinned = programmes.Pinned(code, reference.version);
    workflow::EventMeta meta{stored.actor,
                             std::chrono::floor<std::chrono::seconds>(internal::FromMicros(stored.occurred_at)),
                             pinned.get(), programmes.LatestAt(code, stored.recorded_at)};
    const auto result = machine->Apply(*event, meta);
    ++events_replayed;
    if (workflow::Name(result.verdict) != stored.verdict) {
      return fmt::format("event {} ({}) now {}, recorded {}", stored.sequence, stored.type,
                         workflow::Name(result.verdict), stored.verdict);
    }
    if (result.Applied()) ++applied;
  }
  if (applied != row.version) return fmt::format("{} applied events, the case version is {}", applied, row.version);
  boost::system::error_code parse_error;
  const auto saved = boost::json::parse(row.saved_state, parse_error);
  if (parse_error) return "saved state is not JSON";
  if (saved != machine->SaveJson()) return "saved state differs from the replayed history";
  if (machine->Stage() != row.stage)
    return fmt::format("stage column {} differs from replayed {}", row.stage, machine->Stage());
  if (internal::JoinList(machine->ActiveStates()) != row.active_states)
    return "active-state column differs from replay";
  return std::nullopt;
}

// :case_id, :last -> the history rows a replay reads, oldest first.
constexpr internal::Query kSelectReplay{"select replay",
                                        "SELECT " RETURNFLOW_HISTORY_COLUMNS " FROM case_events WHERE case_id = :case_id "
                                        "AND sequence <= :last ORDER BY sequence"};
// :after, :limit -> the next case ids in id order.
constexpr internal::Query kSelectCaseIds{"select case ids",
                                         "SELECT case_id FROM cases WHERE case_id > :after ORDER BY case_id LIMIT :limit"};

std::optional<VerifyMismatch> VerifyOne(Database& database, ProgrammeTimeline& programmes, const std::string& case_id,
                                        std::int64_t& events_replayed) {
  internal::CaseRow row;
  std::vector<StoredEvent> events;
  bool found = false;
  database.Read("verify", [&](soci::session& sql) {
    events.clear();
    found = internal::LoadCase(sql, database.GetBackend(), case_id, /*for_update=*/false, row);
    if (!found) return;
    // Rows up to the case row's last_sequence were committed with (or before) the state just read.
    internal::ForEachRow(sql, kSelectReplay, [&](const soci::row& columns) {
      internal::HistoryRow stored;
      internal::ReadHistoryRow(columns, stored);
      events.push_back({stored.sequence, stored.type, stored.actor, stored.payload, stored.verdict, stored.occurred_at,
                        stored.recorded_at});
    }, soci::use(case_id, "case_id"), soci::use(row.last_sequence, "last"));
  });
  if (!found) throw PersistenceError(ErrorKind::kNotFound, fmt::format("verify case={}: not_found", case_id));
  std::optional<std::string> difference;
  try {
    difference = Replay(row, events, programmes, events_replayed);
  } catch (const std::exception&) {
    difference = "replay failed";
  }
  if (!difference) return std::nullopt;
  spdlog::warn("verify case={}: {}", case_id, *difference);
  return VerifyMismatch{case_id, *difference};
}

}  // namespace

std::optional<VerifyMismatch> VerifyCase(Database& database, std::string_view case_id) {
  std::int64_t events_replayed = 0;
  ProgrammeRepository repository(database);
  ProgrammeTimeline programmes(repository);
  return VerifyOne(database, programmes, std::string(case_id), events_replayed);
}

VerifyReport VerifyAllCases(Database& database) {
  VerifyReport report;
  ProgrammeRepository repository(database);
  ProgrammeTimeline programmes(repository);
  std::string after;
  for (;;) {
    constexpr std::size_t kBatch = 500;
    std::vector<std::string> ids;
    database.Read("verify", [&](soci::session& sql) {
      ids.clear();
      const long long limit = kBatch;
      internal::ForEachRow(sql, kSelectCaseIds, [&](const soci::row& columns) {
        ids.push_back(internal::Text(columns, "case_id"));
      }, soci::use(after, "after"), soci::use(limit, "limit"));
    });
    for (const auto& case_id : ids) {
      ++report.cases_checked;
      if (auto mismatch = VerifyOne(database, programmes, case_id, report.events_replayed)) report.mismatches.push_back(*mismatch);
    }
    if (ids.size() < kBatch) break;
    after = ids.back();
  }
  return report;
}

}  // namespace returnflow::persistence
