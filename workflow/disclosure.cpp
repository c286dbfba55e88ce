#include "workflow/disclosure.hpp"

#include <array>
#include <utility>

namespace returnflow::workflow {

Disclosure DisclosureOf(std::string_view change) {
  const auto key = change.substr(0, change.find_first_of("=["));
  const auto value = change.find('=') == std::string_view::npos ? std::string_view() : change.substr(change.find('=') + 1);
  static constexpr std::array<std::pair<std::string_view, Disclosure>, 12> kKeys = {{
      {"ineligible_reason", Disclosure::kFreeText},
      {"closure_reason", Disclosure::kFreeText},
      {"closure_rejection_reason", Disclosure::kFreeText},
      {"vulnerabilities", Disclosure::kProtection},
      {"best_interests", Disclosure::kProtection},
      {"caregiver_confirmed", Disclosure::kProtection},
      {"escort_assigned", Disclosure::kProtection},
      {"has_capacity", Disclosure::kProtection},
      {"fitness_valid_until", Disclosure::kHealth},
      {"medical_escort_required", Disclosure::kHealth},
      {"fitness_certificate_withdrawn", Disclosure::kHealth},
      {"suspended", Disclosure::kWorkflow},
  }};
  for (const auto& [known, disclosure] : kKeys) {
    if (key != known) continue;
    // A medical hold says the migrant is unfit to travel; other holds say nothing about health.
    if (known == "suspended" && value == "medical") return Disclosure::kHealth;
    return disclosure;
  }
  return Disclosure::kWorkflow;
}

}  // namespace returnflow::workflow
