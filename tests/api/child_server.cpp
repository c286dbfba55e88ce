#include "tests/api/child_server.hpp"
#include "persistence/personal_data_crypto.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <soci/soci.h>

#include "tests/api/support.hpp"

#ifndef RETURNFLOW_BINARY
#error "RETURNFLOW_BINARY (the path of the built returnflow program) must be defined by CMake"
#endif

namespace returnflow::test {

namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

ScratchDirectory::ScratchDirectory(const std::string& prefix)
    : path_(std::filesystem::temp_directory_path() / Unique(prefix)) {
  std::filesystem::create_directories(path_);
}

ScratchDirectory::~ScratchDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Tail(const std::string& text, std::size_t size) {
  return text.size() <= size ? text : text.substr(text.size() - size);
}

ChildProcess::ChildProcess(const std::vector<std::string>& arguments, const std::filesystem::path& directory,
                           const std::filesystem::path& stdout_path, const std::filesystem::path& stderr_path,
                           const std::vector<std::string>& environment)
    : stdout_path_(stdout_path), stderr_path_(stderr_path) {
  std::vector<char*> argv;
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> entries = environment;
  for (char** inherited = environ; *inherited != nullptr; ++inherited) {
    const std::string_view entry(*inherited);
    const auto name = entry.substr(0, entry.find('=') + 1);
    if (std::none_of(environment.begin(), environment.end(), [&](const auto& extra) { return extra.starts_with(name); })) {
      entries.emplace_back(entry);
    }
  }
  std::vector<char*> envp;
  for (const auto& entry : entries) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
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
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (Running()) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
}

bool ChildProcess::Running() {
  if (exited_) return false;
  if (::waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
  return !exited_;
}

std::optional<int> ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  return -WTERMSIG(status_);
}

void ChildProcess::Signal(int signal_number) {
  if (Running()) ::kill(pid_, signal_number);
}

TimedClient::TimedClient(std::uint16_t port, std::string token, std::chrono::milliseconds timeout)
    : port_(port), token_(std::move(token)), timeout_(timeout) {}

std::pair<int, std::string> TimedClient::Request(http::verb method, const std::string& target, const std::string& body,
                                                 const std::string& content_type) {
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

void TimedClient::Run() {
  context_.restart();
  context_.run();
}

void TimedClient::Reset() {
  stream_.reset();
  buffer_.clear();
}

void TimedClient::Fail(boost::system::error_code failure) {
  Reset();
  throw boost::system::system_error(failure);
}

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

std::string CreateCaseworkerToken(const std::string& database, const std::filesystem::path& directory,
                                  const std::string& name, const std::string& office) {
  std::string token = RunReturnflow(
      {"token", "create", "--database", database, "--name", name, "--role", "caseworker", "--office", office,
       "--sources", "test/system"},
      directory,
      "token-create-" + name);
  token.erase(token.find_last_not_of(" \r\n") + 1);
  REQUIRE(token.starts_with("rft_"));
  return token;
}

namespace {

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

}  // namespace

namespace {
std::vector<std::string> ServeArguments(const std::string& database, const std::vector<std::string>& extra) {
  std::vector<std::string> arguments{RETURNFLOW_BINARY, "serve", "--database", database, "--listen", "127.0.0.1:0"};
  arguments.insert(arguments.end(), extra.begin(), extra.end());
  return arguments;
}
}  // namespace

ServeProcess::ServeProcess(const std::string& database, const std::filesystem::path& directory, const std::string& label,
                           const std::vector<std::string>& extra_arguments, bool delivery)
    : database_(database),
      application_name_(Unique("returnflow-serve")),
      process_(std::make_unique<ChildProcess>(
          ServeArguments(database, extra_arguments),
          directory, directory / (label + ".out"), directory / (label + ".err"),
          std::vector<std::string>{"PGAPPNAME=" + application_name_,
                                   "RETURNFLOW_PROGRAMMES=" RETURNFLOW_SOURCE_DIR "/tests/api/programmes",
                                   "RETURNFLOW_MASTER_KEY_FILE=" + TestMasterKeyPath(),
                                   std::string("RETURNFLOW_DELIVERY=") + (delivery ? "true" : "false")})) {
  port_ = WaitForPort(*process_, 60s);
  WaitForHealthy(*process_, port_, 30s);
}

void ServeProcess::WaitForDatabaseSessionsToEnd(std::chrono::milliseconds timeout) {
  REQUIRE_FALSE(process_->Running());
  OpenedDatabase reader(database_);
  if (reader.database.GetBackend() != persistence::Backend::kPostgresql) return;
  const auto deadline = Clock::now() + timeout;
  int sessions = 0;
  for (;;) {
    reader.database.Read("count the server's sessions", [&](soci::session& sql) {
      sql << "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name",
          soci::use(application_name_, "name"), soci::into(sessions);
    });
    if (sessions == 0 || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  INFO(application_name_ << ": " << sessions << " PostgreSQL sessions still open");
  REQUIRE(sessions == 0);
}

std::string ServeProcess::Output() const {
  return "serve stdout: " + Tail(process_->Stdout()) + "\nserve stderr: " + Tail(process_->Stderr());
}

namespace {

persistence::DatabaseOptions ReaderOptions(const std::string& url) {
  ConfigureTestLogging();  // opening a pool logs at info
  persistence::DatabaseOptions options;
  options.url = url;
  options.pool_size = 1;
  options.master_keys = std::make_shared<const persistence::MasterKeyring>(
      persistence::MasterKeyring::Load(TestMasterKeyPath()));
  return options;
}

}  // namespace

OpenedDatabase::OpenedDatabase(const std::string& url) : database(ReaderOptions(url)), cases(database) {}

std::string ChildDatabaseUrl(bool sqlite, const std::filesystem::path& directory) {
  if (sqlite) return "sqlite:" + (directory / "returnflow.db").string();
  const char* url = std::getenv("RETURNFLOW_TEST_PG_URL");
  INFO("RETURNFLOW_TEST_PG_URL is not set: run ./scripts/test.sh");
  REQUIRE((url != nullptr && *url != '\0'));
  return url;
}

OwnPostgresDatabase::OwnPostgresDatabase(const std::filesystem::path& directory) {
  RunReturnflow({"migrate", "--database", Url()}, directory, "migrate-own-database");
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

std::string CreateCaseInCounselling(TimedClient& client, const std::string& office) {
  auto [status, body] = client.Request(http::verb::post, "/cases", json::serialize(Referral(office)), "application/json");
  INFO(body);
  REQUIRE(status == 201);
  std::string id(json::parse(body).at("case_id").as_string());
  PostApplied(client, id, "eligibility.review_started");
  PostApplied(client, id, "eligibility.confirmed", {{"destination_country", "BD"}});
  PostApplied(client, id, "counselling.session_held");
  return id;
}

void PostApplied(TimedClient& client, const std::string& case_id, const std::string& type, json::object data) {
  auto event = CloudEvent(type, case_id, std::move(data));
  auto [status, body] = client.Request(http::verb::post, "/cases/" + case_id + "/events", json::serialize(event),
                                       "application/cloudevents+json");
  INFO(type << " -> " << status << " " << body);
  REQUIRE(status == 200);
}

}  // namespace returnflow::test
