#include "controller/daemon/config.h"

#include "common/core/config.h"
#include "common/crypto/x509.h"
#include "common/metrics/listen_address.h"
#include "common/sql/postgres_connection.h"
#include "controller/net/listen_address.h"

namespace edge::controller {
namespace {

Result<StoreConfig> ParseStoreConfig(const nlohmann::json& object) {
  using namespace edge::config;
  const std::string context = "store";
  EDGE_TRY(RejectUnknownKeys(object, {"backend", "url"}, context));
  auto wrap = [&](const Error& e) { return Fail(e.Wrap(context)); };
  StoreConfig store;
  auto backend = GetString(object, "backend", store.backend);
  if (!backend) return wrap(backend.error());
  store.backend = *backend;
  auto url = GetString(object, "url", "");
  if (!url) return wrap(url.error());
  store.url = *url;
  if (store.backend == "sqlite") {
    if (!store.url.empty())
      return wrap(Error{ErrorCode::kBadConfig, "key 'url' is for backend \"postgresql\" only (the SQLite store is "
                                               "data_dir/controller.db)"});
  } else if (store.backend == "postgresql") {
    if (store.url.empty())
      return wrap(Error{ErrorCode::kBadConfig, "backend \"postgresql\" needs key 'url' "
                                               "(postgresql://USER@HOST[:PORT]/DBNAME[?PARAM=VALUE...])"});
    if (auto described = sql::DescribePostgresUrl(store.url); !described) return wrap(described.error().Wrap("url"));
  } else {
    return wrap(Error{ErrorCode::kBadConfig, "key 'backend' must be \"sqlite\" or \"postgresql\", not \"" +
                                                 store.backend + "\""});
  }
  return store;
}

}  // namespace

Result<ControllerConfig> LoadControllerConfig(const std::filesystem::path& path) {
  using namespace edge::config;
  auto wrap = [&](const Error& e) { return Fail(e.Wrap("controller config " + path.string())); };
  auto obj = LoadObject(path);
  if (!obj) return Fail(obj.error());
  if (auto s = RejectUnknownKeys(*obj, {"fleet", "data_dir", "agent_listen", "enroll_listen", "operator_listen",
                                        "fleet_ca_cert", "fleet_ca_key", "server_cert", "server_key",
                                        "operator_ca_cert", "trust_policy", "release_root_public_key",
                                        "device_cert_ttl_seconds", "log_level", "ports_file", "health_history_samples",
                                        "initial_admin", "connection_limits", "metrics_listen", "dashboard", "store",
                                        "blob_dir", "grpc_tls_buffers_on_demand"},
                                 "controller config " + path.string());
      !s)
    return Fail(s.error());
  ControllerConfig c;
  auto str = [&](const char* key, std::string& out, bool required) -> Status {
    auto v = required ? GetString(*obj, key) : GetString(*obj, key, out);
    if (!v) return Fail(v.error());
    out = *v;
    return Ok();
  };
  std::string data_dir, blob_dir;
  for (auto [key, out, required] : {std::tuple{"fleet", &c.fleet, true}, {"data_dir", &data_dir, true},
                                    {"agent_listen", &c.agent_listen, false}, {"enroll_listen", &c.enroll_listen, false},
                                    {"operator_listen", &c.operator_listen, false}, {"fleet_ca_cert", &c.fleet_ca_cert, true},
                                    {"fleet_ca_key", &c.fleet_ca_key, true}, {"server_cert", &c.server_cert, true},
                                    {"server_key", &c.server_key, true}, {"operator_ca_cert", &c.operator_ca_cert, true},
                                    {"trust_policy", &c.trust_policy, true},
                                    {"release_root_public_key", &c.release_root_public_key, true},
                                    {"log_level", &c.log_level, false}, {"ports_file", &c.ports_file, false},
                                    {"initial_admin", &c.initial_admin, false},
                                    {"metrics_listen", &c.metrics_listen, false}, {"blob_dir", &blob_dir, false}}) {
    if (auto s = str(key, *out, required); !s) return wrap(s.error());
  }
  c.data_dir = data_dir;
  if (!blob_dir.empty() && std::filesystem::path(blob_dir).is_relative())
    return wrap(Error{ErrorCode::kBadConfig, "key 'blob_dir' must be an absolute path, not '" + blob_dir + "'"});
  // Normal form, no trailing separator: uploads are written in its parent (bundle_receiver).
  c.blob_dir = blob_dir.empty() ? c.data_dir / "blobs" / "sha256" : std::filesystem::path(blob_dir).lexically_normal();
  if (!c.blob_dir.has_filename()) c.blob_dir = c.blob_dir.parent_path();
  if (c.blob_dir == c.blob_dir.root_path())
    return wrap(Error{ErrorCode::kBadConfig, "key 'blob_dir' must not be the root directory"});
  auto ttl = GetInt(*obj, "device_cert_ttl_seconds", c.device_cert_ttl_seconds, 30, 365LL * 24 * 3600);
  if (!ttl) return wrap(ttl.error());
  c.device_cert_ttl_seconds = *ttl;
  auto samples = GetInt(*obj, "health_history_samples", c.health_history_samples, 1, 10000);
  if (!samples) return wrap(samples.error());
  c.health_history_samples = *samples;
  auto dashboard = GetBool(*obj, "dashboard", c.dashboard);
  if (!dashboard) return wrap(dashboard.error());
  c.dashboard = *dashboard;
  auto on_demand = GetBool(*obj, "grpc_tls_buffers_on_demand", c.grpc_tls_buffers_on_demand);
  if (!on_demand) return wrap(on_demand.error());
  c.grpc_tls_buffers_on_demand = *on_demand;
  for (auto [key, address] : {std::pair{"agent_listen", &c.agent_listen}, {"enroll_listen", &c.enroll_listen},
                               {"operator_listen", &c.operator_listen}}) {
    if (auto parsed = net::ParseListenAddress(*address); !parsed) return wrap(parsed.error().Wrap(key));
  }
  if (!c.metrics_listen.empty())
    if (auto parsed = metrics::ParseListenAddress(c.metrics_listen); !parsed) return wrap(parsed.error().Wrap("metrics_listen"));
  if (auto s = net::CheckDistinctListenAddresses({{"agent_listen", c.agent_listen},
                                                  {"enroll_listen", c.enroll_listen},
                                                  {"operator_listen", c.operator_listen},
                                                  {"metrics_listen", c.metrics_listen}});
      !s)
    return wrap(s.error());
  if (auto it = obj->find("connection_limits"); it != obj->end()) {
    if (!it->is_object())
      return wrap(Error{ErrorCode::kBadConfig, "key 'connection_limits' must be a JSON object"});
    auto limits = net::ParseConnectionLimits(*it);
    if (!limits) return wrap(limits.error());
    c.connection_limits = *limits;
  }
  if (auto it = obj->find("store"); it != obj->end()) {
    if (!it->is_object()) return wrap(Error{ErrorCode::kBadConfig, "key 'store' must be a JSON object"});
    auto store = ParseStoreConfig(*it);
    if (!store) return wrap(store.error());
    c.store = *store;
  }
  if (!crypto::IsValidName(c.fleet))
    return wrap(Error{ErrorCode::kBadConfig, "fleet '" + c.fleet + "' must match [A-Za-z0-9._-]{1,64}"});
  if (!crypto::IsValidName(c.initial_admin))
    return wrap(Error{ErrorCode::kBadConfig, "initial_admin '" + c.initial_admin + "' must match [A-Za-z0-9._-]{1,64}"});
  return c;
}

}  // namespace edge::controller
