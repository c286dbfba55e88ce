#include "api/auth.hpp"

#include <cctype>

namespace returnflow::api {

std::optional<std::string_view> BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t index = 0; index < kScheme.size(); ++index) {
    if (std::tolower(static_cast<unsigned char>(authorization[index])) != kScheme[index]) return std::nullopt;
  }
  auto token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.size() > 256) return std::nullopt;
  return token;
}

}  // namespace returnflow::api
