#include <catch2/catch.hpp>

#include <map>

#include <sys/socket.h>
#include <unistd.h>

#include "controller/net/handed_off.h"

using namespace edge::controller::net;

namespace {

// The descriptors of a fake process: fd → cookie of the socket it names (absent: closed).
struct FakeFds {
  std::map<int, uint64_t> sockets;
  HandedOffConnections::CookieOf cookie_of() {
    return [this](int fd) -> std::optional<uint64_t> {
      auto it = sockets.find(fd);
      if (it == sockets.end()) return std::nullopt;
      return it->second;
    };
  }
};

HandedOff From(const char* source) { return HandedOff{ListenerKind::kAgent, source}; }

}  // namespace

TEST_CASE("Handed-off connections: open sockets stay, closed ones are returned once") {
  FakeFds fds;
  HandedOffConnections table;
  fds.sockets = {{7, 100}, {8, 101}};
  CHECK_FALSE(table.Add(7, 100, From("10.0.0.1")));
  CHECK_FALSE(table.Add(8, 101, From("10.0.0.2")));
  CHECK(table.Sweep(fds.cookie_of()).empty());
  CHECK(table.size() == 2);
  fds.sockets.erase(8);  // gRPC closed it
  auto closed = table.Sweep(fds.cookie_of());
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].source_key == "10.0.0.2");
  CHECK(closed[0].listener == ListenerKind::kAgent);
  CHECK(table.size() == 1);
  CHECK(table.Sweep(fds.cookie_of()).empty());
}

TEST_CASE("Handed-off connections: a descriptor number reused for another socket is a closed connection") {
  FakeFds fds;
  HandedOffConnections table;
  fds.sockets = {{7, 100}};
  table.Add(7, 100, From("10.0.0.1"));
  fds.sockets[7] = 555;  // closed by gRPC, the number taken by a socket of someone else
  auto closed = table.Sweep(fds.cookie_of());
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].source_key == "10.0.0.1");
  CHECK(table.size() == 0);
}

TEST_CASE("Handed-off connections: handing off a number still recorded returns the earlier connection") {
  FakeFds fds;
  HandedOffConnections table;
  fds.sockets = {{7, 100}};
  table.Add(7, 100, From("10.0.0.1"));
  // Closed and reused before any sweep saw it: the new hand-off on 7 tells.
  fds.sockets[7] = 200;
  auto earlier = table.Add(7, 200, From("10.0.0.9"));
  REQUIRE(earlier);
  CHECK(earlier->source_key == "10.0.0.1");
  CHECK(table.size() == 1);
  CHECK(table.Sweep(fds.cookie_of()).empty());  // the new one is open
  fds.sockets.erase(7);
  auto closed = table.Sweep(fds.cookie_of());
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].source_key == "10.0.0.9");
}

TEST_CASE("Socket cookies: distinct per socket, none for a closed descriptor or a file") {
  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
  auto a = SocketCookie(pair[0]);
  auto b = SocketCookie(pair[1]);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  CHECK(SocketCookie(pair[0]) == a);  // stable
  close(pair[0]);
  close(pair[1]);
  CHECK_FALSE(SocketCookie(pair[0]));
  CHECK_FALSE(SocketCookie(-1));
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  CHECK_FALSE(SocketCookie(pipe_fds[0]));
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}
