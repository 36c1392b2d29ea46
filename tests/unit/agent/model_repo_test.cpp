#include "agent/store/model_repo.h"

#include <catch2/catch.hpp>

#include <fstream>

#include "common/core/fs.h"
#include "common/crypto/sha256.h"
#include "core/temp_dir.h"
#include "tests/unit/core/test_files.h"

using edge::agent::ModelRepo;
using edge::bundle::BlobRef;
using edge::bundle::Manifest;
using edge::testing::TempDir;
namespace stdfs = std::filesystem;

namespace {

using edge::testing::ReadAll;

// A repo under a temp dir with the blobs of one manifest already downloaded.
struct Fixture {
  TempDir dir;
  ModelRepo repo{dir.path()};
  Manifest manifest;
  std::string envelope = R"({"payloadType":"test","payload":"e30=","signatures":[]})";

  explicit Fixture(const std::string& version = "1.0") {
    REQUIRE(repo.Prepare());
    manifest = MakeManifest(version, {{"model", "weights of " + version}, {"labels", "cat\ndog\n"}});
  }

  Manifest MakeManifest(const std::string& version, const std::vector<std::pair<std::string, std::string>>& blobs) {
    Manifest m;
    m.name = "detector";
    m.version = version;
    m.security_version = 1;
    for (const auto& [role, content] : blobs) {
      BlobRef b;
      b.role = role;
      b.digest = edge::crypto::Sha256Hex(content);
      b.size = content.size();
      b.media_type = "application/octet-stream";
      REQUIRE(edge::fs::WriteFileAtomic(repo.BlobPath(b.digest), content));
      m.blobs.push_back(b);
    }
    return m;
  }
};

}  // namespace

TEST_CASE("ModelRepo Prepare creates the blob and model directories", "[model_repo]") {
  Fixture f;
  CHECK(stdfs::is_directory(f.dir / "blobs" / "sha256"));
  CHECK(stdfs::is_directory(f.dir / "models"));
  CHECK(f.repo.PartialPath("abc") == f.dir / "blobs" / "sha256" / "abc.partial");
}

TEST_CASE("ModelRepo VerifyBlobs accepts intact blobs", "[model_repo]") {
  Fixture f;
  CHECK(f.repo.VerifyBlobs(f.manifest));
}

TEST_CASE("ModelRepo VerifyBlobs deletes a tampered blob and names it", "[model_repo]") {
  Fixture f;
  const auto& labels = f.manifest.blobs[1];
  const auto path = f.repo.BlobPath(labels.digest);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "cat\nfox\n";  // same size, other bytes
  auto s = f.repo.VerifyBlobs(f.manifest);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == edge::ErrorCode::kDataLoss);
  CHECK_THAT(s.error().message, Catch::Contains("detector:1.0 blob 'labels'") && Catch::Contains("sha256 mismatch"));
  CHECK_FALSE(stdfs::exists(path));
  CHECK(stdfs::exists(f.repo.BlobPath(f.manifest.blobs[0].digest)));
}

TEST_CASE("ModelRepo VerifyBlobs names a missing blob", "[model_repo]") {
  Fixture f;
  stdfs::remove(f.repo.BlobPath(f.manifest.blobs[0].digest));
  auto s = f.repo.VerifyBlobs(f.manifest);
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Catch::Contains("blob 'model'") && Catch::Contains("missing"));
}

TEST_CASE("ModelRepo Install creates one file per role and the envelope", "[model_repo]") {
  Fixture f;
  REQUIRE(f.repo.Install(f.manifest, f.envelope));
  const auto dir = f.repo.VersionDir("detector", "1.0");
  CHECK(dir == f.dir / "models" / "detector" / "1.0");
  CHECK(ReadAll(dir / "model") == "weights of 1.0");
  CHECK(ReadAll(dir / "labels") == "cat\ndog\n");
  CHECK(ReadAll(dir / "envelope.json") == f.envelope);
  CHECK_FALSE(stdfs::exists(f.dir / "models" / "detector" / ".1.0.tmp"));
  // Idempotent: a second install of a complete version changes nothing.
  REQUIRE(f.repo.Install(f.manifest, "other bytes"));
  CHECK(ReadAll(dir / "envelope.json") == f.envelope);
}

TEST_CASE("ModelRepo Install replaces a partial version directory", "[model_repo]") {
  Fixture f;
  const auto dir = f.repo.VersionDir("detector", "1.0");
  stdfs::create_directories(dir);
  std::ofstream(dir / "model") << "half";
  REQUIRE(f.repo.Install(f.manifest, f.envelope));
  CHECK(ReadAll(dir / "model") == "weights of 1.0");
  CHECK(stdfs::exists(dir / "envelope.json"));
}

TEST_CASE("ModelRepo Activate sets current and previous, and is idempotent", "[model_repo]") {
  Fixture f;
  REQUIRE(f.repo.Install(f.manifest, f.envelope));
  const auto v2 = f.MakeManifest("2.0", {{"model", "weights of 2.0"}});
  REQUIRE(f.repo.Install(v2, f.envelope));
  const auto model_dir = f.dir / "models" / "detector";

  CHECK_FALSE(f.repo.CurrentVersion("detector"));
  REQUIRE(f.repo.Activate("detector", "1.0", ""));
  CHECK(f.repo.CurrentVersion("detector") == std::optional<std::string>("1.0"));
  CHECK_FALSE(stdfs::is_symlink(model_dir / "previous"));

  REQUIRE(f.repo.Activate("detector", "2.0", "1.0"));
  CHECK(f.repo.CurrentVersion("detector") == std::optional<std::string>("2.0"));
  CHECK(stdfs::read_symlink(model_dir / "previous") == "1.0");
  CHECK(ReadAll(model_dir / "current" / "model") == "weights of 2.0");

  // Re-run after a crash with the same arguments: same result.
  REQUIRE(f.repo.Activate("detector", "2.0", "1.0"));
  CHECK(f.repo.CurrentVersion("detector") == std::optional<std::string>("2.0"));
  CHECK(stdfs::read_symlink(model_dir / "previous") == "1.0");
  CHECK(f.repo.RemoveTemporaries() == 0);
}

TEST_CASE("ModelRepo RestoreCurrent undoes an uncommitted switch", "[model_repo]") {
  Fixture f;
  REQUIRE(f.repo.Install(f.manifest, f.envelope));
  const auto v2 = f.MakeManifest("2.0", {{"model", "weights of 2.0"}});
  REQUIRE(f.repo.Install(v2, f.envelope));
  const auto current = f.dir / "models" / "detector" / "current";

  // First install failed after its switch: nothing was committed, so no `current` at all.
  REQUIRE(f.repo.Activate("detector", "1.0", ""));
  REQUIRE(f.repo.RestoreCurrent("detector", ""));
  CHECK_FALSE(stdfs::is_symlink(current));
  REQUIRE(f.repo.RestoreCurrent("detector", ""));  // idempotent

  // 1.0 committed, 2.0 switched in then abandoned: back to 1.0.
  REQUIRE(f.repo.Activate("detector", "1.0", ""));
  REQUIRE(f.repo.Activate("detector", "2.0", "1.0"));
  REQUIRE(f.repo.RestoreCurrent("detector", "1.0"));
  CHECK(f.repo.CurrentVersion("detector") == std::optional<std::string>("1.0"));
  REQUIRE(f.repo.RestoreCurrent("detector", "1.0"));
  CHECK(f.repo.CurrentVersion("detector") == std::optional<std::string>("1.0"));
}

TEST_CASE("ModelRepo Activate refuses a version that is not installed", "[model_repo]") {
  Fixture f;
  auto s = f.repo.Activate("detector", "9.9", "");
  REQUIRE_FALSE(s);
  CHECK(s.error().code == edge::ErrorCode::kFailedPrecondition);
  CHECK_THAT(s.error().message, Catch::Contains("detector:9.9"));
  CHECK_FALSE(f.repo.CurrentVersion("detector"));
}

TEST_CASE("ModelRepo RemoveTemporaries removes crash leftovers only", "[model_repo]") {
  Fixture f;
  REQUIRE(f.repo.Install(f.manifest, f.envelope));
  REQUIRE(f.repo.Activate("detector", "1.0", ""));
  const auto model_dir = f.dir / "models" / "detector";
  stdfs::create_directories(model_dir / ".2.0.tmp");
  std::ofstream(model_dir / ".2.0.tmp" / "model") << "partial";
  std::ofstream(model_dir / "current.tmp.123.456") << "";
  std::ofstream(model_dir / "1.0" / "envelope.json.tmp.9.9") << "";

  CHECK(f.repo.RemoveTemporaries() == 3);
  CHECK_FALSE(stdfs::exists(model_dir / ".2.0.tmp"));
  CHECK_FALSE(stdfs::exists(model_dir / "current.tmp.123.456"));
  CHECK_FALSE(stdfs::exists(model_dir / "1.0" / "envelope.json.tmp.9.9"));
  CHECK(stdfs::exists(model_dir / "1.0" / "envelope.json"));
  CHECK(f.repo.CurrentVersion("detector") == std::optional<std::string>("1.0"));
  CHECK(f.repo.RemoveTemporaries() == 0);
}

TEST_CASE("ModelRepo CollectVersions keeps current and previous only", "[model_repo]") {
  Fixture f;
  for (const char* v : {"1.0", "2.0", "3.0"}) {
    auto m = f.MakeManifest(v, {{"model", std::string("weights of ") + v}});
    REQUIRE(f.repo.Install(m, f.envelope));
  }
  REQUIRE(f.repo.Activate("detector", "2.0", ""));
  REQUIRE(f.repo.Activate("detector", "3.0", "2.0"));
  CHECK(f.repo.CollectVersions("detector") == 1);
  CHECK_FALSE(stdfs::exists(f.repo.VersionDir("detector", "1.0")));
  CHECK(stdfs::exists(f.repo.VersionDir("detector", "2.0") / "model"));
  CHECK(stdfs::exists(f.repo.VersionDir("detector", "3.0") / "model"));
  CHECK(f.repo.CurrentVersion("detector") == "3.0");
  // Nothing more to collect; an unknown model has nothing either.
  CHECK(f.repo.CollectVersions("detector") == 0);
  CHECK(f.repo.CollectVersions("nobody") == 0);
}

TEST_CASE("ModelRepo CollectBlobs removes only old blobs no installed version uses", "[model_repo]") {
  Fixture f;  // blobs of 1.0 downloaded
  auto v2 = f.MakeManifest("2.0", {{"model", "weights of 2.0"}});
  REQUIRE(f.repo.Install(f.manifest, f.envelope));
  const auto& unused = v2.blobs[0].digest;  // downloaded, never installed
  // Recent: kept whatever its link count.
  CHECK(f.repo.CollectBlobs(std::chrono::hours(1)) == 0);
  // A partial download is never touched.
  REQUIRE(edge::fs::WriteFileAtomic(f.repo.PartialPath(std::string(64, 'c')), "half"));
  // With no grace period only the unused complete blob goes.
  CHECK(f.repo.CollectBlobs(std::chrono::seconds(-1)) == 1);
  CHECK_FALSE(stdfs::exists(f.repo.BlobPath(unused)));
  for (const auto& b : f.manifest.blobs) CHECK(stdfs::exists(f.repo.BlobPath(b.digest)));
  CHECK(stdfs::exists(f.repo.PartialPath(std::string(64, 'c'))));
  CHECK(ReadAll(f.repo.VersionDir("detector", "1.0") / "model") == "weights of 1.0");
}

TEST_CASE("ModelRepo RemoveUnusedBlobs removes a dropped target's blobs, not those an installed version uses",
          "[model_repo]") {
  Fixture f;
  REQUIRE(f.repo.Install(f.manifest, f.envelope));  // 1.0 installed: its blobs are in use
  auto v2 = f.MakeManifest("2.0", {{"model", "weights of 2.0"}});
  v2.blobs.push_back(f.manifest.blobs[1]);  // the same labels as 1.0
  // 2.0 was downloaded, then rolled back and its version directory collected: its own model
  // blob is unused; its labels blob is the same content as 1.0's and stays.
  std::set<std::string> dropped;
  for (const auto& b : v2.blobs) dropped.insert(b.digest);
  CHECK(f.repo.RemoveUnusedBlobs(dropped) == 1);
  CHECK_FALSE(stdfs::exists(f.repo.BlobPath(v2.blobs[0].digest)));
  CHECK(stdfs::exists(f.repo.BlobPath(v2.blobs[1].digest)));
  for (const auto& b : f.manifest.blobs) CHECK(stdfs::exists(f.repo.BlobPath(b.digest)));
  // Names that are not there are no error.
  CHECK(f.repo.RemoveUnusedBlobs({std::string(64, 'f')}) == 0);
}
