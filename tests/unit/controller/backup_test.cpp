// Controller backup and restore: the manifest, the checks, and whole backups of a real store
// with real blob files (each damage a restore must refuse).
#include <fstream>

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include "common/crypto/sha256.h"
#include "controller/backup/data_dir_lock.h"
#include "controller/backup/manifest.h"
#include "controller/backup/restore.h"
#include "controller/backup/take_backup.h"
#include "controller/backup/verified_copy.h"
#include "store_fixture.h"

namespace {

using namespace edge;
using namespace edge::controller;
using namespace edge::controller::backup;
using edge::testing::TempDir;

const int kSchema = static_cast<int>(Migrations().size());  // the store's newest migration

std::string Hex(char c) { return std::string(64, c); }

Manifest Sample() {
  Manifest m;
  m.created_unix = 1'800'000'000;
  m.controller_version = "0.1.0";
  m.fleet = "acme";
  m.schema_version = kSchema;
  m.db_sha256 = Hex('d');
  m.db_bytes = 4096;
  m.blobs = {{Hex('1'), 10}, {Hex('2'), 20}};
  return m;
}

void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void FlipByte(const std::filesystem::path& path, uint64_t offset) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x01));
}

bool HasHiddenLeftovers(const std::filesystem::path& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().front() == '.') return true;
  return false;
}

// A controller data dir: a store with a model version whose two blobs are real files.
struct DataDir {
  TempDir root;
  std::filesystem::path data = root / "data";
  std::vector<std::string> digests;

  DataDir() {
    std::filesystem::create_directories(data / "blobs/sha256");
    auto store = OpenSqliteStore((data / "controller.db").string());
    REQUIRE(store);
    REQUIRE((*store)->CreateSite("plant-7", "op/admin", 1));
    VersionRecord v;
    v.model = "kws";
    v.version = "v3";
    v.security_version = 3;
    v.manifest_digest = Hex('a');
    v.envelope = "envelope";
    v.signed_by = "release-1";
    v.pushed_by = "op/admin";
    for (const std::string role : {"model", "selftest"}) {
      const std::string content = role + " bytes " + std::string(5000, role[0]);
      const std::string digest = crypto::Sha256Hex(content);
      WriteText(data / "blobs/sha256" / digest, content);
      v.blobs.push_back({digest, role, content.size()});
      v.total_bytes += content.size();
      digests.push_back(digest);
    }
    std::sort(digests.begin(), digests.end());
    REQUIRE((*store)->AddVersion(v, 2));
  }

  BackupRequest Request(const std::string& name) const { return {data, root / name, false, "acme", "0.1.0", 3}; }
  RestoreRequest Into(const std::string& from, const std::string& name, bool force = false) const {
    return {root / from, root / name, force, kSchema, 4, "acme", {}};
  }
};

}  // namespace

TEST_CASE("backup manifest round-trips through JSON") {
  const Manifest m = Sample();
  const std::string json = ManifestToJson(m);
  CHECK(json.find("\"created\": \"2027-01-15T08:00:00Z\"") != std::string::npos);
  CHECK(json.find("\"count\": 2") != std::string::npos);
  CHECK(json.find("\"bytes\": 30") != std::string::npos);
  auto parsed = ParseManifest(json);
  REQUIRE(parsed);
  CHECK(parsed->blobs == m.blobs);
  CHECK(parsed->db_sha256 == m.db_sha256);
  CHECK(parsed->schema_version == kSchema);
  CHECK(parsed->fleet == "acme");
}

TEST_CASE("backup manifest parsing refuses damage and path tricks") {
  auto json = nlohmann::json::parse(ManifestToJson(Sample()));
  auto refused = [](const nlohmann::json& j, const std::string& phrase) {
    auto m = ParseManifest(j.dump());
    REQUIRE_FALSE(m);
    CHECK(m.error().code == ErrorCode::kDataLoss);
    CHECK_THAT(m.error().message, Catch::Contains(phrase));
  };
  SECTION("a digest that would name another file") {
    json["blobs"]["items"][0]["sha256"] = "../../../etc/passwd";
    refused(json, "not a SHA-256");
  }
  SECTION("an unsorted or repeated blob list") {
    std::swap(json["blobs"]["items"][0], json["blobs"]["items"][1]);
    refused(json, "not sorted");
  }
  SECTION("counts that disagree with the list") {
    json["blobs"]["count"] = 3;
    refused(json, "disagree");
  }
  SECTION("another format") {
    json["format"] = "edgefleet-controller-backup/2";
    refused(json, "format");
  }
  SECTION("a missing database digest") {
    json["database"].erase("sha256");
    refused(json, "missing \"sha256\"");
  }
  SECTION("not JSON") {
    auto m = ParseManifest("{\"format\": ");
    REQUIRE_FALSE(m);
    CHECK(m.error().code == ErrorCode::kDataLoss);
  }
}

TEST_CASE("a backup's database must match its manifest") {
  const Manifest m = Sample();
  CHECK(CheckDatabaseMatches(m, kSchema, {{Hex('1'), 10}}));
  auto unlisted = CheckDatabaseMatches(m, kSchema, {{Hex('3'), 10}});
  REQUIRE_FALSE(unlisted);
  CHECK_THAT(unlisted.error().message, Catch::Contains("does not list"));
  CHECK_FALSE(CheckDatabaseMatches(m, kSchema, {{Hex('1'), 11}}));
  CHECK_FALSE(CheckDatabaseMatches(m, kSchema - 1, {}));
}

TEST_CASE("a backup from a newer schema is not restorable") {
  CHECK(CheckRestorable(Sample(), kSchema));
  CHECK(CheckRestorable(Sample(), kSchema + 1));
  auto newer = CheckRestorable(Sample(), kSchema - 1);
  REQUIRE_FALSE(newer);
  CHECK(newer.error().code == ErrorCode::kFailedPrecondition);
}

TEST_CASE("verified copy checks size and digest and leaves nothing behind on a mismatch") {
  TempDir dir;
  const std::string content(3 << 20, 'q');  // more than one read buffer
  const std::string digest = crypto::Sha256Hex(content);
  WriteText(dir / "src", content);
  REQUIRE(CopyVerified(dir / "src", dir / "dst", digest, content.size()));
  CHECK(ReadText(dir / "dst") == content);
  CHECK(CopyVerified(dir / "src", {}, digest, content.size()));

  FlipByte(dir / "src", content.size() / 2);
  auto flipped = CopyVerified(dir / "src", dir / "dst2", digest, content.size());
  REQUIRE_FALSE(flipped);
  CHECK(flipped.error().code == ErrorCode::kDataLoss);
  CHECK_FALSE(std::filesystem::exists(dir / "dst2"));

  std::filesystem::resize_file(dir / "src", content.size() - 1);
  auto truncated = CopyVerified(dir / "src", dir / "dst2", digest, content.size());
  REQUIRE_FALSE(truncated);
  CHECK_THAT(truncated.error().message, Catch::Contains("truncated"));

  auto missing = CopyVerified(dir / "none", dir / "dst2", digest, 1);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);

  // An existing target is neither overwritten nor removed.
  auto exists = CopyVerified(dir / "dst", dir / "dst", digest, content.size());
  REQUIRE_FALSE(exists);
  CHECK(ReadText(dir / "dst") == content);
}

TEST_CASE("a backup restores into a new data dir with every row and blob") {
  DataDir d;
  auto backup = TakeBackup(d.Request("bk"));
  REQUIRE(backup);
  CHECK(backup->manifest.blobs.size() == 2);
  CHECK(std::filesystem::exists(d.root / "bk" / "backup.json"));
  CHECK_FALSE(HasHiddenLeftovers(d.root.path()));
  CHECK(VerifyBackup(d.root / "bk", kSchema));

  auto restored = Restore(d.Into("bk", "new"));
  REQUIRE(restored);
  CHECK_FALSE(restored->previous);
  CHECK_FALSE(HasHiddenLeftovers(d.root.path()));
  for (const auto& digest : d.digests)
    CHECK(ReadText(d.root / "new/blobs/sha256" / digest) == ReadText(d.data / "blobs/sha256" / digest));
  auto store = OpenSqliteStore((d.root / "new/controller.db").string());
  REQUIRE(store);
  auto versions = (*store)->ListVersions();
  REQUIRE(versions);
  REQUIRE(versions->size() == 1);
  CHECK(versions->front().model == "kws");
  CHECK((*store)->SiteExists("plant-7").value());
}

TEST_CASE("backup refuses a non-empty target unless told to replace it") {
  DataDir d;
  REQUIRE(TakeBackup(d.Request("bk")));
  auto again = TakeBackup(d.Request("bk"));
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::kAlreadyExists);
  CHECK_THAT(again.error().message, Catch::Contains("--replace"));
  auto request = d.Request("bk");
  request.replace = true;
  request.now = 99;
  REQUIRE(TakeBackup(request));
  CHECK(ParseManifest(ReadText(d.root / "bk/backup.json"))->created_unix == 99);
  CHECK_FALSE(HasHiddenLeftovers(d.root.path()));
  std::filesystem::create_directories(d.root / "empty");
  CHECK(TakeBackup(d.Request("empty")));
}

TEST_CASE("backup --replace replaces only an earlier backup and never the data dir") {
  DataDir d;
  std::filesystem::create_directories(d.root / "precious");
  std::ofstream(d.root / "precious/thesis.txt") << "years of work";
  auto request = d.Request("precious");
  request.replace = true;
  auto refused = TakeBackup(request);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("holds no backup.json"));
  CHECK(ReadText(d.root / "precious/thesis.txt") == "years of work");
  for (const auto& target : {d.data, d.data / "inside", d.root.path()}) {
    BackupRequest into_data = request;
    into_data.to = target;
    auto r = TakeBackup(into_data);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("is, holds or lies inside the data dir"));
  }
  CHECK(std::filesystem::exists(d.data / "controller.db"));
}

TEST_CASE("backup fails without a trace when a referenced live blob is damaged") {
  DataDir d;
  FlipByte(d.data / "blobs/sha256" / d.digests[0], 10);
  auto backup = TakeBackup(d.Request("bk"));
  REQUIRE_FALSE(backup);
  CHECK_THAT(backup.error().message, Catch::Contains(d.digests[0]));
  CHECK_FALSE(std::filesystem::exists(d.root / "bk"));
  CHECK_FALSE(HasHiddenLeftovers(d.root.path()));
}

TEST_CASE("a version deleted during a backup makes it retake the snapshot, and the backup verifies") {
  DataDir d;
  const auto live = d.data / "blobs/sha256";
  VersionRecord v;
  v.model = "kws";
  v.version = "v4";
  v.security_version = 3;
  v.manifest_digest = Hex('b');
  v.envelope = "envelope";
  v.signed_by = "release-1";
  v.pushed_by = "op/admin";
  for (const std::string role : {"model", "labels"}) {
    const std::string content = "v4 " + role + std::string(3000, role[1]);
    WriteText(live / crypto::Sha256Hex(content), content);
    v.blobs.push_back({crypto::Sha256Hex(content), role, content.size()});
  }
  {
    auto store = OpenSqliteStore((d.data / "controller.db").string());
    REQUIRE(store);
    REQUIRE((*store)->AddVersion(v, 3));
  }
  // After the first blob is copied (at most one of v4's two), v4 is deleted as the controller
  // does it: rows first, then its files.
  bool deleted = false;
  auto backup = TakeBackup(d.Request("bk"), [&](const BackupProgress& p) {
    if (p.phase != BackupProgress::Phase::kBlobs || deleted) return;
    deleted = true;
    auto store = OpenSqliteStore((d.data / "controller.db").string());
    REQUIRE(store);
    REQUIRE((*store)->DeleteVersion("kws", "v4", "op/admin", "", 4));
    for (const auto& b : v.blobs) std::filesystem::remove(live / b.digest);
  });
  INFO((backup ? std::string() : backup.error().message));
  REQUIRE(backup);
  CHECK(deleted);
  CHECK(backup->manifest.blobs.size() == 2);  // kws:v3's only
  CHECK(VerifyBackup(d.root / "bk", kSchema));
  CHECK_FALSE(HasHiddenLeftovers(d.root.path()));
}

TEST_CASE("restore refuses a damaged backup and leaves the data dir as it was") {
  DataDir d;
  REQUIRE(TakeBackup(d.Request("bk")));
  const auto bk = d.root / "bk";
  std::string phrase;
  SECTION("a flipped byte in a blob") {
    FlipByte(bk / "blobs/sha256" / d.digests[1], 100);
    phrase = "does not match its SHA-256";
  }
  SECTION("a missing blob") {
    std::filesystem::remove(bk / "blobs/sha256" / d.digests[0]);
    phrase = d.digests[0];
  }
  SECTION("a truncated database") {
    std::filesystem::resize_file(bk / "controller.db", std::filesystem::file_size(bk / "controller.db") / 2);
    phrase = "truncated";
  }
  SECTION("no manifest") {
    std::filesystem::remove(bk / "backup.json");
    phrase = "has no backup.json";
  }
  SECTION("a manifest that leaves out a blob the database references") {
    auto m = ParseManifest(ReadText(bk / "backup.json"));
    REQUIRE(m);
    m->blobs.erase(m->blobs.begin());
    WriteText(bk / "backup.json", ManifestToJson(*m));
    phrase = "does not list";
  }
  SECTION("a manifest whose database digest is another's") {
    auto m = ParseManifest(ReadText(bk / "backup.json"));
    REQUIRE(m);
    m->db_sha256 = Hex('0');
    WriteText(bk / "backup.json", ManifestToJson(*m));
    phrase = "SHA-256";
  }
  auto verified = VerifyBackup(bk, kSchema);
  REQUIRE_FALSE(verified);
  CHECK_THAT(verified.error().message, Catch::Contains(phrase));

  // Into a fresh dir and over the live one (with --force): both refused, nothing changed.
  auto fresh = Restore(d.Into("bk", "new"));
  REQUIRE_FALSE(fresh);
  CHECK_THAT(fresh.error().message, Catch::Contains(phrase));
  CHECK_FALSE(std::filesystem::exists(d.root / "new"));
  const std::string db_before = ReadText(d.data / "controller.db");
  auto forced = Restore(d.Into("bk", "data", /*force=*/true));
  REQUIRE_FALSE(forced);
  CHECK(ReadText(d.data / "controller.db") == db_before);
  CHECK_FALSE(HasHiddenLeftovers(d.root.path()));
  CHECK(std::distance(std::filesystem::directory_iterator(d.root.path()), {}) == 2);  // data, bk
}

TEST_CASE("restore keeps a non-empty data dir: refused without force and moved aside with it") {
  DataDir d;
  REQUIRE(TakeBackup(d.Request("bk")));
  auto refused = Restore(d.Into("bk", "data"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::kAlreadyExists);
  CHECK_THAT(refused.error().message, Catch::Contains("--force"));

  WriteText(d.data / "marker", "old");
  auto restored = Restore(d.Into("bk", "data", /*force=*/true));
  REQUIRE(restored);
  REQUIRE(restored->previous);
  CHECK(restored->previous->filename().string().rfind("data.pre-restore-", 0) == 0);
  CHECK(ReadText(*restored->previous / "marker") == "old");
  CHECK_FALSE(std::filesystem::exists(d.data / "marker"));
  CHECK(std::filesystem::exists(d.data / "controller.db"));
}

TEST_CASE("restore refuses the data dir of a running controller and a backup of another fleet") {
  DataDir d;
  REQUIRE(TakeBackup(d.Request("bk")));
  {
    auto running = DataDirLock::Acquire(d.data, /*create=*/true);
    REQUIRE(running);
    auto restored = Restore(d.Into("bk", "data", /*force=*/true));
    REQUIRE_FALSE(restored);
    CHECK(restored.error().code == ErrorCode::kFailedPrecondition);
    CHECK_THAT(restored.error().message, Catch::Contains("running"));
    CHECK_FALSE(DataDirLock::Acquire(d.data, /*create=*/true));
  }
  auto other = d.Into("bk", "new");
  other.fleet = "globex";
  auto restored = Restore(other);
  REQUIRE_FALSE(restored);
  CHECK_THAT(restored.error().message, Catch::Contains("fleet 'acme'"));
  CHECK_FALSE(std::filesystem::exists(d.root / "new"));
}

TEST_CASE("restore holds the data dir lock through the swap and locks the restored dir before it appears") {
  DataDir d;
  REQUIRE(TakeBackup(d.Request("bk")));
  for (const bool existing : {true, false}) {
    INFO((existing ? "a data dir to replace" : "no data dir yet"));
    const auto target = existing ? d.data : d.root / "fresh";
    auto request = d.Into("bk", existing ? "data" : "fresh", /*force=*/true);
    int checked_during_verify = 0;
    bool checked_at_swap = false;
    // What a controller starting at that moment would find: its lock held, named as the
    // restore's. (flock is per open file: a second open in this process conflicts too.)
    auto starting_controller_refused = [&] {
      auto lock = DataDirLock::Acquire(target, /*create=*/true);
      REQUIRE_FALSE(lock);
      CHECK(lock.error().code == ErrorCode::kFailedPrecondition);
      CHECK_THAT(lock.error().message, Catch::Contains("is held by edge-controller restore (pid"));
    };
    request.at_swap = [&] {
      starting_controller_refused();
      // The directory about to be swapped in is locked as well.
      for (const auto& e : std::filesystem::directory_iterator(target.parent_path()))
        if (e.path().filename().string().find(".restore-") != std::string::npos) {
          auto staged = DataDirLock::Acquire(e.path(), /*create=*/false);
          REQUIRE_FALSE(staged);
          CHECK_THAT(staged.error().message, Catch::Contains("held by edge-controller restore"));
          checked_at_swap = true;
        }
    };
    auto restored = Restore(request, [&](const auto&) {
      starting_controller_refused();
      ++checked_during_verify;
    });
    REQUIRE(restored);
    CHECK(checked_during_verify == 2);
    CHECK(checked_at_swap);
    CHECK(restored->previous.has_value() == existing);
    CHECK_FALSE(HasHiddenLeftovers(d.root.path()));
    // Afterwards the controller takes the restored dir's lock.
    CHECK(DataDirLock::Acquire(target, /*create=*/true));
  }
}

TEST_CASE("a refused restore into a missing data dir leaves neither the dir nor a lock file") {
  DataDir d;
  REQUIRE(TakeBackup(d.Request("bk")));
  auto other = d.Into("bk", "fresh");
  other.fleet = "globex";
  REQUIRE_FALSE(Restore(other));
  CHECK_FALSE(std::filesystem::exists(d.root / "fresh"));
  std::filesystem::create_directories(d.root / "empty");
  other = d.Into("bk", "empty");
  other.fleet = "globex";
  REQUIRE_FALSE(Restore(other));
  CHECK(std::filesystem::is_empty(d.root / "empty"));
}

TEST_CASE("a data dir moved away keeps its lock and the new dir at its name is free to lock") {
  TempDir root;
  const auto data = root / "data";
  std::filesystem::create_directories(data);
  auto first = DataDirLock::Acquire(data, /*create=*/true);
  REQUIRE(first);
  // Simulates the swap: the locked dir moves away, a fresh one (unlocked) takes its name.
  std::filesystem::rename(data, root / "old");
  std::filesystem::create_directories(data);
  auto second = DataDirLock::Acquire(data, /*create=*/true);
  REQUIRE(second);  // the new dir's lock, not blocked by the old one's
  auto third = DataDirLock::Acquire(data, /*create=*/false);
  REQUIRE_FALSE(third);
  CHECK_THAT(third.error().message, Catch::Contains("another edge-controller is running on the data dir " + data.string()) &&
                                        Catch::Contains("is held by edge-controller (pid"));
}

TEST_CASE("backup and restore work through a data dir that is a symlink to a directory") {
  DataDir d;
  const auto link = d.root / "data-link";
  std::filesystem::create_directory_symlink(d.data, link);
  auto request = d.Request("bk");
  request.data_dir = link;
  auto backup = TakeBackup(request);
  REQUIRE(backup);
  CHECK(backup->data_dir == std::filesystem::canonical(d.data));
  // --replace never deletes the live data dir, by whichever name it is given.
  for (const auto& target : {link, link / "inside"}) {
    auto into_data = request;
    into_data.to = target;
    into_data.replace = true;
    auto refused = TakeBackup(into_data);
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message, Catch::Contains("is, holds or lies inside the data dir"));
  }
  // A --to that is a symlink to a directory: the backup goes into the directory it names.
  std::filesystem::create_directories(d.root / "vault/empty");
  std::filesystem::create_directory_symlink(d.root / "vault/empty", d.root / "latest");
  auto via_link = d.Request("latest");
  REQUIRE(TakeBackup(via_link));
  CHECK(std::filesystem::is_symlink(d.root / "latest"));
  CHECK(std::filesystem::exists(d.root / "vault/empty/backup.json"));

  auto restore = d.Into("bk", "data-link", /*force=*/true);
  auto restored = Restore(restore);
  REQUIRE(restored);
  CHECK(restored->data_dir == std::filesystem::canonical(d.data));
  CHECK(std::filesystem::is_symlink(link));  // the symlink stays; the directory it names was replaced
  CHECK(std::filesystem::exists(link / "controller.db"));
  REQUIRE(restored->previous);
  CHECK(restored->previous->parent_path() == std::filesystem::canonical(d.data).parent_path());

  std::filesystem::create_directory_symlink(d.root / "nowhere", d.root / "dangling");
  auto dangling = Restore(d.Into("bk", "dangling", /*force=*/true));
  REQUIRE_FALSE(dangling);
  CHECK_THAT(dangling.error().message, Catch::Contains("is a symlink to") && Catch::Contains("which does not exist"));
  CHECK_FALSE(std::filesystem::exists(d.root / "nowhere"));
}
