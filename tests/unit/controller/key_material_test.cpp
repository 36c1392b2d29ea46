#include "controller/daemon/key_material.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <fstream>

#include "common/crypto/x509.h"
#include "core/temp_dir.h"

using edge::ErrorCode;
using edge::controller::CheckKeyMaterial;
using edge::controller::CheckPrivateKeyFileMode;
using edge::controller::ControllerConfig;
using edge::crypto::CertSpec;
using edge::crypto::PrivateKey;
using edge::testing::TempDir;

namespace {

std::string Write(const TempDir& dir, const std::string& name, const std::string& text, mode_t mode) {
  const auto path = dir / name;
  std::ofstream(path) << text;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path.string();
}

std::string KeyPem(const PrivateKey& key) { return *key.ToPem(); }

std::string Ca(const PrivateKey& key, const std::string& cn) {
  CertSpec spec;
  spec.common_name = cn;
  spec.is_ca = true;
  return *edge::crypto::CreateSelfSignedCa(key, spec);
}

std::string Leaf(const std::string& ca_pem, const PrivateKey& ca_key, const PrivateKey& key) {
  CertSpec spec;
  spec.common_name = "controller";
  spec.ip_sans = {"127.0.0.1"};
  spec.server_auth = true;
  spec.validity = std::chrono::hours(24);
  return *edge::crypto::IssueCertificate({ca_pem, &ca_key}, key, spec);
}

// A controller's key material, all correct; each case breaks one piece.
struct Pki {
  TempDir dir;
  PrivateKey ca_key = *PrivateKey::GenerateP256();
  PrivateKey server_key = *PrivateKey::GenerateP256();
  PrivateKey operator_key = *PrivateKey::GenerateP256();
  std::string ca_pem = Ca(ca_key, "fleet CA");
  ControllerConfig config;

  Pki() {
    config.fleet_ca_cert = Write(dir, "fleet-ca.pem", ca_pem, 0644);
    config.fleet_ca_key = Write(dir, "fleet-ca.key", KeyPem(ca_key), 0600);
    config.server_cert = Write(dir, "controller.pem", Leaf(ca_pem, ca_key, server_key), 0644);
    config.server_key = Write(dir, "controller.key", KeyPem(server_key), 0640);
    config.operator_ca_cert = Write(dir, "operator-ca.pem", Ca(operator_key, "operator CA"), 0644);
  }
};

void ExpectRefused(const ControllerConfig& config, const std::string& needle) {
  auto s = CheckKeyMaterial(config, std::time(nullptr));
  REQUIRE_FALSE(s);
  CHECK(s.error().code == ErrorCode::kBadConfig);
  INFO(s.error().message);
  CHECK(s.error().message.find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("controller key material: a correct set passes") {
  Pki pki;
  CHECK(CheckKeyMaterial(pki.config, std::time(nullptr)));
}

TEST_CASE("controller key material: a private key that is not its certificate's is refused") {
  Pki pki;
  const std::string other = Write(pki.dir, "other.key", KeyPem(*PrivateKey::GenerateP256()), 0600);
  ControllerConfig c = pki.config;
  c.fleet_ca_key = other;
  ExpectRefused(c, "fleet_ca_key " + other + " is not the key of fleet_ca_cert " + c.fleet_ca_cert);
  c = pki.config;
  c.server_key = other;
  ExpectRefused(c, "server_key " + other + " is not the key of server_cert " + c.server_cert);
}

TEST_CASE("controller key material: a server certificate from another CA is refused") {
  Pki pki;
  PrivateKey other_ca = *PrivateKey::GenerateP256();
  const std::string other_ca_pem = Ca(other_ca, "someone else's CA");
  pki.config.server_cert = Write(pki.dir, "foreign.pem", Leaf(other_ca_pem, other_ca, pki.server_key), 0644);
  ExpectRefused(pki.config, "is not a valid certificate from fleet_ca_cert");
}

TEST_CASE("controller key material: an expired or not yet valid server certificate is refused") {
  Pki pki;  // the server certificate is valid from 5 minutes ago for 24 hours
  const int64_t now = std::time(nullptr);
  auto expired = CheckKeyMaterial(pki.config, now + 2 * 24 * 3600);
  REQUIRE_FALSE(expired);
  CHECK(expired.error().code == ErrorCode::kBadConfig);
  CHECK(expired.error().message.find("certificate has expired") != std::string::npos);
  auto early = CheckKeyMaterial(pki.config, now - 3600);
  REQUIRE_FALSE(early);
  CHECK(early.error().message.find("certificate is not yet valid") != std::string::npos);
}

TEST_CASE("controller key material: key files readable by others or writable by the group are refused") {
  Pki pki;
  for (mode_t mode : {0644, 0604, 0660, 0620, 0601}) {
    REQUIRE(::chmod(pki.config.server_key.c_str(), mode) == 0);
    ExpectRefused(pki.config, "server_key " + pki.config.server_key + " has mode 0" + std::to_string(mode / 64) +
                                  std::to_string(mode / 8 % 8) + std::to_string(mode % 8));
  }
  for (mode_t mode : {0600, 0640, 0400, 0440}) {
    REQUIRE(::chmod(pki.config.fleet_ca_key.c_str(), mode) == 0);
    CHECK(CheckPrivateKeyFileMode("fleet_ca_key", pki.config.fleet_ca_key));
  }
  REQUIRE(::chmod(pki.config.fleet_ca_key.c_str(), 0644) == 0);
  ExpectRefused(pki.config, "fleet_ca_key");
}

TEST_CASE("controller key material: missing files and files of the wrong kind name the key") {
  Pki pki;
  ControllerConfig c = pki.config;
  c.server_key = (pki.dir / "missing.key").string();
  ExpectRefused(c, "server_key " + c.server_key + ": No such file");
  c = pki.config;
  c.fleet_ca_cert = Write(pki.dir, "garbage.pem", "not a certificate\n", 0644);
  ExpectRefused(c, "fleet_ca_cert: " + c.fleet_ca_cert + " is not a PEM file");
  c = pki.config;
  c.fleet_ca_key = Write(pki.dir, "cert-as-key.key", pki.ca_pem, 0600);
  ExpectRefused(c, "fleet_ca_key " + c.fleet_ca_key + ": not a usable private key");
  c = pki.config;
  c.operator_ca_cert = Write(pki.dir, "key-as-cert.pem", KeyPem(pki.operator_key), 0644);
  ExpectRefused(c, "operator_ca_cert " + c.operator_ca_cert + ": not a certificate");
}

TEST_CASE("controller key material: a client-only certificate as server_cert is refused") {
  Pki pki;
  CertSpec spec;
  spec.common_name = "gw-1";
  spec.client_auth = true;
  pki.config.server_cert =
      Write(pki.dir, "device.pem", *edge::crypto::IssueCertificate({pki.ca_pem, &pki.ca_key}, pki.server_key, spec), 0644);
  ExpectRefused(pki.config, "is not a server certificate (no serverAuth");
}

TEST_CASE("controller key material: an encrypted key is refused at once, never prompted for") {
  Pki pki;
  // The PEM header of a passphrase-protected PKCS#8 key: refused before OpenSSL could prompt.
  pki.config.server_key = Write(pki.dir, "encrypted.key",
                                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n", 0600);
  ExpectRefused(pki.config, "it is encrypted");
}
