// The controller tests' fixed "now" (unix seconds, January 2027) for certificates, policies
// and bundles whose validity the tests choose.
#pragma once

#include <cstdint>

namespace edge::controller::testing {

inline constexpr int64_t kNow = 1'800'000'000;

}  // namespace edge::controller::testing
