#include "agent/daemon/agent_app.h"

#include <unistd.h>

#include <boost/asio/post.hpp>

#include "agent/core/crash_point.h"
#include "agent/core/reconcile.h"
#include "agent/core/trust_policy_check.h"
#include "agent/daemon/process_stats.h"
#include "agent/runtime/health_gate.h"
#include "common/core/fs.h"
#include "common/core/log.h"
#include "common/crypto/sha256.h"
#include "common/crypto/x509.h"
#include "common/tls/grpc_tls.h"

namespace edge::agent {

namespace {
const char* kGenerationKey = "desired_generation";  // the newest desired-state generation seen
const char* kFleetKey = "enrolled_fleet";           // the fleet named in the enrollment response

// The manifest inside the stored target envelope. It was verified when the target was accepted
// (and is verified again in the verify step), so parsing is all that is needed here.
Result<bundle::Manifest> TargetManifest(const ModelRecord& r) {
  return bundle::ParseEnvelope(r.target_envelope).and_then([](const bundle::Envelope& e) {
    return bundle::ParseManifest(e.payload);
  });
}

Error BadConfig(const Error& e) { return Error{ErrorCode::kBadConfig, e.message}; }

std::string SelfTestPassed(const std::string& version, int cases, double max_abs_error, const char* when) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s passed %d case(s) %s, max error %.3g", version.c_str(), cases, when, max_abs_error);
  return buf;
}
}  // namespace

AgentApp::AgentApp(AgentConfig config, boost::asio::io_context& io, const Clock& clock)
    : config_(std::move(config)), io_(io), clock_(clock), report_timer_(io), inbox_timer_(io), repo_(config_.state_dir) {}

AgentApp::~AgentApp() { Stop(); }

void AgentApp::Stop() {
  cancel_downloads_ = true;
  if (link_) link_->Stop();
  report_timer_.cancel();
  inbox_timer_.cancel();
  for (auto& [model, timer] : probation_timers_) timer->cancel();
  if (server_) server_->Shutdown();
  if (worker_guard_) {
    worker_guard_.reset();
    worker_io_.stop();
    if (worker_.joinable()) worker_.join();
  }
}

Result<AgentApp::Identity> AgentApp::LoadOrEnroll() {
  const auto dir = config_.state_dir / "identity";
  EDGE_TRY(fs::CreateDirectories(dir, 0700));
  auto ca = tls::ReadPem(config_.ca_file);
  if (!ca) return Fail(ca.error());
  if (std::filesystem::exists(dir / "cert.pem")) {
    EDGE_TRY(RecoverRenewal(dir));
    EDGE_ASSIGN_OR_RETURN(auto cert, fs::ReadFile(dir / "cert.pem", 64 * 1024));
    EDGE_ASSIGN_OR_RETURN(auto key, fs::ReadFile(dir / "key.pem", 64 * 1024));
    EDGE_ASSIGN_OR_RETURN(auto info, crypto::ParseCertificate(cert));
    cert_not_before_ = info.not_before;
    cert_not_after_ = info.not_after;
    if (info.subject_cn != config_.device_name)
      return Fail(ErrorCode::kBadConfig, "state dir " + config_.state_dir.string() + " belongs to device '" +
                                             info.subject_cn + "', but device_name is '" + config_.device_name + "'");
    return Identity{info.subject_cn, cert, key, *ca};
  }
  std::string token = config_.enrollment_token;
  if (!config_.enrollment_token_file.empty()) {
    auto t = fs::ReadFile(config_.enrollment_token_file, 4096);
    if (!t) return Fail(BadConfig(t.error().Wrap("enrollment_token_file")));
    token = *t;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  if (token.empty())
    return Fail(ErrorCode::kBadConfig, "device is not enrolled and no enrollment_token is configured "
                                       "(create one with: edgectl token create --site SITE)");
  // The key pair is made here and never leaves the device; only the CSR is sent.
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::GenerateP256());
  EDGE_ASSIGN_OR_RETURN(auto key_pem, key.ToPem());
  EDGE_ASSIGN_OR_RETURN(auto csr, crypto::CreateCsr(key, config_.device_name));
  log::Info("enrolling", {{"device", config_.device_name}, {"endpoint", config_.enroll_endpoint}});
  EDGE_ASSIGN_OR_RETURN(auto resp, Enroll({config_.enroll_endpoint, *ca, token, config_.device_name, csr}));
  // The trust policy must verify against the root pinned in our config, whatever the
  // controller says, and be for the fleet we enrolled into.
  enrolled_fleet_ = resp.fleet();
  EDGE_TRY(AdoptTrustPolicy(resp.trust_policy()));
  if (enrolled_fleet_.empty()) enrolled_fleet_ = policy_.fleet;
  EDGE_TRY(store_->SetMeta(kFleetKey, enrolled_fleet_));
  EDGE_TRY(fs::WriteFileAtomic(dir / "key.pem", key_pem, 0600));
  EDGE_TRY(fs::WriteFileAtomic(dir / "cert.pem", resp.certificate_pem(), 0600));
  EDGE_ASSIGN_OR_RETURN(auto info, crypto::ParseCertificate(resp.certificate_pem()));
  cert_not_before_ = info.not_before;
  cert_not_after_ = info.not_after;
  log::Info("enrolled", {{"device", resp.device_id()}, {"site", resp.site()}, {"fleet", resp.fleet()}});
  return Identity{resp.device_id(), resp.certificate_pem(), key_pem, *ca};
}

Status AgentApp::RecoverRenewal(const std::filesystem::path& dir) {
  const auto next = dir / "key.pem.next";
  if (!std::filesystem::exists(next)) return Ok();
  EDGE_ASSIGN_OR_RETURN(auto cert, fs::ReadFile(dir / "cert.pem", 64 * 1024));
  EDGE_ASSIGN_OR_RETURN(auto next_pem, fs::ReadFile(next, 64 * 1024));
  auto next_key = crypto::PrivateKey::FromPem(next_pem);
  const bool use_next = next_key && crypto::CertificateMatchesKey(cert, *next_key).value_or(false);
  if (use_next) {
    if (::rename(next.c_str(), (dir / "key.pem").c_str()) != 0)
      return Fail(ErrorCode::kIo, "cannot promote " + next.string() + ": " + fs::ErrnoText(errno));
    log::Info("completed an interrupted certificate renewal");
  } else {
    ::unlink(next.c_str());
    log::Info("discarded the key of an interrupted certificate renewal");
  }
  return fs::FsyncPath(dir);
}

void AgentApp::MaybeRenewCertificate() {
  const int64_t lifetime = cert_not_after_ - cert_not_before_;
  if (renewing_ || !link_ || lifetime <= 0 || clock_.NowUnix() < cert_not_before_ + lifetime * 2 / 3) return;
  // A new key for every certificate; it is made here and never leaves the device.
  auto key = crypto::PrivateKey::GenerateP256();
  auto key_pem = key ? key->ToPem() : Result<std::string>(Fail(key.error()));
  auto csr = key ? crypto::CreateCsr(*key, config_.device_name) : Result<std::string>(Fail(key.error()));
  if (!key_pem || !csr) {
    log::Error("cannot make a renewal request", {{"error", (!key_pem ? key_pem.error() : csr.error()).message}});
    return;
  }
  renewing_ = true;
  boost::asio::post(worker_io_, [this, csr = *csr, key_pem = *key_pem] {
    auto cert = link_->RenewCertificate(csr);
    boost::asio::post(io_, [this, cert = std::move(cert), key_pem] {
      renewing_ = false;
      Status s = cert ? InstallRenewedIdentity(*cert, key_pem) : Status(Fail(cert.error()));
      if (!s) log::Warn("certificate renewal failed, will retry", {{"error", s.error().message}});
    });
  });
}

Status AgentApp::InstallRenewedIdentity(const std::string& cert_pem, const std::string& key_pem) {
  EDGE_ASSIGN_OR_RETURN(auto info, crypto::ParseCertificate(cert_pem));
  if (info.subject_cn != config_.device_name)
    return Fail(ErrorCode::kPermissionDenied, "renewed certificate is for '" + info.subject_cn + "'");
  // Crash-safe order: the new key beside the old one, then the certificate, then the key.
  // RecoverRenewal() finishes or undoes whatever a crash interrupted.
  const auto dir = config_.state_dir / "identity";
  EDGE_TRY(fs::WriteFileAtomic(dir / "key.pem.next", key_pem, 0600));
  EDGE_TRY(fs::WriteFileAtomic(dir / "cert.pem", cert_pem, 0600));
  EDGE_TRY(RecoverRenewal(dir));
  cert_not_before_ = info.not_before;
  cert_not_after_ = info.not_after;
  link_->UpdateIdentity(cert_pem, key_pem);
  log::Info("certificate renewed", {{"serial", info.serial_hex}, {"not_after", info.not_after}});
  return Ok();
}

Status AgentApp::AdoptTrustPolicy(const std::string& bytes) {
  if (bytes == policy_envelope_) return Ok();
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(bytes));
  // A policy we take on must be valid now; only the one already held may be past its expiry.
  EDGE_ASSIGN_OR_RETURN(auto policy, bundle::VerifyTrustPolicy(envelope, root_, clock_.NowUnix()));
  const HeldPolicy held{policy_, policy_payload_};
  auto decision = DecidePolicyUpdate(policy_envelope_.empty() ? nullptr : &held, policy, envelope.payload,
                                     enrolled_fleet_);
  switch (decision.decision) {
    case PolicyUpdate::kSame:
      return Ok();
    case PolicyUpdate::kOlder:
    case PolicyUpdate::kConflict:
      return Fail(ErrorCode::kFailedPrecondition, decision.reason);
    case PolicyUpdate::kOtherFleet:
      return Fail(ErrorCode::kPermissionDenied, decision.reason);
    case PolicyUpdate::kAdopt:
      break;
  }
  EDGE_TRY(store_->SaveTrustPolicy(bytes));
  const uint64_t previous = policy_.version;
  policy_ = std::move(policy);
  policy_envelope_ = bytes;
  policy_payload_ = std::move(envelope.payload);
  policy_version_ = policy_.version;
  expiry_logged_ = false;
  log::Info("trust policy adopted", {{"version", policy_.version}, {"previous", previous},
                                     {"expires", policy_.expires ? *policy_.expires : 0}});
  return Ok();
}

Status AgentApp::LoadTrustPolicy() {
  EDGE_ASSIGN_OR_RETURN(auto stored, store_->LoadTrustPolicyEnvelope());
  if (!stored) return Ok();
  auto check = ClassifyStoredPolicy(*stored, root_, clock_.NowUnix());
  if (check.standing == StoredPolicyStanding::kBad)
    return Fail(ErrorCode::kPermissionDenied, "stored trust policy does not verify against the pinned release root (" +
                                                  config_.release_root_public_key + "): " + check.problem);
  policy_ = std::move(check.policy);
  policy_envelope_ = std::move(*stored);
  policy_payload_ = std::move(check.payload);
  policy_version_ = policy_.version;
  return Ok();
}

Status AgentApp::LoadEnrolledFleet() {
  EDGE_ASSIGN_OR_RETURN(auto fleet, store_->GetMeta(kFleetKey));
  if (fleet) {
    enrolled_fleet_ = *fleet;
    return Ok();
  }
  if (policy_envelope_.empty()) return Ok();  // not enrolled yet: enrollment records it
  enrolled_fleet_ = policy_.fleet;
  return store_->SetMeta(kFleetKey, enrolled_fleet_);
}

std::optional<std::string> AgentApp::PolicyBlocksInstalls() {
  auto reason = PolicyExpiredReason(policy_, clock_.NowUnix());
  if (reason && !expiry_logged_) {
    expiry_logged_ = true;
    log::Warn("trust policy expired: this agent keeps serving and connecting, but installs nothing until the "
              "controller hands it a newer policy signed by the release root",
              {{"version", policy_.version}, {"expires", *policy_.expires}, {"detail", *reason}});
  }
  return reason;
}

Status AgentApp::Start() {
  EDGE_ASSIGN_OR_RETURN(root_, LoadReleaseRoot(config_));
  EDGE_TRY(fs::CreateDirectories(config_.state_dir, 0750));
  EDGE_TRY(repo_.Prepare());
  EDGE_ASSIGN_OR_RETURN(auto store, StateStore::Open((config_.state_dir / "state.db").string()));
  store_.emplace(std::move(store));
  EDGE_TRY(LoadTrustPolicy());
  EDGE_TRY(LoadEnrolledFleet());
  started_at_ = clock_.NowUnix();
  last_sample_ = SampleProcess();
  EDGE_TRY(fs::CreateDirectories(config_.state_dir / "inbox", 0700));
  EDGE_ASSIGN_OR_RETURN(auto generation, store_->GetMeta(kGenerationKey));
  if (generation) last_generation_ = std::strtoull(generation->c_str(), nullptr, 10);
  EDGE_ASSIGN_OR_RETURN(auto identity, LoadOrEnroll());
  if (policy_envelope_.empty())
    return Fail(ErrorCode::kFailedPrecondition, "no trust policy stored; remove " +
                                                    (config_.state_dir / "identity").string() + " and enroll again");
  if (int n = repo_.RemoveTemporaries(); n > 0) log::Info("removed temporary files left by a crash", {{"count", n}});

  worker_guard_ = std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
      worker_io_.get_executor());
  worker_ = std::thread([this] { worker_io_.run(); });

  EDGE_ASSIGN_OR_RETURN(auto records, store_->LoadModels());
  for (auto& r : records) models_[r.model] = r;
  // Serve what `current` points at before anything else (READY=1 follows only when serving).
  // It is a verified, gated version: the active one, or the one under probation.
  for (auto& [name, r] : models_) {
    const auto current = repo_.CurrentVersion(name);
    if (!current) continue;
    auto s = ServeVersion(name, *current);
    if (!s && *current != r.active_version && !r.active_version.empty()) {
      log::Error("cannot serve the current version, serving the active one", {{"model", name}, {"version", *current},
                                                                               {"error", s.error().message}});
      s = ServeVersion(name, r.active_version);
    }
    if (!s) log::Error("cannot serve model", {{"model", name}, {"error", s.error().message}});
  }
  serve::ServeConfig serve_config;
  serve_config.unix_socket = config_.inference_socket;
  serve_config.socket_mode = config_.inference_socket_mode;
  serve_config.tcp_address = config_.inference_tcp;
  serve_config.max_request_bytes = config_.inference_max_request_bytes;
  auto server = serve::InferenceServer::Start(serve_config, registry_);
  if (!server) return Fail(server.error().Wrap("local inference API"));
  server_ = std::move(*server);

  for (auto& [name, r] : models_) {
    const auto action = ResumeAction(r.state);
    if (action == UpdateAction::kNone) continue;
    if (r.state == UpdateState::kProbation) {
      // A restart during probation counts against the new version (a crash loop rolls it back).
      ++r.probation_restarts;
      Persist(r);
    }
    log::Info("resuming interrupted update", {{"model", name}, {"state", StateName(r.state)}, {"target", r.target_version}});
    RunAction(name, action);
  }

  {
    std::lock_guard lock(snapshot_mu_);
    snapshot_ = MakeReport();
  }
  Backoff backoff(std::chrono::milliseconds(config_.backoff_initial_ms), std::chrono::milliseconds(config_.backoff_max_ms),
                  [rng = std::make_shared<std::mt19937_64>(std::random_device{}())] {
                    return std::uniform_real_distribution<double>(0.0, 1.0)(*rng);
                  });
  link_ = std::make_unique<ControllerLink>(
      LinkIdentity{config_.controller, identity.ca_pem, identity.cert_pem, identity.key_pem},
      [this] {
        edge::v1::Hello hello;
        hello.set_agent_version(kAgentVersion);
        hello.set_trust_policy_version(policy_version_.load());
        std::lock_guard lock(snapshot_mu_);
        *hello.mutable_models() = snapshot_.models();
        return hello;
      },
      [this](edge::v1::DesiredState d) { boost::asio::post(io_, [this, d = std::move(d)] { OnDesired(d); }); },
      [this](uint64_t up_to_seq) {
        boost::asio::post(io_, [this, up_to_seq] {
          if (auto s = store_->AckOutcomes(up_to_seq); !s)
            log::Error("cannot drop acknowledged outcomes", {{"error", s.error().message}});
        });
      },
      [this](bool connected, const std::string& detail) {
        boost::asio::post(io_, [this, connected, detail] {
          if (connected != connected_) log::Info(connected ? "connected to controller" : "disconnected", {{"detail", detail}});
          const bool reconnected = connected && !connected_;
          connected_ = connected;
          if (reconnected) SendReport();  // health and unacknowledged outcomes at once
        });
      },
      std::move(backoff));
  link_->Start();
  ScheduleReport();
  ScanInbox();
  ScheduleInbox();
  log::Info("agent started", {{"device", identity.device_id}, {"fleet", enrolled_fleet_},
                              {"trust_policy_version", policy_.version}});
  PolicyBlocksInstalls();  // says so once at start when the held policy has expired
  return Ok();
}

void AgentApp::OnDesired(const edge::v1::DesiredState& desired) {
  if (!desired.trust_policy().empty()) {
    if (auto s = AdoptTrustPolicy(desired.trust_policy()); !s) {
      // Logged once per distinct envelope: the controller re-sends it with every desired state.
      const std::string digest = crypto::Sha256Hex(desired.trust_policy());
      if (digest != last_refused_policy_)
        log::Warn("trust policy from controller refused", {{"error", s.error().message}, {"sha256", digest}});
      last_refused_policy_ = digest;
    }
  }
  if (desired.generation() > last_generation_) {
    last_generation_ = desired.generation();
    if (auto s = store_->SetMeta(kGenerationKey, std::to_string(last_generation_)); !s)
      log::Error("cannot persist the desired generation", {{"error", s.error().message}});
  }
  for (const auto& dm : desired.models()) {
    // A local install holds until an operator deploys to this device again.
    auto it = models_.find(dm.model());
    if (it != models_.end() && it->second.target_local && desired.generation() <= it->second.pinned_generation) continue;
    HandleTarget(dm.model(), dm.version(), dm.envelope(), /*local=*/false);
  }
  SendReport();
}

void AgentApp::ScanInbox() {
  const auto dir = config_.state_dir / "inbox";
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    if (it->path().extension() == ".envelope" && it->is_regular_file()) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto bytes = fs::ReadFile(file, bundle::kMaxEnvelopeBytes);
    auto manifest = bytes ? bundle::ParseEnvelope(*bytes).and_then([](const bundle::Envelope& e) {
      return bundle::ParseManifest(e.payload);
    }) : Result<bundle::Manifest>(Fail(bytes.error()));
    if (!manifest) {
      log::Error("refusing a local install", {{"file", file.string()}, {"error", manifest.error().message}});
    } else {
      log::Info("local install", {{"model", manifest->name}, {"version", manifest->version}, {"file", file.string()}});
      // The same path as a controller target: signature, floor, download (the blobs are
      // already here), verify, install, health gate, probation.
      HandleTarget(manifest->name, manifest->version, *bytes, /*local=*/true);
    }
    std::filesystem::remove(file, ec);
  }
}

void AgentApp::HandleTarget(const std::string& model, const std::string& version, const std::string& envelope,
                            bool from_file) {
  const std::string digest = crypto::Sha256Hex(envelope);
  auto& local = models_[model];
  local.model = model;
  // What already runs, or is being worked on, needs no new verdict: it was verified when it was
  // accepted (and its install re-verifies it). Above all, an expired policy must not turn the
  // controller's re-sent desired state for the active version into a refusal of it. (The floor
  // passed here is the device's own, so only Reconcile's "nothing to do" rules can answer kNothing.)
  if (Reconcile({local.active_version, local.active_digest, local.floor, local.state, local.target_version,
                 local.target_digest},
                {version, digest, local.floor}) == ReconcileDecision::kNothing)
    return;
  // Nothing signed, nothing run: verify before any byte is fetched. Under an expired policy
  // nothing verifies; say why in words an operator can act on.
  auto manifest = [&]() -> Result<bundle::Manifest> {
    if (auto blocked = PolicyBlocksInstalls()) return Fail(ErrorCode::kFailedPrecondition, *blocked);
    return bundle::ParseEnvelope(envelope).and_then([&](const bundle::Envelope& e) {
      return bundle::VerifyManifest(e, policy_, clock_.NowUnix());
    });
  }();
  if (manifest && (manifest->name != model || manifest->version != version))
    manifest = tl::unexpected(Error{ErrorCode::kPermissionDenied, "signed manifest is for " + manifest->name + ":" +
                                                                      manifest->version + ", not " + model + ":" + version});
  // A refusal stores no envelope (RecordFailure below): that marks it as a verdict under the
  // policy held then, which the next desired state re-checks against the policy held now.
  const bool refused = local.state == UpdateState::kFailed && local.target_envelope.empty();
  LocalModel view{local.active_version, local.active_digest, local.floor, local.state, local.target_version,
                  local.target_digest, refused};
  if (!manifest) {
    const std::string detail = "refused " + version + ": " + manifest.error().message;
    if (local.target_digest == digest && local.state == UpdateState::kFailed && local.detail == detail) return;
    log::Warn("target version refused", {{"model", model}, {"version", version}, {"error", manifest.error().message}});
    local.target_local = from_file;
    RecordFailure(model, version, digest, "", detail);
    return;
  }
  switch (Reconcile(view, {version, digest, manifest->security_version})) {
    case ReconcileDecision::kNothing:
    case ReconcileDecision::kAlreadyFailed:
      return;
    case ReconcileDecision::kBelowFloor:
      if (local.target_digest == digest && local.state == UpdateState::kFailed) return;
      local.target_local = from_file;
      RecordFailure(model, version, digest, "",
                    "refused " + version + ": security_version " + std::to_string(manifest->security_version) +
                        " is below this device's anti-rollback floor " + std::to_string(local.floor));
      return;
    case ReconcileDecision::kStart:
      break;
  }
  local.target_version = version;
  local.target_digest = digest;
  local.target_envelope = envelope;
  local.target_local = from_file;
  local.pinned_generation = from_file ? last_generation_ : 0;
  local.bytes_done = 0;
  local.bytes_total = 0;
  for (const auto& b : manifest->blobs) local.bytes_total += b.size;
  ++epochs_[model];
  log::Info("new target", {{"model", model}, {"version", version}, {"from", local.active_version}, {"local", from_file}});
  Apply(model, UpdateEvent::kNewTarget, "");
}

void AgentApp::RecordFailure(const std::string& model, const std::string& version, const std::string& digest,
                             const std::string& envelope, const std::string& detail) {
  auto& r = models_[model];
  r.model = model;
  r.state = UpdateState::kFailed;
  r.target_version = version;
  r.target_digest = digest;
  r.target_envelope = envelope;
  r.detail = detail;
  ++epochs_[model];
  Persist(r, /*outcome=*/true);
  RunAction(model, UpdateAction::kReportFailure);
}

void AgentApp::Persist(ModelRecord& r, bool outcome) {
  r.updated_at = clock_.NowUnix();
  // A commit needs no reason; a rollback or failure carries its detail.
  OutcomeEvent event{0, r.model, r.target_version, std::string(StateName(r.state)),
                     r.state == UpdateState::kCommitted ? "" : r.detail, r.updated_at, r.target_local};
  if (auto s = store_->SaveModel(r, outcome ? &event : nullptr); !s)
    log::Error("cannot persist agent state", {{"model", r.model}, {"error", s.error().message}});
}

void AgentApp::Apply(const std::string& model, UpdateEvent event, const std::string& detail) {
  auto& r = models_[model];
  auto t = NextTransition(r.state, event);
  if (!t) {
    log::Warn("dropping event not valid in state", {{"model", model}, {"state", StateName(r.state)}});
    return;
  }
  r.state = t->next;
  r.detail = detail;
  if (r.state == UpdateState::kProbation) {
    r.probation_started_at = clock_.NowUnix();
    r.probation_restarts = 0;
  }
  if (r.state == UpdateState::kCommitted) {
    // Committing is this write: the target becomes the active version and the floor rises.
    auto manifest = TargetManifest(r);
    r.active_version = r.target_version;
    r.active_digest = r.target_digest;
    r.active_security_version = manifest ? manifest->security_version : 0;
    r.floor = std::max(r.floor, r.active_security_version);
    r.bytes_done = r.bytes_total;
    r.detail = "active";
  }
  // Persist first: after a crash the agent re-runs the action of the state it finds. A state
  // that ends the update carries its outcome event in the same write.
  Persist(r, IsOutcome(r.state));
  log::Info("state", {{"model", model}, {"state", StateName(r.state)}, {"target", r.target_version},
                      {"detail", detail}});
  RunAction(model, t->action);
  SendReport();
}

void AgentApp::RunAction(const std::string& model, UpdateAction action) {
  auto& r = models_[model];
  auto manifest = TargetManifest(r);
  if (!manifest && action != UpdateAction::kReportFailure && action != UpdateAction::kNone) {
    Apply(model, UpdateEvent::kFailed, "stored target is unreadable: " + manifest.error().message);
    return;
  }
  switch (action) {
    case UpdateAction::kNone:
      return;
    case UpdateAction::kDownload:
      return StartDownload(model);
    case UpdateAction::kVerify: {
      // An update resumed (or still downloading) when the held policy expired: a refusal under
      // this policy, like one at HandleTarget, so a newer policy lets the next desired state
      // start it again.
      if (auto blocked = PolicyBlocksInstalls()) {
        const std::string version = r.target_version, digest = r.target_digest;  // r is rewritten below
        log::Warn("target version refused", {{"model", model}, {"version", version}, {"error", *blocked}});
        return RecordFailure(model, version, digest, "", "refused " + version + ": " + *blocked);
      }
      // Re-verify the signature against the policy we hold now (it may have rotated) and the
      // floor, then every blob's size and digest.
      auto envelope_bytes = r.target_envelope;
      auto floor = r.floor;
      auto policy = policy_;
      auto now = clock_.NowUnix();
      return OnWorker(model, [this, envelope_bytes, floor, policy, now]() -> Status {
        EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(envelope_bytes));
        EDGE_ASSIGN_OR_RETURN(auto m, bundle::VerifyManifest(envelope, policy, now));
        EDGE_TRY(bundle::CheckSecurityFloor(m, floor));
        EDGE_TRY(repo_.VerifyBlobs(m));
        CrashPoint("verify.done");
        return Ok();
      }, UpdateEvent::kVerified);
    }
    case UpdateAction::kInstall:
      return OnWorker(model, [this, m = *manifest, env = r.target_envelope]() -> Status {
        EDGE_TRY(repo_.Install(m, env));
        CrashPoint("install.done");
        return Ok();
      }, UpdateEvent::kInstalled);
    case UpdateAction::kActivate:
      return OnWorker(model, [this, model, m = *manifest, target = r.target_version, old = r.active_version]() -> Status {
        // Load next to the serving version and prove it on this device (load, self-test,
        // latency budget); only then switch `current` and new requests to it.
        auto gate = runtime::RunHealthGate(repo_.VersionDir(model, target), m, {});
        if (!gate) {
          NoteSelfTest(model, target + " failed the health gate: " + gate.error().message);
          return Fail(gate.error());
        }
        if (gate->cases_run > 0)
          NoteSelfTest(model, SelfTestPassed(target, gate->cases_run, gate->max_abs_error, "at activation"));
        log::Info("health gate passed", {{"model", model}, {"version", target}, {"cases", gate->cases_run},
                                         {"max_abs_error", gate->max_abs_error}, {"p99_us", gate->p99_us}});
        CrashPoint("activate.after_gate");
        EDGE_TRY(repo_.Activate(model, target, old));
        loaded_[model][target] = gate->model;
        EDGE_TRY(ServeVersion(model, target));
        CrashPoint("activate.after_switch");
        return Ok();
      }, UpdateEvent::kActivated);
    case UpdateAction::kWatch:
      return Watch(model);
    case UpdateAction::kCommit:
      CrashPoint("commit.after_persist");
      boost::asio::post(worker_io_, [this, model, keep = r.active_version] { CollectOld(model, keep); });
      log::Info("committed", {{"model", model}, {"version", r.active_version}, {"floor", r.floor}});
      return;
    case UpdateAction::kRollBack: {
      // Back to the active version: `current` first, then serving. Both steps are idempotent,
      // so a crash here simply runs them again.
      const uint64_t epoch = epochs_[model];
      log::Warn("rolling back", {{"model", model}, {"from", r.target_version}, {"to", r.active_version}, {"reason", r.detail}});
      boost::asio::post(worker_io_, [this, model, epoch, active = r.active_version] {
        RestoreActive(model, active);
        CrashPoint("rollback.after_restore");
        boost::asio::post(io_, [this, model, epoch] {
          if (epochs_[model] != epoch) return;
          Apply(model, UpdateEvent::kRolledBack, models_[model].detail);
        });
      });
      return;
    }
    case UpdateAction::kReportFailure:
      // The active version keeps serving. The restore runs on the worker, after any activation
      // of the abandoned target still queued or running there, so `current` and serving end on
      // the active version (or on nothing when nothing was ever committed) whatever the timing.
      boost::asio::post(worker_io_, [this, model, active = r.active_version] { RestoreActive(model, active); });
      log::Warn(r.state == UpdateState::kRolledBack ? "rolled back, keeping the active version"
                                                    : "update failed, keeping the active version",
                {{"model", model}, {"target", r.target_version}, {"active", r.active_version}, {"detail", r.detail}});
      return;
  }
}

void AgentApp::RestoreActive(const std::string& model, const std::string& active) {
  if (auto s = repo_.RestoreCurrent(model, active); !s)
    log::Error("cannot restore the current version", {{"model", model}, {"error", s.error().message}});
  if (auto s = ServeVersion(model, active); !s)
    log::Error("cannot serve the active version", {{"model", model}, {"version", active}, {"error", s.error().message}});
}

Status AgentApp::ServeVersion(const std::string& model, const std::string& version) {
  if (version.empty()) {
    registry_.Remove(model);
    return Ok();
  }
  auto& versions = loaded_[model];
  auto it = versions.find(version);
  if (it == versions.end()) {
    const auto path = repo_.VersionDir(model, version) / "model";
    auto loaded = engine::Model::LoadFile(path.string());
    if (!loaded) return Fail(loaded.error().Wrap("loading " + model + ":" + version));
    it = versions.emplace(version, std::move(*loaded)).first;
  }
  // Already serving exactly this: keep it (and its statistics).
  if (auto served = registry_.Find(model, version); served && &(*served)->model() == it->second.get()) return Ok();
  registry_.Activate(model, version, it->second);
  return Ok();
}

void AgentApp::CollectOld(const std::string& model, const std::string& keep) {
  auto& versions = loaded_[model];
  for (auto it = versions.begin(); it != versions.end();) it = it->first == keep ? std::next(it) : versions.erase(it);
  if (int n = repo_.CollectVersions(model); n > 0) log::Info("removed old versions", {{"model", model}, {"count", n}});
  if (int n = repo_.CollectBlobs(std::chrono::hours(1)); n > 0) log::Info("removed unused blobs", {{"count", n}});
}

ProbationPolicy AgentApp::PolicyFor(const bundle::Manifest& m) const {
  ProbationPolicy p;
  p.soak_seconds = static_cast<int64_t>(m.health.soak_seconds);
  p.latency_budget_us = m.health.latency_budget_us;
  p.max_error_rate = config_.probation_max_error_rate;
  p.min_requests = static_cast<uint64_t>(config_.probation_min_requests);
  p.max_restarts = static_cast<int>(config_.probation_max_restarts);
  return p;
}

void AgentApp::Watch(const std::string& model) {
  auto& timer = probation_timers_[model];
  if (!timer) timer = std::make_unique<boost::asio::steady_timer>(io_);
  const uint64_t epoch = epochs_[model];
  boost::asio::post(io_, [this, model, epoch] { CheckProbation(model, epoch); });
}

void AgentApp::CheckProbation(const std::string& model, uint64_t epoch) {
  auto& r = models_[model];
  if (epochs_[model] != epoch || r.state != UpdateState::kProbation) return;
  auto manifest = TargetManifest(r);
  if (!manifest) return Apply(model, UpdateEvent::kFailed, "stored target is unreadable: " + manifest.error().message);
  ProbationObservation obs;
  obs.now = clock_.NowUnix();
  obs.started_at = r.probation_started_at;
  obs.restarts = r.probation_restarts;
  if (auto stats = registry_.Snapshot(model); stats && stats->version == r.target_version) {
    obs.inferences = stats->inferences;
    obs.errors = stats->errors;
    obs.p99_us = stats->p99_us;
  }
  auto verdict = JudgeProbation(PolicyFor(*manifest), obs);
  switch (verdict.verdict) {
    case ProbationVerdict::kFail:
      return Apply(model, UpdateEvent::kFailed, r.target_version + ": probation: " + verdict.reason);
    case ProbationVerdict::kSoaked:
      return OnWorker(model, [this, model, version = r.target_version, m = *manifest] {
        return RerunSelfTest(model, version, m);
      }, UpdateEvent::kSoakPassed);
    case ProbationVerdict::kContinue:
      CrashPoint("probation.watch");
      break;
  }
  auto& timer = *probation_timers_[model];
  timer.expires_after(std::chrono::milliseconds(config_.probation_check_ms));
  timer.async_wait([this, model, epoch](const boost::system::error_code& ec) {
    if (!ec) CheckProbation(model, epoch);
  });
}

Status AgentApp::RerunSelfTest(const std::string& model, const std::string& version, const bundle::Manifest& m) {
  if (!bundle::FindBlob(m, "selftest")) return Ok();
  // The version under probation is loaded: it is the one serving.
  auto it = loaded_[model].find(version);
  if (it == loaded_[model].end()) return Fail(ErrorCode::kInternal, model + ":" + version + " is not loaded");
  EDGE_ASSIGN_OR_RETURN(auto selftest,
                        runtime::ReadSelfTestFile(repo_.VersionDir(model, version) / "selftest", *it->second));
  engine::ExecutionContext context(it->second);
  auto result = runtime::RunSelfTest(context, selftest, m.health.selftest_tolerance);
  if (!result) {
    NoteSelfTest(model, version + " failed the re-run at the end of probation: " + result.error().message);
    return Fail(result.error().Wrap("self-test re-run at the end of probation"));
  }
  NoteSelfTest(model, SelfTestPassed(version, result->cases_run, result->max_abs_error, "at the end of probation"));
  return Ok();
}

void AgentApp::StartDownload(const std::string& model) {
  auto& r = models_[model];
  auto manifest = TargetManifest(r);
  // Free space: what is still missing, plus the configured margin.
  uint64_t needed = 0;
  for (const auto& b : manifest->blobs) {
    if (std::filesystem::exists(repo_.BlobPath(b.digest))) continue;
    std::error_code ec;
    auto have = std::filesystem::file_size(repo_.PartialPath(b.digest), ec);
    needed += b.size - (ec ? 0 : std::min<uint64_t>(have, b.size));
  }
  auto free_bytes = fs::FreeBytes(config_.state_dir);
  if (free_bytes && *free_bytes < needed + static_cast<uint64_t>(config_.min_free_bytes)) {
    Apply(model, UpdateEvent::kFailed, "not enough disk space for " + r.target_version + ": need " +
                                           std::to_string(needed) + " bytes plus a margin of " +
                                           std::to_string(config_.min_free_bytes) + ", have " + std::to_string(*free_bytes));
    return;
  }
  const uint64_t epoch = epochs_[model];
  OnWorker(model, [this, model, epoch, m = *manifest]() -> Status {
    CrashPoint("download.before_fetch");
    uint64_t done_before = 0;
    for (const auto& b : m.blobs) {
      if (std::filesystem::exists(repo_.BlobPath(b.digest))) {
        done_before += b.size;
        continue;
      }
      auto last_post = std::chrono::steady_clock::now() - std::chrono::seconds(1);
      auto progress = [&, base = done_before](uint64_t on_disk) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_post < std::chrono::milliseconds(250)) return;
        last_post = now;
        boost::asio::post(io_, [this, model, epoch, done = base + on_disk] {
          if (epochs_[model] != epoch) return;
          models_[model].bytes_done = done;
        });
      };
      // Network trouble is not the bundle's fault: retry with backoff until it works or the
      // target changes. Only data errors fail the update.
      for (int attempt = 0;; ++attempt) {
        auto s = link_ ? link_->FetchBlob(b.digest, b.size, repo_.PartialPath(b.digest),
                                          static_cast<uint64_t>(config_.download_rate_limit), progress, cancel_downloads_)
                       : Status(Fail(ErrorCode::kUnavailable, "not connected"));
        if (s) break;
        if (s.error().code != ErrorCode::kUnavailable || cancel_downloads_) {
          if (s.error().code == ErrorCode::kDataLoss) ::unlink(repo_.PartialPath(b.digest).c_str());
          return s;
        }
        const auto delay = std::min<int64_t>(config_.backoff_max_ms, config_.backoff_initial_ms << std::min(attempt, 10));
        log::Info("download interrupted, will resume", {{"digest", b.digest}, {"error", s.error().message}, {"retry_in_ms", delay}});
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
      std::error_code ec;
      std::filesystem::rename(repo_.PartialPath(b.digest), repo_.BlobPath(b.digest), ec);
      if (ec) return Fail(ErrorCode::kIo, "cannot move downloaded blob " + b.digest + " into place: " + ec.message());
      done_before += b.size;
      CrashPoint("download.after_blob");
    }
    EDGE_TRY(fs::FsyncPath(repo_.BlobPath(m.blobs.front().digest).parent_path()));
    return Ok();
  }, UpdateEvent::kDownloaded);
}

void AgentApp::OnWorker(const std::string& model, std::function<Status()> work, UpdateEvent on_success) {
  const uint64_t epoch = epochs_[model];
  boost::asio::post(worker_io_, [this, model, epoch, work = std::move(work), on_success] {
    Status s = work();
    boost::asio::post(io_, [this, model, epoch, s = std::move(s), on_success] {
      if (epochs_[model] != epoch) return;  // the target changed meanwhile: stale result
      if (s) {
        Apply(model, on_success, "");
      } else {
        Apply(model, UpdateEvent::kFailed, models_[model].target_version + ": " + s.error().message);
      }
    });
  });
}

edge::v1::StatusReport AgentApp::MakeReport() {
  edge::v1::StatusReport report;
  for (const auto& [name, r] : models_) {
    auto* m = report.add_models();
    m->set_model(name);
    m->set_version(r.active_version);
    m->set_security_version(r.active_security_version);
    m->set_state(std::string(StateName(r.state)));
    m->set_target_version(r.target_version);
    m->set_detail(r.detail);
    m->set_bytes_done(r.bytes_done);
    m->set_bytes_total(r.bytes_total);
    m->set_security_floor(r.floor);
  }
  return report;
}

void AgentApp::AddHealth(edge::v1::StatusReport& report) {
  auto* h = report.mutable_health();
  const auto sample = SampleProcess();
  h->set_unix_time(clock_.NowUnix());
  h->set_cpu_percent(last_sample_.steady_ns > 0 ? CpuPercent(last_sample_, sample) : 0.0);
  last_sample_ = sample;
  h->set_rss_bytes(sample.rss_bytes);
  if (auto free_bytes = fs::FreeBytes(config_.state_dir)) h->set_disk_free_bytes(*free_bytes);
  h->set_uptime_seconds(static_cast<uint64_t>(std::max<int64_t>(0, clock_.NowUnix() - started_at_)));
  for (const auto& [name, r] : models_) {
    auto* mh = h->add_models();
    mh->set_model(name);
    mh->set_state(std::string(StateName(r.state)));
    mh->set_version(r.active_version);
    // The serving version's numbers (during probation: the new version's).
    if (auto stats = registry_.Snapshot(name)) {
      mh->set_version(stats->version);
      mh->set_inferences(stats->inferences);
      mh->set_errors(stats->errors);
      mh->set_p50_us(stats->p50_us);
      mh->set_p99_us(stats->p99_us);
      auto* latency = mh->mutable_latency();
      for (size_t i = 0; i < stats->latency_buckets.size(); ++i) {
        if (i + 1 < stats->latency_buckets.size())
          latency->add_bucket_upper_us(static_cast<uint64_t>(serve::LatencyHistogram::BucketUpperNs(i) / 1000));
        latency->add_counts(stats->latency_buckets[i]);
      }
    }
    if (auto it = last_selftest_.find(name); it != last_selftest_.end()) {
      mh->set_last_selftest(it->second.first);
      mh->set_last_selftest_at(it->second.second);
    }
  }
}

void AgentApp::NoteSelfTest(const std::string& model, std::string text) {
  boost::asio::post(io_, [this, model, text = std::move(text)] { last_selftest_[model] = {text, clock_.NowUnix()}; });
}

void AgentApp::SendReport() {
  auto report = MakeReport();
  {
    std::lock_guard lock(snapshot_mu_);
    snapshot_ = report;
  }
  if (!link_ || !connected_) return;
  AddHealth(report);
  // Every outcome not yet acknowledged, oldest first, again and again until the controller
  // acknowledges it: it stores each sequence number once.
  auto pending = store_->PendingOutcomes(64);
  if (!pending) log::Error("cannot read pending outcomes", {{"error", pending.error().message}});
  for (const auto& o : pending ? *pending : std::vector<OutcomeEvent>{}) {
    auto* e = report.add_events();
    e->set_seq(o.seq);
    e->set_model(o.model);
    e->set_version(o.version);
    e->set_outcome(o.outcome);
    e->set_reason(o.reason);
    e->set_unix_time(o.unix_time);
    e->set_offline_install(o.local);
  }
  link_->SendStatus(report);
  if (report.events_size() > 0) CrashPoint("outcome.after_send");
}

void AgentApp::ScheduleInbox() {
  inbox_timer_.expires_after(std::chrono::seconds(1));
  inbox_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    ScanInbox();
    ScheduleInbox();
  });
}

void AgentApp::ScheduleReport() {
  // Frequent while busy (progress), every report_interval_seconds otherwise.
  bool busy = false;
  for (const auto& [n, r] : models_) busy = busy || IsBusy(r.state);
  report_timer_.expires_after(busy ? std::chrono::milliseconds(500) : std::chrono::seconds(config_.report_interval_seconds));
  report_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    SendReport();
    MaybeRenewCertificate();
    PolicyBlocksInstalls();  // logs once when the held policy expires while running
    ScheduleReport();
  });
}

}  // namespace edge::agent
