// A test case that cannot run on this machine or build (a CPU feature, a build option) says
// why and stops. ctest reports it as *skipped* (edge_discover_tests in tests/CMakeLists.txt
// matches the marker), never as passed; run directly, Catch2 shows the reason as a warning.
#pragma once

#include <catch2/catch.hpp>

#define EDGE_SKIP(reason)                    \
  do {                                       \
    WARN("EDGE-TEST-SKIPPED: " << reason);   \
    return;                                  \
  } while (0)
