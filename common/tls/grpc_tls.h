// gRPC adapter: TLS credentials, hardened server/channel settings, peer identity from the
// client certificate, and mapping between edge::Error and grpc::Status.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "common/core/result.h"
#include "common/crypto/x509.h"
#include "common/tls/connect_timeouts.h"

namespace edge::tls {

inline constexpr int kMaxMessageBytes = 4 << 20;  // blob chunks are ≤ 1 MiB

struct ServerTls {
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;  // empty: no client certificate requested (enrollment listener)
};
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const ServerTls& tls);

// Server credentials that follow the certificate and key files: gRPC re-reads them every
// `refresh` and new handshakes use what it read, while connections already open keep theirs.
// This is how the controller's certificate is renewed without dropping agents. The client
// certificate policy is ServerCredentials': with a client CA, a certificate is requested,
// required and verified against it (the CA file is re-read too); without, none is requested.
//
// Files must be replaced by rename (edgectl pki renew-controller does): gRPC compares
// modification times around its read to notice a file changing under it, but it does not check
// that key and certificate match; a pair read between the two renames is used until its next
// pass, and new handshakes fail meanwhile. A file it cannot read or parse also fails new
// handshakes until it is fixed. At start this function reads the files itself and refuses
// (kBadConfig, naming the file) unreadable PEM, a key that is not P-256 and a key that does not
// match the certificate.
struct ServerTlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // empty: no client certificate requested (enrollment listener)
  std::chrono::seconds refresh{10};
};
Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFiles(const ServerTlsFiles& files);

struct ClientTls {
  std::string ca_pem;    // verifies the controller
  std::string cert_pem;  // empty: no client certificate (enrollment)
  std::string key_pem;
};
std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const ClientTls& tls);

// Explicit limits: Debian's gRPC 1.51 predates several HTTP/2 DoS fixes. A connection with no
// call for `max_connection_idle` is closed (GOAWAY).
inline constexpr std::chrono::milliseconds kDefaultMaxConnectionIdle{10 * 60 * 1000};
void ApplyServerLimits(grpc::ServerBuilder& builder,
                       std::chrono::milliseconds max_connection_idle = kDefaultMaxConnectionIdle);
// `connect_timeout` bounds each connection attempt (connect_timeouts.h); the caller
// has checked it is within [kMinConnectTimeout, kMaxConnectTimeout].
grpc::ChannelArguments ClientChannelArgs(std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout);

struct PeerIdentity {
  crypto::SpiffeId id;
  std::string cert_serial;
  int64_t not_before = 0;  // of the presented certificate, unix seconds
  int64_t not_after = 0;
};
// Reads the verified client certificate of the call and requires a spiffe://<fleet>/<kind>/<name>
// URI SAN. Errors are kUnauthenticated.
Result<PeerIdentity> PeerIdentityOf(const grpc::ServerContextBase& ctx, std::string_view fleet,
                                    std::string_view kind);
// The same, from a certificate (PEM) that a TLS endpoint outside gRPC already verified.
Result<PeerIdentity> PeerIdentityOfPem(std::string_view cert_pem, std::string_view fleet, std::string_view kind);

grpc::Status ToGrpcStatus(const Error& error);
Error FromGrpcStatus(const grpc::Status& status, std::string_view call);

// Loads the PEM files a TLS endpoint needs; errors name the file.
Result<std::string> ReadPem(const std::string& path);

}  // namespace edge::tls
