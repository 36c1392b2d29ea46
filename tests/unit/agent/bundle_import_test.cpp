// ImportBundleFile with real Ed25519 signatures and a real trust policy: the envelope is
// verified before any blob byte reaches the state directory.
#include "agent/store/bundle_import.h"

#include <catch2/catch.hpp>

#include <fstream>

#include "common/bundle_fixtures.h"
#include "common/core/fs.h"
#include "common/crypto/sha256.h"
#include "core/temp_dir.h"

using edge::ErrorCode;
using edge::agent::ImportBundleFile;
using edge::agent::ModelRepo;
using edge::testing::TempDir;
using namespace edge::bundle;
using namespace edge::bundle::testing;
namespace stdfs = std::filesystem;

namespace {

struct ImportFixture {
  TempDir dir;
  ModelRepo repo{dir / "state"};
  edge::crypto::Ed25519KeyPair release = NewKey();
  TrustPolicy policy;
  Manifest manifest = SampleManifest("detector");
  std::string model = std::string(100'000, 'w');
  std::string selftest = R"({"cases": []})";
  stdfs::path file = dir / "detector.bundle";

  ImportFixture() {
    policy.fleet = "acme";
    policy.version = 1;
    policy.keys = {Trusted(release, {"detector"})};
    manifest.blobs = {{"model", edge::crypto::Sha256Hex(model), model.size(), "application/vnd.onnx"},
                      {"selftest", edge::crypto::Sha256Hex(selftest), selftest.size(), "application/json"}};
    stdfs::create_directories(dir / "src");
    REQUIRE(edge::fs::WriteFileAtomic(dir / "src" / manifest.blobs[0].digest, model));
    REQUIRE(edge::fs::WriteFileAtomic(dir / "src" / manifest.blobs[1].digest, selftest));
  }

  // Exports `m` signed by `key` to `file`.
  std::string Export(const Manifest& m, const edge::crypto::Ed25519KeyPair& key) {
    const auto envelope = SerializeEnvelope(SignedManifest(m, key.seed));
    REQUIRE(WriteBundleFile(envelope, m, [&](const std::string& d) { return dir / "src" / d; }, file));
    return envelope;
  }

  bool BlobDirEmpty() const { return !stdfs::exists(repo.BlobDir()) || stdfs::is_empty(repo.BlobDir()); }
};

}  // namespace

TEST_CASE("ImportBundleFile imports a trusted bundle's blobs and returns its envelope digest", "[agent][bundle_import]") {
  ImportFixture f;
  const auto envelope = f.Export(f.manifest, f.release);
  auto r = ImportBundleFile(f.file, f.repo, f.policy, kNow);
  REQUIRE(r);
  CHECK(r->envelope_bytes == envelope);
  CHECK(r->envelope_digest == edge::crypto::Sha256Hex(envelope));  // what HandleDesiredModel uses
  CHECK(r->manifest.name == "detector");
  CHECK(r->blobs.written == 2);
  CHECK(f.repo.VerifyBlobs(r->manifest));
  // The rest of the update flow works from here as after a download.
  REQUIRE(f.repo.Install(r->manifest, r->envelope_bytes));
  CHECK(edge::fs::ReadFile(f.repo.VersionDir("detector", f.manifest.version) / "model", 1 << 20).value() == f.model);

  auto again = ImportBundleFile(f.file, f.repo, f.policy, kNow);
  REQUIRE(again);
  CHECK(again->blobs.present == 2);
  CHECK(again->blobs.written == 0);
}

TEST_CASE("ImportBundleFile refuses an untrusted bundle before writing any blob", "[agent][bundle_import]") {
  ImportFixture f;
  SECTION("signed by a key the policy does not hold") {
    f.Export(f.manifest, NewKey());
    auto r = ImportBundleFile(f.file, f.repo, f.policy, kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kPermissionDenied);
    CHECK(Contains(r.error().message, f.file.string()));
  }
  SECTION("signed by a trusted key not allowed to sign this model") {
    f.policy.keys = {Trusted(f.release, {"classifier"})};
    f.Export(f.manifest, f.release);
    auto r = ImportBundleFile(f.file, f.repo, f.policy, kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kPermissionDenied);
  }
  SECTION("expired") {
    f.manifest.expires = kNow - 1;
    f.Export(f.manifest, f.release);
    auto r = ImportBundleFile(f.file, f.repo, f.policy, kNow);
    REQUIRE_FALSE(r);
    CHECK(Contains(r.error().message, "expired"));
  }
  SECTION("unsigned") {
    const Envelope unsigned_envelope{std::string(kManifestPayloadType), SerializeManifest(f.manifest), {}};
    REQUIRE(WriteBundleFile(SerializeEnvelope(unsigned_envelope), f.manifest,
                            [&](const std::string& d) { return f.dir / "src" / d; }, f.file));
    auto r = ImportBundleFile(f.file, f.repo, f.policy, kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kPermissionDenied);
  }
  CHECK(f.BlobDirEmpty());
}

TEST_CASE("ImportBundleFile refuses a signed bundle whose blob bytes were altered", "[agent][bundle_import]") {
  ImportFixture f;
  f.Export(f.manifest, f.release);
  // Flip one byte of the model's data: the signature still verifies, the digest does not.
  std::fstream io(f.file, std::ios::in | std::ios::out | std::ios::binary);
  const auto model_data = static_cast<std::streamoff>(stdfs::file_size(f.file)) - 1024 - 512 * 2 -
                          static_cast<std::streamoff>((f.model.size() + 511) / 512 * 512) + 10;
  io.seekp(model_data);
  io.put('x');
  io.close();
  auto r = ImportBundleFile(f.file, f.repo, f.policy, kNow);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kDataLoss);
  CHECK(Contains(r.error().message, "sha256 mismatch"));
  CHECK(f.BlobDirEmpty());
}
