#include "common/tls/grpc_tls.h"

#include <algorithm>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "common/core/fs.h"

namespace edge::tls {

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const ServerTls& tls) {
  grpc::SslServerCredentialsOptions options(
      tls.client_ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls.client_ca_pem;
  options.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
  return grpc::SslServerCredentials(options);
}

Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFiles(const ServerTlsFiles& files) {
  if (files.cert_file.empty() || files.key_file.empty())
    return Fail(ErrorCode::kBadConfig, "server TLS: both a certificate and a key file are needed");
  if (files.refresh.count() < 1 || files.refresh.count() > 24 * 3600)
    return Fail(ErrorCode::kBadConfig, "server TLS: refresh interval must be 1 s to 24 h");
  // The watcher only logs what it cannot use; checking here turns a bad file at start into a
  // clear error instead of a listener that fails every handshake.
  EDGE_ASSIGN_OR_RETURN(auto cert_pem, ReadPem(files.cert_file));
  EDGE_ASSIGN_OR_RETURN(auto key_pem, ReadPem(files.key_file));
  auto cert = crypto::ParseCertificate(cert_pem);
  if (!cert) return Fail(ErrorCode::kBadConfig, files.cert_file + ": " + cert.error().message);
  auto key = crypto::PrivateKey::FromPem(key_pem);
  if (!key) return Fail(ErrorCode::kBadConfig, files.key_file + ": " + key.error().message);
  auto match = crypto::CertificateMatchesKey(cert_pem, *key);
  if (!match) return Fail(ErrorCode::kBadConfig, files.cert_file + ": " + match.error().message);
  if (!*match)
    return Fail(ErrorCode::kBadConfig, "server TLS: key " + files.key_file + " does not match the certificate " +
                                           files.cert_file +
                                           " (a renewal interrupted between its renames? run it again to finish)");
  if (!files.client_ca_file.empty()) {
    EDGE_ASSIGN_OR_RETURN(auto ca_pem, ReadPem(files.client_ca_file));
    if (auto ca = crypto::ParseCertificate(ca_pem); !ca)
      return Fail(ErrorCode::kBadConfig, files.client_ca_file + ": " + ca.error().message);
  }
  const auto refresh = static_cast<unsigned int>(files.refresh.count());
  auto provider = files.client_ca_file.empty()
                      ? std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                            files.key_file, files.cert_file, refresh)
                      : std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                            files.key_file, files.cert_file, files.client_ca_file, refresh);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (files.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  auto credentials = grpc::experimental::TlsServerCredentials(options);
  if (!credentials) return Fail(ErrorCode::kBadConfig, "server TLS: gRPC refused the credential options");
  return credentials;
}

std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const ClientTls& tls) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.ca_pem;
  options.pem_private_key = tls.key_pem;
  options.pem_cert_chain = tls.cert_pem;
  return grpc::SslCredentials(options);
}

void ApplyServerLimits(grpc::ServerBuilder& builder, std::chrono::milliseconds max_connection_idle) {
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 16);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, static_cast<int>(kServerHandshakeTimeout.count()));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  // No ping-strike GOAWAY: in gRPC 1.51, once a connection is past its strikes every further
  // PING in the same read appends a child to the closing error, so a PING flood grew the
  // controller from 23 MB to 156 MB (never returned to the OS) before the connection closed.
  // With strikes off each PING only costs an 8-byte ACK and RSS stayed under 50 MB
  // (tests/integration/attacks_http2_test.sh, docs/security.md "HTTP/2 abuse"). With 0 strikes
  // the minimum ping interval has no effect, so it is not set.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, static_cast<int>(max_connection_idle.count()));
}

grpc::ChannelArguments ClientChannelArgs(std::chrono::milliseconds connect_timeout) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect backoff is handled by the agent's own jittered loop; keep gRPC's short. gRPC
  // gives a connection attempt (TCP, TLS handshake, HTTP/2 SETTINGS) the larger of the minimum
  // reconnect backoff and its current backoff: the first is the connect timeout, and the
  // initial backoff is kept at or below it so that a short timeout means what it says.
  const auto timeout_ms = static_cast<int>(connect_timeout.count());
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, timeout_ms);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(200, timeout_ms));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return args;
}

Result<PeerIdentity> PeerIdentityOf(const grpc::ServerContextBase& ctx, std::string_view fleet,
                                    std::string_view kind) {
  auto auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated())
    return Fail(ErrorCode::kUnauthenticated, "no verified client certificate");
  auto pems = auth->FindPropertyValues("x509_pem_cert");
  if (pems.empty()) return Fail(ErrorCode::kUnauthenticated, "no client certificate on the connection");
  return PeerIdentityOfPem(std::string_view(pems.front().data(), pems.front().size()), fleet, kind);
}

Result<PeerIdentity> PeerIdentityOfPem(std::string_view cert_pem, std::string_view fleet, std::string_view kind) {
  if (cert_pem.empty()) return Fail(ErrorCode::kUnauthenticated, "no client certificate on the connection");
  auto info = crypto::ParseCertificate(cert_pem);
  if (!info) return Fail(ErrorCode::kUnauthenticated, "unreadable client certificate: " + info.error().message);
  for (const auto& uri : info->uri_sans) {
    auto id = crypto::ParseSpiffeId(uri);
    if (!id) continue;
    if (id->fleet != fleet)
      return Fail(ErrorCode::kUnauthenticated, "certificate identity " + uri + " belongs to another fleet");
    if (id->kind != kind)
      return Fail(ErrorCode::kPermissionDenied,
                  "certificate identity " + uri + " is a " + id->kind + ", this endpoint serves " + std::string(kind) + "s");
    return PeerIdentity{*id, info->serial_hex, info->not_before, info->not_after};
  }
  return Fail(ErrorCode::kUnauthenticated, "client certificate has no spiffe:// identity");
}

grpc::Status ToGrpcStatus(const Error& e) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (e.code) {
    case ErrorCode::kInvalidArgument: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case ErrorCode::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case ErrorCode::kAlreadyExists: code = grpc::StatusCode::ALREADY_EXISTS; break;
    case ErrorCode::kPermissionDenied: code = grpc::StatusCode::PERMISSION_DENIED; break;
    case ErrorCode::kUnauthenticated: code = grpc::StatusCode::UNAUTHENTICATED; break;
    case ErrorCode::kFailedPrecondition: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case ErrorCode::kResourceExhausted: code = grpc::StatusCode::RESOURCE_EXHAUSTED; break;
    case ErrorCode::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    case ErrorCode::kDeadlineExceeded: code = grpc::StatusCode::DEADLINE_EXCEEDED; break;
    case ErrorCode::kDataLoss: code = grpc::StatusCode::DATA_LOSS; break;
    case ErrorCode::kBadConfig:
    case ErrorCode::kIo:
    case ErrorCode::kInternal: code = grpc::StatusCode::INTERNAL; break;
  }
  return grpc::Status(code, e.message);
}

Error FromGrpcStatus(const grpc::Status& s, std::string_view call) {
  ErrorCode code = ErrorCode::kInternal;
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: code = ErrorCode::kInvalidArgument; break;
    case grpc::StatusCode::NOT_FOUND: code = ErrorCode::kNotFound; break;
    case grpc::StatusCode::ALREADY_EXISTS: code = ErrorCode::kAlreadyExists; break;
    case grpc::StatusCode::PERMISSION_DENIED: code = ErrorCode::kPermissionDenied; break;
    case grpc::StatusCode::UNAUTHENTICATED: code = ErrorCode::kUnauthenticated; break;
    case grpc::StatusCode::FAILED_PRECONDITION: code = ErrorCode::kFailedPrecondition; break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: code = ErrorCode::kResourceExhausted; break;
    case grpc::StatusCode::UNAVAILABLE: code = ErrorCode::kUnavailable; break;
    case grpc::StatusCode::DEADLINE_EXCEEDED: code = ErrorCode::kDeadlineExceeded; break;
    case grpc::StatusCode::DATA_LOSS: code = ErrorCode::kDataLoss; break;
    default: break;
  }
  return Error{code, std::string(call) + ": " + s.error_message()};
}

Result<std::string> ReadPem(const std::string& path) {
  auto pem = fs::ReadFile(path, 256 * 1024);
  if (!pem) return Fail(ErrorCode::kBadConfig, pem.error().message);  // "cannot open PATH: why"
  if (pem->find("-----BEGIN ") == std::string::npos)
    return Fail(ErrorCode::kBadConfig, path + " is not a PEM file");
  return *pem;
}

}  // namespace edge::tls
