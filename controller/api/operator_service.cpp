// OperatorService: mTLS against the operator CA. The acting operator is the certificate's
// spiffe://<fleet>/operator/<name>; it is written to the audit log with every mutation.
#include <algorithm>
#include <functional>
#include <map>
#include <optional>

#include <google/protobuf/util/json_util.h>
#include <openssl/rand.h>

#include "common/core/fs.h"
#include "common/core/log.h"
#include "common/core/text.h"
#include "common/core/version.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/tls/grpc_tls.h"
#include "controller/api/bundle_receiver.h"
#include "controller/api/cluster.h"
#include "controller/api/health_report.h"
#include "controller/api/rollout_driver.h"
#include "controller/api/rollout_proto.h"
#include "controller/api/services.h"
#include "controller/web/dashboard.h"
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
  e->set_result(a.result);
}

// The audit result of a call that failed with `code`: the refusals (what the operator asked for
// is not allowed, not valid, not there or not possible now) as their gRPC code. Failures of the
// controller (busy, internal, I/O) are not the operator's doing and have none.
std::optional<std::string> RefusalResult(ErrorCode code) {
  switch (code) {
    case ErrorCode::kPermissionDenied: return "permission_denied";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kFailedPrecondition: return "failed_precondition";
    case ErrorCode::kAlreadyExists: return "already_exists";
    default: return std::nullopt;
  }
}

// A refusal's reason is the message the operator got, which may quote what it sent.
constexpr size_t kMaxRefusalDetail = 200;

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
  // Starts reading only once `authorize` (run on the strand) has let the operator in.
  // `refused(actor, error)` runs on the strand for a push refused after that.
  using Refused = std::function<void(const std::string& actor, const Error& error)>;
  template <typename Authorize>
  PushBundleReactor(ControllerContext& ctx, Authorize authorize, Refused refused, pb::ModelVersion* response)
      : ctx_(ctx), refused_(std::move(refused)), response_(response), trust_(ctx.Trust()),
        receiver_(ctx.blob_dir, trust_->policy, ctx.clock.NowUnix()), started_(std::chrono::steady_clock::now()) {
    if (!ctx_.operator_work.TryAcquire()) {
      Finish(Busy(ctx_.operator_work));
      return;
    }
    ctx_.urgent.Post([this, authorize = std::move(authorize)]() mutable {
      ctx_.operator_work.Release();
      auto actor = authorize();
      if (!actor) return Finish(tls::ToGrpcStatus(actor.error()));
      actor_ = *actor;
      StartRead(&in_);
    });
  }

  void OnReadDone(bool ok) override {
    if (!ok) return Complete();
    if (std::chrono::steady_clock::now() - started_ > kPushDeadline)
      return Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "push took longer than 30 min"));
    Status s = in_.has_envelope() ? receiver_.OnEnvelope(in_.envelope())
               : in_.has_blob()   ? receiver_.OnBlobPart(in_.blob().digest(), in_.blob().data())
                                  : Fail(ErrorCode::kInvalidArgument, "empty push message");
    if (!s) {
      log::Warn("bundle push rejected", {{"operator", actor_}, {"error", s.error().message}});
      ctx_.urgent.Post([refused = refused_, actor = actor_, e = s.error()] { refused(actor, e); });
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
      ctx_.urgent.Post([refused = refused_, actor = actor_, e = version.error()] { refused(actor, e); });
      return Finish(tls::ToGrpcStatus(version.error()));
    }
    ctx_.urgent.Post([this, v = std::move(*version)]() mutable {
      // The receiver saw every blob in the store, but off the strand: a version deleted since
      // may have taken a blob this push did not send because it was there. Deletions run on the
      // strand, so what is here now stays until AddVersion has recorded it.
      if (auto gone = MissingBlobFile(v); !gone) {
        refused_(actor_, gone.error());
        return Finish(tls::ToGrpcStatus(gone.error()));
      }
      auto added = ctx_.store->AddVersion(v, ctx_.clock.NowUnix());
      if (!added) {
        refused_(actor_, added.error());
        return Finish(tls::ToGrpcStatus(added.error()));
      }
      auto stored = ctx_.store->GetVersion(v.model, v.version);
      if (!stored) return Finish(tls::ToGrpcStatus(stored.error()));
      FillVersion(*stored, response_);
      log::Info(*added ? "model version pushed" : "model version already present",
                {{"model", v.model}, {"version", v.version}, {"operator", actor_}});
      Finish(grpc::Status::OK);
    });
  }

  Status MissingBlobFile(const VersionRecord& v) const {
    for (const auto& b : v.blobs) {
      std::error_code ec;
      if (!std::filesystem::exists(ctx_.BlobPath(b.digest), ec))
        return Fail(ErrorCode::kFailedPrecondition,
                    "blob " + b.digest + " of " + v.model + ":" + v.version +
                        " left the controller's store during this push (a model version that shared it was deleted); "
                        "push again: it is sent this time");
    }
    return Ok();
  }

  static constexpr auto kPushDeadline = std::chrono::minutes(30);
  ControllerContext& ctx_;
  Refused refused_;
  std::string actor_;
  pb::ModelVersion* response_;
  std::shared_ptr<const TrustState> trust_;  // the policy this push is verified against
  BundleReceiver receiver_;
  std::chrono::steady_clock::time_point started_;
  pb::PushBundleRequest in_;
};

enum class Role { kViewer = 0, kDeployer = 1, kAdmin = 2 };

const char* RoleName(Role r) {
  switch (r) {
    case Role::kViewer: return "viewer";
    case Role::kDeployer: return "deployer";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

int RoleRank(const std::string& role) { return role == "admin" ? 2 : role == "deployer" ? 1 : role == "viewer" ? 0 : -1; }

// Free text an operator attaches to an action (audit only).
Status CheckReason(const std::string& reason) {
  if (reason.size() > 256) return Fail(ErrorCode::kInvalidArgument, "reason is longer than 256 bytes");
  for (unsigned char c : reason)
    if (c < 0x20 || c == 0x7f) return Fail(ErrorCode::kInvalidArgument, "reason has a control character");
  return Ok();
}

Status CheckDeviceId(const std::string& id) {
  if (!crypto::IsValidName(id)) return Fail(ErrorCode::kInvalidArgument, "device id must match [A-Za-z0-9._-]{1,64}");
  return Ok();
}

// A site, model or version name in a request: checked before it is looked up, so that an
// error never echoes megabytes (or control characters) back in a status message.
Status CheckLabel(const char* what, const std::string& value, bool may_be_empty = false) {
  if ((may_be_empty && value.empty()) || crypto::IsValidLabel(value)) return Ok();
  return Fail(ErrorCode::kInvalidArgument, std::string(what) + " must be " + crypto::kLabelRule);
}

class OperatorServiceImpl final : public pb::OperatorService::CallbackService {
 public:
  explicit OperatorServiceImpl(ControllerContext& ctx) : ctx_(ctx) {}

  // The operator behind `peer` if its certificate is not denied, it is bound to a role on this
  // controller, not revoked, and its role is at least `needed` for `rpc`. Strand only. Every
  // refusal of an authenticated operator is audited.
  Result<std::string> Authorize(const Result<tls::PeerIdentity>& peer, Role needed, const char* rpc) {
    if (!peer) return Fail(peer.error());
    const std::string actor = "operator/" + peer->id.name;
    const auto now = ctx_.clock.NowUnix();
    auto refuse = [&](const std::string& why) -> Result<std::string> {
      Error error{ErrorCode::kPermissionDenied, why};
      AuditRefusal(actor, rpc, error);
      return Fail(std::move(error));
    };
    EDGE_ASSIGN_OR_RETURN(auto denied, ctx_.store->FindDeniedSerial(peer->cert_serial));
    if (denied) return refuse("certificate serial " + peer->cert_serial + " of " + denied->identity + " is " + denied->reason);
    EDGE_ASSIGN_OR_RETURN(auto op, ctx_.store->GetOperator(peer->id.name));
    if (!op)
      return refuse("operator " + peer->id.name + " has no role on this controller; an admin can grant one: edgectl operator add " +
                    peer->id.name + " --role viewer");
    if (op->revoked) return refuse("operator " + peer->id.name + " is revoked");
    if (RoleRank(op->role) < static_cast<int>(needed))
      return refuse(std::string(rpc) + " needs the " + RoleName(needed) + " role; operator " + peer->id.name + " is a " +
                    op->role);
    (void)ctx_.store->TouchOperator(peer->id.name, peer->cert_serial, now);
    return actor;
  }

  // Writes a call refused to `actor` to the audit log (result: the gRPC code, action: `rpc`) and
  // the log, within refusals_' bounds. The reason is the message the operator got, as plain text
  // (no control characters or escape sequences) and bounded. Strand only.
  void AuditRefusal(const std::string& actor, const char* rpc, const Error& error) {
    auto result = RefusalResult(error.code);
    if (!result) return;
    auto suppressed = refusals_.Admit(actor, std::chrono::steady_clock::now());
    if (!suppressed) return;
    std::string detail = TruncateUtf8(text::PlainText(error.message), kMaxRefusalDetail);
    if (*suppressed > 0) detail += " (and " + std::to_string(*suppressed) + " more refused calls since the previous row)";
    (void)ctx_.store->Audit({0, ctx_.clock.NowUnix(), actor, rpc, std::string("rpc/") + rpc, detail, *result});
    log::Warn("operator call refused",
              {{"operator", actor}, {"rpc", rpc}, {"result", *result}, {"error", detail}, {"suppressed", *suppressed}});
  }

  // Runs `work(actor)` on the strand once the operator is authorized for `rpc`.
  template <typename Work>
  grpc::ServerUnaryReactor* Authed(grpc::CallbackServerContext* call, Role needed, const char* rpc, Work work) {
    auto peer = tls::PeerIdentityOf(*call, ctx_.config.fleet, "operator");
    return FinishOnStrand(ctx_, Lane::kOperator, ctx_.operator_work, call,
                          [this, needed, rpc, peer = std::move(peer), work = std::move(work)]() mutable -> grpc::Status {
                            auto actor = Authorize(peer, needed, rpc);
                            if (!actor) return tls::ToGrpcStatus(actor.error());
                            Status s = work(*actor);
                            if (s) return grpc::Status::OK;
                            AuditRefusal(*actor, rpc, s.error());
                            return tls::ToGrpcStatus(s.error());
                          });
  }

  grpc::ServerUnaryReactor* CreateSite(grpc::CallbackServerContext* call, const pb::CreateSiteRequest* req,
                                       pb::Site* resp) override {
    return Authed(call, Role::kAdmin, "CreateSite", [this, req, resp](const std::string& actor) -> Status {
      if (!crypto::IsValidLabel(req->name()))
        return Fail(ErrorCode::kInvalidArgument, std::string("site name must be ") + crypto::kLabelRule);
      EDGE_ASSIGN_OR_RETURN(auto site, ctx_.store->CreateSite(req->name(), actor, ctx_.clock.NowUnix()));
      resp->set_name(site.name);
      resp->set_created_at(site.created_at);
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* DeleteSite(grpc::CallbackServerContext* call, const pb::DeleteSiteRequest* req,
                                       pb::DeleteSiteResponse* resp) override {
    return Authed(call, Role::kAdmin, "DeleteSite", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckLabel("site name", req->name()));
      EDGE_TRY(CheckReason(req->reason()));
      EDGE_ASSIGN_OR_RETURN(auto deleted, ctx_.store->DeleteSite(req->name(), actor, req->reason(), ctx_.clock.NowUnix()));
      resp->mutable_site()->set_name(deleted.site.name);
      resp->mutable_site()->set_created_at(deleted.site.created_at);
      for (const auto& t : deleted.removed_tokens) resp->add_removed_tokens(t);
      log::Info("site deleted", {{"site", deleted.site.name}, {"operator", actor}, {"tokens_removed", deleted.removed_tokens.size()}});
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListSites(grpc::CallbackServerContext* call, const pb::ListSitesRequest*,
                                      pb::ListSitesResponse* resp) override {
    return Authed(call, Role::kViewer, "ListSites", [this, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto sites, ctx_.store->ListSites());
      for (const auto& s : sites) FillSite(s, resp->add_sites());
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListControllers(grpc::CallbackServerContext* call, const pb::ListControllersRequest*,
                                            pb::ListControllersResponse* resp) override {
    return Authed(call, Role::kViewer, "ListControllers", [this, resp](const std::string&) -> Status {
      const int64_t now = ctx_.clock.NowUnix();
      if (!ctx_.cluster) {  // alone on its database
        auto* c = resp->add_controllers();
        c->set_id("this controller");
        c->set_agent_endpoint(ctx_.config.agent_listen);
        c->set_operator_endpoint(ctx_.config.operator_listen);
        c->set_heartbeat_at(now);
        c->set_agents(ctx_.sessions.size());
        c->set_planner(true);
        c->set_alive(true);
        c->set_answering(true);
        return Ok();
      }
      resp->set_shared(true);
      EDGE_ASSIGN_OR_RETURN(auto rows, ctx_.store->ListControllers());
      for (const auto& r : rows) {
        auto* c = resp->add_controllers();
        c->set_id(r.id);
        c->set_host(r.host);
        c->set_agent_endpoint(r.agent_endpoint);
        c->set_operator_endpoint(r.operator_endpoint);
        c->set_started_at(r.started_at);
        c->set_heartbeat_at(r.heartbeat_at);
        const bool alive = now - r.heartbeat_at <= ClusterTimes().stale_seconds;  // as OnlineElsewhere
        c->set_agents(alive ? r.sessions : 0);  // a dead one's rows are not connections
        c->set_planner(r.planner);
        c->set_alive(alive);
        c->set_answering(r.id == ctx_.cluster->id());
      }
      return Ok();
    });
  }

  Status FillDevice(const DeviceRecord& d, pb::Device* o) {
    o->set_id(d.id);
    o->set_site(d.site);
    o->set_online(ctx_.Online(d.id));
    o->set_last_seen(d.last_seen);
    o->set_enrolled_at(d.enrolled_at);
    o->set_agent_version(d.agent_version);
    o->set_cert_not_after(d.cert_not_after);
    for (const auto& [k, v] : d.labels) (*o->mutable_labels())[k] = v;
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
    return Authed(call, Role::kViewer, "ListDevices", [this, req, resp](const std::string&) -> Status {
      EDGE_TRY(CheckLabel("site name", req->site(), true));
      if (!req->site().empty()) {
        EDGE_ASSIGN_OR_RETURN(bool exists, ctx_.store->SiteExists(req->site()));
        if (!exists) return Fail(ErrorCode::kNotFound, "site '" + req->site() + "' does not exist");
      }
      EDGE_ASSIGN_OR_RETURN(auto selector, rollout::Selector::Parse(req->selector()));
      EDGE_ASSIGN_OR_RETURN(auto devices, ctx_.store->ListDevices(req->site()));
      for (const auto& d : devices)
        if (selector.Matches(d.labels)) EDGE_TRY(FillDevice(d, resp->add_devices()));
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* LabelDevice(grpc::CallbackServerContext* call, const pb::LabelDeviceRequest* req,
                                        pb::Device* resp) override {
    return Authed(call, Role::kDeployer, "LabelDevice", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckDeviceId(req->id()));
      if (req->set_size() + req->remove_size() == 0) return Fail(ErrorCode::kInvalidArgument, "no labels to set or remove");
      if (req->set_size() + req->remove_size() > 64) return Fail(ErrorCode::kInvalidArgument, "at most 64 label changes per call");
      std::map<std::string, std::string> set(req->set().begin(), req->set().end());
      for (const auto& [k, v] : set) {
        EDGE_TRY(rollout::CheckLabelKey(k));
        EDGE_TRY(rollout::CheckLabelValue(v));
      }
      std::vector<std::string> remove(req->remove().begin(), req->remove().end());
      for (const auto& k : remove) {
        EDGE_TRY(rollout::CheckLabelKey(k));
        if (set.count(k)) return Fail(ErrorCode::kInvalidArgument, "label '" + k + "' is both set and removed");
      }
      EDGE_ASSIGN_OR_RETURN(auto d, ctx_.store->SetDeviceLabels(req->id(), set, remove, actor, ctx_.clock.NowUnix()));
      EDGE_TRY(FillDevice(d, resp));
      ctx_.rollouts->Poke(d.id, true);  // it may have entered or left a rollout's target
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* DescribeDevice(grpc::CallbackServerContext* call, const pb::DescribeDeviceRequest* req,
                                           pb::DeviceDetail* resp) override {
    return Authed(call, Role::kViewer, "DescribeDevice", [this, req, resp](const std::string&) -> Status {
      EDGE_TRY(CheckDeviceId(req->id()));
      EDGE_ASSIGN_OR_RETURN(auto d, ctx_.store->GetDevice(req->id()));
      EDGE_TRY(FillDevice(d, resp->mutable_device()));
      resp->set_cert_serial(d.cert_serial);
      resp->set_facts_json(d.facts_json);
      AuditFilter filter;
      filter.limit = 20;
      filter.target = "device/" + d.id;
      EDGE_ASSIGN_OR_RETURN(auto audit, ctx_.store->ListAudit(filter));
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
    return Authed(call, Role::kAdmin, "CreateEnrollmentToken", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckLabel("site name", req->site()));
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
    return new PushBundleReactor(
        ctx_, [this, peer = std::move(peer)] { return Authorize(peer, Role::kDeployer, "PushBundle"); },
        [this](const std::string& actor, const Error& error) { AuditRefusal(actor, "PushBundle", error); }, resp);
  }

  grpc::ServerUnaryReactor* MissingBlobs(grpc::CallbackServerContext* call, const pb::MissingBlobsRequest* req,
                                         pb::MissingBlobsResponse* resp) override {
    return Authed(call, Role::kDeployer, "MissingBlobs", [this, req, resp](const std::string&) -> Status {
      if (req->digests_size() > 1024) return Fail(ErrorCode::kInvalidArgument, "at most 1024 digests per call");
      for (const auto& digest : req->digests()) {
        if (!IsDigest(digest)) return Fail(ErrorCode::kInvalidArgument, "digest must be 64 lower-case hex characters");
        EDGE_ASSIGN_OR_RETURN(bool known, ctx_.store->HasBlob(digest));
        if (!known || !std::filesystem::exists(ctx_.BlobPath(digest))) resp->add_digests(digest);
      }
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* DeleteModelVersion(grpc::CallbackServerContext* call, const pb::DeleteModelVersionRequest* req,
                                               pb::DeleteModelVersionResponse* resp) override {
    return Authed(call, Role::kAdmin, "DeleteModelVersion", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckReason(req->reason()));
      if (req->version().empty()) return Fail(ErrorCode::kInvalidArgument, "no version given");
      EDGE_ASSIGN_OR_RETURN(auto model, ResolveModel(req->model(), req->version()));
      EDGE_ASSIGN_OR_RETURN(auto deleted, ctx_.store->DeleteVersion(model, req->version(), actor, req->reason(),
                                                                    ctx_.clock.NowUnix()));
      FillVersion(deleted.version, resp->mutable_version());
      for (const auto& d : deleted.shared_blobs) resp->add_shared_blobs(d);
      // Only now that the version's rows are committed: a crash before this leaves files no
      // version references (harmless, and never copied into a backup), never a version whose
      // blob is gone. Pushes record their version on this strand, after checking their blobs
      // are still here, so none can have started to rely on one of these meanwhile.
      for (const auto& b : deleted.version.blobs) {
        if (std::find(deleted.unreferenced_blobs.begin(), deleted.unreferenced_blobs.end(), b.digest) ==
            deleted.unreferenced_blobs.end())
          continue;
        // With several controllers another one may be recording a push that uses this blob
        // right now (its check of the file and its commit are not on this strand): the file
        // stays in the shared blob_dir (docs/operations.md#several-controllers).
        if (ctx_.cluster) {
          resp->add_blobs_left(b.digest);
          continue;
        }
        resp->add_removed_blobs(b.digest);
        resp->set_removed_bytes(resp->removed_bytes() + b.size);
        std::error_code ec;
        std::filesystem::remove(ctx_.BlobPath(b.digest), ec);
        if (ec) {
          resp->add_blobs_left(b.digest);
          log::Warn("blob of a deleted version left on disk", {{"digest", b.digest}, {"error", ec.message()}});
        }
      }
      log::Info("model version deleted", {{"model", model}, {"version", req->version()}, {"operator", actor},
                                          {"blobs_removed", deleted.unreferenced_blobs.size()},
                                          {"blobs_shared", deleted.shared_blobs.size()}});
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* call, const pb::ListModelsRequest*,
                                       pb::ListModelsResponse* resp) override {
    return Authed(call, Role::kViewer, "ListModels", [this, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto versions, ctx_.store->ListVersions());
      for (const auto& v : versions) FillVersion(v, resp->add_versions());
      return Ok();
    });
  }

  // The model that has `version` when the request names none: exactly one must.
  Result<std::string> ResolveModel(const std::string& model, const std::string& version) {
    if (!model.empty()) return model;
    EDGE_ASSIGN_OR_RETURN(auto versions, ctx_.store->ListVersions());
    std::vector<std::string> owners;
    for (const auto& v : versions)
      if (v.version == version) owners.push_back(v.model);
    if (owners.empty()) return Fail(ErrorCode::kNotFound, "no model has a version '" + version + "'");
    if (owners.size() > 1) {
      std::string list;
      for (const auto& o : owners) list += (list.empty() ? "" : ", ") + o + ":" + version;
      return Fail(ErrorCode::kInvalidArgument, "version '" + version + "' is ambiguous: use one of " + list);
    }
    return owners.front();
  }

  // Agents would refuse what the served policy no longer covers (a removed key, an expired
  // policy or manifest): say so here instead of failing every device.
  Status CheckServable(const VersionRecord& target) {
    const auto trust = ctx_.Trust();
    auto envelope = bundle::ParseEnvelope(target.envelope);
    auto verified = envelope ? bundle::VerifyManifest(*envelope, trust->policy, ctx_.clock.NowUnix())
                             : Result<bundle::Manifest>(Fail(envelope.error()));
    if (!verified)
      return Fail(ErrorCode::kPermissionDenied, target.model + ":" + target.version +
                                                    " does not verify under the served trust policy v" +
                                                    std::to_string(trust->policy.version) + " (" +
                                                    verified.error().message + "); agents would refuse it");
    return Ok();
  }

  Status CheckTarget(const pb::RolloutTarget& t, rollout::Target& out) {
    if (t.sites_size() > 64 || t.devices_size() > 1000 || t.selector().size() > 1024)
      return Fail(ErrorCode::kInvalidArgument, "target: at most 64 sites, 1000 devices and a 1 KiB selector");
    for (const auto& site : t.sites()) {
      EDGE_TRY(CheckLabel("site name", site));
      EDGE_ASSIGN_OR_RETURN(bool exists, ctx_.store->SiteExists(site));
      if (!exists) return Fail(ErrorCode::kNotFound, "site '" + site + "' does not exist");
      if (std::find(out.sites.begin(), out.sites.end(), site) == out.sites.end()) out.sites.push_back(site);
    }
    for (const auto& id : t.devices()) {
      EDGE_TRY(CheckDeviceId(id));
      EDGE_TRY(ctx_.store->GetDevice(id));
      if (std::find(out.devices.begin(), out.devices.end(), id) == out.devices.end()) out.devices.push_back(id);
    }
    EDGE_TRY(rollout::Selector::Parse(t.selector()));
    out.selector = t.selector();
    if (out.Empty()) return Fail(ErrorCode::kInvalidArgument, "target: give sites, a label selector or devices");
    return Ok();
  }

  grpc::ServerUnaryReactor* CreateRollout(grpc::CallbackServerContext* call, const pb::CreateRolloutRequest* req,
                                          pb::Rollout* resp) override {
    return Authed(call, Role::kDeployer, "CreateRollout", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckLabel("model name", req->model(), true));
      EDGE_TRY(CheckLabel("version", req->version()));
      rollout::Rollout r;
      EDGE_ASSIGN_OR_RETURN(r.model, ResolveModel(req->model(), req->version()));
      EDGE_ASSIGN_OR_RETURN(auto target, ctx_.store->GetVersion(r.model, req->version()));
      EDGE_TRY(CheckServable(target));
      EDGE_TRY(CheckTarget(req->target(), r.target));
      EDGE_ASSIGN_OR_RETURN(r.strategy, StrategyFromProto(*req));
      r.version = target.version;
      r.security_version = target.security_version;
      r.created_by = actor;
      EDGE_ASSIGN_OR_RETURN(auto created, ctx_.rollouts->Create(std::move(r), req->allow_empty()));
      RolloutToProto(created, false, resp);
      log::Info("rollout created", {{"rollout", created.id}, {"model", created.model}, {"version", created.version},
                                    {"operator", actor}, {"devices", created.devices.size()}});
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListRollouts(grpc::CallbackServerContext* call, const pb::ListRolloutsRequest* req,
                                         pb::ListRolloutsResponse* resp) override {
    return Authed(call, Role::kViewer, "ListRollouts", [this, req, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto rollouts, ctx_.store->ListRollouts(req->all(), std::min<uint32_t>(req->limit() ? req->limit() : 50, 500)));
      for (const auto& r : rollouts) RolloutToProto(r, false, resp->add_rollouts());
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* GetRollout(grpc::CallbackServerContext* call, const pb::GetRolloutRequest* req,
                                       pb::Rollout* resp) override {
    return Authed(call, Role::kViewer, "GetRollout", [this, req, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto r, ctx_.store->GetRollout(req->id()));
      RolloutToProto(r, true, resp);
      constexpr uint32_t kEvents = 200;
      EDGE_ASSIGN_OR_RETURN(auto events, ctx_.store->RolloutEvents(req->id(), req->events_after(), kEvents));
      for (const auto& e : events) RolloutEventToProto(e, resp->add_events());
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ControlRollout(grpc::CallbackServerContext* call, const pb::RolloutControlRequest* req,
                                           pb::Rollout* resp, rollout::Control control, const char* rpc) {
    return Authed(call, Role::kDeployer, rpc, [this, req, resp, control](const std::string& actor) -> Status {
      EDGE_TRY(CheckReason(req->reason()));
      EDGE_ASSIGN_OR_RETURN(auto r, ctx_.rollouts->Control(req->id(), control, req->reason(), actor));
      RolloutToProto(r, false, resp);
      log::Info("rollout controlled", {{"rollout", r.id}, {"state", std::string(rollout::Name(r.state))}, {"operator", actor}});
      return Ok();
    });
  }
  grpc::ServerUnaryReactor* PauseRollout(grpc::CallbackServerContext* call, const pb::RolloutControlRequest* req,
                                         pb::Rollout* resp) override {
    return ControlRollout(call, req, resp, rollout::Control::kPause, "PauseRollout");
  }
  grpc::ServerUnaryReactor* ResumeRollout(grpc::CallbackServerContext* call, const pb::RolloutControlRequest* req,
                                          pb::Rollout* resp) override {
    return ControlRollout(call, req, resp, rollout::Control::kResume, "ResumeRollout");
  }
  grpc::ServerUnaryReactor* AbortRollout(grpc::CallbackServerContext* call, const pb::RolloutControlRequest* req,
                                         pb::Rollout* resp) override {
    return ControlRollout(call, req, resp, req->revert() ? rollout::Control::kAbortRevert : rollout::Control::kAbort,
                          "AbortRollout");
  }

  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* call, const pb::ListAuditRequest* req,
                                      pb::ListAuditResponse* resp) override {
    return Authed(call, Role::kViewer, "ListAudit", [this, req, resp](const std::string&) -> Status {
      if (req->actor().size() > 128 || req->action().size() > 64)
        return Fail(ErrorCode::kInvalidArgument, "audit filters: actor at most 128 bytes, action at most 64");
      if (!req->result().empty() && req->result() != "refused" && !IsAuditResult(req->result()))
        return Fail(ErrorCode::kInvalidArgument, "audit result filter: use refused, ok, permission_denied, "
                                                 "invalid_argument, not_found, failed_precondition or already_exists");
      AuditFilter filter;
      filter.limit = std::min<uint32_t>(req->limit(), 1000);
      filter.actor = req->actor();
      filter.action = req->action();
      filter.result = req->result();
      EDGE_ASSIGN_OR_RETURN(auto entries, ctx_.store->ListAudit(filter));
      for (const auto& a : entries) FillAudit(a, resp->add_entries());
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* RevokeDevice(grpc::CallbackServerContext* call, const pb::RevokeDeviceRequest* req,
                                         pb::Device* resp) override {
    return Authed(call, Role::kAdmin, "RevokeDevice", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckDeviceId(req->id()));
      EDGE_TRY(CheckReason(req->reason()));
      EDGE_ASSIGN_OR_RETURN(auto d, ctx_.store->RevokeDevice(req->id(), actor, req->reason(), ctx_.clock.NowUnix()));
      ctx_.DisconnectDevice(d.id, "device " + d.id + " was revoked by " + actor);
      ctx_.rollouts->Poke(d.id, true);
      log::Warn("device revoked", {{"device", d.id}, {"operator", actor}, {"serial", d.cert_serial}});
      return FillDevice(d, resp);
    });
  }

  grpc::ServerUnaryReactor* DecommissionDevice(grpc::CallbackServerContext* call, const pb::DecommissionDeviceRequest* req,
                                               pb::DecommissionDeviceResponse* resp) override {
    return Authed(call, Role::kAdmin, "DecommissionDevice", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckDeviceId(req->id()));
      EDGE_TRY(CheckReason(req->reason()));
      EDGE_ASSIGN_OR_RETURN(auto device, ctx_.store->GetDevice(req->id()));
      EDGE_ASSIGN_OR_RETURN(auto serials, ctx_.store->DecommissionDevice(req->id(), actor, req->reason(), ctx_.clock.NowUnix()));
      ctx_.DisconnectDevice(req->id(), "device " + req->id() + " was decommissioned by " + actor);
      ctx_.rollouts->Poke(req->id(), true);
      resp->set_id(req->id());
      resp->set_site(device.site);
      for (const auto& s : serials) resp->add_denied_serials(s);
      log::Warn("device decommissioned", {{"device", req->id()}, {"operator", actor}});
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* call, const pb::ListTokensRequest* req,
                                       pb::ListTokensResponse* resp) override {
    return Authed(call, Role::kAdmin, "ListTokens", [this, req, resp](const std::string&) -> Status {
      if (!req->site().empty() && !crypto::IsValidLabel(req->site()))
        return Fail(ErrorCode::kInvalidArgument, std::string("site name must be ") + crypto::kLabelRule);
      EDGE_ASSIGN_OR_RETURN(auto tokens, ctx_.store->ListTokens(req->site(), req->all(), ctx_.clock.NowUnix()));
      for (const auto& t : tokens) FillToken(t, resp->add_tokens());
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* call, const pb::RevokeTokenRequest* req,
                                        pb::TokenInfo* resp) override {
    return Authed(call, Role::kAdmin, "RevokeToken", [this, req, resp](const std::string& actor) -> Status {
      if (req->id().size() != 16 || !IsDigest(req->id() + std::string(48, '0')))
        return Fail(ErrorCode::kInvalidArgument, "token id must be 16 lower-case hex digits (see: edgectl token list)");
      EDGE_TRY(CheckReason(req->reason()));
      EDGE_ASSIGN_OR_RETURN(auto t, ctx_.store->RevokeToken(req->id(), actor, req->reason(), ctx_.clock.NowUnix()));
      FillToken(t, resp);
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* AddOperator(grpc::CallbackServerContext* call, const pb::AddOperatorRequest* req,
                                        pb::Operator* resp) override {
    return Authed(call, Role::kAdmin, "AddOperator", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckOperatorName(req->name()));
      EDGE_ASSIGN_OR_RETURN(auto op, ctx_.store->AddOperator(req->name(), req->role(), actor, ctx_.clock.NowUnix()));
      FillOperator(op, resp);
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* ListOperators(grpc::CallbackServerContext* call, const pb::ListOperatorsRequest*,
                                          pb::ListOperatorsResponse* resp) override {
    return Authed(call, Role::kViewer, "ListOperators", [this, resp](const std::string&) -> Status {
      EDGE_ASSIGN_OR_RETURN(auto ops, ctx_.store->ListOperators());
      for (const auto& op : ops) FillOperator(op, resp->add_operators());
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* SetOperatorRole(grpc::CallbackServerContext* call, const pb::SetOperatorRoleRequest* req,
                                            pb::Operator* resp) override {
    return Authed(call, Role::kAdmin, "SetOperatorRole", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckOperatorName(req->name()));
      EDGE_ASSIGN_OR_RETURN(auto op, ctx_.store->SetOperatorRole(req->name(), req->role(), actor, ctx_.clock.NowUnix()));
      FillOperator(op, resp);
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* RevokeOperator(grpc::CallbackServerContext* call, const pb::RevokeOperatorRequest* req,
                                           pb::Operator* resp) override {
    return Authed(call, Role::kAdmin, "RevokeOperator", [this, req, resp](const std::string& actor) -> Status {
      EDGE_TRY(CheckOperatorName(req->name()));
      EDGE_TRY(CheckReason(req->reason()));
      EDGE_ASSIGN_OR_RETURN(auto op, ctx_.store->RevokeOperator(req->name(), actor, req->reason(), ctx_.clock.NowUnix()));
      log::Warn("operator revoked", {{"operator", req->name()}, {"by", actor}});
      FillOperator(op, resp);
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* PushTrustPolicy(grpc::CallbackServerContext* call, const pb::PushTrustPolicyRequest* req,
                                            pb::TrustPolicyInfo* resp) override {
    return Authed(call, Role::kAdmin, "PushTrustPolicy", [this, req, resp](const std::string& actor) -> Status {
      const auto now = ctx_.clock.NowUnix();
      EDGE_ASSIGN_OR_RETURN(auto trust, VerifyServedPolicy(ctx_, req->envelope(), now));
      const auto current = ctx_.Trust();
      if (trust->policy.version <= current->policy.version)
        return Fail(ErrorCode::kFailedPrecondition, "trust policy v" + std::to_string(trust->policy.version) +
                                                        " is not newer than the served v" +
                                                        std::to_string(current->policy.version));
      EDGE_TRY(ctx_.store->AddTrustPolicy({trust->policy.version, trust->envelope, actor, now}));
      ctx_.SetTrust(trust);
      std::vector<std::string> connected;
      for (const auto& [id, session] : ctx_.sessions) connected.push_back(id);
      ctx_.NotifyDevices(connected);
      log::Info("trust policy pushed", {{"version", trust->policy.version}, {"operator", actor},
                                        {"devices_notified", connected.size()}});
      FillTrust(*trust, resp);
      return Ok();
    });
  }

  grpc::ServerUnaryReactor* GetTrustPolicy(grpc::CallbackServerContext* call, const pb::GetTrustPolicyRequest*,
                                           pb::TrustPolicyInfo* resp) override {
    return Authed(call, Role::kViewer, "GetTrustPolicy", [this, resp](const std::string&) -> Status {
      FillTrust(*ctx_.Trust(), resp);
      return Ok();
    });
  }

  // The web dashboard (controller/web/dashboard.h): every request, page or data, is authorized
  // as a viewer's call named "Dashboard", on the strand, within the operator calls' queue limit.
  void ServeWeb(net::WebRequest request, net::WebRespond respond) {
    if (!ctx_.operator_work.TryAcquire())
      return respond(web::Refusal(Error{ErrorCode::kResourceExhausted, "controller busy; the page retries"}));
    ctx_.urgent.Post([this, request = std::move(request), respond = std::move(respond)] {
      auto peer = tls::PeerIdentityOfPem(request.client_cert_pem, ctx_.config.fleet, "operator");
      // The handshake checked the certificate's dates; a kept-alive connection may outlive them.
      const auto now = ctx_.clock.NowUnix();
      if (peer && (now > peer->not_after || now < peer->not_before))
        peer = Fail(ErrorCode::kUnauthenticated, "the operator certificate is not valid now (expired or not yet valid)");
      auto actor = Authorize(peer, Role::kViewer, "Dashboard");
      auto answer = !actor ? web::Refusal(actor.error())
                           : web::Serve(request.target, [&] { return CachedOverviewJson(peer->id.name); });
      ctx_.operator_work.Release();
      respond(std::move(answer));
    });
  }

  // OverviewJson at most once a second per operator: open pages (one poll every 2 s each) and
  // floods of reloads cost the strand one overview a second. Strand only.
  Result<std::string> CachedOverviewJson(const std::string& operator_name) {
    const auto now = std::chrono::steady_clock::now();
    auto& entry = overview_cache_[operator_name];
    if (entry.json.empty() || now - entry.at >= std::chrono::seconds(1)) {
      EDGE_ASSIGN_OR_RETURN(entry.json, OverviewJson(operator_name));
      entry.at = now;
    }
    std::string json = entry.json;
    if (overview_cache_.size() > 32) overview_cache_.clear();  // bounded: operators are few
    return json;
  }

  // edge.v1.FleetOverview as proto3 JSON. Strand only.
  Result<std::string> OverviewJson(const std::string& operator_name) {
    constexpr size_t kMaxDevices = 2000;
    constexpr uint32_t kRollouts = 50, kAudit = 50;
    pb::FleetOverview o;
    o.set_fleet(ctx_.config.fleet);
    o.set_controller_version(kVersion);
    o.set_operator_(operator_name);
    EDGE_ASSIGN_OR_RETURN(auto op, ctx_.store->GetOperator(operator_name));
    if (op) o.set_role(op->role);
    o.set_now(ctx_.clock.NowUnix());
    EDGE_ASSIGN_OR_RETURN(auto sites, ctx_.store->ListSites());
    for (const auto& site : sites) FillSite(site, o.add_sites());
    EDGE_ASSIGN_OR_RETURN(auto devices, ctx_.store->ListDevices(""));
    o.set_devices_total(static_cast<uint32_t>(devices.size()));
    for (size_t i = 0; i < devices.size() && i < kMaxDevices; ++i) {
      auto* d = o.add_devices();
      EDGE_TRY(FillDevice(devices[i], d->mutable_device()));
      EDGE_ASSIGN_OR_RETURN(auto health, ctx_.store->LatestHealth(devices[i].id));
      if (!health) continue;
      FillHealth(*health, d->mutable_health());
      for (auto& m : *d->mutable_health()->mutable_models()) {
        m.clear_latency_bucket_upper_us();
        m.clear_latency_counts();
      }
    }
    EDGE_ASSIGN_OR_RETURN(auto versions, ctx_.store->ListVersions());
    for (const auto& v : versions) FillVersion(v, o.add_models());
    EDGE_ASSIGN_OR_RETURN(auto rollouts, ctx_.store->ListRollouts(false, kRollouts));
    for (const auto& r : rollouts) RolloutToProto(r, false, o.add_rollouts());
    AuditFilter filter;
    filter.limit = kAudit;
    EDGE_ASSIGN_OR_RETURN(auto audit, ctx_.store->ListAudit(filter));
    for (const auto& a : audit) FillAudit(a, o.add_audit());
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    if (auto st = google::protobuf::util::MessageToJsonString(o, &json, options); !st.ok())
      return Fail(ErrorCode::kInternal, "overview as JSON: " + st.ToString());
    return json;
  }

  grpc::ServerUnaryReactor* GetVersion(grpc::CallbackServerContext* call, const pb::GetVersionRequest*,
                                       pb::VersionInfo* resp) override {
    return Authed(call, Role::kViewer, "GetVersion", [this, resp](const std::string&) -> Status {
      resp->set_version(kVersion);
      resp->set_fleet(ctx_.config.fleet);
      return Ok();
    });
  }

 private:
  static void FillSite(const SiteRecord& s, pb::Site* o) {
    o->set_name(s.name);
    o->set_created_at(s.created_at);
    o->set_device_count(s.device_count);
  }

  static Status CheckOperatorName(const std::string& name) {
    if (!crypto::IsValidName(name)) return Fail(ErrorCode::kInvalidArgument, "operator name must match [A-Za-z0-9._-]{1,64}");
    return Ok();
  }

  static void FillToken(const TokenInfoRecord& t, pb::TokenInfo* o) {
    o->set_id(t.id);
    o->set_site(t.site);
    o->set_created_by(t.created_by);
    o->set_created_at(t.created_at);
    o->set_expires_at(t.expires_at);
    o->set_state(t.state);
    o->set_used_by(t.used_by);
  }

  static void FillOperator(const OperatorRecord& op, pb::Operator* o) {
    o->set_name(op.name);
    o->set_role(op.role);
    o->set_revoked(op.revoked);
    o->set_created_by(op.created_by);
    o->set_created_at(op.created_at);
    o->set_last_seen(op.last_seen);
    o->set_last_serial(op.last_serial);
  }

  struct CachedOverview {
    std::string json;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, CachedOverview> overview_cache_;  // by operator (strand only)

  // Refusals audited per operator: 5 in a burst, then one every 10 s (strand only).
  RefusalAuditLimiter refusals_{1.0 / 10, 5};

  static void FillTrust(const TrustState& t, pb::TrustPolicyInfo* o) {
    o->set_version(t.policy.version);
    o->set_fleet(t.policy.fleet);
    o->set_expires(t.policy.expires.value_or(0));
    for (const auto& k : t.policy.keys) {
      auto* key = o->add_keys();
      key->set_key_id(k.id);
      for (const auto& m : k.models) key->add_models(m);
    }
    o->set_envelope(t.envelope);
  }

  ControllerContext& ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeOperatorService(ControllerContext& ctx, net::WebHandler* dashboard) {
  auto service = std::make_unique<OperatorServiceImpl>(ctx);
  if (dashboard)
    *dashboard = [impl = service.get()](net::WebRequest request, net::WebRespond respond) {
      impl->ServeWeb(std::move(request), std::move(respond));
    };
  return service;
}

}  // namespace edge::controller
