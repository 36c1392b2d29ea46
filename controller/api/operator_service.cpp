// OperatorService: mTLS against the operator CA. The acting operator is the certificate's
// spiffe://<fleet>/operator/<name>; it is written to the audit log with every mutation.
#include <openssl/rand.h>

#include "common/core/fs.h"
#include "common/core/log.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/tls/grpc_tls.h"
#include "controller/api/bundle_receiver.h"
#include "controller/api/services.h"
#include "edge/v1/admin.grpc.pb.h"

namespace edge::controller {
namespace {

namespace pb = edge::v1;

constexpr int64_t kDefaultTokenTtl = 3600;
constexpr int64_t kMaxTokenTtl = 7 * 24 * 3600;

void FillAudit(const AuditRecord& a, pb::AuditEntry* e) {
  e->set_id(a.id);
  e->set_at(a.at);
  e->set_actor(a.actor);
  e->set_action(a.action);
  e->set_target(a.target);
  e->set_detail(a.detail);
}

void FillVersion(const VersionRecord& v, pb::ModelVersion* out) {
  out->set_model(v.model);
  out->set_version(v.version);
  out->set_security_version(v.security_version);
  out->set_manifest_digest(v.manifest_digest);
  out->set_total_bytes(v.total_bytes);
  out->set_pushed_by(v.pushed_by);
  out->set_pushed_at(v.pushed_at);
  out->set_signed_by(v.signed_by);
}

constexpr uint32_t kDescribeHealthSamples = 20;
constexpr uint32_t kDescribeEvents = 50;

void FillHealth(const HealthRecord& h, pb::DeviceHealth* out) {
  out->set_unix_time(h.unix_time);
  out->set_received_at(h.received_at);
  out->set_cpu_percent(h.cpu_percent);
  out->set_rss_bytes(h.rss_bytes);
  out->set_disk_free_bytes(h.disk_free_bytes);
  out->set_uptime_seconds(h.uptime_seconds);
  for (const auto& m : h.models) {
    auto* o = out->add_models();
    o->set_model(m.model);
    o->set_version(m.version);
    o->set_state(m.state);
    o->set_inferences(m.inferences);
    o->set_errors(m.errors);
    o->set_p50_us(m.p50_us);
    o->set_p99_us(m.p99_us);
    o->set_last_selftest(m.last_selftest);
    o->set_last_selftest_at(m.last_selftest_at);
    for (auto b : m.latency_bucket_upper_us) o->add_latency_bucket_upper_us(b);
    for (auto c : m.latency_counts) o->add_latency_counts(c);
  }
}

void FillEvent(const UpdateEventRecord& e, pb::DeviceUpdateEvent* out) {
  out->set_seq(e.seq);
  out->set_model(e.model);
  out->set_version(e.version);
  out->set_outcome(e.outcome);
  out->set_reason(e.reason);
  out->set_unix_time(e.unix_time);
  out->set_offline_install(e.offline_install);
  out->set_received_at(e.received_at);
}

class PushBundleReactor final : public grpc::ServerReadReactor<pb::PushBundleRequest> {
 public:
  PushBundleReactor(ControllerContext& ctx, std::string actor, pb::ModelVersion* response)
      : ctx_(ctx), actor_(std::move(actor)), response_(response),
        receiver_(ctx.blob_dir, ctx.trust_policy, ctx.clock.NowUnix()) {
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return Complete();
    Status s = in_.has_envelope() ? receiver_.OnEnvelope(in_.envelope())
               : in_.has_blob()   ? receiver_.OnBlobPart(in_.blob().digest(), in_.blob().data())
                                  : Fail(ErrorCode::kInvalidArgument, "empty push message");
    if (!s) {
      log::Warn("bundle push rejected", {{"operator", actor_}, {"error", s.error().message}});
      return Finish(tls::ToGrpcStatus(s.error()));
    }
    StartRead(&in_);
  }

  void OnDone() override { delete this; }

 private:
  void Complete() {
    auto version = receiver_.Complete(actor_);
    if (!version) {
      log::Warn("bundle push rejected", {{"operator", actor_}, {"error", version.error().message}});
      return Finish(tls::ToGrpcStatus(version.error()));
    }
    boost::asio::post(ctx_.strand, [this, v = std::move(*version)]() mutable {
      auto added = ctx_.store->AddVersion(v, ctx_.clock.NowUnix());
      if (!added) return Finish(tls::ToGrpcStatus(added.error()));
      auto stored = ctx_.store->GetVersion(v.model, v.version);
      if (!stored) return Finish(tls::ToGrpcStatus(stored.error()));
      FillVersion(*stored, response_);
      log::Info(*added ? "model version pushed" : "model version already present",
                {{"model", v.model}, {"version", v.version}, {"operator", actor_}});
      Finish(grpc::Status::OK);
    });
  }

  ControllerContext& ctx_;
  std::string actor_;
  pb::ModelVersion* response_;
  BundleReceiver receiver_;
  pb::PushBundleRequest in_;
};

class OperatorServiceImpl final : public pb::OperatorService::CallbackService {
 public:
  explicit OperatorServiceImpl(ControllerContext& ctx) : ctx_(ctx) {}

  // Runs `work(actor)` on the strand after authenticating the operator.
  template <typename Work>
  grpc::ServerUnaryReactor* Authed(grpc::CallbackServerContext* call, Work work) {
    auto peer = tls::PeerIdentityOf(*call, ctx_.config.fleet, "operator");
    return FinishOnStrand(ctx_, call, [peer = std::move(peer), work = std::move(work)]() mutable -> grpc::Status {
      if (!peer) return tls::ToGrpcStatus(peer.error());
      Status s = work(peer->id.kind + "/" + peer->id.name);
      return s ? grpc::Status::OK : tls::ToGrpcStatus(s.error());
    });
  }

  grpc::ServerUnaryReactor* CreateSite(grpc::CallbackServerContext* call, const pb::CreateSiteRequest* req,
                                       pb::Site* resp) override {
    return Authed(call, [this, req, resp](const std::string& actor) -> Status {
      if (!crypto::IsValidLabel(req->name()))
        return Fail(ErrorCode::kInvalidArgument, std::string("site name must be ") + crypto::kLabelRule);
      EDGE_ASSIGN_OR_RETURN(auto site, ctx_.store->CreateSite(req->name(), actor, ctx_.clock.NowUnix()));
      resp->set_name(site.name);
      resp->set_created_at(site.created_at);
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListSites(grpc::CallbackServerContext* call, const pb::ListSitesRequest*,
                                      pb::ListSitesResponse* resp) override {
    return Authed(call, [this, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto sites, ctx_.store->ListSites());
      for (const auto& s : sites) {
        auto* o = resp->add_sites();
        o->set_name(s.name);
        o->set_created_at(s.created_at);
        o->set_device_count(s.device_count);
      }
      return Ok();
    });
  }

  Status FillDevice(const DeviceRecord& d, pb::Device* o) {
    o->set_id(d.id);
    o->set_site(d.site);
    o->set_online(ctx_.sessions.count(d.id) > 0);
    o->set_last_seen(d.last_seen);
    o->set_enrolled_at(d.enrolled_at);
    o->set_agent_version(d.agent_version);
    o->set_cert_not_after(d.cert_not_after);
    EDGE_ASSIGN_OR_RETURN(auto models, ctx_.store->DeviceModels(d.id));
    for (const auto& m : models) {
      auto* pm = o->add_models();
      pm->set_model(m.model);
      pm->set_desired_version(m.desired_version);
      if (m.reported) {
        pm->set_reported_version(m.reported->version);
        pm->set_state(m.reported->state);
        pm->set_detail(m.reported->detail);
        pm->set_target_version(m.reported->target_version);
        pm->set_bytes_done(m.reported->bytes_done);
        pm->set_bytes_total(m.reported->bytes_total);
        pm->set_updated_at(m.reported->updated_at);
      }
    }
    return Ok();
  }

  grpc::ServerUnaryReactor* ListDevices(grpc::CallbackServerContext* call, const pb::ListDevicesRequest* req,
                                        pb::ListDevicesResponse* resp) override {
    return Authed(call, [this, req, resp](const std::string&) -> Status {
      if (!req->site().empty()) {
        EDGE_ASSIGN_OR_RETURN(bool exists, ctx_.store->SiteExists(req->site()));
        if (!exists) return Fail(ErrorCode::kNotFound, "site '" + req->site() + "' does not exist");
      }
      EDGE_ASSIGN_OR_RETURN(auto devices, ctx_.store->ListDevices(req->site()));
      for (const auto& d : devices) EDGE_TRY(FillDevice(d, resp->add_devices()));
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* DescribeDevice(grpc::CallbackServerContext* call, const pb::DescribeDeviceRequest* req,
                                           pb::DeviceDetail* resp) override {
    return Authed(call, [this, req, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto d, ctx_.store->GetDevice(req->id()));
      EDGE_TRY(FillDevice(d, resp->mutable_device()));
      resp->set_cert_serial(d.cert_serial);
      resp->set_facts_json(d.facts_json);
      EDGE_ASSIGN_OR_RETURN(auto audit, ctx_.store->ListAudit(20, "device/" + d.id));
      for (const auto& a : audit) FillAudit(a, resp->add_recent_audit());
      EDGE_ASSIGN_OR_RETURN(auto health, ctx_.store->LatestHealth(d.id));
      if (health) FillHealth(*health, resp->mutable_health());
      EDGE_ASSIGN_OR_RETURN(auto history, ctx_.store->HealthHistory(d.id, kDescribeHealthSamples));
      for (const auto& h : history) FillHealth(h, resp->add_health_history());
      EDGE_ASSIGN_OR_RETURN(auto events, ctx_.store->ListEvents(d.id, kDescribeEvents));
      for (const auto& e : events) FillEvent(e, resp->add_events());
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* CreateEnrollmentToken(grpc::CallbackServerContext* call,
                                                  const pb::CreateEnrollmentTokenRequest* req,
                                                  pb::EnrollmentToken* resp) override {
    return Authed(call, [this, req, resp](const std::string& actor) -> Status {
      const int64_t ttl = req->ttl_seconds() == 0 ? kDefaultTokenTtl : req->ttl_seconds();
      if (ttl < 1 || ttl > kMaxTokenTtl)
        return Fail(ErrorCode::kInvalidArgument, "token ttl must be between 1 second and 7 days");
      unsigned char raw[32];
      if (RAND_bytes(raw, sizeof raw) != 1) return Fail(ErrorCode::kInternal, "no randomness for a token");
      const std::string token = "edt_" + crypto::HexEncode(std::span<const uint8_t>(raw, sizeof raw));
      const auto now = ctx_.clock.NowUnix();
      EDGE_TRY(ctx_.store->CreateToken({crypto::Sha256Hex(token), req->site(), actor, now, now + ttl}, actor));
      resp->set_token(token);
      resp->set_site(req->site());
      resp->set_expires_at(now + ttl);
      return Ok();
    });
  }

  grpc::ServerReadReactor<pb::PushBundleRequest>* PushBundle(grpc::CallbackServerContext* call,
                                                             pb::ModelVersion* resp) override {
    auto peer = tls::PeerIdentityOf(*call, ctx_.config.fleet, "operator");
    if (!peer) return Rejected<grpc::ServerReadReactor<pb::PushBundleRequest>>(tls::ToGrpcStatus(peer.error()));
    return new PushBundleReactor(ctx_, peer->id.kind + "/" + peer->id.name, resp);
  }

  grpc::ServerUnaryReactor* MissingBlobs(grpc::CallbackServerContext* call, const pb::MissingBlobsRequest* req,
                                         pb::MissingBlobsResponse* resp) override {
    return Authed(call, [this, req, resp](const std::string&) -> Status {
      if (req->digests_size() > 1024) return Fail(ErrorCode::kInvalidArgument, "at most 1024 digests per call");
      for (const auto& digest : req->digests()) {
        if (!IsDigest(digest)) return Fail(ErrorCode::kInvalidArgument, "digest must be 64 lower-case hex characters");
        EDGE_ASSIGN_OR_RETURN(bool known, ctx_.store->HasBlob(digest));
        if (!known || !std::filesystem::exists(ctx_.BlobPath(digest))) resp->add_digests(digest);
      }
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* call, const pb::ListModelsRequest*,
                                       pb::ListModelsResponse* resp) override {
    return Authed(call, [this, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto versions, ctx_.store->ListVersions());
      for (const auto& v : versions) FillVersion(v, resp->add_versions());
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* Deploy(grpc::CallbackServerContext* call, const pb::DeployRequest* req,
                                   pb::Deployment* resp) override {
    return Authed(call, [this, req, resp](const std::string& actor) -> Status {
      std::string model = req->model();
      if (model.empty()) {
        // A bare version: resolve it only when exactly one model has it.
        EDGE_ASSIGN_OR_RETURN(auto versions, ctx_.store->ListVersions());
        std::vector<std::string> owners;
        for (const auto& v : versions)
          if (v.version == req->version()) owners.push_back(v.model);
        if (owners.empty()) return Fail(ErrorCode::kNotFound, "no model has a version '" + req->version() + "'");
        if (owners.size() > 1) {
          std::string list;
          for (const auto& o : owners) list += (list.empty() ? "" : ", ") + o + ":" + req->version();
          return Fail(ErrorCode::kInvalidArgument, "version '" + req->version() + "' is ambiguous: use one of " + list);
        }
        model = owners.front();
      }
      EDGE_ASSIGN_OR_RETURN(auto out, ctx_.store->Deploy(model, req->version(), req->site(), actor, ctx_.clock.NowUnix()));
      const auto& d = out.deployment;
      resp->set_id(d.id);
      resp->set_model(d.model);
      resp->set_version(d.version);
      resp->set_site(d.site);
      for (const auto& id : d.device_ids) resp->add_device_ids(id);
      resp->set_created_by(d.created_by);
      resp->set_created_at(d.created_at);
      resp->set_changed(d.changed);
      log::Info("deployed", {{"model", d.model}, {"version", d.version}, {"site", d.site}, {"operator", actor},
                             {"devices", d.device_ids.size()}, {"changed", d.changed}});
      ctx_.NotifyDevices(out.changed_devices);
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListDeployments(grpc::CallbackServerContext* call, const pb::ListDeploymentsRequest*,
                                            pb::ListDeploymentsResponse* resp) override {
    return Authed(call, [this, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto deployments, ctx_.store->ListDeployments());
      for (const auto& d : deployments) {
        auto* o = resp->add_deployments();
        o->set_id(d.id);
        o->set_model(d.model);
        o->set_version(d.version);
        o->set_site(d.site);
        for (const auto& id : d.device_ids) o->add_device_ids(id);
        o->set_created_by(d.created_by);
        o->set_created_at(d.created_at);
        o->set_changed(d.changed);
        o->set_committed(d.committed);
        o->set_rolled_back(d.rolled_back);
        o->set_failed(d.failed);
      }
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* call, const pb::ListAuditRequest* req,
                                      pb::ListAuditResponse* resp) override {
    return Authed(call, [this, req, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto entries, ctx_.store->ListAudit(std::min<uint32_t>(req->limit(), 1000), ""));
      for (const auto& a : entries) FillAudit(a, resp->add_entries());
      return Ok();
    });
  }

 private:
  ControllerContext& ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeOperatorService(ControllerContext& ctx) {
  return std::make_unique<OperatorServiceImpl>(ctx);
}

}  // namespace edge::controller
