#pragma once
/// Who may do what: bearer-token principals, their roles and scopes, and the authorization decisions.
/// Pure functions (no I/O), tested without a server; the handlers only ask.
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

namespace returnflow::api {

enum class Role { kCaseworker, kPartner, kSupervisor, kAdmin };
std::string_view Name(Role role);
std::optional<Role> RoleFromName(std::string_view name);

/// The authenticated caller: a token's role and scope. `actor` is pseudonymous (the token's label).
struct Principal {
  std::string token_id;
  std::string actor;
  Role role = Role::kCaseworker;
  std::string office;                   ///< caseworker: the office whose cases it works
  std::string organisation;             ///< partner: the organisation cases are assigned to
  std::set<std::string> event_types;    ///< partner: the event types it may send
  std::set<std::string> countries;      ///< supervisor: host/origin countries it may read; empty = all
};

/// The parts of a case that authorization looks at (no personal data).
struct CaseScope {
  std::string office;
  std::string host_country;
  std::string origin_country;
  std::vector<std::string> partners;  ///< assigned partner organisations
};

/// Whether the caller may see the case at all. A case it may not see is answered as unknown (404).
bool CanSeeCase(const Principal& principal, const CaseScope& scope);
/// Whether the caller may send `event_type` to a case it can see. False answers 403.
bool CanSendEvent(const Principal& principal, std::string_view event_type);
/// Personal data: caseworkers of the case's office only.
bool CanReadPersonalData(const Principal& principal, const CaseScope& scope);
bool CanCreateCase(const Principal& principal, std::string_view office);
bool CanSearch(const Principal& principal);
bool CanReadWorkflow(const Principal& principal);
bool CanManageTokens(const Principal& principal);
/// Prometheus metrics: operators (admin) and supervisors; they count routes, outcomes and reasons
/// across every office and partner, which caseworkers and partners have no business seeing.
bool CanReadMetrics(const Principal& principal);

/// Events only a supervisor sends: the second-person approvals.
const std::set<std::string, std::less<>>& SupervisorEvents();

// --- Bearer tokens -----------------------------------------------------------------------------------

/// A new random token (32 bytes from the OpenSSL CSPRNG, base64url, prefixed "rft_"). Shown once.
std::string GenerateToken();
/// SHA-256 of the token, lower-case hex: the only form that is stored.
std::string HashToken(std::string_view token);
/// Constant-time comparison of two equal-length digests (CRYPTO_memcmp).
bool DigestsEqual(std::string_view left, std::string_view right);
/// The token from an Authorization header value ("Bearer <token>"), or nullopt.
std::optional<std::string_view> BearerToken(std::string_view authorization);

/// A token scope as JSON (`{"office": ...}` / `{"organisation": ..., "event_types": [...]}` / ...).
boost::json::value ScopeToJson(const Principal& principal);
/// Fills the scope fields of `principal` from JSON; false with `error` set when invalid for the role.
bool ScopeFromJson(const boost::json::value& json, Principal& principal, std::string& error);

}  // namespace returnflow::api
