// The request body the rapid-reset attack sends: one gRPC-framed EnrollRequest with a bogus
// token, a well-formed device name and a real CSR, so that a controller that does CSR work before
// it looks at the token pays for it on every stream.
#pragma once

#include <string>

#include "common/core/result.h"

namespace edge::h2attack {

// 1 byte "not compressed", 4 bytes big-endian length, then the serialized EnrollRequest.
Result<std::string> GrpcFramedEnrollRequest();

}  // namespace edge::h2attack
