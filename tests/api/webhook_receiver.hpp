#pragma once
/// A real webhook endpoint for the tests: an HTTP/1.1 server on a loopback port (its own thread) that
/// checks every request's Standard Webhooks signature with the specification's algorithm, written here
/// apart from the engine's (HMAC-SHA256 over "id.timestamp.body" with the key after "whsec_", any of the
/// space-separated "v1," signatures matching, compared in constant time), and records every request in
/// arrival order. Each path is its own endpoint with its own secret and answer.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

namespace returnflow::test {

struct ReceivedWebhook {
  std::string path;
  std::string webhook_id;
  std::string timestamp;
  std::string signature;
  std::string body;
  boost::json::value event;  ///< the body parsed
  bool signature_valid = false;
  int answered = 0;  ///< the status the receiver answered
};

/// The specification's verification: true when one of `signatures` is HMAC-SHA256 of id.timestamp.body.
bool VerifyWebhookSignature(const std::string& secret, const std::string& id, const std::string& timestamp,
                            const std::string& body, const std::string& signatures);

class WebhookReceiver {
 public:
  /// A TLS endpoint's certificate chain and private key (PEM files).
  struct Tls {
    std::string certificate_file;
    std::string key_file;
  };
  /// Plain HTTP; or HTTPS with `tls` (its URLs then start with https://).
  explicit WebhookReceiver(std::optional<Tls> tls = std::nullopt);
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  std::uint16_t Port() const { return port_; }
  std::string Url(const std::string& path) const;
  /// The secret requests to `path` are signed with (set once the subscription is created).
  void SetSecret(const std::string& path, const std::string& secret);
  /// What `path` answers from now on (200 unless told; 0: the connection is closed without an answer;
  /// -1: the request is recorded and held unanswered until the status changes).
  void SetStatus(const std::string& path, int status, std::string retry_after = {});

  /// Everything received so far (failed answers included), in arrival order.
  std::vector<ReceivedWebhook> Received();
  /// Those answered 2xx on `path`.
  std::vector<ReceivedWebhook> Delivered(const std::string& path);
  /// Waits (up to `timeout`) until `done` holds over what was received; returns whether it did.
  bool WaitFor(const std::function<bool(const std::vector<ReceivedWebhook>&)>& done,
               std::chrono::milliseconds timeout = std::chrono::seconds(20));

 private:
  void Serve();
  /// Reads one request from `stream`, records it and answers as its endpoint is told.
  template <typename Stream>
  void Answer(Stream& stream);
  struct Endpoint {
    std::string secret;
    int status = 200;
    std::string retry_after;
  };
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Endpoint> endpoints_;
  std::vector<ReceivedWebhook> received_;
  std::uint16_t port_ = 0;
  bool stopping_ = false;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace returnflow::test
