// EnrollmentService: server-side TLS only. A one-time, expiring, site-scoped token authorises
// one device to have its locally made key certified. Names in the CSR are ignored: the
// certificate's identity is set here from the validated device name.
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "common/core/log.h"
#include "common/crypto/sha256.h"
#include "common/tls/grpc_tls.h"
#include "controller/api/services.h"
#include "edge/v1/agent.grpc.pb.h"

namespace edge::controller {
namespace {

class EnrollmentServiceImpl final : public edge::v1::EnrollmentService::CallbackService {
 public:
  explicit EnrollmentServiceImpl(ControllerContext& ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* call, const edge::v1::EnrollRequest* request,
                                   edge::v1::EnrollResponse* response) override {
    return FinishOnStrand(ctx_, call, [this, request, response]() -> grpc::Status {
      auto result = DoEnroll(*request, *response);
      if (!result) {
        log::Warn("enrollment refused", {{"device", request->device_name().substr(0, 64)}, {"error", result.error().message}});
        return tls::ToGrpcStatus(result.error());
      }
      return grpc::Status::OK;
    });
  }

 private:
  Status DoEnroll(const edge::v1::EnrollRequest& req, edge::v1::EnrollResponse& resp) {
    if (req.token().empty() || req.token().size() > 256)
      return Fail(ErrorCode::kUnauthenticated, "an enrollment token is required");
    if (!crypto::IsValidName(req.device_name()))
      return Fail(ErrorCode::kInvalidArgument, "device name must match [A-Za-z0-9._-]{1,64}");
    const auto now = ctx_.clock.NowUnix();
    crypto::SpiffeId id{ctx_.config.fleet, "device", req.device_name()};
    crypto::CertSpec spec;
    spec.common_name = req.device_name();
    spec.uri_sans = {id.ToString()};
    spec.client_auth = true;
    spec.validity = std::chrono::seconds(ctx_.config.device_cert_ttl_seconds);
    // Clock-skew allowance, kept small against short lifetimes so 2/3-of-life renewal works.
    spec.backdate = std::min<std::chrono::seconds>(spec.backdate, spec.validity / 10);
    auto cert = crypto::IssueFromCsr({ctx_.fleet_ca_pem, &ctx_.fleet_ca_key}, req.csr_pem(), spec);
    if (!cert) return Fail(ErrorCode::kInvalidArgument, "bad CSR: " + cert.error().message);
    EDGE_ASSIGN_OR_RETURN(auto info, crypto::ParseCertificate(*cert));
    nlohmann::json facts = {{"arch", req.facts().arch().substr(0, 32)},
                            {"hostname", req.facts().hostname().substr(0, 255)},
                            {"os", req.facts().os().substr(0, 128)},
                            {"memory_bytes", req.facts().memory_bytes()}};
    DeviceRecord device;
    device.id = req.device_name();
    device.cert_serial = info.serial_hex;
    device.cert_not_after = info.not_after;
    device.facts_json = facts.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    EDGE_ASSIGN_OR_RETURN(auto enrolled, ctx_.store->EnrollDevice(crypto::Sha256Hex(req.token()), device, now));
    resp.set_device_id(enrolled.id);
    resp.set_site(enrolled.site);
    resp.set_certificate_pem(*cert);
    resp.set_ca_pem(ctx_.fleet_ca_pem);
    resp.set_trust_policy(ctx_.trust_policy_envelope);
    resp.set_fleet(ctx_.config.fleet);
    log::Info("device enrolled", {{"device", enrolled.id}, {"site", enrolled.site}});
    return Ok();
  }

  ControllerContext& ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeEnrollmentService(ControllerContext& ctx) {
  return std::make_unique<EnrollmentServiceImpl>(ctx);
}

}  // namespace edge::controller
