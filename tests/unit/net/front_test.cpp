// The front on real loopback sockets: an echo server stands in for gRPC's internal port.
#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "controller/net/front.h"
#include "controller/net/tls_probe.h"

using namespace edge::controller::net;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Echoes every byte; remembers the peer string gRPC would report for the last connection.
class EchoServer {
 public:
  EchoServer() : acceptor_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~EchoServer() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string last_peer() {
    std::lock_guard lock(mu_);
    return last_peer_;
  }

 private:
  void Accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
      if (ec) {  // EMFILE in the fd test: try again shortly
        auto t = std::make_shared<asio::steady_timer>(io_, 50ms);
        t->async_wait([this, t](const boost::system::error_code&) { Accept(); });
        return;
      }
      {
        std::lock_guard lock(mu_);
        last_peer_ = "ipv4:127.0.0.1:" + std::to_string(s.remote_endpoint().port());
      }
      Echo(std::make_shared<tcp::socket>(std::move(s)));
      Accept();
    });
  }
  void Echo(std::shared_ptr<tcp::socket> s) {
    auto buf = std::make_shared<std::array<char, 4096>>();
    s->async_read_some(asio::buffer(*buf), [this, s, buf](const boost::system::error_code& ec, size_t n) {
      if (ec) return;
      asio::async_write(*s, asio::buffer(buf->data(), n),
                        [this, s, buf](const boost::system::error_code& wec, size_t) {
                          if (!wec) Echo(s);
                        });
    });
  }
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mu_;
  std::string last_peer_;
};

// A blocking client socket from `source` (any 127.x address), with a receive timeout.
// `bound` sees it once it has its local port, before it connects.
int Connect(uint16_t port, const char* source = "127.0.0.1", const std::function<void(int)>& bound = {}) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source, &local.sin_addr);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
  if (bound) bound(fd);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  return fd;
}

uint16_t LocalPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// "echo" when the connection echoes, "closed" when the front closed or reset it.
std::string Exchange(int fd, const std::string& text = "ping") {
  if (send(fd, text.data(), text.size(), MSG_NOSIGNAL) < 0) return "closed";
  std::string got;
  while (got.size() < text.size()) {
    char buf[4096];
    const auto n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return errno == EAGAIN && n < 0 ? "timeout" : "closed";
    got.append(buf, static_cast<size_t>(n));
  }
  return got == text ? "echo" : "garbled";
}

// Waits (up to 2 s) until the front has closed `fd` without our sending anything.
bool ClosedByPeer(int fd) {
  char c;
  const auto n = recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

template <typename F>
bool WaitUntil(F f, std::chrono::milliseconds timeout = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!f()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

ConnectionLimits TestLimits() {
  ConnectionLimits l;
  l.max_connections = 50;
  l.listener_max_connections[0] = 50;
  l.max_connections_per_source = 2;
  l.first_bytes_timeout_ms = 300;
  return l;
}

}  // namespace

TEST_CASE("Front: splices both ways, names the client behind a gRPC peer, closes on request") {
  EchoServer echo;
  ConnectionFront front(TestLimits());
  auto endpoint = front.AddListener(ListenerKind::kAgent, "127.0.0.1:0", echo.port());
  REQUIRE(endpoint);
  front.Start();
  const int fd = Connect(endpoint->port);
  CHECK(Exchange(fd, "hello") == "echo");
  CHECK(Exchange(fd, std::string(3000, 'x')) == "echo");
  const auto peer = echo.last_peer();
  auto client = front.peers().OriginalPeer(ListenerKind::kAgent, peer);
  REQUIRE(client);
  CHECK(client->address == "127.0.0.1");
  CHECK(client->port == LocalPort(fd));
  CHECK_FALSE(front.peers().OriginalPeer(ListenerKind::kEnroll, peer));
  CHECK(front.stats().active == 1);
  CHECK(front.peers().CloseConnection(ListenerKind::kAgent, peer));
  CHECK(ClosedByPeer(fd));
  CHECK(WaitUntil([&] { return front.stats().active == 0; }));
  CHECK_FALSE(front.peers().OriginalPeer(ListenerKind::kAgent, peer));
  close(fd);
}

TEST_CASE("Front: over the per-source cap a connection is closed at once, other sources still get in") {
  EchoServer echo;
  ConnectionFront front(TestLimits());
  auto endpoint = front.AddListener(ListenerKind::kAgent, "127.0.0.1:0", echo.port());
  REQUIRE(endpoint);
  front.Start();
  const int a = Connect(endpoint->port, "127.0.0.2");
  const int b = Connect(endpoint->port, "127.0.0.2");
  CHECK(Exchange(a) == "echo");
  CHECK(Exchange(b) == "echo");
  const int c = Connect(endpoint->port, "127.0.0.2");
  CHECK(Exchange(c) == "closed");
  const int d = Connect(endpoint->port, "127.0.0.3");
  CHECK(Exchange(d) == "echo");
  CHECK(front.stats().refused == 1);
  for (int fd : {a, b, c, d}) close(fd);
  CHECK(WaitUntil([&] { return front.stats().active == 0; }));
  const int e = Connect(endpoint->port, "127.0.0.2");  // slots come back when connections end
  CHECK(Exchange(e) == "echo");
  close(e);
}

TEST_CASE("Front: a connection that sends nothing is cut at the first-bytes deadline, before reaching gRPC") {
  EchoServer echo;
  ConnectionFront front(TestLimits());
  auto endpoint = front.AddListener(ListenerKind::kAgent, "127.0.0.1:0", echo.port());
  REQUIRE(endpoint);
  front.Start();
  const auto start = std::chrono::steady_clock::now();
  const int fd = Connect(endpoint->port);
  CHECK(ClosedByPeer(fd));
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= 250ms);
  CHECK(waited < 1500ms);
  CHECK(front.stats().timed_out == 1);
  CHECK(echo.last_peer().empty());  // no connection to the internal port was made
  close(fd);
}

TEST_CASE("Front: the accept loop survives EMFILE and accepts again once descriptors are free") {
  EchoServer echo;
  ConnectionFront front(TestLimits());
  auto endpoint = front.AddListener(ListenerKind::kAgent, "127.0.0.1:0", echo.port());
  REQUIRE(endpoint);
  front.Start();
  const int client = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(client >= 0);
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit low = saved;
  low.rlim_cur = 256;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::vector<int> filler;
  for (int fd; (fd = open("/dev/null", O_RDONLY)) >= 0;) filler.push_back(fd);
  REQUIRE(errno == EMFILE);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(endpoint->port);
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);  // the kernel's backlog
  CHECK(WaitUntil([&] { return front.stats().accept_errors >= 2; }));          // failed, paused, failed again
  for (int fd : filler) close(fd);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  timeval tv{2, 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  CHECK(Exchange(client) == "echo");
  CHECK(front.stats().accepted == 1);
  close(client);
}

namespace {

// Stands in for gRPC's external connection acceptor: keeps what the front hands over.
class HandoffSink {
 public:
  Handoff handoff() {
    return [this](int listener_fd, int fd, std::string first_bytes) {
      std::lock_guard lock(mu_);
      taken_.push_back({listener_fd, fd, std::move(first_bytes)});
    };
  }
  struct Taken {
    int listener_fd;
    int fd;
    std::string first_bytes;
  };
  std::vector<Taken> taken() {
    std::lock_guard lock(mu_);
    return taken_;
  }

 private:
  std::mutex mu_;
  std::vector<Taken> taken_;
};

// A started front with one handoff listener (agent) in front of a sink.
struct HandoffFront {
  HandoffFront() {
    auto bound = front.AddHandoffListener(ListenerKind::kAgent, "127.0.0.1:0", sink.handoff());
    REQUIRE(bound);
    port = bound->port;
    front.Start();
  }
  HandoffSink sink;
  ConnectionFront front{TestLimits()};  // 2 per source
  uint16_t port = 0;
};

}  // namespace

TEST_CASE("Front: hands a connection over with its first bytes and frees its slot once the socket is closed") {
  HandoffFront f;
  auto& sink = f.sink;
  auto& front = f.front;
  const uint16_t port = f.port;
  const int a = Connect(port, "127.0.0.2");
  const int b = Connect(port, "127.0.0.2");
  REQUIRE(send(a, "hello", 5, MSG_NOSIGNAL) == 5);
  REQUIRE(send(b, "there", 5, MSG_NOSIGNAL) == 5);
  REQUIRE(WaitUntil([&] { return sink.taken().size() == 2; }));
  auto taken = sink.taken();
  for (const auto& t : taken) {
    CHECK(t.listener_fd >= 0);
    CHECK((t.first_bytes == "hello" || t.first_bytes == "there"));
  }
  // The descriptor is the client's connection itself: what is written on it reaches the client.
  const int a_fd = taken[0].first_bytes == "hello" ? taken[0].fd : taken[1].fd;
  const int b_fd = a_fd == taken[0].fd ? taken[1].fd : taken[0].fd;
  REQUIRE(send(a_fd, "welcome", 7, MSG_NOSIGNAL) == 7);
  char got[7];
  REQUIRE(recv(a, got, sizeof got, MSG_WAITALL) == 7);
  CHECK(std::string(got, 7) == "welcome");
  CHECK(front.stats().active == 2);
  CHECK(front.stats().handed_off == 2);
  // The source's two slots are held: a third connection is refused.
  const int c = Connect(port, "127.0.0.2");
  CHECK(ClosedByPeer(c));
  CHECK(front.stats().refused == 1);
  // What gRPC does when it is done with a connection: close the descriptor. A new connection
  // that finds the cap full makes the front check at once (at most once a second), and frees
  // the slot.
  close(a_fd);
  std::this_thread::sleep_for(1100ms);
  const int d = Connect(port, "127.0.0.2");
  REQUIRE(send(d, "again", 5, MSG_NOSIGNAL) == 5);
  CHECK(WaitUntil([&] { return sink.taken().size() == 3; }));
  CHECK(sink.taken()[2].first_bytes == "again");
  CHECK(front.stats().handed_off == 2);
  CHECK(front.stats().refused == 1);
  // Without new connections, the periodic check (every 5 s) frees the slots too.
  for (int fd : {a, b, c, d, b_fd, sink.taken()[2].fd}) close(fd);
  CHECK(WaitUntil([&] { return front.stats().active == 0; }, 7000ms));
  CHECK(front.stats().handed_off == 0);
}

TEST_CASE("Front: the self-check's probe is handed over without holding a slot") {
  HandoffFront f;
  auto& sink = f.sink;
  auto& front = f.front;
  const uint16_t port = f.port;
  const int fd = Connect(port, "127.0.0.1", [&](int bound) { front.ExpectProbe({"127.0.0.1", LocalPort(bound)}); });
  REQUIRE(send(fd, "probe", 5, MSG_NOSIGNAL) == 5);
  REQUIRE(WaitUntil([&] { return sink.taken().size() == 1; }));
  CHECK(front.stats().active == 0);
  CHECK(front.stats().handed_off == 0);
  CHECK(front.stats().accepted == 0);
  close(sink.taken()[0].fd);
  close(fd);
}

TEST_CASE("Front: once StopAccepting has returned nothing is handed over") {
  HandoffFront f;
  auto& sink = f.sink;
  auto& front = f.front;
  const uint16_t port = f.port;
  const int fd = Connect(port);
  CHECK(WaitUntil([&] { return front.stats().accepted == 1; }));
  front.StopAccepting();
  REQUIRE(send(fd, "late", 4, MSG_NOSIGNAL) == 4);
  CHECK(ClosedByPeer(fd));
  CHECK(sink.taken().empty());
  CHECK(WaitUntil([&] { return front.stats().active == 0; }));
  close(fd);
}

TEST_CASE("Front: listen addresses are checked") {
  CHECK(ParseListenAddress("0.0.0.0:7443"));
  CHECK(ParseListenAddress("[::]:0"));
  CHECK(ParseListenAddress("localhost:7445")->address == "127.0.0.1");
  CHECK_FALSE(ParseListenAddress("7443"));
  CHECK_FALSE(ParseListenAddress("controller.example:7443"));
  CHECK_FALSE(ParseListenAddress("127.0.0.1:99999"));
  CHECK_FALSE(ParseListenAddress("127.0.0.1:"));
  ConnectionFront front(TestLimits());
  auto first = front.AddListener(ListenerKind::kAgent, "127.0.0.1:0", 1);
  REQUIRE(first);
  auto taken = front.AddListener(ListenerKind::kEnroll, "127.0.0.1:" + std::to_string(first->port), 1);
  REQUIRE_FALSE(taken);
  CHECK(taken.error().message.find("in use by another process") != std::string::npos);
  CHECK(taken.error().code == edge::ErrorCode::kBadConfig);
  // 192.0.2.1 (TEST-NET-1) is nobody's address here.
  auto foreign = front.AddListener(ListenerKind::kEnroll, "192.0.2.1:0", 1);
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error().message.find("not an address of this host") != std::string::npos);
  CHECK(foreign.error().code == edge::ErrorCode::kBadConfig);
}

TEST_CASE("TLS probe: a listener that completes TCP handshakes but never answers fails at the deadline") {
  asio::io_context io;
  // listen() without accept(): what a listener whose accept loop died looks like from outside.
  tcp::acceptor dead(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  std::optional<ProbeResult> result;
  bool saw_local = false;
  const auto start = std::chrono::steady_clock::now();
  ProbeTlsListener(io, ListenEndpoint{"127.0.0.1", dead.local_endpoint().port()}, 300ms,
                   [&](const ListenEndpoint& local) { saw_local = local.port != 0; },
                   [&](ProbeResult r) { result = r; });
  io.run();
  REQUIRE(result);
  CHECK_FALSE(result->ok);
  CHECK(result->detail.find("deadline") != std::string::npos);
  CHECK(saw_local);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  // A closed port fails at once.
  dead.close();
  result.reset();
  io.restart();
  ProbeTlsListener(io, ListenEndpoint{"127.0.0.1", 1}, 300ms, [](const ListenEndpoint&) {},
                   [&](ProbeResult r) { result = r; });
  io.run();
  REQUIRE(result);
  CHECK_FALSE(result->ok);
}
