// RLIMIT_NOFILE at start-up: the soft limit is raised to the hard one, so that the connection
// caps (sized against it) are what bounds the controller, not a 1024 default.
#pragma once

#include <cstdint>

#include "common/core/result.h"

namespace edge::controller::net {

struct FdLimit {
  int64_t soft_before = 0;
  int64_t soft = 0;  // in force now
  int64_t hard = 0;  // -1: unlimited
};

// Raises the soft limit to the hard limit (an unlimited hard limit: to the kernel's nr_open).
// A failure to raise is not fatal: the result then reports the unchanged soft limit.
Result<FdLimit> RaiseFdLimit();

}  // namespace edge::controller::net
