// What a notification says and how it is signed; the retry schedule; where a webhook may go. Pure.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "engine/authorization.hpp"
#include "engine/delivery.hpp"
#include "engine/views.hpp"
#include "persistence/personal_data_crypto.hpp"
#include "workflow/dates.hpp"

namespace returnflow::engine {

namespace json = boost::json;

namespace {

std::string Rfc3339(long long micros) {
  return workflow::FormatInstant(std::chrono::floor<std::chrono::seconds>(persistence::Timestamp(std::chrono::microseconds(micros))));
}

std::vector<std::string> StringsOf(const json::value* value) {
  std::vector<std::string> out;
  if (!value || !value->is_array()) return out;
  for (const auto& item : value->as_array()) {
    if (item.is_string()) out.emplace_back(item.as_string());
  }
  return out;
}

using persistence::Base64;
using persistence::DecodeBase64;

}  // namespace

Principal RecipientOf(const persistence::Subscription& subscription, const std::vector<persistence::TokenRecord>& tokens) {
  Principal recipient;
  recipient.actor = "subscription:" + subscription.subscription_id;
  if (!subscription.office.empty()) {
    recipient.role = Role::kCaseworker;
    recipient.office = subscription.office;
    return recipient;
  }
  recipient.role = Role::kPartner;
  recipient.organisation = subscription.organisation;
  // What the organisation may send is what its active tokens may send.
  for (const auto& token : tokens) {
    if (token.Active() && token.role == Role::kPartner && token.scope.organisation == subscription.organisation) {
      recipient.event_types.insert(token.scope.event_types.begin(), token.scope.event_types.end());
    }
  }
  return recipient;
}

json::object NotificationData(const Principal& recipient, const persistence::OutboxNotification& notification,
                              const std::vector<MemberData>& personal_data) {
  json::error_code error;
  const auto parsed = json::parse(notification.facts, error);
  const json::object empty;
  const auto& facts = !error && parsed.is_object() ? parsed.as_object() : empty;
  json::object data{{"case_id", notification.case_id}, {"kind", notification.kind}, {"subject", notification.subject}};
  for (const char* key : {"event_type", "verdict", "reason", "stage", "deadline"}) {
    if (const auto* value = facts.if_contains(key)) data[key] = *value;
  }
  data["states"] = json::value_from(StatesView(recipient, StringsOf(facts.if_contains("states"))));
  json::array allowed;
  for (const auto& event : StringsOf(facts.if_contains("allowed_events"))) {
    if (CanSendEvent(recipient, event)) allowed.emplace_back(event);
  }
  data["allowed_events"] = std::move(allowed);
  const auto* deadline = facts.if_contains("next_deadline");
  data["next_deadline"] = deadline && deadline->is_int64() ? json::value(Rfc3339(deadline->as_int64())) : json::value(nullptr);
  if (const auto* occurred = facts.if_contains("occurred_at"); occurred && occurred->is_int64()) {
    data["occurred_at"] = Rfc3339(occurred->as_int64());
  }
  if (const auto* incident = facts.if_contains("incident")) data["incident"] = *incident;
  data["case_sequence"] = notification.case_sequence;
  if (!personal_data.empty()) data["personal_data"] = MembersToJson(personal_data);
  return data;
}

json::object NotificationEvent(const Principal& recipient, const persistence::OutboxNotification& notification,
                               const std::vector<MemberData>& personal_data) {
  return {{"specversion", "1.0"},
          {"id", notification.notification_id},
          {"source", kNotificationSource},
          {"type", "org.returnflow." + notification.kind},
          {"subject", notification.case_id},
          {"time", Rfc3339(notification.created_at.time_since_epoch().count())},
          {"datacontenttype", "application/json"},
          {"data", NotificationData(recipient, notification, personal_data)}};
}

std::optional<workflow::TransferPurpose> TransferPurposeFor(const Principal& recipient,
                                                            const persistence::OutboxNotification& notification) {
  if (recipient.role != workflow::Role::kPartner) return std::nullopt;
  json::error_code error;
  const auto parsed = json::parse(notification.facts, error);
  if (error || !parsed.is_object()) return std::nullopt;
  const auto next = StringsOf(parsed.as_object().if_contains("allowed_events"));
  for (std::size_t index = 0; index < workflow::kTransferPurposeNames.size(); ++index) {
    const auto purpose = static_cast<workflow::TransferPurpose>(index);
    if (!ServesPurpose(recipient, purpose)) continue;
    for (const auto& event : next) {
      if (!CanSendEvent(recipient, event)) continue;
      for (const auto part : workflow::PartOfPurpose(purpose)) {
        if (std::string_view(event).starts_with(part)) return purpose;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> WebhookSignature(std::string_view secret, std::string_view id, std::int64_t timestamp,
                                            std::string_view body) {
  constexpr std::string_view kPrefix = "whsec_";
  if (!secret.starts_with(kPrefix)) return std::nullopt;
  const auto key = DecodeBase64(secret.substr(kPrefix.size()));
  if (!key || key->empty()) return std::nullopt;
  const std::string content = fmt::format("{}.{}.{}", id, timestamp, body);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (!HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()), reinterpret_cast<const unsigned char*>(content.data()),
            content.size(), digest.data(), &digest_size)) {
    return std::nullopt;
  }
  return "v1," + Base64(digest.data(), digest_size);
}

std::string WebhookSignatureHeader(const std::vector<std::string>& secrets, std::string_view id, std::int64_t timestamp,
                                   std::string_view body) {
  std::string header;
  for (const auto& secret : secrets) {
    const auto signature = WebhookSignature(secret, id, timestamp, body);
    if (!signature) continue;
    if (!header.empty()) header += ' ';
    header += *signature;
  }
  return header;
}

std::optional<std::chrono::seconds> RetryDelay(int failed_attempts) {
  using std::chrono::hours, std::chrono::minutes, std::chrono::seconds;
  // Standard Webhooks' example schedule after the immediate first attempt: 5 s, 5 min, 30 min, 2 h, 5 h,
  // 10 h, 14 h, 20 h, 24 h (about three days in all).
  static const std::array<seconds, 9> kSchedule{seconds(5), minutes(5), minutes(30), hours(2), hours(5),
                                                hours(10), hours(14), hours(20), hours(24)};
  if (failed_attempts < 1 || failed_attempts > static_cast<int>(kSchedule.size())) return std::nullopt;
  return kSchedule[static_cast<std::size_t>(failed_attempts - 1)];
}

persistence::AttemptResult DecideAttempt(const persistence::OutboxNotification& claimed, const WebhookResponse& response,
                                         persistence::Timestamp now, std::chrono::microseconds duration,
                                         double jitter_fraction) {
  persistence::AttemptResult result;
  result.attempt = {claimed.notification_id, claimed.attempts, claimed.subscription_id, now,
                    response.status, response.error, duration.count()};
  if (response.status >= 200 && response.status < 300) {
    result.next = persistence::AttemptResult::Next::kDelivered;
    return result;
  }
  if (response.status == 410) {
    result.next = persistence::AttemptResult::Next::kDisable;
    return result;
  }
  if (result.attempt.error.empty() && response.status >= 300 && response.status < 400) {
    result.attempt.error = "redirect_not_followed";
  }
  const auto delay = RetryDelay(claimed.attempts);
  if (!delay) {
    result.next = persistence::AttemptResult::Next::kDead;
    return result;
  }
  auto wait = std::chrono::duration_cast<std::chrono::microseconds>(*delay);
  if (response.retry_after) wait = std::max(wait, std::chrono::duration_cast<std::chrono::microseconds>(*response.retry_after));
  const auto jitter = std::chrono::microseconds(static_cast<long long>(
      static_cast<double>(wait.count()) * std::clamp(jitter_fraction, 0.0, 1.0) * 0.1));
  result.next = persistence::AttemptResult::Next::kRetry;
  result.retry_at = now + wait + jitter;
  return result;
}

// --- Destinations -----------------------------------------------------------------------------------

namespace {

/// Addresses that reach inside: never allowed by a host name alone.
bool Internal(const boost::asio::ip::address& address) {
  if (address.is_unspecified() || address.is_loopback() || address.is_multicast()) return true;
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    return bytes[0] == 10 || (bytes[0] == 172 && (bytes[1] & 0xf0) == 16) || (bytes[0] == 192 && bytes[1] == 168) ||
           (bytes[0] == 169 && bytes[1] == 254) || bytes[0] == 0 || (bytes[0] == 100 && (bytes[1] & 0xc0) == 64);
  }
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return Internal(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
  const auto bytes = v6.to_bytes();
  return v6.is_link_local() || v6.is_site_local() || (bytes[0] & 0xfe) == 0xfc;
}

bool InBlock(const boost::asio::ip::address& address, const boost::asio::ip::address& network, int prefix) {
  if (address.is_v4() != network.is_v4()) {
    if (address.is_v6() && address.to_v6().is_v4_mapped() && network.is_v4()) {
      return InBlock(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()), network, prefix);
    }
    return false;
  }
  std::vector<unsigned char> left, right;
  if (address.is_v4()) {
    const auto a = address.to_v4().to_bytes(), n = network.to_v4().to_bytes();
    left.assign(a.begin(), a.end());
    right.assign(n.begin(), n.end());
  } else {
    const auto a = address.to_v6().to_bytes(), n = network.to_v6().to_bytes();
    left.assign(a.begin(), a.end());
    right.assign(n.begin(), n.end());
  }
  for (std::size_t index = 0; index < left.size() && prefix > 0; ++index, prefix -= 8) {
    const int bits = std::min(prefix, 8);
    const unsigned char mask = static_cast<unsigned char>(0xff << (8 - bits));
    if ((left[index] & mask) != (right[index] & mask)) return false;
  }
  return true;
}

bool HostName(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
}

}  // namespace

DestinationPolicy::DestinationPolicy(const std::vector<std::string>& allow) {
  for (const auto& entry : allow) {
    const auto slash = entry.find('/');
    boost::system::error_code error;
    const auto network = boost::asio::ip::make_address(entry.substr(0, slash), error);
    if (!error) {
      int prefix = network.is_v4() ? 32 : 128;
      if (slash != std::string::npos) {
        const auto text = entry.substr(slash + 1);
        const bool digits = !text.empty() && text.size() <= 3 && std::all_of(text.begin(), text.end(), ::isdigit);
        if (!digits || std::stoi(text) > prefix) throw std::invalid_argument("delivery.allow: bad block " + entry);
        prefix = std::stoi(text);
      }
      blocks_.push_back({network, prefix});
    } else if (slash == std::string::npos && HostName(entry)) {
      std::string host = entry;
      std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
      hosts_.push_back(std::move(host));
    } else {
      throw std::invalid_argument("delivery.allow: neither a host name nor an address or block: " + entry);
    }
  }
}

bool DestinationPolicy::Allows(std::string_view host_view, const boost::asio::ip::address& address) const {
  for (const auto& block : blocks_) {
    if (InBlock(address, block.network, block.prefix)) return true;
  }
  std::string host(host_view);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  const bool listed = std::find(hosts_.begin(), hosts_.end(), host) != hosts_.end();
  return listed && !Internal(address);
}

}  // namespace returnflow::engine
