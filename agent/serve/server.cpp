#include "agent/serve/server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "agent/serve/oip_service.h"
#include "common/core/log.h"
#include "common/core/version.h"
#include "common/tls/grpc_tls.h"

namespace edge::serve {

namespace {

constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;  // room for the NUL

std::string ErrnoText() { return std::strerror(errno); }

bool IsLoopbackHost(const std::string& host, bool bracketed) {
  if (bracketed) {
    in6_addr v6{};
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
  }
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

// Only literal loopback addresses: a name like "localhost" could resolve to anything.
Status ValidateTcpAddress(const std::string& address) {
  const auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kBadConfig, "inference tcp address '" + address + "' " + why +
                                           "; use 127.0.0.1:PORT or [::1]:PORT (the API has no authentication "
                                           "and must not be reachable off the device)");
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return bad("has no port");
  const std::string port = address.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return bad("has an invalid port");
  }
  std::string host = address.substr(0, colon);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  if (!IsLoopbackHost(host, bracketed)) return bad("is not a loopback address");
  return Ok();
}

bool IsSocket(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// True when some process accepts connections on the socket (it is in use, not stale).
bool SocketAnswers(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const bool answers = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return answers;
}

void RemoveOurSocket(const std::string& path) {
  if (!path.empty() && IsSocket(path)) ::unlink(path.c_str());
}

Status PrepareSocketPath(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return Fail(ErrorCode::kIo, "cannot create the directory of the inference socket " + parent.string() + ": " +
                                      ec.message());
    }
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Ok();
    return Fail(ErrorCode::kIo, "cannot inspect the inference socket path " + path + ": " + ErrnoText());
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Fail(ErrorCode::kBadConfig, "inference socket path " + path +
                                           " exists and is not a socket; refusing to replace it (move it away or "
                                           "choose another path)");
  }
  if (SocketAnswers(path)) {
    return Fail(ErrorCode::kAlreadyExists, "another process is serving on the inference socket " + path);
  }
  if (::unlink(path.c_str()) != 0) {
    return Fail(ErrorCode::kIo, "cannot remove the stale inference socket " + path + ": " + ErrnoText());
  }
  return Ok();
}

}  // namespace

Status ValidateServeConfig(const ServeConfig& config) {
  if (config.unix_socket.empty() && config.tcp_address.empty()) {
    return Fail(ErrorCode::kBadConfig, "the inference API has neither a unix socket nor a tcp address to listen on");
  }
  if (config.unix_socket.size() > kMaxSocketPath) {
    return Fail(ErrorCode::kBadConfig, "inference socket path " + config.unix_socket + " is " +
                                           std::to_string(config.unix_socket.size()) + " bytes; a unix socket path " +
                                           "holds at most " + std::to_string(kMaxSocketPath));
  }
  if (config.socket_mode > 0777) {
    return Fail(ErrorCode::kBadConfig, "inference socket mode " + std::to_string(config.socket_mode) +
                                           " is not a permission mode (at most 0777)");
  }
  if (!config.tcp_address.empty()) EDGE_TRY(ValidateTcpAddress(config.tcp_address));
  if (config.max_request_bytes < 1024 || config.max_request_bytes > INT_MAX) {
    return Fail(ErrorCode::kBadConfig, "inference max request bytes " + std::to_string(config.max_request_bytes) +
                                           " is outside 1 KiB .. 2 GiB");
  }
  if (config.max_contexts_per_model < 1) {
    return Fail(ErrorCode::kBadConfig, "inference max contexts per model must be at least 1");
  }
  return Ok();
}

Result<std::unique_ptr<InferenceServer>> InferenceServer::Start(const ServeConfig& config, Registry& registry) {
  EDGE_TRY(ValidateServeConfig(config));
  if (!config.unix_socket.empty()) EDGE_TRY(PrepareSocketPath(config.unix_socket));
  registry.SetMaxContextsPerVersion(config.max_contexts_per_model);

  std::unique_ptr<InferenceServer> server(new InferenceServer);
  // As many inference workers as requests of one model may run at once, within the cores.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  server->service_ = std::make_unique<OipService>(registry, kVersion, std::min(config.max_contexts_per_model, cores));
  grpc::ServerBuilder builder;
  tls::ApplyServerLimits(builder);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_request_bytes));
  builder.SetMaxSendMessageSize(-1);  // a reply's size is fixed by the model, not by the caller
  int unix_port = 0;
  if (!config.unix_socket.empty()) {
    builder.AddListeningPort("unix:" + config.unix_socket, grpc::InsecureServerCredentials(), &unix_port);
  }
  if (!config.tcp_address.empty()) {
    builder.AddListeningPort(config.tcp_address, grpc::InsecureServerCredentials(), &server->tcp_port_);
  }
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  const std::string where = (config.unix_socket.empty() ? "" : "unix:" + config.unix_socket) +
                            (config.unix_socket.empty() || config.tcp_address.empty() ? "" : " and ") +
                            config.tcp_address;
  if (!server->server_ || (!config.unix_socket.empty() && unix_port == 0) ||
      (!config.tcp_address.empty() && server->tcp_port_ == 0)) {
    if (server->server_) server->server_->Shutdown();
    server->stopped_ = true;
    RemoveOurSocket(config.unix_socket);
    return Fail(ErrorCode::kIo, "the inference API cannot listen on " + where +
                                    " (is the directory writable and the port free?)");
  }
  server->unix_socket_ = config.unix_socket;
  // gRPC creates the socket with the process umask; the mode is what grants clients access.
  if (!config.unix_socket.empty() && ::chmod(config.unix_socket.c_str(), static_cast<mode_t>(config.socket_mode)) != 0) {
    const std::string cause = ErrnoText();
    server->Shutdown(std::chrono::milliseconds(0));
    return Fail(ErrorCode::kIo, "cannot set the mode of the inference socket " + config.unix_socket + ": " + cause);
  }
  log::Info("inference API listening", {{"unix_socket", config.unix_socket},
                                        {"tcp_address", config.tcp_address},
                                        {"tcp_port", server->tcp_port_},
                                        {"max_request_bytes", config.max_request_bytes}});
  return server;
}

InferenceServer::~InferenceServer() { Shutdown(); }

void InferenceServer::Shutdown(std::chrono::milliseconds drain) {
  if (stopped_) return;
  stopped_ = true;
  service_->BeginShutdown();
  server_->Shutdown(std::chrono::system_clock::now() + drain);
  server_->Wait();
  service_->JoinWorkers();
  RemoveOurSocket(unix_socket_);
}

}  // namespace edge::serve
