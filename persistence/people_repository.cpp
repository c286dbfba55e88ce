#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include "persistence/internal.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {
namespace {

void CheckAccess(std::string_view operation, std::string_view case_id, const PersonalDataAccess& access) {
  if (!internal::LooksLikeCaseId(case_id))
    throw PersistenceError(ErrorKind::kNotFound, fmt::format("{}: not_found", operation));
  if (access.actor.empty() || access.purpose.empty()) {
    throw PersistenceError(ErrorKind::kInvalidData,
                           fmt::format("{}: invalid_data (actor and purpose are required)", operation));
  }
}

void RequireCase(soci::session& sql, const std::string& case_id, std::string_view operation) {
  int exists = 0;
  sql << "SELECT COUNT(*) FROM cases WHERE case_id = :case_id", soci::use(case_id, "case_id"), soci::into(exists);
  if (exists == 0)
    throw PersistenceError(ErrorKind::kNotFound, fmt::format("{} case={}: not_found", operation, case_id));
}

void Audit(soci::session& sql, const std::string& case_id, const PersonalDataAccess& access,
           std::string_view action_view) {
  const std::string access_id = internal::NewUuid();
  const std::string action(action_view);
  const long long now = internal::ToMicros(Now());
  sql << "INSERT INTO personal_data_access (access_id, case_id, actor, purpose, action, accessed_at) VALUES "
         "(:access_id, :case_id, :actor, :purpose, :action, :accessed_at)",
      soci::use(access_id, "access_id"), soci::use(case_id, "case_id"), soci::use(access.actor, "actor"),
      soci::use(access.purpose, "purpose"), soci::use(action, "action"), soci::use(now, "accessed_at");
}

}  // namespace

std::vector<PersonalData> PeopleRepository::Read(std::string_view case_id_view, const PersonalDataAccess& access) {
  CheckAccess("read people", case_id_view, access);
  const std::string case_id(case_id_view);
  std::vector<PersonalData> people;
  // A write transaction: the audit row and the read commit together, or neither happens.
  database_.WriteTransaction("read people", [&](soci::session& sql) {
    people.clear();
    RequireCase(sql, case_id, "read people");
    Audit(sql, case_id, access, "read");
    constexpr std::size_t kMaxMembers = 64;  // a household; more would be a data error
    std::vector<std::string> member_id(kMaxMembers), given_names(kMaxMembers), family_name(kMaxMembers),
        date_of_birth(kMaxMembers), documents(kMaxMembers), contacts(kMaxMembers);
    soci::statement statement(sql);
    internal::PrepareOnce(statement,
                          "SELECT member_id, given_names, family_name, date_of_birth, documents, contacts FROM people "
                          "WHERE case_id = :case_id ORDER BY member_id",
                          soci::use(case_id, "case_id"), soci::into(member_id), soci::into(given_names),
                          soci::into(family_name), soci::into(date_of_birth), soci::into(documents),
                          soci::into(contacts));
    statement.execute(true);
    for (std::size_t row = 0; row < member_id.size(); ++row) {
      PersonalData person;
      person.member_id = member_id[row];
      person.given_names = given_names[row];
      person.family_name = family_name[row];
      person.date_of_birth = date_of_birth[row];
      person.documents = internal::DocumentsFromJson(documents[row]);
      person.contacts = internal::ContactsFromJson(contacts[row]);
      people.push_back(std::move(person));
    }
  });
  spdlog::info("case={} personal data read by {} for {}", case_id, access.actor, access.purpose);
  return people;
}

void PeopleRepository::Upsert(std::string_view case_id_view, const PersonalData& person,
                              const PersonalDataAccess& access) {
  CheckAccess("write people", case_id_view, access);
  if (person.member_id.empty())
    throw PersistenceError(ErrorKind::kInvalidData, "write people: invalid_data (member id)");
  const std::string case_id(case_id_view);
  database_.WriteTransaction("write people", [&](soci::session& sql) {
    RequireCase(sql, case_id, "write people");
    const long long now = internal::ToMicros(Now());
    sql << "DELETE FROM people WHERE case_id = :case_id AND member_id = :member_id", soci::use(case_id, "case_id"),
        soci::use(person.member_id, "member_id");
    internal::InsertPerson(sql, case_id, person, now);
    Audit(sql, case_id, access, "write");
  });
}

std::size_t PeopleRepository::Erase(std::string_view case_id_view, const PersonalDataAccess& access) {
  CheckAccess("erase people", case_id_view, access);
  const std::string case_id(case_id_view);
  std::size_t erased = 0;
  database_.WriteTransaction("erase people", [&](soci::session& sql) {
    RequireCase(sql, case_id, "erase people");
    int count = 0;
    sql << "SELECT COUNT(*) FROM people WHERE case_id = :case_id", soci::use(case_id, "case_id"), soci::into(count);
    sql << "DELETE FROM people WHERE case_id = :case_id", soci::use(case_id, "case_id");
    Audit(sql, case_id, access, "erase");
    erased = static_cast<std::size_t>(count);
  });
  spdlog::info("case={} personal data erased ({} people) by {}", case_id, erased, access.actor);
  return erased;
}

std::vector<PersonalDataRead> PeopleRepository::AuditTrail(std::string_view case_id_view) {
  if (!internal::LooksLikeCaseId(case_id_view)) throw PersistenceError(ErrorKind::kNotFound, "audit trail: not_found");
  const std::string case_id(case_id_view);
  std::vector<PersonalDataRead> trail;
  database_.Read("audit trail", [&](soci::session& sql) {
    trail.clear();
    RequireCase(sql, case_id, "audit trail");
    constexpr std::size_t kBatch = 100;
    std::vector<std::string> actor(kBatch), purpose(kBatch), action(kBatch);
    std::vector<long long> accessed_at(kBatch);
    soci::statement statement(sql);
    internal::PrepareOnce(statement,
                          "SELECT actor, purpose, action, accessed_at FROM personal_data_access "
                          "WHERE case_id = :case_id ORDER BY accessed_at, access_id",
                          soci::use(case_id, "case_id"), soci::into(actor), soci::into(purpose), soci::into(action),
                          soci::into(accessed_at));
    statement.execute();
    while (statement.fetch()) {
      for (std::size_t row = 0; row < actor.size(); ++row) {
        trail.push_back({case_id, actor[row], purpose[row], action[row], internal::FromMicros(accessed_at[row])});
      }
    }
  });
  return trail;
}

}  // namespace returnflow::persistence
