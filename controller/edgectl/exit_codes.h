// edgectl's exit codes (docs/cli.md): the project's one mapping (common/core/exit_codes.h).
#pragma once

#include "common/core/exit_codes.h"
#include "common/core/result.h"

namespace edge::edgectl {

using edge::ExitCodeFor;
using edge::kExitBadConfig;
using edge::kExitDenied;
using edge::kExitError;
using edge::kExitOk;
using edge::kExitTimeout;
using edge::kExitUnreachable;
using edge::kExitUsage;

// Prints "edgectl: <message>" to stderr and returns the exit code for `error`.
int Report(const Error& error);

}  // namespace edge::edgectl
