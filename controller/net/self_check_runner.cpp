#include "controller/net/self_check_runner.h"

#include "common/core/log.h"
#include "controller/net/tls_probe.h"

namespace edge::controller::net {
namespace {

std::vector<std::string> NamesOf(const std::vector<ProbeTarget>& targets) {
  std::vector<std::string> names;
  for (const auto& t : targets) names.push_back(t.name);
  return names;
}

}  // namespace

SelfCheckRunner::SelfCheckRunner(boost::asio::io_context& io, const ConnectionLimits& limits,
                                 std::vector<ProbeTarget> targets, ConnectionFront* front,
                                 std::function<void(const SelfCheck::Failure&)> on_failure)
    : io_(io), timeout_(limits.self_check_timeout_ms), targets_(std::move(targets)), front_(front),
      on_failure_(std::move(on_failure)),
      check_(SelfCheck::Options{std::chrono::milliseconds(limits.self_check_interval_ms), timeout_,
                                limits.self_check_failures},
             NamesOf(targets_), std::chrono::steady_clock::now()),
      timer_(io) {}

void SelfCheckRunner::Start() { Schedule(); }

void SelfCheckRunner::Stop() {
  *alive_ = false;
  timer_.cancel();
}

void SelfCheckRunner::Schedule() {
  if (!*alive_ || failed_) return;
  timer_.expires_at(check_.NextWake());
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive) Tick();
  });
}

void SelfCheckRunner::Tick() {
  const auto now = std::chrono::steady_clock::now();
  for (size_t i : check_.StartRoundIfDue(now)) {
    const auto& target = targets_[i];
    const uint64_t round = check_.round();
    auto registered = std::make_shared<ListenEndpoint>();
    const auto started = std::chrono::steady_clock::now();
    ProbeTlsListener(
        io_, target.endpoint, std::chrono::duration_cast<std::chrono::milliseconds>(check_.AnswerWindow()),
        [this, &target, registered](const ListenEndpoint& local) {
          *registered = local;
          if (target.through_front && front_) front_->ExpectProbe(local);
        },
        [this, i, round, registered, started, through = target.through_front, alive = alive_](ProbeResult result) {
          if (!*alive) return;
          // A probe that never reached the front must not leave a pass behind.
          if (through && front_) front_->ForgetProbe(*registered);
          const auto now = std::chrono::steady_clock::now();
          check_.Finished(i, round, result.ok, now);
          const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(now - started);
          if (result.ok && took > timeout_)
            log::Warn("listener self-check: slow answer (the host is saturated?)",
                      {{"listener", targets_[i].name}, {"port", targets_[i].endpoint.port}, {"ms", took.count()}});
          if (!result.ok)
            log::Warn("listener self-check: probe failed",
                      {{"listener", targets_[i].name}, {"port", targets_[i].endpoint.port}, {"error", result.detail},
                       {"consecutive", check_.consecutive_failures(i)}});
          if (auto failure = check_.Evaluate(std::chrono::steady_clock::now()); failure && !failed_) {
            failed_ = true;
            on_failure_(*failure);
          }
        },
        target.protocol);
  }
  if (auto failure = check_.Evaluate(now); failure && !failed_) {
    failed_ = true;
    on_failure_(*failure);
    return;
  }
  Schedule();
}

}  // namespace edge::controller::net
