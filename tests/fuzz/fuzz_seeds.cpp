// Writes seed inputs that follow the current saved form and event vocabulary: the saved cases every walk
// passes through (with the walk's next events) for fuzz_restore, every walk event for fuzz_event_data,
// and cursors for fuzz_cursor. scripts/fuzz.sh adds them to the committed corpus before fuzzing, so the
// seeds keep up as the saved form changes; `fuzz_seeds DIR` writes DIR/<target>/seed-*.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "persistence/cursor.hpp"
#include "tests/fuzz/walks.hpp"

namespace {

using namespace returnflow;

void Write(const std::filesystem::path& directory, const std::string& name, const std::string& text) {
  std::filesystem::create_directories(directory);
  std::ofstream(directory / name, std::ios::binary) << text;
}

std::string EventLine(const fuzz::WalkEvent& event, char separator) {
  return std::string(event.type) + (event.data.empty() ? "" : separator + std::string(event.data));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds DIRECTORY\n";
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::set<std::string> event_inputs;
  std::size_t restore_seeds = 0;
  for (const auto& walk : fuzz::Walks()) {
    const auto saved = fuzz::SavedStates(walk);
    for (std::size_t step = 0; step < saved.size(); ++step) {
      std::string input = saved[step];
      for (std::size_t next = step; next < walk.events.size() && next < step + 2; ++next) {
        input += "\n" + EventLine(walk.events[next], ' ');
      }
      Write(out / "fuzz_restore", fmt::format("seed-{}-{:02}", walk.name, step), input);
      ++restore_seeds;
    }
    for (const auto& event : walk.events) event_inputs.insert(EventLine(event, '\n'));
  }
  std::size_t index = 0;
  for (const auto& input : event_inputs) Write(out / "fuzz_event_data", fmt::format("seed-{:02}", index++), input);
  const persistence::CursorPosition positions[] = {
      {1767600000000000, "6f1c2d3e-0000-4000-8000-000000000001"},
      {0, "00000000-0000-0000-0000-000000000000"},
      {9223372036854775807, "ffffffff-ffff-ffff-ffff-ffffffffffff"},
  };
  index = 0;
  for (const auto& position : positions) {
    Write(out / "fuzz_cursor", fmt::format("seed-{}", index++), persistence::EncodeCursor(position));
  }
  std::cout << "fuzz_seeds: " << restore_seeds << " saved cases, " << event_inputs.size() << " events, " << index
            << " cursors in " << out.string() << "\n";
  return 0;
}
