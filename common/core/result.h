// Errors are values: every fallible function returns edge::Result<T>.
// An Error carries a code (what kind of failure, used to pick exit codes and gRPC statuses)
// and a message that says what failed, on what, and what to do about it.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace edge {

enum class ErrorCode {
  kInvalidArgument,     // bad input: a flag, a file, a message field
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,    // authenticated but not allowed
  kUnauthenticated,     // no or bad identity
  kFailedPrecondition,  // valid request, wrong state (e.g. below anti-rollback floor)
  kResourceExhausted,   // out of disk, too large
  kUnavailable,         // peer unreachable; retry later
  kDeadlineExceeded,    // no answer in time (a connection, a handshake, a call); retry later
  kDataLoss,            // digest mismatch, truncation, corruption
  kBadConfig,           // configuration invalid (exit 78)
  kIo,                  // filesystem or OS call failed
  kInternal,            // broken invariant
};

std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // Prefixes context: Error{..., "no such file"}.Wrap("reading config /etc/x") gives
  // "reading config /etc/x: no such file".
  Error Wrap(std::string_view context) const {
    return Error{code, std::string(context) + ": " + message};
  }
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}
inline tl::unexpected<Error> Fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

inline Status Ok() { return {}; }

}  // namespace edge

// Propagates an error from an expression returning Result/Status.
#define EDGE_TRY(expr)                                          \
  do {                                                          \
    auto edge_try_result_ = (expr);                             \
    if (!edge_try_result_) return ::edge::Fail(std::move(edge_try_result_).error()); \
  } while (0)

#define EDGE_CONCAT_INNER_(a, b) a##b
#define EDGE_CONCAT_(a, b) EDGE_CONCAT_INNER_(a, b)
// Declares `lhs` from the value of a Result, or returns its error.
#define EDGE_ASSIGN_OR_RETURN(lhs, expr) \
  EDGE_ASSIGN_OR_RETURN_IMPL_(EDGE_CONCAT_(edge_aor_, __LINE__), lhs, expr)
#define EDGE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)            \
  auto tmp = (expr);                                           \
  if (!tmp) return ::edge::Fail(std::move(tmp).error());      \
  lhs = std::move(*tmp)
