// The HTTP/2 guard on a client's bytes: honest gRPC traffic passes, rapid reset, stream and
// control-frame floods and CONTINUATION floods are cut, whatever the byte boundaries.
#include <catch2/catch.hpp>

#include "controller/net/h2_guard.h"

using namespace edge::controller::net;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, size_t length) {
  std::string f;
  f += static_cast<char>((length >> 16) & 0xff);
  f += static_cast<char>((length >> 8) & 0xff);
  f += static_cast<char>(length & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>((stream >> 24) & 0x7f);
  f += static_cast<char>((stream >> 16) & 0xff);
  f += static_cast<char>((stream >> 8) & 0xff);
  f += static_cast<char>(stream & 0xff);
  return f + std::string(length, 'x');
}

std::string Headers(uint32_t stream) { return Frame(0x1, 0x4, stream, 40); }
std::string Data(uint32_t stream) { return Frame(0x0, 0x1, stream, 100); }
std::string Reset(uint32_t stream) { return Frame(0x3, 0, stream, 4); }

const Clock::time_point guard_t0 = Clock::time_point{} + 1h;

}  // namespace

TEST_CASE("H2Guard passes an honest gRPC client's calls, fed a byte at a time", "[net][h2]") {
  H2Guard guard;
  std::string bytes = kPreface + Frame(0x4, 0, 0, 18) + Frame(0x4, 0x1, 0, 0) + Frame(0x8, 0, 0, 4);
  for (uint32_t s = 1; s <= 7; s += 2) bytes += Headers(s) + Data(s) + Frame(0x8, 0, s, 4);
  bytes += Frame(0x6, 0, 0, 8) + Reset(9 - 2);  // one ping, one cancelled call
  for (char c : bytes) REQUIRE(guard.Feed(std::string_view(&c, 1), guard_t0) == "");
  CHECK(guard.streams() == 4);
  CHECK(guard.resets() == 1);
}

TEST_CASE("H2Guard closes a connection that is not HTTP/2", "[net][h2]") {
  H2Guard guard;
  CHECK(guard.Feed("GET / HTTP/1.1\r\n\r\n", guard_t0) == "not an HTTP/2 client preface");
  CHECK_FALSE(guard.Feed(kPreface, guard_t0).empty());  // stays closed
}

TEST_CASE("H2Guard cuts rapid reset after a few resets", "[net][h2]") {
  H2Guard guard;
  REQUIRE(guard.Feed(kPreface, guard_t0) == "");
  std::string why;
  uint32_t s = 1;
  for (; s < 1000 && why.empty(); s += 2) why = guard.Feed(Headers(s) + Data(s) + Reset(s), guard_t0 + std::chrono::milliseconds(s * 200));
  CHECK_THAT(why, Catch::Contains("stream resets"));
  CHECK(guard.resets() == 9);
}

TEST_CASE("H2Guard cuts streams opened faster than its rate, without resets", "[net][h2]") {
  H2Guard guard;
  REQUIRE(guard.Feed(kPreface, guard_t0) == "");
  std::string why;
  int opened = 0;
  for (uint32_t s = 1; s < 200 && why.empty(); s += 2, ++opened) why = guard.Feed(Headers(s), guard_t0);
  CHECK_THAT(why, Catch::Contains("streams opened faster"));
  CHECK(opened == 17);
  // At the rate, a long-lived connection may open many streams.
  H2Guard slow;
  REQUIRE(slow.Feed(kPreface, guard_t0) == "");
  for (uint32_t i = 0; i < 100; ++i) REQUIRE(slow.Feed(Headers(2 * i + 1), guard_t0 + std::chrono::milliseconds(300 * i)) == "");
}

TEST_CASE("H2Guard cuts PING and SETTINGS floods", "[net][h2]") {
  for (uint8_t type : {uint8_t{0x6}, uint8_t{0x4}}) {
    H2Guard guard;
    REQUIRE(guard.Feed(kPreface, guard_t0) == "");
    std::string why;
    int sent = 0;
    for (; sent < 1000 && why.empty(); ++sent) why = guard.Feed(Frame(type, 0, 0, 8), guard_t0 + std::chrono::milliseconds(sent));
    CHECK_THAT(why, Catch::Contains("control frames"));
    CHECK(sent == 33);
  }
}

TEST_CASE("H2Guard cuts CONTINUATION floods and frames inside a header block", "[net][h2]") {
  H2Guard guard;
  REQUIRE(guard.Feed(kPreface, guard_t0) == "");
  std::string why = guard.Feed(Frame(0x1, 0, 1, 1000), guard_t0);  // HEADERS without END_HEADERS
  REQUIRE(why == "");
  for (int i = 0; i < 100 && why.empty(); ++i) why = guard.Feed(Frame(0x9, 0, 1, 1000), guard_t0);
  CHECK_THAT(why, Catch::Contains("header block over"));
  H2Guard interleaved;
  REQUIRE(interleaved.Feed(kPreface + Frame(0x1, 0, 1, 10), guard_t0) == "");
  CHECK(interleaved.Feed(Data(1), guard_t0) == "a frame inside a header block");
}
