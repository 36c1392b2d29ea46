#include <catch2/catch.hpp>

#include "controller/net/peer_directory.h"

using namespace edge::controller::net;

TEST_CASE("Peer directory: the front's port is read from gRPC's peer string, nothing else") {
  CHECK(FrontPortOfGrpcPeer("ipv4:127.0.0.1:54321") == uint16_t{54321});
  CHECK_FALSE(FrontPortOfGrpcPeer("ipv4:10.0.0.1:54321"));
  CHECK_FALSE(FrontPortOfGrpcPeer("ipv6:[::1]:54321"));
  CHECK_FALSE(FrontPortOfGrpcPeer("ipv4:127.0.0.1:"));
  CHECK_FALSE(FrontPortOfGrpcPeer("ipv4:127.0.0.1:70000"));
  CHECK_FALSE(FrontPortOfGrpcPeer("ipv4:127.0.0.1:12x"));
  CHECK_FALSE(FrontPortOfGrpcPeer("unix:/tmp/x"));
}

TEST_CASE("Peer directory: lookup and close by listener and port") {
  PeerDirectory d;
  int closed = 0;
  d.Add(ListenerKind::kEnroll, 40000, ClientAddress{"203.0.113.7", 5000, "203.0.113.7"}, [&] { ++closed; });
  d.Add(ListenerKind::kAgent, 40000, ClientAddress{"2001:db8::1", 6000, "2001:db8::/64"}, [] {});
  auto enroll = d.OriginalPeer(ListenerKind::kEnroll, "ipv4:127.0.0.1:40000");
  REQUIRE(enroll);
  CHECK(enroll->ToString() == "203.0.113.7:5000");
  auto agent = d.OriginalPeer(ListenerKind::kAgent, "ipv4:127.0.0.1:40000");
  REQUIRE(agent);
  CHECK(agent->ToString() == "[2001:db8::1]:6000");
  CHECK_FALSE(d.OriginalPeer(ListenerKind::kOperator, "ipv4:127.0.0.1:40000"));
  CHECK(d.CloseConnection(ListenerKind::kEnroll, "ipv4:127.0.0.1:40000"));
  CHECK(closed == 1);
  d.Remove(ListenerKind::kEnroll, 40000);
  CHECK_FALSE(d.OriginalPeer(ListenerKind::kEnroll, "ipv4:127.0.0.1:40000"));
  CHECK_FALSE(d.CloseConnection(ListenerKind::kEnroll, "ipv4:127.0.0.1:40000"));
  CHECK(d.size() == 1);
}
