#pragma once
/// Caller text in log lines: escaped and cut, so a newline cannot forge a line and a 900 KB event type is
/// not logged whole. Every value a caller chose (event type, source, id, names of unknown things) goes
/// through Caller() before it reaches spdlog; pseudonymous ids the engine made (case ids, token names)
/// need not.
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace returnflow::engine {

/// Printable ASCII kept (but '"' and '\\'), everything else as \xNN; past `limit` bytes cut with "...".
std::string EscapeForLog(std::string_view text, std::size_t limit = 80);

/// A caller's value in a log line (formats as EscapeForLog of it).
struct Caller {
  std::string_view text;
};

}  // namespace returnflow::engine

template <>
struct fmt::formatter<returnflow::engine::Caller> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const returnflow::engine::Caller& value, Context& context) const {
    return fmt::formatter<std::string_view>::format(returnflow::engine::EscapeForLog(value.text), context);
  }
};
