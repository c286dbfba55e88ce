// Graceful shutdown of the real program: `returnflow serve` as a child process, SIGTERM while clients
// post events over keep-alive, then the exit status and the durability of every acknowledged event.
//
// Everything here is bounded: each HTTP exchange has a deadline, every wait for the child polls against
// a deadline, and a child still running when the test ends (pass or fail) is killed and reaped.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "persistence/database.hpp"
#include "persistence/repository.hpp"
#include "tests/api/support.hpp"

#ifndef RETURNFLOW_BINARY
#error "RETURNFLOW_BINARY (the path of the built returnflow program) must be defined by CMake"
#endif

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using namespace returnflow;

namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Tail(const std::string& text, std::size_t size = 4000) {
  return text.size() <= size ? text : text.substr(text.size() - size);
}

/// A child process of the test; killed (SIGKILL) and reaped on destruction if still running, so a
/// failing REQUIRE cannot leave a server behind.
class ChildProcess {
 public:
  /// Starts `arguments` (arguments[0] is the program) in `directory`, stdout and stderr to files.
  ChildProcess(const std::vector<std::string>& arguments, const std::filesystem::path& directory,
               const std::filesystem::path& stdout_path, const std::filesystem::path& stderr_path)
      : stdout_path_(stdout_path), stderr_path_(stderr_path) {
    std::vector<char*> argv;
    for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    // Prepared before fork: between fork and exec only async-signal-safe calls are allowed.
    const std::string directory_text = directory.string();
    const std::string out_text = stdout_path.string();
    const std::string err_text = stderr_path.string();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int out = ::open(out_text.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = ::open(err_text.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int null = ::open("/dev/null", O_RDONLY);
      if (out < 0 || err < 0 || null < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0 || ::dup2(null, 0) < 0 ||
          ::chdir(directory_text.c_str()) != 0) {
        ::_exit(127);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (Running()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
    }
  }

  pid_t Pid() const { return pid_; }
  bool Running() {
    if (exited_) return false;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
    return !exited_;
  }
  /// The exit status once the child has exited by itself within `timeout`; nullopt if it is still
  /// running then (it keeps running: the destructor kills it) or died from a signal (-signal).
  std::optional<int> WaitExit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Running()) {
      if (Clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    return -WTERMSIG(status_);
  }
  void Signal(int signal_number) {
    if (Running()) ::kill(pid_, signal_number);
  }
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
  TimedClient(std::uint16_t port, std::string token, std::chrono::milliseconds timeout = 10s)
      : port_(port), token_(std::move(token)), timeout_(timeout) {}

  /// Status and body; throws boost::system::system_error when the connection fails or times out.
  std::pair<int, std::string> Request(http::verb method, const std::string& target, const std::string& body = {},
                                      const std::string& content_type = {}) {
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.keep_alive(true);
    if (!token_.empty()) request.set(http::field::authorization, "Bearer " + token_);
    if (!content_type.empty()) request.set(http::field::content_type, content_type);
    request.body() = body;
    request.prepare_payload();
    http::response<http::string_body> response;
    boost::system::error_code failure;
    if (!stream_) {
      stream_.emplace(context_);
      stream_->expires_after(timeout_);
      stream_->async_connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_),
                             [&](boost::system::error_code ec) { failure = ec; });
      Run();
      if (failure) Fail(failure);
    }
    stream_->expires_after(timeout_);
    http::async_write(*stream_, request, [&](boost::system::error_code ec, std::size_t) {
      if (ec) {
        failure = ec;
        return;
      }
      http::async_read(*stream_, buffer_, response, [&](boost::system::error_code read_ec, std::size_t) { failure = read_ec; });
    });
    Run();
    if (failure) Fail(failure);
    if (!response.keep_alive()) Reset();
    return {static_cast<int>(response.result_int()), std::move(response.body())};
  }

 private:
  void Run() {
    context_.restart();
    context_.run();
  }
  void Reset() {
    stream_.reset();
    buffer_.clear();
  }
  [[noreturn]] void Fail(boost::system::error_code failure) {
    Reset();
    throw boost::system::system_error(failure);
  }

  std::uint16_t port_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context context_;
  std::optional<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
};

/// Runs `returnflow ...` to completion (bounded) and returns its stdout; REQUIREs exit status 0.
std::string RunReturnflow(const std::vector<std::string>& arguments, const std::filesystem::path& directory,
                          const std::string& label) {
  std::vector<std::string> argv{RETURNFLOW_BINARY};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  ChildProcess child(argv, directory, directory / (label + ".out"), directory / (label + ".err"));
  auto status = child.WaitExit(60s);
  INFO("returnflow " << label << " stderr: " << child.Stderr());
  REQUIRE(status == 0);
  return child.Stdout();
}

/// Polls the server's stdout for the line announcing the bound port (--listen 127.0.0.1:0).
std::uint16_t WaitForPort(ChildProcess& server, std::chrono::milliseconds timeout) {
  static const std::regex kListening(R"(returnflow listening on http://127\.0\.0\.1:(\d+))");
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::smatch match;
    const std::string text = server.Stdout();
    if (std::regex_search(text, match, kListening)) return static_cast<std::uint16_t>(std::stoi(match[1].str()));
    if (!server.Running()) break;
    std::this_thread::sleep_for(20ms);
  }
  INFO("serve stdout: " << Tail(server.Stdout()) << "\nserve stderr: " << Tail(server.Stderr()));
  FAIL("returnflow serve did not announce a port in time");
  return 0;
}

/// Polls GET /healthz until it answers 200 (bounded).
void WaitForHealthy(ChildProcess& server, std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline && server.Running()) {
    try {
      TimedClient client(port, {}, 1s);
      if (client.Request(http::verb::get, "/healthz").first == 200) return;
    } catch (const boost::system::system_error&) {
      // not accepting yet
    }
    std::this_thread::sleep_for(20ms);
  }
  INFO("serve stdout: " << Tail(server.Stdout()) << "\nserve stderr: " << Tail(server.Stderr()));
  FAIL("returnflow serve did not become healthy in time");
}

json::object Referral(const std::string& office) {
  return {{"programme", "avrr-test"},
          {"office", office},
          {"host_country", "ID"},
          {"origin_country", "BD"},
          {"partners", json::array{"embassy-test"}},
          {"received_at", "2026-11-01T09:00:00Z"},
          {"household",
           {{{"relationship", "principal"},
             {"sex", "female"},
             {"vulnerabilities", json::array()},
             {"personal_data", {{"given_names", "Synthetic"}, {"family_name", "Person"}, {"date_of_birth", "1991-04-02"}}}}}}};
}

/// Posts one event, requiring it to be applied (setup steps, before the signal).
void PostApplied(TimedClient& client, const std::string& case_id, const std::string& type, json::object data = {}) {
  auto event = test::CloudEvent(type, case_id, std::move(data));
  auto [status, body] = client.Request(http::verb::post, "/cases/" + case_id + "/events", json::serialize(event),
                                       "application/cloudevents+json");
  INFO(type << " -> " << status << " " << body);
  REQUIRE(status == 200);
}

}  // namespace

TEST_CASE("returnflow serve on SIGTERM with clients posting: exits 0 and every acknowledged event is durable",
          "[api][shutdown][binary]") {
  const auto directory = std::filesystem::temp_directory_path() / test::Unique("returnflow-binary-shutdown");
  std::filesystem::create_directories(directory);
  struct RemoveDirectory {
    std::filesystem::path path;
    ~RemoveDirectory() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } cleanup{directory};
  const std::string database = "sqlite:" + (directory / "returnflow.db").string();

  ChildProcess server({RETURNFLOW_BINARY, "serve", "--database", database, "--listen", "127.0.0.1:0"}, directory,
                      directory / "serve.out", directory / "serve.err");
  const std::uint16_t port = WaitForPort(server, 60s);
  WaitForHealthy(server, port, 30s);

  const std::string office = "office-shutdown";
  std::string token = RunReturnflow({"token", "create", "--database", database, "--name", "caseworker-shutdown", "--role",
                                     "caseworker", "--office", office, "--sources", "test/system"},
                                    directory, "token-create");
  token.erase(token.find_last_not_of(" \r\n") + 1);
  REQUIRE(token.starts_with("rft_"));

  constexpr int kClients = 6;
  std::vector<std::string> cases;
  {
    TimedClient setup(port, token);
    for (int index = 0; index < kClients; ++index) {
      auto [status, body] =
          setup.Request(http::verb::post, "/cases", json::serialize(Referral(office)), "application/json");
      INFO(body);
      REQUIRE(status == 201);
      std::string id(json::parse(body).at("case_id").as_string());
      PostApplied(setup, id, "eligibility.review_started");
      PostApplied(setup, id, "eligibility.confirmed", {{"destination_country", "BD"}});
      cases.push_back(id);
    }
  }

  std::mutex mutex;
  std::condition_variable progress;
  int acknowledged_total = 0;
  std::vector<std::vector<std::string>> acknowledged(kClients);
  std::vector<std::string> unexpected(kClients);
  std::vector<std::thread> clients;
  for (int index = 0; index < kClients; ++index) {
    clients.emplace_back([&, index] {
      TimedClient client(port, token);
      // Bounded: a client stops at its first failure (the stopping server closed or refused the
      // connection) or after 5,000 events, and every exchange has a 10 s deadline.
      for (int sent = 0; sent < 5000; ++sent) {
        auto event = test::CloudEvent("counselling.session_held", cases[index]);
        try {
          auto [status, body] = client.Request(http::verb::post, "/cases/" + cases[index] + "/events",
                                               json::serialize(event), "application/cloudevents+json");
          if (status != 200) {
            // Anything but 200 is not an acknowledgement; a 503 while stopping would be acceptable,
            // other answers are reported.
            if (status != 503) unexpected[index] = std::to_string(status) + " " + body;
            break;
          }
          std::lock_guard lock(mutex);
          acknowledged[index].push_back(std::string(event.at("id").as_string()));
          ++acknowledged_total;
        } catch (const boost::system::system_error&) {
          break;  // connection closed or refused: this event was never acknowledged
        }
        progress.notify_all();
      }
      progress.notify_all();
    });
  }
  struct JoinClients {
    std::vector<std::thread>& threads;
    ~JoinClients() {
      for (auto& thread : threads) {
        if (thread.joinable()) thread.join();
      }
    }
  } join_clients{clients};

  bool posting = false;
  {
    std::unique_lock lock(mutex);
    posting = progress.wait_for(lock, 60s, [&] { return acknowledged_total >= 10 * kClients; });
  }
  INFO("serve stderr: " << Tail(server.Stderr()));
  REQUIRE(posting);
  const auto signalled = Clock::now();
  server.Signal(SIGTERM);
  // The default shutdown grace is 30 s; a graceful stop with only short requests in flight takes far
  // less, so 20 s is generous and still bounded.
  const auto status = server.WaitExit(20s);
  const auto stop_time = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled);
  INFO("exit after " << stop_time.count() << " ms; serve stdout: " << Tail(server.Stdout())
                     << "\nserve stderr: " << Tail(server.Stderr()));
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  // It stopped because of the signal, through the graceful path, not by failing.
  const std::string log = server.Stdout();
  CHECK(log.find("event=shutdown_requested signal=15") != std::string::npos);
  CHECK(log.find("event=stopped") != std::string::npos);
  for (auto& thread : clients) thread.join();
  for (const auto& text : unexpected) CHECK(text.empty());

  // Read the histories back through the persistence API, with the server gone.
  persistence::DatabaseOptions options;
  options.url = database;
  options.pool_size = 1;
  persistence::Database reopened(options);
  persistence::CaseRepository repository(reopened);
  int checked = 0;
  for (int index = 0; index < kClients; ++index) {
    const auto durable = test::RecordedEventIds(repository, cases[index]);
    for (const auto& id : acknowledged[index]) {
      CHECK(durable.contains(id));
      ++checked;
    }
  }
  CHECK(checked == acknowledged_total);
  CHECK(checked >= 10 * kClients);
}
