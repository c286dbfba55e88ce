// The engine's use cases over the audit of personal data: who read, wrote, sent, exported or corrected
// whose data, when and why. The rows hold ids and names of actors, never personal data.
#include <spdlog/spdlog.h>

#include "engine/authorization.hpp"
#include "engine/engine.hpp"

namespace returnflow::engine {

namespace net = boost::asio;

net::awaitable<persistence::AuditPage> Engine::Audit(Principal principal, persistence::AuditQuery query) {
  if (!CanReadAudit(principal)) {
    spdlog::info("event=authorization_refused actor={} reason=audit", principal.actor);
    throw Failure(FailureKind::kForbidden, "the audit is read by auditors and admins");
  }
  auto list = [this, query] { return people_.AuditLog(query); };
  try {
    auto page = co_await Blocking(std::move(list));
    co_return page;
  } catch (const persistence::PersistenceError& error) {
    if (error.Kind() == persistence::ErrorKind::kInvalidInput) {
      throw Failure(FailureKind::kInvalidRequest, "'cursor' is not a cursor this engine gave out", "cursor");
    }
    throw FromPersistence(error);
  }
}

net::awaitable<persistence::CaseRecord> Engine::PersonalDataCase(const Principal& principal, const std::string& case_id) {
  if (principal.role == Role::kAdmin) throw Failure(FailureKind::kForbidden, "admin tokens manage tokens; they do not read cases");
  auto record = co_await VisibleCase(principal, case_id);
  if (!CanReadPersonalData(principal, record.Scope())) {
    spdlog::info("event=authorization_refused actor={} case={} reason=personal_data", principal.actor, case_id);
    throw Failure(FailureKind::kForbidden, "personal data is shown only to caseworkers of the case's office");
  }
  co_return record;
}

net::awaitable<PeopleExport> Engine::ExportPeople(Principal principal, std::string case_id) {
  auto record = co_await PersonalDataCase(principal, case_id);
  auto export_people = [this, principal, case_id = record.case_id] {
    PeopleExport exported;
    // The read and its audit row are one transaction; the history holds no personal data.
    exported.people = people_.Export(case_id, {principal.actor, std::string(workflow::Name(workflow::AccessPurpose::kExport))});
    std::int64_t after = 0;
    for (;;) {
      auto entries = cases_.History(case_id, after, persistence::kMaxPageSize);
      const bool full = entries.size() == persistence::kMaxPageSize;
      if (!entries.empty()) after = entries.back().sequence;
      for (auto& entry : entries) exported.history.push_back(std::move(entry));
      if (!full) break;
    }
    return exported;
  };
  try {
    auto exported = co_await Blocking(std::move(export_people));
    spdlog::info("event=personal_data_exported actor={} case={}", principal.actor, case_id);
    co_return exported;
  } catch (const persistence::PersistenceError& error) {
    throw FromPersistence(error);
  }
}

net::awaitable<persistence::PersonalData> Engine::CorrectPerson(Principal principal, std::string case_id,
                                                                persistence::PersonalData corrected, std::string field) {
  auto record = co_await PersonalDataCase(principal, case_id);
  auto correct = [this, principal, case_id = record.case_id, corrected, field] {
    return people_.Correct(case_id, corrected, field,
                           {principal.actor, std::string(workflow::Name(workflow::AccessPurpose::kCorrection))});
  };
  try {
    auto person = co_await Blocking(std::move(correct));
    spdlog::info("event=personal_data_corrected actor={} case={} field={}", principal.actor, case_id, field);
    co_return person;
  } catch (const persistence::PersistenceError& error) {
    if (error.Kind() == persistence::ErrorKind::kNotFound) {
      throw Failure(FailureKind::kNotFound, "the case has no personal data for this member");
    }
    throw FromPersistence(error);
  }
}

}  // namespace returnflow::engine
