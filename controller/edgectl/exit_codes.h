// edgectl's exit codes (docs/cli.md): the project's one mapping (common/core/exit_codes.h).
#pragma once

#include "common/core/exit_codes.h"
#include "common/core/result.h"

namespace edge::edgectl {

// kExit* and ExitCodeFor are edge:: names (common/core/exit_codes.h), found from here.

// Prints "edgectl: <message>" to stderr and returns the exit code for `error`.
int Report(const Error& error);

}  // namespace edge::edgectl
