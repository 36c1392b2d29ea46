// edgectl's identity lifecycle commands (docs/cli.md): `revoke device|operator`,
// `decommission device`, `token list|revoke`, `operator add|list|set-role`. Each calls the
// controller's operator endpoint; all but `operator list` need the admin role.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/core/result.h"
#include "controller/edgectl/context.h"

namespace edge::edgectl {

struct Remote;

// The single-target actions, shared with `delete` (delete_cmd.h). Each says what it did on
// stderr (unless `json`) and returns it as JSON; errors name the device, token or operator.
Result<nlohmann::json> RevokeDeviceById(const Remote& remote, const std::string& id, const std::string& reason, bool json);
Result<nlohmann::json> DecommissionDeviceById(const Remote& remote, const std::string& id, const std::string& reason,
                                              bool json);
Result<nlohmann::json> RevokeTokenById(const Remote& remote, const std::string& id, const std::string& reason, bool json);
Result<nlohmann::json> RevokeOperatorByName(const Remote& remote, const std::string& name, const std::string& reason,
                                            bool json);

// With `json`, prints `result`, an action's JSON (the action spoke on stderr otherwise).
Status PrintResult(const Result<nlohmann::json>& result, bool json);
// 0, or the exit code of the error after reporting it.
int ExitCode(const Status& status);

// Adds the commands to `app` (and `token list|revoke` to the existing `token` group).
// `context` loads the operator's context when a command runs; `output_format` is the global
// -o; `exit_code` receives the command's result.
void RegisterIdentityCommands(CLI::App& app, CLI::App& token_group, std::function<Result<Context>()> context,
                              const std::string& output_format, int& exit_code);

}  // namespace edge::edgectl
