// bench_persistence: throughput of the case repository, next to pgbench running the equivalent SQL.
// Prints figures; not a test. See run.sh for the way the numbers in the report were taken.
//
//   bench_persistence --pg URL [--seconds 5] [--cases 1000000] [--sqlite-dir DIR]
//
// 1. events/s applied through CaseRepository::Apply on PostgreSQL with 1, 4, 8 threads, each thread on
//    its own case; pgbench with the same client counts running a script with the equivalent
//    transaction (lock the case FOR UPDATE, insert the history row, update the case with a version
//    check); the ratio. The same thread counts on SQLite (WAL, synchronous=FULL) alongside.
// 2. apply on a case with 10 history rows vs one with 10,000.
// 3. load + apply on random cases with 1,000 cases vs after a bulk load to --cases cases; size per case.
#include <fmt/format.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_cases.hpp"
#include "persistence/repository.hpp"

using namespace returnflow;
using namespace returnflow::persistence;
using Clock = std::chrono::steady_clock;

namespace {

IncomingEvent Event(const std::string& type, const std::string& data, const std::string& id) {
  workflow::DecodeError error;
  auto event = workflow::DecodeEvent(type, boost::json::parse(data), error);
  if (!event) throw std::runtime_error("bench event does not decode: " + type);
  IncomingEvent incoming{"bench", id, type, data, std::move(*event), {}, std::nullopt, {}, std::nullopt, false};
  incoming.meta = {"bench", *workflow::ParseInstant("2026-02-01T09:00:00Z")};
  return incoming;
}

std::string UniquePrefix() {
  std::random_device device;
  return fmt::format("{:08x}", device());
}

NewCase BenchCase() {
  NewCase new_case;
  new_case.programme = "avrr-bench";
  new_case.office = "office-bench";
  new_case.partners = {"embassy-bd"};
  new_case.context.host_country = "ID";
  new_case.context.origin_country = "BD";
  new_case.context.opened_at = *workflow::ParseInstant("2026-01-05T09:00:00Z");
  new_case.context.household.push_back({"m1", workflow::Relationship::kPrincipal, workflow::Sex::kMale, 1990, {}});
  new_case.people.push_back({"m1", "Test Person", "1", "1990-01-01", {{"passport", "TEST0000001"}}, {}});
  new_case.meta = {"bench", *workflow::ParseInstant("2026-01-05T09:00:00Z")};
  return new_case;
}

/// A case in counselling.in_progress, where counselling.session_held always applies.
std::string CounsellingCase(CaseRepository& cases, const std::string& prefix) {
  const auto id = cases.Create(BenchCase()).case_id;
  cases.Apply(id, Event("eligibility.review_started", "{}", prefix + id + "-1"));
  cases.Apply(id, Event("eligibility.confirmed", R"({"destination_country":"BD"})", prefix + id + "-2"));
  cases.Apply(id, Event("counselling.session_held", "{}", prefix + id + "-3"));
  return id;
}

/// Runs `threads` workers for `seconds`; each calls `step(thread, iteration)`; returns operations/s.
template <typename Step>
double Measure(int threads, double seconds, Step step) {
  std::atomic<long long> operations{0};
  std::atomic<bool> failed{false};
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int thread = 0; thread < threads; ++thread) {
    workers.emplace_back([&, thread] {
      long long iteration = 0;
      try {
        while (Clock::now() < deadline) step(thread, iteration++);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "bench worker failed: %s\n", error.what());
        failed = true;
      }
      operations += iteration;
    });
  }
  for (auto& worker : workers) worker.join();
  if (failed) throw std::runtime_error("a bench worker failed");
  return operations / std::chrono::duration<double>(Clock::now() - start).count();
}

std::string WithSchema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
}

struct PgSchema {
  std::string base_url, schema;
  PgSchema(std::string url, std::string name) : base_url(std::move(url)), schema(std::move(name)) {
    soci::session admin(soci::connection_parameters(*soci::factory_postgresql(), LibpqConnectString(base_url)));
    admin << "CREATE SCHEMA " + schema;
  }
  ~PgSchema() {
    try {
      soci::session admin(soci::connection_parameters(*soci::factory_postgresql(), LibpqConnectString(base_url)));
      admin << "SET client_min_messages TO warning";
      admin << "DROP SCHEMA " + schema + " CASCADE";
    } catch (...) {
    }
  }
  std::string Url() const { return WithSchema(base_url, schema); }
};

double ApplyRate(Database& database, int threads, double seconds, const std::string& prefix) {
  CaseRepository cases(database);
  std::vector<std::string> ids;
  for (int thread = 0; thread < threads; ++thread) ids.push_back(CounsellingCase(cases, prefix));
  return Measure(threads, seconds, [&](int thread, long long iteration) {
    const auto outcome = cases.Apply(
        ids[thread], Event("counselling.session_held", "{}", fmt::format("{}-{}-{}", prefix, thread, iteration)));
    if (!outcome.result.Applied()) throw std::runtime_error("event not applied");
  });
}

/// pgbench with the equivalent transaction on copies of a real case row, one case per client.
double PgbenchRate(const std::string& url, Database& database, int clients, double seconds, const std::string& dir,
                   const char* protocol) {
  CaseRepository cases(database);
  const auto template_id = CounsellingCase(cases, std::string("pgbench-template-") + protocol);
  const auto tag = fmt::format("{}{}", protocol[0], clients);
  {
    auto lease = database.Lease();
    auto& sql = lease.Session();
    for (int client = 0; client < clients; ++client) {
      const auto id = fmt::format("pgbench-{}-{}", tag, client);
      sql << "INSERT INTO cases SELECT '" + id +
                 "', programme, host_country, origin_country, office, partners, stage, "
                 "active_states, saved_state, vulnerability_flags, version, last_sequence, created_at, updated_at, "
                 "stage_entered_at, next_deadline FROM cases WHERE case_id = '" +
                 template_id + "'";
    }
  }
  const auto script_path = dir + fmt::format("/apply-{}.sql", tag);
  std::ofstream script(script_path);
  // The repository's transaction, minus the workflow itself: lock and read the case, insert the
  // history row, write the new saved state with the version check.
  script << "BEGIN;\n"
         << "SELECT version AS v, last_sequence AS s, saved_state AS st FROM cases WHERE case_id = 'pgbench-" << tag
         << "-' || :client_id FOR UPDATE \\gset\n"
         << "INSERT INTO case_events (case_id, sequence, source, event_id, type, actor, occurred_at, recorded_at, "
            "payload, request_hash, verdict, reason, states_before, states_after, changes, allowed_events, "
            "version_after) VALUES ('pgbench-"
         << tag << "-' || :client_id, :s + 1, 'pgbench', 'pgbench-" << tag
         << "-' || :client_id || '-' || (:s + 1), 'counselling.session_held', 'bench', 0, 0, '{}', "
            "'0000000000000000000000000000000000000000000000000000000000000000', 'applied', '', "
            "'|counselling.in_progress|', '|counselling.in_progress|', '|counselling_sessions=2|', "
            "'|counselling.session_held|consent.recorded|case.suspended|consent.withdrawn|case.closed|', :v + 1);\n"
         // updated_at changes on every event, as in the repository: it is indexed, so neither side gets HOT.
         << "UPDATE cases SET version = version + 1, last_sequence = :s + 1, saved_state = :st, "
            "updated_at = updated_at + 1 "
            "WHERE case_id = 'pgbench-"
         << tag << "-' || :client_id AND version = :v;\n"
         << "END;\n";
  script.close();
  const auto output_path = dir + fmt::format("/pgbench-{}.out", tag);
  const auto command = fmt::format("pgbench -n -M {} -c {} -j {} -T {} -f {} '{}' > {} 2>&1", protocol, clients,
                                   clients, static_cast<int>(seconds), script_path, url, output_path);
  if (std::system(command.c_str()) != 0) {
    std::ifstream failed(output_path);
    std::string line;
    while (std::getline(failed, line)) std::fprintf(stderr, "pgbench: %s\n", line.c_str());
    throw std::runtime_error("pgbench failed");
  }
  std::ifstream output(output_path);
  std::string line;
  double tps = 0;
  while (std::getline(output, line)) {
    const auto at = line.find("tps = ");
    if (at != std::string::npos && line.find("without initial connection time") != std::string::npos) {
      tps = std::stod(line.substr(at + 6));
    }
  }
  return tps;
}

void ThroughputSection(const std::string& pg_url, const std::string& sqlite_dir, double seconds,
                       const std::string& work_dir) {
  std::printf("\n== 1. events/s through CaseRepository::Apply, one case per thread ==\n");
  std::printf("pgbench -M prepared caches plans, as the repository's apply path on PostgreSQL does (target: ratio to "
              "prepared >= 0.8); -M extended re-plans each statement, for reference\n");
  std::printf("%-8s %13s %13s %7s %13s %7s %17s\n", "threads", "repo PG ev/s", "pgb prepared", "ratio", "pgb extended",
              "ratio", "repo SQLite ev/s");
  for (const int threads : {1, 4, 8}) {
    PgSchema schema(pg_url, "bench_tp_" + UniquePrefix());
    DatabaseOptions options;
    options.master_keys = returnflow::bench::BenchMasterKeys();
    options.url = schema.Url();
    options.pool_size = threads;
    Database pg(options);
    pg.Migrate();
    const double repo = ApplyRate(pg, threads, seconds, "pg" + std::to_string(threads));
    const double prepared = PgbenchRate(schema.Url(), pg, threads, seconds, work_dir, "prepared");
    const double extended = PgbenchRate(schema.Url(), pg, threads, seconds, work_dir, "extended");

    const auto sqlite_path = fmt::format("{}/bench-{}-{}.db", sqlite_dir, threads, UniquePrefix());
    DatabaseOptions sqlite_options;
    sqlite_options.master_keys = returnflow::bench::BenchMasterKeys();
    sqlite_options.url = "sqlite:" + sqlite_path;
    sqlite_options.pool_size = threads;
    double sqlite = 0;
    {
      Database lite(sqlite_options);
      lite.Migrate();
      sqlite = ApplyRate(lite, threads, seconds, "lite" + std::to_string(threads));
    }
    for (const auto* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(sqlite_path + suffix);
    std::printf("%-8d %13.0f %13.0f %6.2fx %13.0f %6.2fx %17.0f\n", threads, repo, prepared,
                prepared > 0 ? repo / prepared : 0.0, extended, extended > 0 ? repo / extended : 0.0, sqlite);
    std::fflush(stdout);
  }
}

void HistoryLengthSection(const std::string& pg_url, double seconds) {
  std::printf("\n== 2. apply to a case with 10 vs 10,000 history rows (PostgreSQL, 1 thread) ==\n");
  PgSchema schema(pg_url, "bench_hist_" + UniquePrefix());
  DatabaseOptions options;
  options.master_keys = returnflow::bench::BenchMasterKeys();
  options.url = schema.Url();
  options.pool_size = 2;
  Database pg(options);
  pg.Migrate();
  CaseRepository cases(pg);
  const auto short_case = CounsellingCase(cases, "short-");
  const auto long_case = CounsellingCase(cases, "long-");
  for (int index = 0; index < 6; ++index) {
    cases.Apply(short_case, Event("counselling.session_held", "{}", fmt::format("short-fill-{}", index)));
  }
  // 10,000 rows of real history, 500 events per transaction through the group commit path.
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<GroupItem> items;
    for (int index = 0; index < 500; ++index) {
      items.push_back(
          {long_case, Event("counselling.session_held", "{}", fmt::format("long-fill-{}-{}", batch, index))});
    }
    cases.ApplyGroup(items);
  }
  {
    // The fill updated the long case's row 10,000 times in a few seconds; let (auto)vacuum's work be done
    // so the comparison is about history length, not about dead row versions from the fill.
    auto lease = pg.Lease();
    lease.Session() << "VACUUM ANALYZE cases";
    lease.Session() << "VACUUM ANALYZE case_events";
  }
  std::printf("history rows: short case %lld, long case %lld\n",
              static_cast<long long>(cases.Get(short_case).last_sequence),
              static_cast<long long>(cases.Get(long_case).last_sequence));
  double short_rate = 0, long_rate = 0;
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {  // alternate, to even out background noise
    short_rate += Measure(1, seconds / kRounds, [&](int, long long iteration) {
      cases.Apply(short_case, Event("counselling.session_held", "{}", fmt::format("short-{}-{}", round, iteration)));
    });
    long_rate += Measure(1, seconds / kRounds, [&](int, long long iteration) {
      cases.Apply(long_case, Event("counselling.session_held", "{}", fmt::format("long-{}-{}", round, iteration)));
    });
  }
  std::printf("10 rows: %.0f ev/s   10,000 rows: %.0f ev/s   time ratio (10,000 / 10): %.2f (target <= 1.2)\n",
              short_rate / kRounds, long_rate / kRounds, short_rate / long_rate);
}

double LoadApplyRate(CaseRepository& cases, const std::vector<std::string>& ids, int threads, double seconds,
                     const std::string& prefix) {
  return Measure(threads, seconds, [&](int thread, long long iteration) {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    const auto& id = ids[std::uniform_int_distribution<std::size_t>(0, ids.size() - 1)(generator)];
    const auto record = cases.Get(id);
    cases.Apply(id, Event("counselling.session_held", "{}", fmt::format("{}-{}-{}", prefix, thread, iteration)));
  });
}

std::vector<std::string> AllCaseIds(Database& database) {
  std::vector<std::string> ids;
  auto lease = database.Lease();
  std::vector<std::string> batch(10000);
  soci::statement statement = (lease.Session().prepare << "SELECT case_id FROM cases", soci::into(batch));
  statement.execute();
  while (statement.fetch()) ids.insert(ids.end(), batch.begin(), batch.end());
  return ids;
}

void ScaleSection(const std::string& pg_url, double seconds, long long target_cases, int threads) {
  std::printf("\n== 3. load + apply on random cases: 1,000 cases vs %lld cases (PostgreSQL, %d threads) ==\n",
              target_cases, threads);
  PgSchema schema(pg_url, "bench_scale_" + UniquePrefix());
  DatabaseOptions options;
  options.master_keys = returnflow::bench::BenchMasterKeys();
  options.url = schema.Url();
  options.pool_size = threads;
  Database pg(options);
  pg.Migrate();
  CaseRepository cases(pg);
  const auto template_id = CounsellingCase(cases, "scale-template-");

  // Bulk load: copies of the template case and its four history rows, in batches, straight in SQL.
  const auto bulk_load = [&](long long from, long long to) {
    constexpr long long kBatch = 100000;
    const auto started = Clock::now();
    for (long long first = from; first < to; first += kBatch) {
      const long long last = std::min(to, first + kBatch) - 1;
      auto lease = pg.Lease();
      auto& sql = lease.Session();
      sql << "BEGIN";
      sql << fmt::format(
          "INSERT INTO cases SELECT md5('bench-' || i)::uuid::text, programme, host_country, origin_country, office, "
          "partners, stage, active_states, saved_state, vulnerability_flags, version, last_sequence, created_at + i, "
          "updated_at, stage_entered_at, next_deadline FROM cases, generate_series({}, {}) AS i WHERE case_id = '{}'",
          first, last, template_id);
      sql << fmt::format(
          "INSERT INTO case_events SELECT md5('bench-' || i)::uuid::text, sequence, source, event_id || '-' || i, "
          "type, "
          "actor, occurred_at, recorded_at, payload, request_hash, verdict, reason, states_before, states_after, "
          "changes, allowed_events, version_after FROM case_events, generate_series({}, {}) AS i WHERE case_id = '{}'",
          first, last, template_id);
      sql << fmt::format(
          "INSERT INTO case_partners SELECT md5('bench-' || i)::uuid::text, 'embassy-bd' FROM generate_series({}, {}) "
          "AS i",
          first, last);
      sql << "COMMIT";
      std::printf("  bulk load: %lld / %lld cases (%.0f s)\n", last + 1, to,
                  std::chrono::duration<double>(Clock::now() - started).count());
      std::fflush(stdout);
    }
    auto lease = pg.Lease();
    lease.Session() << "ANALYZE";
  };

  bulk_load(0, 1000);
  auto ids = AllCaseIds(pg);
  const double small_rate = LoadApplyRate(cases, ids, threads, seconds, "small");
  std::printf("%zu cases: %.0f load+apply/s\n", ids.size(), small_rate);

  bulk_load(1000, target_cases);
  ids = AllCaseIds(pg);
  const double large_rate = LoadApplyRate(cases, ids, threads, seconds, "large");
  long long bytes = 0, count = 0;
  {
    auto lease = pg.Lease();
    lease.Session() << "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                       "AND c.relkind = 'r'",
        soci::into(bytes);
    lease.Session() << "SELECT COUNT(*) FROM cases", soci::into(count);
  }
  std::printf("%zu cases: %.0f load+apply/s   ratio (1,000 / large): %.2f (target <= 1.5)\n", ids.size(), large_rate,
              small_rate / large_rate);
  std::printf("database size: %.1f MiB for %lld cases = %.0f bytes per case (tables, indexes and TOAST)\n",
              bytes / 1048576.0, count, static_cast<double>(bytes) / static_cast<double>(count));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_persistence: repository throughput vs pgbench, history length, scale"};
  std::string pg_url;
  std::string sqlite_dir = std::filesystem::temp_directory_path().string();
  double seconds = 5;
  long long target_cases = 1000000;
  int scale_threads = 4;
  bool skip_throughput = false, skip_history = false, skip_scale = false;
  app.add_option("--pg", pg_url, "PostgreSQL URL (postgresql://user@host:port/db)")
      ->required()
      ->envname("RETURNFLOW_BENCH_PG_URL");
  app.add_option("--sqlite-dir", sqlite_dir, "directory for the SQLite files (put it on the disk you care about)");
  app.add_option("--seconds", seconds, "duration of each measurement");
  app.add_option("--cases", target_cases, "cases to bulk load for the scale section");
  app.add_option("--scale-threads", scale_threads, "threads for the scale section");
  app.add_flag("--skip-throughput", skip_throughput);
  app.add_flag("--skip-history", skip_history);
  app.add_flag("--skip-scale", skip_scale);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  const auto work_dir = (std::filesystem::temp_directory_path() / ("bench-persistence-" + UniquePrefix())).string();
  std::filesystem::create_directories(work_dir);
  try {
    std::printf("bench_persistence: %u hardware threads, %.0f s per measurement, SQLite files in %s\n",
                std::thread::hardware_concurrency(), seconds, sqlite_dir.c_str());
    if (!skip_throughput) ThroughputSection(pg_url, sqlite_dir, seconds, work_dir);
    if (!skip_history) HistoryLengthSection(pg_url, seconds);
    if (!skip_scale) ScaleSection(pg_url, seconds, target_cases, scale_threads);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_persistence failed: %s\n", error.what());
    std::filesystem::remove_all(work_dir);
    return 1;
  }
  std::filesystem::remove_all(work_dir);
  return 0;
}
