#pragma once
/// API tokens: generation, the stored digest, and the principal a token stands for.
#include <optional>
#include <string>
#include <string_view>

#include "engine/principal.hpp"
#include "persistence/repository.hpp"

namespace returnflow::engine {

/// A new random token (32 bytes from the OpenSSL CSPRNG, base64url, prefixed "rft_"). Shown once.
std::string GenerateToken();
/// The token's digest, the only form stored (persistence::Sha256Hex).
std::string HashToken(std::string_view token);
/// Constant-time comparison of two equal-length digests (CRYPTO_memcmp).
bool DigestsEqual(std::string_view left, std::string_view right);

Principal PrincipalFromToken(const persistence::TokenRecord& record);
persistence::TokenScope ToTokenScope(const Principal& principal);

/// A token to create: its name (the pseudonymous actor id) and what it may do.
struct NewToken {
  std::string name;
  Principal principal;  ///< role and scope
};
/// Refuses (Failure kInvalidRequest, with a pointer) a name or scope the role cannot use: names of
/// letters, digits, '-', '_', '.'; a caseworker's office, a partner's organisation and event types (known,
/// not a supervisor's approval), a supervisor's ISO country codes or "*"; at most 20 sources, each a
/// URI-reference of at most 500 characters without spaces or '|'.
void ValidateNewToken(const NewToken& token);
/// The source a token's events carry when its creator named none: "urn:returnflow:token:<name>".
std::string DefaultSource(std::string_view name);

struct CreatedToken {
  persistence::TokenRecord record;
  std::string secret;  ///< shown once; only its digest is stored
};
/// Validates `token` (ValidateNewToken), gives it DefaultSource when it names none, generates its secret
/// and stores it (Failure kConflict when the name is taken). Blocking: the engine's use case and the
/// `returnflow token create` command both issue tokens through here.
/// Audited as a token change by `actor` (the admin token's name; the CLI is "returnflow:cli").
CreatedToken IssueToken(persistence::TokenRepository& tokens, NewToken token, std::string_view actor = "returnflow:cli");

}  // namespace returnflow::engine
