// The agent's local inference endpoint: the Open Inference Protocol service (oip_service.h) on a
// unix socket and, optionally, a loopback TCP port.
//
// Trust boundary: the endpoint is plaintext gRPC with no authentication. Who may call it is
// decided by the filesystem: the socket's owner, group and mode (socket_mode, 0660 by default,
// so only the agent's user and group connect). The TCP listener exists for clients that cannot
// speak unix sockets and is refused on anything but a loopback address, so nothing off the
// device can reach it; anyone on the device can, so leave it off unless that is acceptable.
//
// Contract: Start() either returns a listening server or an Error naming the setting and the
// cause; it never replaces a path that is not a socket and never steals a socket another live
// server is answering on. Shutdown() (also run by the destructor) stops accepting calls, lets
// calls in flight finish for up to `drain` and removes the socket file.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/serve/registry.h"
#include "common/core/result.h"

namespace grpc {
class Server;
}

namespace edge::serve {

class OipService;

struct ServeConfig {
  // Empty: no unix socket (then tcp_address must be set).
  std::string unix_socket = "/run/edge-agent/infer.sock";
  uint32_t socket_mode = 0660;
  // Empty: no TCP. Else a loopback address: 127.x.y.z:PORT or [::1]:PORT (PORT 0 picks one).
  std::string tcp_address;
  // Largest request accepted; larger ones fail with RESOURCE_EXHAUSTED.
  int64_t max_request_bytes = int64_t{16} << 20;
  // ExecutionContexts pooled per served version: at most this many requests of one model run at
  // once, later ones wait for a free context. Applied to the Registry by Start().
  int max_contexts_per_model = 4;
};

// Checks a ServeConfig without touching the filesystem or the network. Errors are kBadConfig.
Status ValidateServeConfig(const ServeConfig& config);

class InferenceServer {
 public:
  static Result<std::unique_ptr<InferenceServer>> Start(const ServeConfig& config, Registry& registry);

  ~InferenceServer();
  InferenceServer(const InferenceServer&) = delete;
  InferenceServer& operator=(const InferenceServer&) = delete;

  void Shutdown(std::chrono::milliseconds drain = std::chrono::milliseconds(2000));

  // The TCP port bound (the chosen one when tcp_address asked for port 0); 0 without TCP.
  int tcp_port() const { return tcp_port_; }
  const std::string& unix_socket() const { return unix_socket_; }

 private:
  InferenceServer() = default;

  std::unique_ptr<OipService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string unix_socket_;
  int tcp_port_ = 0;
  bool stopped_ = false;
};

}  // namespace edge::serve
