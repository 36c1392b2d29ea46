#include "common/metrics/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include <chrono>
#include <vector>

using namespace edge::metrics;

namespace {

// A TCP connection to loopback `port` (-1 if it failed).
int Connect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` as is; the whole response.
std::string Raw(uint16_t port, const std::string& request) {
  const int fd = Connect(port);
  std::string out;
  if (fd >= 0 && ::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  if (fd >= 0) ::close(fd);
  return out;
}

// One HTTP/1.0 GET on loopback; the whole response.
std::string Get(uint16_t port, const std::string& path) {
  return Raw(port, "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n");
}

}  // namespace

TEST_CASE("the endpoint serves what was counted at GET /metrics on the bound port") {
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
  auto first = Endpoint::Start(*ParseListenAddress("127.0.0.1:0"));
  REQUIRE(first);
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = Endpoint::Start(*ParseListenAddress(taken));
  REQUIRE_FALSE(second);
  CHECK(second.error().code == edge::ErrorCode::kBadConfig);
  CHECK(second.error().message.find(taken) != std::string::npos);
}

TEST_CASE("only GET or HEAD of /metrics, with bounded headers") {
  auto endpoint = Endpoint::Start(*ParseListenAddress("127.0.0.1:0"));
  REQUIRE(endpoint);
  const auto port = (*endpoint)->port();
  (*endpoint)->registry().Gauges("edgefleet_test_gauge", "g").With({}).Set(1);
  CHECK(Get(port, "/").find("404 Not Found") != std::string::npos);
  CHECK(Get(port, "/metrics?x=1").find("edgefleet_test_gauge 1") != std::string::npos);
  const auto head = Raw(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
  CHECK(head.find("200 OK") != std::string::npos);
  CHECK(head.find("edgefleet_test_gauge") == std::string::npos);
  CHECK(Raw(port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n").find("405") != std::string::npos);
  CHECK(Raw(port, "GET /metrics HTTP/1.0\r\nX: " + std::string(8000, 'a') + "\r\n\r\n").find("400 Bad Request") !=
        std::string::npos);
  CHECK(Raw(port, "PUT /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").find("40") != std::string::npos);
}

TEST_CASE("idle connections do not keep a scrape out") {
  auto endpoint = Endpoint::Start(*ParseListenAddress("127.0.0.1:0"));
  REQUIRE(endpoint);
  const auto port = (*endpoint)->port();
  (*endpoint)->registry().Counters("edgefleet_test_total", "c").With({}).Add(1);
  // More idle connections than the endpoint holds at once: each says nothing.
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) idle.push_back(Connect(port));
  const auto start = std::chrono::steady_clock::now();
  const auto body = Get(port, "/metrics");
  const auto took = std::chrono::steady_clock::now() - start;
  for (int fd : idle) ::close(fd);
  CHECK(body.find("edgefleet_test_total 1") != std::string::npos);
  CHECK(took < std::chrono::seconds(3));  // not after the idle ones' 5 s deadline
}
