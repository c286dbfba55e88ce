#pragma once
/// The search cursor: an opaque page position, checked on the way in. Pure (no database), fuzzed.
#include <optional>
#include <string>
#include <string_view>

namespace returnflow::persistence {

/// Where the previous page ended: the (created_at, case_id) key searches are ordered by.
struct CursorPosition {
  long long created_at = 0;  ///< microseconds since the epoch
  std::string case_id;
};

/// A valid-looking case id (lower-case UUID text): the cheap check before touching the database.
bool LooksLikeCaseId(std::string_view case_id);

/// Hex of "<created_at micros>/<case id>".
std::string EncodeCursor(const CursorPosition& position);
/// nullopt for anything EncodeCursor did not produce (bad hex, bad number, not a case id, too long).
std::optional<CursorPosition> DecodeCursor(std::string_view cursor);

}  // namespace returnflow::persistence
