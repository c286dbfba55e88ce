#pragma once
/// The API's request dispatcher: routing, authentication, the thin handlers, and the one place where
/// domain and persistence errors become RFC 9457 problem responses.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>

#include "api/auth.hpp"
#include "api/group_commit.hpp"
#include "api/http_server.hpp"
#include "api/metrics.hpp"
#include "api/problem.hpp"
#include "api/router.hpp"
#include "config/settings.hpp"
#include "persistence/repository.hpp"

namespace returnflow::api {

/// Fields of the structured access log line; pseudonymous ids only.
struct LogFields {
  std::string case_id;
  std::string event_type;
  std::string outcome;
  std::string reason;
  std::string actor;
};

/// What one event came to: the HTTP status and body for it (an outcome or a problem document).
struct EventAnswer {
  int status = 200;
  boost::json::object body;
  bool problem = false;
};

class Application {
 public:
  Application(persistence::Database& database, const config::Settings& settings, Metrics& metrics,
              boost::asio::thread_pool& workers);

  /// Answers one request; never throws.
  boost::asio::awaitable<Response> Handle(Request& request, RequestInfo& info);

  /// Problems persistence reports, mapped once for every route.
  static Problem FromPersistence(const persistence::PersistenceError& error, bool had_if_match = false);

 private:
  struct Call;  // one request being handled

  /// Runs blocking work on the worker pool and resumes on the caller's executor.
  ///
  /// Call it with a named callable (`auto work = [..] {..}; co_await Blocking(std::move(work));`):
  /// GCC 12 may destroy a class-type temporary of a co_await full-expression twice, so no temporary
  /// that owns memory may appear in one. The callable is moved into co_spawn's own frame.
  template <typename Function>
  boost::asio::awaitable<std::invoke_result_t<std::decay_t<Function>&>> Blocking(Function&& function) {
    using Result = std::invoke_result_t<std::decay_t<Function>&>;
    return boost::asio::co_spawn(
        workers_.get_executor(),
        [work = std::forward<Function>(function)]() mutable -> boost::asio::awaitable<Result> { co_return work(); },
        boost::asio::use_awaitable);
  }

  boost::asio::awaitable<Principal> Authenticate(const Request& request);
  /// The case, if it exists and the caller may see it; otherwise 404 (foreign = unknown).
  boost::asio::awaitable<persistence::CaseRecord> VisibleCase(const Principal& principal, const std::string& case_id);
  boost::asio::awaitable<CaseScope> VisibleScope(const Principal& principal, const std::string& case_id);

  boost::asio::awaitable<Response> Dispatch(Call& call);
  boost::asio::awaitable<Response> CreateCase(Call& call);
  boost::asio::awaitable<Response> SearchCases(Call& call);
  boost::asio::awaitable<Response> GetCase(Call& call);
  boost::asio::awaitable<Response> PostCaseEvent(Call& call);
  boost::asio::awaitable<Response> PostEvents(Call& call);
  boost::asio::awaitable<Response> CaseHistory(Call& call);
  boost::asio::awaitable<Response> Workflow(Call& call);
  boost::asio::awaitable<Response> CreateToken(Call& call);
  boost::asio::awaitable<Response> ListTokens(Call& call);
  boost::asio::awaitable<Response> RevokeToken(Call& call);
  boost::asio::awaitable<Response> Ready(Call& call);
  Response MetricsText(Call& call);

  /// Validates, authorizes and applies one CloudEvent. `url_case_id` is set on /cases/{id}/events.
  boost::asio::awaitable<EventAnswer> ProcessEvent(const Principal& principal, const boost::json::value& raw,
                                                   const std::optional<std::string>& url_case_id,
                                                   std::optional<std::int64_t> if_match, LogFields& log);
  boost::asio::awaitable<persistence::ApplyOutcome> ApplyEvent(const std::string& case_id, persistence::IncomingEvent& event);

  persistence::Database& database_;
  const config::Settings& settings_;
  Metrics& metrics_;
  boost::asio::thread_pool& workers_;
  persistence::CaseRepository cases_;
  persistence::PeopleRepository people_;
  persistence::TokenRepository tokens_;
  std::unique_ptr<GroupCommitter> committer_;

  /// Verified tokens by hash; entries expire after auth.token_cache_ttl so revocation elsewhere applies.
  struct CachedPrincipal {
    Principal principal;
    std::string hash;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex token_cache_mutex_;
  std::unordered_map<std::string, CachedPrincipal> token_cache_;

  /// Authorization scope by case id, with the same expiry: office and countries never change, and a
  /// partner (un)assignment takes effect within the TTL.
  struct CachedScope {
    CaseScope scope;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex scope_cache_mutex_;
  std::unordered_map<std::string, CachedScope> scope_cache_;
  void RememberScope(const persistence::CaseRecord& record);

  std::string workflow_json_;
  std::string openapi_json_;
};

/// Extracts a case version from an If-Match value ("3", "\"3\"", W/"3"); nullopt when malformed.
std::optional<std::int64_t> ParseIfMatch(std::string_view value);

}  // namespace returnflow::api
