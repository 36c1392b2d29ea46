// EnrollmentService: server-side TLS only. A one-time, expiring, site-scoped token authorises
// one device to have its locally made key certified. Names in the CSR are ignored: the
// certificate's identity is set here from the validated device name.
#include <nlohmann/json.hpp>

#include "common/core/log.h"
#include "common/core/text.h"
#include "controller/api/health_report.h"
#include "common/crypto/sha256.h"
#include "common/tls/grpc_tls.h"
#include "controller/api/services.h"
#include "edge/v1/agent.grpc.pb.h"

namespace edge::controller {
namespace {

class EnrollmentServiceImpl final : public edge::v1::EnrollmentService::CallbackService {
 public:
  explicit EnrollmentServiceImpl(ControllerContext& ctx) : ctx_(ctx) {}

  // Order matters against floods (no credentials are needed to call this): the source's
  // failure budget first (no work at all), then the token's shape, then the token in the
  // store, and only for a valid token the CSR verification and signing.
  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* call, const edge::v1::EnrollRequest* request,
                                   edge::v1::EnrollResponse* response) override {
    const std::string source = ctx_.source_of(call->peer());
    if (!ctx_.enroll_failures.Allowed(source, std::chrono::steady_clock::now())) {
      auto* reactor = call->DefaultReactor();
      reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "too many failed enrollment attempts from " + source + "; wait a minute"));
      return reactor;
    }
    if (!IsTokenShape(request->token())) {
      ctx_.enroll_failures.RecordFailure(source, std::chrono::steady_clock::now());
      auto* reactor = call->DefaultReactor();
      reactor->Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "enrollment token is not valid"));
      return reactor;
    }
    return FinishOnStrand(ctx_, Lane::kFleet, ctx_.enroll_work, call, [this, source, request, response]() -> grpc::Status {
      auto result = DoEnroll(*request, *response);
      if (!result) {
        // Every refusal spends the source's budget, whatever its reason (a bad name or CSR is
        // as cheap to send as a bad token).
        if (result.error().code != ErrorCode::kFailedPrecondition)
          ctx_.enroll_failures.RecordFailure(source, std::chrono::steady_clock::now());
        log::Warn("enrollment refused", {{"device", request->device_name().substr(0, 64)}, {"source", source},
                                         {"error", result.error().message}});
        return tls::ToGrpcStatus(result.error());
      }
      return grpc::Status::OK;
    });
  }

 private:
  // Tokens are "edt_" and 64 lower-case hex digits (operator_service.cpp makes them).
  static bool IsTokenShape(const std::string& token) {
    return token.size() == 68 && token.starts_with("edt_") && IsDigest(token.substr(4));
  }

  Status DoEnroll(const edge::v1::EnrollRequest& req, edge::v1::EnrollResponse& resp) {
    if (!crypto::IsValidName(req.device_name()))
      return Fail(ErrorCode::kInvalidArgument, "device name must match [A-Za-z0-9._-]{1,64}");
    if (req.csr_pem().size() > 16 * 1024) return Fail(ErrorCode::kInvalidArgument, "CSR is larger than 16 KiB");
    const auto now = ctx_.clock.NowUnix();
    // The agent refuses an expired policy in the response: refuse before the token is spent.
    if (const auto trust = ctx_.Trust(); Expired(*trust, now))
      return Fail(ErrorCode::kFailedPrecondition, "the controller's trust policy v" + std::to_string(trust->policy.version) +
                                               " has expired; enrollment waits until an operator pushes a newer one");
    // The token (looked up by its SHA-256, so the lookup's timing says nothing about the
    // token) and the name, before any CSR work.
    const std::string token_hash = crypto::Sha256Hex(req.token());
    EDGE_TRY(ctx_.store->CheckEnrollment(token_hash, req.device_name(), now));
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
    nlohmann::json facts = {{"arch", TruncateUtf8(text::PlainText(req.facts().arch()), 32)},
                            {"hostname", TruncateUtf8(text::PlainText(req.facts().hostname()), 255)},
                            {"os", TruncateUtf8(text::PlainText(req.facts().os()), 128)},
                            {"memory_bytes", req.facts().memory_bytes()}};
    DeviceRecord device;
    device.id = req.device_name();
    device.cert_serial = info.serial_hex;
    device.cert_not_after = info.not_after;
    device.facts_json = facts.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    EDGE_ASSIGN_OR_RETURN(auto enrolled, ctx_.store->EnrollDevice(token_hash, device, now));
    resp.set_device_id(enrolled.id);
    resp.set_site(enrolled.site);
    resp.set_certificate_pem(*cert);
    resp.set_ca_pem(ctx_.fleet_ca_pem);
    resp.set_trust_policy(ctx_.Trust()->envelope);
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
