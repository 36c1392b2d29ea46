// `edgectl version`: this edgectl's release and the controller's (and `--version`).
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/core/result.h"
#include "controller/edgectl/context.h"

namespace edge::edgectl {

// Adds `version [--client]` and the global `--version` flag to `app`. `context` loads the
// operator's context when the command runs; `output_format` is the global -o; `exit_code`
// receives the command's result.
void RegisterVersionCommand(CLI::App& app, std::function<Result<Context>()> context, const std::string& output_format,
                            int& exit_code);

}  // namespace edge::edgectl
