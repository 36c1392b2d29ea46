#include "common/crypto/x509.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <catch2/catch.hpp>
#include <ctime>

#include "common/crypto/encoding.h"

using namespace edge::crypto;

namespace {

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

struct TestCa {
  PrivateKey key;
  std::string cert_pem;
  Issuer issuer() const { return Issuer{cert_pem, &key}; }
};

TestCa MakeCa(const std::string& name) {
  auto key = PrivateKey::GenerateP256();
  REQUIRE(key);
  CertSpec spec;
  spec.common_name = name;
  spec.validity = std::chrono::hours(24 * 365 * 10);
  auto pem = CreateSelfSignedCa(*key, spec);
  REQUIRE(pem);
  return TestCa{std::move(*key), std::move(*pem)};
}

CertSpec DeviceSpec() {
  CertSpec spec;
  spec.common_name = "gw-1";
  spec.uri_sans = {"spiffe://acme/device/gw-1"};
  spec.client_auth = true;
  spec.validity = std::chrono::hours(24);
  return spec;
}

// Re-encodes a PEM block after `mutate` has changed its DER bytes.
std::string MutatePem(const std::string& pem, void (*mutate)(std::string&)) {
  auto begin = pem.find('\n') + 1;
  auto end = pem.find("-----END");
  std::string body;
  for (char c : pem.substr(begin, end - begin)) {
    if (c != '\n') body.push_back(c);
  }
  auto der = Base64Decode(body);
  REQUIRE(der);
  mutate(*der);
  std::string b64 = Base64Encode(*der);
  std::string out = pem.substr(0, begin);
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + pem.substr(end);
}

}  // namespace

TEST_CASE("P-256 private key PEM round trip", "[crypto][x509]") {
  auto key = PrivateKey::GenerateP256();
  REQUIRE(key);
  auto pem = key->ToPem();
  REQUIRE(pem);
  CHECK(pem->find("-----BEGIN PRIVATE KEY-----") == 0);
  auto back = PrivateKey::FromPem(*pem);
  REQUIRE(back);
  auto pem2 = back->ToPem();
  REQUIRE(pem2);
  CHECK(*pem2 == *pem);
  CHECK_FALSE(PrivateKey::FromPem("garbage"));
  PrivateKey moved = std::move(*back);
  CHECK(moved.native() != nullptr);
}

TEST_CASE("PrivateKey::FromPem rejects non-P-256 keys", "[crypto][x509]") {
  // An Ed25519 PKCS#8 key (RFC 8410 example).
  const char* ed25519 =
      "-----BEGIN PRIVATE KEY-----\n"
      "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n"
      "-----END PRIVATE KEY-----\n";
  auto key = PrivateKey::FromPem(ed25519);
  REQUIRE_FALSE(key);
  CHECK(key.error().message.find("P-256") != std::string::npos);
}

TEST_CASE("CA and leaf issuing, parsing and verifying", "[crypto][x509]") {
  auto ca = MakeCa("acme fleet CA");
  auto ca_info = ParseCertificate(ca.cert_pem);
  REQUIRE(ca_info);
  CHECK(ca_info->is_ca);
  CHECK(ca_info->subject_cn == "acme fleet CA");
  CHECK(VerifyCertificate(ca.cert_pem, ca.cert_pem, Now()));

  auto leaf_key = PrivateKey::GenerateP256();
  REQUIRE(leaf_key);
  auto leaf = IssueCertificate(ca.issuer(), *leaf_key, DeviceSpec());
  REQUIRE(leaf);
  auto info = ParseCertificate(*leaf);
  REQUIRE(info);
  CHECK(info->subject_cn == "gw-1");
  CHECK(info->uri_sans == std::vector<std::string>{"spiffe://acme/device/gw-1"});
  CHECK_FALSE(info->is_ca);
  CHECK(info->not_after - info->not_before == 24 * 3600 + 5 * 60);
  CHECK(info->not_before <= Now() - 5 * 60 + 5);
  CHECK(info->not_before >= Now() - 5 * 60 - 60);
  // 128-bit serial, positive: at most 32 hex digits, lower case.
  CHECK(info->serial_hex.size() <= 32);
  CHECK(info->serial_hex.size() >= 20);
  CHECK(info->serial_hex.find_first_not_of("0123456789abcdef") == std::string::npos);

  auto leaf2 = IssueCertificate(ca.issuer(), *leaf_key, DeviceSpec());
  REQUIRE(leaf2);
  CHECK(ParseCertificate(*leaf2)->serial_hex != info->serial_hex);

  CHECK(VerifyCertificate(*leaf, ca.cert_pem, Now()));
}

TEST_CASE("ParseCertificate reads DNS and IP SANs and the key usages", "[crypto][x509]") {
  auto ca = MakeCa("acme fleet CA");
  auto key = PrivateKey::GenerateP256();
  REQUIRE(key);
  CertSpec spec;
  spec.common_name = "ctl.example";
  spec.uri_sans = {"spiffe://acme/controller/controller"};
  spec.dns_sans = {"ctl.example", "localhost"};
  spec.ip_sans = {"10.0.0.5", "::1", "2001:db8::7"};
  spec.server_auth = true;
  auto cert = IssueCertificate(ca.issuer(), *key, spec);
  REQUIRE(cert);
  auto info = ParseCertificate(*cert);
  REQUIRE(info);
  CHECK(info->uri_sans == spec.uri_sans);
  CHECK(info->dns_sans == spec.dns_sans);
  CHECK(info->ip_sans == spec.ip_sans);
  CHECK(info->server_auth);
  CHECK_FALSE(info->client_auth);

  auto device = ParseCertificate(*IssueCertificate(ca.issuer(), *key, DeviceSpec()));
  REQUIRE(device);
  CHECK(device->dns_sans.empty());
  CHECK(device->ip_sans.empty());
  CHECK(device->client_auth);
  CHECK_FALSE(device->server_auth);
}

TEST_CASE("VerifyCertificate rejects another CA, expired and not yet valid", "[crypto][x509]") {
  auto ca = MakeCa("ca-one");
  auto other = MakeCa("ca-two");
  auto leaf_key = PrivateKey::GenerateP256();
  REQUIRE(leaf_key);
  auto leaf = IssueCertificate(ca.issuer(), *leaf_key, DeviceSpec());
  REQUIRE(leaf);

  auto wrong_ca = VerifyCertificate(*leaf, other.cert_pem, Now());
  REQUIRE_FALSE(wrong_ca);
  CHECK(wrong_ca.error().code == edge::ErrorCode::kUnauthenticated);
  CHECK(wrong_ca.error().message.find("gw-1") != std::string::npos);

  auto expired = VerifyCertificate(*leaf, ca.cert_pem, Now() + 2 * 24 * 3600);
  REQUIRE_FALSE(expired);
  CHECK(expired.error().message.find("expired") != std::string::npos);

  auto early = VerifyCertificate(*leaf, ca.cert_pem, Now() - 3600);
  REQUIRE_FALSE(early);
  CHECK(early.error().message.find("not yet valid") != std::string::npos);

  CHECK_FALSE(VerifyCertificate("garbage", ca.cert_pem, Now()));
  CHECK_FALSE(VerifyCertificate(*leaf, "garbage", Now()));
}

TEST_CASE("A leaf cannot act as an issuer", "[crypto][x509]") {
  auto ca = MakeCa("ca");
  auto leaf_key = PrivateKey::GenerateP256();
  REQUIRE(leaf_key);
  auto leaf = IssueCertificate(ca.issuer(), *leaf_key, DeviceSpec());
  REQUIRE(leaf);
  auto other_key = PrivateKey::GenerateP256();
  REQUIRE(other_key);
  auto issued = IssueCertificate(Issuer{*leaf, &*leaf_key}, *other_key, DeviceSpec());
  REQUIRE_FALSE(issued);
  CHECK(issued.error().message.find("not a CA") != std::string::npos);
  // Nor can a CA certificate be used with a key that is not its own.
  auto mismatched = IssueCertificate(Issuer{ca.cert_pem, &*leaf_key}, *other_key, DeviceSpec());
  CHECK_FALSE(mismatched);
}

TEST_CASE("SANs are built as entries, not parsed from text", "[crypto][x509]") {
  auto ca = MakeCa("ca");
  auto key = PrivateKey::GenerateP256();
  REQUIRE(key);
  CertSpec spec = DeviceSpec();
  spec.uri_sans = {"spiffe://acme/device/x,URI:spiffe://acme/operator/admin"};
  auto cert = IssueCertificate(ca.issuer(), *key, spec);
  REQUIRE(cert);
  auto info = ParseCertificate(*cert);
  REQUIRE(info);
  CHECK(info->uri_sans.size() == 1);

  spec.ip_sans = {"not-an-ip"};
  CHECK_FALSE(IssueCertificate(ca.issuer(), *key, spec));
}

TEST_CASE("IssueFromCsr certifies the CSR key with names only from the spec", "[crypto][x509]") {
  auto ca = MakeCa("ca");
  auto device_key = PrivateKey::GenerateP256();
  REQUIRE(device_key);
  auto csr = CreateCsr(*device_key, "i-am-the-admin");
  REQUIRE(csr);
  auto cert = IssueFromCsr(ca.issuer(), *csr, DeviceSpec());
  REQUIRE(cert);
  auto info = ParseCertificate(*cert);
  REQUIRE(info);
  CHECK(info->subject_cn == "gw-1");
  CHECK(info->uri_sans == std::vector<std::string>{"spiffe://acme/device/gw-1"});
  CHECK_FALSE(info->is_ca);
  CHECK(VerifyCertificate(*cert, ca.cert_pem, Now()));

  // The certified key is the CSR's key.
  auto bio = BIO_new_mem_buf(cert->data(), static_cast<int>(cert->size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  REQUIRE(x != nullptr);
  CHECK(X509_check_private_key(x, static_cast<EVP_PKEY*>(device_key->native())) == 1);
  X509_free(x);
  BIO_free(bio);
}

TEST_CASE("IssueFromCsr ignores names and extensions requested in the CSR", "[crypto][x509]") {
  auto ca = MakeCa("ca");
  auto device_key = PrivateKey::GenerateP256();
  REQUIRE(device_key);
  auto* pkey = static_cast<EVP_PKEY*>(device_key->native());
  // A hand-built CSR asking for an operator identity and CA powers.
  X509_REQ* req = X509_REQ_new();
  X509_NAME* name = X509_NAME_new();
  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("admin"), -1, -1, 0);
  X509_REQ_set_subject_name(req, name);
  X509_REQ_set_pubkey(req, pkey);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name,
                                                   "URI:spiffe://acme/operator/admin"));
  sk_X509_EXTENSION_push(
      exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_basic_constraints, "critical,CA:TRUE"));
  X509_REQ_add_extensions(req, exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  REQUIRE(X509_REQ_sign(req, pkey, EVP_sha256()) > 0);
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(out, req);
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string csr(data, static_cast<size_t>(len));
  BIO_free(out);
  X509_NAME_free(name);
  X509_REQ_free(req);

  auto cert = IssueFromCsr(ca.issuer(), csr, DeviceSpec());
  REQUIRE(cert);
  auto info = ParseCertificate(*cert);
  REQUIRE(info);
  CHECK(info->subject_cn == "gw-1");
  CHECK(info->uri_sans == std::vector<std::string>{"spiffe://acme/device/gw-1"});
  CHECK_FALSE(info->is_ca);
}

TEST_CASE("IssueFromCsr rejects a broken signature, garbage and oversized input",
          "[crypto][x509]") {
  auto ca = MakeCa("ca");
  auto device_key = PrivateKey::GenerateP256();
  REQUIRE(device_key);
  auto csr = CreateCsr(*device_key, "gw-1");
  REQUIRE(csr);
  // The last DER byte is inside the ECDSA signature value.
  auto broken =
      MutatePem(*csr, [](std::string& der) { der.back() = static_cast<char>(der.back() ^ 0x01); });
  REQUIRE(broken != *csr);
  auto result = IssueFromCsr(ca.issuer(), broken, DeviceSpec());
  REQUIRE_FALSE(result);
  CHECK(result.error().message.find("signature") != std::string::npos);

  // A CSR whose subject was changed after signing: signature no longer covers it.
  auto renamed = MutatePem(*csr, [](std::string& der) {
    auto pos = der.find("gw-1");
    REQUIRE(pos != std::string::npos);
    der[pos] = 'x';
  });
  CHECK_FALSE(IssueFromCsr(ca.issuer(), renamed, DeviceSpec()));

  CHECK_FALSE(IssueFromCsr(ca.issuer(), "garbage", DeviceSpec()));
  CHECK_FALSE(IssueFromCsr(ca.issuer(), "", DeviceSpec()));
  auto huge = IssueFromCsr(ca.issuer(), std::string(17 * 1024, 'A'), DeviceSpec());
  REQUIRE_FALSE(huge);
  CHECK(huge.error().message.find("16 KiB") != std::string::npos);
}

TEST_CASE("IssueFromCsr rejects keys other than P-256 and Ed25519", "[crypto][x509]") {
  auto ca = MakeCa("ca");
  EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  REQUIRE(p384 != nullptr);
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_pubkey(req, p384);
  REQUIRE(X509_REQ_sign(req, p384, EVP_sha256()) > 0);
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(out, req);
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string csr(data, static_cast<size_t>(len));
  BIO_free(out);
  X509_REQ_free(req);
  EVP_PKEY_free(p384);
  auto result = IssueFromCsr(ca.issuer(), csr, DeviceSpec());
  REQUIRE_FALSE(result);
  CHECK(result.error().message.find("P-256 or Ed25519") != std::string::npos);
}

TEST_CASE("ParseCertificate rejects garbage", "[crypto][x509]") {
  CHECK_FALSE(ParseCertificate(""));
  CHECK_FALSE(ParseCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
}
