#include "controller/net/tls_probe.h"

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace edge::controller::net {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// An error that proves the server's TLS stack answered (an alert, a certificate), as opposed
// to a connection that closed or reset without a word.
bool ServerAnswered(const error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category()) return false;
  if (ec == ssl::error::stream_truncated) return false;
  const auto reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
  if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) return false;
#endif
  return reason != 0;
}

struct Probe : std::enable_shared_from_this<Probe> {
  Probe(asio::io_context& io, std::function<void(ProbeResult)> d)
      : tls(ssl::context::tls_client), stream(io, tls), timer(io), done(std::move(d)) {}

  void Finish(bool ok, std::string detail) {
    if (finished) return;
    finished = true;
    timer.cancel();
    error_code ec;
    stream.lowest_layer().close(ec);
    done(ProbeResult{ok, std::move(detail)});
  }

  ssl::context tls;
  ssl::stream<tcp::socket> stream;
  asio::steady_timer timer;
  std::function<void(ProbeResult)> done;
  bool finished = false;
};

}  // namespace

void ProbeTlsListener(asio::io_context& io, const ListenEndpoint& target, std::chrono::milliseconds timeout,
                      const std::function<void(const ListenEndpoint& local)>& before_connect,
                      std::function<void(ProbeResult)> done) {
  auto probe = std::make_shared<Probe>(io, std::move(done));
  // Liveness only: nothing secret is sent, so the server's certificate is not checked.
  probe->tls.set_verify_mode(ssl::verify_none);
  error_code ec;
  const auto address = asio::ip::make_address(target.address, ec);
  if (ec) return probe->Finish(false, "bad probe address " + target.address);
  const tcp::endpoint remote(address, target.port);
  auto& socket = probe->stream.lowest_layer();
  socket.open(remote.protocol(), ec);
  if (!ec) socket.bind(tcp::endpoint(address, 0), ec);
  tcp::endpoint local;
  if (!ec) local = socket.local_endpoint(ec);
  if (ec) return probe->Finish(false, "probe socket: " + ec.message());
  before_connect(ListenEndpoint{local.address().to_string(), local.port()});
  probe->timer.expires_after(timeout);
  probe->timer.async_wait([probe](const error_code& wait_ec) {
    if (!wait_ec) probe->Finish(false, "no TLS answer within the deadline");
  });
  socket.async_connect(remote, [probe](const error_code& connect_ec) {
    if (probe->finished) return;
    if (connect_ec) return probe->Finish(false, "connect: " + connect_ec.message());
    probe->stream.async_handshake(ssl::stream_base::client, [probe](const error_code& hs_ec) {
      if (probe->finished) return;
      if (!hs_ec || ServerAnswered(hs_ec)) return probe->Finish(true, {});
      probe->Finish(false, "TLS handshake: " + hs_ec.message());
    });
  });
}

}  // namespace edge::controller::net
