// returnflow: the command-line composition root.
#include <exception>

#include <spdlog/spdlog.h>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"returnflow: a workflow engine for assisted voluntary return and reintegration cases"};
  app.require_subcommand(1);
  returnflow::cli::AddWorkflowCommands(app);
  returnflow::cli::AddServerCommands(app);
  returnflow::cli::AddDatabaseCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const std::exception& error) {
    spdlog::error("{}", error.what());
    return 1;
  }
  return 0;
}
