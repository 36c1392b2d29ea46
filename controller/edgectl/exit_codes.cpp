#include "controller/edgectl/exit_codes.h"

#include <iostream>

namespace edge::edgectl {

int ExitCodeFor(const Error& e) {
  switch (e.code) {
    case ErrorCode::kUnavailable: return kExitUnreachable;
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnauthenticated: return kExitDenied;
    case ErrorCode::kBadConfig: return kExitBadConfig;
    default: return kExitError;
  }
}

int Report(const Error& e) {
  std::cerr << "edgectl: " << e.message << std::endl;
  return ExitCodeFor(e);
}

}  // namespace edge::edgectl
