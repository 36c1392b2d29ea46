// Runs the listener self-check (SelfCheck) on the controller's main io_context: every
// interval it probes each listener, public (through the front) and internal (gRPC directly);
// when one has failed `self_check_failures` times in a row it calls `on_failure` (main logs
// and exits non-zero, so systemd restarts the controller instead of pinging a watchdog for a
// process that no longer accepts connections).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "controller/net/front.h"
#include "controller/net/tls_probe.h"
#include "controller/net/self_check.h"

namespace edge::controller::net {

struct ProbeTarget {
  std::string name;  // e.g. "agent (public)"
  ListenEndpoint endpoint;
  bool through_front = false;  // the front must let this probe pass its limits
  ProbeProtocol protocol = ProbeProtocol::kTls;
};

class SelfCheckRunner {
 public:
  SelfCheckRunner(boost::asio::io_context& io, const ConnectionLimits& limits, std::vector<ProbeTarget> targets,
                  ConnectionFront* front, std::function<void(const SelfCheck::Failure&)> on_failure);
  void Start();
  void Stop();

 private:
  void Schedule();
  void Tick();

  boost::asio::io_context& io_;
  std::chrono::milliseconds timeout_;
  std::vector<ProbeTarget> targets_;
  ConnectionFront* front_;
  std::function<void(const SelfCheck::Failure&)> on_failure_;
  SelfCheck check_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool failed_ = false;
};

}  // namespace edge::controller::net
