#include "cli/commands.hpp"
namespace returnflow::cli { void AddWorkflowCommands(CLI::App&) {} }
