#include "controller/net/fd_limit.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <sys/resource.h>

namespace edge::controller::net {
namespace {

int64_t KernelNrOpen() {
  std::ifstream in("/proc/sys/fs/nr_open");
  int64_t n = 0;
  if (in >> n && n > 0) return n;
  return 1 << 20;
}

}  // namespace

Result<FdLimit> RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return Fail(ErrorCode::kIo, std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  FdLimit out;
  out.soft_before = static_cast<int64_t>(rl.rlim_cur);
  out.hard = rl.rlim_max == RLIM_INFINITY ? -1 : static_cast<int64_t>(rl.rlim_max);
  const rlim_t target = rl.rlim_max == RLIM_INFINITY ? static_cast<rlim_t>(KernelNrOpen()) : rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < target) {
    rlimit raised = rl;
    raised.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  out.soft = rl.rlim_cur == RLIM_INFINITY ? KernelNrOpen() : static_cast<int64_t>(rl.rlim_cur);
  return out;
}

}  // namespace edge::controller::net
