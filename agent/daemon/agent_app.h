// edge-agent's logic loop. Everything that decides runs on `io_` (one thread); downloads and
// file work run on a worker thread and post their outcome back as state-machine events.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <memory>
#include <random>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "agent/core/backoff.h"
#include "agent/core/probation.h"
#include "agent/daemon/process_stats.h"
#include "agent/core/update_machine.h"
#include "agent/daemon/config.h"
#include "agent/engine/engine.h"
#include "agent/net/controller_link.h"
#include "agent/serve/registry.h"
#include "agent/serve/server.h"
#include "agent/store/model_repo.h"
#include "agent/store/state_store.h"
#include "common/bundle/bundle.h"
#include "common/core/clock.h"

namespace edge::agent {

inline constexpr const char* kAgentVersion = "edge-agent/0.1.0";

class AgentApp {
 public:
  AgentApp(AgentConfig config, boost::asio::io_context& io, const Clock& clock);
  ~AgentApp();

  // Enrolls if needed, restores state, resumes interrupted work, connects. Errors are fatal
  // (bad config → kBadConfig).
  Status Start();
  void Stop();

 private:
  struct Identity {
    std::string device_id;
    std::string cert_pem;
    std::string key_pem;
    std::string ca_pem;
  };

  Result<Identity> LoadOrEnroll();
  // Finishes a renewal a crash interrupted: keeps key.pem.next only if cert.pem matches it.
  Status RecoverRenewal(const std::filesystem::path& dir);
  // Renews the device certificate once two thirds of its lifetime have passed.
  void MaybeRenewCertificate();
  Status InstallRenewedIdentity(const std::string& cert_pem, const std::string& key_pem);
  // Verifies the stored policy's signature against the pinned root at every start; an expired
  // one is kept (the agent starts and serves) and only blocks installs.
  Status LoadTrustPolicy();
  // A policy from enrollment or the controller: it must verify now (expiry included) and be a
  // higher version for this device's fleet (DecidePolicyUpdate).
  Status AdoptTrustPolicy(const std::string& envelope_bytes);
  // The fleet the device enrolled into, from state.db; a state dir from before it was recorded
  // takes the held policy's fleet (verified at enrollment) and records it.
  Status LoadEnrolledFleet();
  // Why installs are refused now (the held policy has expired), or nullopt. Logs it once per
  // policy version.
  std::optional<std::string> PolicyBlocksInstalls();

  void OnDesired(const edge::v1::DesiredState& desired);
  // A version to move a model to, from the controller or from a local install (`from_file`):
  // verified against the trust policy and the floor, then handed to the update machine.
  void HandleTarget(const std::string& model, const std::string& version, const std::string& envelope,
                    bool from_file);
  // Picks up envelopes `edge-agent install FILE` left in <state_dir>/inbox (its blobs are
  // already in the blob store) and makes each a local target.
  void ScanInbox();
  void ScheduleInbox();
  // Applies `event` to the model's machine: persists the new state, then runs the action.
  void Apply(const std::string& model, UpdateEvent event, const std::string& detail = "");
  void RunAction(const std::string& model, UpdateAction action);
  void StartDownload(const std::string& model);
  // Runs `work` on the worker; posts `event` (or kFailed with the error) back if the model's
  // epoch has not moved on meanwhile.
  void OnWorker(const std::string& model, std::function<Status()> work, UpdateEvent on_success);
  // Persists the record; with `outcome`, also the outcome event the state ends the update with.
  void Persist(ModelRecord& record, bool outcome = false);
  // Makes `version` the one new requests of `model` get (empty: stop serving it). Worker thread,
  // or Start() before the worker runs: it owns loaded_.
  Status ServeVersion(const std::string& model, const std::string& version);
  // `current` and serving back on the active version (nothing when none was committed); both
  // steps are idempotent. Worker thread.
  void RestoreActive(const std::string& model, const std::string& active);
  // Drops loaded versions other than the serving one and removes installed versions that are
  // neither current nor previous. Worker thread.
  void CollectOld(const std::string& model, const std::string& keep);
  // Probation: checks the serving numbers every probation_check_ms until the soak period ends.
  void Watch(const std::string& model);
  void CheckProbation(const std::string& model, uint64_t epoch);
  ProbationPolicy PolicyFor(const bundle::Manifest& manifest) const;
  // The self-test of the version under probation, run again at the end of the soak period.
  Status RerunSelfTest(const std::string& model, const std::string& version, const bundle::Manifest& manifest);
  void RecordFailure(const std::string& model, const std::string& version, const std::string& digest,
                     const std::string& envelope, const std::string& detail);

  edge::v1::StatusReport MakeReport();
  // CPU, memory, disk and each model's serving numbers (DESIGN §7 health report).
  void AddHealth(edge::v1::StatusReport& report);
  // Records the latest self-test result of a model for health reports (any thread).
  void NoteSelfTest(const std::string& model, std::string text);
  // Refreshes the snapshot the link thread reads for its hello, and sends a report.
  void SendReport();
  void ScheduleReport();

  AgentConfig config_;
  boost::asio::io_context& io_;
  const Clock& clock_;
  boost::asio::io_context worker_io_;
  std::thread worker_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> worker_guard_;
  boost::asio::steady_timer report_timer_;
  boost::asio::steady_timer inbox_timer_;
  std::mt19937_64 rng_{std::random_device{}()};

  std::optional<StateStore> store_;
  ModelRepo repo_;
  crypto::Ed25519PublicKey root_{};
  bundle::TrustPolicy policy_;
  std::string policy_envelope_;
  std::string policy_payload_;           // the signed bytes inside policy_envelope_
  std::string enrolled_fleet_;
  bool expiry_logged_ = false;           // the held policy's expiry was logged (once per version)
  std::string last_refused_policy_;      // sha256 of the last refused policy envelope (logged once)
  std::atomic<uint64_t> policy_version_{0};  // policy_.version, for the link thread's hello
  std::map<std::string, ModelRecord> models_;
  std::map<std::string, uint64_t> epochs_;  // bumped when a model's target changes
  std::atomic<bool> cancel_downloads_{false};
  std::unique_ptr<ControllerLink> link_;
  serve::Registry registry_;
  std::unique_ptr<serve::InferenceServer> server_;
  // Loaded engine models by model and version: the serving one and, during probation, the one to
  // roll back to. Worker thread only (and Start() before the worker runs).
  std::map<std::string, std::map<std::string, std::shared_ptr<const engine::Model>>> loaded_;
  std::map<std::string, std::unique_ptr<boost::asio::steady_timer>> probation_timers_;
  std::mutex snapshot_mu_;
  edge::v1::StatusReport snapshot_;  // guarded by snapshot_mu_
  bool connected_ = false;
  uint64_t last_generation_ = 0;
  int64_t started_at_ = 0;
  ProcessSample last_sample_;
  std::map<std::string, std::pair<std::string, int64_t>> last_selftest_;  // model → (text, unix time)  // newest desired-state generation seen (persisted)
  int64_t cert_not_before_ = 0;
  int64_t cert_not_after_ = 0;
  bool renewing_ = false;
};

}  // namespace edge::agent
