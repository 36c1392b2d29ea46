// edge-controller's JSON configuration (see deploy/config/controller.json).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/core/result.h"
#include "controller/net/limits.h"

namespace edge::controller {

// Where the store lives (`store` object; docs/operations.md#postgresql-store).
struct StoreConfig {
  std::string backend = "sqlite";  // "sqlite": data_dir/controller.db; "postgresql": `url`
  std::string url;                 // postgresql://...; may hold a password: never log it
};

struct ControllerConfig {
  std::string fleet;
  std::filesystem::path data_dir;
  // Bundle blobs, named by their digest: <data_dir>/blobs/sha256 unless set. Several
  // controllers on one PostgreSQL share one (docs/operations.md#several-controllers); uploads
  // are written beside it (its parent directory) and renamed in.
  std::filesystem::path blob_dir;
  std::string agent_listen = "0.0.0.0:7443";
  std::string enroll_listen = "0.0.0.0:7444";
  std::string operator_listen = "127.0.0.1:7445";
  std::string fleet_ca_cert;
  std::string fleet_ca_key;
  std::string server_cert;
  std::string server_key;
  std::string operator_ca_cert;
  std::string trust_policy;             // signed trust policy envelope file
  std::string release_root_public_key;  // PEM
  int64_t device_cert_ttl_seconds = 30LL * 24 * 3600;  // agents renew after 2/3
  std::string log_level = "info";
  int64_t health_history_samples = 120;  // health samples the store keeps per device
  std::string initial_admin = "admin";  // bound to the admin role when no operator exists yet
  std::string ports_file;  // optional: where to write the bound ports as JSON (tests bind port 0)
  // Where /metrics is served (docs/operations.md#metrics); empty = off. No authentication:
  // keep it on loopback unless the network in front of it is trusted.
  std::string metrics_listen;
  // The read-only web dashboard on operator_listen (docs/operations.md#dashboard): browsers
  // with an operator certificate; gRPC on the same port is unaffected.
  bool dashboard = true;
  // gRPC's per-connection TLS buffers held only while bytes wait in them (net/grpc_tls_buffers.h;
  // docs/operations.md "Scaling"): about 25 KB less per agent connection. false: OpenSSL's.
  bool grpc_tls_buffers_on_demand = true;
  // The connection front's caps and timeouts (`connection_limits` object; docs/operations.md).
  net::ConnectionLimits connection_limits;
  StoreConfig store;
};

// Errors are ErrorCode::kBadConfig and name the file and key.
Result<ControllerConfig> LoadControllerConfig(const std::filesystem::path& path);

}  // namespace edge::controller
