// Request and response bodies of partner assignment and consent records (see dto.hpp).
#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/dto.hpp"
#include "api/json_reader.hpp"
#include "workflow/consent.hpp"

namespace returnflow::api {

namespace json = boost::json;

namespace {

std::string Names(const auto& names) {
  std::string joined;
  for (const auto name : names) joined += (joined.empty() ? "" : ", ") + std::string(name);
  return joined;
}

}  // namespace

std::variant<std::string, Problem> ParsePartnerAssignment(const json::value& body) {
  if (!body.is_object()) return InvalidMember("", "must be a JSON object ({\"organisation\": \"...\"})");
  Reader reader(body.get_object(), "", {"organisation"});
  auto organisation = reader.String("organisation", true, workflow::kMaxOrganisationLength);
  if (organisation && !workflow::ValidOrganisationId(*organisation)) {
    reader.Fail(InvalidMember("/organisation", kOrganisationIdRule));
  }
  if (reader.Result()) return *reader.Result();
  return *organisation;
}

json::object PartnerChangeToJson(std::string_view case_id, std::string_view organisation, bool assigned,
                                 const persistence::CaseChange& change) {
  return {{"case_id", case_id},  {"organisation", organisation}, {"assigned", assigned},
          {"changed", change.changed}, {"version", change.version},   {"partners", json::value_from(change.partners)}};
}

std::variant<persistence::NewConsent, Problem> ParseNewConsent(const json::value& body) {
  if (!body.is_object()) return InvalidMember("", "must be a JSON object (the consent)");
  Reader reader(body.get_object(), "", {"member_id", "recipient", "purpose", "categories", "given_at"});
  persistence::NewConsent consent;
  consent.member_id = reader.String("member_id", false, 32).value_or("");
  consent.recipient = reader.String("recipient", true, workflow::kMaxOrganisationLength).value_or("");
  if (!consent.recipient.empty() && !workflow::ValidOrganisationId(consent.recipient)) {
    reader.Fail(InvalidMember("/recipient", kOrganisationIdRule));
  }
  auto purpose = NamedEnum<workflow::TransferPurpose>(reader, "purpose", workflow::kTransferPurposeNames, true);
  if (purpose) consent.purpose = *purpose;
  const auto* categories = reader.Array("categories", workflow::kDataCategoryNames.size());
  if (!reader.Result() && (!categories || categories->empty())) {
    reader.Fail(InvalidMember("/categories", "must be a non-empty array of data categories"));
  }
  for (std::size_t index = 0; categories && index < categories->size() && !reader.Result(); ++index) {
    const auto& item = (*categories)[index];
    const auto category = item.is_string() ? workflow::FromName<workflow::DataCategory>(item.get_string(),
                                                                                        workflow::kDataCategoryNames)
                                           : std::nullopt;
    if (!category) {
      reader.Fail(InvalidMember(fmt::format("/categories/{}", index),
                                "must be one of " + Names(workflow::kDataCategoryNames)));
    } else if (!consent.categories.insert(*category).second) {
      reader.Fail(InvalidMember(fmt::format("/categories/{}", index), "repeats a category"));
    }
  }
  if (auto given_at = reader.String("given_at", false, 40)) {
    consent.given_at = workflow::ParseInstant(*given_at);
    if (!consent.given_at) reader.Fail(InvalidMember("/given_at", "must be an RFC 3339 timestamp"));
  }
  if (reader.Result()) return *reader.Result();
  return consent;
}

json::object ConsentToJson(const workflow::ConsentRecord& consent, workflow::Instant now) {
  json::array categories;
  for (const auto category : consent.categories) categories.emplace_back(workflow::Name(category));
  json::object body{{"consent_id", consent.consent_id},
                    {"case_id", consent.case_id},
                    {"member_id", consent.member_id},
                    {"recipient", consent.recipient},
                    {"purpose", workflow::Name(consent.purpose)},
                    {"categories", std::move(categories)},
                    {"given_at", workflow::FormatInstant(consent.given_at)},
                    {"in_effect", consent.InEffectAt(now)}};
  body["withdrawn_at"] = consent.withdrawn_at ? json::value(workflow::FormatInstant(*consent.withdrawn_at)) : nullptr;
  if (!consent.recorded_by.empty()) body["recorded_by"] = consent.recorded_by;
  if (!consent.withdrawn_by.empty()) body["withdrawn_by"] = consent.withdrawn_by;
  return body;
}

json::object ConsentListToJson(std::string_view case_id, const engine::ConsentList& list, workflow::Instant now) {
  json::object body{{"case_id", case_id}, {"in_effect", list.in_effect}, {"withdrawn", list.withdrawn}};
  if (!list.counts_only) {
    json::array consents;
    for (const auto& consent : list.consents) consents.push_back(ConsentToJson(consent, now));
    body["consents"] = std::move(consents);
  }
  return body;
}

}  // namespace returnflow::api
