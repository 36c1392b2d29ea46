// The certificates we issue must work as gRPC TLS identities: a server certificate for
// localhost / 127.0.0.1 via DNS and IP SANs, and client certificates for mutual TLS.
// A server with only the generic service is enough: a channel reaches READY only after the
// handshake.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "common/crypto/x509.h"

using namespace edge::crypto;

namespace {

// Debian's c-ares resolver leaks a few bytes per process (LeakSanitizer flags it in the asan
// build); these tests only resolve localhost, which the native resolver handles. Runs before main.
const bool kNativeResolver = [] { return ::setenv("GRPC_DNS_RESOLVER", "native", 0) == 0; }();

struct Identity {
  PrivateKey key;
  std::string cert_pem;
  std::string key_pem;
};

struct Pki {
  PrivateKey ca_key;
  std::string ca_pem;

  explicit Pki(const std::string& name) {
    auto key = PrivateKey::GenerateP256();
    REQUIRE(key);
    ca_key = std::move(*key);
    CertSpec spec;
    spec.common_name = name;
    auto pem = CreateSelfSignedCa(ca_key, spec);
    REQUIRE(pem);
    ca_pem = *pem;
  }

  Identity Issue(CertSpec spec) const {
    auto key = PrivateKey::GenerateP256();
    REQUIRE(key);
    auto cert = IssueCertificate(Issuer{ca_pem, &ca_key}, *key, spec);
    REQUIRE(cert);
    auto key_pem = key->ToPem();
    REQUIRE(key_pem);
    return Identity{std::move(*key), *cert, *key_pem};
  }
};

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

class TlsServer {
 public:
  TlsServer(const Pki& client_ca, const Identity& server) {
    grpc::SslServerCredentialsOptions opts(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    opts.pem_root_certs = client_ca.ca_pem;
    opts.pem_key_cert_pairs.push_back({server.key_pem, server.cert_pem});
    grpc::ServerBuilder builder;
    // Answers every call with UNIMPLEMENTED; it exists so the server has something to poll.
    builder.RegisterCallbackGenericService(&service_);
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(opts), &port_);
    server_ = builder.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port_ > 0);
  }
  ~TlsServer() { server_->Shutdown(std::chrono::system_clock::now()); }
  int port() const { return port_; }

 private:
  int port_ = 0;
  grpc::CallbackGenericService service_;
  std::unique_ptr<grpc::Server> server_;
};

// Whether a channel reaches READY within `wait` (a failing handshake just runs out the clock).
bool Connects(const std::string& target, const Pki& server_ca, const Identity& client,
              std::chrono::seconds wait = std::chrono::seconds(10)) {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = server_ca.ca_pem;
  opts.pem_private_key = client.key_pem;
  opts.pem_cert_chain = client.cert_pem;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(target, grpc::SslCredentials(opts), args);
  return channel->WaitForConnected(std::chrono::system_clock::now() + wait);
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
