#include "controller/net/tls_probe.h"

#include <array>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>

namespace edge::controller::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr unsigned char kTlsHandshakeRecord = 0x16;
constexpr unsigned char kTlsAlertRecord = 0x15;

// A real ClientHello from OpenSSL, taken from a memory BIO before any byte is read back.
std::string MakeClientHello() {
  std::string hello;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return hello;
  SSL* ssl = SSL_new(ctx);
  if (ssl != nullptr) {
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);  // ssl owns both
    SSL_set_connect_state(ssl);
    SSL_do_handshake(ssl);  // stops wanting the ServerHello; the ClientHello is in `out`
    const int pending = static_cast<int>(BIO_pending(out));
    if (pending > 0) {
      hello.resize(static_cast<size_t>(pending));
      if (BIO_read(out, hello.data(), pending) != pending) hello.clear();
    }
    SSL_free(ssl);
  }
  SSL_CTX_free(ctx);
  return hello;
}

struct Probe : std::enable_shared_from_this<Probe> {
  Probe(asio::io_context& io, std::function<void(ProbeResult)> d) : socket(io), timer(io), done(std::move(d)) {}

  void Finish(bool ok, std::string detail) {
    if (finished) return;
    finished = true;
    timer.cancel();
    error_code ec;
    socket.close(ec);
    done(ProbeResult{ok, std::move(detail)});
  }

  tcp::socket socket;
  asio::steady_timer timer;
  std::function<void(ProbeResult)> done;
  std::string hello;
  std::array<unsigned char, 9> first{};  // a TLS record's first byte, or an HTTP/2 frame header
  bool finished = false;
};

}  // namespace

void ProbeTlsListener(asio::io_context& io, const ListenEndpoint& target, std::chrono::milliseconds timeout,
                      const std::function<void(const ListenEndpoint& local)>& before_connect,
                      std::function<void(ProbeResult)> done, ProbeProtocol protocol) {
  auto probe = std::make_shared<Probe>(io, std::move(done));
  // HTTP/2 in clear: the client preface and an empty SETTINGS frame.
  static const std::string kH2Hello = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\x04\0\0\0\0\0", 9);
  probe->hello = protocol == ProbeProtocol::kTls ? MakeClientHello() : kH2Hello;
  if (probe->hello.empty()) return probe->Finish(false, "cannot make a TLS ClientHello");
  error_code ec;
  const auto address = asio::ip::make_address(target.address, ec);
  if (ec) return probe->Finish(false, "bad probe address " + target.address);
  const tcp::endpoint remote(address, target.port);
  probe->socket.open(remote.protocol(), ec);
  if (!ec) probe->socket.bind(tcp::endpoint(address, 0), ec);
  tcp::endpoint local;
  if (!ec) local = probe->socket.local_endpoint(ec);
  if (ec) return probe->Finish(false, "probe socket: " + ec.message());
  before_connect(ListenEndpoint{local.address().to_string(), local.port()});
  probe->timer.expires_after(timeout);
  probe->timer.async_wait([probe](const error_code& wait_ec) {
    if (!wait_ec) probe->Finish(false, "no TLS answer within the deadline");
  });
  probe->socket.async_connect(remote, [probe, protocol](const error_code& connect_ec) {
    if (probe->finished) return;
    if (connect_ec) return probe->Finish(false, "connect: " + connect_ec.message());
    asio::async_write(probe->socket, asio::buffer(probe->hello), [probe, protocol](const error_code& write_ec, size_t) {
      if (probe->finished) return;
      if (write_ec) return probe->Finish(false, "sending the hello: " + write_ec.message());
      if (protocol == ProbeProtocol::kPlainHttp2) {
        asio::async_read(probe->socket, asio::buffer(probe->first), [probe](const error_code& read_ec, size_t) {
          if (probe->finished) return;
          if (read_ec) return probe->Finish(false, "no HTTP/2 answer: " + read_ec.message());
          const bool settings = probe->first[3] == 0x04;
          probe->Finish(settings, settings ? "" : "the answer is not an HTTP/2 SETTINGS frame");
        });
        return;
      }
      probe->socket.async_read_some(asio::buffer(probe->first, 1), [probe](const error_code& read_ec, size_t n) {
        if (probe->finished) return;
        if (read_ec || n == 0) return probe->Finish(false, "no TLS answer: " + read_ec.message());
        const bool tls = probe->first[0] == kTlsHandshakeRecord || probe->first[0] == kTlsAlertRecord;
        probe->Finish(tls, tls ? "" : "the answer is not TLS");
      });
    });
  });
}

}  // namespace edge::controller::net
