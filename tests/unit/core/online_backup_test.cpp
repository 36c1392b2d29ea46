#include "common/sqlite/online_backup.h"

#include <catch2/catch.hpp>

#include "common/sqlite/db.h"

#include <fstream>
#include "core/temp_dir.h"

using edge::ErrorCode;
using edge::sqlite::Db;
using edge::sqlite::OnlineBackup;
using edge::sqlite::OnlineBackupOptions;
using edge::sqlite::OnlineBackupProgress;
using edge::testing::TempDir;

namespace {

int64_t Count(Db& db) {
  auto st = db.Prepare("SELECT count(*) FROM items");
  REQUIRE(st);
  REQUIRE(st->Step().value());
  return st->Int(0);
}

void Insert(Db& db, int n, const std::string& tag) {
  auto st = db.Prepare("INSERT INTO items(body) VALUES (?)");
  REQUIRE(st);
  for (int i = 0; i < n; ++i) {
    st->Bind(1, tag + std::string(400, 'x') + std::to_string(i));
    REQUIRE(st->Run());
    st->Reset();
  }
}

Db Live(const std::filesystem::path& path, int rows) {
  auto db = Db::Open(path);
  REQUIRE(db);
  REQUIRE(db->Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"));
  REQUIRE(db->Exec("BEGIN"));
  Insert(*db, rows, "before");
  REQUIRE(db->Exec("COMMIT"));
  return std::move(*db);
}

}  // namespace

TEST_CASE("online backup copies a live WAL database into one self-contained file") {
  TempDir dir;
  Db live = Live(dir / "live.db", 500);
  auto stats = OnlineBackup(dir / "live.db", dir / "copy.db");
  REQUIRE(stats);
  CHECK(stats->pages > 10);
  CHECK(stats->page_size == 4096);
  CHECK_FALSE(std::filesystem::exists(dir / "copy.db-wal"));
  auto copy = Db::OpenReadOnly(dir / "copy.db");
  REQUIRE(copy);
  CHECK(Count(*copy) == 500);
  auto mode = copy->Prepare("PRAGMA journal_mode");
  REQUIRE(mode);
  REQUIRE(mode->Step().value());
  CHECK(mode->Text(0) == "delete");
}

TEST_CASE("online backup is one snapshot: writes committed during the copy neither restart it nor appear in it") {
  TempDir dir;
  Db live = Live(dir / "live.db", 2000);
  auto writer = Db::Open(dir / "live.db");  // another connection, as the running controller is
  REQUIRE(writer);
  int writes = 0;
  OnlineBackupOptions options;
  options.pages_per_step = 8;
  options.progress = [&](const OnlineBackupProgress& p) {
    // Each write commits at once (its busy timeout would fail it if the backup blocked it).
    if (p.pages_done < p.pages_total) {
      Insert(*writer, 1, "during");
      ++writes;
    }
  };
  auto stats = OnlineBackup(dir / "live.db", dir / "copy.db", options);
  REQUIRE(stats);
  CHECK(writes > 10);
  // A restarted backup would take more steps than one pass over the pages.
  CHECK(stats->steps <= stats->pages / 8 + 2);
  auto copy = Db::OpenReadOnly(dir / "copy.db");
  REQUIRE(copy);
  CHECK(Count(*copy) == 2000);
  CHECK(Count(live) == 2000 + writes);
}

TEST_CASE("online backup refuses an existing target and a missing database") {
  TempDir dir;
  Db live = Live(dir / "live.db", 1);
  REQUIRE(OnlineBackup(dir / "live.db", dir / "copy.db"));
  auto again = OnlineBackup(dir / "live.db", dir / "copy.db");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::kAlreadyExists);
  auto missing = OnlineBackup(dir / "nothing.db", dir / "other.db");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK_FALSE(std::filesystem::exists(dir / "nothing.db"));
}

TEST_CASE("a read-only open refuses a file that is not a database and writes nothing") {
  TempDir dir;
  { std::ofstream(dir / "junk.db") << "this is not a database, just text long enough to have a header......"; }
  auto db = Db::OpenReadOnly(dir / "junk.db");
  REQUIRE_FALSE(db);
  CHECK(db.error().code == ErrorCode::kDataLoss);
  auto missing = Db::OpenReadOnly(dir / "none.db");
  REQUIRE_FALSE(missing);
  CHECK_FALSE(std::filesystem::exists(dir / "none.db"));
}
