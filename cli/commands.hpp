#pragma once
/// Subcommand groups of the `returnflow` program; each group registers itself on the CLI11 app.
#include <CLI/CLI.hpp>

namespace returnflow::cli {

/// `workflow` (export the definition) and `demo` (walk a synthetic case through its lifecycle).
void AddWorkflowCommands(CLI::App& app);

/// `serve` (the event API), `token create|list|revoke` and `openapi` (print the served OpenAPI document).
void AddServerCommands(CLI::App& app);

/// `migrate` (apply schema migrations), `verify` (replay histories, report differing saved states) and
/// `case assign|unassign` (partner assignment).
void AddDatabaseCommands(CLI::App& app);

}  // namespace returnflow::cli
