#include "common/core/result.h"

#include <catch2/catch.hpp>

#include <set>

using edge::Error;
using edge::ErrorCode;
using edge::Result;
using edge::Status;

namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return edge::Fail(ErrorCode::kInvalidArgument, std::to_string(v) + " is odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  EDGE_ASSIGN_OR_RETURN(int h, Half(v));
  EDGE_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int v) {
  EDGE_TRY(Half(v));
  return edge::Ok();
}

}  // namespace

TEST_CASE("Error::Wrap prefixes context and keeps the code", "[result]") {
  const Error e{ErrorCode::kNotFound, "no such file"};
  const Error wrapped = e.Wrap("reading config /etc/x");
  CHECK(wrapped.code == ErrorCode::kNotFound);
  CHECK(wrapped.message == "reading config /etc/x: no such file");
}

TEST_CASE("EDGE_ASSIGN_OR_RETURN and EDGE_TRY propagate the first error", "[result]") {
  CHECK(Quarter(8).value() == 2);
  auto odd = Quarter(6);
  REQUIRE_FALSE(odd);
  CHECK(odd.error().code == ErrorCode::kInvalidArgument);
  CHECK(odd.error().message == "3 is odd");
  CHECK(CheckEven(4));
  auto bad = CheckEven(5);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "5 is odd");
}

TEST_CASE("ErrorCodeName gives a distinct name per code", "[result]") {
  const ErrorCode all[] = {ErrorCode::kInvalidArgument, ErrorCode::kNotFound,         ErrorCode::kAlreadyExists,
                           ErrorCode::kPermissionDenied, ErrorCode::kUnauthenticated, ErrorCode::kFailedPrecondition,
                           ErrorCode::kResourceExhausted, ErrorCode::kUnavailable,    ErrorCode::kDeadlineExceeded,
                           ErrorCode::kDataLoss,
                           ErrorCode::kBadConfig,        ErrorCode::kIo,              ErrorCode::kInternal};
  std::set<std::string_view> names;
  for (auto c : all) {
    CHECK(edge::ErrorCodeName(c) != "unknown");
    names.insert(edge::ErrorCodeName(c));
  }
  CHECK(names.size() == std::size(all));
  CHECK(edge::ErrorCodeName(ErrorCode::kBadConfig) == "bad_config");
}
