#pragma once
/// The real program under test: `returnflow` run as a child process (a server or a one-shot command),
/// and an HTTP client whose every exchange has a deadline, for the tests that signal or kill the server.
///
/// Everything here is bounded: each HTTP exchange has a deadline, every wait for the child polls an
/// observable condition against a deadline, and a child still running when its owner goes away (the
/// test passed or a REQUIRE failed) is killed and reaped.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include "persistence/database.hpp"
#include "persistence/repository.hpp"
#include "tests/api/support.hpp"

namespace returnflow::test {

/// A fresh directory under the system temp directory, removed with everything in it on destruction.
class ScratchDirectory {
 public:
  explicit ScratchDirectory(const std::string& prefix);
  ~ScratchDirectory();
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& Path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The database a child server of `backend` uses: a SQLite file in `directory`, or the tests' PostgreSQL
/// (RETURNFLOW_TEST_PG_URL; REQUIREs it is set).
std::string ChildDatabaseUrl(bool sqlite, const std::filesystem::path& directory);

/// A PostgreSQL database of the test's own (PostgresDatabase), migrated by the program, for child servers
/// that move or run their own clocks.
class OwnPostgresDatabase {
 public:
  explicit OwnPostgresDatabase(const std::filesystem::path& directory);
  const std::string& Url() const { return database_.Url(); }

 private:
  PostgresDatabase database_;
};

/// The whole text of a file ("" when it cannot be read).
std::string ReadFile(const std::filesystem::path& path);
/// The last `size` characters of `text`, for failure messages.
std::string Tail(const std::string& text, std::size_t size = 4000);

/// A child process of the test; killed (SIGKILL) and reaped on destruction if still running, so a
/// failing REQUIRE cannot leave a server behind.
class ChildProcess {
 public:
  /// Starts `arguments` (arguments[0] is the program) in `directory`, stdout and stderr to files, with
  /// this process's environment plus `environment` ("NAME=value" entries, replacing those named).
  ChildProcess(const std::vector<std::string>& arguments, const std::filesystem::path& directory,
               const std::filesystem::path& stdout_path, const std::filesystem::path& stderr_path,
               const std::vector<std::string>& environment = {});
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t Pid() const { return pid_; }
  bool Running();
  /// The exit status once the child has exited within `timeout`: its exit code, or -signal when a
  /// signal ended it; nullopt if it is still running then (it keeps running: the destructor kills it).
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  void Signal(int signal_number);
  std::string Stdout() const { return ReadFile(stdout_path_); }
  std::string Stderr() const { return ReadFile(stderr_path_); }

 private:
  std::filesystem::path stdout_path_, stderr_path_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
};

/// An HTTP/1.1 client on one keep-alive connection where every exchange has a deadline (Beast's
/// timeouts, run on the client's own io_context), so a stuck server fails the test instead of hanging it.
class TimedClient {
 public:
  TimedClient(std::uint16_t port, std::string token, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// Status and body; throws boost::system::system_error when the connection fails or times out.
  std::pair<int, std::string> Request(boost::beast::http::verb method, const std::string& target,
                                      const std::string& body = {}, const std::string& content_type = {});

 private:
  void Run();
  void Reset();
  [[noreturn]] void Fail(boost::system::error_code failure);

  std::uint16_t port_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context context_;
  std::optional<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
};

/// Runs `returnflow ...` to completion (bounded) in `directory` and returns its stdout; REQUIREs exit
/// status 0. `label` names the output files.
std::string RunReturnflow(const std::vector<std::string>& arguments, const std::filesystem::path& directory,
                          const std::string& label);

/// Creates a caseworker token for `office` with `returnflow token create` and returns its secret.
std::string CreateCaseworkerToken(const std::string& database, const std::filesystem::path& directory,
                                  const std::string& name, const std::string& office);

/// `returnflow serve --database <database> --listen 127.0.0.1:0` as a child process, started in
/// `directory` (output in <label>.out/.err there) and waited for until it announced its port and
/// answers GET /healthz; REQUIREs both within a bounded time.
class ServeProcess {
 public:
  /// Webhook delivery is off unless `delivery`: the tests share one PostgreSQL database, and a server
  /// delivering would take up the outbox rows of every other test (and of earlier runs).
  ServeProcess(const std::string& database, const std::filesystem::path& directory, const std::string& label,
               const std::vector<std::string>& extra_arguments = {}, bool delivery = false);
  std::uint16_t Port() const { return port_; }
  ChildProcess& Process() { return *process_; }
  /// The tails of stdout and stderr, for failure messages.
  std::string Output() const;
  /// After the process has gone: waits (bounded; REQUIREs) until its PostgreSQL sessions have ended
  /// too. A killed server's backends outlive it and still execute what it sent before dying, so a
  /// pipelined write and COMMIT can commit after the kill; reading the database before they ended
  /// races with that commit. Nothing to wait for on SQLite: a dead process writes nothing more.
  void WaitForDatabaseSessionsToEnd(std::chrono::milliseconds timeout);

 private:
  std::string database_;
  std::string application_name_;  ///< PGAPPNAME of the server's sessions, unique to this process
  std::unique_ptr<ChildProcess> process_;
  std::uint16_t port_ = 0;
};

/// The database a child served, opened directly (one session) to read what it wrote.
struct OpenedDatabase {
  explicit OpenedDatabase(const std::string& url);
  persistence::Database database;
  persistence::CaseRepository cases;
};

/// A referral for one synthetic adult returning from ID to BD, owned by `office`.
boost::json::object Referral(const std::string& office);

/// Creates a case with Referral(office) and brings it to counselling.in_progress, where
/// counselling.session_held is accepted again and again (an internal transition); returns its id.
std::string CreateCaseInCounselling(TimedClient& client, const std::string& office);

/// Posts one event, requiring it to be applied (setup steps).
void PostApplied(TimedClient& client, const std::string& case_id, const std::string& type, boost::json::object data = {});

}  // namespace returnflow::test
