#pragma once
/// The engine's webhook sender over HTTP/1.1 (Boost.Beast on Asio coroutines): http and https (OpenSSL,
/// the peer's certificate verified against the CA file or the system's, SNI and host name checked), every
/// address the host resolves to checked against the destination allow-list before connecting, timeouts on
/// connect and on the response, redirects never followed (a 3xx is an answer like any other failure).
#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

#include "config/settings.hpp"
#include "engine/delivery.hpp"

namespace returnflow::api {

/// An HTTP-date in any of the three forms a recipient must accept (RFC 9110, section 5.6.7: IMF-fixdate,
/// the obsolete RFC 850 form and asctime's), as a UTC time.
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text);
/// How long an endpoint asks to be left alone (`Retry-After`): delay-seconds, or an HTTP-date counted from
/// `answered_at` (the answer's own `Date`, so that the endpoint's clock is compared with itself). At most a
/// week; nullopt for a value that is neither.
std::optional<std::chrono::seconds> RetryAfter(std::string_view value, std::chrono::system_clock::time_point answered_at);

class WebhookClient final : public engine::WebhookSender {
 public:
  /// Throws std::invalid_argument for an unusable allow-list or CA file.
  explicit WebhookClient(const config::DeliverySettings& settings);
  boost::asio::awaitable<engine::WebhookResponse> Send(engine::WebhookRequest request) override;

 private:
  const config::DeliverySettings settings_;
  engine::DestinationPolicy policy_;
  boost::asio::ssl::context tls_;
};

}  // namespace returnflow::api
