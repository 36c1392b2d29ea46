// edge-agent's JSON configuration (see deploy/config/agent.json).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/core/backoff.h"
#include "common/core/result.h"
#include "common/crypto/ed25519.h"
#include "common/tls/connect_timeouts.h"

namespace edge::agent {

struct AgentConfig {
  std::string device_name;
  std::filesystem::path state_dir = "/var/lib/edge-agent";
  // Agent listener host:port: one, or several controllers sharing one database ("controller":
  // "a:7443,b:7443" or an array), tried in turn from a random one.
  std::vector<std::string> controllers;
  std::vector<std::string> enroll_endpoints;  // enrollment listeners; default: `controller`'s
  std::string ca_file;                  // fleet CA, pinned out of band
  std::string release_root_public_key;  // pinned release root (PEM)
  std::string enrollment_token;         // only needed until enrolled
  std::string enrollment_token_file;
  int64_t report_interval_seconds = 5;
  int64_t min_free_bytes = 64LL << 20;  // kept free on the state filesystem after a download
  int64_t download_rate_limit = 0;      // bytes/s, 0 = unlimited
  int64_t backoff_initial_ms = 500;
  int64_t backoff_max_ms = 30000;
  // One connection attempt to the controller (TCP, TLS, HTTP/2), enrollment included; the
  // default suits a Pi-class CPU on a cellular link (common/tls/connect_timeouts.h).
  int64_t connect_timeout_ms = tls::kDefaultConnectTimeout.count();
  std::string log_level = "info";

  // Local inference (docs/inference-api.md).
  std::string inference_socket = "/run/edge-agent/infer.sock";
  uint32_t inference_socket_mode = 0660;  // config: an octal string, e.g. "0660"
  std::string inference_tcp;              // loopback host:port; empty = off
  int64_t inference_max_request_bytes = 16LL << 20;

  // Where /metrics is served (docs/operations.md#metrics); empty = off. No authentication:
  // keep it on loopback unless the network in front of it is trusted.
  std::string metrics_listen;

  // Probation (docs/operations.md): thresholds that roll a new version back.
  double probation_max_error_rate = 0.01;
  int64_t probation_min_requests = 20;
  int64_t probation_max_restarts = 2;
  int64_t probation_check_ms = 1000;
};

// Errors are ErrorCode::kBadConfig and name the file and key.
Result<AgentConfig> LoadAgentConfig(const std::filesystem::path& path);

// The retry schedule of reconnects, downloads and restores: backoff_initial_ms doubling up to
// backoff_max_ms, with random jitter.
inline Backoff RetryBackoff(const AgentConfig& config) {
  return Backoff::WithRandomJitter(std::chrono::milliseconds(config.backoff_initial_ms),
                                   std::chrono::milliseconds(config.backoff_max_ms));
}

// The release root public key the config pins (release_root_public_key). Errors are
// kBadConfig and name the file.
Result<crypto::Ed25519PublicKey> LoadReleaseRoot(const AgentConfig& config);

}  // namespace edge::agent
