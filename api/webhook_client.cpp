#include "api/webhook_client.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

namespace returnflow::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

namespace {

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
/// An endpoint's answer is read up to this size (its body is not used).
constexpr std::uint64_t kResponseBodyLimit = 64 * 1024;

struct Target {
  bool tls = false;
  std::string host, port, path;
};

std::optional<Target> ParseUrl(const std::string& url) {
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return std::nullopt;
  Target target;
  const auto scheme = parsed->scheme();
  if (scheme == "https") {
    target.tls = true;
  } else if (scheme != "http") {
    return std::nullopt;
  }
  if (parsed->has_userinfo() || parsed->host().empty()) return std::nullopt;
  target.host = parsed->host_address();
  if (target.host.starts_with('[') && target.host.ends_with(']')) target.host = target.host.substr(1, target.host.size() - 2);
  target.port = parsed->has_port() ? std::string(parsed->port()) : (target.tls ? "443" : "80");
  target.path = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
  if (parsed->has_query()) target.path += "?" + std::string(parsed->encoded_query());
  return target;
}

engine::WebhookResponse Failed(std::string_view error) { return {0, std::string(error), std::nullopt}; }

std::string_view ErrorOf(const boost::system::error_code& error) {
  return error == beast::error::timeout ? "timeout" : "io";
}

/// Writes the request and reads the answer on a connected stream (plain or TLS).
template <typename Stream>
net::awaitable<engine::WebhookResponse> Exchange(Stream& stream, beast::tcp_stream& transport,
                                                 http::request<http::string_body> request,
                                                 std::chrono::milliseconds response_timeout) {
  transport.expires_after(response_timeout);
  auto [write_error, written] = co_await http::async_write(stream, request, kAsTuple);
  if (write_error) co_return Failed(ErrorOf(write_error));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kResponseBodyLimit);
  auto [read_error, read] = co_await http::async_read(stream, buffer, parser, kAsTuple);
  if (read_error && read_error != http::error::body_limit) co_return Failed(ErrorOf(read_error));
  const auto& response = parser.get();
  engine::WebhookResponse answer;
  answer.status = static_cast<int>(response.result_int());
  if (const auto found = response.find(http::field::retry_after); found != response.end()) {
    const auto date = response.find(http::field::date);
    const auto answered_at = date != response.end() ? ParseHttpDate(date->value()) : std::nullopt;
    answer.retry_after = RetryAfter(found->value(), answered_at.value_or(std::chrono::system_clock::now()));
  }
  co_return answer;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text) {
  if (text.size() > 64) return std::nullopt;
  const std::string value(text);
  // IMF-fixdate, RFC 850, asctime: strptime reads each; the whole value must be consumed.
  for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    std::tm parts{};
    const char* end = strptime(value.c_str(), format, &parts);
    if (end == nullptr || *end != '\0') continue;
    const std::time_t seconds = timegm(&parts);
    if (seconds == static_cast<std::time_t>(-1)) return std::nullopt;
    return std::chrono::system_clock::from_time_t(seconds);
  }
  return std::nullopt;
}

std::optional<std::chrono::seconds> RetryAfter(std::string_view value, std::chrono::system_clock::time_point answered_at) {
  constexpr long long kWeek = 7 * 24 * 3600;
  long long seconds = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (error == std::errc{} && end == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::chrono::seconds(std::min(seconds, kWeek));
  }
  const auto at = ParseHttpDate(value);
  if (!at) return std::nullopt;
  const auto wait = std::chrono::duration_cast<std::chrono::seconds>(*at - answered_at).count();
  return std::chrono::seconds(std::clamp<long long>(wait, 0, kWeek));
}

WebhookClient::WebhookClient(const config::DeliverySettings& settings)
    : settings_(settings), policy_(settings.allow), tls_(net::ssl::context::tls_client) {
  tls_.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 |
                   net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
  tls_.set_verify_mode(net::ssl::verify_peer);
  boost::system::error_code error;
  if (settings.ca_file.empty()) {
    tls_.set_default_verify_paths(error);
  } else {
    tls_.load_verify_file(settings.ca_file, error);
    if (error) throw std::invalid_argument("delivery.ca_file: cannot be read as PEM certificates");
  }
}

net::awaitable<engine::WebhookResponse> WebhookClient::Send(engine::WebhookRequest webhook) {
  const auto target = ParseUrl(webhook.url);
  if (!target) co_return Failed("bad_url");
  auto executor = co_await net::this_coro::executor;

  // Resolve, then check every address before connecting to any (a name that also points inside is
  // refused whole, so that no answer of a rebinding resolver is ever used).
  tcp::resolver resolver(executor);
  auto [resolve_error, results] = co_await resolver.async_resolve(target->host, target->port, kAsTuple);
  if (resolve_error || results.empty()) co_return Failed("resolve");
  for (const auto& entry : results) {
    if (!policy_.Allows(target->host, entry.endpoint().address())) co_return Failed("refused_destination");
  }

  beast::tcp_stream transport(executor);
  transport.expires_after(settings_.connect_timeout);
  auto [connect_error, connected] = co_await transport.async_connect(results, kAsTuple);
  if (connect_error) co_return Failed(connect_error == beast::error::timeout ? "timeout" : "connect");

  http::request<http::string_body> request{http::verb::post, target->path, 11};
  request.set(http::field::host, target->host);
  request.set(http::field::user_agent, "returnflow-webhooks/1");
  for (const auto& [name, value] : webhook.headers) request.set(name, value);
  request.body() = std::move(webhook.body);
  request.prepare_payload();

  if (!target->tls) {
    auto exchange = Exchange(transport, transport, std::move(request), settings_.response_timeout);
    auto answer = co_await std::move(exchange);
    boost::system::error_code ignored;
    transport.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return answer;
  }

  beast::ssl_stream<beast::tcp_stream> stream(std::move(transport), tls_);
  auto& lowest = beast::get_lowest_layer(stream);
  // Server name indication names hosts, never addresses (RFC 6066, section 3).
  boost::system::error_code not_an_address;
  net::ip::make_address(target->host, not_an_address);
  if (not_an_address && !SSL_set_tlsext_host_name(stream.native_handle(), target->host.c_str())) co_return Failed("tls");
  stream.set_verify_callback(net::ssl::host_name_verification(target->host));
  lowest.expires_after(settings_.connect_timeout);
  auto [handshake_error] = co_await stream.async_handshake(net::ssl::stream_base::client, kAsTuple);
  if (handshake_error) co_return Failed(handshake_error == beast::error::timeout ? "timeout" : "tls");
  auto exchange = Exchange(stream, lowest, std::move(request), settings_.response_timeout);
  auto answer = co_await std::move(exchange);
  lowest.expires_after(std::chrono::seconds(1));
  auto [shutdown_error] = co_await stream.async_shutdown(kAsTuple);
  (void)shutdown_error;  // many servers close without a TLS close_notify
  co_return answer;
}

}  // namespace returnflow::api
