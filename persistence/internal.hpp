#pragma once
// Helpers shared by the persistence sources; not part of the public interface.
#include <soci/soci.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/cursor.hpp"
#include "persistence/database.hpp"
#include "persistence/personal_data_crypto.hpp"
#include "persistence/repository.hpp"
#include "workflow/vocabulary.hpp"

namespace returnflow::persistence::internal {

/// Thrown inside a write transaction to have it rolled back and run again (a lost insert race on a
/// unique key, a PostgreSQL deadlock or serialization failure). Not derived from std::exception so
/// that nothing on the way mistakes it for a failure.
struct RetryTransaction {};

/// True when the current exception (inside a catch) is a unique/constraint violation.
bool IsConstraintViolation();

/// True when the current exception (inside a catch) suggests the connection itself is gone.
bool IsConnectionFailure();

long long ToMicros(Timestamp timestamp);
Timestamp FromMicros(long long micros);

/// '|a|b|' form for lists stored in one column (searchable with LIKE '%|a|%'); values never contain '|'.
std::string JoinList(const std::vector<std::string>& items);
std::vector<std::string> SplitList(std::string_view joined);

/// A random UUID (version 4), lower case.
std::string NewUuid();

/// Canonical JSON text (object keys sorted, no whitespace); throws PersistenceError(kInvalidInput)
/// when `json_text` is not JSON.
std::string CanonicalJson(std::string_view json_text);

int VulnerabilityBits(const std::set<workflow::Vulnerability>& flags);
std::set<workflow::Vulnerability> VulnerabilitiesFromBits(int bits);

/// One row of the audit (personal_data_access): ids, names and categories only, never personal data.
struct AuditRow {
  std::string case_id;  ///< empty for token changes
  std::string actor;
  std::string purpose;
  std::string action;
  long long at = 0;  ///< microseconds
  std::string recipient;
  std::string categories = "|";
  std::string member_id;   ///< a correction's member
  std::string field;       ///< a correction's field name
  std::string token_name;  ///< a token change's token
};
void InsertAudit(soci::session& sql, const AuditRow& row);

using persistence::LooksLikeCaseId;

/// Binds `elements` (soci::use / soci::into) and prepares `query` as a one-time query. SOCI's default
/// for multi-row statements is a named server-side prepared statement that its destructor DEALLOCATEs,
/// and it throws from that destructor when the connection has died meanwhile; one-time queries have
/// nothing to deallocate.
template <typename... Elements>
void PrepareOnce(soci::statement& statement, const std::string& query, Elements&&... elements) {
  (statement.exchange(std::forward<Elements>(elements)), ...);
  statement.alloc();
  statement.prepare(query, soci::details::st_one_time_query);
  statement.define_and_bind();
}

/// JSON columns of the people table.
std::string DocumentsToJson(const std::vector<IdentityDocument>& documents);
std::vector<IdentityDocument> DocumentsFromJson(std::string_view json_text);
std::string ContactsToJson(const std::vector<Contact>& contacts);
std::vector<Contact> ContactsFromJson(std::string_view json_text);

/// Inserts one person's row into `people`, the only table that holds personal data, sealed under a fresh
/// data key (its `data_keys` row written too; the member must have neither row yet).
void InsertPerson(soci::session& sql, const MasterKeyring& keys, const std::string& case_id, const PersonalData& person,
                  long long updated_at);
/// The people rows of a case, by member id, opened; kCorruptData when one does not authenticate.
std::vector<PersonalData> ReadPeople(soci::session& sql, const MasterKeyring& keys, const std::string& case_id);
/// The JSON sealed for one person (the member id is not in it: it is the associated data).
std::string PersonToJson(const PersonalData& person);
PersonalData PersonFromJson(std::string member_id, std::string_view json_text);

}  // namespace returnflow::persistence::internal
