#include "engine/tokens.hpp"

#include <array>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "engine/authorization.hpp"
#include "engine/failure.hpp"
#include "workflow/events.hpp"

namespace returnflow::engine {

std::string GenerateToken() {
  std::array<unsigned char, 32> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    throw Failure(FailureKind::kInternal, "the OpenSSL random generator failed");
  }
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string token = "rft_";
  // base64url without padding: 32 bytes -> 43 characters.
  std::uint32_t accumulator = 0;
  int bits = 0;
  for (const unsigned char byte : random) {
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

std::string HashToken(std::string_view token) { return persistence::Sha256Hex(token); }

bool DigestsEqual(std::string_view left, std::string_view right) {
  if (left.size() != right.size()) return false;
  return CRYPTO_memcmp(left.data(), right.data(), left.size()) == 0;
}

Principal PrincipalFromToken(const persistence::TokenRecord& record) {
  Principal principal;
  principal.token_id = record.token_id;
  principal.actor = record.name;
  principal.role = record.role;
  principal.office = record.scope.office;
  principal.organisation = record.scope.organisation;
  principal.event_types.insert(record.scope.event_types.begin(), record.scope.event_types.end());
  principal.countries.insert(record.scope.countries.begin(), record.scope.countries.end());
  principal.sources.insert(record.scope.sources.begin(), record.scope.sources.end());
  return principal;
}

persistence::TokenScope ToTokenScope(const Principal& principal) {
  persistence::TokenScope scope;
  scope.office = principal.office;
  scope.organisation = principal.organisation;
  scope.event_types.assign(principal.event_types.begin(), principal.event_types.end());
  scope.countries.assign(principal.countries.begin(), principal.countries.end());
  scope.sources.assign(principal.sources.begin(), principal.sources.end());
  return scope;
}

namespace {

[[noreturn]] void Invalid(std::string detail, std::string pointer) {
  throw Failure(FailureKind::kInvalidRequest, std::move(detail), std::move(pointer));
}

bool PlainName(std::string_view name, std::size_t limit) {
  if (name.empty() || name.size() > limit) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool UsableSource(std::string_view source) {
  if (source.empty() || source.size() > 500 || source.find('|') != std::string_view::npos) return false;
  for (const char c : source) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string DefaultSource(std::string_view name) { return "urn:returnflow:token:" + std::string(name); }

void ValidateNewToken(const NewToken& token) {
  if (!PlainName(token.name, 100)) {
    Invalid("'name' must be 1 to 100 letters, digits, '-', '_' or '.' (it is the pseudonymous actor id)", "/name");
  }
  const auto& principal = token.principal;
  switch (principal.role) {
    case Role::kCaseworker:
      if (!PlainName(principal.office, 100)) Invalid("'scope/office' must be 1 to 100 letters, digits, '-', '_' or '.'", "/scope/office");
      break;
    case Role::kPartner: {
      if (!PlainName(principal.organisation, 100)) {
        Invalid("'scope/organisation' must be 1 to 100 letters, digits, '-', '_' or '.'", "/scope/organisation");
      }
      if (principal.event_types.empty()) Invalid("'scope/event_types' must list the event types the partner may send", "/scope/event_types");
      const auto& known = workflow::AllEventNames();
      for (const auto& type : principal.event_types) {
        if (std::find(known.begin(), known.end(), type) == known.end()) {
          Invalid("'scope/event_types' names an unknown event type", "/scope/event_types");
        }
        if (SupervisorEvents().contains(type)) {
          Invalid("'scope/event_types' names a supervisor's approval, which partners cannot send", "/scope/event_types");
        }
        if (type == workflow::events::ClosureRequested::kName) {
          Invalid("'scope/event_types' names a closure request, which only a caseworker of the office sends",
                  "/scope/event_types");
        }
        if (workflow::IsClockEvent(type) || type == workflow::events::ProgrammeChanged::kName || IsPersonalDataEvent(type)) {
          Invalid("'scope/event_types' names an event of the engine's clock, of programme management or of "
                  "personal data, which partners cannot send", "/scope/event_types");
        }
      }
      break;
    }
    case Role::kSupervisor:
      for (const auto& country : principal.countries) {
        const bool code = country.size() == 2 && std::isupper(static_cast<unsigned char>(country[0])) &&
                          std::isupper(static_cast<unsigned char>(country[1]));
        if (!code && country != kAllCountries) {
          Invalid("'scope/countries' holds ISO 3166-1 alpha-2 codes, or \"*\" for every country", "/scope/countries");
        }
      }
      break;
    case Role::kAdmin:
    case Role::kAuditor:
      break;
  }
  if (principal.sources.size() > 20) Invalid("'scope/sources' holds at most 20 sources", "/scope/sources");
  for (const auto& source : principal.sources) {
    if (!UsableSource(source)) {
      Invalid("'scope/sources' items are URI-references of 1 to 500 characters without spaces or '|'", "/scope/sources");
    }
  }
}

}  // namespace returnflow::engine

namespace returnflow::engine {

CreatedToken IssueToken(persistence::TokenRepository& tokens, NewToken token, std::string_view actor) {
  ValidateNewToken(token);
  if (token.principal.role != Role::kAdmin && token.principal.role != Role::kAuditor && token.principal.sources.empty()) {
    token.principal.sources.insert(DefaultSource(token.name));
  }
  CreatedToken created;
  created.secret = GenerateToken();
  try {
    created.record = tokens.Create(token.name, token.principal.role, ToTokenScope(token.principal), created.secret, actor);
  } catch (const persistence::PersistenceError& error) {
    if (error.Kind() == persistence::ErrorKind::kConflict) {
      throw Failure(FailureKind::kConflict, "a token with this name already exists", "/name");
    }
    throw FromPersistence(error);
  }
  return created;
}

}  // namespace returnflow::engine
