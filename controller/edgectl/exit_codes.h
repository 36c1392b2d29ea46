// edgectl's documented exit codes (docs/cli.md).
#pragma once

#include "common/core/result.h"

namespace edge::edgectl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 69;   // EX_UNAVAILABLE
inline constexpr int kExitTimeout = 75;       // EX_TEMPFAIL: gave up waiting (the work goes on)
inline constexpr int kExitDenied = 77;        // EX_NOPERM
inline constexpr int kExitBadConfig = 78;     // EX_CONFIG

int ExitCodeFor(const Error& error);
// Prints "edgectl: <message>" to stderr and returns the exit code for `error`.
int Report(const Error& error);

}  // namespace edge::edgectl
