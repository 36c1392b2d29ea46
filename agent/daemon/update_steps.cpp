#include "agent/daemon/update_steps.h"

#include <cstdio>

#include <boost/asio/post.hpp>

#include "agent/core/backoff.h"
#include "agent/core/crash_point.h"
#include "agent/runtime/health_gate.h"
#include "agent/runtime/selftest_file.h"
#include "common/core/fs.h"
#include "common/core/log.h"

namespace edge::agent {
namespace {

Result<bundle::Manifest> TargetManifest(const ModelRecord& r) { return bundle::UnverifiedManifest(r.target_envelope); }

std::string SelfTestPassed(const std::string& version, int cases, double max_abs_error, const char* when) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s passed %d case(s) %s, max error %.3g", version.c_str(), cases, when, max_abs_error);
  return buf;
}

// A cancelled step reports nothing: a newer command for the model replaced it.
Error Cancelled() { return Error{ErrorCode::kUnavailable, "cancelled"}; }

}  // namespace

void CancelToken::Cancel() {
  {
    std::lock_guard lock(mu_);
    flag_ = true;
  }
  cv_.notify_all();
}

bool CancelToken::WaitFor(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, delay, [this] { return flag_.load(); });
}

UpdateSteps::UpdateSteps(const AgentConfig& config, ModelRepo& repo, ServingSet& serving, BlobFetch fetch,
                         StepCallbacks callbacks, AgentMetrics* metrics)
    : config_(config),
      repo_(repo),
      serving_(serving),
      fetch_(std::move(fetch)),
      cb_(std::move(callbacks)),
      metrics_(metrics) {}

UpdateSteps::~UpdateSteps() { Stop(); }

void UpdateSteps::Stop() {
  std::map<std::string, std::unique_ptr<Worker>> workers;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    workers.swap(workers_);
  }
  for (auto& [model, w] : workers) {
    if (w->token) w->token->Cancel();
    w->guard.reset();
    w->io.stop();
  }
  for (auto& [model, w] : workers)
    if (w->thread.joinable()) w->thread.join();
}

void UpdateSteps::Post(const Command& c, std::function<void(CancelToken&)> work) {
  const std::string& model = c.model;
  std::lock_guard lock(mu_);
  if (stopped_) return;
  auto& w = workers_[model];
  if (!w) {
    w = std::make_unique<Worker>();
    w->guard = std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
        w->io.get_executor());
    w->thread = std::thread([io = &w->io] { io->run(); });
  }
  if (w->token) w->token->Cancel();
  w->token = std::make_shared<CancelToken>();
  boost::asio::post(w->io, [this, model, epoch = c.epoch, token = w->token, work = std::move(work)] {
    if (token->cancelled()) return;
    // A step must not take the agent down (an exception on a worker would end the process): it
    // fails the update, which ends or rolls back as any failure does.
    try {
      work(*token);
    } catch (const std::exception& e) {
      log::Error("update step threw", {{"model", model}, {"error", e.what()}});
      if (!token->cancelled()) cb_.done(model, epoch, UpdateEvent::kFailed, std::string("internal error: ") + e.what());
    }
  });
}

void UpdateSteps::Run(const Command& c, const StepInputs& inputs) {
  auto done = [this, model = c.model, epoch = c.epoch](UpdateEvent event, std::string detail = "") {
    cb_.done(model, epoch, event, std::move(detail));
  };
  // A step's error ends the update: kFailed with the target and the reason.
  auto finish = [c, done](const Status& s, UpdateEvent on_success, const CancelToken& token) {
    if (token.cancelled()) return;
    if (s) return done(on_success);
    done(UpdateEvent::kFailed, c.record.target_version + ": " + s.error().message);
  };
  switch (c.action) {
    case UpdateAction::kNone:
    case UpdateAction::kWatch:
      return;
    case UpdateAction::kDownload:
      return Post(c, [this, c, finish](CancelToken& token) {
        // While downloading, verifying and installing, the active version serves: a version that
        // was activating or on probation when this target replaced it stops serving now. Tried
        // once: an active version that cannot serve must not keep the next target from coming,
        // but the replaced version, never judged, stops serving all the same.
        const std::string& active = c.record.active_version;
        if (repo_.CurrentVersion(c.model).value_or("") != active || serving_.Serving(c.model) != active)
          if (auto s = serving_.Restore(c.model, active); !s) {
            log::Error("cannot serve the active version while the next target downloads; the model is not served",
                       {{"model", c.model}, {"active", active}, {"error", s.error().message}});
            (void)serving_.Serve(c.model, "");
          }
        auto m = TargetManifest(c.record);
        finish(m ? Download(c, *m, token) : Status(Fail(m.error().Wrap("stored target is unreadable"))),
               UpdateEvent::kDownloaded, token);
      });
    case UpdateAction::kVerify:
      return Post(c, [this, c, finish, policy = inputs.policy, now = inputs.now](CancelToken& token) {
        // The signature again, under the policy held now (it may have rotated), and the floor,
        // then every blob's size and digest.
        Status s = [&]() -> Status {
          EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(c.record.target_envelope));
          EDGE_ASSIGN_OR_RETURN(auto m, bundle::VerifyManifest(envelope, policy, now));
          EDGE_TRY(bundle::CheckSecurityFloor(m, c.record.floor));
          EDGE_TRY(repo_.VerifyBlobs(m));
          CrashPoint("verify.done");
          return Ok();
        }();
        finish(s, UpdateEvent::kVerified, token);
      });
    case UpdateAction::kInstall:
      return Post(c, [this, c, finish](CancelToken& token) {
        auto m = TargetManifest(c.record);
        Status s = m ? repo_.Install(*m, c.record.target_envelope) : Status(Fail(m.error()));
        if (s) CrashPoint("install.done");
        finish(s, UpdateEvent::kInstalled, token);
      });
    case UpdateAction::kActivate:
      return Post(c, [this, c, finish](CancelToken& token) {
        auto m = TargetManifest(c.record);
        Status s = m ? Activate(c, *m) : Status(Fail(m.error()));
        finish(s, UpdateEvent::kActivated, token);
      });
    case UpdateAction::kCommit:
      return Post(c, [this, c](CancelToken&) {
        CrashPoint("commit.after_persist");
        log::Info("committed", {{"model", c.model}, {"version", c.record.active_version}, {"floor", c.record.floor}});
        CollectAfter(c);
      });
    case UpdateAction::kRollBack:
      return Post(c, [this, c, done](CancelToken& token) {
        // Back to the active version: `current` first, then serving. Both steps are idempotent,
        // so a crash here simply runs them again. Never reported done before it is.
        log::Warn("rolling back", {{"model", c.model}, {"from", c.record.target_version},
                                   {"to", c.record.active_version}, {"reason", c.record.detail}});
        if (!RestoreUntilDone(c, token)) return;
        CrashPoint("rollback.after_restore");
        done(UpdateEvent::kRolledBack, c.record.detail);
      });
    case UpdateAction::kRestoreActive:
      return Post(c, [this, c](CancelToken& token) {
        // The active version serves. Runs on the model's worker after any step of the replaced
        // target still queued there, so `current` and serving end on the active version (or on
        // nothing when nothing was ever committed) whatever the timing.
        if (!RestoreUntilDone(c, token)) return;
        log::Warn(c.record.state == UpdateState::kRolledBack ? "rolled back, keeping the active version"
                                                              : "update failed, keeping the active version",
                  {{"model", c.model}, {"target", c.record.target_version}, {"active", c.record.active_version},
                   {"detail", c.record.detail}});
        CollectAfter(c);
      });
  }
}

void UpdateSteps::RerunSelfTest(const Command& c) {
  Post(c, [this, c](CancelToken& token) {
    const std::string& version = c.record.target_version;
    Status s = [&]() -> Status {
      EDGE_ASSIGN_OR_RETURN(auto m, TargetManifest(c.record));
      if (!bundle::FindBlob(m, "selftest")) return Ok();
      // The version on probation is loaded: it is the one serving.
      auto model = serving_.Loaded(c.model, version);
      if (!model) return Fail(ErrorCode::kInternal, c.model + ":" + version + " is not loaded");
      EDGE_ASSIGN_OR_RETURN(auto selftest,
                            runtime::ReadSelfTestFile(repo_.VersionDir(c.model, version) / "selftest", *model));
      engine::ExecutionContext context(model);
      auto result = runtime::RunSelfTest(context, selftest, m.health.selftest_tolerance);
      if (!result) {
        cb_.selftest(c.model, version + " failed the re-run at the end of probation: " + result.error().message);
        return Fail(result.error().Wrap("self-test re-run at the end of probation"));
      }
      cb_.selftest(c.model, SelfTestPassed(version, result->cases_run, result->max_abs_error, "at the end of probation"));
      return Ok();
    }();
    if (token.cancelled()) return;
    if (s) return cb_.done(c.model, c.epoch, UpdateEvent::kSoakPassed, "");
    cb_.done(c.model, c.epoch, UpdateEvent::kFailed, version + ": " + s.error().message);
  });
}

Status UpdateSteps::Activate(const Command& c, const bundle::Manifest& m) {
  const std::string& target = c.record.target_version;
  // Load next to the serving version and prove it on this device (load, self-test, latency
  // budget); only then switch `current` and new requests to it.
  auto gate = runtime::RunHealthGate(repo_.VersionDir(c.model, target), m, {});
  if (metrics_) (gate ? metrics_->gate_passed : metrics_->gate_failed).Increment();
  if (!gate) {
    cb_.selftest(c.model, target + " failed the health gate: " + gate.error().message);
    return Fail(gate.error());
  }
  if (gate->cases_run > 0)
    cb_.selftest(c.model, SelfTestPassed(target, gate->cases_run, gate->max_abs_error, "at activation"));
  log::Info("health gate passed", {{"model", c.model}, {"version", target}, {"cases", gate->cases_run},
                                   {"max_abs_error", gate->max_abs_error}, {"p99_us", gate->p99_us}});
  CrashPoint("activate.after_gate");
  EDGE_TRY(repo_.Activate(c.model, target, c.record.active_version));
  serving_.Adopt(c.model, target, gate->model);
  EDGE_TRY(serving_.Serve(c.model, target));
  CrashPoint("activate.after_switch");
  return Ok();
}

Status UpdateSteps::Download(const Command& c, const bundle::Manifest& m, CancelToken& token) {
  // Free space: what is still missing, plus the configured margin.
  uint64_t needed = 0;
  for (const auto& b : m.blobs) {
    std::error_code ec;
    if (std::filesystem::exists(repo_.BlobPath(b.digest), ec)) continue;
    auto have = std::filesystem::file_size(repo_.PartialPath(b.digest), ec);
    needed += b.size - (ec ? 0 : std::min<uint64_t>(have, b.size));
  }
  if (auto free_bytes = fs::FreeBytes(config_.state_dir);
      free_bytes && *free_bytes < needed + static_cast<uint64_t>(config_.min_free_bytes))
    return Fail(ErrorCode::kResourceExhausted, "not enough disk space: need " + std::to_string(needed) +
                                                   " bytes plus a margin of " + std::to_string(config_.min_free_bytes) +
                                                   ", have " + std::to_string(*free_bytes));
  CrashPoint("download.before_fetch");
  // Network trouble and a busy controller (RESOURCE_EXHAUSTED: its work queue is full, "retry
  // with backoff") are not the bundle's fault: retry with backoff and jitter until it works or
  // a newer command replaces this one. Other errors (data, permission, unknown blob) fail it.
  auto backoff = RetryBackoff(config_);
  uint64_t done_before = 0;
  for (const auto& b : m.blobs) {
    std::error_code ec;
    if (std::filesystem::exists(repo_.BlobPath(b.digest), ec)) {
      done_before += b.size;
      continue;
    }
    auto last_note = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    auto progress = [&, base = done_before](uint64_t on_disk) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_note < std::chrono::milliseconds(250)) return;
      last_note = now;
      cb_.progress(c.model, c.epoch, base + on_disk);
    };
    for (;;) {
      auto s = fetch_(b.digest, b.size, repo_.PartialPath(b.digest), static_cast<uint64_t>(config_.download_rate_limit),
                      progress, token.flag());
      if (s) break;
      if (token.cancelled()) return Fail(Cancelled());
      const ErrorCode code = s.error().code;
      if (code != ErrorCode::kUnavailable && code != ErrorCode::kDeadlineExceeded && code != ErrorCode::kResourceExhausted) {
        if (code == ErrorCode::kDataLoss) ::unlink(repo_.PartialPath(b.digest).c_str());
        return s;
      }
      const auto delay = backoff.NextDelay();
      log::Info("download interrupted, will resume",
                {{"model", c.model}, {"digest", b.digest}, {"error", s.error().message}, {"retry_in_ms", delay.count()}});
      cb_.trouble(c.model, c.epoch, "download interrupted (" + s.error().message + "), retrying");
      if (!token.WaitFor(delay)) return Fail(Cancelled());
    }
    backoff.Reset();
    std::filesystem::rename(repo_.PartialPath(b.digest), repo_.BlobPath(b.digest), ec);
    if (ec) return Fail(ErrorCode::kIo, "cannot move downloaded blob " + b.digest + " into place: " + ec.message());
    done_before += b.size;
    CrashPoint("download.after_blob");
  }
  return fs::FsyncPath(repo_.BlobDir());
}

bool UpdateSteps::RestoreUntilDone(const Command& c, CancelToken& token) {
  auto backoff = RetryBackoff(config_);
  const std::string& active = c.record.active_version;
  for (int attempt = 1;; ++attempt) {
    auto s = serving_.Restore(c.model, active);
    if (s) return true;
    // Escalated, never reported as done: every attempt is an error in the log, and the model's
    // detail in status reports says so until it works.
    log::Error("cannot restore the active version, will retry",
               {{"model", c.model}, {"active", active}, {"attempt", attempt}, {"error", s.error().message}});
    cb_.trouble(c.model, c.epoch, "cannot restore " + (active.empty() ? std::string("(none)") : active) + " (attempt " +
                                      std::to_string(attempt) + "): " + s.error().message);
    if (!token.WaitFor(backoff.NextDelay())) return false;
  }
}

void UpdateSteps::CollectAfter(const Command& c) {
  std::set<std::string> dropped;
  if (c.record.target_version != c.record.active_version)
    if (auto m = TargetManifest(c.record))
      for (const auto& b : m->blobs) dropped.insert(b.digest);
  serving_.Collect(c.model, c.record.active_version, dropped);
}

}  // namespace edge::agent
