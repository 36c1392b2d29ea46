// edgectl pki renew-operator / renew-controller: a new key and certificate with the same
// identity, installed so that no reader ever sees a partly written file.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/core/fs.h"
#include "common/crypto/x509.h"
#include "common/tls/grpc_tls.h"
#include "controller/edgectl/pki.h"
#include "core/temp_dir.h"
#include "tests/unit/core/test_files.h"

using edge::ErrorCode;
using edge::edgectl::InstallKeyPair;
using edge::edgectl::PkiRenewController;
using edge::edgectl::PkiRenewOperator;
using edge::testing::TempDir;
namespace crypto = edge::crypto;
namespace stdfs = std::filesystem;

namespace {

using edge::testing::ModeOf;
using edge::testing::ReadAll;

int64_t Now() { return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(); }

bool Matches(const stdfs::path& cert, const stdfs::path& key) {
  auto k = crypto::PrivateKey::FromPem(ReadAll(key));
  REQUIRE(k);
  auto m = crypto::CertificateMatchesKey(ReadAll(cert), *k);
  REQUIRE(m);
  return *m;
}

struct Fleet {
  TempDir tmp;
  stdfs::path dir = tmp / "pki";
  Fleet() {
    edge::edgectl::PkiInitOptions o;
    o.dir = dir;
    o.fleet = "acme";
    o.controller_hosts = {"ctl.example", "10.0.0.5", "localhost"};
    REQUIRE(edge::edgectl::PkiInit(o));
  }
};

}  // namespace

TEST_CASE("pki renew-operator: new key and certificate, same identity, old pair kept", "[edgectl][pki][renew]") {
  Fleet f;
  const auto stem = f.dir / "operators" / "admin";
  const auto old_key = ReadAll(stem.string() + ".key");
  const auto old_cert = ReadAll(stem.string() + ".pem");
  const auto before = crypto::ParseCertificate(old_cert).value();

  auto renewed = PkiRenewOperator(f.dir, "acme", "admin", 30);
  REQUIRE(renewed);
  const auto new_cert = ReadAll(stem.string() + ".pem");
  CHECK(ReadAll(stem.string() + ".key") != old_key);
  CHECK(new_cert != old_cert);
  CHECK(Matches(stem.string() + ".pem", stem.string() + ".key"));
  CHECK(ModeOf(stem.string() + ".key") == 0600);
  CHECK(ModeOf(stem.string() + ".key.old") == 0600);
  CHECK(ReadAll(stem.string() + ".key.old") == old_key);
  CHECK(ReadAll(stem.string() + ".pem.old") == old_cert);
  CHECK_FALSE(stdfs::exists(stem.string() + ".key.new"));
  CHECK_FALSE(stdfs::exists(stem.string() + ".pem.new"));

  const auto after = crypto::ParseCertificate(new_cert).value();
  CHECK(after.serial_hex == renewed->serial_hex);
  CHECK(after.serial_hex != before.serial_hex);
  CHECK(after.subject_cn == "admin");
  CHECK(after.uri_sans == std::vector<std::string>{"spiffe://acme/operator/admin"});
  CHECK(after.client_auth);
  CHECK(after.not_after - after.not_before == 30 * 86400 + 5 * 60);  // --days, plus the 5 min backdate
  CHECK(crypto::VerifyCertificate(new_cert, ReadAll(f.dir / "operator-ca.pem"), Now()));

  SECTION("a second renewal keeps the pair it replaces") {
    REQUIRE(PkiRenewOperator(f.dir, "acme", "admin"));
    CHECK(ReadAll(stem.string() + ".pem.old") == new_cert);
    const auto third = crypto::ParseCertificate(ReadAll(stem.string() + ".pem")).value();
    CHECK(third.not_after - third.not_before == 90 * 86400 + 5 * 60);  // the default
  }
}

TEST_CASE("pki renew-operator refuses bad input and changes nothing", "[edgectl][pki][renew]") {
  Fleet f;
  const auto stem = f.dir / "operators" / "admin";
  const auto old_key = ReadAll(stem.string() + ".key");
  auto expect = [&](edge::Result<crypto::CertInfo> r, ErrorCode code, const std::string& needle) {
    REQUIRE_FALSE(r);
    CHECK(r.error().code == code);
    CHECK_THAT(r.error().message, Catch::Contains(needle));
    CHECK(ReadAll(stem.string() + ".key") == old_key);
    CHECK_FALSE(stdfs::exists(stem.string() + ".key.old"));
  };
  SECTION("unknown operator") {
    expect(PkiRenewOperator(f.dir, "acme", "bob"), ErrorCode::kNotFound, "no operator bob");
    CHECK_FALSE(stdfs::exists(f.dir / "operators" / "bob.key"));
  }
  SECTION("missing CA key") {
    stdfs::rename(f.dir / "operator-ca.key", f.tmp / "offline.key");
    expect(PkiRenewOperator(f.dir, "acme", "admin"), ErrorCode::kNotFound, "operator-ca.key");
  }
  SECTION("another fleet's identity") {
    expect(PkiRenewOperator(f.dir, "other", "admin"), ErrorCode::kInvalidArgument, "spiffe://other/operator/admin");
  }
  SECTION("a certificate from another CA") {
    Fleet other;
    stdfs::copy_file(other.dir / "operators" / "admin.pem", stem.string() + ".pem", stdfs::copy_options::overwrite_existing);
    stdfs::copy_file(other.dir / "operators" / "admin.key", stem.string() + ".key", stdfs::copy_options::overwrite_existing);
    const auto other_key = ReadAll(stem.string() + ".key");
    auto r = PkiRenewOperator(f.dir, "acme", "admin");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("not issued by this directory's CA"));
    CHECK(ReadAll(stem.string() + ".key") == other_key);
  }
  SECTION("bad names and lifetimes") {
    expect(PkiRenewOperator(f.dir, "acme", "../admin"), ErrorCode::kInvalidArgument, "operator name");
    expect(PkiRenewOperator(f.dir, "acme", "admin", 0), ErrorCode::kInvalidArgument, "--days");
    expect(PkiRenewOperator(f.dir, "acme", "admin", 3651), ErrorCode::kInvalidArgument, "--days");
  }
}

TEST_CASE("pki renew-controller keeps CN, DNS, IP and URI SANs and issues a new key", "[edgectl][pki][renew]") {
  Fleet f;
  const auto stem = f.dir / "controller";
  const auto old_cert = ReadAll(stem.string() + ".pem");
  const auto old_key = ReadAll(stem.string() + ".key");
  const auto before = crypto::ParseCertificate(old_cert).value();
  REQUIRE(before.dns_sans == std::vector<std::string>{"ctl.example", "localhost"});
  REQUIRE(before.ip_sans == std::vector<std::string>{"10.0.0.5"});

  auto renewed = PkiRenewController(f.dir, 7);
  REQUIRE(renewed);
  const auto after = crypto::ParseCertificate(ReadAll(stem.string() + ".pem")).value();
  CHECK(after.serial_hex != before.serial_hex);
  CHECK(after.subject_cn == before.subject_cn);
  CHECK(after.dns_sans == before.dns_sans);
  CHECK(after.ip_sans == before.ip_sans);
  CHECK(after.uri_sans == std::vector<std::string>{"spiffe://acme/controller/controller"});
  CHECK(after.server_auth);
  CHECK_FALSE(after.client_auth);
  CHECK_FALSE(after.is_ca);
  CHECK(after.not_after - after.not_before == 7 * 86400 + 5 * 60);
  CHECK(ReadAll(stem.string() + ".key") != old_key);
  CHECK(ModeOf(stem.string() + ".key") == 0600);
  CHECK(ReadAll(stem.string() + ".pem.old") == old_cert);
  CHECK(ReadAll(stem.string() + ".key.old") == old_key);
  CHECK(crypto::VerifyCertificate(ReadAll(stem.string() + ".pem"), ReadAll(f.dir / "fleet-ca.pem"), Now()));
  // What the controller's listeners load.
  CHECK(edge::tls::ServerCredentialsFromFiles(
      {stem.string() + ".pem", stem.string() + ".key", (f.dir / "operator-ca.pem").string(), std::chrono::seconds(10)}));

  SECTION("without the fleet CA key it refuses and says which file") {
    stdfs::remove(f.dir / "fleet-ca.key");
    auto r = PkiRenewController(f.dir);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kNotFound);
    CHECK_THAT(r.error().message, Catch::Contains("fleet-ca.key"));
  }
  SECTION("with the fleet CA key replaced by another key it refuses") {
    auto other = crypto::PrivateKey::GenerateP256().value();
    REQUIRE(edge::fs::WriteFileAtomic(f.dir / "fleet-ca.key", other.ToPem().value(), 0600));
    auto r = PkiRenewController(f.dir);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("is not the key of"));
  }
}

TEST_CASE("pki renew-controller keeps a group-readable key readable by that group", "[edgectl][pki][renew]") {
  // The packages' layout: /etc/edgefleet/controller.key is root:edge-controller 0640.
  Fleet f;
  const auto key = f.dir / "controller.key";
  REQUIRE(::chown(key.c_str(), static_cast<uid_t>(-1), ::getgid()) == 0);
  REQUIRE(::chmod(key.c_str(), 0640) == 0);
  const auto old_key = ReadAll(key);
  REQUIRE(PkiRenewController(f.dir, 7));
  CHECK(ReadAll(key) != old_key);
  CHECK(ModeOf(key) == 0640);
  struct stat st {};
  REQUIRE(::stat(key.c_str(), &st) == 0);
  CHECK(st.st_gid == ::getgid());
  CHECK(ModeOf(f.dir / "controller.key.old") == 0600);
}

TEST_CASE("A crash between the two renames is refused at start and repaired by renewing again",
          "[edgectl][pki][renew]") {
  Fleet f;
  const auto stem = f.dir / "controller";
  // The state InstallKeyPair leaves if it dies after renaming the certificate: a new
  // certificate, the old key, and the new key still beside it.
  auto ca_key = crypto::PrivateKey::FromPem(ReadAll(f.dir / "fleet-ca.key")).value();
  auto new_key = crypto::PrivateKey::GenerateP256().value();
  crypto::CertSpec spec;
  spec.common_name = "ctl.example";
  spec.dns_sans = {"ctl.example"};
  spec.server_auth = true;
  auto new_cert = crypto::IssueCertificate({ReadAll(f.dir / "fleet-ca.pem"), &ca_key}, new_key, spec).value();
  REQUIRE(edge::fs::WriteFileAtomic(stem.string() + ".pem", new_cert));
  REQUIRE(edge::fs::WriteFileAtomic(stem.string() + ".key.new", new_key.ToPem().value(), 0600));
  REQUIRE_FALSE(Matches(stem.string() + ".pem", stem.string() + ".key"));

  auto start = edge::tls::ServerCredentialsFromFiles(
      {stem.string() + ".pem", stem.string() + ".key", "", std::chrono::seconds(10)});
  REQUIRE_FALSE(start);
  CHECK(start.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(start.error().message, Catch::Contains("does not match"));

  REQUIRE(PkiRenewController(f.dir));
  CHECK(Matches(stem.string() + ".pem", stem.string() + ".key"));
  CHECK_FALSE(stdfs::exists(stem.string() + ".key.new"));
  // The half-swapped pair is not kept as the backup: .old, if any, would have to match.
  CHECK_FALSE(stdfs::exists(stem.string() + ".key.old"));
}

TEST_CASE("InstallKeyPair refuses a key that does not match the certificate", "[edgectl][pki][renew]") {
  Fleet f;
  const auto stem = f.dir / "controller";
  const auto cert = ReadAll(stem.string() + ".pem");
  const auto other_key = crypto::PrivateKey::GenerateP256().value().ToPem().value();
  auto r = InstallKeyPair(stem, other_key, cert);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("does not match"));
  CHECK_FALSE(stdfs::exists(stem.string() + ".key.new"));
  CHECK(Matches(stem.string() + ".pem", stem.string() + ".key"));
}
