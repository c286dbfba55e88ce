#pragma once
/// Bearer tokens in HTTP: the one piece of authentication that is the transport's (the Authorization
/// header). Who may do what is the engine's (engine/authorization.hpp).
#include <optional>
#include <string_view>

namespace returnflow::api {

/// The token from an Authorization header value ("Bearer <token>", scheme case-insensitive), or nullopt.
std::optional<std::string_view> BearerToken(std::string_view authorization);

}  // namespace returnflow::api
