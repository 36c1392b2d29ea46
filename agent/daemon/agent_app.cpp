#include "agent/daemon/agent_app.h"

#include <boost/asio/post.hpp>

#include "agent/core/crash_point.h"
#include "agent/daemon/inbox.h"
#include "common/core/fs.h"
#include "common/core/log.h"
#include "common/crypto/sha256.h"

namespace edge::agent {

namespace {
const char* kGenerationKey = "desired_generation";  // the newest desired-state generation seen
constexpr auto kTick = std::chrono::milliseconds(500);
}  // namespace

AgentApp::AgentApp(AgentConfig config, boost::asio::io_context& io, const Clock& clock, metrics::Registry& metrics)
    : config_(std::move(config)),
      io_(io),
      clock_(clock),
      tick_timer_(io),
      report_soon_timer_(io),
      repo_(config_.state_dir),
      identity_(config_, clock),
      trust_(config_, clock),
      driver_(*this, clock),
      metrics_(metrics),
      registry_(4, engine::KernelTier::kAuto, metrics),
      serving_(repo_, registry_),
      pacer_(std::chrono::milliseconds(200), std::chrono::milliseconds(500),
             std::chrono::seconds(config_.report_interval_seconds)) {}

AgentApp::~AgentApp() { Stop(); }

void AgentApp::Stop() {
  if (link_) link_->Stop();
  if (steps_) steps_->Stop();  // after the link: a download blocked in a fetch returns at once
  if (watcher_) watcher_->Stop();
  tick_timer_.cancel();
  report_soon_timer_.cancel();
  if (server_) server_->Shutdown();
  if (renew_thread_.joinable()) renew_thread_.join();
}

// ---- UpdatePorts ---------------------------------------------------------------------------

Status AgentApp::Save(const ModelRecord& record, const std::vector<OutcomeEvent>& outcomes) {
  return store_->SaveModel(record, outcomes);
}

Result<VerifiedTarget> AgentApp::Verify(const std::string& model, const std::string& version,
                                        const std::string& envelope) {
  // Under an expired policy nothing verifies; say why in words an operator can act on.
  if (auto blocked = trust_.BlocksInstalls()) return Fail(ErrorCode::kFailedPrecondition, *blocked);
  EDGE_ASSIGN_OR_RETURN(auto parsed, bundle::ParseEnvelope(envelope));
  EDGE_ASSIGN_OR_RETURN(auto manifest, bundle::VerifyManifest(parsed, trust_.policy(), clock_.NowUnix()));
  if (manifest.name != model || manifest.version != version)
    return Fail(ErrorCode::kPermissionDenied,
                "signed manifest is for " + manifest.name + ":" + manifest.version + ", not " + model + ":" + version);
  VerifiedTarget out{manifest.security_version, 0};
  for (const auto& b : manifest.blobs) out.bytes_total += b.size;
  return out;
}

// ---- start ---------------------------------------------------------------------------------

Status AgentApp::Start() {
  EDGE_TRY(fs::CreateDirectories(config_.state_dir, 0750));
  EDGE_TRY(repo_.Prepare());
  EDGE_ASSIGN_OR_RETURN(auto store, StateStore::Open((config_.state_dir / "state.db").string()));
  store_.emplace(std::move(store));
  EDGE_TRY(trust_.Load(*store_));
  started_at_ = clock_.NowUnix();
  last_sample_ = SampleProcess();
  EDGE_TRY(fs::CreateDirectories(config_.state_dir / "inbox", 0700));
  EDGE_ASSIGN_OR_RETURN(auto generation, store_->GetMeta(kGenerationKey));
  if (generation) last_generation_ = std::strtoull(generation->c_str(), nullptr, 10);
  EDGE_ASSIGN_OR_RETURN(auto identity, identity_.LoadOrEnroll([this](const edge::v1::EnrollResponse& resp) {
    return trust_.Enroll(*store_, resp.fleet(), resp.trust_policy());
  }));
  if (trust_.empty())
    return Fail(ErrorCode::kFailedPrecondition, "no trust policy stored; remove " +
                                                    (config_.state_dir / "identity").string() + " and enroll again");
  if (int n = repo_.RemoveTemporaries(); n > 0) log::Info("removed temporary files left by a crash", {{"count", n}});

  EDGE_ASSIGN_OR_RETURN(auto records, store_->LoadModels());
  EDGE_TRY(driver_.Load(std::move(records)));
  ServeAtStart();
  serve::ServeConfig serve_config;
  serve_config.unix_socket = config_.inference_socket;
  serve_config.socket_mode = config_.inference_socket_mode;
  serve_config.tcp_address = config_.inference_tcp;
  serve_config.max_request_bytes = config_.inference_max_request_bytes;
  auto server = serve::InferenceServer::Start(serve_config, registry_);
  if (!server) return Fail(server.error().Wrap("local inference API"));
  server_ = std::move(*server);

  {
    std::lock_guard lock(snapshot_mu_);
    snapshot_ = ModelsReport(driver_.records());
  }
  auto backoff = RetryBackoff(config_);
  // The link exists before any step can run (downloads use it); its callbacks post to the loop,
  // which runs only after Start() returns.
  link_ = std::make_unique<ControllerLink>(
      LinkIdentity{config_.controllers, identity.ca_pem, identity.cert_pem, identity.key_pem,
                   std::chrono::milliseconds(config_.connect_timeout_ms)},
      [this] {
        edge::v1::Hello hello;
        hello.set_agent_version(kAgentVersion);
        hello.set_trust_policy_version(trust_.version());
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
  StepCallbacks callbacks;
  callbacks.done = [this](const std::string& model, uint64_t epoch, UpdateEvent event, std::string detail) {
    boost::asio::post(io_, [this, model, epoch, event, detail = std::move(detail)] { OnStepDone(model, epoch, event, detail); });
  };
  callbacks.progress = [this](const std::string& model, uint64_t epoch, uint64_t bytes) {
    boost::asio::post(io_, [this, model, epoch, bytes] { driver_.NoteProgress(model, epoch, bytes); });
  };
  callbacks.trouble = [this](const std::string& model, uint64_t epoch, std::string detail) {
    boost::asio::post(io_, [this, model, epoch, detail = std::move(detail)] {
      driver_.NoteDetail(model, epoch, detail);
      RequestReport();
    });
  };
  callbacks.selftest = [this](const std::string& model, std::string text) {
    boost::asio::post(io_, [this, model, text = std::move(text)] { selftests_[model] = {text, clock_.NowUnix()}; });
  };
  auto fetch = [link = link_.get(), &received = metrics_.download_bytes](
                   const std::string& digest, uint64_t size, const std::filesystem::path& partial, uint64_t rate_limit,
                   const std::function<void(uint64_t)>& progress, const std::atomic<bool>& cancel) {
    // Progress reports the bytes on disk, a resumed download's earlier bytes included: count
    // only what arrives now.
    std::error_code ec;
    const auto on_disk = std::filesystem::file_size(partial, ec);
    uint64_t counted = ec ? 0 : on_disk;
    auto counting = [&](uint64_t done) {
      if (done > counted) received.Add(static_cast<double>(done - counted));
      counted = std::max(counted, done);
      progress(done);
    };
    return link->FetchBlob(digest, size, partial, rate_limit, counting, cancel);
  };
  steps_ = std::make_unique<UpdateSteps>(config_, repo_, serving_, fetch, std::move(callbacks), &metrics_);
  watcher_ = std::make_unique<ProbationWatcher>(
      io_, config_, registry_, clock_,
      [this](const std::string& model, uint64_t epoch) {
        auto it = driver_.records().find(model);
        return it != driver_.records().end() && it->second.state == UpdateState::kProbation &&
               driver_.Epoch(model) == epoch;
      },
      [this](const Command& c, const ProbationJudgement& j) {
        if (j.verdict == ProbationVerdict::kSoaked) return steps_->RerunSelfTest(c);
        Dispatch(driver_.Complete(c.model, c.epoch, UpdateEvent::kFailed, c.record.target_version + ": probation: " + j.reason));
      });

  EDGE_ASSIGN_OR_RETURN(auto resumed, driver_.Resume());
  Dispatch(std::move(resumed));
  link_->Start();
  ScheduleTicks();
  ScanInbox();
  log::Info("agent started", {{"device", identity.device_id}, {"fleet", trust_.fleet()},
                              {"trust_policy_version", trust_.version()}});
  trust_.BlocksInstalls();  // says so once at start when the held policy has expired
  return Ok();
}

void AgentApp::ServeAtStart() {
  // A version on probation serves (it passed its gate, and the restart counts against it);
  // otherwise the active one. A busy update re-runs its step and switches when it passes.
  for (const auto& [name, r] : driver_.records()) {
    const std::string& version = r.state == UpdateState::kProbation ? r.target_version : r.active_version;
    auto s = serving_.Restore(name, version);
    if (!s && version != r.active_version && !r.active_version.empty()) {
      log::Error("cannot serve the version on probation, serving the active one",
                 {{"model", name}, {"version", version}, {"error", s.error().message}});
      s = serving_.Restore(name, r.active_version);
    }
    if (!s) log::Error("cannot serve model", {{"model", name}, {"error", s.error().message}});
  }
}

// ---- events --------------------------------------------------------------------------------

void AgentApp::OnDesired(const edge::v1::DesiredState& desired) {
  if (!desired.trust_policy().empty()) {
    if (auto s = trust_.Adopt(*store_, desired.trust_policy()); !s) {
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
  for (const auto& dm : desired.models())
    Dispatch(driver_.Offer({dm.model(), dm.version(), dm.envelope(), /*local=*/false, desired.generation()}));
  RequestReport();
}

void AgentApp::ScanInbox() {
  for (auto& offer : TakeInbox(config_.state_dir / "inbox", last_generation_)) Dispatch(driver_.Offer(offer));
}

void AgentApp::OnStepDone(const std::string& model, uint64_t epoch, UpdateEvent event, const std::string& detail) {
  Dispatch(driver_.Complete(model, epoch, event, detail));
}

void AgentApp::Dispatch(std::vector<Command> commands) {
  for (auto& c : commands) {
    PinBlobs(c);
    switch (c.action) {
      case UpdateAction::kNone:
        break;
      case UpdateAction::kWatch:
        watcher_->Watch(c);
        break;
      case UpdateAction::kVerify:
        // Resumed (or still downloading) when the held policy expired: a refusal under this
        // policy, like one at the offer, so a newer policy lets the next desired state start it.
        if (auto blocked = trust_.BlocksInstalls()) {
          log::Warn("target version refused", {{"model", c.model}, {"version", c.record.target_version}, {"error", *blocked}});
          Dispatch(driver_.Complete(c.model, c.epoch, UpdateEvent::kRefused,
                                    "refused " + c.record.target_version + ": " + *blocked));
          break;
        }
        [[fallthrough]];
      default:
        steps_->Run(c, StepInputs{trust_.policy(), clock_.NowUnix()});
        break;
    }
  }
  if (!commands.empty()) RequestReport();
}

void AgentApp::PinBlobs(const Command& c) {
  // An update in flight pins its target's blobs against collection, from before its download
  // step looks at what is on disk until it ends.
  std::set<std::string> digests;
  if (IsBusy(c.record.state))
    if (auto m = bundle::UnverifiedManifest(c.record.target_envelope))
      for (const auto& b : m->blobs) digests.insert(b.digest);
  serving_.Pin(c.model, std::move(digests));
}

void AgentApp::MaybeRenewCertificate() {
  if (renewing_ || !identity_.RenewalDue()) return;
  auto request = identity_.MakeRenewalRequest();
  if (!request) {
    log::Error("cannot make a renewal request", {{"error", request.error().message}});
    return;
  }
  renewing_ = true;
  // The unary call blocks; it runs on its own thread (the previous one has ended: renewing_
  // was cleared by its answer), and its answer comes back to the loop.
  if (renew_thread_.joinable()) renew_thread_.join();
  renew_thread_ = std::thread([this, request = *request] {
    auto cert = link_->RenewCertificate(request.csr_pem);
    boost::asio::post(io_, [this, cert = std::move(cert), key_pem = request.key_pem] {
      renewing_ = false;
      Status s = cert ? identity_.InstallRenewed(*cert, key_pem) : Status(Fail(cert.error()));
      if (s) link_->UpdateIdentity(*cert, key_pem);
      else log::Warn("certificate renewal failed, will retry", {{"error", s.error().message}});
    });
  });
}

// ---- reports and ticks ---------------------------------------------------------------------

void AgentApp::RequestReport() {
  const auto soon = pacer_.StateChanged(std::chrono::steady_clock::now());
  if (soon.send_now) return SendReport();
  if (!soon.schedule) return;  // one is already on its way
  report_soon_timer_.expires_at(soon.at);
  report_soon_timer_.async_wait([this](const boost::system::error_code& ec) {
    pacer_.Fired();
    if (!ec) SendReport();
  });
}

void AgentApp::SendReport() {
  pacer_.Sent(std::chrono::steady_clock::now());
  metrics_.SetUpdateStates(driver_.records());
  auto report = ModelsReport(driver_.records());
  {
    std::lock_guard lock(snapshot_mu_);
    snapshot_ = report;
  }
  if (!link_ || !connected_) return;
  HealthFacts facts;
  const auto sample = SampleProcess();
  facts.now = clock_.NowUnix();
  facts.cpu_percent = last_sample_.steady_ns > 0 ? CpuPercent(last_sample_, sample) : 0.0;
  last_sample_ = sample;
  facts.rss_bytes = sample.rss_bytes;
  if (auto free_bytes = fs::FreeBytes(config_.state_dir)) facts.disk_free_bytes = *free_bytes;
  facts.uptime_seconds = static_cast<uint64_t>(std::max<int64_t>(0, facts.now - started_at_));
  for (const auto& [name, r] : driver_.records())
    if (auto stats = registry_.Snapshot(name)) facts.serving[name] = *stats;
  facts.selftests = selftests_;
  AddHealth(report, driver_.records(), facts);
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

void AgentApp::ScheduleTicks() {
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    if (driver_.HasStalled()) Dispatch(driver_.RetryStalled());
    ScanInbox();  // local installs
    // Frequent while busy (progress), every report_interval_seconds otherwise.
    if (pacer_.PeriodicDue(std::chrono::steady_clock::now(), driver_.Busy())) {
      SendReport();
      MaybeRenewCertificate();
      trust_.BlocksInstalls();  // logs once when the held policy expires while running
    }
    ScheduleTicks();
  });
}

}  // namespace edge::agent
