// Runs the update driver's actions (agent/core/update_driver.h) that take time: downloads,
// verification, installs, activation with the health gate, restores and collection. Each model
// has its own worker thread, so one model's stuck download never delays another model's
// rollback. A new command for a model cancels the one before it (its waits and its download end
// early; its result is stale to the driver anyway).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "agent/core/update_driver.h"
#include "agent/daemon/agent_metrics.h"
#include "agent/daemon/config.h"
#include "agent/daemon/serving_set.h"
#include "agent/store/model_repo.h"
#include "common/bundle/bundle.h"

namespace edge::agent {

// Cancellation of one command, with waits that end early when it is cancelled.
class CancelToken {
 public:
  void Cancel();
  bool cancelled() const { return flag_.load(); }
  const std::atomic<bool>& flag() const { return flag_; }
  // Waits `delay`; false if cancelled first.
  bool WaitFor(std::chrono::milliseconds delay);

 private:
  std::atomic<bool> flag_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

// What a step needs from the agent at the moment it is started (read on the agent's loop).
struct StepInputs {
  bundle::TrustPolicy policy;         // verify: the policy held now
  int64_t now = 0;
};

// The blob source (ControllerLink::FetchBlob in the agent): appends `digest` to `partial` from
// its current size, calling `progress(bytes_on_disk)`; kUnavailable when the controller cannot
// be reached (retried), any other error fails the update.
using BlobFetch = std::function<Status(const std::string& digest, uint64_t size, const std::filesystem::path& partial,
                                       uint64_t rate_limit, const std::function<void(uint64_t)>& progress,
                                       const std::atomic<bool>& cancel)>;

struct StepCallbacks {
  // Every callback may run on a worker thread; the agent posts them to its loop.
  std::function<void(const std::string& model, uint64_t epoch, UpdateEvent event, std::string detail)> done;
  std::function<void(const std::string& model, uint64_t epoch, uint64_t bytes_done)> progress;
  std::function<void(const std::string& model, uint64_t epoch, std::string detail)> trouble;
  std::function<void(const std::string& model, std::string text)> selftest;  // for health reports
};

class UpdateSteps {
 public:
  // `metrics` (may be null) counts health gate results.
  UpdateSteps(const AgentConfig& config, ModelRepo& repo, ServingSet& serving, BlobFetch fetch,
              StepCallbacks callbacks, AgentMetrics* metrics = nullptr);
  ~UpdateSteps();
  UpdateSteps(const UpdateSteps&) = delete;
  UpdateSteps& operator=(const UpdateSteps&) = delete;

  // Starts `command` on its model's worker (kWatch is not a step: the probation watcher runs it).
  void Run(const Command& command, const StepInputs& inputs);
  // The self-test of the version on probation, run again at the end of the soak period; reports
  // kSoakPassed or kFailed.
  void RerunSelfTest(const Command& command);
  // Cancels everything and joins the workers.
  void Stop();

 private:
  struct Worker {
    boost::asio::io_context io;
    std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
    std::thread thread;
    std::shared_ptr<CancelToken> token;
  };
  // Posts `work` to the command's model's worker with a fresh token (cancelling the previous
  // one). An exception out of `work` is logged and reported as kFailed for the command's epoch.
  void Post(const Command& command, std::function<void(CancelToken&)> work);
  Status Download(const Command& c, const bundle::Manifest& m, CancelToken& token);
  Status Activate(const Command& c, const bundle::Manifest& m);
  // Restores the active version, retrying with backoff until it works or the command is
  // cancelled; each failed attempt is logged and shown in reports.
  bool RestoreUntilDone(const Command& c, CancelToken& token);
  void CollectAfter(const Command& c);

  const AgentConfig& config_;
  ModelRepo& repo_;
  ServingSet& serving_;
  BlobFetch fetch_;
  StepCallbacks cb_;
  AgentMetrics* metrics_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Worker>> workers_;
  bool stopped_ = false;
};

}  // namespace edge::agent
