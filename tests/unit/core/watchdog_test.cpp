// The systemd adapter speaks the real notify protocol: a unix datagram socket named by
// NOTIFY_SOCKET receives READY=1 and periodic WATCHDOG=1 from the daemon's loop.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "common/systemd/notify.h"

namespace {

struct NotifySocket {
  int fd = -1;
  std::string path;
  NotifySocket() {
    path = (std::filesystem::temp_directory_path() / ("edge-notify-" + std::to_string(getpid()))).string();
    ::unlink(path.c_str());
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~NotifySocket() {
    ::close(fd);
    ::unlink(path.c_str());
  }
  std::string DrainAll() {
    std::string all;
    char buf[256];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      all.append(buf, static_cast<size_t>(n)).append("\n");
    }
    return all;
  }
};

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("systemd watchdog pings from the event loop at half the interval", "[systemd]") {
  NotifySocket sock;
  ::setenv("NOTIFY_SOCKET", sock.path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "100000", 1);  // 100 ms → a ping every 50 ms
  ::setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  boost::asio::io_context io;
  edge::systemd::Watchdog watchdog(io);
  watchdog.Start();
  edge::systemd::NotifyReady();
  // Few enough datagrams to stay under the kernel's queue limit (net.unix.max_dgram_qlen, 10):
  // this test reads only at the end, and a full queue blocks the sender.
  io.run_for(std::chrono::milliseconds(160));
  const auto got = sock.DrainAll();
  CHECK(Count(got, "READY=1") == 1);
  // About four pings in 160 ms; two show that it repeats, with slack for a loaded machine.
  CHECK(Count(got, "WATCHDOG=1") >= 2);
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
}

TEST_CASE("systemd watchdog is silent when systemd did not ask for it", "[systemd]") {
  NotifySocket sock;
  ::setenv("NOTIFY_SOCKET", sock.path.c_str(), 1);
  ::unsetenv("WATCHDOG_USEC");
  boost::asio::io_context io;
  edge::systemd::Watchdog watchdog(io);
  watchdog.Start();
  io.run_for(std::chrono::milliseconds(30));
  CHECK(Count(sock.DrainAll(), "WATCHDOG=1") == 0);
  ::unsetenv("NOTIFY_SOCKET");
}
