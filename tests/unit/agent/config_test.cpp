#include "agent/daemon/config.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/temp_dir.h"

using edge::ErrorCode;
using edge::agent::LoadAgentConfig;
using edge::testing::TempDir;

namespace {

nlohmann::json Minimal() {
  return {{"device_name", "edge-01"},
          {"controller", "ctl.example:7443"},
          {"ca_file", "/etc/edge-agent/fleet-ca.pem"},
          {"release_root_public_key", "/etc/edge-agent/release-root.pub"}};
}

std::filesystem::path Write(const TempDir& dir, const nlohmann::json& j) {
  const auto path = dir / "agent.json";
  std::ofstream(path) << j.dump(2);
  return path;
}

void ExpectBadConfig(const nlohmann::json& j, const std::string& needle) {
  TempDir dir;
  const auto path = Write(dir, j);
  auto c = LoadAgentConfig(path);
  REQUIRE_FALSE(c);
  CHECK(c.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(c.error().message, Catch::Contains(needle) && Catch::Contains(path.string()));
}

}  // namespace

TEST_CASE("Agent config: a minimal config parses with defaults", "[agent_config]") {
  TempDir dir;
  auto c = LoadAgentConfig(Write(dir, Minimal()));
  REQUIRE(c);
  CHECK(c->device_name == "edge-01");
  CHECK(c->controllers == std::vector<std::string>{"ctl.example:7443"});
  CHECK(c->enroll_endpoints == std::vector<std::string>{"ctl.example:7443"});  // defaults to the controller
  CHECK(c->ca_file == "/etc/edge-agent/fleet-ca.pem");
  CHECK(c->release_root_public_key == "/etc/edge-agent/release-root.pub");
  CHECK(c->state_dir == "/var/lib/edge-agent");
  CHECK(c->report_interval_seconds == 5);
  CHECK(c->min_free_bytes == 64LL << 20);
  CHECK(c->inference_socket == "/run/edge-agent/infer.sock");
  CHECK(c->inference_socket_mode == 0660);
  CHECK(c->inference_tcp.empty());
  CHECK(c->probation_max_error_rate == 0.01);
  CHECK(c->probation_min_requests == 20);
  CHECK(c->probation_max_restarts == 2);
  CHECK(c->download_rate_limit == 0);
  CHECK(c->backoff_initial_ms == 500);
  CHECK(c->connect_timeout_ms == 10000);  // sized for a Pi-class CPU behind a 300 ms link
  CHECK(c->backoff_max_ms == 30000);
  CHECK(c->log_level == "info");
}

TEST_CASE("Agent config: every key is read", "[agent_config]") {
  TempDir dir;
  auto j = Minimal();
  j["state_dir"] = "/srv/agent";
  j["enroll_endpoint"] = "ctl.example:7444";
  j["enrollment_token_file"] = "/run/token";
  j["report_interval_seconds"] = 30;
  j["min_free_bytes"] = 1024;
  j["download_rate_limit"] = 100000;
  j["backoff_initial_ms"] = 10;
  j["backoff_max_ms"] = 60000;
  j["connect_timeout_ms"] = 30000;
  j["log_level"] = "debug";
  auto c = LoadAgentConfig(Write(dir, j));
  REQUIRE(c);
  CHECK(c->state_dir == "/srv/agent");
  CHECK(c->enroll_endpoints == std::vector<std::string>{"ctl.example:7444"});
  CHECK(c->enrollment_token_file == "/run/token");
  CHECK(c->report_interval_seconds == 30);
  CHECK(c->min_free_bytes == 1024);
  CHECK(c->download_rate_limit == 100000);
  CHECK(c->backoff_initial_ms == 10);
  CHECK(c->backoff_max_ms == 60000);
  CHECK(c->connect_timeout_ms == 30000);
  CHECK(c->log_level == "debug");
}

TEST_CASE("Agent config: several controllers, as a list or an array, each tried in turn", "[agent_config]") {
  TempDir dir;
  auto j = Minimal();
  j["controller"] = "ctl-a:7443, ctl-b:7443,ctl-c:7443";
  auto c = LoadAgentConfig(Write(dir, j));
  REQUIRE(c);
  CHECK(c->controllers == std::vector<std::string>{"ctl-a:7443", "ctl-b:7443", "ctl-c:7443"});
  CHECK(c->enroll_endpoints == c->controllers);
  j["enroll_endpoint"] = nlohmann::json::array({"ctl-a:7444", "ctl-b:7444"});
  c = LoadAgentConfig(Write(dir, j));
  REQUIRE(c);
  CHECK(c->enroll_endpoints == std::vector<std::string>{"ctl-a:7444", "ctl-b:7444"});
  j["controller"] = "ctl-a:7443,,ctl-b:7443";
  ExpectBadConfig(j, "key 'controller': empty address in the list");
  j["controller"] = "ctl-a:7443,ctl-a:7443";
  ExpectBadConfig(j, "address 'ctl-a:7443' is listed twice");
  j["controller"] = nlohmann::json::array();
  ExpectBadConfig(j, "key 'controller' must be an address");
  j["controller"] = nlohmann::json::array({"ctl-a:7443", 7443});
  ExpectBadConfig(j, "key 'controller' must be an array of addresses");
}

TEST_CASE("Agent config: an unknown key is rejected by name", "[agent_config]") {
  auto j = Minimal();
  j["controler"] = "typo:1";
  ExpectBadConfig(j, "unknown key 'controler'");
}

TEST_CASE("Agent config: missing required keys are named", "[agent_config]") {
  for (const char* key : {"device_name", "controller", "ca_file", "release_root_public_key"}) {
    INFO(key);
    auto j = Minimal();
    j.erase(key);
    ExpectBadConfig(j, std::string("missing required key '") + key + "'");
  }
}

TEST_CASE("Agent config: wrong types are named", "[agent_config]") {
  auto j = Minimal();
  j["device_name"] = 5;
  ExpectBadConfig(j, "'device_name' must be a string");
  j = Minimal();
  j["report_interval_seconds"] = "10";
  ExpectBadConfig(j, "'report_interval_seconds' must be an integer");
  j = Minimal();
  j["backoff_max_ms"] = 1.5;
  ExpectBadConfig(j, "'backoff_max_ms' must be an integer");
}

TEST_CASE("Agent config: out of range values are rejected", "[agent_config]") {
  auto j = Minimal();
  j["report_interval_seconds"] = 0;
  ExpectBadConfig(j, "'report_interval_seconds' = 0 is out of range");
  j = Minimal();
  j["report_interval_seconds"] = 3601;
  ExpectBadConfig(j, "out of range");
  j = Minimal();
  j["min_free_bytes"] = -1;
  ExpectBadConfig(j, "'min_free_bytes' = -1 is out of range");
  j = Minimal();
  j["backoff_initial_ms"] = 9;
  ExpectBadConfig(j, "'backoff_initial_ms'");
  // gRPC gives a connection attempt at least 100 ms whatever it is told; above a minute a
  // dead controller would hold each reconnect that long.
  j = Minimal();
  j["connect_timeout_ms"] = 99;
  ExpectBadConfig(j, "key 'connect_timeout_ms' = 99 is out of range [100, 60000]");
  j = Minimal();
  j["connect_timeout_ms"] = 60001;
  ExpectBadConfig(j, "key 'connect_timeout_ms' = 60001 is out of range [100, 60000]");
}

TEST_CASE("Agent config: invalid device name and conflicting token settings", "[agent_config]") {
  auto j = Minimal();
  j["device_name"] = "bad name/with slash";
  ExpectBadConfig(j, "device_name");
  j = Minimal();
  j["enrollment_token"] = "abc";
  j["enrollment_token_file"] = "/run/token";
  ExpectBadConfig(j, "not both");
}

TEST_CASE("Agent config: not JSON and not an object", "[agent_config]") {
  TempDir dir;
  const auto path = dir / "agent.json";
  std::ofstream(path) << "device_name = edge-01";
  auto c = LoadAgentConfig(path);
  REQUIRE_FALSE(c);
  CHECK(c.error().code == ErrorCode::kBadConfig);
  ExpectBadConfig(nlohmann::json::array({1}), "must be a JSON object");
}

TEST_CASE("Agent config: initial backoff may not exceed the maximum", "[agent_config]") {
  auto j = Minimal();
  j["backoff_initial_ms"] = 5000;
  j["backoff_max_ms"] = 1000;
  ExpectBadConfig(j, "backoff_initial_ms (5000) must not exceed backoff_max_ms (1000)");
}

TEST_CASE("Agent config: required keys may not be empty", "[agent_config]") {
  auto j = Minimal();
  j["controller"] = "";
  ExpectBadConfig(j, "'controller' must not be empty");
}

TEST_CASE("Agent config: inference and probation settings", "[agent_config]") {
  TempDir dir;
  auto j = Minimal();
  j["inference_socket"] = "/run/x/infer.sock";
  j["inference_socket_mode"] = "0600";
  j["inference_tcp"] = "127.0.0.1:8001";
  j["probation_max_error_rate"] = 0.05;
  j["probation_min_requests"] = 100;
  auto c = LoadAgentConfig(Write(dir, j));
  REQUIRE(c);
  CHECK(c->inference_socket == "/run/x/infer.sock");
  CHECK(c->inference_socket_mode == 0600);
  CHECK(c->inference_tcp == "127.0.0.1:8001");
  CHECK(c->probation_max_error_rate == 0.05);
  CHECK(c->probation_min_requests == 100);

  j = Minimal();
  j["inference_socket_mode"] = "0666";
  ExpectBadConfig(j, "lets every local user call the model");
  j = Minimal();
  j["inference_socket_mode"] = "rw-rw----";
  ExpectBadConfig(j, "must be an octal mode");
  j = Minimal();
  j["probation_max_error_rate"] = 1.5;
  ExpectBadConfig(j, "'probation_max_error_rate' = 1.5 is out of range");
  j = Minimal();
  j["probation_max_error_rate"] = "1%";
  ExpectBadConfig(j, "'probation_max_error_rate' must be a number");
}

TEST_CASE("Agent config: the shipped example parses", "[agent_config]") {
  auto c = LoadAgentConfig(EDGE_EXAMPLE_AGENT_CONFIG);
  REQUIRE(c);
  CHECK(c->inference_socket == "/run/edge-agent/infer.sock");
  CHECK(c->inference_socket_mode == 0660);
}

TEST_CASE("Agent config: metrics_listen is off by default and must be a numeric address", "[agent_config]") {
  TempDir dir;
  CHECK(LoadAgentConfig(Write(dir, Minimal()))->metrics_listen.empty());
  for (const char* good : {"127.0.0.1:9465", "[::1]:0", "0.0.0.0:9465"}) {
    auto j = Minimal();
    j["metrics_listen"] = good;
    auto c = LoadAgentConfig(Write(dir, j));
    REQUIRE(c);
    CHECK(c->metrics_listen == good);
  }
  for (auto [bad, why] : {std::pair{"gateway:9465", "metrics_listen: 'gateway:9465'"},
                          {"127.0.0.1:65536", "has an invalid port"}, {"9465", "has no port"}}) {
    auto j = Minimal();
    j["metrics_listen"] = bad;
    ExpectBadConfig(j, why);
  }
}

TEST_CASE("Agent config: a FIFO as the config or a key file is refused without blocking", "[agent_config]") {
  TempDir dir;
  const auto fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);  // nobody writes to it: a blocking open would hang
  auto config = LoadAgentConfig(fifo);
  REQUIRE_FALSE(config);
  CHECK(config.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(config.error().message, Catch::Contains(fifo.string() + " is a FIFO (named pipe), not a regular file"));
  auto j = Minimal();
  j["release_root_public_key"] = fifo.string();
  auto loaded = LoadAgentConfig(Write(dir, j));
  REQUIRE(loaded);
  auto root = edge::agent::LoadReleaseRoot(*loaded);
  REQUIRE_FALSE(root);
  CHECK(root.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(root.error().message, Catch::Contains("release_root_public_key: " + fifo.string() + " is a FIFO"));
}
