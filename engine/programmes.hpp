#pragma once
/// Programme definitions as administrators write them: a TOML file per programme (or the same shape as
/// JSON on the admin API), validated with precise errors, and registered as versions in the store.
///
/// The authoring shape (every key but `name` optional; the defaults are workflow::Programme's):
///
///   code = "avrr-id"                     # defaults to the file name
///   name = "AVRR Indonesia"
///   unsafe_destinations = ["AF", "SY"]   # ISO 3166-1 alpha-2
///   no_show_limit = 3
///   early_event_wait = "30d"             # durations: "<n>d" or "<n>h" (ISO 8601 "P30D", "PT24H" too)
///   deferrable_events = ["travel_document.issued", ...]
///   suspension_review = "30d"
///   closures_exempt_from_approval = ["reintegrated"]  # (the default) case.closed alone; every other but
///                                    # withdrawn and deceased: case.closure_requested, then a supervisor's
///                                    # case.closure_approved. The old closures_needing_supervisor (the
///                                    # complement; [] there means no exemption) is still read.
///   [service_levels]
///   eligibility = "7d"   counselling = "21d"   documentation = "45d"   booking = "14d"
///   plan_after_arrival = "30d"   briefing_before_departure = "24h"
///   [reports]
///   small_cells = "suppress"   # or "round5" (engine/reports_suppression.hpp)
///   suppress_below = 5         # counts from 1 to 4 withheld
///   [[monitoring]]
///   after = "90d"   grace = "14d"
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "persistence/repository.hpp"
#include "workflow/programme.hpp"

namespace returnflow::engine {

/// One problem of a definition: where (a JSON pointer into the definition, e.g. "/service_levels/booking")
/// and what.
struct DefinitionError {
  std::string pointer;
  std::string message;
};

/// A definition read, or everything wrong with it.
struct ParsedProgramme {
  std::optional<workflow::Programme> programme;
  std::vector<DefinitionError> errors;
};

/// Reads the authoring shape above from JSON. `code` is the code the definition must have (the file
/// name, the route's path); a definition naming another code is an error.
ParsedProgramme ProgrammeFromDefinition(const boost::json::value& definition, std::string_view code);
/// The authoring shape of a programme (what GET /programmes/{code} shows and PUT accepts).
boost::json::value DefinitionOf(const workflow::Programme& programme);

/// A TOML file's definition; errors carry the file name and line (`message` is "file:line: ...").
ParsedProgramme ProgrammeFromTomlFile(const std::filesystem::path& path);

/// A duration as written in definitions: "<n>d", "<n>h", "P<n>D" or "PT<n>H" (n up to 6 digits), in
/// hours; nullopt otherwise.
std::optional<long long> ParseDurationHours(std::string_view text);

/// A programme code: 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter.
bool ValidProgrammeCode(std::string_view code);

/// The example programme the README's walkthrough uses (`avrr-id`), built in so that a server with no
/// configuration works; config/programmes/avrr-id.toml holds the same definition.
workflow::Programme ExampleProgramme();

/// Loads every `*.toml` of `directory` into `programmes` (a changed definition becomes its code's next
/// version). Invalid files are reported and skipped (their programme keeps its stored version).
struct DirectoryLoad {
  std::vector<workflow::Programme> registered;  ///< every valid definition, as stored
  std::vector<std::string> errors;              ///< "file:line: pointer: message"
  bool directory_found = false;
};
DirectoryLoad LoadProgrammeDirectory(const std::filesystem::path& directory, persistence::ProgrammeRepository& programmes);

/// Start-up: the folder's programmes; the built-in example when there is no folder and the store holds no
/// programme. Returns the load (errors are logged by the caller).
DirectoryLoad LoadProgrammesAtStart(const std::filesystem::path& directory, persistence::ProgrammeRepository& programmes);

/// The newest modification time among a folder's `*.toml` files and their count, to notice a change.
struct DirectoryStamp {
  std::filesystem::file_time_type newest{};
  std::size_t files = 0;
  friend bool operator==(const DirectoryStamp&, const DirectoryStamp&) = default;
};
DirectoryStamp StampOf(const std::filesystem::path& directory);

/// Reads the folder again whenever its files change (checked every `interval` on a thread of its own),
/// registering changed definitions and logging invalid ones.
class ProgrammeWatcher {
 public:
  ProgrammeWatcher(std::filesystem::path directory, std::chrono::milliseconds interval,
                   persistence::ProgrammeRepository& programmes);
  ~ProgrammeWatcher();
  ProgrammeWatcher(const ProgrammeWatcher&) = delete;
  ProgrammeWatcher& operator=(const ProgrammeWatcher&) = delete;

 private:
  void Run();
  const std::filesystem::path directory_;
  const std::chrono::milliseconds interval_;
  persistence::ProgrammeRepository& programmes_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

/// Logs a load's outcome (one line per registered version, one per error).
void LogLoad(const DirectoryLoad& load);

}  // namespace returnflow::engine
