// Why an operator's connection to the controller cannot work, said in the operator's terms.
// gRPC reports every failure to connect as UNAVAILABLE ("Socket closed", "failed to connect to
// all addresses"), whether the controller is down, the link is slow, or a certificate is wrong.
// edgectl checks its own key material before dialing, and when a connection fails it retraces
// it with a plain TLS connection using the same files to name the step that failed.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/core/result.h"

namespace edge::edgectl {

struct OperatorTlsFiles {
  std::string ca_path, cert_path, key_path;  // for messages
  std::string ca_pem, cert_pem, key_pem;
};

// Before dialing, at unix time `now`: the context's ca, cert and key parse (kBadConfig), the key
// is the certificate's (kBadConfig), and the certificate is valid now (kUnauthenticated: expired,
// or not yet valid, with the date and what to do).
Status CheckOperatorKeyMaterial(const OperatorTlsFiles& files, int64_t now);

// After gRPC failed to connect to `address` (host:port): connects again with TCP and TLS and
// returns what failed, each with its own code (and so exit code):
//   kUnavailable (69): the name does not resolve; nothing listens (connection refused); no route;
//   kDeadlineExceeded (75): no TCP connection, or no TLS handshake, within `timeout`;
//   kUnauthenticated (77): the controller's certificate does not verify against the context's
//     ca or does not name the host; the controller refused this operator certificate (its TLS
//     alert named: unknown CA, expired, revoked, ...).
// When the retrace connects (the failure was gRPC's own, or has passed), `fallback`.
Error DiagnoseOperatorConnection(const std::string& address, const OperatorTlsFiles& files,
                                 std::chrono::milliseconds timeout, const Error& fallback);

}  // namespace edge::edgectl
