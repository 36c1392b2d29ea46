// edge-agent's composition root. It wires the pure update driver (agent/core/update_driver.h)
// to its adapters and owns the agent's loop (`io_`, one thread), where every decision is taken:
//   IdentityManager   enrollment and certificate renewal (identity.h)
//   ControllerLink    the mTLS stream to the controller (agent/net)
//   UpdateSteps       long steps on a worker per model (update_steps.h)
//   ServingSet        which version of each model serves (serving_set.h)
//   ProbationWatcher  the soak period (probation_watcher.h)
//   TakeInbox         local installs (inbox.h)
//   ModelsReport/AddHealth  status reports (status_report.h)
//   TrustHolder       the trust policy held (trust_holder.h)
#pragma once

#include <thread>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "agent/core/report_pacer.h"
#include "common/core/version.h"
#include "agent/core/update_driver.h"
#include "agent/daemon/agent_metrics.h"
#include "agent/daemon/config.h"
#include "agent/daemon/identity.h"
#include "agent/daemon/probation_watcher.h"
#include "agent/daemon/process_stats.h"
#include "agent/daemon/serving_set.h"
#include "agent/daemon/status_report.h"
#include "agent/daemon/trust_holder.h"
#include "agent/daemon/update_steps.h"
#include "agent/net/controller_link.h"
#include "agent/serve/registry.h"
#include "agent/serve/server.h"
#include "agent/store/model_repo.h"
#include "agent/store/state_store.h"
#include "common/bundle/bundle.h"
#include "common/core/clock.h"

namespace edge::agent {

inline constexpr const char* kAgentVersion = "edge-agent/" EDGE_VERSION_TEXT;

class AgentApp : private UpdatePorts {
 public:
  // `metrics`: where the agent counts for /metrics (Discard() when metrics are off).
  AgentApp(AgentConfig config, boost::asio::io_context& io, const Clock& clock,
           metrics::Registry& metrics = metrics::Discard());
  ~AgentApp() override;

  // Enrolls if needed, restores state, resumes interrupted work, connects. Errors are fatal
  // (bad config → kBadConfig; unreadable state.db → kDataLoss).
  Status Start();
  void Stop();

 private:
  // UpdatePorts
  Status Save(const ModelRecord& record, const std::vector<OutcomeEvent>& outcomes) override;
  Result<VerifiedTarget> Verify(const std::string& model, const std::string& version,
                                const std::string& envelope) override;

  // Serves what each record says serves before anything else (READY=1 follows only when serving).
  void ServeAtStart();
  void OnDesired(const edge::v1::DesiredState& desired);
  void ScanInbox();
  // Runs the driver's commands: steps on their workers, probation on the watcher.
  void Dispatch(std::vector<Command> commands);
  void OnStepDone(const std::string& model, uint64_t epoch, UpdateEvent event, const std::string& detail);
  void PinBlobs(const Command& command);
  void MaybeRenewCertificate();

  // A status report soon after a state change, paced by pacer_.
  void RequestReport();
  // Refreshes the snapshot the link thread reads for its hello, and sends a report.
  void SendReport();
  void ScheduleTicks();

  AgentConfig config_;
  boost::asio::io_context& io_;
  const Clock& clock_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer report_soon_timer_;

  std::optional<StateStore> store_;
  ModelRepo repo_;
  IdentityManager identity_;
  TrustHolder trust_;
  UpdateDriver driver_;
  AgentMetrics metrics_;
  serve::Registry registry_;
  ServingSet serving_;
  std::unique_ptr<ControllerLink> link_;
  std::unique_ptr<UpdateSteps> steps_;
  std::unique_ptr<ProbationWatcher> watcher_;
  std::unique_ptr<serve::InferenceServer> server_;

  std::string last_refused_policy_;      // sha256 of the last refused policy envelope (logged once)

  std::mutex snapshot_mu_;
  edge::v1::StatusReport snapshot_;  // guarded by snapshot_mu_
  bool connected_ = false;
  bool renewing_ = false;
  std::thread renew_thread_;
  ReportPacer pacer_;
  uint64_t last_generation_ = 0;  // newest desired-state generation seen (persisted)
  int64_t started_at_ = 0;
  ProcessSample last_sample_;
  std::map<std::string, SelfTestNote> selftests_;
};

}  // namespace edge::agent
