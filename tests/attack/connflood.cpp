// edge-connflood: opens many TCP connections to one loopback port and reports what the server
// did with them. Used by tests/integration/attacks_connections_test.sh.
//   idle      N connections, held open for --hold-ms, nothing sent
//   tls-idle  N connections that each send one TLS ClientHello, then nothing (read and
//             discard what the server answers)
//   burst     N connects as fast as possible, each closed (RST) as soon as it is established
// Sources are spread round-robin over --sources (127.x addresses; Linux routes all of
// 127.0.0.0/8 to loopback), so per-source and global limits can both be reached.
// Bounded: ≤ 5000 connections, ≤ 60 s, loopback addresses only. Prints one JSON line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <openssl/ssl.h>

namespace {

using Clock = std::chrono::steady_clock;

bool ParseLoopback(const std::string& text, in_addr* out) {
  if (inet_pton(AF_INET, text.c_str(), out) != 1) return false;
  return (ntohl(out->s_addr) >> 24) == 127;
}

// "127.0.0.2" or "127.0.0.2-127.0.0.40"
bool ParseSources(const std::string& text, std::vector<in_addr>* out) {
  const auto dash = text.find('-');
  in_addr first{}, last{};
  if (!ParseLoopback(text.substr(0, dash), &first)) return false;
  last = first;
  if (dash != std::string::npos && !ParseLoopback(text.substr(dash + 1), &last)) return false;
  const uint32_t a = ntohl(first.s_addr), b = ntohl(last.s_addr);
  if (b < a || b - a >= 1024) return false;
  for (uint32_t x = a; x <= b; ++x) out->push_back(in_addr{htonl(x)});
  return true;
}

// A real ClientHello from OpenSSL, captured from a memory BIO: the same bytes serve every
// connection (the server answers each with its own ServerHello).
std::string MakeClientHello() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);  // wants to read the ServerHello: the ClientHello is in `out`
  std::string hello(static_cast<size_t>(BIO_pending(out)), '\0');
  BIO_read(out, hello.data(), static_cast<int>(hello.size()));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

struct Conn {
  int fd = -1;
  bool connected = false;
  bool done = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edge-connflood: bounded loopback connection flood (tests only)"};
  std::string mode, target, sources = "127.0.0.2";
  int count = 100, hold_ms = 5000;
  app.add_option("--mode", mode, "idle | tls-idle | burst")->required()->check(CLI::IsMember({"idle", "tls-idle", "burst"}));
  app.add_option("--target", target, "127.x.y.z:port")->required();
  app.add_option("--count", count, "connections (≤ 5000)")->check(CLI::Range(1, 5000));
  app.add_option("--sources", sources, "source address or range, e.g. 127.0.0.2-127.0.0.40");
  app.add_option("--hold-ms", hold_ms, "how long to hold the connections (≤ 60000)")->check(CLI::Range(0, 60000));
  CLI11_PARSE(app, argc, argv);

  const auto colon = target.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  if (colon == std::string::npos || !ParseLoopback(target.substr(0, colon), &to.sin_addr)) {
    std::fprintf(stderr, "edge-connflood: --target must be a 127.0.0.0/8 address:port, got '%s'\n", target.c_str());
    return 2;
  }
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(target.substr(colon + 1))));
  std::vector<in_addr> from;
  if (!ParseSources(sources, &from)) {
    std::fprintf(stderr, "edge-connflood: --sources must be 127.0.0.0/8 addresses (a range of at most 1024), got '%s'\n",
                 sources.c_str());
    return 2;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  const std::string hello = mode == "tls-idle" ? MakeClientHello() : std::string();
  const int ep = epoll_create1(0);
  std::vector<Conn> conns(static_cast<size_t>(count));
  int socket_errors = 0;
  const auto start = Clock::now();
  for (size_t i = 0; i < conns.size(); ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      ++socket_errors;
      continue;
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr = from[i % from.size()];
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {  // out of ports for this source
      ++socket_errors;
      close(fd);
      continue;
    }
    connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);  // EINPROGRESS: epoll reports the outcome
    conns[i].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }

  int connected = 0, connect_failed = 0, closed_by_server = 0, server_bytes = 0;
  long first_close_ms = -1, last_close_ms = -1;
  const auto hold_until = start + std::chrono::milliseconds(hold_ms);
  std::vector<epoll_event> events(256);
  auto finish = [&](Conn& c) {
    c.done = true;
    epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    linger lg{1, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c.fd);
  };
  while (Clock::now() < hold_until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(hold_until - Clock::now()).count();
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), static_cast<int>(std::min<long>(left, 100)));
    for (int k = 0; k < n; ++k) {
      Conn& c = conns[events[k].data.u64];
      if (c.done) continue;
      const auto e = events[k].events;
      if (!c.connected && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++connect_failed;
          finish(c);
          continue;
        }
        c.connected = true;
        ++connected;
        if (mode == "burst") {
          finish(c);
          continue;
        }
        if (!hello.empty()) send(c.fd, hello.data(), hello.size(), MSG_NOSIGNAL);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = events[k].data.u64;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        continue;
      }
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        char buf[4096];
        const auto got = recv(c.fd, buf, sizeof buf, 0);
        if (got > 0) {
          server_bytes += static_cast<int>(got);
          continue;
        }
        if (got < 0 && errno == EAGAIN) continue;
        ++closed_by_server;
        const long at = static_cast<long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
        if (first_close_ms < 0) first_close_ms = at;
        last_close_ms = at;
        finish(c);
      }
    }
    if (mode == "burst" && connected + connect_failed + socket_errors >= count) break;
  }
  int open_at_end = 0;
  for (auto& c : conns) {
    if (c.fd < 0 || c.done) continue;
    if (c.connected) ++open_at_end;
    finish(c);
  }
  close(ep);
  std::printf(
      "{\"mode\":\"%s\",\"target\":\"%s\",\"attempted\":%d,\"connected\":%d,\"connect_failed\":%d,"
      "\"socket_errors\":%d,\"closed_by_server\":%d,\"open_at_end\":%d,\"server_bytes\":%d,"
      "\"first_close_ms\":%ld,\"last_close_ms\":%ld,\"elapsed_ms\":%ld}\n",
      mode.c_str(), target.c_str(), count, connected, connect_failed, socket_errors, closed_by_server, open_at_end,
      server_bytes, first_close_ms, last_close_ms,
      static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()));
  return 0;
}
