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

// The largest ClientHello the front waits for, and in how many records at most: browsers'
// hellos with post-quantum key shares are under 2 KiB in one record. Bounded tightly because
// the front reads hellos before any authentication.
inline constexpr size_t kMaxClientHelloBytes = 8 * 1024;
inline constexpr size_t kMaxClientHelloRecords = 4;
// More bytes than any acceptable hello can take on the wire (record headers included).
inline constexpr size_t kMaxClientHelloWireBytes = kMaxClientHelloBytes + 4 + 5 * kMaxClientHelloRecords;

// Classifies the first bytes a client sent (TLS records, as read from the socket).
HelloVerdict ClassifyClientHello(std::string_view bytes);

}  // namespace edge::controller::net
