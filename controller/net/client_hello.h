// What a TLS client is, from its first flight: the controller's operator port carries gRPC
// (whose clients offer ALPN "h2", and gRPC's C core also "grpc-exp") and the web dashboard
// (browsers offer "http/1.1" beside "h2"). The front reads the ClientHello before deciding
// whether to splice the connection to gRPC or to terminate TLS and serve HTTP/1.1 itself.
// Pure: bytes in, verdict out (fuzzed by tests/fuzz).
#pragma once

#include <cstddef>
#include <string_view>

namespace edge::controller::net {

enum class HelloVerdict {
  kIncomplete,  // a well-formed start; the ClientHello needs more bytes
  kHttp1,       // a ClientHello whose ALPN list offers "http/1.1"
  kOther,       // anything else: no ALPN, only h2, not TLS, malformed, or too large to wait for
};

// The largest ClientHello the front waits for (several records may carry it). Browsers' hellos
// with post-quantum key shares are under 2 KiB.
inline constexpr size_t kMaxClientHelloBytes = 16 * 1024;

// Classifies the first bytes a client sent (TLS records, as read from the socket).
HelloVerdict ClassifyClientHello(std::string_view bytes);

}  // namespace edge::controller::net
