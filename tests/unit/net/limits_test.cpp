#include <catch2/catch.hpp>

#include "common/tls/connect_timeouts.h"
#include "controller/net/limits.h"

using namespace edge;
using namespace edge::controller::net;

namespace {
ConnectionLimits Parse(const char* text) {
  auto l = ParseConnectionLimits(nlohmann::json::parse(text));
  REQUIRE(l);
  return *l;
}
std::string ParseError(const char* text) {
  auto l = ParseConnectionLimits(nlohmann::json::parse(text));
  REQUIRE_FALSE(l);
  CHECK(l.error().code == ErrorCode::kBadConfig);
  return l.error().message;
}
}  // namespace

TEST_CASE("Connection limits: defaults leave room for every listener and fit 65536 descriptors") {
  const auto l = Parse("{}");
  CHECK(l.ListenerMax(ListenerKind::kAgent) + l.ListenerMax(ListenerKind::kEnroll) +
            l.ListenerMax(ListenerKind::kOperator) <= l.max_connections);
  CHECK(FdsNeeded(l) <= 65536);
  CHECK_FALSE(l.max_connections_set);
  CHECK(LimitWarnings(l).empty());  // no single source can fill a listener
  auto narrow = l;
  narrow.listener_max_connections[2] = l.max_connections_per_source;
  REQUIRE(LimitWarnings(narrow).size() == 1);
  CHECK(LimitWarnings(narrow)[0].find("operator") != std::string::npos);
}

TEST_CASE("Connection limits: a first-bytes deadline too short for a slow gateway's enrollment handshake is warned of") {
  CHECK(Parse("{}").first_bytes_timeout_ms >= edge::tls::kSlowClientSetupTime.count());
  const auto warnings = LimitWarnings(Parse(R"({"first_bytes_timeout_ms": 2000})"));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("first_bytes_timeout_ms = 2000 is below 5000") != std::string::npos);
  CHECK(LimitWarnings(Parse(R"({"first_bytes_timeout_ms": 5000})")).empty());
}

TEST_CASE("Connection limits: keys are parsed, bad ones named") {
  const auto l = Parse(R"({"max_connections": 300, "agent_max_connections": 200, "max_connections_per_source": 7,
                          "accepts_per_second_per_source": 2.5, "idle_timeout_seconds": 60})");
  CHECK(l.max_connections == 300);
  CHECK(l.max_connections_set);
  CHECK(l.ListenerMax(ListenerKind::kAgent) == 200);
  CHECK(l.max_connections_per_source == 7);
  CHECK(l.accepts_per_second_per_source == 2.5);
  CHECK(ParseError(R"({"max_conections": 1})").find("unknown key 'max_conections'") != std::string::npos);
  CHECK(ParseError(R"({"max_connections": "many"})").find("max_connections") != std::string::npos);
  CHECK(ParseError(R"({"max_connections_per_source": 0})").find("out of range") != std::string::npos);
  CHECK(ParseError(R"({"max_connections": 10, "enroll_max_connections": 11})").find("above max_connections") !=
        std::string::npos);
  CHECK(ParseError(R"({"self_check_interval_ms": 1000, "self_check_timeout_ms": 1000})").find("below") !=
        std::string::npos);
  CHECK(ParseError(R"({"idle_timeout_seconds": 10})").find("keepalive") != std::string::npos);
}

TEST_CASE("Connection limits: default caps shrink to the descriptor limit, keeping their proportions") {
  const auto fitted = FitToFdLimit(Parse("{}"), 1024);
  REQUIRE(fitted);
  CHECK(FdsNeeded(*fitted) <= 1024);
  CHECK(FdsNeeded(*fitted) > 1024 - 8);  // as many as fit: one more would not
  CHECK(fitted->max_connections < ConnectionLimits{}.max_connections);
  CHECK(fitted->ListenerMax(ListenerKind::kAgent) > fitted->ListenerMax(ListenerKind::kEnroll));
  CHECK(fitted->ListenerMax(ListenerKind::kOperator) >= 1);
  CHECK(fitted->ListenerMax(ListenerKind::kAgent) + fitted->ListenerMax(ListenerKind::kEnroll) +
            fitted->ListenerMax(ListenerKind::kOperator) <= fitted->max_connections);
  // A generous limit changes nothing.
  const auto roomy = FitToFdLimit(Parse("{}"), 65536);
  REQUIRE(roomy);
  CHECK(roomy->max_connections == ConnectionLimits{}.max_connections);
}

TEST_CASE("Connection limits: an agent connection costs one descriptor, the others three, the costliest mix counts") {
  CHECK(FdsPerConnection(ListenerKind::kAgent) == 1);
  CHECK(FdsPerConnection(ListenerKind::kEnroll) == 3);
  CHECK(FdsPerConnection(ListenerKind::kOperator) == 3);
  // 100 connections, at most 50 of them spliced: 50 × 3 + 50 × 1.
  CHECK(FdsNeeded(Parse(R"({"max_connections": 100, "agent_max_connections": 100, "enroll_max_connections": 30,
                           "operator_max_connections": 20})")) == kReservedFds + 200);
  // Spliced caps that can fill max_connections alone: all of it at 3.
  CHECK(FdsNeeded(Parse(R"({"max_connections": 100, "agent_max_connections": 100, "enroll_max_connections": 100,
                           "operator_max_connections": 100})")) == kReservedFds + 300);
  // Listener caps below max_connections bound the mix too.
  CHECK(FdsNeeded(Parse(R"({"max_connections": 100, "agent_max_connections": 10, "enroll_max_connections": 10,
                           "operator_max_connections": 10})")) == kReservedFds + 70);
}

TEST_CASE("Connection limits: the defaults hold 10000 agents within 20000 descriptors") {
  const auto fitted = FitToFdLimit(Parse("{}"), 20000);
  REQUIRE(fitted);
  CHECK(fitted->ListenerMax(ListenerKind::kAgent) == 10000);
  CHECK(fitted->ListenerMax(ListenerKind::kEnroll) == 1000);
  CHECK(fitted->ListenerMax(ListenerKind::kOperator) == 512);
  CHECK(FdsNeeded(*fitted) == kReservedFds + 3 * (1000 + 512) + 10000);
  CHECK(FdsNeeded(*fitted) <= 20000);
}

TEST_CASE("Connection limits: explicit caps that cannot fit are a configuration error") {
  auto fitted = FitToFdLimit(Parse(R"({"max_connections": 5000})"), 1024);
  REQUIRE_FALSE(fitted);
  CHECK(fitted.error().code == ErrorCode::kBadConfig);
  CHECK(fitted.error().message.find("needs 8280 file descriptors") != std::string::npos);  // 256 + 3 × 1512 + 3488
  CHECK(fitted.error().message.find("LimitNOFILE") != std::string::npos);
  // An explicit listener cap above the shrunk default overall cap is named too.
  auto listener = FitToFdLimit(Parse(R"({"agent_max_connections": 2000})"), 1024);
  REQUIRE_FALSE(listener);
  CHECK(listener.error().message.find("agent_max_connections") != std::string::npos);
  // Too few descriptors for anything useful.
  CHECK_FALSE(FitToFdLimit(Parse("{}"), 200));
  // Explicit caps that fit are kept as given.
  auto ok = FitToFdLimit(Parse(R"({"max_connections": 200, "agent_max_connections": 150})"), 1024);
  REQUIRE(ok);
  CHECK(ok->max_connections == 200);
  CHECK(ok->ListenerMax(ListenerKind::kAgent) == 150);
  CHECK(ok->ListenerMax(ListenerKind::kOperator) <= 200);
}
