#include "agent/daemon/config.h"

#include "common/core/config.h"
#include "common/core/fs.h"
#include "common/crypto/x509.h"
#include "common/metrics/listen_address.h"

namespace edge::agent {

Result<AgentConfig> LoadAgentConfig(const std::filesystem::path& path) {
  using namespace edge::config;
  const std::string where = "agent config " + path.string();
  auto wrap = [&](const Error& e) { return Fail(e.Wrap(where)); };
  auto obj = LoadObject(path);
  if (!obj) return Fail(obj.error());
  if (auto s = RejectUnknownKeys(*obj, {"device_name", "state_dir", "controller", "enroll_endpoint", "ca_file",
                                        "release_root_public_key", "enrollment_token", "enrollment_token_file",
                                        "report_interval_seconds", "min_free_bytes", "download_rate_limit",
                                        "backoff_initial_ms", "backoff_max_ms", "connect_timeout_ms", "log_level", "inference_socket",
                                        "inference_socket_mode", "inference_tcp", "inference_max_request_bytes",
                                        "probation_max_error_rate", "probation_min_requests",
                                        "probation_max_restarts", "probation_check_ms", "metrics_listen"},
                                 where);
      !s)
    return Fail(s.error());
  AgentConfig c;
  std::string state_dir = c.state_dir.string();
  for (auto [key, out, required] :
       {std::tuple{"device_name", &c.device_name, true}, {"state_dir", &state_dir, false},
        {"ca_file", &c.ca_file, true}, {"release_root_public_key", &c.release_root_public_key, true},
        {"enrollment_token", &c.enrollment_token, false}, {"enrollment_token_file", &c.enrollment_token_file, false},
        {"log_level", &c.log_level, false}, {"inference_socket", &c.inference_socket, false},
        {"inference_tcp", &c.inference_tcp, false}, {"metrics_listen", &c.metrics_listen, false}}) {
    auto v = required ? GetString(*obj, key) : GetString(*obj, key, *out);
    if (!v) return wrap(v.error());
    *out = *v;
  }
  c.state_dir = state_dir;
  // One controller, or several sharing one database (tried in turn).
  auto controllers = GetAddressList(*obj, "controller");
  if (!controllers) return wrap(controllers.error());
  c.controllers = *controllers;
  auto enroll = GetAddressList(*obj, "enroll_endpoint", c.controllers);
  if (!enroll) return wrap(enroll.error());
  c.enroll_endpoints = *enroll;
  for (auto [key, out, min, max] :
       {std::tuple{"report_interval_seconds", &c.report_interval_seconds, int64_t{1}, int64_t{3600}},
        {"min_free_bytes", &c.min_free_bytes, int64_t{0}, INT64_MAX},
        {"download_rate_limit", &c.download_rate_limit, int64_t{0}, INT64_MAX},
        {"backoff_initial_ms", &c.backoff_initial_ms, int64_t{10}, int64_t{600000}},
        {"backoff_max_ms", &c.backoff_max_ms, int64_t{10}, int64_t{3600000}},
        {"connect_timeout_ms", &c.connect_timeout_ms, int64_t{tls::kMinConnectTimeout.count()},
         int64_t{tls::kMaxConnectTimeout.count()}},
        {"inference_max_request_bytes", &c.inference_max_request_bytes, int64_t{4096}, int64_t{1} << 30},
        {"probation_min_requests", &c.probation_min_requests, int64_t{1}, INT64_MAX},
        {"probation_max_restarts", &c.probation_max_restarts, int64_t{0}, int64_t{100}},
        {"probation_check_ms", &c.probation_check_ms, int64_t{10}, int64_t{60000}}}) {
    auto v = GetInt(*obj, key, *out, min, max);
    if (!v) return wrap(v.error());
    *out = *v;
  }
  auto rate = GetDouble(*obj, "probation_max_error_rate", c.probation_max_error_rate, 0.0, 1.0);
  if (!rate) return wrap(rate.error());
  c.probation_max_error_rate = *rate;
  auto mode = GetString(*obj, "inference_socket_mode", "0660");
  if (!mode) return wrap(mode.error());
  if (mode->empty() || mode->size() > 4 || mode->find_first_not_of("01234567") != std::string::npos)
    return wrap(Error{ErrorCode::kBadConfig, "inference_socket_mode '" + *mode + "' must be an octal mode such as \"0660\""});
  c.inference_socket_mode = static_cast<uint32_t>(std::stoul(*mode, nullptr, 8));
  if (c.inference_socket_mode & 0007)
    return wrap(Error{ErrorCode::kBadConfig, "inference_socket_mode " + *mode +
                                                 " lets every local user call the model; allow owner and group only"});
  if (!c.metrics_listen.empty())
    if (auto parsed = metrics::ParseListenAddress(c.metrics_listen); !parsed) return wrap(parsed.error().Wrap("metrics_listen"));
  if (c.inference_socket.empty())
    return wrap(Error{ErrorCode::kBadConfig, "inference_socket must not be empty"});
  if (!crypto::IsValidName(c.device_name))
    return wrap(Error{ErrorCode::kBadConfig, "device_name '" + c.device_name + "' must match [A-Za-z0-9._-]{1,64}"});
  if (c.backoff_initial_ms > c.backoff_max_ms)
    return wrap(Error{ErrorCode::kBadConfig, "backoff_initial_ms (" + std::to_string(c.backoff_initial_ms) +
                                                 ") must not exceed backoff_max_ms (" + std::to_string(c.backoff_max_ms) + ")"});
  if (!c.enrollment_token.empty() && !c.enrollment_token_file.empty())
    return wrap(Error{ErrorCode::kBadConfig, "set enrollment_token or enrollment_token_file, not both"});
  return c;
}

Result<crypto::Ed25519PublicKey> LoadReleaseRoot(const AgentConfig& config) {
  auto pem = fs::ReadFile(config.release_root_public_key, 64 * 1024);
  if (!pem) return Fail(ErrorCode::kBadConfig, pem.error().Wrap("release_root_public_key").message);
  auto root = crypto::Ed25519PublicKeyFromPem(*pem);
  if (!root) return Fail(ErrorCode::kBadConfig, root.error().Wrap(config.release_root_public_key).message);
  return *root;
}

}  // namespace edge::agent
