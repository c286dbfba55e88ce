#include "persistence/internal.hpp"
#include "persistence/case_rows.hpp"
#include "persistence/migrations/migrations.hpp"

#include <fmt/format.h>

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <exception>
#include <random>

namespace returnflow::persistence::internal {

bool IsConstraintViolation() {
  try {
    throw;
  } catch (const soci::sqlite3_soci_error& error) {
    return (error.result() & 0xff) == SQLITE_CONSTRAINT;
  } catch (const soci::soci_error& error) {
    return error.get_error_category() == soci::soci_error::constraint_violation;
  } catch (...) {
    return false;
  }
}

long long ToMicros(Timestamp timestamp) { return timestamp.time_since_epoch().count(); }
Timestamp FromMicros(long long micros) { return Timestamp{std::chrono::microseconds{micros}}; }

std::string JoinList(const std::vector<std::string>& items) {
  std::string joined = "|";
  for (const auto& item : items) {
    joined += item;
    joined += '|';
  }
  return joined;
}

std::vector<std::string> SplitList(std::string_view joined) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start < joined.size()) {
    const auto end = joined.find('|', start);
    const auto piece = joined.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!piece.empty()) items.emplace_back(piece);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return items;
}

void InsertAudit(soci::session& sql, const AuditRow& row) {
  const std::string access_id = NewUuid();
  sql << "INSERT INTO personal_data_access (access_id, case_id, actor, purpose, action, accessed_at, recipient, "
         "categories, member_id, field, token_name) VALUES (:access_id, :case_id, :actor, :purpose, :action, "
         ":accessed_at, :recipient, :categories, :member_id, :field, :token_name)",
      soci::use(access_id, "access_id"), soci::use(row.case_id, "case_id"), soci::use(row.actor, "actor"),
      soci::use(row.purpose, "purpose"), soci::use(row.action, "action"), soci::use(row.at, "accessed_at"),
      soci::use(row.recipient, "recipient"), soci::use(row.categories, "categories"),
      soci::use(row.member_id, "member_id"), soci::use(row.field, "field"), soci::use(row.token_name, "token_name");
}

std::string NewUuid() {
  // boost::uuids::random_generator is not thread-safe; one per thread.
  thread_local boost::uuids::random_generator generator;
  return boost::uuids::to_string(generator());
}

namespace {
void WriteCanonical(const boost::json::value& value, std::string& out) {
  if (value.is_object()) {
    const auto& object = value.as_object();
    std::vector<const boost::json::key_value_pair*> members;
    members.reserve(object.size());
    for (const auto& member : object) members.push_back(&member);
    std::sort(members.begin(), members.end(),
              [](const auto* left, const auto* right) { return left->key() < right->key(); });
    out += '{';
    bool first = true;
    for (const auto* member : members) {
      if (!first) out += ',';
      first = false;
      out += boost::json::serialize(boost::json::value(member->key()));
      out += ':';
      WriteCanonical(member->value(), out);
    }
    out += '}';
  } else if (value.is_array()) {
    out += '[';
    bool first = true;
    for (const auto& element : value.as_array()) {
      if (!first) out += ',';
      first = false;
      WriteCanonical(element, out);
    }
    out += ']';
  } else {
    out += boost::json::serialize(value);
  }
}
}  // namespace

std::string CanonicalJson(std::string_view json_text) {
  boost::system::error_code error;
  const auto value = boost::json::parse(json_text.empty() ? std::string_view("null") : json_text, error);
  if (error) throw PersistenceError(ErrorKind::kInvalidInput, "event data is not valid JSON");
  std::string out;
  WriteCanonical(value, out);
  return out;
}

int VulnerabilityBits(const std::set<workflow::Vulnerability>& flags) {
  int bits = 0;
  for (const auto flag : flags) bits |= 1 << static_cast<int>(flag);
  return bits;
}

std::set<workflow::Vulnerability> VulnerabilitiesFromBits(int bits) {
  std::set<workflow::Vulnerability> flags;
  for (std::size_t index = 0; index < workflow::kVulnerabilityNames.size(); ++index) {
    if (bits & (1 << index)) flags.insert(static_cast<workflow::Vulnerability>(index));
  }
  return flags;
}

std::string DocumentsToJson(const std::vector<IdentityDocument>& documents) {
  boost::json::array array;
  for (const auto& document : documents) {
    array.push_back(boost::json::object{{"type", document.type}, {"number", document.number}});
  }
  return boost::json::serialize(array);
}

namespace {

/// The pairs of a stored documents/contacts column ([{first: .., second: ..}, ...]); kCorruptData when the
/// column is not what InsertPerson wrote.
std::vector<std::pair<std::string, std::string>> StoredPairs(std::string_view json_text, std::string_view first,
                                                             std::string_view second) {
  const auto corrupt = [] { return PersistenceError(ErrorKind::kCorruptData, "read people: corrupt_data (stored list)"); };
  boost::system::error_code error;
  const auto parsed = boost::json::parse(json_text, error);
  if (error || !parsed.is_array()) throw corrupt();
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& element : parsed.get_array()) {
    const auto* object = element.if_object();
    const auto* a = object ? object->if_contains(first) : nullptr;
    const auto* b = object ? object->if_contains(second) : nullptr;
    if (!a || !b || !a->is_string() || !b->is_string()) throw corrupt();
    pairs.emplace_back(a->get_string(), b->get_string());
  }
  return pairs;
}

}  // namespace

std::vector<IdentityDocument> DocumentsFromJson(std::string_view json_text) {
  std::vector<IdentityDocument> documents;
  for (auto& [type, number] : StoredPairs(json_text, "type", "number")) documents.push_back({type, number});
  return documents;
}

std::vector<Contact> ContactsFromJson(std::string_view json_text) {
  std::vector<Contact> contacts;
  for (auto& [kind, value] : StoredPairs(json_text, "kind", "value")) contacts.push_back({kind, value});
  return contacts;
}

std::string ContactsToJson(const std::vector<Contact>& contacts) {
  boost::json::array array;
  for (const auto& contact : contacts) {
    array.push_back(boost::json::object{{"kind", contact.kind}, {"value", contact.value}});
  }
  return boost::json::serialize(array);
}

std::string PersonToJson(const PersonalData& person) {
  return boost::json::serialize(boost::json::object{{"given_names", person.given_names},
                                                    {"family_name", person.family_name},
                                                    {"date_of_birth", person.date_of_birth},
                                                    {"documents", DocumentsToJson(person.documents)},
                                                    {"contacts", ContactsToJson(person.contacts)}});
}

PersonalData PersonFromJson(std::string member_id, std::string_view json_text) {
  const auto corrupt = [] { return PersistenceError(ErrorKind::kCorruptData, "read people: corrupt_data (sealed row)"); };
  boost::system::error_code error;
  const auto parsed = boost::json::parse(json_text, error);
  const auto* object = error ? nullptr : parsed.if_object();
  if (!object) throw corrupt();
  const auto text = [&](std::string_view key) -> std::string {
    const auto* value = object->if_contains(key);
    if (!value || !value->is_string()) throw corrupt();
    return std::string(value->get_string());
  };
  PersonalData person;
  person.member_id = std::move(member_id);
  person.given_names = text("given_names");
  person.family_name = text("family_name");
  person.date_of_birth = text("date_of_birth");
  person.documents = DocumentsFromJson(text("documents"));
  person.contacts = ContactsFromJson(text("contacts"));
  return person;
}

namespace {
// The sealed people row of one member.
constexpr Query kInsertPerson{"insert person",
                              "INSERT INTO people (case_id, member_id, sealed, updated_at) "
                              "VALUES (:case_id, :member_id, :sealed, :updated_at)"};
// Its data key, wrapped under the master key key_id.
constexpr Query kInsertDataKey{"insert data key",
                               "INSERT INTO data_keys (case_id, member_id, key_id, wrapped_key, created_at) "
                               "VALUES (:case_id, :member_id, :key_id, :wrapped_key, :created_at)"};
}  // namespace

void InsertPerson(soci::session& sql, const MasterKeyring& keys, const std::string& case_id, const PersonalData& person,
                  long long updated_at) {
  const auto sealed = SealPerson(keys, case_id, person.member_id, PersonToJson(person));
  sql << kInsertDataKey.text, soci::use(case_id, "case_id"), soci::use(person.member_id, "member_id"),
      soci::use(sealed.key_id, "key_id"), soci::use(sealed.wrapped_key, "wrapped_key"),
      soci::use(updated_at, "created_at");
  sql << kInsertPerson.text, soci::use(case_id, "case_id"), soci::use(person.member_id, "member_id"),
      soci::use(sealed.sealed, "sealed"), soci::use(updated_at, "updated_at");
}

}  // namespace returnflow::persistence::internal

namespace returnflow::persistence::internal {

namespace {
// :case_id -> the case's sealed people with their wrapped data keys, by member id.
constexpr Query kSelectPeople{"select people",
                              "SELECT p.member_id AS member_id, p.sealed AS sealed, k.key_id AS key_id, "
                              "k.wrapped_key AS wrapped_key FROM people p JOIN data_keys k "
                              "ON k.case_id = p.case_id AND k.member_id = p.member_id "
                              "WHERE p.case_id = :case_id ORDER BY p.member_id"};
}  // namespace

std::vector<PersonalData> ReadPeople(soci::session& sql, const MasterKeyring& keys, const std::string& case_id) {
  std::vector<PersonalData> people;
  ForEachRow(sql, kSelectPeople, [&](const soci::row& columns) {
    auto member_id = Text(columns, "member_id");
    const SealedPerson sealed{Text(columns, "sealed"), Text(columns, "key_id"), Text(columns, "wrapped_key")};
    people.push_back(PersonFromJson(member_id, OpenPerson(keys, case_id, member_id, sealed)));
  }, soci::use(case_id, "case_id"));
  return people;
}

}  // namespace returnflow::persistence::internal

namespace returnflow::persistence::migrations {

namespace {
constexpr internal::Query kSelectPlaintextPeople{
    "select plaintext people",
    "SELECT case_id, member_id, given_names, family_name, date_of_birth, documents, contacts, updated_at "
    "FROM people ORDER BY case_id, member_id"};
}  // namespace

void SealExistingPeople(soci::session& sql, const MasterKeyring* master_keys) {
  struct Plain {
    std::string case_id;
    PersonalData person;
    long long updated_at = 0;
  };
  std::vector<Plain> rows;
  internal::ForEachRow(sql, kSelectPlaintextPeople, [&](const soci::row& columns) {
    Plain plain;
    plain.case_id = internal::Text(columns, "case_id");
    plain.person.member_id = internal::Text(columns, "member_id");
    plain.person.given_names = internal::Text(columns, "given_names");
    plain.person.family_name = internal::Text(columns, "family_name");
    plain.person.date_of_birth = internal::Text(columns, "date_of_birth");
    plain.person.documents = internal::DocumentsFromJson(internal::Text(columns, "documents"));
    plain.person.contacts = internal::ContactsFromJson(internal::Text(columns, "contacts"));
    plain.updated_at = internal::Integer(columns, "updated_at");
    rows.push_back(std::move(plain));
  });
  if (!rows.empty() && master_keys == nullptr) {
    throw PersistenceError(ErrorKind::kUnavailable,
                           fmt::format("migrate: unavailable (migration 11 encrypts the {} existing people rows and needs "
                                       "the master key: set privacy.master_key_file or RETURNFLOW_MASTER_KEY)",
                                       rows.size()));
  }
  // The plaintext goes with its columns; the rows come back sealed.
  sql << "DELETE FROM people";
  for (const auto* column : {"given_names", "family_name", "date_of_birth", "documents", "contacts"}) {
    sql << std::string("ALTER TABLE people DROP COLUMN ") + column;
  }
  for (const auto& row : rows) internal::InsertPerson(sql, *master_keys, row.case_id, row.person, row.updated_at);
}

}  // namespace returnflow::persistence::migrations
