// `edgectl bundle export` and `bundle verify` on an exported file, with a real PKI from pki init.
#include <catch2/catch.hpp>

#include <fstream>

#include "common/bundle/bundle_file.h"
#include "common/core/fs.h"
#include "controller/edgectl/bundle_dir.h"
#include "controller/edgectl/pki.h"
#include "common/crypto/sha256.h"
#include "core/temp_dir.h"
#include "runtime/runtime_fixtures.h"
#include "tests/unit/controller/test_now.h"

using edge::ErrorCode;
using edge::testing::TempDir;
namespace stdfs = std::filesystem;
namespace edgectl = edge::edgectl;
namespace runtime_testing = edge::runtime::testing;

namespace {

using edge::controller::testing::kNow;

struct ExportFixture {
  TempDir dir;
  stdfs::path pki = dir / "pki";
  stdfs::path bundle = dir / "kws-v3";
  stdfs::path file = dir / "kws-v3.bundle";

  ExportFixture() {
    edgectl::PkiInitOptions o;
    o.dir = pki;
    o.fleet = "acme";
    o.controller_hosts = {"ctl.example"};
    o.now = kNow - 100;
    REQUIRE(edgectl::PkiInit(o));
    // Real files: build and verify load the model and run the self-test.
    stdfs::copy_file(runtime_testing::ZooPath("ds_cnn_kws.qdq.onnx"), dir / "kws.onnx");
    runtime_testing::WriteBytes(dir / "selftest.json", runtime_testing::ZooSelfTestText("ds_cnn_kws"));
    edgectl::BundleBuildOptions b;
    b.name = "kws";
    b.version = "v3";
    b.security_version = 3;
    b.blobs = {{"model", dir / "kws.onnx", "application/vnd.onnx"},
               {"selftest", dir / "selftest.json", "application/vnd.edgefleet.selftest+json"}};
    b.out = bundle;
    b.created = "2027-01-15T08:00:00Z";
    REQUIRE(edgectl::BuildBundle(b));
  }
  void Sign() { REQUIRE(edgectl::SignBundle(bundle, pki / "release-1.key")); }
  edge::Result<edgectl::VerifiedBundle> Verify(const stdfs::path& what) {
    return edgectl::VerifyBundle(what, pki / "trust-policy.json", pki / "release-root.pub", kNow);
  }
};

}  // namespace

TEST_CASE("bundle export writes a file that verifies like the directory", "[edgectl][bundle_export]") {
  ExportFixture f;
  f.Sign();
  auto e = edgectl::ExportBundle(f.bundle, f.file);
  REQUIRE(e);
  CHECK(e->manifest.name == "kws");
  CHECK(e->manifest.version == "v3");
  CHECK(e->bytes == stdfs::file_size(f.file));

  auto from_dir = f.Verify(f.bundle);
  REQUIRE(from_dir);
  auto from_file = f.Verify(f.file);
  REQUIRE(from_file);
  CHECK(from_file->envelope_bytes == from_dir->envelope_bytes);
  CHECK(from_file->manifest.blobs.size() == 2);

  // The exported file holds the directory's envelope, byte for byte.
  auto reader = edge::bundle::BundleFileReader::Open(f.file);
  REQUIRE(reader);
  CHECK(reader->envelope_bytes() == edge::fs::ReadFile(f.bundle / "envelope.json", 1 << 20).value());
}

TEST_CASE("bundle export refuses an unsigned bundle", "[edgectl][bundle_export]") {
  ExportFixture f;
  auto e = edgectl::ExportBundle(f.bundle, f.file);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == ErrorCode::kPermissionDenied);
  CHECK_THAT(e.error().message, Catch::Contains("unsigned") && Catch::Contains("edgectl bundle sign"));
  CHECK_FALSE(stdfs::exists(f.file));
}

TEST_CASE("bundle export refuses a bundle whose blob was altered", "[edgectl][bundle_export]") {
  ExportFixture f;
  f.Sign();
  const auto selftest_digest = edge::crypto::Sha256FileHex(f.dir / "selftest.json");
  REQUIRE(selftest_digest);
  std::ofstream(f.bundle / "blobs" / *selftest_digest, std::ios::binary) << R"({"cases": [1]})";
  auto e = edgectl::ExportBundle(f.bundle, f.file);
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error().message, Catch::Contains("exporting") && Catch::Contains("selftest"));
  CHECK_FALSE(stdfs::exists(f.file));
}

TEST_CASE("bundle verify refuses an exported file that was tampered with", "[edgectl][bundle_export]") {
  ExportFixture f;
  f.Sign();
  REQUIRE(edgectl::ExportBundle(f.bundle, f.file));
  SECTION("a blob byte") {
    std::fstream io(f.file, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(stdfs::file_size(f.file)) - 1024 - 512 - 512 - 1000);
    io.put('x');
    io.close();
    auto v = f.Verify(f.file);
    REQUIRE_FALSE(v);
    CHECK(v.error().code == ErrorCode::kDataLoss);
    CHECK_THAT(v.error().message, Catch::Contains("sha256 mismatch"));
  }
  SECTION("re-signed by a key outside the trust policy") {
    edgectl::PkiInitOptions o;
    o.dir = f.dir / "other-pki";
    o.fleet = "other";
    o.controller_hosts = {"ctl.other"};
    o.now = kNow - 100;
    REQUIRE(edgectl::PkiInit(o));
    stdfs::remove(f.bundle / "envelope.json");
    REQUIRE(edgectl::SignBundle(f.bundle, o.dir / "release-1.key"));
    REQUIRE(edgectl::ExportBundle(f.bundle, f.file));
    auto v = f.Verify(f.file);
    REQUIRE_FALSE(v);
    CHECK(v.error().code == ErrorCode::kPermissionDenied);
  }
}

TEST_CASE("bundle verify refuses a directory whose manifest.json differs from the signed payload",
          "[edgectl][bundle_export]") {
  ExportFixture f;
  f.Sign();
  const auto path = f.bundle / "manifest.json";
  std::string signed_bytes;
  {
    std::ifstream in(path, std::ios::binary);
    signed_bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  REQUIRE(f.Verify(f.bundle));
  // An edited copy (as someone would edit the quality figures people read there) is refused.
  std::string edited = signed_bytes;
  const auto at = edited.find("\"v3\"");
  REQUIRE(at != std::string::npos);
  edited.replace(at, 4, "\"v9\"");
  runtime_testing::WriteBytes(path, edited);
  auto v = f.Verify(f.bundle);
  REQUIRE_FALSE(v);
  CHECK(v.error().code == ErrorCode::kPermissionDenied);
  CHECK_THAT(v.error().message, Catch::Contains(path.string()) && Catch::Contains("differs from the signed manifest"));
  // The signed bytes back: verifies again; without a manifest.json the envelope alone is checked.
  runtime_testing::WriteBytes(path, signed_bytes);
  REQUIRE(f.Verify(f.bundle));
  stdfs::remove(path);
  REQUIRE(f.Verify(f.bundle));
}
