// Probation (DESIGN §7) on the agent's loop: every probation_check_ms, the serving numbers of
// the version on probation go to JudgeProbation (agent/core/probation.h); the verdict goes back
// to the agent, which feeds the driver. One watch per model; a newer one replaces it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "agent/core/probation.h"
#include "agent/core/update_driver.h"
#include "agent/daemon/config.h"
#include "agent/serve/registry.h"
#include "common/core/clock.h"

namespace edge::agent {

class ProbationWatcher {
 public:
  // `verdict` gets kFail (with the reason) or kSoaked, once per watch, unless `current` says the
  // watch's epoch is over first.
  using Verdict = std::function<void(const Command&, const ProbationJudgement&)>;
  using Current = std::function<bool(const std::string& model, uint64_t epoch)>;
  ProbationWatcher(boost::asio::io_context& io, const AgentConfig& config, serve::Registry& registry,
                   const Clock& clock, Current current, Verdict verdict)
      : io_(io), config_(config), registry_(registry), clock_(clock), current_(std::move(current)),
        verdict_(std::move(verdict)) {}

  void Watch(const Command& command);
  void Stop();

 private:
  void Check(const Command& command);

  boost::asio::io_context& io_;
  const AgentConfig& config_;
  serve::Registry& registry_;
  const Clock& clock_;
  Current current_;
  Verdict verdict_;
  std::map<std::string, std::unique_ptr<boost::asio::steady_timer>> timers_;
};

}  // namespace edge::agent
