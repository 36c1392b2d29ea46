// edge-fleetsim: many simulated agents in one process, each with its own key, enrollment,
// mTLS Connect stream, reports and blob downloads, against a real controller (docs/fleetsim.md).
//
// All device logic runs on one Boost.Asio thread; gRPC's callback reactors do no work of their
// own beyond hashing the blob bytes they receive: they post what they saw to that thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/core/result.h"
#include "tests/fleetsim/sim_device.h"

namespace edge::fleetsim {

struct Options {
  std::string agent_endpoint;   // host:port of the controller's agent listener, or a,b,c of several
  std::string enroll_endpoint;  // host:port of its enrollment listener (or several)
  std::string ca_file;          // fleet CA (verifies the controller)
  std::string release_root_file;  // release root public key (verifies the trust policy)
  std::string state_dir;        // identities of enrolled devices, kept across runs
  int devices = 100;
  std::string prefix = "sim";   // device names: <prefix>-00001, ...
  std::string site;             // site to enroll new devices at
  // Token source for devices not enrolled yet: an edgectl config (operator certificate) and,
  // optionally, the operator address to use instead of the context's.
  std::string edgectl_config;
  std::string edgectl_context;
  std::string operator_address;
  double report_interval_s = 5;
  double jitter = 0.2;           // ± share of the report interval
  double connect_rate = 500;     // new Connect streams per second (a whole fleet rebooting at once is not the test)
  int enroll_concurrency = 8;  // the enrollment listener holds 16 connections per source
  int download_concurrency = 0;  // 0: no limit beyond the controller's
  // Operator calls per second while the fleet runs (describe a device, list rollouts, sites,
  // model versions in turn; the edgectl context's certificate), their latency in the summary.
  double operator_rate = 0;
  // Ends the run: when every device is connected, or every device not scripted to fail the
  // version reports it committed, or after duration_s; whichever is set (a run with only a
  // duration succeeds if every device is connected at its end, bar those refused for good or
  // in a scripted outage). timeout_s ends a run whose goal was not reached (exit 1).
  bool until_connected = false;
  std::optional<std::pair<std::string, std::string>> until_converged;  // (model, version)
  double duration_s = 0;
  double timeout_s = 600;
  double progress_interval_s = 5;
  std::string summary_file;     // also printed on stdout
  Script script;
};

// Runs the simulation; the summary (what the run saw) is returned even when the goal was
// missed (`goal_met` false). Errors: bad options or files, enrollment impossible.
struct Outcome {
  bool goal_met = false;
  nlohmann::json summary;
};
Result<Outcome> Run(const Options& options);

}  // namespace edge::fleetsim
