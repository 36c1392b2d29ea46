// The front's small HTTP/1.1 side: on a listener given a WebTermination (the operator
// listener), a client whose ClientHello offers ALPN "http/1.1" (a browser) is not spliced to
// gRPC; the front terminates its TLS, requires a client certificate from `client_ca_file`,
// reads GET requests with bounded headers and no body (a browser's cross-site requests are
// refused by their Sec-Fetch-Site header), and hands each to `handler`. What
// the handler answers is written back with security headers the front adds. Everything else
// on that port (gRPC offers only h2) is spliced end to end as before.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "controller/net/peer_directory.h"

namespace edge::controller::net {

struct WebRequest {
  std::string method;           // "GET"
  std::string target;           // origin-form path and query, as sent (at most kMaxTargetBytes)
  std::string client_cert_pem;  // the client's certificate, verified against client_ca_file
  ClientAddress client;
};

struct WebResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called once, from any thread.
using WebRespond = std::function<void(WebResponse)>;
// Called on the front's thread; must not block (post the work elsewhere and respond later).
using WebHandler = std::function<void(WebRequest, WebRespond)>;

struct WebTermination {
  std::string cert_file;  // the listener's server certificate and key (re-read when they change)
  std::string key_file;
  std::string client_ca_file;  // clients must present a certificate that verifies against it
  WebHandler handler;
  int64_t request_timeout_ms = 10000;  // TLS handshake plus a request's header; also the handler's answer
  int64_t idle_timeout_ms = 60000;     // a kept-alive connection until the next request's first bytes
  int max_requests_per_connection = 1000;
};

inline constexpr size_t kMaxTargetBytes = 2048;
inline constexpr size_t kMaxRequestHeaderBytes = 8192;

// The headers every web response carries: no caching, no framing, no sniffing, and scripts,
// styles and fetches only from the page's own origin.
inline constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace edge::controller::net
