#include "agent/core/crash_point.h"

#ifdef EDGE_CRASH_POINTS
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace edge::agent {

void CrashPoint(std::string_view name) {
  static const char* target = std::getenv("EDGE_CRASH_AT");
  if (target == nullptr || name != target) return;
  std::fprintf(stderr, "{\"msg\":\"crash point reached, killing the agent\",\"point\":\"%s\"}\n", target);
  std::fflush(stderr);
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);  // not reached
}

}  // namespace edge::agent
#endif
