// bench_timers: the engine's clock under load, side by side with partner events, on PostgreSQL and
// SQLite. Not a test; it prints its figures.
//
//  1. group commit: `clients` concurrent callers each send one event per case (eligibility.review_started)
//     through Engine::SubmitEvent, the path partner events take: events/s.
//  2. drain: the engine's clock is moved 8 days, so every case's eligibility deadline is due at once;
//     the scheduler fires them all (Drain) while `clients` callers keep sending events at half the
//     group-commit rate: timers/s, the drain rate as a ratio of (1), and the callers' p50/p99 latency
//     while draining next to their latency alone.
//  3. lateness: `paced` cases whose deadlines fall due 200 per second in real time, fired by the running
//     scheduler loop (poll interval 100 ms) while `clients` callers keep sending events at half the
//     group-commit rate: p50/p99 of recorded_at - due, from the cases' histories, and the callers' p99.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bench/bench_cases.hpp"
#include "config/settings.hpp"
#include "engine/engine.hpp"
#include "persistence/repository.hpp"

using namespace returnflow;
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

using bench::BenchCase;

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(p * static_cast<double>(values.size() - 1))];
}

struct Backend {
  std::string label;
  std::string url;
};

class Bench {
 public:
  Bench(const Backend& backend, int cases, int clients, int paced, const config::SchedulerSettings& clock)
      : cases_(cases), clients_(clients), paced_(paced) {
    settings_.scheduler = clock;
    settings_.database.url = backend.url;
    settings_.database.pool_size = 8;
    settings_.testing_clock = true;
    settings_.scheduler.enabled = false;  // phase 3 starts it
    persistence::DatabaseOptions options;
    options.master_keys = bench::BenchMasterKeys();
    options.url = persistence::NormaliseDatabaseUrl(backend.url);
    options.pool_size = 8;
    database_ = std::make_unique<persistence::Database>(options);
    database_->Migrate();
    workers_ = std::make_unique<net::thread_pool>(4);
    engine_ = std::make_unique<engine::Engine>(*database_, settings_, *workers_, nullptr);
    workflow::Programme programme;
    programme.code = "avrr-bench";
    programme.name = "bench";
    persistence::ProgrammeRepository(*database_).Register(programme);
    principal_.actor = "bench";
    principal_.role = workflow::Role::kCaseworker;
    principal_.office = "office-bench";
    principal_.sources = {"urn:bench"};
  }
  ~Bench() {
    engine_->StopClock();
    workers_->join();
  }

  void Run(const std::string& label) {
    persistence::CaseRepository cases(*database_);
    const auto now = std::chrono::floor<std::chrono::seconds>(database_->Now());
    const auto created_from = Clock::now();
    auto ids = CreateCases(cases, cases_, [now](int) { return BenchCase(now); });
    fmt::print("{}: {} cases created in {:.1f}s\n", label, cases_, Seconds(Clock::now() - created_from));

    // 1. Partner-style events, alone.
    std::vector<double> alone;
    const double event_rate = SendEvents(ids, "eligibility.review_started", 0, alone);
    fmt::print("{}: group commit  {:>8.0f} events/s   ({} clients; p50 {:.1f} ms, p99 {:.1f} ms)\n", label, event_rate,
               clients_, Percentile(alone, 0.5), Percentile(alone, 0.99));

    // 2. Every deadline due at once; the clock drains while callers send at half that rate.
    database_->AdvanceClock(std::chrono::hours(24 * 8));
    std::atomic<bool> draining{true};
    std::vector<double> during;
    // Partners' events concern cases in no particular order, not the clock's order (by due time, then as
    // stored): sent in the clock's order, every event would meet its case in a firing group in flight.
    auto shuffled = ids;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(20261202));
    std::thread callers([&] { SendEvents(shuffled, "counselling.session_held", event_rate / 2, during, &draining); });
    const auto drain_from = Clock::now();
    auto drain = net::co_spawn(context_, engine_->AdvanceClock(Admin(), std::chrono::seconds(0)), net::use_future);
    RunContext();
    const auto fired = drain.get().fired;
    const double drain_seconds = Seconds(Clock::now() - drain_from);
    draining = false;
    callers.join();
    fmt::print("{}: drain         {:>8.0f} timers/s   ({} fired in {:.1f}s; {:.2f}x the group-commit rate)\n", label,
               static_cast<double>(fired) / drain_seconds, fired, drain_seconds,
               static_cast<double>(fired) / drain_seconds / event_rate);
    fmt::print("{}: events while draining at half rate: p50 {:.1f} ms, p99 {:.1f} ms (alone: p50 {:.1f}, p99 {:.1f})\n",
               label, Percentile(during, 0.5), Percentile(during, 0.99), Percentile(alone, 0.5),
               Percentile(alone, 0.99));

    // 3. Deadlines falling due 200 per second, fired by the scheduler's own loop.
    const auto base = std::chrono::floor<std::chrono::seconds>(database_->Now()) - std::chrono::days(7) +
                      std::chrono::seconds(5);
    const auto paced = CreateCases(cases, paced_, [base](int index) {
      return BenchCase(std::chrono::floor<std::chrono::seconds>(base + std::chrono::milliseconds(5 * index)));
    });
    settings_.scheduler.enabled = true;
    engine_->StartClock();
    std::atomic<bool> pacing{true};
    std::vector<double> loaded;
    std::thread load([&] { SendEvents(shuffled, "counselling.session_held", event_rate / 2, loaded, &pacing, "paced"); });
    const auto last_due = base + std::chrono::days(7) + std::chrono::milliseconds(5 * paced_);
    while (database_->Now() < last_due + std::chrono::seconds(2)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    pacing = false;
    load.join();
    engine_->StopClock();
    std::vector<double> lateness;
    for (const auto& id : paced) {
      for (const auto& entry : cases.History(id, 0, 50)) {
        if (entry.source != "returnflow:clock") continue;
        lateness.push_back(std::chrono::duration<double, std::milli>(entry.recorded_at - entry.occurred_at).count());
      }
    }
    fmt::print("{}: lateness at 200 timers/s: {} fired, p50 {:.0f} ms, p99 {:.0f} ms (poll interval {} ms; due times "
               "are whole seconds; events meanwhile at half rate: {} sent, p99 {:.1f} ms)\n",
               label, lateness.size(), Percentile(lateness, 0.5), Percentile(lateness, 0.99),
               settings_.scheduler.poll_interval.count(), loaded.size(), Percentile(loaded, 0.99));
  }

 private:
  static double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

  engine::Principal Admin() const {
    engine::Principal admin;
    admin.actor = "bench-admin";
    admin.role = workflow::Role::kAdmin;
    return admin;
  }

  /// Creates `count` cases from `make(index)`, one creator per database connection.
  template <typename Make>
  std::vector<std::string> CreateCases(persistence::CaseRepository& cases, int count, Make make) {
    std::vector<std::string> ids(static_cast<std::size_t>(count));
    std::atomic<int> next{0};
    std::vector<std::thread> creators;
    for (int creator = 0; creator < static_cast<int>(database_->PoolSize()); ++creator) {
      creators.emplace_back([&] {
        for (int index = next++; index < count; index = next++) {
          ids[static_cast<std::size_t>(index)] = cases.Create(make(index)).case_id;
        }
      });
    }
    for (auto& creator : creators) creator.join();
    return ids;
  }

  void RunContext() {
    context_.restart();
    std::vector<std::thread> threads;
    for (int index = 0; index < 2; ++index) threads.emplace_back([this] { context_.run(); });
    for (auto& thread : threads) thread.join();
  }

  /// Sends one event of `type` to each case from `clients_` callers; paced to `rate` events/s when > 0,
  /// until `keep_going` turns false (when given). Returns events/s; appends each latency in ms.
  double SendEvents(const std::vector<std::string>& ids, const std::string& type, double rate,
                    std::vector<double>& latencies, std::atomic<bool>* keep_going = nullptr,
                    std::string_view tag = "") {
    net::io_context context;
    std::atomic<std::size_t> next{0};
    std::mutex mutex;
    const auto started = Clock::now();
    std::atomic<std::size_t> sent{0};
    for (int client = 0; client < clients_; ++client) {
      net::co_spawn(context, [&, client]() -> net::awaitable<void> {
        net::steady_timer pace(co_await net::this_coro::executor);
        for (;;) {
          const auto index = next.fetch_add(1);
          if (index >= ids.size() || (keep_going && !*keep_going)) co_return;
          if (rate > 0) {
            pace.expires_at(started + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(static_cast<double>(index) / rate)));
            co_await pace.async_wait(net::use_awaitable);
          }
          engine::EventEnvelope event;
          event.id = fmt::format("{}{}-{}-{}", tag, type, ids[index], client);
          event.source = "urn:bench";
          event.type = type;
          event.subject = ids[index];
          event.time = std::chrono::floor<std::chrono::seconds>(database_->Now());
          const auto from = Clock::now();
          auto submit = engine_->SubmitEvent(principal_, std::move(event), std::nullopt);
          auto result = co_await std::move(submit);
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - from).count();
          if (result.failure) spdlog::warn("bench: event failed: {}", result.failure->what());
          ++sent;
          std::lock_guard lock(mutex);
          latencies.push_back(ms);
        }
      }, net::detached);
    }
    std::vector<std::thread> threads;
    for (int index = 0; index < 2; ++index) threads.emplace_back([&] { context.run(); });
    for (auto& thread : threads) thread.join();
    return static_cast<double>(sent.load()) / Seconds(Clock::now() - started);
  }

  int cases_, clients_, paced_;
  config::Settings settings_;
  std::unique_ptr<persistence::Database> database_;
  std::unique_ptr<net::thread_pool> workers_;
  std::unique_ptr<engine::Engine> engine_;
  engine::Principal principal_;
  net::io_context context_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_timers: the engine's clock under load, next to the group-commit rate of partner events"};
  std::string pg, sqlite_dir;
  int cases = 100'000, sqlite_cases = 20'000, clients = 32, paced = 2'000;
  config::SchedulerSettings clock;
  app.add_option("--pg", pg, "PostgreSQL URL (bench/timers/run.sh starts a throwaway cluster)");
  app.add_option("--sqlite-dir", sqlite_dir, "directory for the SQLite file (empty: skip SQLite)");
  app.add_option("--cases", cases, "cases with a due timer, PostgreSQL");
  app.add_option("--sqlite-cases", sqlite_cases, "cases with a due timer, SQLite");
  app.add_option("--clients", clients, "concurrent event senders");
  app.add_option("--paced", paced, "cases whose deadlines fall due 200/s (lateness)");
  app.add_option("--clock-groups", clock.max_groups_in_flight, "scheduler.max_groups_in_flight (default: the engine's)");
  app.add_option("--clock-group-size", clock.group_size, "scheduler.group_size (default: the engine's)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  if (!pg.empty()) {
    Bench bench({"postgresql", pg}, cases, clients, paced, clock);
    bench.Run("postgresql");
  }
  if (!sqlite_dir.empty() && sqlite_cases > 0) {
    Bench bench({"sqlite", "sqlite:" + sqlite_dir + "/timers.db"}, sqlite_cases, clients, paced, clock);
    bench.Run("sqlite");
  }
  return 0;
}
