#include "tests/api/webhook_receiver.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace returnflow::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

namespace {

std::string DecodeBase64(const std::string& text) {
  std::string out(3 * (text.size() / 4) + 3, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (length < 0) return {};
  std::size_t size = static_cast<std::size_t>(length);
  if (text.size() >= 2 && text.substr(text.size() - 2) == "==") {
    size -= 2;
  } else if (!text.empty() && text.back() == '=') {
    size -= 1;
  }
  out.resize(size);
  return out;
}

std::string EncodeBase64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(length));
  return out;
}

}  // namespace

bool VerifyWebhookSignature(const std::string& secret, const std::string& id, const std::string& timestamp,
                            const std::string& body, const std::string& signatures) {
  if (secret.rfind("whsec_", 0) != 0) return false;
  const std::string key = DecodeBase64(secret.substr(6));
  const std::string content = id + "." + timestamp + "." + body;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), digest, &size);
  const std::string expected = "v1," + EncodeBase64(digest, size);
  std::size_t start = 0;
  while (start <= signatures.size()) {
    const auto end = std::min(signatures.find(' ', start), signatures.size());
    const std::string candidate = signatures.substr(start, end - start);
    if (candidate.size() == expected.size() && CRYPTO_memcmp(candidate.data(), expected.data(), expected.size()) == 0) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

struct WebhookReceiver::Impl {
  net::io_context io;
  tcp::acceptor acceptor{io};
  std::optional<net::ssl::context> tls;
};

WebhookReceiver::WebhookReceiver(std::optional<Tls> tls) : impl_(std::make_unique<Impl>()) {
  if (tls) {
    impl_->tls.emplace(net::ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(tls->certificate_file);
    impl_->tls->use_private_key_file(tls->key_file, net::ssl::context::pem);
  }
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  thread_ = std::thread([this] { Serve(); });
}

WebhookReceiver::~WebhookReceiver() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  // Wakes the blocking accept.
  try {
    net::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  } catch (...) {
  }
  thread_.join();
}

std::string WebhookReceiver::Url(const std::string& path) const {
  return (impl_->tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_) + path;
}

void WebhookReceiver::SetSecret(const std::string& path, const std::string& secret) {
  std::lock_guard lock(mutex_);
  endpoints_[path].secret = secret;
}

void WebhookReceiver::SetStatus(const std::string& path, int status, std::string retry_after) {
  {
    std::lock_guard lock(mutex_);
    endpoints_[path].status = status;
    endpoints_[path].retry_after = std::move(retry_after);
  }
  changed_.notify_all();
}

std::vector<ReceivedWebhook> WebhookReceiver::Received() {
  std::lock_guard lock(mutex_);
  return received_;
}

std::vector<ReceivedWebhook> WebhookReceiver::Delivered(const std::string& path) {
  std::vector<ReceivedWebhook> delivered;
  for (auto& received : Received()) {
    if (received.path == path && received.answered >= 200 && received.answered < 300) delivered.push_back(received);
  }
  return delivered;
}

bool WebhookReceiver::WaitFor(const std::function<bool(const std::vector<ReceivedWebhook>&)>& done,
                              std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return done(received_); });
}

void WebhookReceiver::Serve() {
  while (true) {
    tcp::socket socket(impl_->io);
    boost::system::error_code error;
    impl_->acceptor.accept(socket, error);
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    if (error) continue;
    if (impl_->tls) {
      // A client that does not trust this certificate gives up in the handshake: nothing is received.
      net::ssl::stream<tcp::socket&> stream(socket, *impl_->tls);
      stream.handshake(net::ssl::stream_base::server, error);
      if (!error) Answer(stream);
    } else {
      Answer(socket);
    }
    socket.shutdown(tcp::socket::shutdown_both, error);
  }
}

template <typename Stream>
void WebhookReceiver::Answer(Stream& stream) {
  boost::system::error_code error;
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::read(stream, buffer, request, error);
  if (error) return;
  ReceivedWebhook received;
  received.path = std::string(request.target());
  received.webhook_id = std::string(request["webhook-id"]);
  received.timestamp = std::string(request["webhook-timestamp"]);
  received.signature = std::string(request["webhook-signature"]);
  received.body = request.body();
  boost::system::error_code parse_error;
  received.event = boost::json::parse(received.body, parse_error);
  Endpoint endpoint;
  {
    std::lock_guard lock(mutex_);
    endpoint = endpoints_[received.path];
  }
  received.signature_valid = VerifyWebhookSignature(endpoint.secret, received.webhook_id, received.timestamp,
                                                    received.body, received.signature);
  received.answered = endpoint.status;
  if (endpoint.status < 0) {
    // Held: recorded on arrival, answered once the test lets go (or never, if the sender died).
    {
      std::lock_guard lock(mutex_);
      received_.push_back(received);
    }
    changed_.notify_all();
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return stopping_ || endpoints_[received.path].status >= 0; });
    return;
  }
  if (endpoint.status != 0) {
    http::response<http::string_body> response{static_cast<http::status>(endpoint.status), 11};
    response.keep_alive(false);
    if (!endpoint.retry_after.empty()) response.set(http::field::retry_after, endpoint.retry_after);
    response.prepare_payload();
    http::write(stream, response, error);
  }
  {
    std::lock_guard lock(mutex_);
    received_.push_back(std::move(received));
  }
  changed_.notify_all();
}

}  // namespace returnflow::test
