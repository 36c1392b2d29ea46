// gRPC's TLS buffers on demand (controller/net/grpc_tls_buffers.h): with the switch on, libgrpc's
// connections get lazy BIO pairs and SSL objects that release their buffers, mutual TLS and
// large messages (records split across partial BIO writes) still work, and an idle connection
// holds no pair buffer; with it off, and for every caller outside libgrpc, OpenSSL is unchanged.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include "common/crypto/x509.h"
#include "controller/net/grpc_tls_buffers.h"
#include "controller/net/lazy_bio_pair.h"
#include "tests/support/test_pki.h"

using namespace edge::crypto;
using namespace edge::controller::net;
using edge::testing::TestPki;

namespace {

// Debian's c-ares resolver leaks a few bytes per process (LeakSanitizer); only 127.0.0.1 here.
const bool kNativeResolver = [] { return ::setenv("GRPC_DNS_RESOLVER", "native", 0) == 0; }();

constexpr int kMaxMessage = 8 * 1024 * 1024;

// Answers each call with the message it received.
class Echo : public grpc::CallbackGenericService {
  class Reactor : public grpc::ServerGenericBidiReactor {
   public:
    Reactor() { StartRead(&message_); }
    void OnReadDone(bool ok) override {
      if (!ok) return Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no message"));
      StartWriteAndFinish(&message_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    grpc::ByteBuffer message_;
  };

 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    return new Reactor;
  }
};

class EchoOverMutualTls {
 public:
  EchoOverMutualTls() {
    CertSpec server_spec;
    server_spec.common_name = "controller";
    server_spec.ip_sans = {"127.0.0.1"};
    server_spec.server_auth = true;
    CertSpec client_spec;
    client_spec.common_name = "gw-1";
    client_spec.uri_sans = {"spiffe://acme/device/gw-1"};
    client_spec.client_auth = true;
    auto server = pki_.Issue(server_spec);
    auto client = pki_.Issue(client_spec);

    grpc::SslServerCredentialsOptions server_opts(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    server_opts.pem_root_certs = pki_.ca_pem;
    server_opts.pem_key_cert_pairs.push_back({server.key_pem, server.cert_pem});
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&echo_);
    builder.SetMaxReceiveMessageSize(kMaxMessage);
    builder.SetMaxSendMessageSize(kMaxMessage);
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(server_opts), &port);
    server_ = builder.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port > 0);

    grpc::SslCredentialsOptions client_opts;
    client_opts.pem_root_certs = pki_.ca_pem;
    client_opts.pem_private_key = client.key_pem;
    client_opts.pem_cert_chain = client.cert_pem;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(kMaxMessage);
    args.SetMaxSendMessageSize(kMaxMessage);
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                         grpc::SslCredentials(client_opts), args);
  }
  ~EchoOverMutualTls() { server_->Shutdown(std::chrono::system_clock::now()); }

  // The echo of `message`, or the call's error.
  std::string Call(const std::string& message) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Slice payload(message);
    grpc::ByteBuffer request(&payload, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, "/edge.test.Echo/Call", grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status status) { done.set_value(std::move(status)); });
    auto status = done.get_future().get();
    if (!status.ok()) return "error: " + status.error_message();
    std::vector<grpc::Slice> slices;
    REQUIRE(response.Dump(&slices).ok());
    std::string out;
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return out;
  }

 private:
  TestPki pki_{"test CA"};
  Echo echo_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

std::string Pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + i / 7919) & 0xff);
  return s;
}

// Whether `done` holds within 5 s (HTTP/2 may still send a WINDOW_UPDATE after a call).
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace

TEST_CASE(
    "with TLS buffers on demand, gRPC mutual TLS carries small and large messages, and idle holds "
    "no pair buffer") {
  SetGrpcTlsBuffersOnDemand(true);
  const auto before = GrpcTlsBufferCountsNow();
  {
    EchoOverMutualTls echo;
    for (size_t size : {size_t{5}, size_t{16 * 1024}, size_t{6 * 1024 * 1024 + 17}, size_t{300}}) {
      INFO("message of " << size << " bytes");
      const auto message = Pattern(size);
      CHECK(echo.Call(message) == message);
    }
    const auto after = GrpcTlsBufferCountsNow();
    CHECK(after.lazy_pairs >= before.lazy_pairs + 2);  // this process is the client and the server
    CHECK(after.releasing_ssl >= before.releasing_ssl + 2);
    CHECK(Eventually([] { return LazyBioPairBytesHeld() == 0; }));
    CHECK(echo.Call("again") == "again");
  }
  SetGrpcTlsBuffersOnDemand(false);
}

TEST_CASE("with TLS buffers on demand off, gRPC gets OpenSSL's pairs and buffers") {
  SetGrpcTlsBuffersOnDemand(false);
  const auto before = GrpcTlsBufferCountsNow();
  EchoOverMutualTls echo;
  const auto message = Pattern(3 * 1024 * 1024);
  CHECK(echo.Call(message) == message);
  const auto after = GrpcTlsBufferCountsNow();
  CHECK(after.lazy_pairs == before.lazy_pairs);
  CHECK(after.releasing_ssl == before.releasing_ssl);
  CHECK(after.passed_through >= before.passed_through + 4);
}

TEST_CASE(
    "the executable's BIO_new_bio_pair and SSL_new are the ones the dynamic linker resolves") {
  CHECK(GrpcTlsBuffersInterposed());
}

TEST_CASE("calls from outside libgrpc get OpenSSL's BIO pair and SSL objects unchanged") {
  SetGrpcTlsBuffersOnDemand(true);
  BIO* a = nullptr;
  BIO* b = nullptr;
  REQUIRE(BIO_new_bio_pair(&a, 0, &b, 0) == 1);
  CHECK(BIO_method_type(a) == BIO_TYPE_BIO);
  BIO_free(a);
  BIO_free(b);
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  REQUIRE(ctx != nullptr);
  SSL* ssl = SSL_new(ctx);
  REQUIRE(ssl != nullptr);
  CHECK((SSL_get_mode(ssl) & SSL_MODE_RELEASE_BUFFERS) == 0);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  SetGrpcTlsBuffersOnDemand(false);
}
