#include "engine/programmes.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "engine/log_text.hpp"
#include "workflow/events.hpp"
#include "workflow/vocabulary.hpp"

namespace returnflow::engine {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxCountries = 300;
constexpr std::size_t kMaxVisits = 24;
constexpr long long kMaxDays = 3650;

}  // namespace

std::optional<long long> ParseDurationHours(std::string_view text) {
  long long unit = 0;
  std::string_view digits;
  if (text.size() >= 2 && (text.back() == 'd' || text.back() == 'h') && text.front() != 'P') {
    unit = text.back() == 'd' ? 24 : 1;
    digits = text.substr(0, text.size() - 1);
  } else if (text.starts_with("PT") && text.size() > 3 && text.back() == 'H') {
    unit = 1;
    digits = text.substr(2, text.size() - 3);
  } else if (text.starts_with("P") && text.size() > 2 && text.back() == 'D') {
    unit = 24;
    digits = text.substr(1, text.size() - 2);
  } else {
    return std::nullopt;
  }
  if (digits.empty() || digits.size() > 6) return std::nullopt;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  long long value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value * unit;
}

namespace {

std::optional<long long> ParseHours(std::string_view text) { return ParseDurationHours(text); }

std::string DaysText(long long days) { return fmt::format("{}d", days); }

/// Reads one object of the definition, collecting errors with their pointers.
class DefinitionReader {
 public:
  DefinitionReader(const json::object& object, std::string pointer, std::vector<DefinitionError>& errors,
                   std::initializer_list<std::string_view> known)
      : object_(object), pointer_(std::move(pointer)), errors_(errors) {
    for (const auto& [key, value] : object_) {
      if (std::find(known.begin(), known.end(), std::string_view(key)) == known.end()) {
        Fail(At(key), "is not a programme setting");
      }
    }
  }

  std::string At(std::string_view key) const { return pointer_ + "/" + std::string(key); }
  void Fail(std::string pointer, std::string message) { errors_.push_back({std::move(pointer), std::move(message)}); }
  const json::value* Member(std::string_view key) const { return object_.if_contains(key); }

  void String(std::string_view key, std::string& out, std::size_t limit) {
    const auto* value = Member(key);
    if (!value) return;
    if (!value->is_string() || value->get_string().empty() || value->get_string().size() > limit) {
      Fail(At(key), fmt::format("must be a string of 1 to {} characters", limit));
      return;
    }
    out = std::string(value->get_string());
  }
  void Integer(std::string_view key, int& out, int low, int high) {
    const auto* value = Member(key);
    if (!value) return;
    if (!value->is_int64() || value->get_int64() < low || value->get_int64() > high) {
      Fail(At(key), fmt::format("must be a whole number from {} to {}", low, high));
      return;
    }
    out = static_cast<int>(value->get_int64());
  }
  /// A duration in whole days from `low` days.
  void Days(std::string_view key, workflow::Days& out, long long low) {
    const auto* value = Member(key);
    if (!value) return;
    const auto hours = value->is_string() ? ParseHours(value->get_string()) : std::nullopt;
    if (!hours) {
      Fail(At(key), "is not a duration: write e.g. \"30d\" (days) or \"24h\" (hours)");
    } else if (*hours % 24 != 0) {
      Fail(At(key), "must be a whole number of days");
    } else if (*hours / 24 < low || *hours / 24 > kMaxDays) {
      Fail(At(key), fmt::format("must be from {} to {} days", low, kMaxDays));
    } else {
      out = workflow::Days{*hours / 24};
    }
  }
  void Hours(std::string_view key, std::chrono::hours& out, long long low, long long high) {
    const auto* value = Member(key);
    if (!value) return;
    const auto hours = value->is_string() ? ParseHours(value->get_string()) : std::nullopt;
    if (!hours) {
      Fail(At(key), "is not a duration: write e.g. \"24h\" (hours) or \"2d\" (days)");
    } else if (*hours < low || *hours > high) {
      Fail(At(key), fmt::format("must be from {}h to {}h", low, high));
    } else {
      out = std::chrono::hours{*hours};
    }
  }
  /// An array of strings, each checked by `check` (which returns an error message or nothing).
  template <typename Check>
  std::optional<std::vector<std::string>> Strings(std::string_view key, std::size_t limit, Check&& check) {
    const auto* value = Member(key);
    if (!value) return std::nullopt;
    if (!value->is_array() || value->get_array().size() > limit) {
      Fail(At(key), fmt::format("must be an array of at most {} strings", limit));
      return std::nullopt;
    }
    std::vector<std::string> items;
    const auto& array = value->get_array();
    for (std::size_t index = 0; index < array.size(); ++index) {
      const auto item_at = fmt::format("{}/{}", At(key), index);
      if (!array[index].is_string()) {
        Fail(item_at, "must be a string");
        continue;
      }
      const std::string item(array[index].get_string());
      if (auto problem = check(item)) {
        Fail(item_at, *problem);
        continue;
      }
      if (std::find(items.begin(), items.end(), item) != items.end()) {
        Fail(item_at, "is listed twice");
        continue;
      }
      items.push_back(item);
    }
    return items;
  }

 private:
  const json::object& object_;
  std::string pointer_;
  std::vector<DefinitionError>& errors_;
};

bool NeverDeferrable(std::string_view type) {
  return type.starts_with("consent.") || type.starts_with("case.") || type.starts_with("personal_data.") ||
         type == "programme.changed" ||
         workflow::IsClockEvent(type);
}

/// The TOML document as JSON, with the line of every node by its JSON pointer (for error messages).
json::value ToJson(const toml::node& node, const std::string& pointer, std::map<std::string, int>& lines) {
  lines[pointer] = static_cast<int>(node.source().begin.line);
  if (const auto* table = node.as_table()) {
    json::object object;
    for (const auto& [key, value] : *table) {
      object[key.str()] = ToJson(value, pointer + "/" + std::string(key.str()), lines);
    }
    return object;
  }
  if (const auto* array = node.as_array()) {
    json::array items;
    for (std::size_t index = 0; index < array->size(); ++index) {
      items.push_back(ToJson((*array)[index], fmt::format("{}/{}", pointer, index), lines));
    }
    return items;
  }
  if (const auto* text = node.as_string()) return json::string(text->get());
  if (const auto* integer = node.as_integer()) return integer->get();
  if (const auto* boolean = node.as_boolean()) return boolean->get();
  if (const auto* number = node.as_floating_point()) return number->get();
  // Dates and times have no place in a definition: passed on as text, which the reader refuses.
  return json::string("(a date or time)");
}

}  // namespace

bool ValidProgrammeCode(std::string_view code) {
  if (code.empty() || code.size() > 64 || !(code.front() >= 'a' && code.front() <= 'z')) return false;
  return std::all_of(code.begin(), code.end(), [](char character) {
    return (character >= 'a' && character <= 'z') || (character >= '0' && character <= '9') || character == '-' ||
           character == '_';
  });
}

ParsedProgramme ProgrammeFromDefinition(const json::value& definition, std::string_view code) {
  ParsedProgramme parsed;
  auto& errors = parsed.errors;
  if (!definition.is_object()) {
    errors.push_back({"", "a programme definition must be an object (a table)"});
    return parsed;
  }
  workflow::Programme programme;
  programme.code = std::string(code);
  programme.deferrable_events = workflow::DefaultDeferrableEvents();
  DefinitionReader reader(definition.get_object(), "", errors,
                          {"code", "name", "unsafe_destinations", "no_show_limit", "service_levels", "monitoring",
                           "early_event_wait", "deferrable_events", "suspension_review", "deadline_warning",
                           "personal_data_retention", "closures_exempt_from_approval", "closures_needing_supervisor",
                           "reports"});
  std::string named_code = programme.code;
  reader.String("code", named_code, 64);
  if (!ValidProgrammeCode(programme.code)) {
    errors.push_back({"/code", "a programme code is 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter"});
  } else if (named_code != programme.code) {
    errors.push_back({"/code", fmt::format("names another programme than '{}' (the file or path it is defined by)",
                                           programme.code)});
  }
  programme.name = programme.code;
  reader.String("name", programme.name, 200);
  if (auto unsafe = reader.Strings("unsafe_destinations", kMaxCountries, [](const std::string& country) {
        return workflow::IsCountryCode(country)
                   ? std::nullopt
                   : std::optional<std::string>("is not an ISO 3166-1 alpha-2 country code (e.g. \"AF\")");
      })) {
    programme.unsafe_destinations = {unsafe->begin(), unsafe->end()};
  }
  reader.Integer("no_show_limit", programme.no_show_limit, 1, 100);
  reader.Days("early_event_wait", programme.early_event_wait, 1);
  reader.Days("suspension_review", programme.suspension_review, 1);
  reader.Days("deadline_warning", programme.deadline_warning, 0);
  reader.Days("personal_data_retention", programme.personal_data_retention, 0);
  if (auto types = reader.Strings("deferrable_events", 100, [](const std::string& type) -> std::optional<std::string> {
        const auto& known = workflow::AllEventNames();
        if (std::find(known.begin(), known.end(), type) == known.end()) return "is not an event type of the workflow";
        if (NeverDeferrable(type)) return "may never wait: consent, withdrawal, closure and the engine's own events apply or are refused at once";
        return std::nullopt;
      })) {
    programme.deferrable_events = {types->begin(), types->end()};
  }
  const auto outcomes = [&](std::string_view key) -> std::optional<std::set<workflow::Outcome>> {
    auto names = reader.Strings(key, workflow::kOutcomeNames.size(), [](const std::string& outcome) {
      return workflow::FromName<workflow::Outcome>(outcome, workflow::kOutcomeNames)
                 ? std::nullopt
                 : std::optional<std::string>("is not a closure outcome of the workflow");
    });
    if (!names) return std::nullopt;
    std::set<workflow::Outcome> parsed;
    for (const auto& name : *names) parsed.insert(*workflow::FromName<workflow::Outcome>(name, workflow::kOutcomeNames));
    return parsed;
  };
  // closures_exempt_from_approval replaced closures_needing_supervisor (its complement), still read.
  const auto exempt = outcomes("closures_exempt_from_approval");
  const auto needing = outcomes("closures_needing_supervisor");
  if (exempt && needing) {
    errors.push_back({"/closures_needing_supervisor",
                      "replaced by closures_exempt_from_approval: give one of the two, not both"});
  } else if (exempt) {
    programme.closures_exempt_from_approval = *exempt;
  } else if (needing) {
    programme.closures_exempt_from_approval = workflow::ExemptFromNeedingSupervisor(*needing);
  }
  if (const auto* levels = reader.Member("service_levels")) {
    if (!levels->is_object()) {
      errors.push_back({"/service_levels", "must be a table of durations"});
    } else {
      auto& target = programme.service_levels;
      DefinitionReader levels_reader(levels->get_object(), "/service_levels", errors,
                                     {"eligibility", "counselling", "documentation", "booking", "plan_after_arrival",
                                      "briefing_before_departure"});
      levels_reader.Days("eligibility", target.eligibility, 1);
      levels_reader.Days("counselling", target.counselling, 1);
      levels_reader.Days("documentation", target.documentation, 1);
      levels_reader.Days("booking", target.booking, 1);
      levels_reader.Days("plan_after_arrival", target.plan_after_arrival, 1);
      levels_reader.Hours("briefing_before_departure", target.briefing_before_departure, 1, 24 * 30);
    }
  }
  if (const auto* reports = reader.Member("reports")) {
    if (!reports->is_object()) {
      errors.push_back({"/reports", "must be a table (small_cells, suppress_below)"});
    } else {
      DefinitionReader reports_reader(reports->get_object(), "/reports", errors, {"small_cells", "suppress_below"});
      if (const auto* policy = reports_reader.Member("small_cells")) {
        const auto kind = policy->is_string()
                              ? workflow::FromName<workflow::SmallCells>(policy->get_string(), workflow::kSmallCellsNames)
                              : std::nullopt;
        if (!kind) {
          errors.push_back({"/reports/small_cells", "must be \"suppress\" or \"round5\""});
        } else {
          programme.reports.small_cells = *kind;
        }
      }
      reports_reader.Integer("suppress_below", programme.reports.suppress_below, 2, 100);
    }
  }
  if (const auto* monitoring = reader.Member("monitoring")) {
    if (!monitoring->is_array() || monitoring->get_array().size() > kMaxVisits) {
      errors.push_back({"/monitoring", fmt::format("must be an array of at most {} visits", kMaxVisits)});
    } else {
      programme.monitoring.clear();
      const auto& visits = monitoring->get_array();
      for (std::size_t index = 0; index < visits.size(); ++index) {
        const auto at = fmt::format("/monitoring/{}", index);
        if (!visits[index].is_object()) {
          errors.push_back({at, "must be a table with `after` and `grace`"});
          continue;
        }
        workflow::MonitoringVisit visit;
        DefinitionReader visit_reader(visits[index].get_object(), at, errors, {"after", "grace"});
        if (!visit_reader.Member("after")) errors.push_back({at + "/after", "is required (how long after arrival)"});
        visit_reader.Days("after", visit.after, 1);
        visit_reader.Days("grace", visit.grace, 0);
        if (!programme.monitoring.empty() && visit.after <= programme.monitoring.back().after) {
          errors.push_back({at + "/after", "must be later than the visit before it"});
        }
        programme.monitoring.push_back(visit);
      }
    }
  }
  if (errors.empty()) parsed.programme = std::move(programme);
  return parsed;
}

json::value DefinitionOf(const workflow::Programme& programme) {
  json::object object;
  object["code"] = programme.code;
  object["name"] = programme.name;
  json::array unsafe;
  for (const auto& country : programme.unsafe_destinations) unsafe.emplace_back(country);
  object["unsafe_destinations"] = std::move(unsafe);
  object["no_show_limit"] = programme.no_show_limit;
  const auto& levels = programme.service_levels;
  object["service_levels"] = json::object{
      {"eligibility", DaysText(levels.eligibility.count())},
      {"counselling", DaysText(levels.counselling.count())},
      {"documentation", DaysText(levels.documentation.count())},
      {"booking", DaysText(levels.booking.count())},
      {"plan_after_arrival", DaysText(levels.plan_after_arrival.count())},
      {"briefing_before_departure", fmt::format("{}h", levels.briefing_before_departure.count())}};
  json::array visits;
  for (const auto& visit : programme.monitoring) {
    visits.push_back(json::object{{"after", DaysText(visit.after.count())}, {"grace", DaysText(visit.grace.count())}});
  }
  object["monitoring"] = std::move(visits);
  object["early_event_wait"] = DaysText(programme.early_event_wait.count());
  json::array deferrable;
  for (const auto& type : programme.deferrable_events) deferrable.emplace_back(type);
  object["deferrable_events"] = std::move(deferrable);
  object["suspension_review"] = DaysText(programme.suspension_review.count());
  object["deadline_warning"] = DaysText(programme.deadline_warning.count());
  object["personal_data_retention"] = DaysText(programme.personal_data_retention.count());
  json::array closures;
  for (const auto outcome : programme.closures_exempt_from_approval) closures.emplace_back(workflow::Name(outcome));
  object["closures_exempt_from_approval"] = std::move(closures);
  object["reports"] = json::object{{"small_cells", workflow::Name(programme.reports.small_cells)},
                                   {"suppress_below", programme.reports.suppress_below}};
  return object;
}

ParsedProgramme ProgrammeFromTomlFile(const fs::path& path) {
  ParsedProgramme parsed;
  const std::string file = path.filename().string();
  toml::table table;
  try {
    table = toml::parse_file(path.string());
  } catch (const toml::parse_error& error) {
    parsed.errors.push_back({"", fmt::format("{}:{}: {}", file, error.source().begin.line, error.description())});
    return parsed;
  }
  std::map<std::string, int> lines;
  const auto definition = ToJson(table, "", lines);
  parsed = ProgrammeFromDefinition(definition, path.stem().string());
  for (auto& error : parsed.errors) {
    // The nearest node that exists (an unknown key exists; a missing one is reported on its table).
    std::string pointer = error.pointer;
    auto found = lines.find(pointer);
    while (found == lines.end() && !pointer.empty()) {
      pointer = pointer.substr(0, pointer.rfind('/'));
      found = lines.find(pointer);
    }
    const int line = found == lines.end() ? 1 : std::max(found->second, 1);
    std::string key = error.pointer.empty() ? std::string("(file)") : error.pointer.substr(1);
    std::replace(key.begin(), key.end(), '/', '.');
    error.message = fmt::format("{}:{}: {}: {}", file, line, key, error.message);
  }
  return parsed;
}

workflow::Programme ExampleProgramme() {
  workflow::Programme programme;
  programme.code = "avrr-id";
  programme.version = 1;
  programme.name = "AVRR Indonesia (example)";
  programme.unsafe_destinations = {"AF", "SY", "YE"};
  programme.deferrable_events = workflow::DefaultDeferrableEvents();
  programme.closures_exempt_from_approval = {workflow::Outcome::kReintegrated, workflow::Outcome::kTransferred};
  return programme;
}

DirectoryStamp StampOf(const fs::path& directory) {
  DirectoryStamp stamp;
  std::error_code error;
  for (fs::directory_iterator entry(directory, error), end; !error && entry != end; entry.increment(error)) {
    if (entry->path().extension() != ".toml") continue;
    ++stamp.files;
    const auto written = fs::last_write_time(entry->path(), error);
    if (!error) stamp.newest = std::max(stamp.newest, written);
  }
  return stamp;
}

DirectoryLoad LoadProgrammeDirectory(const fs::path& directory, persistence::ProgrammeRepository& programmes) {
  DirectoryLoad load;
  std::error_code error;
  if (!fs::is_directory(directory, error)) return load;
  load.directory_found = true;
  std::vector<fs::path> files;
  for (fs::directory_iterator entry(directory, error), end; !error && entry != end; entry.increment(error)) {
    if (entry->path().extension() == ".toml") files.push_back(entry->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto parsed = ProgrammeFromTomlFile(file);
    if (!parsed.programme) {
      for (const auto& problem : parsed.errors) load.errors.push_back(problem.message);
      continue;
    }
    load.registered.push_back(programmes.Register(std::move(*parsed.programme)));
  }
  return load;
}

DirectoryLoad LoadProgrammesAtStart(const fs::path& directory, persistence::ProgrammeRepository& programmes) {
  auto load = LoadProgrammeDirectory(directory, programmes);
  if (!load.directory_found && programmes.List().empty()) {
    load.registered.push_back(programmes.Register(ExampleProgramme()));
    spdlog::info("event=programme_example_registered programme=avrr-id (no folder {}, no programme stored)",
                 Caller{directory.string()});
  }
  return load;
}

void LogLoad(const DirectoryLoad& load) {
  for (const auto& programme : load.registered) {
    spdlog::info("event=programme_loaded programme={} version={}", programme.code, programme.version);
  }
  for (const auto& error : load.errors) spdlog::error("event=programme_invalid error=\"{}\"", Caller{error});
}

ProgrammeWatcher::ProgrammeWatcher(fs::path directory, std::chrono::milliseconds interval,
                                   persistence::ProgrammeRepository& programmes)
    : directory_(std::move(directory)), interval_(interval), programmes_(programmes), thread_([this] { Run(); }) {}

ProgrammeWatcher::~ProgrammeWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ProgrammeWatcher::Run() {
  auto stamp = StampOf(directory_);
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    const auto now = StampOf(directory_);
    if (now != stamp) {
      stamp = now;
      try {
        LogLoad(LoadProgrammeDirectory(directory_, programmes_));
      } catch (const std::exception& error) {
        spdlog::error("event=programme_reload_failed error=\"{}\"", Caller{error.what()});
      }
    }
    lock.lock();
  }
}

}  // namespace returnflow::engine
