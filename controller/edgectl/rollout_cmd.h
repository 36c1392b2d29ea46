// edgectl's rollout commands (docs/cli.md): `deploy model` creates a rollout; `rollout
// get|describe|watch|pause|resume|abort` and `get rollouts` follow and steer it. The pure parts
// (flags to request, verdicts, rendering) are declared here for tests.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/core/result.h"
#include "controller/edgectl/context.h"
#include "edge/v1/admin.pb.h"

namespace edge::edgectl {

// `deploy model` flags as typed; empty strings are "not given".
struct DeployFlags {
  std::string ref;
  std::vector<std::string> sites;  // each may be a comma-separated list
  std::string selector;
  std::vector<std::string> devices;
  bool all_at_once = false;
  std::string canary, waves, site_budget, soak, device_timeout, success_threshold, failure_threshold,
      max_latency_regression, max_error_rate_increase, health_timeout, on_failure, insufficient_traffic;
  std::optional<uint32_t> max_parallel, min_requests, max_restarts;
  bool canary_per_site = false;
  bool no_health_gates = false;
  bool allow_empty = false;
};

// The request the flags ask for; errors name the flag (exit 2).
Result<edge::v1::CreateRolloutRequest> BuildCreateRequest(const DeployFlags& flags);
// "canary 1, then 25%, 100%; soak 1m; health gates: ≥50 requests, p99 ≤ +20%, errors ≤ +1 point; on failure revert"
std::string DescribeStrategy(const edge::v1::RolloutStrategy& strategy);
std::string DescribeTarget(const edge::v1::RolloutTarget& target);
// What --wait and `rollout watch` end with: nullopt = keep waiting; else the exit code.
std::optional<int> FinalExitCode(const edge::v1::Rollout& rollout);
// One line of progress: "wave 1/3 running: 4/6 updated, 1 failed, 0 skipped · 11/12 total".
std::string ProgressLine(const edge::v1::Rollout& rollout);
nlohmann::json RolloutJson(const edge::v1::Rollout& rollout);

// Adds `deploy model` to the `deploy` group and the `rollout` group to `app`.
void RegisterRolloutCommands(CLI::App& app, CLI::App& deploy, std::function<Result<Context>()> context,
                             const std::string& output_format, int& exit_code);
// `edgectl get rollouts`.
Status GetRollouts(const Context& context, bool json, bool all);

}  // namespace edge::edgectl
