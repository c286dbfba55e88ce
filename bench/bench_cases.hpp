#pragma once
/// The synthetic case the benchmarks create: one adult, Indonesia to Bangladesh, programme "avrr-bench".
#include <memory>

#include "persistence/personal_data_crypto.hpp"
#include "persistence/repository.hpp"

namespace returnflow::bench {

/// A master key for this benchmark run (personal data is sealed at rest; none is ever written to disk).
inline std::shared_ptr<const persistence::MasterKeyring> BenchMasterKeys() {
  static const auto keys = std::make_shared<const persistence::MasterKeyring>(
      persistence::MasterKeyring::FromKeys({persistence::MasterKeyring::GenerateKey()}));
  return keys;
}

inline persistence::NewCase BenchCase(workflow::Instant received) {
  persistence::NewCase new_case;
  new_case.programme = "avrr-bench";
  new_case.office = "office-bench";
  new_case.context.host_country = "ID";
  new_case.context.origin_country = "BD";
  new_case.context.opened_at = received;
  new_case.context.household.push_back({"m1", workflow::Relationship::kPrincipal, workflow::Sex::kMale, 1990, {}});
  new_case.meta = {"bench", received};
  return new_case;
}

}  // namespace returnflow::bench
