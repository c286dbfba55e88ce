#include <fmt/format.h>
#include <openssl/evp.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "persistence/case_rows.hpp"
#include "persistence/internal.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {

namespace {

using internal::Query;

#define RETURNFLOW_TOKEN_COLUMNS \
  "token_id, name, role, office, organisation, event_types, countries, sources, token_hash, created_at, revoked_at"

// :value (the name or the hash) -> the token (RETURNFLOW_TOKEN_COLUMNS).
constexpr Query kSelectTokenByName{"select token by name",
                                   "SELECT " RETURNFLOW_TOKEN_COLUMNS " FROM api_tokens WHERE name = :value"};
constexpr Query kSelectTokenByHash{"select token by hash",
                                   "SELECT " RETURNFLOW_TOKEN_COLUMNS " FROM api_tokens WHERE token_hash = :value"};
constexpr Query kSelectTokens{"select tokens", "SELECT " RETURNFLOW_TOKEN_COLUMNS " FROM api_tokens ORDER BY name"};
// :name, :hash -> a row when either is taken.
constexpr Query kTokenTaken{"token taken",
                            "SELECT 1 AS taken FROM api_tokens WHERE name = :name OR token_hash = :hash"};
// The token's columns as named parameters (revoked_at NULL).
constexpr Query kInsertToken{
    "insert token",
    "INSERT INTO api_tokens (token_id, name, role, office, organisation, event_types, countries, sources, "
    "token_hash, created_at) VALUES (:token_id, :name, :role, :office, :organisation, :event_types, :countries, "
    ":sources, :hash, :created_at)"};
// :now, :name -> token_id of the token revoked (none when it was not active).
constexpr Query kRevokeToken{"revoke token",
                             "UPDATE api_tokens SET revoked_at = :now WHERE name = :name AND revoked_at IS NULL "
                             "RETURNING token_id"};
constexpr Query kCountTokens{"count tokens", "SELECT COUNT(*) AS tokens FROM api_tokens"};

#undef RETURNFLOW_TOKEN_COLUMNS

/// One api_tokens row into a record; the one mapping of the table.
TokenRecord ReadToken(const soci::row& columns) {
  TokenRecord record;
  record.token_id = internal::Text(columns, "token_id");
  record.name = internal::Text(columns, "name");
  const auto role = workflow::FromName<workflow::Role>(internal::Text(columns, "role"), workflow::kRoleNames);
  if (!role) throw PersistenceError(ErrorKind::kCorruptData, "tokens: corrupt_data (stored role)");
  record.role = *role;
  record.scope.office = internal::Text(columns, "office");
  record.scope.organisation = internal::Text(columns, "organisation");
  record.scope.event_types = internal::SplitList(internal::Text(columns, "event_types"));
  record.scope.countries = internal::SplitList(internal::Text(columns, "countries"));
  record.scope.sources = internal::SplitList(internal::Text(columns, "sources"));
  record.hash_hex = internal::Text(columns, "token_hash");
  record.created_at = internal::FromMicros(internal::Integer(columns, "created_at"));
  if (!internal::IsNull(columns, "revoked_at")) {
    record.revoked_at = internal::FromMicros(internal::Integer(columns, "revoked_at"));
  }
  return record;
}

std::optional<TokenRecord> FindOne(Database& database, const Query& query, std::string_view value_view) {
  const std::string value(value_view);
  std::optional<TokenRecord> record;
  database.Read(query.name, [&](soci::session& sql) {
    record.reset();
    internal::ForEachRow(sql, query, [&](const soci::row& columns) { record = ReadToken(columns); },
                         soci::use(value, "value"));
  });
  return record;
}

bool ValidListItem(const std::string& item) {
  return !item.empty() && item.size() <= 500 && item.find('|') == std::string::npos;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest, &length) != 1) {
    throw PersistenceError(ErrorKind::kInternal, "sha256: internal (OpenSSL digest failed)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int index = 0; index < length; ++index) {
    hex += kHex[digest[index] >> 4];
    hex += kHex[digest[index] & 0x0f];
  }
  return hex;
}

TokenRecord TokenRepository::Create(std::string_view name_view, workflow::Role role, const TokenScope& scope,
                                    std::string_view secret, std::string_view actor) {
  if (name_view.empty() || name_view.size() > 100 || secret.size() < 16) {
    throw PersistenceError(ErrorKind::kInvalidInput, "create token: invalid_input (name required, secret too short)");
  }
  for (const auto* list : {&scope.event_types, &scope.countries, &scope.sources}) {
    if (!std::all_of(list->begin(), list->end(), ValidListItem)) {
      throw PersistenceError(ErrorKind::kInvalidInput, "create token: invalid_input (scope list item)");
    }
  }
  const std::string token_id = internal::NewUuid();
  const std::string name(name_view);
  const std::string role_name(workflow::Name(role));
  const std::string event_types = internal::JoinList(scope.event_types);
  const std::string countries = internal::JoinList(scope.countries);
  const std::string sources = internal::JoinList(scope.sources);
  const std::string hash = Sha256Hex(secret);
  const long long now = internal::ToMicros(database_.Now());
  database_.WriteTransaction("create token", [&](soci::session& sql) {
    bool taken = false;
    internal::ForEachRow(sql, kTokenTaken, [&](const soci::row&) { taken = true; }, soci::use(name, "name"),
                         soci::use(hash, "hash"));
    if (taken) throw PersistenceError(ErrorKind::kConflict, "create token: conflict (name or secret in use)");
    sql << kInsertToken.text, soci::use(token_id, "token_id"), soci::use(name, "name"), soci::use(role_name, "role"),
        soci::use(scope.office, "office"), soci::use(scope.organisation, "organisation"),
        soci::use(event_types, "event_types"), soci::use(countries, "countries"), soci::use(sources, "sources"),
        soci::use(hash, "hash"), soci::use(now, "created_at");
    internal::AuditRow audit;
    audit.actor = std::string(actor);
    audit.purpose = role_name;
    audit.action = "token_create";
    audit.at = now;
    audit.token_name = name;
    internal::InsertAudit(sql, audit);
  });
  spdlog::info("event=token_created name={} role={}", name, role_name);
  TokenRecord record;
  record.token_id = token_id;
  record.name = name;
  record.role = role;
  record.scope = scope;
  record.hash_hex = hash;
  record.created_at = internal::FromMicros(now);
  return record;
}

std::optional<TokenRecord> TokenRepository::FindByHash(std::string_view hash_hex) {
  return FindOne(database_, kSelectTokenByHash, hash_hex);
}

std::optional<TokenRecord> TokenRepository::FindByName(std::string_view name) {
  return FindOne(database_, kSelectTokenByName, name);
}

std::vector<TokenRecord> TokenRepository::List() {
  std::vector<TokenRecord> tokens;
  database_.Read(kSelectTokens.name, [&](soci::session& sql) {
    tokens.clear();
    internal::ForEachRow(sql, kSelectTokens, [&](const soci::row& columns) { tokens.push_back(ReadToken(columns)); });
  });
  return tokens;
}

bool TokenRepository::Revoke(std::string_view name_view, std::string_view actor) {
  const std::string name(name_view);
  const long long now = internal::ToMicros(database_.Now());
  bool revoked = false;
  database_.WriteTransaction(kRevokeToken.name, [&](soci::session& sql) {
    revoked = false;
    internal::ForEachRow(sql, kRevokeToken, [&](const soci::row&) { revoked = true; }, soci::use(now, "now"),
                         soci::use(name, "name"));
    if (!revoked) return;
    internal::AuditRow audit;
    audit.actor = std::string(actor);
    audit.action = "token_revoke";
    audit.at = now;
    audit.token_name = name;
    internal::InsertAudit(sql, audit);
  });
  if (revoked) spdlog::info("event=token_revoked name={}", name);
  return revoked;
}

std::size_t TokenRepository::Count() {
  long long count = 0;
  database_.Read(kCountTokens.name, [&](soci::session& sql) {
    internal::ForEachRow(sql, kCountTokens, [&](const soci::row& columns) { count = internal::Integer(columns, "tokens"); });
  });
  return static_cast<std::size_t>(count);
}

}  // namespace returnflow::persistence
