#include "common/metrics/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "core/skip.h"

using namespace edge::metrics;

namespace {

// A TCP connection to the endpoint on loopback (-1 if it failed), reads limited to
// `timeout_s` seconds when not 0.
int Connect(uint16_t port, int timeout_s = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (timeout_s > 0) {
    timeval tv{timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  ::close(fd);
  return -1;
}

// One HTTP/1.0 GET on loopback; the whole response.
std::string Get(uint16_t port, const std::string& path, int timeout_s = 0) {
  const int fd = Connect(port, timeout_s);
  std::string out;
  if (fd < 0) return out;
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

TEST_CASE("the endpoint serves what was counted at GET /metrics on the bound port") {
  if (!EndpointBuilt()) EDGE_SKIP("built with EDGE_METRICS=OFF");
  auto endpoint = Endpoint::Start(*ParseListenAddress("127.0.0.1:0"));
  REQUIRE(endpoint);
  REQUIRE((*endpoint)->port() != 0);
  auto& registry = (*endpoint)->registry();
  registry.Counters("edgefleet_test_total", "a test counter").With({{"model", "kws"}}).Add(3);
  registry.Gauges("edgefleet_test_gauge", "a test gauge").With({}).Set(7);
  registry.Histograms("edgefleet_test_seconds", "a test histogram", {0.1, 1}).With({}).Observe(0.5);
  const std::string body = Get((*endpoint)->port(), "/metrics");
  CHECK(body.find("200 OK") != std::string::npos);
  CHECK(body.find("# HELP edgefleet_test_total a test counter") != std::string::npos);
  CHECK(body.find("edgefleet_test_total{model=\"kws\"} 3") != std::string::npos);
  CHECK(body.find("edgefleet_test_gauge 7") != std::string::npos);
  CHECK(body.find("edgefleet_test_seconds_bucket{le=\"1\"} 1") != std::string::npos);
  CHECK(body.find("edgefleet_test_seconds_count 1") != std::string::npos);
}

TEST_CASE("an address in use is an error naming it") {
  if (!EndpointBuilt()) EDGE_SKIP("built with EDGE_METRICS=OFF");
  auto first = Endpoint::Start(*ParseListenAddress("127.0.0.1:0"));
  REQUIRE(first);
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = Endpoint::Start(*ParseListenAddress(taken));
  REQUIRE_FALSE(second);
  CHECK(second.error().code == edge::ErrorCode::kBadConfig);
  CHECK(second.error().message.find(taken) != std::string::npos);
}

TEST_CASE("a build without metrics says so") {
  if (EndpointBuilt()) EDGE_SKIP("built with EDGE_METRICS=ON");
  auto endpoint = Endpoint::Start(*ParseListenAddress("127.0.0.1:0"));
  REQUIRE_FALSE(endpoint);
  CHECK(endpoint.error().message.find("EDGE_METRICS=OFF") != std::string::npos);
}

namespace {

// Connected to the endpoint, sending nothing: what a half-open or stalled client looks like to it.
int IdleConnection(uint16_t port) {
  const int fd = Connect(port);
  REQUIRE(fd >= 0);
  return fd;
}

// Seconds a GET /metrics takes to answer 200, up to `limit` (then `limit`).
double ScrapeSeconds(uint16_t port, int limit) {
  const auto start = std::chrono::steady_clock::now();
  const std::string out = Get(port, "/metrics", limit);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out.find("200 OK") != std::string::npos ? took : limit;
}

}  // namespace

TEST_CASE("idle connections delay a scrape only when they hold every thread and only for the request timeout") {
  if (!EndpointBuilt()) EDGE_SKIP("built with EDGE_METRICS=OFF");
  auto endpoint = Endpoint::Start(*ParseListenAddress("127.0.0.1:0"));
  REQUIRE(endpoint);
  const uint16_t port = (*endpoint)->port();
  std::vector<int> idle;
  // One thread fewer than the server has: a scrape is answered at once.
  for (int i = 0; i < kEndpointThreads - 1; ++i) idle.push_back(IdleConnection(port));
  CHECK(ScrapeSeconds(port, 20) < 1.0);
  // Every thread held: the scrape waits for the first idle connection's request timeout.
  idle.push_back(IdleConnection(port));
  const double held = ScrapeSeconds(port, 20);
  CHECK(held >= kEndpointRequestTimeoutMs / 1000.0 - 0.5);
  CHECK(held < kEndpointRequestTimeoutMs / 1000.0 + 2.0);
  for (int fd : idle) ::close(fd);
}
