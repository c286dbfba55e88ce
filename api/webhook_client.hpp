#pragma once
/// The engine's webhook sender over HTTP/1.1 (Boost.Beast on Asio coroutines): http and https (OpenSSL,
/// the peer's certificate verified against the CA file or the system's, SNI and host name checked), every
/// address the host resolves to checked against the destination allow-list before connecting, timeouts on
/// connect and on the response, redirects never followed (a 3xx is an answer like any other failure).
#include <memory>

#include <boost/asio/ssl/context.hpp>

#include "config/settings.hpp"
#include "engine/delivery.hpp"

namespace returnflow::api {

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
