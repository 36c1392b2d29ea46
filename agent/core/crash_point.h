// Named crash points (DESIGN §12): fault tests kill the agent with SIGKILL at a named step of
// an update, restart it, and check that it recovers. Compiled in only when the build enables
// EDGE_CRASH_POINTS (the dev, ci and asan presets); release builds contain no trace of them.
// At run time a point fires only when the environment variable EDGE_CRASH_AT names it.
#pragma once

#include <array>
#include <string_view>

namespace edge::agent {

// Every point, in the order an update passes them. `edge-agent --list-crash-points` prints
// this list, so the fault test covers each point without repeating the names.
inline constexpr std::array<std::string_view, 10> kCrashPoints = {
    "download.before_fetch",   // the download step started, nothing fetched yet
    "download.after_blob",     // a blob was moved into place
    "verify.done",             // verification passed, the event not yet applied
    "install.done",            // models/<name>/<version> complete
    "activate.after_gate",     // the health gate passed, nothing switched
    "activate.after_switch",   // current and serving switched, probation not yet recorded
    "probation.watch",         // each probation check
    "commit.after_persist",    // committed is durable, previous not yet collected
    "rollback.after_restore",  // current and serving restored, rolled_back not yet recorded
    "outcome.after_send",      // an outcome was sent to the controller, not yet acknowledged
};

#ifdef EDGE_CRASH_POINTS
// Kills the process with SIGKILL if EDGE_CRASH_AT equals `name`.
void CrashPoint(std::string_view name);
inline constexpr bool kCrashPointsCompiled = true;
#else
inline void CrashPoint(std::string_view) {}
inline constexpr bool kCrashPointsCompiled = false;
#endif

}  // namespace edge::agent
