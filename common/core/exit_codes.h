// The exit codes of every edgefleet program (edgectl, edge-agent, edge-agent install,
// edge-controller), from sysexits.h where one fits: one mapping from an Error's code, so the
// same failure exits the same way whichever program met it (docs/cli.md, docs/operations.md).
#pragma once

#include "common/core/result.h"

namespace edge {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;          // anything else (the message says what)
inline constexpr int kExitUsage = 2;          // bad flags or arguments
inline constexpr int kExitQualityBelowBar = 3;  // a measured int8 quality below a --min-* bar
inline constexpr int kExitUnreachable = 69;   // EX_UNAVAILABLE: a peer cannot be reached
inline constexpr int kExitTimeout = 75;       // EX_TEMPFAIL: timed out, or gave up waiting (the work goes on)
inline constexpr int kExitDenied = 77;        // EX_NOPERM: authentication or authorization refused
inline constexpr int kExitBadConfig = 78;     // EX_CONFIG: a config file, key or certificate is wrong

int ExitCodeFor(const Error& error);

}  // namespace edge
