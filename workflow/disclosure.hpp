#pragma once
/// What a recorded change reveals, so that each reader is shown only what its role may see.
///
/// Actions note what they changed as "key=value" (or "key[member]=value") texts; the key says what kind
/// of fact it is. The rules live here, beside the actions that write the keys, and one test walks every
/// key the actions can write.
#include <string_view>

namespace returnflow::workflow {

enum class Disclosure {
  kWorkflow,    ///< where the case stands: dates, counts, decisions
  kProtection,  ///< vulnerabilities, child safeguards, capacity
  kHealth,      ///< fitness to travel, medical escorts, medical holds
  kFreeText,    ///< text a caseworker wrote (e.g. why a referral is ineligible)
};

/// What the change text `change` (one element of ApplyResult::changes) reveals.
Disclosure DisclosureOf(std::string_view change);

}  // namespace returnflow::workflow
