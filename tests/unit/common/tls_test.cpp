// The certificates we issue must work as gRPC TLS identities: a server certificate for
// localhost / 127.0.0.1 via DNS and IP SANs, and client certificates for mutual TLS.
// A server with only the generic service is enough: a channel reaches READY only after the
// handshake.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

#include "common/core/fs.h"
#include "common/crypto/x509.h"
#include "common/tls/grpc_tls.h"
#include "core/temp_dir.h"
#include "tests/support/test_pki.h"

using namespace edge::crypto;

namespace {

// Debian's c-ares resolver leaks a few bytes per process (LeakSanitizer flags it in the asan
// build); these tests only resolve localhost, which the native resolver handles. Runs before main.
const bool kNativeResolver = [] { return ::setenv("GRPC_DNS_RESOLVER", "native", 0) == 0; }();

using Identity = edge::testing::TestIdentity;
using Pki = edge::testing::TestPki;

CertSpec ServerSpec() {
  CertSpec spec;
  spec.common_name = "controller";
  spec.uri_sans = {"spiffe://acme/controller/main"};
  spec.dns_sans = {"localhost"};
  spec.ip_sans = {"127.0.0.1", "::1"};
  spec.server_auth = true;
  return spec;
}

CertSpec ClientSpec() {
  CertSpec spec;
  spec.common_name = "gw-1";
  spec.uri_sans = {"spiffe://acme/device/gw-1"};
  spec.client_auth = true;
  return spec;
}

// Records the authenticated peer's SAN properties, then answers UNIMPLEMENTED.
class PeerRecorder : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto auth = ctx->auth_context();
      for (const char* name :
           {GRPC_X509_SAN_PROPERTY_NAME, GRPC_PEER_SPIFFE_ID_PROPERTY_NAME, GRPC_X509_PEM_CERT_PROPERTY_NAME}) {
        for (const auto& value : auth->FindPropertyValues(name)) {
          properties_.emplace_back(name, std::string(value.data(), value.size()));
        }
      }
    }
    return grpc::CallbackGenericService::CreateReactor(ctx);
  }
  std::vector<std::pair<std::string, std::string>> properties() {
    std::lock_guard<std::mutex> lock(mu_);
    return properties_;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> properties_;
};

class TlsServer {
 public:
  TlsServer(const Pki& client_ca, const Identity& server) {
    grpc::SslServerCredentialsOptions opts(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    opts.pem_root_certs = client_ca.ca_pem;
    opts.pem_key_cert_pairs.push_back({server.key_pem, server.cert_pem});
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&service_);
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(opts), &port_);
    server_ = builder.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port_ > 0);
  }
  ~TlsServer() { server_->Shutdown(std::chrono::system_clock::now()); }
  int port() const { return port_; }
  PeerRecorder& service() { return service_; }

 private:
  int port_ = 0;
  PeerRecorder service_;
  std::unique_ptr<grpc::Server> server_;
};

std::shared_ptr<grpc::Channel> Channel(const std::string& target, const Pki& server_ca,
                                       const Identity& client) {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = server_ca.ca_pem;
  opts.pem_private_key = client.key_pem;
  opts.pem_cert_chain = client.cert_pem;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(opts), args);
}

// Whether a channel reaches READY within `wait` (a failing handshake just runs out the clock).
bool Connects(const std::string& target, const Pki& server_ca, const Identity& client,
              std::chrono::seconds wait = std::chrono::seconds(10)) {
  return Channel(target, server_ca, client)
      ->WaitForConnected(std::chrono::system_clock::now() + wait);
}

constexpr std::chrono::seconds kRefused{2};

}  // namespace

TEST_CASE("Issued certificates work for gRPC mutual TLS", "[crypto][tls]") {
  Pki fleet("fleet CA");
  auto server = fleet.Issue(ServerSpec());
  auto client = fleet.Issue(ClientSpec());
  TlsServer tls(fleet, server);
  const std::string port = std::to_string(tls.port());
  CHECK(Connects("localhost:" + port, fleet, client));
  CHECK(Connects("127.0.0.1:" + port, fleet, client));
}

TEST_CASE("gRPC TLS rejects certificates from an untrusted CA", "[crypto][tls]") {
  Pki fleet("fleet CA");
  Pki other("other CA");
  auto server = fleet.Issue(ServerSpec());
  TlsServer tls(fleet, server);
  const std::string port = std::to_string(tls.port());
  // Client certificate from an untrusted CA.
  CHECK_FALSE(Connects("localhost:" + port, fleet, other.Issue(ClientSpec()), kRefused));
  // Client that does not trust the server's CA.
  CHECK_FALSE(Connects("localhost:" + port, other, fleet.Issue(ClientSpec()), kRefused));
  // The same server does accept a good client: the failures above are the certificates.
  CHECK(Connects("localhost:" + port, fleet, fleet.Issue(ClientSpec())));
}

TEST_CASE("gRPC TLS checks the server SAN", "[crypto][tls]") {
  Pki fleet("fleet CA");
  CertSpec spec = ServerSpec();
  spec.dns_sans = {"controller.example"};
  spec.ip_sans = {};
  auto server = fleet.Issue(spec);
  TlsServer tls(fleet, server);
  CHECK_FALSE(Connects("127.0.0.1:" + std::to_string(tls.port()), fleet, fleet.Issue(ClientSpec()),
                       kRefused));
}

TEST_CASE("gRPC server sees the client's SPIFFE ID", "[crypto][tls]") {
  Pki fleet("fleet CA");
  auto server = fleet.Issue(ServerSpec());
  TlsServer tls(fleet, server);
  auto channel =
      Channel("localhost:" + std::to_string(tls.port()), fleet, fleet.Issue(ClientSpec()));
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice payload(std::string("probe"));
  grpc::ByteBuffer request(&payload, 1);  // an empty ByteBuffer is not a valid message
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/edge.test.Probe/Call", grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  auto status = done.get_future().get();
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  using Property = std::pair<std::string, std::string>;
  auto props = tls.service().properties();
  CHECK(std::find(props.begin(), props.end(),
                  Property{GRPC_PEER_SPIFFE_ID_PROPERTY_NAME, "spiffe://acme/device/gw-1"}) !=
        props.end());
  CHECK(std::find(props.begin(), props.end(),
                  Property{GRPC_X509_SAN_PROPERTY_NAME, "spiffe://acme/device/gw-1"}) !=
        props.end());
}

// ---- Server credentials that follow their files (certificate renewal without a restart) ----

namespace {

namespace stdfs = std::filesystem;

struct ServerFiles {
  edge::testing::TempDir dir;
  std::string cert = (dir.path() / "controller.pem").string();
  std::string key = (dir.path() / "controller.key").string();
  std::string ca = (dir.path() / "fleet-ca.pem").string();

  // As edgectl pki renew-controller does: each file replaced by rename, certificate first.
  void Install(const Identity& id) const {
    REQUIRE(edge::fs::WriteFileAtomic(cert, id.cert_pem));
    REQUIRE(edge::fs::WriteFileAtomic(key, id.key_pem, 0600));
  }
  edge::tls::ServerTlsFiles Files(bool with_client_ca = true) const {
    return {cert, key, with_client_ca ? ca : "", std::chrono::seconds(1)};
  }
};

class ReloadingServer {
 public:
  explicit ReloadingServer(const edge::tls::ServerTlsFiles& files) {
    auto credentials = edge::tls::ServerCredentialsFromFiles(files);
    REQUIRE(credentials);
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&service_);
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port_);
    server_ = builder.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port_ > 0);
  }
  ~ReloadingServer() { server_->Shutdown(std::chrono::system_clock::now()); }
  std::string target() const { return "localhost:" + std::to_string(port_); }
  PeerRecorder& service() { return service_; }

 private:
  int port_ = 0;
  PeerRecorder service_;
  std::unique_ptr<grpc::Server> server_;
};

struct CallResult {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string server_serial;  // of the certificate the server presented on this call's connection
};

// One call to an unknown method: UNIMPLEMENTED means the TLS handshake passed.
CallResult Call(const std::shared_ptr<grpc::Channel>& channel,
                std::chrono::seconds deadline = std::chrono::seconds(10)) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  grpc::Slice payload(std::string("probe"));
  grpc::ByteBuffer request(&payload, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/edge.test.Probe/Call", grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  CallResult result;
  result.code = done.get_future().get().error_code();
  if (auto auth = ctx.auth_context()) {
    for (const auto& pem : auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
      auto info = ParseCertificate(std::string_view(pem.data(), pem.size()));
      if (info) result.server_serial = info->serial_hex;
    }
  }
  return result;
}

std::shared_ptr<grpc::Channel> ChannelWithoutClientCert(const std::string& target, const Pki& server_ca) {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = server_ca.ca_pem;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(opts), args);
}

std::string SerialOf(const Identity& id) { return ParseCertificate(id.cert_pem)->serial_hex; }

}  // namespace

TEST_CASE("File-backed server credentials serve a renewed certificate without dropping connections",
          "[crypto][tls][reload]") {
  Pki fleet("fleet CA");
  Pki other("other CA");
  ServerFiles files;
  REQUIRE(edge::fs::WriteFileAtomic(files.ca, fleet.ca_pem));
  const auto v1 = fleet.Issue(ServerSpec());
  files.Install(v1);
  ReloadingServer server(files.Files());

  // Connected before the swap, and still open after it.
  auto before = Channel(server.target(), fleet, fleet.Issue(ClientSpec()));
  auto first = Call(before);
  REQUIRE(first.code == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(first.server_serial == SerialOf(v1));
  // The server reads the client's certificate as PeerIdentityOf needs it.
  auto props = server.service().properties();
  CHECK(std::find(props.begin(), props.end(),
                  std::pair<std::string, std::string>{GRPC_PEER_SPIFFE_ID_PROPERTY_NAME,
                                                      "spiffe://acme/device/gw-1"}) != props.end());
  CHECK(std::any_of(props.begin(), props.end(),
                    [](const auto& p) { return p.first == GRPC_X509_PEM_CERT_PROPERTY_NAME; }));

  const auto v2 = fleet.Issue(ServerSpec());  // new key, new serial
  REQUIRE(SerialOf(v2) != SerialOf(v1));
  files.Install(v2);

  // New connections see the new certificate once the watcher has run (refresh 1 s).
  std::string seen;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < give_up) {
    auto fresh = Call(Channel(server.target(), fleet, fleet.Issue(ClientSpec())), std::chrono::seconds(3));
    if (fresh.code == grpc::StatusCode::UNIMPLEMENTED) seen = fresh.server_serial;
    if (seen == SerialOf(v2)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(seen == SerialOf(v2));

  // The connection made before the swap was not dropped: same connection, old certificate.
  auto again = Call(before);
  CHECK(again.code == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(again.server_serial == SerialOf(v1));

  // The client-certificate policy survived the reload.
  CHECK(Call(ChannelWithoutClientCert(server.target(), fleet), std::chrono::seconds(3)).code ==
        grpc::StatusCode::UNAVAILABLE);
  CHECK(Call(Channel(server.target(), fleet, other.Issue(ClientSpec())), std::chrono::seconds(3)).code ==
        grpc::StatusCode::UNAVAILABLE);
  CHECK_FALSE(Connects(server.target(), fleet, other.Issue(ClientSpec()), kRefused));
  CHECK(Connects(server.target(), fleet, fleet.Issue(ClientSpec())));
}

TEST_CASE("File-backed server credentials without a client CA request no client certificate",
          "[crypto][tls][reload]") {
  Pki fleet("fleet CA");
  ServerFiles files;
  const auto v1 = fleet.Issue(ServerSpec());
  files.Install(v1);
  ReloadingServer server(files.Files(/*with_client_ca=*/false));
  auto call = Call(ChannelWithoutClientCert(server.target(), fleet));
  CHECK(call.code == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(call.server_serial == SerialOf(v1));
  // A client that does not trust the server's CA still fails: only the client side is optional.
  Pki other("other CA");
  CHECK(Call(ChannelWithoutClientCert(server.target(), other), std::chrono::seconds(3)).code ==
        grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("File-backed server credentials refuse bad files at start with the file named",
          "[crypto][tls][reload]") {
  Pki fleet("fleet CA");
  ServerFiles files;
  REQUIRE(edge::fs::WriteFileAtomic(files.ca, fleet.ca_pem));
  const auto v1 = fleet.Issue(ServerSpec());
  const auto v2 = fleet.Issue(ServerSpec());
  auto expect = [&](const std::string& needle) {
    auto credentials = edge::tls::ServerCredentialsFromFiles(files.Files());
    REQUIRE_FALSE(credentials);
    CHECK(credentials.error().code == edge::ErrorCode::kBadConfig);
    CHECK_THAT(credentials.error().message, Catch::Contains(needle));
  };
  SECTION("a key that does not match the certificate") {
    REQUIRE(edge::fs::WriteFileAtomic(files.cert, v1.cert_pem));
    REQUIRE(edge::fs::WriteFileAtomic(files.key, v2.key_pem, 0600));
    expect("does not match the certificate");
    expect(files.key);
  }
  SECTION("a missing certificate") {
    REQUIRE(edge::fs::WriteFileAtomic(files.key, v1.key_pem, 0600));
    expect(files.cert);
  }
  SECTION("a key file that is not PEM") {
    REQUIRE(edge::fs::WriteFileAtomic(files.cert, v1.cert_pem));
    REQUIRE(edge::fs::WriteFileAtomic(files.key, "not a key", 0600));
    expect(files.key + " is not a PEM file");
  }
  SECTION("a missing client CA") {
    files.Install(v1);
    stdfs::remove(files.ca);
    expect(files.ca);
  }
  SECTION("the same files, correct, are accepted") {
    files.Install(v1);
    CHECK(edge::tls::ServerCredentialsFromFiles(files.Files()));
  }
}

TEST_CASE("Connect timeouts: a failure is put down to the timeout only when it came as the timeout ran out", "[tls]") {
  using std::chrono::milliseconds;
  const milliseconds timeout{100};
  CHECK_FALSE(edge::tls::EndedByConnectTimeout(milliseconds(2), timeout));  // refused at once
  CHECK(edge::tls::EndedByConnectTimeout(milliseconds(100), timeout));
  CHECK(edge::tls::EndedByConnectTimeout(milliseconds(250), timeout));
  CHECK_FALSE(edge::tls::EndedByConnectTimeout(milliseconds(5000), timeout));  // a stream that lived, then died
  static_assert(edge::tls::kDefaultConnectTimeout == std::chrono::seconds(10));
  static_assert(edge::tls::kServerHandshakeTimeout >= edge::tls::kDefaultConnectTimeout);
}

TEST_CASE("gRPC statuses map to error codes: timed out is not unreachable", "[tls]") {
  using edge::ErrorCode;
  const auto from = [](grpc::StatusCode c) { return edge::tls::FromGrpcStatus(grpc::Status(c, "m"), "call").code; };
  CHECK(from(grpc::StatusCode::UNAVAILABLE) == ErrorCode::kUnavailable);
  CHECK(from(grpc::StatusCode::DEADLINE_EXCEEDED) == ErrorCode::kDeadlineExceeded);
  CHECK(from(grpc::StatusCode::PERMISSION_DENIED) == ErrorCode::kPermissionDenied);
  CHECK(edge::tls::FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "slow"), "list devices").message ==
        "list devices: slow");
  for (ErrorCode c : {ErrorCode::kUnavailable, ErrorCode::kDeadlineExceeded, ErrorCode::kPermissionDenied})
    CHECK(edge::tls::FromGrpcStatus(edge::tls::ToGrpcStatus(edge::Error{c, "x"}), "c").code == c);
}
