#include "controller/daemon/key_material.h"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "common/crypto/x509.h"
#include "core/skip.h"
#include "core/temp_dir.h"

using edge::ErrorCode;
using edge::controller::CheckKeyMaterial;
using edge::controller::ReadPrivateKeyFile;
using edge::controller::ServiceUser;
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
    CHECK(ReadPrivateKeyFile("fleet_ca_key", pki.config.fleet_ca_key, ServiceUser::Current()));
  }
  REQUIRE(::chmod(pki.config.fleet_ca_key.c_str(), 0644) == 0);
  ExpectRefused(pki.config, "fleet_ca_key");
}

TEST_CASE("controller key material: missing files and files of the wrong kind name the key") {
  Pki pki;
  ControllerConfig c = pki.config;
  c.server_key = (pki.dir / "missing.key").string();
  ExpectRefused(c, "server_key: cannot open " + c.server_key + ": No such file");
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

namespace {

// A user and a group that are neither root nor the test's own (as root: nobody/nogroup's ids).
constexpr uid_t kOtherUid = 65534;
constexpr gid_t kOtherGid = 65534;

// Gives the file, directory or symlink at `path` to kOtherUid/kOtherGid (needs root).
void GiveAway(const std::string& path, bool group_only = false) {
  REQUIRE(::lchown(path.c_str(), group_only ? static_cast<uid_t>(-1) : kOtherUid, kOtherGid) == 0);
}

}  // namespace

TEST_CASE("controller key material: a key owned by another user than root and the controller is refused") {
  if (::geteuid() != 0) EDGE_SKIP("needs root to give a file to another user");
  Pki pki;
  GiveAway(pki.config.server_key);
  ExpectRefused(pki.config, "server_key " + pki.config.server_key + " is owned by uid 65534");
  // The same file is fine for a controller that runs as its owner (and its group).
  CHECK(ReadPrivateKeyFile("server_key", pki.config.server_key, ServiceUser{kOtherUid, kOtherGid}));
}

TEST_CASE("controller key material: a group-readable key of another group than the controller's is refused") {
  if (::geteuid() != 0) EDGE_SKIP("needs root to give a file to another group");
  Pki pki;  // server_key is 0640
  GiveAway(pki.config.server_key, /*group_only=*/true);
  const ServiceUser service{::geteuid(), 4242};
  auto refused = ReadPrivateKeyFile("server_key", pki.config.server_key, service);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::kBadConfig);
  CHECK(refused.error().message.find("server_key " + pki.config.server_key + " is readable by the group gid 65534") !=
        std::string::npos);
  // The packaged layout: root owns it, the controller's own group reads it.
  CHECK(ReadPrivateKeyFile("server_key", pki.config.server_key, ServiceUser{4242, kOtherGid}));
  // 0600: no group reads it, whatever the group.
  REQUIRE(::chmod(pki.config.server_key.c_str(), 0600) == 0);
  CHECK(ReadPrivateKeyFile("server_key", pki.config.server_key, service));
}

TEST_CASE("controller key material: a key in a directory other users can write is refused") {
  Pki pki;
  const auto open_dir = pki.dir / "open";
  std::filesystem::create_directory(open_dir);
  REQUIRE(::chmod(open_dir.c_str(), 0777) == 0);
  const std::string key = Write(pki.dir, "open/controller.key", KeyPem(pki.server_key), 0600);
  ControllerConfig c = pki.config;
  c.server_key = key;
  ExpectRefused(c, "server_key " + key + " is reached through the directory " + open_dir.string() + " (mode 0777");
  // ... and through a symlink to such a directory, named from a safe one.
  const auto link = pki.dir / "via-link.key";
  std::filesystem::create_symlink(key, link);
  c.server_key = link.string();
  ExpectRefused(c, "is reached through the directory " + open_dir.string());
  // Sticky (as /tmp): an entry owned by root or the controller is safe there.
  REQUIRE(::chmod(open_dir.c_str(), 01777) == 0);
  c.server_key = key;
  CHECK(CheckKeyMaterial(c, std::time(nullptr)));
}

TEST_CASE("controller key material: a symlink to the key that another user owns in a shared directory is refused") {
  if (::geteuid() != 0) EDGE_SKIP("needs root to give a symlink to another user");
  Pki pki;
  const auto shared = pki.dir / "shared";
  std::filesystem::create_directory(shared);
  REQUIRE(::chmod(shared.c_str(), 01777) == 0);
  const auto link = shared / "controller.key";
  std::filesystem::create_symlink(pki.config.server_key, link);
  ControllerConfig c = pki.config;
  c.server_key = link.string();
  CHECK(CheckKeyMaterial(c, std::time(nullptr)));  // root's own symlink in /tmp-like directory
  GiveAway(link.string());
  ExpectRefused(c, "server_key " + link.string() + " is reached through " + link.string() + ", owned by uid 65534");
}

TEST_CASE("controller key material: a key in a directory another user owns is refused") {
  if (::geteuid() != 0) EDGE_SKIP("needs root to give a directory to another user");
  Pki pki;
  const auto theirs = pki.dir / "theirs";
  std::filesystem::create_directory(theirs);
  const std::string key = Write(pki.dir, "theirs/controller.key", KeyPem(pki.server_key), 0600);
  GiveAway(theirs.string());
  ControllerConfig c = pki.config;
  c.server_key = key;
  ExpectRefused(c, "is reached through the directory " + theirs.string() + ", owned by uid 65534");
}

TEST_CASE("controller key material: a FIFO or socket or directory or device as a key or certificate is refused at once") {
  Pki pki;
  const auto fifo = pki.dir / "fifo.key";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);  // open(2) without O_NONBLOCK would wait here forever
  ControllerConfig c = pki.config;
  c.server_key = fifo.string();
  ExpectRefused(c, "server_key: " + fifo.string() + " is a FIFO (named pipe), not a regular file");
  c = pki.config;
  c.fleet_ca_cert = fifo.string();
  ExpectRefused(c, "fleet_ca_cert: " + fifo.string() + " is a FIFO (named pipe), not a regular file");
  c = pki.config;
  c.operator_ca_cert = pki.dir.path().string();
  ExpectRefused(c, "operator_ca_cert: " + pki.dir.path().string() + " is a directory, not a regular file");
  c = pki.config;
  c.fleet_ca_key = "/dev/null";
  ExpectRefused(c, "fleet_ca_key: /dev/null is a character device, not a regular file");
  const auto socket_path = pki.dir / "sock.key";
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(sock >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  REQUIRE(::bind(sock, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  c = pki.config;
  c.server_key = socket_path.string();
  ExpectRefused(c, "server_key: " + socket_path.string() + " is a socket, not a regular file");
  ::close(sock);
}

namespace {

// Writes an access ACL (user::rw-, user:65534:r--, group::---, mask::r--, other::---) the way
// setfacl would: the xattr in the kernel's binary format. False where the filesystem has none.
bool GiveNobodyRead(const std::filesystem::path& path, bool dir) {
  struct Entry {
    uint16_t tag, perm;
    uint32_t id;
  };
  const uint16_t r = 4, rw = 6, rwx = 7;
  const Entry entries[] = {{0x01, dir ? rwx : rw, 0xffffffff},  // ACL_USER_OBJ
                           {0x02, dir ? rwx : r, 65534},        // ACL_USER nobody
                           {0x04, 0, 0xffffffff},               // ACL_GROUP_OBJ
                           {0x10, dir ? rwx : r, 0xffffffff},   // ACL_MASK
                           {0x20, 0, 0xffffffff}};              // ACL_OTHER
  std::string blob("\x02\x00\x00\x00", 4);                      // version 2
  blob.append(reinterpret_cast<const char*>(entries), sizeof entries);
  return ::setxattr(path.c_str(), "system.posix_acl_access", blob.data(), blob.size(), 0) == 0;
}

}  // namespace

TEST_CASE("controller key material: a POSIX ACL on a key or on its directory is refused") {
  Pki pki;
  const std::string key = Write(pki.dir, "acl.key", KeyPem(pki.server_key), 0600);
  if (!GiveNobodyRead(key, false)) EDGE_SKIP("this filesystem takes no POSIX ACLs");
  ControllerConfig c = pki.config;
  c.server_key = key;
  ExpectRefused(c, "server_key " + key + " has a POSIX ACL");
  const auto dir = pki.dir / "acl-dir";
  std::filesystem::create_directory(dir);
  REQUIRE(GiveNobodyRead(dir, true));
  c.server_key = Write(pki.dir, "acl-dir/controller.key", KeyPem(pki.server_key), 0600);
  ExpectRefused(c, "is reached through the directory " + dir.string() + ", which has a POSIX ACL");
}

TEST_CASE("controller key material: the CA certificates are trust anchors that others must not replace") {
  Pki pki;
  ControllerConfig c = pki.config;
  REQUIRE(::chmod(c.operator_ca_cert.c_str(), 0666) == 0);
  ExpectRefused(c, "operator_ca_cert " + c.operator_ca_cert + " has mode 0666: other users could replace");
  REQUIRE(::chmod(c.operator_ca_cert.c_str(), 0644) == 0);
  const auto open_dir = pki.dir / "open-ca";
  std::filesystem::create_directory(open_dir);
  REQUIRE(::chmod(open_dir.c_str(), 0777) == 0);
  c.fleet_ca_cert = Write(pki.dir, "open-ca/fleet-ca.pem", pki.ca_pem, 0644);
  ExpectRefused(c, "fleet_ca_cert " + c.fleet_ca_cert + " is reached through the directory " + open_dir.string());
  CHECK(CheckKeyMaterial(pki.config, std::time(nullptr)));  // world-readable 0644 anchors are fine
}
