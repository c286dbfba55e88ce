#pragma once
/// Calendar dates and instants as they arrive in events. The machine reads no clock: every time it
/// compares comes from an event or from the case context.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace returnflow::workflow {

using Date = std::chrono::sys_days;
using Instant = std::chrono::sys_seconds;

/// Parses an ISO 8601 calendar date (YYYY-MM-DD); nullopt unless it names a real day.
std::optional<Date> ParseDate(std::string_view text);
/// Parses an RFC 3339 timestamp (YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm)) to UTC seconds.
std::optional<Instant> ParseInstant(std::string_view text);

std::string FormatDate(Date date);
/// RFC 3339 in UTC with a trailing Z.
std::string FormatInstant(Instant instant);

}  // namespace returnflow::workflow
