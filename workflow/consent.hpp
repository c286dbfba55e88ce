#pragma once
/// Consent to transfer personal data: the closed lists of purposes and data categories, the record a
/// caseworker writes, and the one rule that says which categories may go to an organisation for a
/// purpose at an instant. Pure: no I/O, no clock (the instant is the caller's).
///
/// The outbox (or any other transfer of personal data) asks `TransferableCategories` with the case's
/// consent records, loaded in its own transaction (persistence::LoadConsents), so a withdrawal that has
/// committed stops every transfer decided after it.
#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "workflow/dates.hpp"
#include "workflow/vocabulary.hpp"

namespace returnflow::workflow {

/// Why personal data would go to an organisation: a closed list, never caller text.
enum class TransferPurpose {
  kTicketing,
  kTravelDocumentIssuance,
  kMedicalAssessment,
  kReception,
  kReintegrationAssistance,
  kMonitoring,
};
inline constexpr std::array<std::string_view, 6> kTransferPurposeNames = {
    "ticketing", "travel_document_issuance", "medical_assessment", "reception", "reintegration_assistance",
    "monitoring"};
inline std::string_view Name(TransferPurpose value) { return NameOf(value, kTransferPurposeNames); }

/// The categories personal data falls into (DOMAIN.md, "Data categories and consent").
enum class DataCategory { kIdentity, kTravelDocument, kContact, kHealth, kProtection };
inline constexpr std::array<std::string_view, 5> kDataCategoryNames = {"identity", "travel_document", "contact",
                                                                       "health", "protection"};
inline std::string_view Name(DataCategory value) { return NameOf(value, kDataCategoryNames); }

/// What a recipient's job needs for a purpose, whatever a consent allows: an embassy issuing a travel
/// document needs identity and the document, a medical provider age, sex and health, never documents.
/// A transfer sends the intersection of this and the consented categories.
std::set<DataCategory> CategoriesNeeded(TransferPurpose purpose);

/// The event types (exact names, or prefixes ending in '.') of the part a purpose serves: a partner asks
/// for personal data for a purpose only when its token sends events of that part.
std::vector<std::string_view> PartOfPurpose(TransferPurpose purpose);

/// An organisation id as cases, consents and partner assignments name it: 1 to 64 of a-z, A-Z, 0-9, '-',
/// '_' and '.', starting with a letter or digit (never '|', the stored list separator, nor anything a
/// URL path or a log line would need to escape).
inline constexpr std::size_t kMaxOrganisationLength = 64;
bool ValidOrganisationId(std::string_view organisation);
/// At most this many partner organisations are assigned to one case.
inline constexpr std::size_t kMaxPartnersPerCase = 20;

/// One consent as recorded: the data subject (a household member id, pseudonymous), the recipient, the
/// purpose and the categories; given at an instant, withdrawn at another (never deleted). No free text:
/// a note could hold personal data, and nothing here may.
struct ConsentRecord {
  std::string consent_id;
  std::string case_id;
  std::string member_id;
  std::string recipient;  ///< an organisation id
  TransferPurpose purpose = TransferPurpose::kTicketing;
  std::set<DataCategory> categories;
  Instant given_at{};
  std::optional<Instant> withdrawn_at;
  std::string recorded_by;   ///< pseudonymous actor (token name)
  std::string withdrawn_by;  ///< pseudonymous actor; empty while in effect

  /// In effect at `at`: given at or before it, and not withdrawn at or before it.
  bool InEffectAt(Instant at) const { return given_at <= at && (!withdrawn_at || at < *withdrawn_at); }
};

/// What may go to `recipient` for `purpose` at `at`, per data subject: the union of the categories of
/// every record naming that recipient and purpose that is in effect at `at`. Members with nothing
/// transferable are absent. Another purpose, another organisation, a record not yet given or already
/// withdrawn contribute nothing.
std::map<std::string, std::set<DataCategory>> TransferableCategories(const std::vector<ConsentRecord>& consents,
                                                                     std::string_view recipient,
                                                                     TransferPurpose purpose, Instant at);

/// The same for one data subject (empty: nothing may go).
std::set<DataCategory> TransferableCategories(const std::vector<ConsentRecord>& consents, std::string_view member_id,
                                              std::string_view recipient, TransferPurpose purpose, Instant at);

/// What goes to `recipient` for `purpose` at `at`, per member: the consented categories that the
/// purpose's job needs (TransferableCategories intersected with CategoriesNeeded); members with nothing
/// to receive are absent.
std::map<std::string, std::set<DataCategory>> CategoriesToTransfer(const std::vector<ConsentRecord>& consents,
                                                                   std::string_view recipient, TransferPurpose purpose,
                                                                   Instant at);

}  // namespace returnflow::workflow
