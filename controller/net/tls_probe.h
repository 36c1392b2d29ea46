// One liveness probe of a TLS listener: TCP connect, send a TLS ClientHello, and wait for the
// first record of the server's answer (a handshake record: the ServerHello; or an alert),
// within a deadline. A listener whose accept loop has stopped still completes TCP handshakes
// (the kernel's backlog), so only an answer from the TLS stack counts. The probe then closes:
// it never completes the handshake, so it needs no client certificate on the mTLS listeners
// and gRPC logs nothing for it (a handshake failing for want of a certificate is logged at
// ERROR level, on every probe).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "controller/net/front.h"

namespace edge::controller::net {

struct ProbeResult {
  bool ok = false;
  std::string detail;  // why it failed
};

// What the probed port speaks: TLS (answered by a TLS record), or HTTP/2 in clear (the
// enrollment listener's internal port, behind the front's TLS termination: answered by the
// server's SETTINGS frame).
enum class ProbeProtocol { kTls, kPlainHttp2 };

// Runs on `io`; calls `done` exactly once, on `io`. `before_connect` is called with the
// probe's local endpoint after bind and before connect (the front uses it to let the probe
// pass its limits).
void ProbeTlsListener(boost::asio::io_context& io, const ListenEndpoint& target, std::chrono::milliseconds timeout,
                      const std::function<void(const ListenEndpoint& local)>& before_connect,
                      std::function<void(ProbeResult)> done, ProbeProtocol protocol = ProbeProtocol::kTls);

}  // namespace edge::controller::net
