#pragma once
/// The authenticated caller: a token's role and scope. `actor` is pseudonymous (the token's name).
#include <set>
#include <string>

#include "workflow/vocabulary.hpp"

namespace returnflow::engine {

using workflow::Role;

/// The supervisor scope entry that stands for every country (an empty list is no country at all).
inline constexpr std::string_view kAllCountries = "*";

struct Principal {
  std::string token_id;
  std::string actor;
  Role role = Role::kCaseworker;
  std::string office;                ///< caseworker: the office whose cases it works
  std::string organisation;          ///< partner: the organisation cases are assigned to
  std::set<std::string> event_types;  ///< partner: the event types it may send
  std::set<std::string> countries;    ///< supervisor: host/origin countries it may read ("*": all)
  std::set<std::string> sources;      ///< the CloudEvents sources its events may carry
};

}  // namespace returnflow::engine
