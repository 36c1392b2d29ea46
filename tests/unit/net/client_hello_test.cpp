// ClientHello classification on hellos that OpenSSL itself writes (as a browser or gRPC would
// send them), cut, split across records and damaged.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "controller/net/client_hello.h"

using namespace edge::controller::net;

namespace {

// The first flight of an OpenSSL client offering `alpn` (wire format; empty: no ALPN).
std::string ClientHelloOffering(const std::string& alpn) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  REQUIRE(ctx);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  if (!alpn.empty())
    REQUIRE(SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                                static_cast<unsigned>(alpn.size())) == 0);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);  // owned by ssl from here
  SSL_set_connect_state(ssl.get());
  REQUIRE(SSL_do_handshake(ssl.get()) <= 0);  // wants to read the ServerHello
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  REQUIRE(n > 0);
  return std::string(data, static_cast<size_t>(n));
}

const std::string kBrowser = std::string("\x02h2\x08http/1.1", 12);
const std::string kGrpc = std::string("\x08grpc-exp\x02h2", 12);
const std::string kH2 = std::string("\x02h2", 3);

// The same handshake message carried in two records instead of one.
std::string SplitIntoTwoRecords(const std::string& hello, size_t first) {
  const std::string body = hello.substr(5);
  auto record = [&](const std::string& fragment) {
    std::string r = hello.substr(0, 3);
    r += static_cast<char>(fragment.size() >> 8);
    r += static_cast<char>(fragment.size() & 0xff);
    return r + fragment;
  };
  return record(body.substr(0, first)) + record(body.substr(first));
}

}  // namespace

TEST_CASE("a browser's hello (h2 and http/1.1) goes to the web side") {
  CHECK(ClassifyClientHello(ClientHelloOffering(kBrowser)) == HelloVerdict::kHttp1);
  CHECK(ClassifyClientHello(ClientHelloOffering(std::string("\x08http/1.1", 9))) == HelloVerdict::kHttp1);
}

TEST_CASE("gRPC's hellos and hellos without ALPN are spliced") {
  CHECK(ClassifyClientHello(ClientHelloOffering(kGrpc)) == HelloVerdict::kOther);
  CHECK(ClassifyClientHello(ClientHelloOffering(kH2)) == HelloVerdict::kOther);
  CHECK(ClassifyClientHello(ClientHelloOffering("")) == HelloVerdict::kOther);
  // A name that merely contains http/1.1 is not it.
  CHECK(ClassifyClientHello(ClientHelloOffering(std::string("\x09http/1.1x", 10))) == HelloVerdict::kOther);
}

TEST_CASE("every proper prefix of a hello asks for more bytes") {
  for (const auto& alpn : {kBrowser, kGrpc}) {
    const auto hello = ClientHelloOffering(alpn);
    for (size_t n = 0; n < hello.size(); ++n) {
      INFO("prefix of " << n << " of " << hello.size() << " bytes");
      REQUIRE(ClassifyClientHello(hello.substr(0, n)) == HelloVerdict::kIncomplete);
    }
  }
}

TEST_CASE("a hello split across two records is read whole") {
  const auto hello = ClientHelloOffering(kBrowser);
  for (size_t first : {size_t{1}, size_t{4}, size_t{40}, hello.size() - 6}) {
    const auto split = SplitIntoTwoRecords(hello, first);
    INFO("first record carries " << first << " bytes");
    CHECK(ClassifyClientHello(split) == HelloVerdict::kHttp1);
    CHECK(ClassifyClientHello(split.substr(0, split.size() - 1)) == HelloVerdict::kIncomplete);
  }
}

TEST_CASE("what is not a TLS hello is spliced at once") {
  CHECK(ClassifyClientHello("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == HelloVerdict::kOther);
  CHECK(ClassifyClientHello("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == HelloVerdict::kOther);
  CHECK(ClassifyClientHello(std::string("\x16\x03\x01\x00\x00", 5)) == HelloVerdict::kOther);  // empty record
  CHECK(ClassifyClientHello(std::string("\x15\x03\x03\x00\x02\x02\x28", 7)) == HelloVerdict::kOther);  // an alert
  CHECK(ClassifyClientHello("G") == HelloVerdict::kOther);
}

TEST_CASE("a damaged hello is spliced, never read past its bounds") {
  const auto hello = ClientHelloOffering(kBrowser);
  // A handshake message that is not a ClientHello.
  auto not_hello = hello;
  not_hello[5] = 2;
  CHECK(ClassifyClientHello(not_hello) == HelloVerdict::kOther);
  // Every single byte of the body set to 0xff in turn: any verdict, but no overrun (ASan and
  // the fuzzer check the reads) and never a wait for bytes that a complete record cannot bring.
  for (size_t i = 9; i < hello.size(); ++i) {
    auto damaged = hello;
    damaged[i] = static_cast<char>(0xff);
    const auto verdict = ClassifyClientHello(damaged);
    INFO("byte " << i);
    CHECK((verdict == HelloVerdict::kHttp1 || verdict == HelloVerdict::kOther));
  }
}

TEST_CASE("a peer that never completes its hello is not waited on beyond the limit") {
  // A record header announcing a huge handshake message, then filler.
  std::string big("\x16\x03\x01\x40\x00\x01\x00\x3f\xff", 9);
  big.resize(5 + 0x4000, 'a');
  CHECK(ClassifyClientHello(big) == HelloVerdict::kOther);  // the message would exceed the limit
  std::string many;
  while (many.size() <= kMaxClientHelloWireBytes) many += std::string("\x16\x03\x01\x00\x01\x01", 6);
  CHECK(ClassifyClientHello(many) == HelloVerdict::kOther);
}

TEST_CASE("bytes after a whole hello do not change the verdict") {
  // Found by fuzz_client_hello: a hello followed by a record that is not a handshake one.
  const auto hello = ClientHelloOffering(kBrowser);
  CHECK(ClassifyClientHello(hello + "\x17\x03\x03\x00\x10garbage") == HelloVerdict::kHttp1);
  CHECK(ClassifyClientHello(hello + "GET") == HelloVerdict::kHttp1);
  CHECK(ClassifyClientHello(ClientHelloOffering(kGrpc) + "\x16\x03\x03") == HelloVerdict::kOther);
}

TEST_CASE("a hello in many small records is not reassembled") {
  // Each read would otherwise reparse every record so far: bounded to a few records.
  const auto hello = ClientHelloOffering(kBrowser);
  CHECK(ClassifyClientHello(SplitIntoTwoRecords(hello, 40)) == HelloVerdict::kHttp1);
  std::string tiny;
  const std::string body = hello.substr(5);
  for (size_t i = 0; i < body.size(); i += 16) {
    const auto part = body.substr(i, 16);
    tiny += std::string("\x16\x03\x01", 3) + static_cast<char>(0) + static_cast<char>(part.size()) + part;
  }
  CHECK(ClassifyClientHello(tiny) == HelloVerdict::kOther);
}
