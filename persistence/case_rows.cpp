#include "persistence/case_rows.hpp"

#include "persistence/internal.hpp"

namespace returnflow::persistence::internal {
namespace {
CaseRecord MakeRecord(const std::string& case_id, const std::string& programme, const std::string& host_country,
                      const std::string& origin_country, const std::string& office, const std::string& partners,
                      const std::string& stage, const std::string& active_states, const std::string& saved_state,
                      int vulnerability_flags, long long version, long long last_sequence, long long created_at,
                      long long updated_at, long long stage_entered_at, long long next_deadline,
                      soci::indicator next_deadline_indicator) {
  CaseRecord record;
  record.case_id = case_id;
  record.programme = programme;
  record.host_country = host_country;
  record.origin_country = origin_country;
  record.office = office;
  record.partners = SplitList(partners);
  record.stage = stage;
  record.active_states = SplitList(active_states);
  record.saved_state = saved_state;
  record.vulnerabilities = VulnerabilitiesFromBits(vulnerability_flags);
  record.version = version;
  record.last_sequence = last_sequence;
  record.created_at = FromMicros(created_at);
  record.updated_at = FromMicros(updated_at);
  record.stage_entered_at = FromMicros(stage_entered_at);
  if (next_deadline_indicator == soci::i_ok) record.next_deadline = FromMicros(next_deadline);
  return record;
}
}  // namespace

CaseRecord CaseRow::ToRecord() const {
  return MakeRecord(case_id, programme, host_country, origin_country, office, partners, stage, active_states,
                    saved_state, vulnerability_flags, version, last_sequence, created_at, updated_at, stage_entered_at,
                    next_deadline, next_deadline_indicator);
}

CaseRows::CaseRows(std::size_t capacity)
    : case_id(capacity),
      programme(capacity),
      host_country(capacity),
      origin_country(capacity),
      office(capacity),
      partners(capacity),
      stage(capacity),
      active_states(capacity),
      saved_state(capacity),
      vulnerability_flags(capacity),
      version(capacity),
      last_sequence(capacity),
      created_at(capacity),
      updated_at(capacity),
      stage_entered_at(capacity),
      next_deadline(capacity),
      next_deadline_indicator(capacity) {}

void CaseRows::BindInto(soci::statement& statement) {
  statement.exchange(soci::into(case_id));
  statement.exchange(soci::into(programme));
  statement.exchange(soci::into(host_country));
  statement.exchange(soci::into(origin_country));
  statement.exchange(soci::into(office));
  statement.exchange(soci::into(partners));
  statement.exchange(soci::into(stage));
  statement.exchange(soci::into(active_states));
  statement.exchange(soci::into(saved_state));
  statement.exchange(soci::into(vulnerability_flags));
  statement.exchange(soci::into(version));
  statement.exchange(soci::into(last_sequence));
  statement.exchange(soci::into(created_at));
  statement.exchange(soci::into(updated_at));
  statement.exchange(soci::into(stage_entered_at));
  statement.exchange(soci::into(next_deadline, next_deadline_indicator));
}

CaseRecord CaseRows::ToRecord(std::size_t row) const {
  return MakeRecord(case_id[row], programme[row], host_country[row], origin_country[row], office[row], partners[row],
                    stage[row], active_states[row], saved_state[row], vulnerability_flags[row], version[row],
                    last_sequence[row], created_at[row], updated_at[row], stage_entered_at[row], next_deadline[row],
                    next_deadline_indicator[row]);
}

bool LoadCase(soci::session& sql, Backend backend, const std::string& case_id, bool for_update, CaseRow& row) {
  std::string query = std::string("SELECT ") + kCaseColumns + " FROM cases WHERE case_id = :case_id";
  if (for_update && backend == Backend::kPostgresql) query += " FOR UPDATE";
  sql << query, soci::use(case_id, "case_id"), soci::into(row.case_id), soci::into(row.programme),
      soci::into(row.host_country), soci::into(row.origin_country), soci::into(row.office), soci::into(row.partners),
      soci::into(row.stage), soci::into(row.active_states), soci::into(row.saved_state),
      soci::into(row.vulnerability_flags), soci::into(row.version), soci::into(row.last_sequence),
      soci::into(row.created_at), soci::into(row.updated_at), soci::into(row.stage_entered_at),
      soci::into(row.next_deadline, row.next_deadline_indicator);
  return sql.got_data();
}

}  // namespace returnflow::persistence::internal
