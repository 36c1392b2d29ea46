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
#include "agent/core/update_machine.h"
#include "agent/daemon/config.h"
#include "agent/net/controller_link.h"
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
  Status LoadTrustPolicy();
  Status AdoptTrustPolicy(const std::string& envelope_bytes);

  void OnDesired(const edge::v1::DesiredState& desired);
  void HandleDesiredModel(const edge::v1::DesiredModel& dm);
  // Applies `event` to the model's machine: persists the new state, then runs the action.
  void Apply(const std::string& model, UpdateEvent event, const std::string& detail = "");
  void RunAction(const std::string& model, UpdateAction action);
  void StartDownload(const std::string& model);
  // Runs `work` on the worker; posts `event` (or kFailed with the error) back if the model's
  // epoch has not moved on meanwhile.
  void OnWorker(const std::string& model, std::function<Status()> work, UpdateEvent on_success);
  void Commit(const std::string& model);
  void Persist(ModelRecord& record);
  void RecordFailure(const std::string& model, const std::string& version, const std::string& digest,
                     const std::string& envelope, const std::string& detail);

  edge::v1::StatusReport MakeReport();
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
  std::mt19937_64 rng_{std::random_device{}()};

  std::optional<StateStore> store_;
  ModelRepo repo_;
  crypto::Ed25519PublicKey root_{};
  bundle::TrustPolicy policy_;
  std::string policy_envelope_;
  std::map<std::string, ModelRecord> models_;
  std::map<std::string, uint64_t> epochs_;  // bumped when a model's target changes
  std::atomic<bool> cancel_downloads_{false};
  std::unique_ptr<ControllerLink> link_;
  std::mutex snapshot_mu_;
  edge::v1::StatusReport snapshot_;  // guarded by snapshot_mu_
  bool connected_ = false;
  int64_t cert_not_before_ = 0;
  int64_t cert_not_after_ = 0;
  bool renewing_ = false;
};

}  // namespace edge::agent
