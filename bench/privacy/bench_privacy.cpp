// bench_privacy: what the tamper-evident history costs, on PostgreSQL. Not a test; it prints its figures.
//
//  1. verify: a realistic history of `rows` rows is loaded in bulk: one template case walked through the
//     repository (eligibility, counselling sessions, refusals: what a case's history holds), cloned with
//     fresh case and event ids, each clone's chain hashed in C++ and written with COPY. Then the real
//     program runs `returnflow verify --chains-only` (and, with --full-verify, the replay as well) and the
//     wall time is printed (target: 1,000,000 rows in at most 60 s).
//  2. ingestion: `ingest-cases` cases get one event each from `clients` concurrent callers through
//     Engine::SubmitEvent (group commit, as partners' events go) with history.hash_chain on and off, each
//     on a fresh schema, in the order on, off, on: events/s of each run.
#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bench/bench_cases.hpp"
#include "config/settings.hpp"
#include "engine/engine.hpp"
#include "persistence/case_rows.hpp"
#include "persistence/history_chain.hpp"
#include "persistence/repository.hpp"

using namespace returnflow;
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

/// A URL whose sessions work in `schema` (created here).
std::string InSchema(const std::string& base, const std::string& schema) {
  persistence::DatabaseOptions options;
  options.master_keys = bench::BenchMasterKeys();
  options.url = base;
  options.pool_size = 1;
  persistence::Database admin(options);
  admin.Read("schema", [&](soci::session& sql) {
    sql << "DROP SCHEMA IF EXISTS " + schema + " CASCADE";
    sql << "CREATE SCHEMA " + schema;
  });
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
}

using bench::BenchCase;

void RegisterBenchProgramme(persistence::Database& database) {
  workflow::Programme programme;
  programme.code = "avrr-bench";
  programme.name = "bench";
  persistence::ProgrammeRepository(database).Register(programme);
}

persistence::IncomingEvent Event(const std::string& type, const std::string& data, const std::string& id,
                                 workflow::Instant at) {
  persistence::IncomingEvent incoming;
  incoming.source = "urn:bench";
  incoming.event_id = id;
  incoming.type = type;
  incoming.data_json = data;
  workflow::DecodeError error;
  incoming.event = *workflow::DecodeEvent(type, boost::json::parse(data), error);
  incoming.meta = {"bench-caseworker", at};
  return incoming;
}

/// COPY text format: backslash, tab, newline and carriage return escaped.
void AppendField(std::string& line, std::string_view value) {
  for (const char character : value) {
    switch (character) {
      case '\\': line += "\\\\"; break;
      case '\t': line += "\\t"; break;
      case '\n': line += "\\n"; break;
      case '\r': line += "\\r"; break;
      default: line += character;
    }
  }
}

class CopyIn {
 public:
  CopyIn(soci::session& sql, const std::string& statement)
      : connection_(static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_) {
    PGresult* result = PQexec(connection_, statement.c_str());
    const bool ready = PQresultStatus(result) == PGRES_COPY_IN;
    PQclear(result);
    if (!ready) spdlog::error("bench: COPY did not start: {}", PQerrorMessage(connection_));
    if (!ready) throw std::runtime_error("COPY did not start");
  }
  /// One row; the field at `null_field` (when not -1) is NULL.
  void Row(const std::vector<std::string>& fields, int null_field = -1) {
    for (std::size_t index = 0; index < fields.size(); ++index) {
      if (index > 0) buffer_ += '\t';
      if (static_cast<int>(index) == null_field) {
        buffer_ += "\\N";
      } else {
        AppendField(buffer_, fields[index]);
      }
    }
    buffer_ += '\n';
    if (buffer_.size() > (1 << 20)) Flush();
  }
  void Finish() {
    Flush();
    if (PQputCopyEnd(connection_, nullptr) != 1) throw std::runtime_error("COPY end failed");
    PGresult* result = PQgetResult(connection_);
    const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    while ((result = PQgetResult(connection_)) != nullptr) PQclear(result);
    if (!ok) spdlog::error("bench: COPY failed: {}", PQerrorMessage(connection_));
    if (!ok) throw std::runtime_error("COPY failed");
  }

 private:
  void Flush() {
    if (!buffer_.empty() && PQputCopyData(connection_, buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
      throw std::runtime_error("COPY data failed");
    }
    buffer_.clear();
  }
  PGconn* connection_;
  std::string buffer_;
};

std::string CaseIdOf(std::uint64_t number, std::uint64_t salt) {
  return fmt::format("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", static_cast<std::uint32_t>(salt), number >> 48 & 0xffff,
                     number >> 36 & 0xfff, number >> 24 & 0xfff, number & 0xffffffffffffULL);
}

/// Part 1: loads `rows` history rows (cases of `per_case` rows) and times `returnflow verify`.
void BenchVerify(const std::string& base_url, long long rows, int per_case, bool full_verify) {
  const auto url = InSchema(base_url, "bench_privacy_verify");
  persistence::DatabaseOptions options;
  options.master_keys = bench::BenchMasterKeys();
  options.url = url;
  options.pool_size = 2;
  persistence::Database database(options);
  database.Migrate();
  RegisterBenchProgramme(database);

  // The template: a case walked through the repository, refusals recorded too.
  persistence::CaseRepository cases(database);
  const auto at = std::chrono::floor<std::chrono::seconds>(database.Now());
  const auto template_id = cases.Create(BenchCase(at)).case_id;
  cases.Apply(template_id, Event("eligibility.review_started", "{}", "t-1", at));
  cases.Apply(template_id, Event("eligibility.confirmed", R"({"destination_country":"BD"})", "t-2", at));
  for (int index = 3; index < per_case; ++index) {
    const bool refusal = index % 4 == 0;
    cases.Apply(template_id, Event(refusal ? "travel.departed" : "counselling.session_held", "{}",
                                   fmt::format("t-{}", index), at));
  }
  std::vector<persistence::internal::HistoryRow> history;
  persistence::internal::CaseRow case_row;
  database.Read("template", [&](soci::session& sql) {
    persistence::internal::LoadCase(sql, persistence::Backend::kPostgresql, template_id, false, case_row);
    soci::rowset<soci::row> result = (sql.prepare << "SELECT " RETURNFLOW_HISTORY_COLUMNS
                                                     " FROM case_events WHERE case_id = :id ORDER BY sequence",
                                      soci::use(template_id, "id"));
    for (const auto& columns : result) {
      persistence::internal::HistoryRow row;
      persistence::internal::ReadHistoryRow(columns, row);
      history.push_back(std::move(row));
    }
  });
  const long long clones = std::max<long long>(0, rows / static_cast<long long>(history.size()) - 1);
  fmt::print("verify: template case of {} rows, {} clones ({} rows in all)\n", history.size(), clones,
             (clones + 1) * static_cast<long long>(history.size()));

  const auto load_from = Clock::now();
  const std::uint64_t salt = std::random_device{}();
  constexpr long long kPerTransaction = 5'000;
  for (long long first = 0; first < clones; first += kPerTransaction) {
    const long long last = std::min(clones, first + kPerTransaction);
    // The clones' rows chained here; their cases (with the heads) are copied first, for the foreign key.
    std::vector<std::vector<std::string>> event_rows;
    std::vector<std::pair<std::string, std::string>> heads;  // (case id, head)
    for (long long clone = first; clone < last; ++clone) {
      const auto case_id = CaseIdOf(static_cast<std::uint64_t>(clone), salt);
      std::string head;
      for (auto row : history) {
        row.case_id = case_id;
        row.event_id += fmt::format("-{}", clone);
        persistence::ChainRow(head, row);
        event_rows.push_back({row.case_id, std::to_string(row.sequence), row.source, row.event_id, row.type, row.actor,
                              std::to_string(row.occurred_at), std::to_string(row.recorded_at), row.payload,
                              row.request_hash, row.verdict, row.reason, row.states_before, row.states_after,
                              row.changes, row.allowed_events, std::to_string(row.version_after), row.hash,
                              row.prev_hash});
      }
      heads.emplace_back(case_id, head);
    }
    database.WriteTransaction("bench load", [&](soci::session& sql) {
      CopyIn copies(sql, "COPY cases (" RETURNFLOW_CASE_COLUMNS ") FROM STDIN");
      const auto& c = case_row;
      for (const auto& [case_id, head] : heads) {
        copies.Row({case_id, c.programme, c.host_country, c.origin_country, c.office, c.partners, c.stage,
                    c.active_states, c.saved_state, std::to_string(c.vulnerability_flags), std::to_string(c.version),
                    std::to_string(c.last_sequence), std::to_string(c.created_at), std::to_string(c.updated_at),
                    std::to_string(c.stage_entered_at), c.has_next_deadline ? std::to_string(c.next_deadline) : "",
                    c.overdue, c.inbox, head},
                   c.has_next_deadline ? -1 : 15);
      }
      copies.Finish();
      CopyIn events(sql, "COPY case_events (" RETURNFLOW_HISTORY_COLUMNS ") FROM STDIN");
      for (const auto& row : event_rows) events.Row(row);
      events.Finish();
    });
  }
  database.Read("analyze", [](soci::session& sql) { sql << "VACUUM ANALYZE"; });
  fmt::print("verify: loaded in {:.1f}s\n", Seconds(Clock::now() - load_from));

  const auto run = [&](const std::string& arguments, const char* label) {
    const auto command = fmt::format("{} verify {} --database '{}' > /dev/null", RETURNFLOW_BINARY, arguments, url);
    const auto from = Clock::now();
    const int status = std::system(command.c_str());
    const double seconds = Seconds(Clock::now() - from);
    const long long total = (clones + 1) * static_cast<long long>(history.size());
    fmt::print("verify: {:<28} {:>7.1f}s  {:>9.0f} rows/s  (exit {}; 1,000,000 rows at this rate: {:.1f}s)\n", label,
               seconds, static_cast<double>(total) / seconds, WEXITSTATUS(status),
               1'000'000.0 / (static_cast<double>(total) / seconds));
  };
  run("--chains-only", "chains and checkpoints");
  if (full_verify) run("", "replay, chains, checkpoints");
}

/// Part 2: events/s through the engine with hash chaining on or off.
double BenchIngest(const std::string& base_url, bool hash_chain, int ingest_cases, int clients, int round) {
  const auto url = InSchema(base_url, fmt::format("bench_privacy_ingest_{}", round));
  config::Settings settings;
  settings.database.url = url;
  settings.database.pool_size = 8;
  settings.scheduler.enabled = false;
  settings.history.hash_chain = hash_chain;
  settings.history.checkpoint_interval = std::chrono::milliseconds(0);
  settings.history.signing_key.clear();
  persistence::DatabaseOptions options;
  options.master_keys = bench::BenchMasterKeys();
  options.url = url;
  options.pool_size = 8;
  options.history_hash_chain = hash_chain;
  persistence::Database database(options);
  database.Migrate();
  RegisterBenchProgramme(database);
  net::thread_pool workers(4);
  engine::Engine engine(database, settings, workers, nullptr);

  persistence::CaseRepository cases(database);
  const auto at = std::chrono::floor<std::chrono::seconds>(database.Now());
  std::vector<std::string> ids(static_cast<std::size_t>(ingest_cases));
  {
    std::atomic<int> next{0};
    std::vector<std::thread> creators;
    for (int creator = 0; creator < 8; ++creator) {
      creators.emplace_back([&] {
        for (int index = next++; index < ingest_cases; index = next++) {
          ids[static_cast<std::size_t>(index)] = cases.Create(BenchCase(at)).case_id;
        }
      });
    }
    for (auto& creator : creators) creator.join();
  }
  engine::Principal principal;
  principal.actor = "bench";
  principal.role = workflow::Role::kCaseworker;
  principal.office = "office-bench";
  principal.sources = {"urn:bench"};

  net::io_context context;
  std::atomic<std::size_t> next{0}, sent{0};
  const auto started = Clock::now();
  for (int client = 0; client < clients; ++client) {
    net::co_spawn(context, [&, client]() -> net::awaitable<void> {
      for (;;) {
        const auto index = next.fetch_add(1);
        if (index >= ids.size()) co_return;
        engine::EventEnvelope event;
        event.id = fmt::format("ingest-{}-{}", ids[index], client);
        event.source = "urn:bench";
        event.type = "eligibility.review_started";
        event.subject = ids[index];
        event.time = at;
        auto submit = engine.SubmitEvent(principal, std::move(event), std::nullopt);
        auto result = co_await std::move(submit);
        if (result.failure) spdlog::warn("bench: event failed: {}", result.failure->what());
        ++sent;
      }
    }, net::detached);
  }
  std::vector<std::thread> threads;
  for (int index = 0; index < 2; ++index) threads.emplace_back([&] { context.run(); });
  for (auto& thread : threads) thread.join();
  const double rate = static_cast<double>(sent.load()) / Seconds(Clock::now() - started);
  workers.join();
  fmt::print("ingest: hash_chain={:<5} {:>8.0f} events/s  ({} events, {} clients)\n", hash_chain ? "true" : "false",
             rate, sent.load(), clients);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_privacy: chain verification and ingestion with hash chaining on and off (PostgreSQL)"};
  std::string pg;
  long long rows = 1'000'000;
  int per_case = 20, ingest_cases = 20'000, clients = 32;
  bool full_verify = false;
  app.add_option("--pg", pg, "PostgreSQL URL (bench/privacy/run.sh starts a throwaway cluster)")->required();
  app.add_option("--rows", rows, "history rows to load and verify (0: skip)");
  app.add_option("--rows-per-case", per_case, "history rows per case (at least 4)");
  app.add_option("--ingest-cases", ingest_cases, "events per ingestion run (0: skip)");
  app.add_option("--clients", clients, "concurrent event senders");
  app.add_flag("--full-verify", full_verify, "also time the whole `returnflow verify` (replay included)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  if (rows > 0) BenchVerify(pg, rows, std::max(4, per_case), full_verify);
  if (ingest_cases > 0) {
    const double on = BenchIngest(pg, true, ingest_cases, clients, 1);
    const double off = BenchIngest(pg, false, ingest_cases, clients, 2);
    const double on_again = BenchIngest(pg, true, ingest_cases, clients, 3);
    fmt::print("ingest: with the chain {:.2f}x the rate without (mean of the two runs with it)\n",
               (on + on_again) / 2 / off);
  }
  return 0;
}
