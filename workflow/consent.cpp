#include "workflow/consent.hpp"

#include <algorithm>
#include <cctype>

namespace returnflow::workflow {

bool ValidOrganisationId(std::string_view organisation) {
  if (organisation.empty() || organisation.size() > kMaxOrganisationLength) return false;
  if (!std::isalnum(static_cast<unsigned char>(organisation.front()))) return false;
  return std::all_of(organisation.begin(), organisation.end(), [](char character) {
    const auto byte = static_cast<unsigned char>(character);
    return byte < 0x80 && (std::isalnum(byte) || character == '-' || character == '_' || character == '.');
  });
}

std::map<std::string, std::set<DataCategory>> TransferableCategories(const std::vector<ConsentRecord>& consents,
                                                                     std::string_view recipient,
                                                                     TransferPurpose purpose, Instant at) {
  std::map<std::string, std::set<DataCategory>> by_member;
  for (const auto& consent : consents) {
    if (consent.recipient != recipient || consent.purpose != purpose || !consent.InEffectAt(at)) continue;
    if (consent.categories.empty()) continue;
    by_member[consent.member_id].insert(consent.categories.begin(), consent.categories.end());
  }
  return by_member;
}

std::set<DataCategory> TransferableCategories(const std::vector<ConsentRecord>& consents, std::string_view member_id,
                                              std::string_view recipient, TransferPurpose purpose, Instant at) {
  auto by_member = TransferableCategories(consents, recipient, purpose, at);
  const auto found = by_member.find(std::string(member_id));
  return found == by_member.end() ? std::set<DataCategory>{} : std::move(found->second);
}

std::set<DataCategory> CategoriesNeeded(TransferPurpose purpose) {
  using enum DataCategory;
  switch (purpose) {
    case TransferPurpose::kTicketing:
    case TransferPurpose::kTravelDocumentIssuance:
      return {kIdentity, kTravelDocument};
    case TransferPurpose::kMedicalAssessment:
      return {kHealth};
    case TransferPurpose::kReception:
      return {kIdentity, kContact, kProtection};
    case TransferPurpose::kReintegrationAssistance:
    case TransferPurpose::kMonitoring:
      return {kIdentity, kContact};
  }
  return {};
}

std::vector<std::string_view> PartOfPurpose(TransferPurpose purpose) {
  switch (purpose) {
    case TransferPurpose::kTicketing:
      return {"travel.booked", "travel.briefing_held", "travel.departed", "travel.no_show"};
    case TransferPurpose::kTravelDocumentIssuance:
      return {"travel_document."};
    case TransferPurpose::kMedicalAssessment:
      return {"fitness."};
    case TransferPurpose::kReception:
      return {"travel.arrived", "caregiver."};
    case TransferPurpose::kReintegrationAssistance:
      return {"reintegration.", "assistance."};
    case TransferPurpose::kMonitoring:
      return {"monitoring."};
  }
  return {};
}

std::map<std::string, std::set<DataCategory>> CategoriesToTransfer(const std::vector<ConsentRecord>& consents,
                                                                   std::string_view recipient, TransferPurpose purpose,
                                                                   Instant at) {
  const auto needed = CategoriesNeeded(purpose);
  auto by_member = TransferableCategories(consents, recipient, purpose, at);
  for (auto it = by_member.begin(); it != by_member.end();) {
    std::erase_if(it->second, [&](DataCategory category) { return !needed.contains(category); });
    it = it->second.empty() ? by_member.erase(it) : std::next(it);
  }
  return by_member;
}

}  // namespace returnflow::workflow
