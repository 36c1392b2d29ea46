#include "common/metrics/listen_address.h"

#include <catch2/catch.hpp>

using namespace edge::metrics;

TEST_CASE("metrics listen addresses: numeric hosts with a port") {
  auto v4 = ParseListenAddress("127.0.0.1:9464");
  REQUIRE(v4);
  CHECK(v4->loopback);
  CHECK(v4->port == 9464);
  CHECK(v4->ToString() == "127.0.0.1:9464");
  auto v6 = ParseListenAddress("[::1]:0");
  REQUIRE(v6);
  CHECK(v6->loopback);
  CHECK(v6->ipv6);
  CHECK(v6->ToString() == "[::1]:0");
  auto any = ParseListenAddress("0.0.0.0:9464");
  REQUIRE(any);
  CHECK_FALSE(any->loopback);
  CHECK(ParseListenAddress("127.3.4.5:1")->loopback);
  CHECK_FALSE(ParseListenAddress("10.0.0.1:9464")->loopback);
}

TEST_CASE("metrics listen addresses: names and malformed text are refused") {
  for (const char* text :
       {"localhost:9464", "metrics.example:9464", "9464", "127.0.0.1:", "127.0.0.1:99999",
        "127.0.0.1:-1", "[::1:9464", "[zz]:9464", "", ":9464", "127.0.0.1:9464s"}) {
    INFO(text);
    auto parsed = ParseListenAddress(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == edge::ErrorCode::kBadConfig);
    CHECK(parsed.error().message.find(std::string("'") + text + "'") != std::string::npos);
  }
}
