#include "tests/attack/h2/enroll_message.h"

#include "common/crypto/x509.h"
#include "edge/v1/agent.pb.h"

namespace edge::h2attack {

Result<std::string> GrpcFramedEnrollRequest() {
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::GenerateP256());
  EDGE_ASSIGN_OR_RETURN(auto csr, crypto::CreateCsr(key, "h2attack"));
  edge::v1::EnrollRequest request;
  // Shaped like a real token (edt_ + 64 hex digits) so only the store lookup can refuse it.
  request.set_token("edt_" + std::string(64, '0'));
  request.set_device_name("h2attack");
  request.set_csr_pem(csr);
  request.mutable_facts()->set_arch("x86_64");
  request.mutable_facts()->set_os("attack");
  std::string body;
  if (!request.SerializeToString(&body)) return Fail(ErrorCode::kInternal, "cannot serialize EnrollRequest");
  const auto len = static_cast<uint32_t>(body.size());
  std::string framed;
  framed.push_back('\0');
  for (int shift : {24, 16, 8, 0}) framed.push_back(static_cast<char>((len >> shift) & 0xff));
  return framed + body;
}

}  // namespace edge::h2attack
