// `edgectl delete NOUN`, kubectl's habit for what the controller can really remove or retire
// (docs/cli.md): device (decommission), token (revoke), operator (revoke), site (one nothing
// uses), model (a version nothing uses, with the blobs only it had). `delete rollout` is refused
// with what to use instead: a rollout is the record of what was sent to devices, and stopping
// one is `rollout abort`.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/core/result.h"
#include "controller/edgectl/context.h"

namespace edge::edgectl {

// As RegisterIdentityCommands (identity_cmd.h).
void RegisterDeleteCommands(CLI::App& app, std::function<Result<Context>()> context, const std::string& output_format,
                            int& exit_code);

}  // namespace edge::edgectl
