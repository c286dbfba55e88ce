#include "api/auth.hpp"

#include <algorithm>
#include <array>

#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "workflow/events.hpp"

namespace returnflow::api {

namespace json = boost::json;

namespace {
constexpr std::array<std::string_view, 4> kRoleNames = {"caseworker", "partner", "supervisor", "admin"};
}

std::string_view Name(Role role) { return kRoleNames[static_cast<std::size_t>(role)]; }

std::optional<Role> RoleFromName(std::string_view name) {
  for (std::size_t index = 0; index < kRoleNames.size(); ++index) {
    if (kRoleNames[index] == name) return static_cast<Role>(index);
  }
  return std::nullopt;
}

const std::set<std::string, std::less<>>& SupervisorEvents() {
  // The decisions that need a second person: the best-interests determination of a child, and
  // closing a case early.
  static const std::set<std::string, std::less<>> kEvents = {
      std::string(workflow::events::BestInterestsApproved::kName),
      std::string(workflow::events::CaseClosed::kName),
  };
  return kEvents;
}

bool CanSeeCase(const Principal& principal, const CaseScope& scope) {
  switch (principal.role) {
    case Role::kCaseworker:
      return !principal.office.empty() && principal.office == scope.office;
    case Role::kPartner:
      return !principal.organisation.empty() &&
             std::find(scope.partners.begin(), scope.partners.end(), principal.organisation) != scope.partners.end();
    case Role::kSupervisor:
      return principal.countries.empty() || principal.countries.contains(scope.host_country) ||
             principal.countries.contains(scope.origin_country);
    case Role::kAdmin:
      return false;  // admins manage tokens; they do not read cases
  }
  return false;
}

bool CanSendEvent(const Principal& principal, std::string_view event_type) {
  switch (principal.role) {
    case Role::kCaseworker:
      // A caseworker records every step of the case except the approvals a second person gives.
      return event_type != workflow::events::BestInterestsApproved::kName;
    case Role::kPartner:
      return principal.event_types.contains(std::string(event_type));
    case Role::kSupervisor:
      return SupervisorEvents().contains(event_type);
    case Role::kAdmin:
      return false;
  }
  return false;
}

bool CanReadPersonalData(const Principal& principal, const CaseScope& scope) {
  return principal.role == Role::kCaseworker && !principal.office.empty() && principal.office == scope.office;
}

bool CanCreateCase(const Principal& principal, std::string_view office) {
  return principal.role == Role::kCaseworker && principal.office == office;
}

bool CanSearch(const Principal& principal) {
  return principal.role == Role::kCaseworker || principal.role == Role::kSupervisor;
}

bool CanReadWorkflow(const Principal& principal) { return principal.role != Role::kAdmin; }

bool CanManageTokens(const Principal& principal) { return principal.role == Role::kAdmin; }

bool CanReadMetrics(const Principal& principal) {
  return principal.role == Role::kAdmin || principal.role == Role::kSupervisor;
}

std::string GenerateToken() {
  std::array<unsigned char, 32> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    throw std::runtime_error("the OpenSSL random generator failed");
  }
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string token = "rft_";
  // base64url without padding: 32 bytes -> 43 characters.
  std::uint32_t accumulator = 0;
  int bits = 0;
  for (unsigned char byte : random) {
    accumulator = (accumulator << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      token += kAlphabet[(accumulator >> bits) & 0x3F];
    }
  }
  if (bits > 0) token += kAlphabet[(accumulator << (6 - bits)) & 0x3F];
  OPENSSL_cleanse(random.data(), random.size());
  return token;
}

std::string HashToken(std::string_view token) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(token.data(), token.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int index = 0; index < length; ++index) {
    hex += kHex[digest[index] >> 4];
    hex += kHex[digest[index] & 0xF];
  }
  return hex;
}

bool DigestsEqual(std::string_view left, std::string_view right) {
  if (left.size() != right.size()) return false;
  return CRYPTO_memcmp(left.data(), right.data(), left.size()) == 0;
}

std::optional<std::string_view> BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t index = 0; index < kScheme.size(); ++index) {
    if (std::tolower(static_cast<unsigned char>(authorization[index])) != kScheme[index]) return std::nullopt;
  }
  auto token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.size() > 256) return std::nullopt;
  return token;
}

json::value ScopeToJson(const Principal& principal) {
  json::object scope;
  switch (principal.role) {
    case Role::kCaseworker:
      scope["office"] = principal.office;
      break;
    case Role::kPartner: {
      scope["organisation"] = principal.organisation;
      json::array types;
      for (const auto& type : principal.event_types) types.emplace_back(type);
      scope["event_types"] = std::move(types);
      break;
    }
    case Role::kSupervisor: {
      json::array countries;
      for (const auto& country : principal.countries) countries.emplace_back(country);
      scope["countries"] = std::move(countries);
      break;
    }
    case Role::kAdmin:
      break;
  }
  return scope;
}

namespace {
bool StringSet(const json::object& object, std::string_view key, std::set<std::string>& out, std::string& error) {
  auto found = object.find(key);
  if (found == object.end()) return true;
  if (!found->value().is_array()) {
    error = "scope." + std::string(key) + " must be an array of strings";
    return false;
  }
  for (const auto& item : found->value().get_array()) {
    if (!item.is_string() || item.get_string().empty()) {
      error = "scope." + std::string(key) + " must be an array of non-empty strings";
      return false;
    }
    out.emplace(item.get_string());
  }
  return true;
}

bool String(const json::object& object, std::string_view key, std::string& out, std::string& error) {
  auto found = object.find(key);
  if (found == object.end() || !found->value().is_string() || found->value().get_string().empty()) {
    error = "scope." + std::string(key) + " is required (a non-empty string)";
    return false;
  }
  out.assign(found->value().get_string().begin(), found->value().get_string().end());
  return true;
}
}  // namespace

bool ScopeFromJson(const json::value& value, Principal& principal, std::string& error) {
  static const json::object kEmpty;
  if (!value.is_null() && !value.is_object()) {
    error = "scope must be an object";
    return false;
  }
  const auto& object = value.is_object() ? value.get_object() : kEmpty;
  switch (principal.role) {
    case Role::kCaseworker:
      return String(object, "office", principal.office, error);
    case Role::kPartner: {
      if (!String(object, "organisation", principal.organisation, error)) return false;
      if (!StringSet(object, "event_types", principal.event_types, error)) return false;
      if (principal.event_types.empty()) {
        error = "scope.event_types must list the event types the partner may send";
        return false;
      }
      const auto& known = workflow::AllEventNames();
      for (const auto& type : principal.event_types) {
        if (std::find(known.begin(), known.end(), type) == known.end()) {
          error = "scope.event_types names an unknown event type";
          return false;
        }
        if (SupervisorEvents().contains(type)) {
          error = "scope.event_types names a supervisor approval, which partners cannot send";
          return false;
        }
      }
      return true;
    }
    case Role::kSupervisor:
      return StringSet(object, "countries", principal.countries, error);
    case Role::kAdmin:
      return true;
  }
  return false;
}

}  // namespace returnflow::api
