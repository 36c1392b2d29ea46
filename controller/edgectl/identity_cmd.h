// edgectl's identity lifecycle commands (docs/cli.md): `revoke device|operator`,
// `decommission device`, `token list|revoke`, `operator add|list|set-role`. Each calls the
// controller's operator endpoint; all but `operator list` need the admin role.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/core/result.h"
#include "controller/edgectl/context.h"

namespace edge::edgectl {

// Adds the commands to `app` (and `token list|revoke` to the existing `token` group).
// `context` loads the operator's context when a command runs; `output_format` is the global
// -o; `exit_code` receives the command's result.
void RegisterIdentityCommands(CLI::App& app, CLI::App& token_group, std::function<Result<Context>()> context,
                              const std::string& output_format, int& exit_code);

}  // namespace edge::edgectl
