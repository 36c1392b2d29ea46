#include "controller/daemon/config.h"

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "common/sql/postgres_connection.h"
#include "core/temp_dir.h"

using edge::ErrorCode;
using edge::controller::LoadControllerConfig;
using edge::testing::TempDir;

namespace {

nlohmann::json Minimal() {
  return {{"fleet", "acme"},
          {"data_dir", "/var/lib/edge-controller"},
          {"fleet_ca_cert", "fleet-ca.pem"},
          {"fleet_ca_key", "fleet-ca.key"},
          {"server_cert", "controller.pem"},
          {"server_key", "controller.key"},
          {"operator_ca_cert", "operator-ca.pem"},
          {"trust_policy", "trust-policy.json"},
          {"release_root_public_key", "release-root.pub"}};
}

std::filesystem::path Write(const TempDir& dir, const nlohmann::json& j) {
  const auto path = dir / "controller.json";
  std::ofstream(path) << j.dump(2);
  return path;
}

void ExpectBadConfig(const nlohmann::json& j, const std::string& needle) {
  TempDir dir;
  const auto path = Write(dir, j);
  auto c = LoadControllerConfig(path);
  REQUIRE_FALSE(c);
  CHECK(c.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(c.error().message, Catch::Contains(needle) && Catch::Contains(path.string()));
}

}  // namespace

TEST_CASE("Controller config: a minimal config parses with defaults", "[controller_config]") {
  TempDir dir;
  auto c = LoadControllerConfig(Write(dir, Minimal()));
  REQUIRE(c);
  CHECK(c->fleet == "acme");
  CHECK(c->data_dir == "/var/lib/edge-controller");
  CHECK(c->agent_listen == "0.0.0.0:7443");
  CHECK(c->enroll_listen == "0.0.0.0:7444");
  CHECK(c->operator_listen == "127.0.0.1:7445");
  CHECK(c->fleet_ca_cert == "fleet-ca.pem");
  CHECK(c->fleet_ca_key == "fleet-ca.key");
  CHECK(c->server_cert == "controller.pem");
  CHECK(c->server_key == "controller.key");
  CHECK(c->operator_ca_cert == "operator-ca.pem");
  CHECK(c->trust_policy == "trust-policy.json");
  CHECK(c->release_root_public_key == "release-root.pub");
  CHECK(c->device_cert_ttl_seconds == 30LL * 24 * 3600);
  CHECK(c->log_level == "info");
  CHECK(c->ports_file.empty());
  CHECK(c->health_history_samples == 120);
  CHECK(c->grpc_tls_buffers_on_demand);
}

TEST_CASE("Controller config: optional keys override defaults", "[controller_config]") {
  TempDir dir;
  auto j = Minimal();
  j["agent_listen"] = "127.0.0.1:0";
  j["enroll_listen"] = "127.0.0.1:0";
  j["operator_listen"] = "127.0.0.1:0";
  j["device_cert_ttl_seconds"] = 86400;
  j["log_level"] = "debug";
  j["ports_file"] = "/tmp/ports.json";
  j["health_history_samples"] = 30;
  j["grpc_tls_buffers_on_demand"] = false;
  auto c = LoadControllerConfig(Write(dir, j));
  REQUIRE(c);
  CHECK(c->agent_listen == "127.0.0.1:0");
  CHECK(c->device_cert_ttl_seconds == 86400);
  CHECK(c->log_level == "debug");
  CHECK(c->health_history_samples == 30);
  CHECK(c->ports_file == "/tmp/ports.json");
  CHECK_FALSE(c->grpc_tls_buffers_on_demand);
}

TEST_CASE("Controller config: blob_dir is the data dir's unless set to an absolute path", "[controller_config]") {
  TempDir dir;
  auto j = Minimal();
  auto c = LoadControllerConfig(Write(dir, j));
  REQUIRE(c);
  CHECK(c->blob_dir == c->data_dir / "blobs" / "sha256");
  j["blob_dir"] = "/srv/edgefleet//blobs/./sha256/";  // shared by several controllers
  c = LoadControllerConfig(Write(dir, j));
  REQUIRE(c);
  CHECK(c->blob_dir == "/srv/edgefleet/blobs/sha256");  // its parent takes the uploads
  j["blob_dir"] = "blobs";
  ExpectBadConfig(j, "key 'blob_dir' must be an absolute path");
  j["blob_dir"] = "/";
  ExpectBadConfig(j, "must not be the root directory");
}

TEST_CASE("Controller config: an unknown key is rejected by name", "[controller_config]") {
  auto j = Minimal();
  j["operator_listn"] = "x";
  ExpectBadConfig(j, "unknown key 'operator_listn'");
}

TEST_CASE("Controller config: each missing required key is named", "[controller_config]") {
  for (const char* key : {"fleet", "data_dir", "fleet_ca_cert", "fleet_ca_key", "server_cert", "server_key",
                          "operator_ca_cert", "trust_policy", "release_root_public_key"}) {
    INFO(key);
    auto j = Minimal();
    j.erase(key);
    ExpectBadConfig(j, std::string("missing required key '") + key + "'");
  }
}

TEST_CASE("Controller config: wrong types and ranges", "[controller_config]") {
  auto j = Minimal();
  j["fleet"] = true;
  ExpectBadConfig(j, "'fleet' must be a string");
  j = Minimal();
  j["device_cert_ttl_seconds"] = "24";
  ExpectBadConfig(j, "'device_cert_ttl_seconds' must be an integer");
  j = Minimal();
  j["device_cert_ttl_seconds"] = 0;
  ExpectBadConfig(j, "'device_cert_ttl_seconds' = 0 is out of range [30, 31536000]");
  j = Minimal();
  j["device_cert_ttl_seconds"] = 365LL * 24 * 3600 + 1;
  ExpectBadConfig(j, "out of range");
  j = Minimal();
  j["health_history_samples"] = 0;
  ExpectBadConfig(j, "'health_history_samples' = 0 is out of range [1, 10000]");
  j = Minimal();
  j["fleet"] = "acme corp";
  ExpectBadConfig(j, "fleet 'acme corp'");
  j = Minimal();
  j["grpc_tls_buffers_on_demand"] = "yes";
  ExpectBadConfig(j, "'grpc_tls_buffers_on_demand' must be");
}

TEST_CASE("Controller config: metrics_listen is off by default and checked like the other addresses",
          "[controller_config]") {
  TempDir dir;
  auto off = LoadControllerConfig(Write(dir, Minimal()));
  REQUIRE(off);
  CHECK(off->metrics_listen.empty());
  auto j = Minimal();
  j["metrics_listen"] = "127.0.0.1:0";
  auto on = LoadControllerConfig(Write(dir, j));
  REQUIRE(on);
  CHECK(on->metrics_listen == "127.0.0.1:0");
  j["metrics_listen"] = "localhost:9464";
  ExpectBadConfig(j, "metrics_listen: 'localhost:9464'");
  j["metrics_listen"] = "127.0.0.1";
  ExpectBadConfig(j, "metrics_listen: '127.0.0.1' has no port");
}

TEST_CASE("Controller config: two listeners on one address are refused naming both keys", "[controller_config]") {
  auto with = [](std::initializer_list<std::pair<const char*, const char*>> listen) {
    auto j = Minimal();
    for (const auto& [key, address] : listen) j[key] = address;
    return j;
  };
  ExpectBadConfig(with({{"agent_listen", "127.0.0.1:7443"}, {"operator_listen", "127.0.0.1:7443"}}),
                  "agent_listen 127.0.0.1:7443 and operator_listen 127.0.0.1:7443 collide (the same address)");
  // The defaults: agent 0.0.0.0:7443, enrollment 0.0.0.0:7444.
  ExpectBadConfig(with({{"operator_listen", "127.0.0.1:7444"}}),
                  "enroll_listen 0.0.0.0:7444 and operator_listen 127.0.0.1:7444 collide (0.0.0.0 takes the port on "
                  "every IPv4 address");
  ExpectBadConfig(with({{"agent_listen", "[::]:7443"}, {"metrics_listen", "127.0.0.1:7443"}}),
                  "agent_listen [::]:7443 and metrics_listen 127.0.0.1:7443 collide ([::] takes the port on every "
                  "address of this host");
  ExpectBadConfig(with({{"agent_listen", "localhost:7450"}, {"enroll_listen", "127.0.0.1:7450"}}), "collide (the same address)");
  ExpectBadConfig(with({{"agent_listen", "[::1]:7450"}, {"enroll_listen", "[0:0:0:0:0:0:0:1]:7450"}}),
                  "collide (the same address)");

  TempDir dir;
  auto distinct = [&](const nlohmann::json& j) {
    auto c = LoadControllerConfig(Write(dir, j));
    INFO((c ? std::string() : c.error().message));
    CHECK(c);
  };
  // Other ports, other specific addresses, other families without a wildcard, and port 0.
  distinct(with({{"agent_listen", "127.0.0.1:7443"}, {"enroll_listen", "127.0.0.2:7443"}, {"operator_listen", "[::1]:7443"}}));
  distinct(with({{"agent_listen", "0.0.0.0:7443"}, {"enroll_listen", "[::1]:7443"}, {"operator_listen", "127.0.0.1:7445"}}));
  distinct(with({{"agent_listen", "127.0.0.1:0"}, {"enroll_listen", "127.0.0.1:0"}, {"operator_listen", "0.0.0.0:0"},
                 {"metrics_listen", "127.0.0.1:0"}}));
}

TEST_CASE("Controller config: the store is SQLite in the data dir unless it names PostgreSQL", "[controller_config]") {
  TempDir dir;
  auto by_default = LoadControllerConfig(Write(dir, Minimal()));
  REQUIRE(by_default);
  CHECK(by_default->store.backend == "sqlite");
  CHECK(by_default->store.url.empty());
  auto j = Minimal();
  j["store"] = {{"backend", "sqlite"}};
  CHECK(LoadControllerConfig(Write(dir, j))->store.backend == "sqlite");
  if (!edge::sql::PostgresAvailable()) {
    j["store"] = {{"backend", "postgresql"}, {"url", "postgresql://edge@db.example/edgefleet"}};
    ExpectBadConfig(j, "store: url: this build of edgefleet has no PostgreSQL support");
    return;
  }
  j["store"] = {{"backend", "postgresql"}, {"url", "postgresql://edge:s3cret@db.example:5433/edgefleet?sslmode=verify-full"}};
  auto pg = LoadControllerConfig(Write(dir, j));
  REQUIRE(pg);
  CHECK(pg->store.backend == "postgresql");
  CHECK(pg->store.url == "postgresql://edge:s3cret@db.example:5433/edgefleet?sslmode=verify-full");
}

TEST_CASE("Controller config: a bad store is refused naming the key and never the password", "[controller_config]") {
  auto with = [](nlohmann::json store) {
    auto j = Minimal();
    j["store"] = std::move(store);
    return j;
  };
  ExpectBadConfig(with("postgresql://db/fleet"), "key 'store' must be a JSON object");
  ExpectBadConfig(with({{"backend", "postgres"}}), "store: key 'backend' must be \"sqlite\" or \"postgresql\", not \"postgres\"");
  ExpectBadConfig(with({{"backend", 1}}), "store: key 'backend' must be a string");
  ExpectBadConfig(with({{"backend", "sqlite"}, {"path", "/srv/x.db"}}), "unknown key 'path' in store (known keys: backend, url)");
  ExpectBadConfig(with({{"backend", "sqlite"}, {"url", "postgresql://db/fleet"}}),
                  "store: key 'url' is for backend \"postgresql\" only");
  ExpectBadConfig(with({{"backend", "postgresql"}}), "store: backend \"postgresql\" needs key 'url'");
  if (!edge::sql::PostgresAvailable()) return;  // the URL cases need libpq
  for (const char* url : {"db.example/fleet", "postgresql://edge:s3cret@db.example:99999/fleet",
                          "postgresql://edge:s3c%zzret@db.example/fleet", "postgresql://edge:s3cret@db/fleet?sslmode=on"}) {
    INFO(url);
    TempDir dir;
    auto c = LoadControllerConfig(Write(dir, with({{"backend", "postgresql"}, {"url", url}})));
    REQUIRE_FALSE(c);
    CHECK(c.error().code == ErrorCode::kBadConfig);
    CHECK_THAT(c.error().message, Catch::Contains("store: url: "));
    CHECK_THAT(c.error().message, !Catch::Contains("s3cret") && !Catch::Contains("s3c%zzret"));
  }
}
