#include "common/core/exit_codes.h"

namespace edge {

int ExitCodeFor(const Error& e) {
  switch (e.code) {
    case ErrorCode::kUnavailable: return kExitUnreachable;
    case ErrorCode::kDeadlineExceeded: return kExitTimeout;
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnauthenticated: return kExitDenied;
    case ErrorCode::kBadConfig: return kExitBadConfig;
    default: return kExitError;
  }
}

}  // namespace edge
