#include <fmt/format.h>
#include <openssl/evp.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "persistence/internal.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {

namespace {
constexpr std::array<std::string_view, 4> kRoleNames = {"caseworker", "partner", "supervisor", "admin"};

constexpr const char* kTokenColumns =
    "token_id, name, role, office, organisation, event_types, countries, token_hash, created_at, revoked_at";

struct TokenRow {
  std::string token_id, name, role, office, organisation, event_types, countries, token_hash;
  long long created_at = 0, revoked_at = 0;
  soci::indicator revoked_indicator = soci::i_null;

  TokenRecord ToRecord() const {
    TokenRecord record;
    record.token_id = token_id;
    record.name = name;
    const auto parsed_role = TokenRoleFromName(role);
    if (!parsed_role) throw PersistenceError(ErrorKind::kInvalidData, "tokens: invalid_data (stored role)");
    record.role = *parsed_role;
    record.scope.office = office;
    record.scope.organisation = organisation;
    record.scope.event_types = internal::SplitList(event_types);
    record.scope.countries = internal::SplitList(countries);
    record.hash_hex = token_hash;
    record.created_at = internal::FromMicros(created_at);
    if (revoked_indicator == soci::i_ok) record.revoked_at = internal::FromMicros(revoked_at);
    return record;
  }
};

std::optional<TokenRecord> FindOne(Database& database, std::string_view column, std::string_view value_view) {
  const std::string value(value_view);
  std::optional<TokenRecord> record;
  database.Read("find token", [&](soci::session& sql) {
    TokenRow row;
    record.reset();
    sql << fmt::format("SELECT {} FROM api_tokens WHERE {} = :value", kTokenColumns, column), soci::use(value, "value"),
        soci::into(row.token_id), soci::into(row.name), soci::into(row.role), soci::into(row.office),
        soci::into(row.organisation), soci::into(row.event_types), soci::into(row.countries),
        soci::into(row.token_hash), soci::into(row.created_at), soci::into(row.revoked_at, row.revoked_indicator);
    if (sql.got_data()) record = row.ToRecord();
  });
  return record;
}

bool ValidListItem(const std::string& item) { return !item.empty() && item.find('|') == std::string::npos; }
}  // namespace

std::string_view Name(TokenRole role) { return kRoleNames[static_cast<std::size_t>(role)]; }

std::optional<TokenRole> TokenRoleFromName(std::string_view name) {
  for (std::size_t index = 0; index < kRoleNames.size(); ++index) {
    if (kRoleNames[index] == name) return static_cast<TokenRole>(index);
  }
  return std::nullopt;
}

std::string Sha256Hex(std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest, &length) != 1) {
    throw std::runtime_error("sha256 failed");
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

TokenRecord TokenRepository::Create(std::string_view name_view, TokenRole role, const TokenScope& scope,
                                    std::string_view secret) {
  if (name_view.empty() || secret.size() < 16) {
    throw PersistenceError(ErrorKind::kInvalidData, "create token: invalid_data (name required, secret too short)");
  }
  if (!std::all_of(scope.event_types.begin(), scope.event_types.end(), ValidListItem) ||
      !std::all_of(scope.countries.begin(), scope.countries.end(), ValidListItem)) {
    throw PersistenceError(ErrorKind::kInvalidData, "create token: invalid_data (scope list item)");
  }
  const std::string token_id = internal::NewUuid();
  const std::string name(name_view);
  const std::string role_name(Name(role));
  const std::string event_types = internal::JoinList(scope.event_types);
  const std::string countries = internal::JoinList(scope.countries);
  const std::string hash = Sha256Hex(secret);
  const long long now = internal::ToMicros(Now());
  database_.WriteTransaction("create token", [&](soci::session& sql) {
    int existing = 0;
    sql << "SELECT COUNT(*) FROM api_tokens WHERE name = :name OR token_hash = :hash", soci::use(name, "name"),
        soci::use(hash, "hash"), soci::into(existing);
    if (existing > 0) throw PersistenceError(ErrorKind::kConflict, "create token: conflict (name or secret in use)");
    sql << "INSERT INTO api_tokens (token_id, name, role, office, organisation, event_types, countries, token_hash, "
           "created_at) VALUES (:token_id, :name, :role, :office, :organisation, :event_types, :countries, :hash, "
           ":created_at)",
        soci::use(token_id, "token_id"), soci::use(name, "name"), soci::use(role_name, "role"),
        soci::use(scope.office, "office"), soci::use(scope.organisation, "organisation"),
        soci::use(event_types, "event_types"), soci::use(countries, "countries"), soci::use(hash, "hash"),
        soci::use(now, "created_at");
  });
  spdlog::info("token {} created with role {}", name, role_name);
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
  return FindOne(database_, "token_hash", hash_hex);
}

std::optional<TokenRecord> TokenRepository::FindByName(std::string_view name) {
  return FindOne(database_, "name", name);
}

std::vector<TokenRecord> TokenRepository::List() {
  std::vector<TokenRecord> tokens;
  database_.Read("list tokens", [&](soci::session& sql) {
    tokens.clear();
    constexpr std::size_t kBatch = 100;
    std::vector<std::string> token_id(kBatch), name(kBatch), role(kBatch), office(kBatch), organisation(kBatch),
        event_types(kBatch), countries(kBatch), token_hash(kBatch);
    std::vector<long long> created_at(kBatch), revoked_at(kBatch);
    std::vector<soci::indicator> revoked_indicator(kBatch);
    soci::statement statement(sql);
    internal::PrepareOnce(statement, fmt::format("SELECT {} FROM api_tokens ORDER BY name", kTokenColumns),
                          soci::into(token_id), soci::into(name), soci::into(role), soci::into(office),
                          soci::into(organisation), soci::into(event_types), soci::into(countries),
                          soci::into(token_hash), soci::into(created_at), soci::into(revoked_at, revoked_indicator));
    statement.execute();
    while (statement.fetch()) {
      for (std::size_t row = 0; row < token_id.size(); ++row) {
        TokenRow token{token_id[row],         name[row],      role[row],       office[row],     organisation[row],
                       event_types[row],      countries[row], token_hash[row], created_at[row], revoked_at[row],
                       revoked_indicator[row]};
        tokens.push_back(token.ToRecord());
      }
    }
  });
  return tokens;
}

bool TokenRepository::Revoke(std::string_view name_view) {
  const std::string name(name_view);
  const long long now = internal::ToMicros(Now());
  bool revoked = false;
  database_.WriteTransaction("revoke token", [&](soci::session& sql) {
    std::string token_id;
    sql << "UPDATE api_tokens SET revoked_at = :now WHERE name = :name AND revoked_at IS NULL RETURNING token_id",
        soci::use(now, "now"), soci::use(name, "name"), soci::into(token_id);
    revoked = sql.got_data();
  });
  if (revoked) spdlog::info("token {} revoked", name);
  return revoked;
}

std::size_t TokenRepository::Count() {
  long long count = 0;
  database_.Read("count tokens",
                 [&](soci::session& sql) { sql << "SELECT COUNT(*) FROM api_tokens", soci::into(count); });
  return static_cast<std::size_t>(count);
}

}  // namespace returnflow::persistence
