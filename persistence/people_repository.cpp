#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include "persistence/apply_plan.hpp"
#include "persistence/case_rows.hpp"
#include "persistence/cursor.hpp"
#include "persistence/filtered_query.hpp"
#include "persistence/internal.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {
namespace {

using internal::Query;

// :case_id -> 1 when the case exists.
constexpr Query kCaseExists{"case exists", "SELECT 1 AS found FROM cases WHERE case_id = :case_id"};
// :case_id, :member_id.
constexpr Query kDeletePerson{"delete person", "DELETE FROM people WHERE case_id = :case_id AND member_id = :member_id"};
// :case_id.
constexpr Query kDeletePeople{"delete people", "DELETE FROM people WHERE case_id = :case_id"};
// :case_id, :member_id: the member's data key (with it goes any copy of the ciphertext's readability).
constexpr Query kDeleteDataKey{"delete data key",
                               "DELETE FROM data_keys WHERE case_id = :case_id AND member_id = :member_id"};
// :case_id.
constexpr Query kDeleteDataKeys{"delete data keys", "DELETE FROM data_keys WHERE case_id = :case_id"};
// :case_id -> how many people rows the case has.
constexpr Query kCountPeople{"count people", "SELECT COUNT(*) AS people FROM people WHERE case_id = :case_id"};
// :case_id -> the audit trail (actor, purpose, action, accessed_at, recipient, categories), oldest first.
constexpr Query kSelectAccess{"select personal data access",
                              "SELECT actor, purpose, action, accessed_at, recipient, categories FROM personal_data_access "
                              "WHERE case_id = :case_id ORDER BY accessed_at, access_id"};

void CheckAccess(std::string_view operation, std::string_view case_id, const PersonalDataAccess& access) {
  if (!internal::LooksLikeCaseId(case_id))
    throw PersistenceError(ErrorKind::kNotFound, fmt::format("{}: not_found", operation));
  if (access.actor.empty() || !workflow::FromName<workflow::AccessPurpose>(access.purpose, workflow::kAccessPurposeNames)) {
    throw PersistenceError(ErrorKind::kInvalidInput,
                           fmt::format("{}: invalid_input (an actor and a purpose from the closed list are required)", operation));
  }
}

void RequireCase(soci::session& sql, const std::string& case_id, std::string_view operation) {
  bool found = false;
  internal::ForEachRow(sql, kCaseExists, [&](const soci::row&) { found = true; }, soci::use(case_id, "case_id"));
  if (!found) throw PersistenceError(ErrorKind::kNotFound, fmt::format("{} case={}: not_found", operation, case_id));
}

void Audit(soci::session& sql, const std::string& case_id, const PersonalDataAccess& access,
           std::string_view action_view, long long now, const std::string& recipient = {},
           const std::string& categories = "|") {
  internal::AuditRow row;
  row.case_id = case_id;
  row.actor = access.actor;
  row.purpose = access.purpose;
  row.action = std::string(action_view);
  row.at = now;
  row.recipient = recipient;
  row.categories = categories;
  internal::InsertAudit(sql, row);
}

/// '|a|b|': every category any member receives, in the vocabulary's order.
std::string CategoryList(const std::map<std::string, std::set<workflow::DataCategory>>& by_member) {
  std::set<workflow::DataCategory> all;
  for (const auto& [member, categories] : by_member) all.insert(categories.begin(), categories.end());
  std::string list = "|";
  for (const auto category : all) list += std::string(workflow::Name(category)) + "|";
  return list;
}

// :current, :batch -> data keys wrapped under another master key than the current one.
constexpr Query kSelectStaleDataKeys{"select stale data keys",
                                     "SELECT case_id, member_id, key_id, wrapped_key FROM data_keys "
                                     "WHERE key_id <> :current ORDER BY case_id, member_id LIMIT :batch"};
// :key_id, :wrapped_key, :case_id, :member_id, :old_key_id, :old_wrapped_key: one data key rewrapped, unless
// it was replaced meanwhile.
constexpr Query kRewrapDataKey{"rewrap data key",
                               "UPDATE data_keys SET key_id = :key_id, wrapped_key = :wrapped_key "
                               "WHERE case_id = :case_id AND member_id = :member_id AND key_id = :old_key_id "
                               "AND wrapped_key = :old_wrapped_key"};
// -> data keys per master key id.
constexpr Query kCountDataKeys{"count data keys",
                               "SELECT key_id, COUNT(*) AS data_keys FROM data_keys GROUP BY key_id ORDER BY key_id"};

}  // namespace

std::size_t PeopleRepository::RotateDataKeys(std::size_t batch) {
  const auto& keys = database_.MasterKeys();
  const auto& current = keys.Current();
  const long long limit = static_cast<long long>(std::max<std::size_t>(batch, 1));
  std::size_t rewrapped = 0;
  for (;;) {
    std::size_t found = 0;
    std::size_t done = 0;
    database_.WriteTransaction("rotate data keys", [&](soci::session& sql) {
      struct Stale {
        std::string case_id, member_id, key_id, wrapped_key;
      };
      std::vector<Stale> stale;
      internal::ForEachRow(sql, kSelectStaleDataKeys, [&](const soci::row& columns) {
        stale.push_back({internal::Text(columns, "case_id"), internal::Text(columns, "member_id"),
                         internal::Text(columns, "key_id"), internal::Text(columns, "wrapped_key")});
      }, soci::use(current.id, "current"), soci::use(limit, "batch"));
      found = stale.size();
      done = 0;
      for (const auto& key : stale) {
        const auto wrapped = RewrapDataKey(keys, key.case_id, key.member_id, key.key_id, key.wrapped_key, current);
        soci::statement update = (sql.prepare << kRewrapDataKey.text, soci::use(current.id, "key_id"),
                                  soci::use(wrapped, "wrapped_key"), soci::use(key.case_id, "case_id"),
                                  soci::use(key.member_id, "member_id"), soci::use(key.key_id, "old_key_id"),
                                  soci::use(key.wrapped_key, "old_wrapped_key"));
        update.execute(true);
        done += static_cast<std::size_t>(update.get_affected_rows());
      }
    });
    rewrapped += done;
    spdlog::info("event=data_keys_rewrapped count={} key_id={}", done, current.id);
    if (found == 0) return rewrapped;
  }
}

std::map<std::string, long long> PeopleRepository::DataKeysByMasterKey() {
  std::map<std::string, long long> counts;
  database_.Read("count data keys", [&](soci::session& sql) {
    counts.clear();
    internal::ForEachRow(sql, kCountDataKeys, [&](const soci::row& columns) {
      counts[internal::Text(columns, "key_id")] = internal::Integer(columns, "data_keys");
    });
  });
  return counts;
}

std::vector<PersonalData> PeopleRepository::Read(std::string_view case_id, const PersonalDataAccess& access) {
  return ReadAudited(case_id, access, "read");
}

std::vector<PersonalData> PeopleRepository::Export(std::string_view case_id, const PersonalDataAccess& access) {
  return ReadAudited(case_id, access, "export");
}

std::vector<PersonalData> PeopleRepository::ReadAudited(std::string_view case_id_view, const PersonalDataAccess& access,
                                                        std::string_view action) {
  CheckAccess("read people", case_id_view, access);
  const std::string case_id(case_id_view);
  std::vector<PersonalData> people;
  // A write transaction: the audit row and the read commit together, or neither happens.
  database_.WriteTransaction("read people", [&](soci::session& sql) {
    people.clear();
    RequireCase(sql, case_id, "read people");
    Audit(sql, case_id, access, action, internal::ToMicros(database_.Now()));
    people = internal::ReadPeople(sql, database_.MasterKeys(), case_id);
  });
  spdlog::info("case={} personal data {} by {} for {}", case_id, action, access.actor, access.purpose);
  return people;
}

PersonalData PeopleRepository::Correct(std::string_view case_id_view, const PersonalData& corrected,
                                       std::string_view field, const PersonalDataAccess& access) {
  CheckAccess("correct people", case_id_view, access);
  static const std::set<std::string_view> kFields = {"given_names", "family_name", "date_of_birth", "documents",
                                                     "contacts"};
  if (corrected.member_id.empty() || !kFields.contains(field))
    throw PersistenceError(ErrorKind::kInvalidInput, "correct people: invalid_input (member id, field)");
  const std::string case_id(case_id_view);
  PersonalData person;
  database_.WriteTransaction("correct people", [&](soci::session& sql) {
    RequireCase(sql, case_id, "correct people");
    bool held = false;
    for (auto& stored : internal::ReadPeople(sql, database_.MasterKeys(), case_id)) {
      if (stored.member_id != corrected.member_id) continue;
      person = std::move(stored);
      held = true;
    }
    if (!held) throw PersistenceError(ErrorKind::kNotFound, "correct people: not_found (member)");
    if (field == "given_names") person.given_names = corrected.given_names;
    if (field == "family_name") person.family_name = corrected.family_name;
    if (field == "date_of_birth") person.date_of_birth = corrected.date_of_birth;
    if (field == "documents") person.documents = corrected.documents;
    if (field == "contacts") person.contacts = corrected.contacts;
    const long long now = internal::ToMicros(database_.Now());
    sql << kDeletePerson.text, soci::use(case_id, "case_id"), soci::use(person.member_id, "member_id");
    sql << kDeleteDataKey.text, soci::use(case_id, "case_id"), soci::use(person.member_id, "member_id");
    internal::InsertPerson(sql, database_.MasterKeys(), case_id, person, now);
    internal::AuditRow row;
    row.case_id = case_id;
    row.actor = access.actor;
    row.purpose = access.purpose;
    row.action = "correct";
    row.at = now;
    row.member_id = person.member_id;
    row.field = std::string(field);
    internal::InsertAudit(sql, row);
  });
  spdlog::info("case={} personal data corrected ({}) by {}", case_id, field, access.actor);
  return person;
}

void PeopleRepository::Upsert(std::string_view case_id_view, const PersonalData& person,
                              const PersonalDataAccess& access) {
  CheckAccess("write people", case_id_view, access);
  if (person.member_id.empty())
    throw PersistenceError(ErrorKind::kInvalidInput, "write people: invalid_input (member id)");
  const std::string case_id(case_id_view);
  database_.WriteTransaction("write people", [&](soci::session& sql) {
    RequireCase(sql, case_id, "write people");
    const long long now = internal::ToMicros(database_.Now());
    sql << kDeletePerson.text, soci::use(case_id, "case_id"), soci::use(person.member_id, "member_id");
    sql << kDeleteDataKey.text, soci::use(case_id, "case_id"), soci::use(person.member_id, "member_id");
    internal::InsertPerson(sql, database_.MasterKeys(), case_id, person, now);
    Audit(sql, case_id, access, "write", internal::ToMicros(database_.Now()));
  });
}

std::size_t PeopleRepository::Erase(std::string_view case_id_view, const PersonalDataAccess& access) {
  CheckAccess("erase people", case_id_view, access);
  const std::string case_id(case_id_view);
  std::size_t erased = 0;
  database_.WriteTransaction("erase people", [&](soci::session& sql) {
    RequireCase(sql, case_id, "erase people");
    erased = internal::ErasePeopleWithin(sql, case_id, access, internal::ToMicros(database_.Now()));
  });
  spdlog::info("case={} personal data erased ({} people) by {}", case_id, erased, access.actor);
  return erased;
}

namespace internal {

std::size_t ErasePeopleWithin(soci::session& sql, const std::string& case_id, const PersonalDataAccess& access,
                              long long now) {
  std::size_t erased = 0;
  ForEachRow(sql, kCountPeople, [&](const soci::row& columns) {
    erased = static_cast<std::size_t>(Integer(columns, "people"));
  }, soci::use(case_id, "case_id"));
  // Erasure needs no master key: the rows and their data keys go, readable or not.
  sql << kDeletePeople.text, soci::use(case_id, "case_id");
  sql << kDeleteDataKeys.text, soci::use(case_id, "case_id");
  Audit(sql, case_id, access, "erase", now);
  return erased;
}

}  // namespace internal

PersonalDataTransfer PeopleRepository::ReadForTransfer(std::string_view case_id_view, const std::string& actor,
                                                      const std::string& recipient, workflow::TransferPurpose purpose) {
  if (!internal::LooksLikeCaseId(case_id_view)) throw PersistenceError(ErrorKind::kNotFound, "transfer people: not_found");
  if (actor.empty() || !workflow::ValidOrganisationId(recipient)) {
    throw PersistenceError(ErrorKind::kInvalidInput, "transfer people: invalid_input (an actor and a recipient are required)");
  }
  const std::string case_id(case_id_view);
  PersonalDataTransfer transfer;
  const auto decide = [&](soci::session& sql) {
    RequireCase(sql, case_id, "transfer people");
    const auto at = std::chrono::floor<std::chrono::seconds>(database_.Now());
    return workflow::CategoriesToTransfer(LoadConsents(sql, case_id), recipient, purpose, at);
  };
  // Most notifications go where no consent allows anything: that is decided by a read, without the write
  // lock; only a transfer decides again, reads and audits in one write transaction.
  bool any = false;
  database_.Read("transfer people", [&](soci::session& sql) { any = !decide(sql).empty(); });
  if (!any) return transfer;
  database_.WriteTransaction("transfer people", [&](soci::session& sql) {
    transfer = {};
    const auto now = database_.Now();
    transfer.categories = decide(sql);
    if (transfer.categories.empty()) return;  // withdrawn meanwhile: nothing goes, nothing to audit
    Audit(sql, case_id, {actor, std::string(workflow::Name(purpose))}, "transfer", internal::ToMicros(now), recipient,
          CategoryList(transfer.categories));
    for (auto& person : internal::ReadPeople(sql, database_.MasterKeys(), case_id)) {
      if (transfer.categories.contains(person.member_id)) transfer.people.push_back(std::move(person));
    }
  });
  if (!transfer.categories.empty()) {
    spdlog::info("case={} personal data transferred to {} for {} ({})", case_id, recipient, workflow::Name(purpose),
                 CategoryList(transfer.categories));
  }
  return transfer;
}

std::vector<PersonalDataRead> PeopleRepository::AuditTrail(std::string_view case_id_view) {
  if (!internal::LooksLikeCaseId(case_id_view)) throw PersistenceError(ErrorKind::kNotFound, "audit trail: not_found");
  const std::string case_id(case_id_view);
  std::vector<PersonalDataRead> trail;
  database_.Read("audit trail", [&](soci::session& sql) {
    trail.clear();
    RequireCase(sql, case_id, "audit trail");
    internal::ForEachRow(sql, kSelectAccess, [&](const soci::row& columns) {
      trail.push_back({case_id, internal::Text(columns, "actor"), internal::Text(columns, "purpose"),
                       internal::Text(columns, "action"), internal::FromMicros(internal::Integer(columns, "accessed_at")),
                       internal::Text(columns, "recipient"), internal::Text(columns, "categories")});
    }, soci::use(case_id, "case_id"));
  });
  return trail;
}

AuditPage PeopleRepository::AuditLog(const AuditQuery& query) {
  const std::size_t page_size = std::clamp<std::size_t>(query.page_size, 1, kMaxPageSize);
  internal::FilteredQuery filtered;
  if (query.case_id) filtered.Where("case_id = " + filtered.Bind(*query.case_id));
  if (query.actor) filtered.Where("actor = " + filtered.Bind(*query.actor));
  if (query.action) filtered.Where("action = " + filtered.Bind(*query.action));
  if (query.from) filtered.Where("accessed_at >= " + filtered.Bind(static_cast<long long>(internal::ToMicros(*query.from))));
  if (query.to) filtered.Where("accessed_at < " + filtered.Bind(static_cast<long long>(internal::ToMicros(*query.to))));
  if (!query.cursor.empty()) {
    const auto position = DecodeCursor(query.cursor);
    if (!position) throw PersistenceError(ErrorKind::kInvalidInput, "audit: invalid_input (malformed cursor)");
    const auto at = filtered.Bind(position->created_at);
    const auto at_again = filtered.Bind(position->created_at);
    filtered.Where("(accessed_at > " + at + " OR (accessed_at = " + at_again + " AND access_id > " +
                   filtered.Bind(position->case_id) + "))");
  }
  const auto limit = filtered.Bind(static_cast<long long>(page_size + 1));
  const std::string text =
      "SELECT access_id, case_id, actor, purpose, action, accessed_at, recipient, categories, member_id, field, "
      "token_name FROM personal_data_access" +
      filtered.WhereClause() + " ORDER BY accessed_at, access_id LIMIT " + limit;
  AuditPage page;
  database_.Read("audit", [&](soci::session& sql) {
    page.entries.clear();
    page.next_cursor.clear();
    bool more = false;
    filtered.ForEach(sql, text, [&](const soci::row& columns) {
      if (page.entries.size() == page_size) {
        more = true;
        return;
      }
      page.entries.push_back(
          {internal::Text(columns, "access_id"),
           {internal::Text(columns, "case_id"), internal::Text(columns, "actor"), internal::Text(columns, "purpose"),
            internal::Text(columns, "action"), internal::FromMicros(internal::Integer(columns, "accessed_at")),
            internal::Text(columns, "recipient"), internal::Text(columns, "categories")},
           internal::Text(columns, "member_id"), internal::Text(columns, "field"), internal::Text(columns, "token_name")});
    });
    if (more) {
      const auto& last = page.entries.back();
      page.next_cursor = EncodeCursor({internal::ToMicros(last.access.read_at), last.access_id});
    }
  });
  return page;
}

}  // namespace returnflow::persistence
